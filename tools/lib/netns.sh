# shellcheck shell=bash
# tools/lib/netns.sh: builds a small Traboule site in network namespaces, runs trabouled in it,
# reads its counters, and tears everything down. Sourced by tools/demo and tests/e2e/*.sh.
#
#   LAN host ns              edge ns (trabouled, DPDK af_packet)          inet ns
#   lan0 192.168.10.10 ---- tb-lan      [trabouled]      tb-fiber ---- fiber-gw 100.64.1.1
#        fd00:10::10/64                                   tb-vdsl  ---- vdsl-gw  100.64.2.1
#                                                                       lo 203.0.113.10, 2001:db8:113::10
#
# Every name that could collide between parallel runs (namespaces, DPDK file-prefix, temp dir)
# carries TB_ID = tb<tag><pid>. Interface names are fixed because they live inside those private
# namespaces, and the veths are created directly there, never in the caller's namespace.
# Callers: tb_init TAG, then tb_topology_up, tb_write_config, tb_start_trabouled BIN,
# tb_wait_ready. tb_init installs EXIT/INT/TERM traps that run tb_teardown; define a function
# tb_on_exit (it gets the exit status) to print diagnostics before the teardown.

TB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TB_TRAFFIC="$TB_ROOT/tests/e2e/traffic.py"

# The addresses of the site; the generated config and the docs use the same ones.
TB_LAN_HOST4=192.168.10.10
TB_LAN_HOST6=fd00:10::10
TB_EDGE_LAN4=192.168.10.1
TB_EDGE_LAN6=fd00:10::1
TB_SERVER4=203.0.113.10
TB_SERVER6=2001:db8:113::10
TB_FIBER_GW4=100.64.1.1
TB_FIBER_GW6=fd00:64:1::1
TB_VDSL_GW4=100.64.2.1

# Prints a timestamped progress line on stderr, so stdout stays for results.
tb_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Fails the whole run with a message; the EXIT trap then cleans up.
tb_die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

# Runs a command in one of the run's namespaces (lan, edge or inet).
tb_ns() {
  local which=$1
  shift
  local ns
  case $which in
    lan) ns=$TB_NS_LAN ;;
    edge) ns=$TB_NS_EDGE ;;
    inet) ns=$TB_NS_INET ;;
    *) tb_die "tb_ns: unknown namespace '$which'" ;;
  esac
  ip netns exec "$ns" "$@"
}

# Polls a command until it succeeds or the timeout (seconds) passes: every wait in the lab is
# bounded, so a broken daemon makes a run fail with a message instead of hanging CI.
tb_wait_until() {
  local timeout=$1 interval=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  while :; do
    if "$@"; then return 0; fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep "$interval"
  done
}

# Chooses the run's unique names and temp dir, and installs the cleanup traps.
tb_init() {
  local tag=${1:-run}
  [ "$(id -u)" -eq 0 ] || tb_die "the lab needs root (network namespaces, DPDK)"
  local tool
  for tool in ip nft python3 sysctl timeout; do
    command -v "$tool" >/dev/null || tb_die "'$tool' is missing: run tools/setup"
  done
  tb_reap_stale "$tag"
  TB_ID="tb${tag}$$"
  TB_NS_LAN="$TB_ID-lan"
  TB_NS_EDGE="$TB_ID-edge"
  TB_NS_INET="$TB_ID-inet"
  TB_PREFIX="$TB_ID"
  TB_DIR=$(mktemp -d "/tmp/$TB_ID.XXXXXX")
  TB_CONFIG="$TB_DIR/edge.json"
  TB_LOG="$TB_DIR/trabouled.log"
  TB_PID=""
  TB_BG_PIDS=()
  TB_TORN_DOWN=0
  # The traps may fire while a function's output is redirected to a file: keep the real
  # stdout/stderr to restore them, so the diagnostics reach the user.
  exec {TB_STDOUT}>&1 {TB_STDERR}>&2
  trap 'tb__exit_trap' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# Removes what runs of this tool killed with SIGKILL (no trap ran) left behind: namespaces
# tb<tag><pid>-* whose <pid> no longer exists, their processes, DPDK runtime dir and temp dir.
# Runs of other tools, and live runs of this one, are never touched.
tb_reap_stale() {
  local tag=$1 ns pid owner
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ $ns =~ ^tb${tag}([0-9]+)-(lan|edge|inet)$ ]] || continue
    owner=${BASH_REMATCH[1]}
    kill -0 "$owner" 2>/dev/null && continue
    tb_log "removing $ns, left by a run (pid $owner) that was killed without cleanup"
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/var/run/dpdk/tb${tag}${owner}" /tmp/"tb${tag}${owner}".??????
  done
}

