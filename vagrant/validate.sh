#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vagrant/validate.sh: checks vagrant/Vagrantfile offline, with no box and no VM (CTest
# vagrant_validate, label vagrant): `vagrant validate --ignore-provider` always, and
# `VAGRANT_DEFAULT_PROVIDER=libvirt vagrant validate` (which checks the libvirt options) when the
# vagrant-libvirt plugin is installed. Also checks the provisioning scripts' syntax and that they
# generate valid JSON configs and policies. Vagrant's state goes to temp dirs, removed on exit.
# Exit 0 ok, 1 invalid, 77 (skipped) without vagrant.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if ! command -v vagrant >/dev/null 2>&1; then
  echo "vagrant/validate.sh: vagrant not installed (tools/setup installs it): skipped"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tb-vagrant-validate.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Vagrant may write .vagrant/ next to the Vagrantfile: validate a copy, so the tree stays clean
# (with the one file outside vagrant/ that the Vagrantfile reads, at the same relative path).
mkdir -p "$tmp/tree/tools/lib" "$tmp/home"
cp -r "$here" "$tmp/tree/vagrant"
rm -rf "$tmp/tree/vagrant/.vagrant"
cp "$here/../tools/lib/site_config.sh" "$tmp/tree/tools/lib/"
export VAGRANT_HOME="$tmp/home" VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_NO_COLOR=1
# The .deb is optional for validation: without one the Vagrantfile adds a provisioner that fails
# at `up` with a clear message.
rc=0
echo "== vagrant validate --ignore-provider"
(cd "$tmp/tree/vagrant" && vagrant validate --ignore-provider) || rc=1
if vagrant plugin list 2>/dev/null | grep -q '^vagrant-libvirt'; then
  echo "== VAGRANT_DEFAULT_PROVIDER=libvirt vagrant validate"
  (cd "$tmp/tree/vagrant" && VAGRANT_DEFAULT_PROVIDER=libvirt vagrant validate) || rc=1
else
  echo "== vagrant-libvirt not installed: libvirt options not checked"
fi

echo "== provisioning scripts: bash -n, generated JSON"
for f in "$here"/provision/*.sh "$here/../tools/lib/site_config.sh"; do bash -n "$f" || rc=1; done
# The generators with a fake device function, as the VMs call them; the JSON must parse.
if command -v python3 >/dev/null 2>&1; then
  (
    set -e
    # shellcheck source=tools/lib/site_config.sh
    source "$here/../tools/lib/site_config.sh"
    # shellcheck disable=SC2317 # called through site_*_config
    dev() { printf '0000:00:%02x.0' $((6 + $2)); }
    api=$(site_api_json 127.0.0.1 "$(printf '%064d' 1)" "$(printf '%064d' 2)")
    site_edge_config "validate" '"--file-prefix", "x"' 1 dev "" "$api" >"$tmp/edge.json"
    site_hub_config "validate" '"--file-prefix", "y"' 1 dev "$api" >"$tmp/hub.json"
    site_edge_policy "validate" >"$tmp/edge-policy.json"
    site_hub_policy "validate" >"$tmp/hub-policy.json"
    for j in "$tmp"/*.json; do python3 -m json.tool "$j" >/dev/null || { echo "bad JSON: $j"; exit 1; }; done
  ) || rc=1
fi
[ $rc -eq 0 ] && echo "vagrant/validate.sh: OK" || echo "vagrant/validate.sh: FAILED"
exit $rc
