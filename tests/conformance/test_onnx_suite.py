"""The ONNX backend node suite through importer + reference interpreter.

`reference_passing.txt` lists the cases that pass; any of them failing is a
regression. Regenerate it after adding support:
    tensorc conformance --target reference --json /tmp/r.json && \
    python -c "import json;print('\\n'.join(sorted(r['name'] for r in json.load(open('/tmp/r.json')) if r['status']=='passed')))" \
    > tests/conformance/reference_passing.txt
"""

from __future__ import annotations

from pathlib import Path

from tensorc.tools import conformance

EXPECTED = Path(__file__).with_name("reference_passing.txt")


def test_node_suite_reference_no_regressions():
    expected = set(EXPECTED.read_text().split())
    results = {r.name: r for r in conformance.run_suite("reference", "node")}
    regressed = sorted(n for n in expected if results[n].status != "passed")
    assert not regressed, "\n".join(f"{n}: {results[n].status} {results[n].detail}" for n in regressed[:20])
    counts = conformance.summarize(list(results.values()))
    assert counts["passed"] >= 900  # the foundation's acceptance bar