# EXIT trap: lets the caller report (tb_on_exit), then cleans up, keeping the exit status.
tb__exit_trap() {
  local rc=$?
  set +e
  exec 1>&"$TB_STDOUT" 2>&"$TB_STDERR"
  if declare -F tb_on_exit >/dev/null; then tb_on_exit "$rc"; fi
  tb_teardown
  exit "$rc"
}

# Creates the three namespaces, the veths, addresses, routes and the return-path policy.
tb_topology_up() {
  local ns
  for ns in "$TB_NS_LAN" "$TB_NS_EDGE" "$TB_NS_INET"; do
    if [ -e "/run/netns/$ns" ]; then
      tb_die "namespace $ns already exists (a killed run with the same pid?); remove it with: ip netns del $ns"
    fi
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done

  # DPDK owns the edge's interfaces: the kernel there must have no address and send nothing,
  # so IPv6 is disabled before the veths exist (no link-local, no RS/MLD/DAD ever sent).
  tb_ns edge sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1

  # Each veth is created with both ends already in their namespaces.
  ip link add tb-lan netns "$TB_NS_EDGE" type veth peer name lan0 netns "$TB_NS_LAN"
  ip link add tb-fiber netns "$TB_NS_EDGE" type veth peer name fiber-gw netns "$TB_NS_INET"
  ip link add tb-vdsl netns "$TB_NS_EDGE" type veth peer name vdsl-gw netns "$TB_NS_INET"

  local ifc
  for ifc in tb-lan tb-fiber tb-vdsl; do
    tb_ns edge sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1"
    ip -n "$TB_NS_EDGE" link set "$ifc" up
  done

  # LAN host. nodad: the address is usable at once instead of after ~1 s of DAD.
  ip -n "$TB_NS_LAN" addr add "$TB_LAN_HOST4/24" dev lan0
  ip -n "$TB_NS_LAN" addr add "$TB_LAN_HOST6/64" dev lan0 nodad
  ip -n "$TB_NS_LAN" link set lan0 up
  ip -n "$TB_NS_LAN" route add default via "$TB_EDGE_LAN4"
  ip -n "$TB_NS_LAN" -6 route add default via "$TB_EDGE_LAN6"

  # The "internet": both uplink gateways and a server address on loopback.
  ip -n "$TB_NS_INET" addr add "$TB_FIBER_GW4/24" dev fiber-gw
  ip -n "$TB_NS_INET" addr add "$TB_FIBER_GW6/64" dev fiber-gw nodad
  ip -n "$TB_NS_INET" addr add "$TB_VDSL_GW4/24" dev vdsl-gw
  ip -n "$TB_NS_INET" addr add "$TB_SERVER4/32" dev lo
  ip -n "$TB_NS_INET" addr add "$TB_SERVER6/128" dev lo
  ip -n "$TB_NS_INET" link set fiber-gw up
  ip -n "$TB_NS_INET" link set vdsl-gw up
  # Replies leave by the uplink their connection came in on, not by the main route, so a
  # packet arriving on vdsl is legitimate even though 192.168.10.0/24 routes via fiber:
  # reverse-path filtering would drop it.
  tb_ns inet sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.fiber-gw.rp_filter=0 net.ipv4.conf.vdsl-gw.rp_filter=0

  # Offloads off on every veth: TSO/GSO would hand DPDK's af_packet PMD 64 KB frames, and TX
  # checksum offload would leave partial checksums in the frames it forwards.
  tb_ns lan python3 "$TB_TRAFFIC" offloads lan0 >/dev/null || tb_die "cannot turn offloads off in $TB_NS_LAN"
  tb_ns edge python3 "$TB_TRAFFIC" offloads tb-lan tb-fiber tb-vdsl >/dev/null ||
    tb_die "cannot turn offloads off in $TB_NS_EDGE"
  tb_ns inet python3 "$TB_TRAFFIC" offloads fiber-gw vdsl-gw >/dev/null ||
    tb_die "cannot turn offloads off in $TB_NS_INET"

  tb__return_routing
}

