#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Debian package end to end (docs/packaging.md): build two .debs of the current build tree
# (0.1.0 and 0.1.0+test2), check control data, lintian and the systemd unit, then in a clean
# Debian 12 chroot (mmdebstrap, cached) install, start trabouled, apply + confirm a policy,
# upgrade, restart, check, downgrade, restart, check. Never prints the API token.
# Usage: package_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (chroot, mounts)"; exit 77; }
for t in cpack dpkg-deb systemd-analyze mmdebstrap chroot; do
  command -v "$t" >/dev/null || { echo "SKIP: $t missing (tools/setup)"; exit 77; }
done

work=$(mktemp -d /tmp/tb-pkg.XXXXXX)
root="$work/root"
prefix="tbpkg$$"
cache=/var/cache/traboule-test
mounts=()
pid=""
cleanup() {
  set +e
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid"; fi
  [ -n "${notify_pid:-}" ] && kill "$notify_pid" 2>/dev/null
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null; done
  # Never rm -rf through a live mount.
  if ! grep -q " $work/" /proc/mounts; then rm -rf "$work"; else echo "LEAK: mounts under $work"; fi
  rm -rf "$build/pkgtest2"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$work/log" ] && tail -n 30 "$work/log"; exit 1; }
pass() { echo "ok: $*"; }

# 1. Two packages of the same code: this tree's version, then one with a version suffix.
cpack_out() {  # cpack_out BUILD_DIR OUT_DIR
  (cd "$1" && cpack -G DEB -B "$2" >"$2.log" 2>&1) || { tail -n 20 "$2.log"; fail "cpack"; }
  ls "$2"/traboule_*.deb
}
mkdir -p "$work/deb1" "$work/deb2"
deb1=$(cpack_out "$build" "$work/deb1")
# The second: same build tree's objects, other cache value, in a copy of the CPack config.
cp "$build/CPackConfig.cmake" "$work/CPackConfig2.cmake"
v1=$(dpkg-deb -f "$deb1" Version)
v2="$v1+test2"
sed -i "s/\"$v1\"/\"$v2\"/g" "$work/CPackConfig2.cmake"
(cd "$build" && cpack -G DEB --config "$work/CPackConfig2.cmake" -B "$work/deb2" \
  >"$work/deb2.log" 2>&1) || { tail -n 20 "$work/deb2.log"; fail "cpack (second version)"; }
deb2=$(ls "$work"/deb2/traboule_*.deb)
[ "$(dpkg-deb -f "$deb2" Version)" = "$v2" ] || fail "second package version"
dpkg --compare-versions "$v2" gt "$v1" || fail "$v2 must be newer than $v1"
pass "packages $v1 and $v2"

# 2. Control data and contents.
deps=$(dpkg-deb -f "$deb1" Depends)
for d in librte-mempool-ring23 librte-net-null23 librte-net-af-packet23 librte-net-af-xdp23 \
         librte-net-pcap23 librte-net-ring23 libndpi4.2 librte-eal23 libsystemd0 openssl; do
  grep -q "$d" <<<"$deps" || fail "Depends lacks $d"
done
conff=$(dpkg-deb -I "$deb1" conffiles)
grep -qx /etc/traboule/edge-example.json <<<"$conff" || fail "conffiles"
files=$(dpkg-deb -c "$deb1" | awk '{print $6}')
for f in ./usr/bin/trabouled ./usr/bin/traboulectl ./usr/bin/traboule-wanem ./usr/bin/traboule-saas \
         ./lib/systemd/system/trabouled@.service ./etc/traboule/edge-example.policy.json \
         ./usr/lib/sysctl.d/80-traboule-hugepages.conf ./usr/share/traboule/saas/zoom.json \
         ./usr/share/doc/traboule/copyright ./var/lib/traboule/; do
  grep -qx -- "$f" <<<"$files" || fail "package lacks $f"
done
pass "Depends, conffiles and files"

# 3. lintian: reported, fails only on errors (docs/packaging.md explains each warning).
if command -v lintian >/dev/null; then
  lintian --tag-display-limit 0 "$deb1" >"$work/lintian" 2>&1 || true
  cat "$work/lintian"
  grep -q '^E: ' "$work/lintian" && fail "lintian errors"
  pass "lintian (no errors)"
else
  echo "SKIP: lintian not installed"
fi

# 4. systemd-analyze verify on the unit in a temp root (host units for the targets it needs).
mkdir -p "$work/unitroot"
dpkg-deb -x "$deb1" "$work/unitroot"
cp -an /lib/systemd/system/. "$work/unitroot/lib/systemd/system/" 2>/dev/null || true
out=$(cd / && systemd-analyze verify --root="$work/unitroot" --man=no \
  trabouled@edge-example.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
pass "systemd-analyze verify"

# 5. A clean Debian 12 root with the package's Depends, cached by their list.
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
mirror=${mirror:-http://deb.debian.org/debian}
security=${mirror%/debian}/debian-security
include=$(tr ',' '\n' <<<"$deps" | sed 's/(.*)//; s/ //g; /^$/d; s/|.*//' | sort -u | paste -sd,)
key=$(printf '%s' "$include $mirror" | sha256sum | cut -c1-16)
tarball="$cache/bookworm-$key.tar"
mkdir -p "$cache"
if [ ! -f "$tarball" ]; then
  echo "building the chroot tarball (once): $tarball"
  mmdebstrap --quiet --variant=apt --format=tar --include="$include" bookworm "$tarball.tmp" \
    "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
    "deb $security bookworm-security main" >"$work/mmdebstrap.log" 2>&1 ||
    { tail -n 20 "$work/mmdebstrap.log"; fail "mmdebstrap"; }
  mv "$tarball.tmp" "$tarball"
fi
mkdir "$root"
tar -C "$root" -xf "$tarball"
mount -t proc proc "$root/proc" && mounts+=("$root/proc")
mount --bind /dev "$root/dev" && mounts+=("$root/dev")
mount --bind /sys "$root/sys" && mounts+=("$root/sys")
mkdir -p "$root/run" "$root/tmp/debs"
cp "$deb1" "$deb2" "$root/tmp/debs/"
in_root() { chroot "$root" "$@"; }
install_deb() {  # install_deb FILE (dpkg keeps the locally changed conffile)
  in_root dpkg --force-confold -i "/tmp/debs/$(basename "$1")" >"$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log"; fail "dpkg -i $(basename "$1")"; }
  [ "$(in_root dpkg-query -W -f '${Version}' traboule)" = "$(dpkg-deb -f "$1" Version)" ] ||
    fail "installed version"
}
install_deb "$deb1"
[ -f "$root/var/lib/traboule/api/api.pem" ] || fail "postinst made no API certificate"
pass "installed $v1 in a clean bookworm root"

# The admin's part: a token of their own, a free port, a unique EAL file prefix.
token="tb-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hash=$(printf %s "$token" | sha256sum | cut -d' ' -f1)
port=$((20000 + $$ % 20000))
cfg="$root/etc/traboule/edge-example.json"
sed -i -e "s/0\{64\}/$hash/" -e "s/\"port\": 8443/\"port\": $port/" \
  -e "s/traboule-edge-example/$prefix/" "$cfg"
grep -q "$hash" "$cfg" || fail "could not set the token"

# NOTIFY_SOCKET inside the root, read from here: READY=1 and WATCHDOG=1 must come.
sock_rel=/run/tb-notify.sock
python3 - "$root$sock_rel" "$work/notify" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " ") + "\n")
PY
notify_pid=$!
for _ in $(seq 50); do [ -S "$root$sock_rel" ] && break; sleep 0.1; done

