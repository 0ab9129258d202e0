# shellcheck shell=bash
# tools/lib/lab.sh: what tools/lab does — a whole Traboule site in network namespaces: two LAN
# hosts on a switch, the edge and the hub (trabouled), three uplinks each through a
# traboule-wanem, a core router playing the operators, a datacenter host behind the hub and an
# internet host. One lab per name; its state lives in /run/traboule-lab/<name>. docs/lab.md.
#
#  lan1 ─┐                  ┌─ wanem-fiber ─┐
#  lan2 ─┴ sw ── lan [edge] ┼─ wanem-vdsl ──┼─ core ─── wan [hub] lan ── dc1
#                           └─ wanem-4g ────┘   └──── inet
#
# Every name that could collide between labs carries the lab name: namespaces tblab-<name>-<host>,
# DPDK file-prefixes tblab-<name>-edge/-hub, the state dir (configs, logs, pids, wanem control
# sockets). Interface names are fixed: they live inside the lab's private namespaces. Nothing of a
# lab lives outside those three places, so `down` finds and removes all of it from the name
# alone, even when the state dir is gone or a process crashed.

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_RUN_BASE=${TB_LAB_RUN_BASE:-/run/traboule-lab}
LAB_PY=/usr/bin/python3 # the Debian one: the PATH python3 may be a pyenv shim
LAB_TRAFFIC="$LAB_ROOT/tests/e2e/traffic.py"

# Hosts by stable name, in creation order; `exec` takes any of them.
LAB_HOSTS=(edge hub sw wanem-fiber wanem-vdsl wanem-4g core lan1 lan2 dc1 inet)
LAB_UPLINKS=(fiber vdsl 4g)
# The site's addresses, ports and the generation of the daemons' configs and policies are shared
# with the Vagrant lab (vagrant/): tools/lib/site_config.sh. The generated configs, `status` and
# docs/lab.md use the same addresses.
# shellcheck source=tools/lib/site_config.sh
source "$LAB_ROOT/tools/lib/site_config.sh"
LAB_API_PORT=$SITE_API_PORT
LAB_LAN_NET4=$SITE_LAN_NET4
LAB_LAN_NET6=$SITE_LAN_NET6
LAB_EDGE_LAN4=$SITE_EDGE_LAN4
LAB_EDGE_LAN6=$SITE_EDGE_LAN6
LAB_LAN1_4=$SITE_LAN1_4
LAB_LAN1_6=$SITE_LAN1_6
LAB_LAN2_4=$SITE_LAN2_4
LAB_LAN2_6=$SITE_LAN2_6
LAB_DC_NET4=$SITE_DC_NET4
LAB_DC_NET6=$SITE_DC_NET6
LAB_HUB_LAN4=$SITE_HUB_LAN4
LAB_HUB_LAN6=$SITE_HUB_LAN6
LAB_DC1_4=$SITE_DC1_4
LAB_DC1_6=$SITE_DC1_6
LAB_HUB_WAN4=$SITE_HUB_WAN4
LAB_HUB_WAN6=$SITE_HUB_WAN6
LAB_HUB_GW4=$SITE_HUB_GW4
LAB_HUB_GW6=$SITE_HUB_GW6
LAB_INET4=$SITE_INET4
LAB_INET6=$SITE_INET6
LAB_INET_GW4=$SITE_INET_GW4
LAB_INET_GW6=$SITE_INET_GW6
# Uplink n (fiber 1, vdsl 2, 4g 3): 100.64.n.0/24 and fd00:64:n::/64, gateway .1, edge .2.
lab_uplink_index() { site_uplink_index "$1"; }

lab_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
lab_die() {
  printf 'tools/lab: %s\n' "$*" >&2
  exit 1
}

# Sets the lab's name and every path derived from it. Names go into namespace names, DPDK
# file-prefixes and paths, so they are kept short and plain.
lab_set_name() {
  local name=$1
  [[ $name =~ ^[A-Za-z0-9_]{1,16}$ ]] ||
    lab_die "bad lab name '$name': 1 to 16 of A-Z a-z 0-9 _ (--name or TB_LAB)"
  LAB_NAME=$name
  LAB_DIR="$LAB_RUN_BASE/$name"
  LAB_NS_PREFIX="tblab-$name-"
}

lab_ns() { printf '%s%s' "$LAB_NS_PREFIX" "$1"; }
lab_is_host() {
  local h
  for h in "${LAB_HOSTS[@]}"; do [ "$h" = "$1" ] && return 0; done
  return 1
}

# The binaries: from the build dir, each overridable on its own (to mix builds while one part
# does not compile).
lab_set_build() {
  LAB_BUILD=$1
  LAB_TRABOULED=${TB_TRABOULED:-$LAB_BUILD/controlplane/trabouled}
  LAB_TRABOULECTL=${TB_TRABOULECTL:-$LAB_BUILD/tools/traboulectl/traboulectl}
  LAB_WANEM=${TB_WANEM:-$LAB_BUILD/tools/wanem/traboule-wanem}
  LAB_SNMP_BIN=${TB_SNMP_BIN:-$LAB_BUILD/controlplane/snmp/traboule-snmp}
}

# Reads the state of an existing lab (written by `up`): the binaries it was started with.
lab_load_env() {
  [ -r "$LAB_DIR/lab.env" ] || return 1
  local line key value
  while IFS= read -r line; do
    key=${line%%=*}
    value=${line#*=}
    case $key in
      LAB_BUILD | LAB_TRABOULED | LAB_TRABOULECTL | LAB_WANEM | LAB_CREATED | LAB_PROFILES | LAB_UP_SECONDS)
        printf -v "$key" '%s' "$value"
        ;;
    esac
  done <"$LAB_DIR/lab.env"
}

# The lab's namespaces that exist right now.
lab_existing_ns() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ $ns == "$LAB_NS_PREFIX"* ]] || continue
    lab_is_host "${ns#"$LAB_NS_PREFIX"}" && echo "$ns"
  done
}

