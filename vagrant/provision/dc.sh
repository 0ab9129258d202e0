#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vagrant/provision/dc.sh: the datacenter host behind the hub: 10.10.0.10/24 and fd00:1010::10/64
# on its lan NIC, the lab's networks via the hub, and a web server on port 80 answering
# "traboule lab dc1". `dc.sh net` (re)does the networking (traboule-lab-net.service, at boot).
here=$(dirname "$(readlink -f "$0")")
# shellcheck source=vagrant/provision/common.sh
if [ -r "$here/common.sh" ]; then source "$here/common.sh"; else source /tmp/traboule-lab/provision/common.sh; fi

dc_net() {
  tb_rename_port lan
  sysctl -qw net.ipv6.conf.lan.disable_ipv6=0
  ip addr replace "$SITE_DC1_4/24" dev lan
  ip -6 addr replace "$SITE_DC1_6/64" dev lan nodad
  # Management keeps the default route; the lab's networks go through the hub.
  local net
  for net in "$SITE_LAN_NET4" 100.64.0.0/16 198.51.100.0/24; do ip route replace "$net" via "$SITE_HUB_LAN4"; done
  for net in "$SITE_LAN_NET6" fd00:64::/32 2001:db8:100::/64; do ip -6 route replace "$net" via "$SITE_HUB_LAN6"; done
}

if [ "${1:-}" = net ]; then dc_net; exit 0; fi
tb_keep_files
dc_net
tb_boot_unit dc.sh
mkdir -p /srv/traboule-lab
echo "traboule lab dc1" >/srv/traboule-lab/index.html
cat >/etc/systemd/system/traboule-lab-web.service <<EOS
[Unit]
Description=Traboule vagrant lab: web server (dc1)
After=traboule-lab-net.service

[Service]
ExecStart=/usr/bin/python3 -m http.server 80 --bind :: --directory /srv/traboule-lab
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOS
systemctl daemon-reload
systemctl enable --now traboule-lab-web.service
tb_log "dc: $SITE_DC1_4, web server on port 80"
