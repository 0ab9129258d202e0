#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vagrant/build-box.sh: builds a Debian 12 libvirt box locally, from Debian's packages only (for a
# host that cannot reach Vagrant Cloud), and adds it as traboule/bookworm-local.
#
#   vagrant/build-box.sh WORKDIR            # as root; needs mmdebstrap, qemu-utils, e2fsprogs
#   TRABOULE_BOX=traboule/bookworm-local TRABOULE_KERNEL=WORKDIR/vmlinuz \
#     TRABOULE_INITRD=WORKDIR/initrd.img vagrant up
#
# The image is one ext4 file system without partitions or boot loader: libvirt boots the kernel
# and initrd directly (the Vagrantfile's TRABOULE_KERNEL/INITRD/CMDLINE). It holds what the lab
# needs at run time (DPDK, the libraries trabouled links, python3, nftables, iperf3), so
# provisioning installs the Traboule .deb without network. User vagrant with Vagrant's insecure
# key and passwordless sudo; the first NIC (eth0, net.ifnames=0) on DHCP.
set -euo pipefail

work=${1:?usage: build-box.sh WORKDIR}
name=${TRABOULE_BOX_NAME:-traboule/bookworm-local}
mirror=${TRABOULE_MIRROR:-http://deb.debian.org/debian}
size=${TRABOULE_BOX_SIZE:-4G}
mkdir -p "$work"
work=$(cd "$work" && pwd)
root="$work/rootfs"

pkgs=systemd-sysv,linux-image-amd64,initramfs-tools,openssh-server,sudo,ifupdown,isc-dhcp-client
pkgs+=,iproute2,iputils-ping,python3,dpdk,nftables,openssl,iperf3,curl,kmod,procps,netbase
pkgs+=,ca-certificates,libboost-program-options1.74.0,libndpi4.2,libssl3,libcpp-httplib0.11,tcpdump,ethtool
if [ ! -x "$root/usr/bin/ssh-keygen" ]; then
  rm -rf "$root"
  mmdebstrap --variant=minbase --include="$pkgs" bookworm "$root" "$mirror"
fi

# The guest: fstab, network, vagrant user, ssh.
echo "traboule-box" >"$root/etc/hostname"
echo "/dev/vda / ext4 defaults,errors=remount-ro 0 1" >"$root/etc/fstab"
cat >"$root/etc/network/interfaces" <<'EON'
auto lo
iface lo inet loopback
allow-hotplug eth0
iface eth0 inet dhcp
EON
chroot "$root" sh -c 'id vagrant >/dev/null 2>&1 || useradd -m -s /bin/bash vagrant'
echo 'vagrant:vagrant' | chroot "$root" chpasswd
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/vagrant"
chmod 440 "$root/etc/sudoers.d/vagrant"
install -d -m 700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
key=$(gem contents vagrant 2>/dev/null | grep '/keys/vagrant.pub$' | head -1 || true)
[ -n "$key" ] || key=$(find /usr/share/rubygems-integration /usr/lib/ruby /opt/vagrant -name vagrant.pub -path '*keys*' 2>/dev/null | head -1)
[ -r "$key" ] || { echo "build-box.sh: Vagrant's insecure public key not found" >&2; exit 1; }
install -m 600 -o 1000 -g 1000 "$key" "$root/home/vagrant/.ssh/authorized_keys"
echo "UseDNS no" >"$root/etc/ssh/sshd_config.d/vagrant.conf"
# Host keys are made at first boot (each VM its own).
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/systemd/system/ssh-hostkeys.service" <<'EOS'
[Unit]
Description=SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
EOS
chroot "$root" systemctl enable ssh-hostkeys.service >/dev/null 2>&1
: >"$root/etc/machine-id"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

cp "$root/vmlinuz" "$work/vmlinuz"
cp "$root/initrd.img" "$work/initrd.img"

# One ext4 file system, then qcow2.
rm -f "$work/box.raw" "$work/box.img"
truncate -s "$size" "$work/box.raw"
mkfs.ext4 -q -L root -d "$root" "$work/box.raw"
qemu-img convert -O qcow2 "$work/box.raw" "$work/box.img"
rm -f "$work/box.raw"
vsize=$(($(qemu-img info --output=json "$work/box.img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])') / 1073741824))
cat >"$work/metadata.json" <<EOM
{ "provider": "libvirt", "format": "qcow2", "virtual_size": $vsize }
EOM
tar -C "$work" -czf "$work/traboule-bookworm.box" metadata.json box.img
rm -f "$work/box.img"
vagrant box add --force --name "$name" "$work/traboule-bookworm.box"
echo "build-box.sh: box $name added; kernel $work/vmlinuz, initrd $work/initrd.img"
