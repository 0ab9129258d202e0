# SPDX-License-Identifier: Apache-2.0
# tests/e2e/lib.sh: what every lab test starts with, written once. Source it, then call
#   e2e_init BUILD_DIR SHORT [TOOL...]     a test with a lab of its own
#   e2e_init --no-lab SHORT [TOOL...]      a test without a lab (its own daemon or namespaces)
#   e2e_init --no-lab --no-root SHORT ...  the same, for a test that does not need root
# which skips (exit 77, ctest's SKIP) without root or without a TOOL, and sets:
#   build here lab py wanem traffic   the build (not with --no-lab), this folder, tools/lab,
#                                     python, wanem, traffic.py
#   name work state                   a unique name (SHORT + pid: the lab's), a private temp dir
#                                     (removed at exit), the lab's run directory
#   e2e_log                           the log whose tail a failure prints (the lab's edge.log;
#                                     a --no-lab test sets its own; e2e_log_lines of it, 30)
# With a lab it exports TB_BUILD and TB_LAB (tools/lab acts on this lab) and brings the lab down
# at exit; the test brings it up itself (`"$lab" up ...`, with the options it needs).
# A test adds its own clean-up to `e2e_cleanups` (functions run at exit, before the lab goes
# down) and its own diagnostics on failure as `on_fail` (a function, optional).
#   fail MSG [DETAIL...]   FAIL: MSG, the details, on_fail, the log's tail; exit 1
#   soft_fail MSG [DETAIL...]  FAIL: MSG and the details, and the test goes on; at exit it fails
#                          (exit 1) with the list of these, on_fail and the log's tail
#   pass MSG               ok: MSG (counted)
#   check MSG CMD...       pass MSG when CMD succeeds, else soft_fail with its output
#   e2e_summary            the closing line: how many passed, failed, in how many seconds
#   ns HOST                the lab's namespace of HOST (edge, lan1, dc1, ...)
#   e2e_push_policy COMMENT STATEMENT...  the edge's running policy, changed by the Python
#                          statements on `p` (tools/lib/json_edit.py), applied; fail if refused
#   e2e_apply_policy FILE COMMENT         FILE applied as the edge's policy; fail if refused
#   json_edit              tools/lib/json_edit.py: "$py" "$json_edit" IN [--out OUT] STATEMENT...
#   e2e_need_tun           skips without /dev/net/tun (the kernel twins)
# shellcheck shell=bash disable=SC2034 # the variables are for the tests sourcing this

e2e_cleanups=()
e2e_failed=()
e2e_passed=0
e2e__reported=0
e2e__lab=1
e2e_log_lines=30

# With no argument, -h or --help: the calling script's opening comment, exit 2.
e2e_usage_if_no_arg() {
  case ${1:-} in
    "" | -h | --help)
      sed -n '3,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
      exit 2
      ;;
  esac
}

e2e_init() {
  local root=1
  if [ "${1:-}" = --no-lab ]; then
    e2e__lab=0
    shift
    [ "${1:-}" != --no-root ] || { root=0; shift; }
  else
    e2e_usage_if_no_arg "${1:-}"
    build=$(cd "$1" && pwd)
    shift
  fi
  local short=$1
  shift
  [ "$root" = 0 ] || [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "SKIP: $t missing (tools/setup installs it)"; exit 77; }
  done
  here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
  lab="$here/../../tools/lab"
  py=/usr/bin/python3
  traffic="$here/traffic.py"
  json_edit="$here/../../tools/lib/json_edit.py"
  e2e__script=$(basename "$0" .sh)
  name="$short$$"
  work=$(mktemp -d "/tmp/tb-$short.XXXXXX")
  e2e__t0=$SECONDS
  if [ "$e2e__lab" = 1 ]; then
    wanem="$build/tools/wanem/traboule-wanem"
    state="/run/traboule-lab/$name"
    e2e_log="$state/logs/edge.log"
    export TB_BUILD=$build TB_LAB=$name
  else
    e2e_log=""
  fi
  trap e2e__cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

e2e_need_tun() {
  [ -e /dev/net/tun ] || { echo "SKIP: no /dev/net/tun for the twins"; exit 77; }
}

# What a failure shows, once: the test's diagnostics, then the log's tail.
e2e__diagnose() {
  [ "$e2e__reported" = 0 ] || return 0
  e2e__reported=1
  if declare -F on_fail >/dev/null; then on_fail || true; fi
  [ -z "${e2e_log:-}" ] || { echo "--- last $e2e_log_lines lines of $e2e_log"; tail -n "$e2e_log_lines" "$e2e_log"; } 2>/dev/null || true
}

e2e__cleanup() {
  local rc=$? f
  set +e
  if [ "$rc" -eq 0 ] && [ ${#e2e_failed[@]} -gt 0 ]; then rc=1; fi
  if [ ${#e2e_failed[@]} -gt 0 ]; then
    echo "=== FAILED: ${#e2e_failed[@]} check(s), $e2e_passed passed"
    for f in "${e2e_failed[@]}"; do echo "  - $f"; done
  fi
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then e2e__diagnose; fi
  for f in "${e2e_cleanups[@]}"; do "$f" || true; done
  [ "$e2e__lab" = 0 ] || "$lab" down >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}

e2e__details() {
  local line
  for line in "$@"; do printf '        %s\n' "$line"; done
}

fail() {
  echo "FAIL: $1"
  shift
  e2e__details "$@"
  e2e__diagnose
  exit 1
}

soft_fail() {
  e2e_failed+=("$1")
  echo "FAIL: $1"
  shift
  e2e__details "$@"
}

pass() {
  e2e_passed=$((e2e_passed + 1))
  echo "ok: $*"
}

check() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then pass "$what"; else soft_fail "$what" "command: $*" "${out:0:600}"; fi
}

e2e_summary() {
  echo "=== $e2e_passed passed, ${#e2e_failed[@]} failed, $((SECONDS - e2e__t0)) s"
}

ns() { echo "tblab-$name-$1"; }

e2e_apply_policy() {
  "$lab" exec edge traboulectl policy apply "$1" --comment "$e2e__script: $2" >"$work/apply.txt" 2>&1 ||
    fail "policy apply ($2)" "$(cat "$work/apply.txt")" \
      "$("$lab" exec edge traboulectl policy validate "$1" 2>&1 | head -5)"
}

e2e_push_policy() {
  local comment=$1
  shift
  "$lab" exec edge traboulectl policy show >"$work/policy.json" 2>/dev/null || fail "policy show"
  "$py" "$json_edit" "$work/policy.json" "$@" || fail "policy edit ($comment)"
  e2e_apply_policy "$work/policy.json" "$comment"
}