# Routes back to the LAN through the uplinks. New connections are marked by the interface they
# arrive on (conntrack mark 1 = fiber, 2 = vdsl); locally generated replies copy that mark to the
# packet mark and are re-routed by "ip rule fwmark" into the uplink's own table. Connections the
# inet side starts carry no mark and use the main table: via fiber.
tb__return_routing() {
  ip -n "$TB_NS_INET" route add 192.168.10.0/24 via 100.64.1.2 dev fiber-gw
  ip -n "$TB_NS_INET" -6 route add fd00:10::/64 via fd00:64:1::2 dev fiber-gw
  ip -n "$TB_NS_INET" route add 192.168.10.0/24 via 100.64.1.2 dev fiber-gw table 101
  ip -n "$TB_NS_INET" -6 route add fd00:10::/64 via fd00:64:1::2 dev fiber-gw table 101
  ip -n "$TB_NS_INET" route add 192.168.10.0/24 via 100.64.2.2 dev vdsl-gw table 102
  ip -n "$TB_NS_INET" rule add fwmark 1 lookup 101 priority 1001
  ip -n "$TB_NS_INET" -6 rule add fwmark 1 lookup 101 priority 1001
  ip -n "$TB_NS_INET" rule add fwmark 2 lookup 102 priority 1002
  tb_ns inet nft -f - <<'EOF'
table inet traboule_return {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    ct state new iifname "fiber-gw" ct mark set 1
    ct state new iifname "vdsl-gw" ct mark set 2
  }
  chain output {
    type route hook output priority mangle; policy accept;
    ct mark != 0 meta mark set ct mark
  }
}
EOF
}

# Writes the run's trabouled config: the lab example (config/examples/edge-lab.json) with this
# run's DPDK file-prefix and policy store (under $TB_DIR), so parallel runs have separate runtime
# dirs, telemetry sockets and policy versions. The first-boot policy is the example's.
# TB_AF_PACKET_OPTS (e.g. ",framecnt=4096") is appended to every af_packet device string, to
# try PMD ring sizes without editing anything; empty by default, so the lab runs the example.
# TB_WORKERS (default 1) sets dataplane.workers: with 2, flows are handed between workers.
# TB_POLICY (default the example's) is the first-boot policy file.
tb_write_config() {
  local file=${1:-$TB_CONFIG}
  local o=${TB_AF_PACKET_OPTS:-}
  local workers=${TB_WORKERS:-1}
  cat >"$file" <<EOF
{
  "comment": "Generated by tools/lib/netns.sh for lab run $TB_ID (namespace $TB_NS_EDGE).",
  "role": "edge",
  "eal": ["--no-huge", "--file-prefix", "$TB_PREFIX", "--log-level", "*:warning"],
  "dataplane": { "workers": $workers, "poll": "adaptive", "mbufs": 8191 },
  "flows": { "capacity": 65536, "timeouts": { "udp": 120, "tcp_established": 7440 } },
  "lan": {
    "device": "net_af_packet0,iface=tb-lan$o",
    "ipv4": "$TB_EDGE_LAN4/24",
    "ipv6": "$TB_EDGE_LAN6/64"
  },
  "uplinks": [
    {
      "name": "fiber", "device": "net_af_packet1,iface=tb-fiber$o",
      "ipv4": "100.64.1.2/24", "gateway4": "$TB_FIBER_GW4",
      "ipv6": "fd00:64:1::2/64", "gateway6": "$TB_FIBER_GW6"
    },
    {
      "name": "vdsl", "device": "net_af_packet2,iface=tb-vdsl$o",
      "ipv4": "100.64.2.2/24", "gateway4": "$TB_VDSL_GW4"
    }
  ],
  "policy": "${TB_POLICY:-$TB_ROOT/config/examples/edge-lab.policy.json}",
  "state_dir": "$TB_DIR/state"
}
EOF
}

