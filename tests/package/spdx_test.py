#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every tracked C/C++ source and header starts with the SPDX line (Apache-2.0), so the
licence of each file stays machine-readable. Usage: spdx_test.py SOURCE_DIR"""
import os
import subprocess
import sys

LINE = "// SPDX-License-Identifier: Apache-2.0"
EXTS = (".c", ".cc", ".cpp", ".h", ".hh", ".hpp", ".cc.in", ".h.in")


def main() -> int:
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    try:  # the tracked files; a source tarball without .git: every file but build trees
        files = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True,
                               capture_output=True, text=True).stdout.split("\0")
    except (OSError, subprocess.CalledProcessError):
        files = [os.path.relpath(os.path.join(d, f), root)
                 for d, dirs, names in os.walk(root) for f in names
                 if not os.path.relpath(d, root).startswith(("build", "."))]
    bad = []
    for f in files:
        if not f.endswith(EXTS) or f.startswith("vagrant/"):
            continue
        try:
            with open(f"{root}/{f}", encoding="utf-8", errors="replace") as fh:
                first = fh.readline().rstrip("\n")
        except FileNotFoundError:  # deleted in the working tree, not yet committed
            continue
        if first != LINE:
            bad.append(f)
    for f in bad:
        print(f"{f}: first line is not '{LINE}'")
    print(f"{len(bad)} file(s) without the SPDX line")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
