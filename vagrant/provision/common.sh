# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# vagrant/provision/common.sh: what the VMs' provisioning scripts share. Sourced by edge.sh,
# hub.sh, wanem.sh and dc.sh, which Vagrant runs as root with TB_PORTS ("port=mac ...", the VM's
# data NICs, from the Vagrantfile) and TB_WORKERS. The configs and policies come from
# tools/lib/site_config.sh, the same generator as the namespace lab's (tools/lib/lab.sh).
set -euo pipefail

TB_SRC=${TB_SRC:-/tmp/traboule-lab}          # where the Vagrantfile copied the files
TB_LIB=/usr/local/lib/traboule-lab           # kept in the VM: boot-time setup reruns from there
TB_ETC=/etc/traboule
TB_HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
# At provisioning: from $TB_SRC; at boot: from $TB_LIB, where tb_keep_files put it.
if [ -r "$TB_HERE/site_config.sh" ]; then
  # shellcheck source=tools/lib/site_config.sh
  source "$TB_HERE/site_config.sh"
else
  # shellcheck source=tools/lib/site_config.sh
  source "$TB_SRC/site_config.sh"
fi

tb_log() { printf 'traboule-lab: %s\n' "$*" >&2; }
tb_die() {
  printf 'traboule-lab: %s\n' "$*" >&2
  exit 1
}