# Starts trabouled in the edge namespace, output to $TB_LOG. `ip netns exec` execs the binary,
# so $! is trabouled's own pid.
tb_start_trabouled() {
  local bin=$1
  [ -x "$bin" ] || tb_die "trabouled binary not found or not executable: $bin"
  "$bin" --config "$TB_CONFIG" --check >"$TB_DIR/check.txt" 2>&1 ||
    tb_die "trabouled rejects the generated config: $(cat "$TB_DIR/check.txt")"
  ip netns exec "$TB_NS_EDGE" "$bin" --config "$TB_CONFIG" >"$TB_LOG" 2>&1 &
  TB_PID=$!
}

# Starts a helper (server, receiver) in a namespace in the background and remembers its pid,
# so teardown can stop exactly what we started.
tb_bg() {
  local which=$1 out=$2
  shift 2
  tb_ns "$which" "$@" >"$out" 2>&1 &
  TB_BG_PIDS+=("$!")
  # shellcheck disable=SC2034 # for the caller, to wait for this helper
  TB_LAST_BG=$!
}

# True while trabouled runs.
tb_alive() { [ -n "$TB_PID" ] && kill -0 "$TB_PID" 2>/dev/null; }

# One telemetry command through dpdk-telemetry.py, JSON on stdout. The script exits 0 even when
# it cannot connect (it prints "Error connecting to ..."), so success is judged by the output.
tb_telemetry() {
  local out
  out=$(echo "$1" | timeout 10 dpdk-telemetry.py -f "$TB_PREFIX" 2>&1) || return 1
  case $out in
    "{"*) printf '%s\n' "$out" ;;
    *) return 1 ;;
  esac
}

# Per-uplink counters, one line each: name link gateway tx_pkts tx_bytes rx_pkts rx_bytes
# (tx = forwarded LAN -> that uplink, rx = forwarded that uplink -> LAN).
tb_uplinks() {
  local json
  json=$(tb_telemetry /traboule/uplinks) || return 1
  python3 -c '
import json, sys
d = json.loads(sys.argv[1]).get("/traboule/uplinks")
if not isinstance(d, dict) or not d:
    sys.exit(1)
for name, u in d.items():
    print(name, u["link"], u["gateway"], u["tx_packets"], u["tx_bytes"], u["rx_packets"], u["rx_bytes"])
' "$json"
}

# Every non-zero data-plane counter, "name value" per line.
tb_counters() {
  local json
  json=$(tb_telemetry /traboule/counters) || return 1
  python3 -c '
import json, sys
d = json.loads(sys.argv[1]).get("/traboule/counters") or {}
for k, v in sorted(d.items()):
    print(k, v)
' "$json"
}

# Kernel counters of the inet-side veths, the cross-check of trabouled's numbers:
# "<uplink> rx_pkts rx_bytes tx_pkts tx_bytes" where rx is what the edge sent on that uplink.
tb_veth_stats() {
  local up dev
  for up in fiber vdsl; do
    dev="$up-gw"
    printf '%s' "$up"
    for f in rx_packets rx_bytes tx_packets tx_bytes; do
      printf ' %s' "$(tb_ns inet cat "/sys/class/net/$dev/statistics/$f")"
    done
    printf '\n'
  done
}

