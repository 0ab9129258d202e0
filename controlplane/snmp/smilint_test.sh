#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctest snmp_mib_smilint: `smilint -l 6` (every check, the stylistic ones included) must say
# nothing at all about TRABOULE-MIB; its exit status alone would let warnings through.
# smilint needs the modules the MIB imports (SNMPv2-SMI, -TC, -CONF, SNMP-FRAMEWORK-MIB).
# Debian strips IETF MIB files from libsmi2-common and net-snmp; erlang-snmp (Debian main)
# ships them as text, so that is where they are taken from (or from $SMIPATH when set).
# Usage: smilint_test.sh TRABOULE-MIB.txt      77: smilint or the imported modules missing.
set -euo pipefail
mib=$1
command -v smilint >/dev/null || { echo "SKIP: smilint not installed (smitools)"; exit 77; }
if [ -z "${SMIPATH:-}" ]; then
  for d in /usr/lib/erlang/lib/snmp-*/mibs; do [ -f "$d/SNMPv2-SMI.mib" ] && SMIPATH=$d; done
fi
[ -n "${SMIPATH:-}" ] || { echo "SKIP: no SNMPv2-SMI module for smilint (apt-get install erlang-snmp)"; exit 77; }
export SMIPATH
out=$(smilint -l 6 -s -m "$mib" 2>&1) || { echo "FAIL: smilint exit $?: $out"; exit 1; }
[ -z "$out" ] || { echo "FAIL: smilint -l 6 on $mib:"; echo "$out"; exit 1; }
echo "ok: smilint -l 6 has nothing to say about $(basename "$mib") (imports from $SMIPATH)"