# True while the process runs (a zombie waiting for init to reap it does not count).
lab_pid_alive() {
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# The `up` building the lab, recorded as "pid starttime" so a recycled pid is not mistaken for
# it; prints the pid while that `up` runs.
lab__proc_start() { awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }
lab_up_owner() {
  local pid start
  [ -r "$LAB_DIR/up.pid" ] || return 1
  read -r pid start <"$LAB_DIR/up.pid" || return 1
  lab_pid_alive "$pid" && [ "$(lab__proc_start "$pid")" = "$start" ] && echo "$pid"
}
lab_read_pid() { cat "$LAB_DIR/pids/$1.pid" 2>/dev/null || true; }

# ---------------------------------------------------------------------------------------------
# up

lab__check_prereqs() {
  [ "$(id -u)" -eq 0 ] || lab_die "the lab needs root (network namespaces, DPDK)"
  local tool
  for tool in ip nft openssl setsid sysctl timeout sha256sum dpdk-telemetry.py ping; do
    command -v "$tool" >/dev/null || lab_die "'$tool' is missing: run tools/setup"
  done
  [ -x "$LAB_PY" ] || lab_die "$LAB_PY is missing: run tools/setup"
  local bin missing=()
  for bin in "$LAB_TRABOULED" "$LAB_TRABOULECTL" "$LAB_WANEM"; do
    [ -x "$bin" ] || missing+=("$bin")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    lab_die "not built: ${missing[*]}
  build them with:
    cmake -S $LAB_ROOT -B $LAB_BUILD -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ninja -C $LAB_BUILD trabouled traboulectl traboule-wanem
  or point --build (TB_BUILD) at another build dir"
  fi
}

# Refuses to build over an existing lab; removes what a crashed `up` or `down` left when none of
# it is alive (no namespace, no process of an `up` in progress).
lab__claim() {
  mkdir -p "$LAB_RUN_BASE"
  local existing
  existing=$(lab_existing_ns)
  if [ -d "$LAB_DIR" ]; then
    local owner
    owner=$(lab_up_owner || true)
    if [ -f "$LAB_DIR/complete" ]; then
      lab_die "lab '$LAB_NAME' is already up (tools/lab status --name $LAB_NAME); tools/lab down --name $LAB_NAME first"
    elif [ -n "$owner" ]; then
      lab_die "lab '$LAB_NAME' is being started by pid $owner; wait for it, or tools/lab down --name $LAB_NAME"
    elif [ -n "$existing" ]; then
      lab_die "lab '$LAB_NAME' is half-built (an earlier up or down was interrupted); tools/lab down --name $LAB_NAME first"
    fi
    lab_log "removing stale state of lab '$LAB_NAME' ($LAB_DIR): nothing of it runs"
    rm -rf "$LAB_DIR"
  elif [ -n "$existing" ]; then
    lab_die "namespaces of lab '$LAB_NAME' exist without its state dir ($(echo "$existing" | tr '\n' ' ')); tools/lab down --name $LAB_NAME first"
  fi
  # mkdir is atomic: of two concurrent `up`s with one name, one gets here.
  mkdir "$LAB_DIR" 2>/dev/null || lab_die "lab '$LAB_NAME' is being started by another tools/lab"
  echo "$$ $(lab__proc_start $$)" >"$LAB_DIR/up.pid"
  mkdir -p "$LAB_DIR/pids" "$LAB_DIR/logs" "$LAB_DIR/bin" "$LAB_DIR/edge" "$LAB_DIR/hub" "$LAB_DIR/inet"
}

lab__sysctl() {
  local host=$1
  shift
  ip netns exec "$(lab_ns "$host")" sysctl -qw "$@"
}

# A veth with each end created directly in its namespace (never in the caller's).
lab__veth() {
  ip link add "$2" netns "$(lab_ns "$1")" type veth peer name "$4" netns "$(lab_ns "$3")"
}

lab__addr() {
  local host=$1 ifc=$2
  shift 2
  local a
  for a in "$@"; do
    case $a in
      *:*) ip -n "$(lab_ns "$host")" addr add "$a" dev "$ifc" nodad ;; # usable at once, no DAD
      *) ip -n "$(lab_ns "$host")" addr add "$a" dev "$ifc" ;;
    esac
  done
}

lab__offloads() {
  local host=$1
  shift
  ip netns exec "$(lab_ns "$host")" "$LAB_PY" "$LAB_TRAFFIC" offloads "$@" >/dev/null ||
    lab_die "cannot turn offloads off on $* in $(lab_ns "$host")"
}

# Namespaces, veths, the switch, addresses, routes, the core's forwarding and return path.
lab__topology() {
  local h u n
  for h in "${LAB_HOSTS[@]}"; do
    ip netns add "$(lab_ns "$h")"
    ip -n "$(lab_ns "$h")" link set lo up
  done
  # Where DPDK, wanem or the bridge own the interfaces the kernel must send nothing of its own:
  # IPv6 is off before the veths exist (no link-local, RS, MLD or DAD ever sent), and they get no
  # IPv4 address (so no ARP answers). The edge's and hub's addresses are trabouled's.
  for h in edge hub sw wanem-fiber wanem-vdsl wanem-4g; do
    lab__sysctl "$h" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  # The core forwards, and a packet from the LAN legitimately arrives on vdsl or 4g while the
  # main route to the LAN is via fiber: no reverse-path filtering (set before the veths exist,
  # which inherit "default").
  lab__sysctl core net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

  lab__veth edge lan sw edge
  lab__veth sw lan1 lan1 eth0
  lab__veth sw lan2 lan2 eth0
  for u in "${LAB_UPLINKS[@]}"; do
    lab__veth edge "$u" "wanem-$u" site
    lab__veth "wanem-$u" net core "$u"
  done
  lab__veth hub wan core hub
  lab__veth hub lan dc1 eth0
  lab__veth core inet inet eth0

  # Offloads off on every veth: TSO/GSO would hand the AF_PACKET readers (DPDK, wanem) 64 KB
  # frames, and TX checksum offload would leave partial checksums in the frames they forward.
  # Each feature change waits for the kernel (RCU): the namespaces are done in parallel.
  local jobs=()
  lab__offloads edge lan fiber vdsl 4g &
  jobs+=($!)
  lab__offloads hub wan lan &
  jobs+=($!)
  lab__offloads sw edge lan1 lan2 &
  jobs+=($!)
  for u in "${LAB_UPLINKS[@]}"; do
    lab__offloads "wanem-$u" site net &
    jobs+=($!)
  done
  lab__offloads core fiber vdsl 4g hub inet &
  jobs+=($!)
  for h in lan1 lan2 dc1 inet; do
    lab__offloads "$h" eth0 &
    jobs+=($!)
  done
  local j failed=0
  for j in "${jobs[@]}"; do wait "$j" || failed=1; done
  [ "$failed" -eq 0 ] || lab_die "could not turn the veths' offloads off (see above)"

  # The switch: a plain bridge, no STP (ports forward at once), no multicast snooping (ND and
  # ARP flood to every port, trabouled's included).
  ip -n "$(lab_ns sw)" link add br0 type bridge stp_state 0 mcast_snooping 0
  for h in edge lan1 lan2; do ip -n "$(lab_ns sw)" link set "$h" master br0 up; done
  ip -n "$(lab_ns sw)" link set br0 up

  for h in lan fiber vdsl 4g; do ip -n "$(lab_ns edge)" link set "$h" up; done
  for h in wan lan; do ip -n "$(lab_ns hub)" link set "$h" up; done
  for u in "${LAB_UPLINKS[@]}"; do
    ip -n "$(lab_ns "wanem-$u")" link set site up
    ip -n "$(lab_ns "wanem-$u")" link set net up
  done

  lab__addr lan1 eth0 "$LAB_LAN1_4/24" "$LAB_LAN1_6/64"
  lab__addr lan2 eth0 "$LAB_LAN2_4/24" "$LAB_LAN2_6/64"
  lab__addr dc1 eth0 "$LAB_DC1_4/24" "$LAB_DC1_6/64"
  lab__addr inet eth0 "$LAB_INET4/24" "$LAB_INET6/64"
  for h in lan1 lan2 dc1 inet; do ip -n "$(lab_ns "$h")" link set eth0 up; done
  for h in lan1 lan2; do
    ip -n "$(lab_ns "$h")" route add default via "$LAB_EDGE_LAN4"
    ip -n "$(lab_ns "$h")" -6 route add default via "$LAB_EDGE_LAN6"
  done
  ip -n "$(lab_ns dc1)" route add default via "$LAB_HUB_LAN4"
  ip -n "$(lab_ns dc1)" -6 route add default via "$LAB_HUB_LAN6"
  ip -n "$(lab_ns inet)" route add default via "$LAB_INET_GW4"
  ip -n "$(lab_ns inet)" -6 route add default via "$LAB_INET_GW6"

  local core
  core=$(lab_ns core)
  for u in "${LAB_UPLINKS[@]}"; do
    n=$(lab_uplink_index "$u")
    lab__addr core "$u" "100.64.$n.1/24" "fd00:64:$n::1/64"
  done
  lab__addr core hub "$LAB_HUB_GW4/24" "$LAB_HUB_GW6/64"
  lab__addr core inet "$LAB_INET_GW4/24" "$LAB_INET_GW6/64"
  for h in fiber vdsl 4g hub inet; do ip -n "$core" link set "$h" up; done
  ip -n "$core" route add "$LAB_DC_NET4" via "$LAB_HUB_WAN4" dev hub
  ip -n "$core" -6 route add "$LAB_DC_NET6" via "$LAB_HUB_WAN6" dev hub
  ip -n "$core" route add "$LAB_LAN_NET4" via 100.64.1.2 dev fiber
  ip -n "$core" -6 route add "$LAB_LAN_NET6" via fd00:64:1::2 dev fiber
  lab__core_return_path
}