start() {
  : >"$work/log"
  : >"$work/notify"
  NOTIFY_SOCKET=$sock_rel WATCHDOG_USEC=1000000 \
    chroot "$root" /usr/bin/trabouled --config /etc/traboule/edge-example.json \
    >>"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 150); do
    grep -q "READY=1" "$work/notify" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || fail "trabouled exited at start"
    sleep 0.1
  done
  fail "no READY=1 from trabouled"
}
stop() {
  kill -TERM "$pid"
  wait "$pid" || fail "trabouled did not stop cleanly"
  pid=""
  grep -q "STOPPING=1" "$work/notify" || fail "no STOPPING=1"
}
ctl() {
  TRABOULE_SERVER="https://127.0.0.1:$port" TRABOULE_TOKEN="$token" \
    TRABOULE_CA=/var/lib/traboule/api/api.pem chroot "$root" /usr/bin/traboulectl "$@"
}
running_version() { ctl --json policy show | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'; }

start
sleep 1.5
grep -q "WATCHDOG=1" "$work/notify" || fail "no WATCHDOG=1 within 1.5 s (WATCHDOG_USEC=1 s)"
pass "sd_notify READY=1 and WATCHDOG=1"
[ "$(running_version)" = 1 ] || fail "first boot should run version 1"
python3 - "$root/etc/traboule/edge-example.policy.json" "$root/tmp/v2.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["name"] = "edge-example-v2"
json.dump(p, open(sys.argv[2], "w"))
PY
ctl policy apply /tmp/v2.json --confirm-timeout 120 >"$work/ctl" 2>&1 || { cat "$work/ctl"; fail "apply"; }
ctl policy confirm >"$work/ctl" 2>&1 || { cat "$work/ctl"; fail "confirm"; }
[ "$(running_version)" = 2 ] || fail "version 2 should run after confirm"
pass "policy version 2 applied and confirmed through traboulectl"
stop

check_after() {  # check_after WHAT
  start
  [ "$(running_version)" = 2 ] || fail "$1: committed version 2 not restored"
  grep -q "$hash" "$cfg" || fail "$1: the local conffile change was lost"
  pass "$1: version 2 restored, token works, conffile kept"
  stop
}
install_deb "$deb2"
check_after "upgrade to $v2"
in_root dpkg --force-downgrade --force-confold -i "/tmp/debs/$(basename "$deb1")" \
  >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "downgrade"; }
[ "$(in_root dpkg-query -W -f '${Version}' traboule)" = "$v1" ] || fail "downgraded version"
check_after "downgrade to $v1"
rm -rf "/var/run/dpdk/$prefix"
echo "PASS"