# Keeps the provisioning files in the VM, so the boot-time units can run them again.
tb_keep_files() {
  mkdir -p "$TB_LIB"
  cp "$TB_SRC/site_config.sh" "$TB_SRC"/provision/*.sh "$TB_LIB/"
  printf 'TB_PORTS="%s"\nTB_WORKERS=%s\n' "$TB_PORTS" "${TB_WORKERS:-1}" >"$TB_LIB/ports.env"
}

# tb_port_mac PORT: the MAC of a data port (from TB_PORTS).
tb_port_mac() {
  local p
  for p in $TB_PORTS; do
    [ "${p%%=*}" = "$1" ] && { echo "${p#*=}"; return 0; }
  done
  tb_die "no port '$1' in TB_PORTS ($TB_PORTS)"
}

# tb_iface_of_mac MAC: the kernel interface with that MAC (empty when DPDK already owns it).
tb_iface_of_mac() {
  local d
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address" 2>/dev/null)" = "$1" ] && { basename "$d"; return 0; }
  done
  return 0
}

# tb_port_bdf PORT: the PCI address of a data port's virtio NIC, recorded in $TB_ETC/lab-ports the
# first time (once bound to vfio-pci the NIC has no kernel interface to look it up by).
tb_port_bdf() {
  local port=$1 mac ifc bdf
  if [ -r "$TB_ETC/lab-ports" ]; then
    bdf=$(awk -v p="$port" '$1 == p { print $3 }' "$TB_ETC/lab-ports")
    [ -n "$bdf" ] && { echo "$bdf"; return 0; }
  fi
  mac=$(tb_port_mac "$port")
  ifc=$(tb_iface_of_mac "$mac")
  [ -n "$ifc" ] || tb_die "no NIC with MAC $mac (port $port)"
  bdf=$(basename "$(readlink -f "/sys/class/net/$ifc/device/..")")
  [[ $bdf =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]] || tb_die "port $port ($ifc): not a PCI NIC ($bdf)"
  mkdir -p "$TB_ETC"
  echo "$port $mac $bdf" >>"$TB_ETC/lab-ports"
  echo "$bdf"
}

# The DPDK device of a port, as site_config.sh's DEVICE_FN: its PCI address.
tb_device() { tb_port_bdf "$1"; }

# tb_rename_port PORT: gives a data NIC the port's name (down, no IPv6, offloads off: wanem and
# the namespaces read raw frames), so the scripts need not know what the guest called it.
tb_rename_port() {
  local port=$1 ifc
  ifc=$(tb_iface_of_mac "$(tb_port_mac "$port")")
  [ -n "$ifc" ] || tb_die "no NIC for port $port"
  if [ "$ifc" != "$port" ]; then
    ip link set dev "$ifc" down
    ip link set dev "$ifc" name "$port"
  fi
  sysctl -qw "net.ipv6.conf.$port.disable_ipv6=1" 2>/dev/null || true
  ethtool -K "$port" tso off gso off gro off tx off >/dev/null 2>&1 || true
  ip link set dev "$port" up
}

# Installs the Traboule package (its dependencies from the box or the Debian mirror).
tb_install_deb() {
  [ -r "$TB_SRC/traboule.deb" ] || tb_die "$TB_SRC/traboule.deb missing (TRABOULE_DEB on the host)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "$TB_SRC/traboule.deb"; then
    apt-get update -q && apt-get install -y -q --no-install-recommends "$TB_SRC/traboule.deb"
  fi
  command -v dpdk-devbind.py >/dev/null || apt-get install -y -q --no-install-recommends dpdk
}

# 2 MB hugepages for DPDK (1 GiB), now and at every boot.
tb_hugepages() {
  echo "vm.nr_hugepages = ${TB_HUGEPAGES:-512}" >/etc/sysctl.d/60-traboule-lab.conf
  sysctl -q -p /etc/sysctl.d/60-traboule-lab.conf
}

# Binds the daemon's data ports to vfio-pci (no vIOMMU in the guest: noiommu mode) or, on a
# kernel without it (Debian 12's), uio_pci_generic, now and
# before every start of the daemon (lab-bind.sh, ExecStartPre of traboule-lab.service).
tb_bind_ports() {
  echo "options vfio enable_unsafe_noiommu_mode=1" >/etc/modprobe.d/traboule-lab-vfio.conf
  local port
  for port in "$@"; do tb_port_bdf "$port" >/dev/null; done
  cat >"$TB_ETC/lab-bind.sh" <<'EOS'
#!/bin/sh
# Binds the lab's data NICs (/etc/traboule/lab-ports: port mac bdf) to DPDK. vagrant/.
set -e
# vfio-pci in no-IOMMU mode when the kernel has it; Debian 12's kernel has not
# (CONFIG_VFIO_NOIOMMU is not set), so uio_pci_generic there.
drvname=uio_pci_generic
modprobe vfio enable_unsafe_noiommu_mode=1 2>/dev/null || true
if [ -w /sys/module/vfio/parameters/enable_unsafe_noiommu_mode ]; then
  echo 1 >/sys/module/vfio/parameters/enable_unsafe_noiommu_mode
  modprobe vfio-pci && drvname=vfio-pci
fi
[ "$drvname" = vfio-pci ] || modprobe uio_pci_generic
while read -r port mac bdf; do
  drv=$(basename "$(readlink -f "/sys/bus/pci/devices/$bdf/driver" 2>/dev/null)" 2>/dev/null || true)
  [ "$drv" = "$drvname" ] && continue
  for n in /sys/bus/pci/devices/"$bdf"/virtio*/net/*; do
    [ -e "$n" ] && ip link set dev "$(basename "$n")" down
  done
  dpdk-devbind.py --force -b "$drvname" "$bdf"
done </etc/traboule/lab-ports
EOS
  chmod 755 "$TB_ETC/lab-bind.sh"
  "$TB_ETC/lab-bind.sh"
}

# The API's certificate and two tokens (operator, viewer; the config holds their SHA-256).
tb_api_material() {
  local host=$1 role
  mkdir -p "$TB_ETC/tokens"
  chmod 700 "$TB_ETC/tokens"
  if [ ! -s "$TB_ETC/api.key" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
      -subj "/CN=$host/O=Traboule vagrant lab" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -keyout "$TB_ETC/api.key" -out "$TB_ETC/api.crt" >/dev/null 2>&1
    chmod 600 "$TB_ETC/api.key"
  fi
  for role in operator viewer; do
    [ -s "$TB_ETC/tokens/$role" ] || (umask 077 && openssl rand -hex 24 >"$TB_ETC/tokens/$role")
  done
}
tb_token_sha() { tr -d '\n' <"$TB_ETC/tokens/$1" | sha256sum | awk '{print $1}'; }
tb_api_json() { site_api_json 127.0.0.1 "$(tb_token_sha operator)" "$(tb_token_sha viewer)"; }
tb_eal() { printf '"--file-prefix", "traboule-%s", "--log-level", "*:warning"' "$1"; }

# Checks the config and policy, then runs trabouled as traboule-lab.service (a package's own
# trabouled.service, if any, is left disabled: this one binds the NICs first).
tb_start_daemon() {
  local role=$1
  mkdir -p "$TB_ETC/state"
  /usr/bin/trabouled --config "$TB_ETC/trabouled.json" --check ||
    tb_die "trabouled --check refuses $TB_ETC/trabouled.json or policy.json"
  if systemctl list-unit-files trabouled.service >/dev/null 2>&1; then
    systemctl disable --now trabouled.service >/dev/null 2>&1 || true
  fi
  cat >/etc/systemd/system/traboule-lab.service <<EOS
[Unit]
Description=Traboule trabouled ($role, vagrant lab)
After=network.target

[Service]
ExecStartPre=$TB_ETC/lab-bind.sh
ExecStart=/usr/bin/trabouled --config $TB_ETC/trabouled.json
Restart=on-failure
KillSignal=SIGTERM
TimeoutStopSec=15

[Install]
WantedBy=multi-user.target
EOS
  cat >/etc/profile.d/traboule-lab.sh <<EOS
# traboulectl talks to this VM's trabouled (vagrant lab).
if [ "\$(id -u)" = 0 ]; then
  export TRABOULE_SERVER=https://127.0.0.1:$SITE_API_PORT/api/v1
  export TRABOULE_TOKEN=\$(cat $TB_ETC/tokens/operator)
  alias traboulectl='traboulectl --ca $TB_ETC/api.crt'
fi
EOS
  systemctl daemon-reload
  systemctl enable traboule-lab.service >/dev/null 2>&1
  systemctl restart traboule-lab.service
}

# A oneshot unit that runs "SCRIPT net" at every boot (namespaces, addresses, routes).
tb_boot_unit() {
  local script=$1
  cat >/etc/systemd/system/traboule-lab-net.service <<EOS
[Unit]
Description=Traboule vagrant lab: networks
After=network.target
Before=traboule-lab.service traboule-lab-wanem@fiber.service

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=$TB_LIB/ports.env
ExecStart=/bin/bash $TB_LIB/$script net

[Install]
WantedBy=multi-user.target
EOS
  systemctl daemon-reload
  systemctl enable traboule-lab-net.service >/dev/null 2>&1
}
