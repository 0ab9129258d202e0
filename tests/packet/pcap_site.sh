# SPDX-License-Identifier: Apache-2.0
# tests/packet/pcap_site.sh: the edge the capture tests run (run_golden.sh, app_labels_test.sh):
# trabouled with its LAN and two uplinks on net_pcap files in WORK, one worker, no hugepages.
# Source it, then:
#   pcap_init SHORT PREFIX   work (a temp dir), prefix (EAL's, PREFIX + pid), pid; at exit the
#                            daemon is stopped and both are removed
#   pcap_edge_config WORK PREFIX [--ipv6] [--api TOKEN_SHA256]   the daemon config, on stdout
#   pcap_policy RULES_JSON                                        a policy of fiber and vdsl
#   pcap_start TRABOULED WORK [--api]   starts it (sets pid; with --api, port: the API's port);
#                                       prints its output and exits 1 if it does not forward
# shellcheck shell=bash disable=SC2034 # work, prefix, pid and port are for the sourcing test

pcap_init() {
  work=$(mktemp -d "/tmp/tb-$1.XXXXXX")
  prefix="$2$$"
  pid=
  trap pcap__cleanup EXIT
}
pcap__cleanup() {
  if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work" "/var/run/dpdk/$prefix"
}

pcap_edge_config() {
  local work=$1 prefix=$2 lan6="" fiber6="" api=""
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      --ipv6)
        lan6=', "ipv6": "fd00:10::1/64"'
        fiber6='"ipv6": "fd00:64:1::2/64", "gateway6": "fd00:64:1::1", '
        ;;
      --api)
        api=',
  "saas_dir": "'"$(cd "$(dirname "${BASH_SOURCE[0]}")/../../data/saas" && pwd)"'",
  "api": { "listen": "127.0.0.1", "port": 0, "cert": "cert.pem", "key": "key.pem",
           "tokens": [ { "name": "test", "role": "viewer", "sha256": "'"$2"'" } ] }'
        shift
        ;;
    esac
    shift
  done
  cat <<JSON
{
  "eal": ["--no-huge", "--file-prefix", "$prefix", "--log-level", "*:warning", "-l", "0"],
  "dataplane": { "workers": 1, "mbufs": 8191 },
  "flows": { "capacity": 4096 },
  "lan": {
    "device": "net_pcap0,rx_pcap=$work/lan_in.pcap,tx_pcap=$work/lan_out.pcap",
    "mac": "02:00:00:00:0a:01", "ipv4": "192.168.10.1/24"$lan6
  },
  "uplinks": [
    { "name": "fiber",
      "device": "net_pcap1,rx_pcap=$work/fiber_in.pcap,tx_pcap=$work/fiber_out.pcap",
      "mac": "02:00:00:00:0b:01", "ipv4": "100.64.1.2/24", "gateway4": "100.64.1.1",
      ${fiber6}"gateway_mac": "02:00:00:00:0b:fe" },
    { "name": "vdsl",
      "device": "net_pcap2,rx_pcap=$work/vdsl_in.pcap,tx_pcap=$work/vdsl_out.pcap",
      "mac": "02:00:00:00:0c:01", "ipv4": "100.64.2.2/24", "gateway4": "100.64.2.1",
      "gateway_mac": "02:00:00:00:0c:fe" }
  ],
  "policy": "$work/policy.json",
  "state_dir": "$work/state"$api
}
JSON
}

pcap_policy() {
  cat <<JSON
{
  "version": 1,
  "uplinks": [
    { "name": "fiber", "kind": "fiber", "up_kbps": 100000, "down_kbps": 1000000 },
    { "name": "vdsl", "kind": "vdsl", "up_kbps": 20000, "down_kbps": 80000 }
  ],
  "rules": $1
}
JSON
}

pcap_start() {
  local trabouled=$1 work=$2 want_api=${3:-}
  "$trabouled" --config "$work/edge.json" >"$work/out.txt" 2>&1 &
  pid=$!
  port=
  local _
  for _ in $(seq 150); do
    [ -z "$want_api" ] ||
      port=$(sed -n 's|.*API on https://127.0.0.1:\([0-9]*\)/api/v1.*|\1|p' "$work/out.txt" | tail -n1)
    if grep -q "forwarding with" "$work/out.txt" && { [ -z "$want_api" ] || [ -n "$port" ]; }; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "trabouled did not start:"
  cat "$work/out.txt"
  exit 1
}