# Frames each edge port received, as the kernel counted them on the edge-side veth and as DPDK
# counted them (/ethdev/stats ipackets): "<port> kernel_rx dpdk_rx". A gap is frames lost in
# the af_packet RX ring, which DPDK 22.11's af_packet PMD does not report as imissed.
# Port ids follow the device order of the config: lan 0, fiber 1, vdsl 2.
tb_port_rx() {
  local label port json
  for label in lan:0 fiber:1 vdsl:2; do
    port=${label#*:}
    json=$(tb_telemetry "/ethdev/stats,$port") || return 1
    printf '%s %s %s\n' "${label%:*}" "$(tb_ns edge cat "/sys/class/net/tb-${label%:*}/statistics/rx_packets")" \
      "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["/ethdev/stats"]["ipackets"])' "$json")"
  done
}

# True when every uplink reports link up and its gateway resolved.
tb__all_resolved() {
  local lines
  lines=$(tb_uplinks 2>/dev/null) || return 1
  [ -n "$lines" ] && ! grep -qv ' up resolved ' <<<"$lines"
}

# Waits (bounded) for trabouled's ready line, then for every uplink's gateway to resolve.
tb_wait_ready() {
  local timeout=${1:-30}
  local deadline=$((SECONDS + timeout))
  while ! grep -q '^trabouled: .* forwarding with ' "$TB_LOG" 2>/dev/null; do
    tb_alive || {
      tb_log "trabouled exited during start-up:"
      tail -n 30 "$TB_LOG" >&2
      return 1
    }
    [ "$SECONDS" -lt "$deadline" ] || {
      tb_log "trabouled did not report ready within ${timeout}s"
      return 1
    }
    sleep 0.2
  done
  while ! tb__all_resolved; do
    tb_alive || {
      tb_log "trabouled exited while resolving gateways:"
      tail -n 30 "$TB_LOG" >&2
      return 1
    }
    [ "$SECONDS" -lt "$deadline" ] || {
      tb_log "gateways not resolved within ${timeout}s; /traboule/uplinks says:"
      tb_uplinks >&2 || tb_log "(telemetry not answering)"
      return 1
    }
    sleep 0.3
  done
}

# Stops trabouled with SIGTERM (its final summary goes to $TB_LOG), waits a bounded time, then
# SIGKILLs. Returns trabouled's exit status (137 when it had to be killed).
tb_stop_trabouled() {
  [ -n "$TB_PID" ] || return 0
  local pid=$TB_PID rc=0 i
  TB_PID=""
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    tb_log "trabouled (pid $pid) ignored SIGTERM for 10 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

# Removes everything the run created. Idempotent: safe from the traps, twice, or half-built.
tb_teardown() {
  [ "${TB_TORN_DOWN:-1}" -eq 0 ] || return 0
  TB_TORN_DOWN=1
  set +e
  tb_stop_trabouled >/dev/null 2>&1
  local pid ns i
  for pid in "${TB_BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  # Anything else still running inside our own namespaces was started by this run.
  for ns in "$TB_NS_LAN" "$TB_NS_EDGE" "$TB_NS_INET"; do
    [ -e "/run/netns/$ns" ] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
  done
  for ((i = 0; i < 30; i++)); do
    local left=0
    for ns in "$TB_NS_LAN" "$TB_NS_EDGE" "$TB_NS_INET"; do
      [ -e "/run/netns/$ns" ] && [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && left=1
    done
    [ "$left" -eq 0 ] && break
    sleep 0.1
  done
  for ns in "$TB_NS_LAN" "$TB_NS_EDGE" "$TB_NS_INET"; do
    [ -e "/run/netns/$ns" ] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null # deleting a namespace deletes its veths (and their peers)
  done
  for pid in "${TB_BG_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ -n "${TB_PREFIX:-}" ]; then
    rm -rf "/var/run/dpdk/$TB_PREFIX"
    rm -f /dev/hugepages/"$TB_PREFIX"map_* 2>/dev/null
  fi
  if [ -n "${TB_DIR:-}" ] && [ -d "$TB_DIR" ] && [ "${TB_KEEP_DIR:-0}" != 1 ]; then rm -rf "$TB_DIR"; fi
  set -e
}