# What leaves natively (no overlay, no NAT) needs the core to route the LAN: via fiber.
# A connection the edge sent out by vdsl or 4g must get its replies back by the same uplink
# (as an operator's NAT would do): new connections are marked by the uplink they arrived on
# (ct mark 1 fiber, 2 vdsl, 3 4g), replies carry that mark as packet mark, and `ip rule fwmark`
# routes them with that uplink's table. Connections started towards the LAN use the main table.
lab__core_return_path() {
  local core u n
  core=$(lab_ns core)
  for u in "${LAB_UPLINKS[@]}"; do
    n=$(lab_uplink_index "$u")
    ip -n "$core" route add "$LAB_LAN_NET4" via "100.64.$n.2" dev "$u" table $((100 + n))
    ip -n "$core" -6 route add "$LAB_LAN_NET6" via "fd00:64:$n::2" dev "$u" table $((100 + n))
    ip -n "$core" rule add fwmark "$n" lookup $((100 + n)) priority $((1000 + n))
    ip -n "$core" -6 rule add fwmark "$n" lookup $((100 + n)) priority $((1000 + n))
  done
  site_return_path_nft tblab_return | ip netns exec "$core" nft -f -
}

# A self-signed certificate (EC P-256) for NAME with the given subjectAltName.
lab__cert() {
  local out=$1 cn=$2 san=$3
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=$cn/O=Traboule lab $LAB_NAME" -addext "subjectAltName=$san" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -keyout "$out.key" -out "$out.crt" >/dev/null 2>&1 || lab_die "openssl could not make a certificate for $cn"
  chmod 600 "$out.key"
}

# Two API tokens per lab (operator, viewer), kept in the state dir (0600); the daemons' configs
# hold only their SHA-256.
lab__tokens() {
  local role
  mkdir -p "$LAB_DIR/tokens"
  chmod 700 "$LAB_DIR/tokens"
  for role in operator viewer; do
    (umask 077 && openssl rand -hex 24 >"$LAB_DIR/tokens/$role")
  done
}

lab__token_sha() { tr -d '\n' <"$LAB_DIR/tokens/$1" | sha256sum | awk '{print $1}'; }

# With twins the edge's API listens on every address: the punt path decides who reaches it.
lab__api_json() {
  local listen=127.0.0.1
  [ "${1:-}" = edge ] && [ "${LAB_TWINS:-0}" = 1 ] && listen=0.0.0.0
  site_api_json "$listen" "$(lab__token_sha operator)" "$(lab__token_sha viewer)"
}

# The DPDK device of a daemon's port: AF_PACKET on the veth of the same name.
lab__device() { printf 'net_af_packet%s,iface=%s' "$2" "$1"; }
lab__eal() { printf '"--no-huge", "--file-prefix", "%s", "--log-level", "*:warning"' "$(lab_ns "$1")"; }

lab__write_edge_config() {
  local twins=""
  [ "${LAB_TWINS:-0}" = 1 ] && twins=tw-
  SITE_TWIN_PREFIX=$twins SITE_FIBER_VLAN=${LAB_FIBER_VLAN:-} site_edge_config "Generated by tools/lab for lab '$LAB_NAME' (namespace $(lab_ns edge))." \
    "$(lab__eal edge)" "$1" lab__device "$LAB_ROOT/data/saas" "$(lab__api_json edge)" >"$LAB_DIR/edge/trabouled.json"
}

lab__dp_ingress_guard() {
  local dev rules="table netdev tblab_dp {"
  for dev in lan "${LAB_UPLINKS[@]}"; do
    rules+=$'\n'"  chain in_$dev { type filter hook ingress device \"$dev\" priority 0; policy drop; }"
  done
  rules+=$'\n}'
  printf '%s\n' "$rules" | ip netns exec "$(lab_ns edge)" nft -f -
}

