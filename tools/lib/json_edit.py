#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A variant of a JSON config or policy: the lab's generated ones (tools/lib/site_config.sh),
an example's, or one read back from a daemon, changed by Python statements on `p`.

    json_edit.py IN [--out OUT] STATEMENT...

Each STATEMENT runs with `p` bound to the document (and `json` imported), in order; the result
is written to OUT (default: IN itself), indented. The tests use it through tests/e2e/lib.sh
(e2e_policy_variant, e2e_push_policy) rather than editing JSON in heredocs, e.g.

    json_edit.py policy.json 'p["rules"][0]["action"]["uplinks"] = ["vdsl", "fiber"]'
"""
import argparse
import json
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="the JSON document to start from")
    ap.add_argument("--out", help="where to write the result (default: SRC)")
    ap.add_argument("statements", nargs="*", help="Python statements changing `p`")
    args = ap.parse_intermixed_args()
    with open(args.src) as f:
        doc = json.load(f)
    scope = {"p": doc, "json": json}
    for i, stmt in enumerate(args.statements, 1):
        try:
            exec(stmt, scope)  # noqa: S102 - the tests' own statements
        except Exception as e:  # pylint: disable=broad-except
            print(f"json_edit.py: statement {i} ({stmt[:80]!r}): {type(e).__name__}: {e}",
                  file=sys.stderr)
            return 1
    with open(args.out or args.src, "w") as f:
        json.dump(scope["p"], f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
