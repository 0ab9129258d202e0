#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Keeps the docs honest where a machine can tell (issue 11).

1. docs/dataplane.md names every stage the pipeline factory builds, in its drawing and in its
   stage table, and lists no stage the factory does not build. The stages are read from
   dataplane/runtime/pipeline_factory.cc (every `make_unique<XStage>` and its name from
   `XStage::name()` in dataplane/stages/*.h; a SinkStage is named by its argument).
2. Every property name of policies/schema/policy.v1.json (recursively) is documented in
   docs/policy.md as `name` in backticks.
3. Every field GET /qos gives (controlplane/api/openapi.yaml, QosClassState and
   QosClassUplink) is named in docs/api.md (skipped without PyYAML).

Usage: docs_honest_test.py [SOURCE_DIR]   (default: the repository this file is in)
Exit 0 when every check passes, 1 with one line per problem otherwise. Standard library only.
"""

import json
import pathlib
import re
import sys


def fail_lines(problems):
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


def stage_names_from_headers(root):
    """XStage → the name its name() returns, from dataplane/stages/*.h."""
    names = {}
    for h in sorted((root / "dataplane/stages").glob("*.h")):
        text = h.read_text()
        # Split at each stage class so a header with two stages (nat.h) maps each to its own.
        parts = re.split(r"\bclass\s+(\w+)\s+(?:final\s+)?:\s*public\s+Stage\b", text)
        for cls, body in zip(parts[1::2], parts[2::2]):
            m = re.search(r"name\(\)\s*const\s*noexcept\s*override\s*\{\s*return\s+([^;]+);", body)
            if m:
                names[cls] = m.group(1).strip()
    return names


def factory_stages(root):
    """The stage names pipeline_factory.cc builds, in construction order."""
    src = (root / "dataplane/runtime/pipeline_factory.cc").read_text()
    headers = stage_names_from_headers(root)
    out, problems = [], []
    for m in re.finditer(r"make_unique<(\w+Stage)>\s*\(([^)]*)\)", src):
        cls, args = m.group(1), m.group(2)
        ret = headers.get(cls)
        if ret is None:
            problems.append(f"pipeline_factory.cc builds {cls}: no name() found in dataplane/stages/*.h")
            continue
        lit = re.fullmatch(r'"([a-z_0-9]+)"', ret)
        if lit:
            name = lit.group(1)
        else:  # named by its constructor (SinkStage("consumed"))
            arg = re.fullmatch(r'\s*"([a-z_0-9]+)"\s*', args)
            if not arg:
                problems.append(f"{cls}: name() returns {ret} and the factory gives no literal name")
                continue
            name = arg.group(1)
        if name not in out:
            out.append(name)
    if len(out) < 8:
        problems.append(f"pipeline_factory.cc: only {len(out)} stages found ({out}): has the "
                        "factory changed shape? update tests/docs/docs_honest_test.py")
    return out, problems


def check_dataplane_doc(root):
    stages, problems = factory_stages(root)
    doc = (root / "docs/dataplane.md").read_text()
    blocks = re.findall(r"```\n(.*?)```", doc, re.S)
    drawing = next((b for b in blocks if "parse" in b and "►" in b), None)
    if drawing is None:
        return problems + ["docs/dataplane.md: no pipeline drawing (a code block with parse ─► …)"]
    drawn = set(re.findall(r"[a-z_]+", drawing))
    table = set()
    for line in doc.splitlines():
        m = re.match(r"\|\s*([a-z_]+)\s*\|\s*`stages/", line)
        if m:
            table.add(m.group(1))
    for s in stages:
        if s == "consumed":  # the sink of what the box consumes: named in the text
            if "`consumed`" not in doc:
                problems.append("docs/dataplane.md: the `consumed` sink is not mentioned")
            continue
        if s not in drawn:
            problems.append(f"docs/dataplane.md: stage {s} (pipeline_factory.cc) is not in the drawing")
        if s not in table:
            problems.append(f"docs/dataplane.md: stage {s} (pipeline_factory.cc) has no row in the stage table")
    for s in sorted(table - set(stages)):
        problems.append(f"docs/dataplane.md: the stage table lists {s}, which pipeline_factory.cc does not build")
    return problems


def schema_properties(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "properties" and isinstance(v, dict):
                out.update(v.keys())
            schema_properties(v, out)
    elif isinstance(node, list):
        for v in node:
            schema_properties(v, out)
    return out


def check_policy_doc(root):
    schema = json.loads((root / "policies/schema/policy.v1.json").read_text())
    names = schema_properties(schema, set())
    if len(names) < 20:
        return [f"policy.v1.json: only {len(names)} property names found: schema changed shape?"]
    ticked = set(re.findall(r"`([^`\n]+)`", (root / "docs/policy.md").read_text()))
    return [f"docs/policy.md: policy field `{n}` (policies/schema/policy.v1.json) is not documented"
            for n in sorted(names) if n not in ticked]


def check_qos_api_doc(root):
    try:
        import yaml  # python3-yaml: installed by tools/setup, optional here
    except ImportError:
        print("note: no PyYAML, GET /qos fields not checked")
        return []
    doc = yaml.safe_load((root / "controlplane/api/openapi.yaml").read_text())
    schemas = doc["components"]["schemas"]
    api = (root / "docs/api.md").read_text()
    problems = []
    for schema in ("QosClassState", "QosClassUplink"):
        if schema not in schemas:
            problems.append(f"openapi.yaml: no {schema} schema (GET /qos)")
            continue
        for field in schemas[schema].get("required", []):
            if f"`{field}`" not in api and f"`{field}`," not in api:
                problems.append(f"docs/api.md: GET /qos field `{field}` ({schema}) is not named")
    return problems


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2])
    problems = check_dataplane_doc(root) + check_policy_doc(root) + check_qos_api_doc(root)
    if not problems:
        print("docs honest: dataplane stages, policy fields, GET /qos fields")
    return fail_lines(problems)


if __name__ == "__main__":
    sys.exit(main())