# sshd in the edge's namespace (--twins): its own host key, root by key only, everything in the
# state dir; the client key is $LAB_DIR/ssh/id.
lab__write_sshd() {
  mkdir -p "$LAB_DIR/ssh"
  chmod 700 "$LAB_DIR/ssh"
  ssh-keygen -q -t ed25519 -N "" -f "$LAB_DIR/ssh/host_ed25519" -C "edge.$LAB_NAME.lab" >/dev/null
  ssh-keygen -q -t ed25519 -N "" -f "$LAB_DIR/ssh/id" -C "lab-operator" >/dev/null
  cp "$LAB_DIR/ssh/id.pub" "$LAB_DIR/ssh/authorized_keys"
  {
    printf '%s %s\n' "$SITE_EDGE_LAN4" "$(cut -d' ' -f1,2 "$LAB_DIR/ssh/host_ed25519.pub")"
  } >"$LAB_DIR/ssh/known_hosts"
  cat >"$LAB_DIR/ssh/sshd_config" <<EOF
Port 22
ListenAddress 0.0.0.0
ListenAddress ::
HostKey $LAB_DIR/ssh/host_ed25519
PidFile $LAB_DIR/ssh/sshd.pid
AuthorizedKeysFile $LAB_DIR/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel VERBOSE
EOF
}

lab__write_hub_config() {
  site_hub_config "Generated by tools/lab for lab '$LAB_NAME' (namespace $(lab_ns hub))." \
    "$(lab__eal hub)" "$1" lab__device "$(lab__api_json)" >"$LAB_DIR/hub/trabouled.json"
}

# The lab's first-boot policies (site_config.sh, docs/policy.md).
lab__write_edge_policy() {
  site_edge_policy "tools/lab edge '$LAB_NAME': fiber and vdsl primary, 4g backup; datacenter via the hub, internet by breakout." \
    >"$LAB_DIR/edge/policy.json"
}

lab__write_hub_policy() {
  site_hub_policy "tools/lab hub '$LAB_NAME': one WAN; the datacenter's traffic to the site over the overlay, the rest broken out." \
    >"$LAB_DIR/hub/policy.json"
}

# The HTTP(S) server of inet and dc1: GET/HEAD / (a one-line page) and /bytes/N (N bytes, up to
# 1 GiB, for throughput runs); IPv4 and IPv6 on one dual-stack socket. Touches --ready once
# every socket listens.
lab__write_http_server() {
  install -m 0755 "$LAB_ROOT/tools/lib/lab_http.py" "$LAB_DIR/bin/lab_http.py"
}

# traboulectl with the lab's CA: traboulectl reads TRABOULE_SERVER and TRABOULE_TOKEN from the
# environment but takes the CA only as --ca, so `tools/lab exec edge traboulectl ...` runs this.
lab__write_ctl_wrapper() {
  cat >"$LAB_DIR/bin/traboulectl" <<EOF
#!/bin/sh
# Generated by tools/lab: $LAB_TRABOULECTL with --ca \$TRABOULE_CA unless --ca/--insecure is given.
for a in "\$@"; do
  case \$a in --ca | --ca=* | --insecure) exec "$LAB_TRABOULECTL" "\$@" ;; esac
done
if [ -n "\${TRABOULE_CA:-}" ]; then exec "$LAB_TRABOULECTL" --ca "\$TRABOULE_CA" "\$@"; fi
exec "$LAB_TRABOULECTL" "\$@"
EOF
  chmod 755 "$LAB_DIR/bin/traboulectl"
}

# The edge's supervision stack (docs/lab.md "Supervision"): Debian's snmpd with traboule-snmp as
# its AgentX subagent (SNMPv3 authPriv, user lab-nms), snmptrapd receiving its v2c and v3 traps,
# and nfcapd receiving the edge's IPFIX; passphrases fresh for each lab, in 0600 files only.
lab__supervision_ok() { command -v snmpd >/dev/null && command -v snmptrapd >/dev/null && [ -x "$LAB_SNMP_BIN" ]; }
lab__write_supervision() {
  local d="$LAB_DIR/edge/snmp" auth priv engine listen=udp:127.0.0.1:161
  # With kernel twins snmpd answers on the box's addresses; the punt path lets in only
  # management.allow sources (docs/kernel.md).
  [ "${LAB_TWINS:-0}" = 1 ] && listen=udp:161,udp6:161
  mkdir -p "$d/agent" "$d/trapd" "$d/cli/cert_indexes" "$LAB_DIR/edge/flows"
  chmod 700 "$d"
  auth=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  priv=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  engine=0x80001f8880$(printf '%s' "$LAB_NAME" | sha256sum | cut -c1-16)
  (
    umask 077
    printf '%s\n' "$auth" >"$d/auth-passphrase"
    printf '%s\n' "$priv" >"$d/priv-passphrase"
    cat >"$d/snmpd.conf" <<EOF
agentAddress $listen
exactEngineID $engine
createUser lab-nms SHA "$auth" AES "$priv"
rouser lab-nms priv
master agentx
agentXSocket unix:$d/agentx.sock
agentXPerms 0600 0700
trap2sink udp:127.0.0.1:162 public
trapsess -v 3 -e $engine -u lab-trap -a SHA -A "$auth" -x AES -X "$priv" -l authPriv udp:127.0.0.1:162
EOF
    cat >"$d/snmptrapd.conf" <<EOF
createUser -e $engine lab-trap SHA "$auth" AES "$priv"
authCommunity log public
authUser log lab-trap priv
format2 %y-%m-%l %h:%j:%k TRAP %P | %V~ %v\n
EOF
    site_snmp_cli_conf lab-nms "$auth" "$priv" >"$d/cli/snmp.conf"
  )
}
lab__start_supervision() {
  local d="$LAB_DIR/edge/snmp"
  lab__spawn edge-snmptrapd edge env MIBS= SNMP_PERSISTENT_DIR="$d/trapd" \
    snmptrapd -f -C -c "$d/snmptrapd.conf" -Lo -On udp:127.0.0.1:162
  lab__spawn edge-snmpd edge env MIBS= SNMP_PERSISTENT_DIR="$d/agent" \
    snmpd -f -C -c "$d/snmpd.conf" -Lo -I -ifTable,ifXTable,interfaces
  if command -v nfcapd >/dev/null; then
    lab__spawn edge-nfcapd edge nfcapd -w "$LAB_DIR/edge/flows" -p 4739 -b 127.0.0.1 -t 60 -I edge
  fi
}
lab__start_subagent() {
  local d="$LAB_DIR/edge/snmp"
  lab__spawn edge-snmp edge env TZ=Europe/Paris SNMP_PERSISTENT_DIR="$d/agent" "$LAB_SNMP_BIN" \
    --token-file "$LAB_DIR/tokens/viewer" --ca "$LAB_DIR/edge/api.crt" \
    --server "https://127.0.0.1:$LAB_API_PORT" --agentx-socket "$d/agentx.sock" --interval 5
}

