#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs traboule-bench over the flow counts and memory modes of bench/RESULTS.md, several
# invocations each, and prints a markdown table: per invocation the median run of each loop;
# across invocations the min / median / max, because this shared machine swings by ~1.5x.
#   bench/run_matrix.sh BUILD_DIR [INVOCATIONS] [PACKETS]
# Hugepages: reserve them first (as root): echo 1024 > /proc/sys/vm/nr_hugepages and mount
# hugetlbfs on /dev/hugepages; the hugepage rows are skipped when none are free.
set -euo pipefail
build=$1
n=${2:-5}
packets=${3:-3000000}
bench=$build/bench/traboule-bench
free_huge=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
modes=("")
[ "${free_huge:-0}" -ge 400 ] && modes+=("--hugepages")
echo "| flows | memory | io-forward cycles/pkt | pipeline cycles/pkt min / median / max | Mpps (median) | ratio (median) | pipeline alone (median) | memory/flow B | per stage at the median invocation (cycles/pkt) |"
echo "|---|---|---|---|---|---|---|---|---|"
for mode in "${modes[@]}"; do
  for flows in 1000 100000 1000000; do
    out=$(for _ in $(seq "$n"); do
      "$bench" --flows "$flows" --packets "$packets" --runs 3 --per-stage --json $mode 2>/dev/null | grep '^{'
    done)
    python3 - "$flows" "${mode:-no hugepages}" <<PY
import json, statistics, sys
rows = [json.loads(l) for l in """$out""".splitlines() if l.strip()]
rows.sort(key=lambda d: d["pipeline"]["cycles_per_packet"])
mid = rows[len(rows) // 2]
cyc = [d["pipeline"]["cycles_per_packet"] for d in rows]
stages = ", ".join(f"{k} {v:.0f}" for k, v in mid.get("stages", {}).items() if v)
mem = "hugepages" if mid["hugepages"] else "no hugepages"
print(f"| {int(sys.argv[1]):,} | {mem} | {statistics.median(d['io_forward']['cycles_per_packet'] for d in rows):.1f} | "
      f"{cyc[0]:.0f} / {mid['pipeline']['cycles_per_packet']:.0f} / {cyc[-1]:.0f} | {mid['pipeline']['mpps']:.2f} | "
      f"{mid['ratio']:.2f} | {mid['pipeline_only_cycles_per_packet']:.0f} | {mid['memory_per_flow_bytes']:.0f} | {stages} |")
PY
  done
done
