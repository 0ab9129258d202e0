#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# The architecture's arrows, checked on every #include (../shared/design/ARCHITECTURE.md
# "Folders"): qos <- dataplane <- controlplane <- tools, and the parts that must not see DPDK.
#
# Two kinds of rule:
#   - HARD rules hold today and admit no exception: a new include against one fails the test.
#   - TARGET rules are where the code is going (issue 12: the control plane sees only
#     dataplane/model and dataplane/proto, traboulectl no DPDK). Today's violations are listed in
#     tests/arch/target_violations.txt: an include against a target rule that is not listed
#     fails (no new debt), and a listed one that is gone fails too (the list only shrinks; delete
#     the line).
#
# Usage: include_arrows.py ROOT [BUILD]     check the tree; with a built BUILD directory also
#                                           the compile and link lines: traboulectl and the
#                                           policy compiler without DPDK include paths,
#                                           traboulectl without the daemon library
#        include_arrows.py --self-test      prove each rule fires, on a scratch tree
import json
import os
import re
import subprocess
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
SOURCE_DIRS = ("qos", "dataplane", "controlplane", "tools", "bench")
EXTS = (".h", ".hpp", ".cc", ".cpp", ".c")


def is_dpdk(inc):
    return inc.startswith("rte_") or inc.startswith("generic/rte_")


def is_packet_stack(inc):
    """DPDK and the other libraries only the data plane's DPDK side links (nDPI, libbpf/libxdp,
    libmnl)."""
    return is_dpdk(inc) or inc.startswith(("ndpi", "bpf/", "xdp/", "libmnl/"))


PLAIN = ("dataplane/model/", "dataplane/proto/")
# The control-plane files that own the running data plane: the agent builds ports, site and
# workers and wires them; the DPDK telemetry bridge and the runtime view read the workers.
CP_WIRING = ("controlplane/agent/", "controlplane/telemetry/dpdk_telemetry.",
             "controlplane/telemetry/runtime_view.")
# What traboulectl may use of the control plane (traboule_policy and traboule_cp_config, whose
# headers include the plain journal and telemetry types); the rest is the daemon.
CTL_CP = ("controlplane/policy/", "controlplane/config/", "controlplane/journal/availability.h",
          "controlplane/journal/journal.h", "controlplane/journal/syslog.h",
          "controlplane/telemetry/flow_export.h", "controlplane/telemetry/ipfix.h")


# (name, applies to file?, forbidden include?, why)
HARD = [
    ("qos-is-the-bottom",
     lambda f: f.startswith("qos/"),
     lambda i, q: q and i.startswith(("dataplane/", "controlplane/", "tools/")),
     "qos depends on nothing of ours"),
    ("dataplane-below-controlplane",
     lambda f: f.startswith("dataplane/"),
     lambda i, q: q and i.startswith(("controlplane/", "tools/")),
     "the data plane never includes the control plane or the tools"),
    ("controlplane-below-tools",
     lambda f: f.startswith("controlplane/"),
     lambda i, q: q and i.startswith("tools/"),
     "the control plane never includes the tools"),
    ("snmp-subagent-apart",
     lambda f: f.startswith("controlplane/snmp/"),
     lambda i, q: (q and i.startswith(("dataplane/", "controlplane/")) and
                   not i.startswith("controlplane/snmp/")) or is_dpdk(i),
     "traboule-snmp is its own process: the API's JSON, no daemon code, no DPDK"),
    ("pure-telemetry-codecs",
     lambda f: f.startswith(("controlplane/telemetry/ipfix.", "controlplane/telemetry/history.",
                             "controlplane/telemetry/flow_export.", "controlplane/journal/")),
     lambda i, q: is_dpdk(i) or (q and i.startswith("dataplane/") and i != "dataplane/proto/ip_addr.h"),
     "IPFIX, history and the journal work on plain data: no DPDK, no data-plane internals"),
    ("model-and-proto-are-plain",
     lambda f: f.startswith(PLAIN),
     lambda i, q: is_packet_stack(i) or (q and i.startswith("dataplane/") and
                                         not i.startswith(PLAIN)),
     "dataplane/model and dataplane/proto are plain C++ (no DPDK, nDPI, libbpf) and include "
     "each other only"),
    ("controlplane-sees-model-and-proto",
     lambda f: f.startswith("controlplane/") and not f.startswith(("controlplane/snmp/",) + CP_WIRING),
     lambda i, q: q and i.startswith("dataplane/") and not i.startswith(PLAIN),
     "the control plane includes dataplane/model and dataplane/proto only (the agent and the "
     "runtime view, which own the running data plane, excepted)"),
    ("sessions-without-dpdk",
     lambda f: f.startswith("controlplane/sessions/"),
     lambda i, q: is_packet_stack(i) or (q and i.startswith("controlplane/") and
                                         not i.startswith("controlplane/sessions/")),
     "the identity and control session library (issue 15) is OpenSSL and plain C++: no DPDK, "
     "no other control-plane library, so it is tested without EAL"),
    ("traboulectl-without-dpdk",
     lambda f: f.startswith("tools/traboulectl/"),
     lambda i, q: is_packet_stack(i) or (q and (
         (i.startswith("dataplane/") and not i.startswith(PLAIN)) or
         (i.startswith("controlplane/") and not i.startswith(CTL_CP)))),
     "traboulectl needs neither DPDK nor the daemon library"),
]