# Starts a process in a namespace, detached from the caller's session (it outlives `up`), output
# to logs/NAME.log, pid in pids/NAME.pid (`ip netns exec` execs, so the shell's $! is the
# process's own pid), exit status in pids/NAME.rc once it ends. Every process of a lab runs in
# one of its namespaces, which is how `down` finds them all, pid files or not.
lab__spawn() {
  local name=$1 host=$2 i
  shift 2
  rm -f "$LAB_DIR/pids/$name.pid" "$LAB_DIR/pids/$name.rc"
  # A shell outside the namespace waits for the process and keeps its exit status (`stop`
  # reports it).
  # shellcheck disable=SC2016 # expanded by that shell
  setsid bash -c 'ip netns exec "$1" "${@:4}" >"$2" 2>&1 </dev/null &
    echo $! >"$3.pid"
    wait $!
    echo $? >"$3.rc"' lab-spawn "$(lab_ns "$host")" "$LAB_DIR/logs/$name.log" "$LAB_DIR/pids/$name" \
    "$@" </dev/null >/dev/null 2>&1 &
  for ((i = 0; i < 100; i++)); do
    [ -s "$LAB_DIR/pids/$name.pid" ] && return 0
    sleep 0.02
  done
  lab_die "could not start $name in $(lab_ns "$host")"
}

# Polls a command until it succeeds or the deadline (absolute, in $SECONDS) passes.
lab__wait_until() {
  local deadline=$1 interval=$2
  shift 2
  while :; do
    if "$@"; then return 0; fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep "$interval"
  done
}

lab__wanem_ctl() {
  local link=$1
  shift
  "$LAB_WANEM" ctl --ctl "$LAB_DIR/wanem-$link.sock" "$@"
}

lab__wanem_ready() { lab__wanem_ctl "$1" --timeout-ms 500 show >/dev/null 2>&1; }

# One DPDK telemetry command to a daemon (edge or hub); JSON on stdout. dpdk-telemetry.py exits
# 0 even when it cannot connect, so only a reply that starts with "{" counts.
lab_telemetry() {
  local out
  out=$(echo "$2" | timeout 10 dpdk-telemetry.py -f "$(lab_ns "$1")" 2>&1) || return 1
  case $out in
    "{"*) printf '%s\n' "$out" ;;
    *) return 1 ;;
  esac
}

# True when the daemon runs, says it forwards, and every uplink has its link up and its gateway
# resolved.
lab__daemon_ready() {
  local d=$1 json
  lab_pid_alive "$(lab_read_pid "$d")" || return 1
  grep -q '^trabouled: .* forwarding with ' "$LAB_DIR/logs/$d.log" 2>/dev/null || return 1
  json=$(lab_telemetry "$d" /traboule/uplinks) || return 1
  "$LAB_PY" -c '
import json, sys
d = json.loads(sys.argv[1]).get("/traboule/uplinks")
ok = isinstance(d, dict) and d and all(u.get("link") == "up" and u.get("gateway") == "resolved" for u in d.values())
sys.exit(0 if ok else 1)
' "$json"
}

# Waits until CMD succeeds while process PROC (a name of pids/) runs; fails `up` at once when
# PROC exits, or at LAB_DEADLINE, with PROC's log tail.
lab__await() {
  local name=$1 what=$2
  shift 2
  until "$@"; do
    lab_pid_alive "$(lab_read_pid "$name")" || lab__up_fail "$name exited during start-up (waiting for $what)" "$name"
    if [ "$SECONDS" -ge "$LAB_DEADLINE" ]; then
      local extra=""
      case $name in
        edge | hub) extra="; /traboule/uplinks says: $(lab_telemetry "$name" /traboule/uplinks || echo 'no answer')" ;;
      esac
      lab__up_fail "no $what within ${LAB_TIMEOUT}s$extra" "$name"
    fi
    sleep 0.2
  done
}

lab__ping() { ip netns exec "$(lab_ns "$1")" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1; }

# The last lines of each log, for a failure message.
lab__log_tails() {
  local f
  for f in "$@"; do
    [ -f "$LAB_DIR/logs/$f.log" ] || continue
    printf -- '--- last lines of %s\n' "$LAB_DIR/logs/$f.log" >&2
    tail -n "${LAB_TAIL_LINES:-25}" "$LAB_DIR/logs/$f.log" >&2
  done
}

# Fails `up` with a message and the daemons' log tails; the EXIT trap then tears down.
lab__up_fail() {
  printf 'tools/lab: up failed: %s\n' "$1" >&2
  shift
  lab__log_tails "$@"
  exit 1
}

lab__up_exit_trap() {
  local rc=$?
  trap - EXIT INT TERM
  [ "$rc" -eq 0 ] && return 0
  set +e
  if [ "${LAB_KEEP_FAILED:-0}" = 1 ]; then
    printf 'tools/lab: left lab %s as it is (--keep-failed); logs in %s/logs; tools/lab down --name %s removes it\n' \
      "$LAB_NAME" "$LAB_DIR" "$LAB_NAME" >&2
  else
    lab_log "tearing down the half-built lab '$LAB_NAME' (--keep-failed keeps it for a look)"
    lab_down_all >/dev/null
  fi
  exit "$rc"
}

