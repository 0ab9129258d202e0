# SPDX-License-Identifier: Apache-2.0
# tests/e2e/lib.sh: what every lab test starts with, written once. Source it, then call
#   e2e_init BUILD_DIR SHORT [TOOL...]
# which skips (exit 77, ctest's SKIP) without root or without a TOOL, and sets:
#   build here lab py wanem traffic   the build, this folder, tools/lab, python, wanem, traffic.py
#   name work state                   the lab's unique name (SHORT + pid), a private temp dir
#                                     (removed at exit), the lab's run directory
# exports TB_BUILD and TB_LAB (tools/lab acts on this lab), and brings the lab down at exit.
# A test adds its own clean-up to `e2e_cleanups` (functions run at exit, before the lab goes
# down) and its own diagnostics on failure as `on_fail` (a function, optional).
#   fail MSG    FAIL: MSG, on_fail, the edge's log tail; exit 1
#   pass MSG    ok: MSG
#   ns HOST     the lab's namespace of HOST (edge, lan1, dc1, ...)
#   e2e_need_tun                      skips without /dev/net/tun (the kernel twins)
# shellcheck shell=bash

e2e_cleanups=()

e2e_init() {
  build=$(cd "$1" && pwd)
  local short=$2
  shift 2
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "SKIP: $t missing (tools/setup installs it)"; exit 77; }
  done
  here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
  lab="$here/../../tools/lab"
  py=/usr/bin/python3
  wanem="$build/tools/wanem/traboule-wanem"
  traffic="$here/traffic.py"
  name="$short$$"
  work=$(mktemp -d "/tmp/tb-$short.XXXXXX")
  state="/run/traboule-lab/$name"
  export TB_BUILD=$build TB_LAB=$name
  trap e2e__cleanup EXIT
}

e2e_need_tun() {
  [ -e /dev/net/tun ] || { echo "SKIP: no /dev/net/tun for the twins"; exit 77; }
}

e2e__cleanup() {
  local f
  for f in "${e2e_cleanups[@]}"; do "$f" || true; done
  "$lab" down >/dev/null 2>&1 || true
  rm -rf "$work"
}

fail() {
  echo "FAIL: $*"
  if declare -F on_fail >/dev/null; then on_fail || true; fi
  tail -n 30 "$state/logs/edge.log" 2>/dev/null || true
  exit 1
}

pass() { echo "ok: $*"; }

ns() { echo "tblab-$name-$1"; }