# Target rules with known debt, listed in tests/arch/target_violations.txt. None left: every rule
# above is hard since the data plane's split (issue 12); a new target rule starts here.
TARGET = []


def sources(root):
    for top in SOURCE_DIRS:
        for d, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if name.endswith(EXTS):
                    path = os.path.join(d, name)
                    yield os.path.relpath(path, root).replace(os.sep, "/"), path


def violations(root, rules):
    found = []
    for rel, path in sources(root):
        text = open(path, encoding="utf-8", errors="replace").read()
        for m in INCLUDE.finditer(text):
            quoted, inc = m.group(1) == '"', m.group(2)
            for name, applies, forbidden, _ in rules:
                if applies(rel) and forbidden(inc, quoted):
                    found.append((name, rel, inc))
    return found


def check(root, allow_file):
    problems = []
    why = {r[0]: r[3] for r in HARD + TARGET}
    for name, rel, inc in violations(root, HARD):
        problems.append("%s includes %s: %s (%s)" % (rel, inc, why[name], name))
    allowed = set()
    if os.path.exists(allow_file):
        for line in open(allow_file):
            line = line.split("#", 1)[0].strip()
            if line:
                parts = line.split()
                if len(parts) == 3:
                    allowed.add(tuple(parts))
    seen = set()
    for v in violations(root, TARGET):
        seen.add(v)
        if v not in allowed:
            problems.append("%s includes %s: %s (%s; new debt: fix it, do not list it)" %
                            (v[1], v[2], why[v[0]], v[0]))
    for v in sorted(allowed - seen):
        problems.append("tests/arch/target_violations.txt lists %s %s %s, which is gone: "
                        "delete the line" % v)
    return problems, len(seen)


def check_build(build):
    problems = []
    with open(os.path.join(build, "compile_commands.json")) as f:
        commands = json.load(f)
    dpdk_path = re.compile(r"(^|\s)(-I|-isystem)\s*\S*(dpdk|ndpi)")
    seen = 0
    for c in commands:
        src = c["file"]
        if "/tools/traboulectl/" in src or "/controlplane/policy/" in src or \
                "/controlplane/config/" in src or "policy_schema_embed" in src:
            seen += 1
            line = c.get("command") or " ".join(c.get("arguments", []))
            if dpdk_path.search(line):
                problems.append("%s is compiled with a DPDK/nDPI include path" % src)
    if seen < 3:
        problems.append("compile_commands.json: only %d traboulectl/policy compile lines" % seen)
    out = subprocess.run(["ninja", "-C", build, "-t", "commands", "traboulectl"],
                         capture_output=True, text=True)
    link = out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() else ""
    if "traboulectl_lib" not in link:
        problems.append("no link line for traboulectl from ninja: %s" % out.stderr.strip())
    for lib in ("libtraboule_controlplane.a", "libtraboule_dataplane.a", "librte_", "ndpi"):
        if lib in link:
            problems.append("traboulectl links %s (it needs neither DPDK nor the daemon)" % lib)
    return problems