# Builds the lab. Options: LAB_PROFILES (1: each link starts with its named wanem profile, 0:
# --clean), LAB_WORKERS, LAB_EDGE_POLICY / LAB_HUB_POLICY (files replacing the generated
# policies), LAB_TIMEOUT (seconds for the daemons and the health checks).
lab_up() {
  local t0 u
  t0=$(date +%s.%N)
  lab__check_prereqs
  lab__claim
  trap 'lab__up_exit_trap' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  {
    echo "LAB_NAME=$LAB_NAME"
    echo "LAB_BUILD=$LAB_BUILD"
    echo "LAB_TRABOULED=$LAB_TRABOULED"
    echo "LAB_TRABOULECTL=$LAB_TRABOULECTL"
    echo "LAB_WANEM=$LAB_WANEM"
    echo "LAB_CREATED=$(date +%s)"
    echo "LAB_PROFILES=$LAB_PROFILES"
    echo "LAB_TWINS=${LAB_TWINS:-0}"
    echo "LAB_FIBER_VLAN=${LAB_FIBER_VLAN:-}"
  } >"$LAB_DIR/lab.env"

  # Configs and policies first: a policy the daemon refuses fails `up` before anything is built.
  lab_log "lab '$LAB_NAME': configs, certificates, tokens"
  lab__tokens
  lab__cert "$LAB_DIR/edge/api" "edge.$LAB_NAME.lab" "IP:127.0.0.1,IP:$SITE_EDGE_LAN4,DNS:localhost"
  lab__cert "$LAB_DIR/hub/api" "hub.$LAB_NAME.lab" "IP:127.0.0.1,DNS:localhost"
  lab__cert "$LAB_DIR/inet/https" "inet.lab" "IP:$LAB_INET4,IP:$LAB_INET6,DNS:inet.lab"
  lab__write_edge_config "$LAB_WORKERS"
  lab__write_hub_config "$LAB_WORKERS"
  if [ -n "${LAB_EDGE_POLICY:-}" ]; then cp "$LAB_EDGE_POLICY" "$LAB_DIR/edge/policy.json"; else lab__write_edge_policy; fi
  if [ -n "${LAB_HUB_POLICY:-}" ]; then cp "$LAB_HUB_POLICY" "$LAB_DIR/hub/policy.json"; else lab__write_hub_policy; fi
  lab__write_http_server
  lab__write_ctl_wrapper
  LAB_SUPERVISION=0
  if [ "${LAB_SUPERVISION_WANTED:-1}" = 1 ] && lab__supervision_ok; then
    lab__write_supervision
    LAB_SUPERVISION=1
  fi
  echo "LAB_SUPERVISION=$LAB_SUPERVISION" >>"$LAB_DIR/lab.env"
  local d
  for d in edge hub; do
    "$LAB_TRABOULED" --config "$LAB_DIR/$d/trabouled.json" --check >"$LAB_DIR/logs/$d-check.log" 2>&1 ||
      lab__up_fail "trabouled --check refuses the $d's config or policy ($LAB_DIR/$d/trabouled.json, policy.json):" "$d-check"
  done

  lab_log "lab '$LAB_NAME': namespaces and links"
  lab__topology
  if [ "${LAB_TWINS:-0}" = 1 ]; then
    # The af_packet veths stand in for NICs the kernel does not see: with the twins' addresses
    # in the namespace, the kernel would also answer what arrives on them directly, past the
    # punt path. An ingress hook drops it for the kernel after AF_PACKET has its copy.
    lab__dp_ingress_guard || lab__up_fail "nftables could not guard the edge's data-plane veths" edge
  fi

  lab_log "lab '$LAB_NAME': wanem on fiber, vdsl, 4g$([ "$LAB_PROFILES" = 1 ] && echo " (profiles of the same names)" || echo " (clean)")"
  for u in "${LAB_UPLINKS[@]}"; do
    local prof=()
    [ "$LAB_PROFILES" = 1 ] && prof=(--profile "$u")
    # --fiber-vlan: fiber's line is that VLAN on the edge's side (an ONT port); wanem plays the
    # operator's access network, which takes the tag off towards the core.
    [ "$u" = fiber ] && [ -n "${LAB_FIBER_VLAN:-}" ] && prof+=(--vlan-a "$LAB_FIBER_VLAN")
    lab__spawn "wanem-$u" "wanem-$u" "$LAB_WANEM" run --name "$u" --a site --b net \
      --ctl "$LAB_DIR/wanem-$u.sock" "${prof[@]}"
  done
  lab__spawn inet-http inet "$LAB_PY" "$LAB_DIR/bin/lab_http.py" --name inet --http 80 --https 443 \
    --cert "$LAB_DIR/inet/https.crt" --key "$LAB_DIR/inet/https.key" --ready "$LAB_DIR/inet/ready"
  lab__spawn dc1-http dc1 "$LAB_PY" "$LAB_DIR/bin/lab_http.py" --name dc1 --http 80 --ready "$LAB_DIR/dc1.ready"

  lab_log "lab '$LAB_NAME': trabouled on hub and edge"
  lab__spawn hub hub "$LAB_TRABOULED" --config "$LAB_DIR/hub/trabouled.json"
  lab__spawn edge edge "$LAB_TRABOULED" --config "$LAB_DIR/edge/trabouled.json"

  LAB_DEADLINE=$((SECONDS + LAB_TIMEOUT))
  for u in "${LAB_UPLINKS[@]}"; do
    lab__await "wanem-$u" "wanem of $u answering on $LAB_DIR/wanem-$u.sock" lab__wanem_ready "$u"
  done
  lab__await inet-http "the web server of inet" test -e "$LAB_DIR/inet/ready"
  lab__await dc1-http "the web server of dc1" test -e "$LAB_DIR/dc1.ready"
  lab__await hub "trabouled (hub) forwarding with its gateway resolved" lab__daemon_ready hub
  lab__await edge "trabouled (edge) forwarding with its 3 gateways resolved" lab__daemon_ready edge
  if [ "${LAB_TWINS:-0}" = 1 ] && command -v /usr/sbin/sshd >/dev/null; then
    lab_log "lab '$LAB_NAME': sshd in the edge's namespace (kernel twins)"
    lab__write_sshd
    mkdir -p /run/sshd
    lab__spawn edge-sshd edge /usr/sbin/sshd -D -e -f "$LAB_DIR/ssh/sshd_config"
  fi
  if [ "$LAB_SUPERVISION" = 1 ]; then
    lab_log "lab '$LAB_NAME': supervision on the edge (snmpd + traboule-snmp, snmptrapd, nfcapd)"
    lab__start_supervision
    lab__await edge-snmpd "snmpd's AgentX socket" test -S "$LAB_DIR/edge/snmp/agentx.sock"
    lab__start_subagent
  fi

  # --standalone: the edge has no overlay to the hub, so dc1 (behind the hub) is out of reach.
  local target targets=("dc1 $LAB_DC1_4" "inet $LAB_INET4")
  [ "${LAB_STANDALONE:-0}" = 0 ] || targets=("inet $LAB_INET4")
  lab_log "lab '$LAB_NAME': health checks (lan1 -> ${targets[*]% *})"
  for target in "${targets[@]}"; do
    lab__wait_until "$LAB_DEADLINE" 0.2 lab__ping lan1 "${target#* }" ||
      lab__up_fail "lan1 cannot ping ${target% *} (${target#* }) within ${LAB_TIMEOUT}s" edge hub \
        wanem-fiber
  done

  local took
  took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  echo "LAB_UP_SECONDS=$took" >>"$LAB_DIR/lab.env"
  touch "$LAB_DIR/complete"
  rm -f "$LAB_DIR/up.pid"
  trap - EXIT INT TERM
  lab_log "lab '$LAB_NAME' is up (${took} s)"
  cat <<EOF
lab '$LAB_NAME' is up in ${took} s (state in $LAB_DIR)
  tools/lab status --name $LAB_NAME            hosts, links, daemons
  tools/lab exec --name $LAB_NAME lan1 ping $LAB_DC1_4
  tools/lab exec --name $LAB_NAME edge traboulectl links
  tools/lab impair --name $LAB_NAME vdsl delay=20ms jitter=3ms loss=2%
  tools/lab down --name $LAB_NAME
EOF
}

