#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Functions a reader can hold in mind (issue 12 item 4, ../shared/design/ARCHITECTURE.md "Naming
# and style"): no function in dataplane/ or controlplane/ longer than 80 lines unless the
# comment right above it says why ("Long because ..."). Functions that were long before the rule
# are listed in tests/arch/long_functions.txt: an unlisted long function fails (no new ones), and
# a listed one that is gone or now short fails too (the list only shrinks; delete the line).
#
# A definition is a line at indentation 0 or 2 (namespace scope, or inside a class) ending in
# '{' after a parameter list; its body ends at the '}' with the same indentation. That is the
# clang-format layout of this tree; the self-test holds the parser to it.
#
# Usage: function_length.py ROOT | --self-test
import os
import re
import sys
import tempfile

LIMIT = 80
DIRS = ("dataplane", "controlplane")
NAME = re.compile(r"([A-Za-z_~][\w:~]*)\s*\(")


START = re.compile(r"^( {0,2})(?!namespace\b|struct\b|class\b|enum\b|union\b|extern\b|"
                   r"template\b|if\b|for\b|while\b|switch\b|do\b|else\b|return\b|"
                   r"static_assert\b|case\b|using\b|typedef\b)[A-Za-z_~\[][^;{}]*\(")


def functions(text):
    """(name, first line, body lines, has_reason) of each definition."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = START.match(lines[i])
        if m and "=" not in lines[i].split("(")[0]:
            # The signature may wrap (clang-format at 100 columns): up to 6 more lines.
            k = i
            while k < len(lines) - 1 and k < i + 6 and not lines[k].rstrip().endswith(("{", ";", "}")):
                k += 1
            sig = " ".join(l.strip() for l in lines[i:k + 1])
            if sig.endswith("{") and ")" in sig and not sig.endswith("= {"):
                ind = m.group(1)
                j = k + 1
                while j < len(lines) and lines[j] != ind + "}" and not lines[j].startswith(ind + "};"):
                    j += 1
                name = NAME.search(lines[i])
                c = i - 1
                comment = []
                while c >= 0 and lines[c].strip().startswith("//"):
                    comment.append(lines[c])
                    c -= 1
                reason = any("long because" in x.lower() for x in comment)
                yield (name.group(1) if name else "?", i + 1, j - k - 1, reason)
                i = j
        i += 1


def long_functions(root):
    found = []
    for top in DIRS:
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith((".cc", ".h")):
                    path = os.path.join(d, f)
                    rel = os.path.relpath(path, root).replace(os.sep, "/")
                    text = open(path, encoding="utf-8", errors="replace").read()
                    for name, line, n, reason in functions(text):
                        if n > LIMIT and not reason:
                            found.append((rel, name, line, n))
    return found


def check(root, listed_file):
    listed = set()
    if os.path.exists(listed_file):
        for line in open(listed_file):
            line = line.split("#", 1)[0].strip()
            if line:
                parts = line.split()
                if len(parts) == 2:
                    listed.add(tuple(parts))
    problems = []
    seen = set()
    for rel, name, line, n in long_functions(root):
        seen.add((rel, name))
        if (rel, name) not in listed:
            problems.append("%s:%d: %s is %d lines (at most %d, or say above it why: "
                            "'Long because ...')" % (rel, line, name, n, LIMIT))
    for rel, name in sorted(listed - seen):
        problems.append("tests/arch/long_functions.txt lists %s %s, which is no longer long: "
                        "delete the line" % (rel, name))
    return problems, len(seen)


def self_test():
    body = lambda n: "\n".join("  x();" for _ in range(n))
    cases = [
        ("short", "void f() {\n%s\n}\n" % body(10), 0),
        ("long", "void f() {\n%s\n}\n" % body(81), 1),
        ("exactly the limit", "void f() {\n%s\n}\n" % body(80), 0),
        ("long with a reason", "// Long because the table is one switch.\nint g(int a) {\n%s\n}\n"
         % body(120), 0),
        ("long member in a class", "class C {\n  void m() const noexcept {\n%s\n  }\n};\n"
         % body(90), 1),
        ("long out-of-line member", "bool C::m(int a,\n          int b) noexcept {\n%s\n}\n"
         % body(85), 1),
        ("a long struct is not a function", "struct S {\n%s\n};\n" % body(100), 0),
        ("a long namespace is not a function", "namespace x {\n%s\n}\n" % body(100), 0),
    ]
    bad = 0
    for what, text, want in cases:
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "dataplane"))
            with open(os.path.join(root, "dataplane", "a.cc"), "w") as f:
                f.write(text)
            got = len(long_functions(root))
            if got != want:
                print("SELF-TEST FAIL: %s: %d long, expected %d" % (what, got, want))
                bad += 1
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "dataplane"))
        with open(os.path.join(root, "dataplane", "a.cc"), "w") as f:
            f.write("void f() {\n%s\n}\n" % body(90))
        listed = os.path.join(root, "l.txt")
        with open(listed, "w") as f:
            f.write("dataplane/a.cc f\ndataplane/gone.cc g\n")
        problems, _ = check(root, listed)
        if len(problems) != 1 or "no longer long" not in problems[0]:
            print("SELF-TEST FAIL: list handling: %r" % problems)
            bad += 1
    print("self-test: %d of %d cases right" % (len(cases) + 1 - bad, len(cases) + 1))
    return bad == 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(0 if self_test() else 1)
    if len(sys.argv) != 2:
        sys.exit("usage: function_length.py ROOT | --self-test")
    root = sys.argv[1]
    problems, known = check(root, os.path.join(root, "tests/arch/long_functions.txt"))
    for p in problems:
        print("FAIL: " + p)
    if problems:
        sys.exit(1)
    print("ok: no new function over %d lines; %d known long ones listed in "
          "tests/arch/long_functions.txt" % (LIMIT, known))


if __name__ == "__main__":
    main()