def self_test():
    cases = [
        ("qos/x.h", '#include "dataplane/graph/stage.h"', True),
        ("dataplane/core/y.cc", '#include "controlplane/api/api_server.h"', True),
        ("dataplane/core/y.cc", '#include "qos/token_bucket.h"', False),
        ("controlplane/api/z.cc", '#include "tools/traboulectl/args.h"', True),
        ("controlplane/snmp/m.cc", "#include <rte_ethdev.h>", True),
        ("controlplane/snmp/m.cc", '#include "controlplane/config/config.h"', True),
        ("controlplane/snmp/m.cc", '#include "controlplane/snmp/model.h"', False),
        ("controlplane/telemetry/ipfix.cc", "#include <rte_mbuf.h>", True),
        ("controlplane/telemetry/ipfix.cc", '#include "controlplane/telemetry/ipfix.h"', False),
        ("controlplane/journal/journal.cc", '#include "dataplane/runtime/site.h"', True),
        ("controlplane/api/new.cc", '#include "dataplane/graph/pipeline.h"', True),
        ("controlplane/api/new.cc", '#include "dataplane/model/site_settings.h"', False),
        ("controlplane/agent/main.cc", '#include "dataplane/runtime/dataplane.h"', False),
        ("controlplane/telemetry/runtime_view.h", '#include "dataplane/graph/pipeline.h"', False),
        ("controlplane/telemetry/history.cc", '#include "dataplane/graph/pipeline.h"', True),
        ("controlplane/sessions/s.cc", "#include <rte_mbuf.h>", True),
        ("controlplane/sessions/s.cc", '#include "controlplane/api/api_server.h"', True),
        ("controlplane/sessions/s.cc", '#include "dataplane/proto/overlay_header.h"', False),
        ("controlplane/sessions/s.cc", "#include <openssl/ssl.h>", False),
        ("tools/traboulectl/new.cc", "#include <rte_cycles.h>", True),
        ("tools/traboulectl/new.cc", "#include <ndpi_api.h>", True),
        ("tools/traboulectl/new.cc", '#include "controlplane/policy/policy.h"', False),
        ("tools/traboulectl/new.cc", '#include "controlplane/config/config.h"', False),
        ("tools/traboulectl/new.cc", '#include "controlplane/agent/bootstrap.h"', True),
        ("tools/traboulectl/new.cc", '#include "controlplane/api/api_server.h"', True),
        ("tools/traboulectl/new.cc", '#include "dataplane/runtime/site.h"', True),
        ("tools/traboulectl/new.cc", '#include "dataplane/model/policy_snapshot.h"', False),
        ("dataplane/model/m.h", "#include <rte_mbuf.h>", True),
        ("dataplane/model/m.h", "#include <generic/rte_cycles.h>", True),
        ("dataplane/model/m.h", '#include "dataplane/proto/ip_addr.h"', False),
        ("dataplane/model/m.h", '#include "dataplane/graph/mbuf_meta.h"', True),
        ("dataplane/proto/p.cc", "#include <ndpi_api.h>", True),
        ("dataplane/proto/p.cc", "#include <openssl/evp.h>", False),
        ("dataplane/proto/p.cc", '#include "dataplane/tables/flow_table.h"', True),
        ("dataplane/proto/p.cc", '  #  include "dataplane/runtime/site.h"', True),
        ("dataplane/stages/s.cc", "#include <rte_mbuf.h>", False),
        ("dataplane/stages/s.cc", '#include "dataplane/graph/stage.h"', False),
    ]
    bad = 0
    for rel, line, should_fail in cases:
        with tempfile.TemporaryDirectory() as root:
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path))
            with open(path, "w") as f:
                f.write("// test\n" + line + "\n")
            problems, _ = check(root, os.path.join(root, "none.txt"))
            if bool(problems) != should_fail:
                print("SELF-TEST FAIL: %s with %s: %r" % (rel, line, problems))
                bad += 1
    # A listed violation that is gone is reported; a listed one still there is accepted (with a
    # target rule of the test's own, since none is left in TARGET).
    global TARGET
    saved = TARGET
    TARGET = [("controlplane-sees-model-and-proto", lambda f: f.startswith("controlplane/api/"),
               lambda i, q: q and i.startswith("dataplane/graph/"), "test rule")]
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "controlplane/api"))
        with open(os.path.join(root, "controlplane/api/a.cc"), "w") as f:
            f.write('#include "dataplane/graph/pipeline.h"\n')
        allow = os.path.join(root, "allow.txt")
        with open(allow, "w") as f:
            f.write("controlplane-sees-model-and-proto controlplane/api/a.cc dataplane/graph/pipeline.h\n"
                    "controlplane-sees-model-and-proto controlplane/api/gone.cc dataplane/core/x.h\n")
        problems, _ = check(root, allow)
        if len(problems) != 2 or "gone" not in problems[1]:
            print("SELF-TEST FAIL: allowlist handling: %r" % problems)
            bad += 1
    TARGET = saved
    print("self-test: %d of %d cases right" % (len(cases) + 1 - bad, len(cases) + 1))
    return bad == 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(0 if self_test() else 1)
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: include_arrows.py ROOT [BUILD] | --self-test")
    root = sys.argv[1]
    problems, debt = check(root, os.path.join(root, "tests/arch/target_violations.txt"))
    if len(sys.argv) == 3:
        problems += check_build(sys.argv[2])
    for p in problems:
        print("FAIL: " + p)
    if problems:
        sys.exit(1)
    print("ok: every include follows the hard arrows; %d known include(s) against the target "
          "layout (tests/arch/target_violations.txt), none new%s" %
          (debt, "; traboulectl and the policy compiler build without DPDK, traboulectl "
           "without the daemon library" if len(sys.argv) == 3 else ""))


if __name__ == "__main__":
    main()