# ---------------------------------------------------------------------------------------------
# down

# Stops the processes of one namespace: SIGTERM, a bounded wait, then SIGKILL.
lab__stop_ns_procs() {
  local wait_tenths=$1
  shift
  local ns pid i left
  for ns in "$@"; do
    [ -e "/run/netns/$ns" ] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
  done
  for ((i = 0; i < wait_tenths; i++)); do
    left=0
    for ns in "$@"; do
      [ -e "/run/netns/$ns" ] && [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && left=1
    done
    [ "$left" -eq 0 ] && return 0
    sleep 0.1
  done
  for ns in "$@"; do
    [ -e "/run/netns/$ns" ] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      lab_log "pid $pid in $ns ignored SIGTERM: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    done
  done
  sleep 0.2
}

# Removes everything of the lab, whatever state it is in: an `up` still running, processes in
# its namespaces (the daemons first, so they print their final counters), the namespaces (and
# with them every veth), the DPDK runtime dirs, the state dir. Idempotent.
lab_down_all() {
  local owner h ns removed=0 keep=${LAB_KEEP_LOGS:-} left
  owner=$(lab_up_owner || true)
  if [ -n "$owner" ] && [ "$owner" != $$ ]; then
    lab_log "stopping the tools/lab up in progress (pid $owner)"
    kill -TERM "$owner" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do lab_pid_alive "$owner" || break; sleep 0.1; done
  fi
  set +e
  # trabouled gets 10 s to stop cleanly (it unmaps its memory and removes its runtime files).
  lab__stop_ns_procs 100 "$(lab_ns edge)" "$(lab_ns hub)"
  local all=()
  for h in "${LAB_HOSTS[@]}"; do all+=("$(lab_ns "$h")"); done
  lab__stop_ns_procs 30 "${all[@]}"
  if [ -n "$keep" ] && [ -d "$LAB_DIR/logs" ]; then
    mkdir -p "$keep" && cp -a "$LAB_DIR/logs/." "$keep/" && lab_log "logs copied to $keep"
  fi
  for ns in "${all[@]}"; do
    [ -e "/run/netns/$ns" ] || continue
    ip netns del "$ns" 2>/dev/null && removed=$((removed + 1))
  done
  # The spawning shells (lab__spawn) write each exit status as their process ends: let them
  # finish before the state dir goes.
  local p i
  for ((i = 0; i < 20; i++)); do
    left=0
    for p in "$LAB_DIR"/pids/*.pid; do
      [ -e "$p" ] && [ ! -e "${p%.pid}.rc" ] && left=1
    done
    [ "$left" = 0 ] && break
    sleep 0.05
  done
  for h in edge hub; do
    rm -rf "/var/run/dpdk/$(lab_ns "$h")"
    rm -f /dev/hugepages/"$(lab_ns "$h")"map_* 2>/dev/null
  done
  rm -rf "$LAB_DIR"
  rmdir "$LAB_RUN_BASE" 2>/dev/null
  set -e
  echo "$removed"
}

# The daemon's DPDK runtime files are free: no process holds the lock a primary takes on them.
lab__eal_released() {
  local f="/var/run/dpdk/$(lab_ns "$1")/fbarray_memzone"
  [ ! -e "$f" ] || flock -n -x "$f" true 2>/dev/null
}

# Stops one daemon: SIGTERM, 10 s, then SIGKILL (--crash: SIGKILL at once, as a power cut
# would). Returns its exit status (137 when it had to be killed), 125 when it was not running.
lab__stop_daemon() {
  local d=$1 crash=${2:-} pid i rc killed=0
  pid=$(lab_read_pid "$d")
  [ -n "$pid" ] && lab_pid_alive "$pid" || return 125
  if [ -n "$crash" ]; then
    kill -KILL "$pid" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do lab_pid_alive "$pid" || break; sleep 0.1; done
    if lab_pid_alive "$pid"; then
      lab_log "$d (pid $pid) ignored SIGTERM for 10 s: killing it"
      kill -KILL "$pid" 2>/dev/null
      killed=1
    fi
  fi
  for ((i = 0; i < 50; i++)); do [ -s "$LAB_DIR/pids/$d.rc" ] && break; sleep 0.1; done
  rc=$(cat "$LAB_DIR/pids/$d.rc" 2>/dev/null || echo 137)
  [ "$killed" = 0 ] || rc=137
  return "$rc"
}

lab__check_daemon() {
  case $1 in edge | hub) ;; *) lab_die "$2: edge or hub (got '$1')" ;; esac
  [ -f "$LAB_DIR/$1/trabouled.json" ] || lab_die "lab '$LAB_NAME' is not up (no $1 config)"
}

# stop HOST: stops one daemon (as restart does) and exits with its exit status; its log keeps
# its final counters. `restart` or `down` afterwards.
lab_stop() {
  local d=$1 rc=0
  lab__check_daemon "$d" stop
  lab__stop_daemon "$d" || rc=$?
  [ "$rc" -ne 125 ] || lab_die "$d is not running"
  echo "lab '$LAB_NAME': $d stopped (exit $rc)"
  return "$rc"
}

# restart HOST [--crash]: stops one daemon (lab__stop_daemon) and starts it again with the same
# config and state_dir, waiting until it forwards again. The old log is kept as HOST.log.1.
lab_restart() {
  local d=$1 crash=${2:-} i
  lab__check_daemon "$d" restart
  [ -z "$crash" ] || [ "$crash" = --crash ] || lab_die "restart: unknown option '$crash'"
  lab__stop_daemon "$d" "$crash" || true
  # A killed daemon is a zombie (lab_pid_alive: dead) as soon as its main thread exits, while its
  # other threads still hold the DPDK runtime files: a primary started then finds them locked
  # ("couldn't lock .../fbarray_memzone", EAL fails). Wait until the last one lets go.
  for ((i = 0; i < 100; i++)); do lab__eal_released "$d" && break; sleep 0.1; done
  mv -f "$LAB_DIR/logs/$d.log" "$LAB_DIR/logs/$d.log.1" 2>/dev/null || true
  lab__spawn "$d" "$d" "$LAB_TRABOULED" --config "$LAB_DIR/$d/trabouled.json"
  LAB_DEADLINE=$((SECONDS + LAB_TIMEOUT))
  lab__await "$d" "trabouled ($d) forwarding again" lab__daemon_ready "$d"
  lab_log "lab '$LAB_NAME': $d restarted${crash:+ after a simulated crash}"
}

lab_down() {
  [ "$(id -u)" -eq 0 ] || lab_die "the lab needs root (network namespaces)"
  local existing
  existing=$(lab_existing_ns)
  if [ -z "$existing" ] && [ ! -d "$LAB_DIR" ] && [ ! -d "/var/run/dpdk/$(lab_ns edge)" ] &&
    [ ! -d "/var/run/dpdk/$(lab_ns hub)" ]; then
    echo "lab '$LAB_NAME' is not up: nothing to remove"
    return 0
  fi
  local t0 n
  t0=$SECONDS
  n=$(lab_down_all)
  echo "lab '$LAB_NAME' removed ($n namespaces, in $((SECONDS - t0)) s)"
}

# ---------------------------------------------------------------------------------------------
# impair, exec, list

# Changes one link's wanem (or every link's with "all"). dir=up|down are the site's view:
# upload is wanem's a2b (site to network), download b2a.
lab_impair() {
  local link=$1
  shift
  [ $# -gt 0 ] || lab_die "impair $link: what to do? e.g. down, up, clear, profile=4g, delay=20ms jitter=3ms loss=2% [dir=up|down], show"
  local links=()
  case $link in
    all) links=("${LAB_UPLINKS[@]}") ;;
    fiber | vdsl | 4g) links=("$link") ;;
    *) lab_die "impair: unknown link '$link': fiber, vdsl, 4g or all" ;;
  esac
  [ -d "$LAB_DIR" ] || lab_die "lab '$LAB_NAME' is not up (tools/lab up --name $LAB_NAME)"
  lab_load_env || lab_die "lab '$LAB_NAME': $LAB_DIR/lab.env is missing; tools/lab down --name $LAB_NAME, then up"
  local words=() w
  for w in "$@"; do
    case $w in
      dir=up | dir=upload) words+=(dir=a2b) ;;
      dir=down | dir=download) words+=(dir=b2a) ;;
      *) words+=("$w") ;;
    esac
  done
  local l rc=0 out
  for l in "${links[@]}"; do
    [ -S "$LAB_DIR/wanem-$l.sock" ] || lab_die "lab '$LAB_NAME': no wanem control socket for $l"
    if out=$(lab__wanem_ctl "$l" "${words[@]}" 2>&1); then
      # wanem names directions a2b/b2a; say which is which from the site's side.
      sed -e "s/^a2b: /$l upload   (a2b): /" -e "s/^b2a: /$l download (b2a): /" <<<"$out"
    else
      rc=$?
      printf 'tools/lab impair %s: %s\n' "$l" "${out#traboule-wanem ctl: }" >&2
    fi
  done
  return "$rc"
}

# Runs CMD in HOST's namespace (a shell without CMD). On edge and hub, traboulectl talks to that
# daemon: TRABOULE_SERVER, TRABOULE_TOKEN (operator) and TRABOULE_CA are set and the lab's
# traboulectl wrapper comes first in PATH.
lab_exec() {
  local host=$1
  shift
  lab_is_host "$host" || lab_die "exec: unknown host '$host'; one of: ${LAB_HOSTS[*]}"
  local ns
  ns=$(lab_ns "$host")
  [ -e "/run/netns/$ns" ] || lab_die "lab '$LAB_NAME' is not up (no namespace $ns)"
  local env=(TB_LAB="$LAB_NAME" TB_LAB_HOST="$host" TB_LAB_DIR="$LAB_DIR")
  if [ "$host" = edge ] && [ -d "$LAB_DIR/edge/snmp/cli" ]; then
    # snmpget/snmpwalk default to the lab's SNMPv3 authPriv user (docs/lab.md "Supervision").
    env+=(SNMPCONFPATH="$LAB_DIR/edge/snmp/cli" SNMP_PERSISTENT_DIR="$LAB_DIR/edge/snmp/cli" MIBS=)
  fi
  if [ "$host" = edge ] || [ "$host" = hub ]; then
    lab_load_env || true
    env+=(TRABOULE_SERVER="https://127.0.0.1:$LAB_API_PORT"
      TRABOULE_TOKEN="$(cat "$LAB_DIR/tokens/operator" 2>/dev/null)"
      TRABOULE_CA="$LAB_DIR/$host/api.crt"
      TB_FILE_PREFIX="$ns"
      PATH="$LAB_DIR/bin:$PATH")
  fi
  [ $# -gt 0 ] || set -- "${SHELL:-/bin/bash}"
  exec ip netns exec "$ns" env "${env[@]}" "$@"
}

lab_list() {
  local names=() ns n d
  for d in "$LAB_RUN_BASE"/*/; do
    [ -d "$d" ] && names+=("$(basename "$d")")
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ $ns =~ ^tblab-([A-Za-z0-9_]+)-core$ ]] && names+=("${BASH_REMATCH[1]}")
  done
  [ ${#names[@]} -gt 0 ] || {
    echo "no lab"
    return 0
  }
  for n in $(printf '%s\n' "${names[@]}" | sort -u); do
    lab_set_name "$n"
    printf '%-16s %s\n' "$n" "$(lab_state_word)"
  done
}

# up | starting | broken | down: what `status` reports first.
lab_state_word() {
  local existing
  existing=$(lab_existing_ns)
  if [ -f "$LAB_DIR/complete" ]; then
    echo up
  elif [ -n "$(lab_up_owner || true)" ]; then
    echo starting
  elif [ -n "$existing" ] || [ -d "$LAB_DIR" ]; then
    echo broken
  else
    echo down
  fi
}

# ---------------------------------------------------------------------------------------------
# status

# Everything `status` shows, gathered by one Python program (JSON with --json, else text):
# host addresses (the kernel's, or trabouled's from its config), each link's wanem state and
# impairment (`ctl show --json`), processes and API URLs, the daemons' uplinks (telemetry).
lab_status() {
  local json=$1 state
  state=$(lab_state_word)
  lab_load_env || true
  LAB_STATUS_STATE=$state LAB_NAME=$LAB_NAME LAB_DIR=$LAB_DIR LAB_NS_PREFIX=$LAB_NS_PREFIX \
    LAB_WANEM=${LAB_WANEM:-} LAB_API_PORT=$LAB_API_PORT LAB_HOSTS="${LAB_HOSTS[*]}" \
    LAB_UPLINKS="${LAB_UPLINKS[*]}" LAB_UP_SECONDS=${LAB_UP_SECONDS:-} LAB_CREATED=${LAB_CREATED:-} \
    LAB_BUILD=${LAB_BUILD:-} LAB_PROFILES=${LAB_PROFILES:-} \
    "$LAB_PY" "$LAB_ROOT/tools/lib/lab_status.py" "$json"
}
