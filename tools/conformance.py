"""ONNX backend conformance: the `onnx.backend.test` node suite and the `light` models.

Each case is imported with tensorc's ONNX importer, compiled for a target and
run on the suite's inputs; outputs are compared with the suite's own checker
(`onnx.backend.test.runner.Runner.assert_similar_outputs`, the rtol/atol of each
case). A case is *skipped* when the importer declines it with
UnsupportedOpError (we don't claim to support it), *failed* on any other
error or a wrong output, *passed* otherwise.

    tensorc conformance --target reference [--kind node|light] [-k REGEX] [--jobs N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass
class CaseResult:
    name: str
    status: str  # passed | failed | skipped
    detail: str = ""
    seconds: float = 0.0


def _load_cases(kind: str):
    """`light`: the 9 real architectures shipped in the onnx wheel (the loader calls them `real`)."""
    import onnx.backend.test.loader as loader

    os.environ.setdefault("ONNX_HOME", os.path.join(os.path.expanduser("~"), ".cache", "tensorc", "onnx_home"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            if kind == "light":
                return [c for c in loader.load_model_tests(kind="real") if (c.url or "").startswith("onnx/backend/test/data/light/")]
            return loader.load_model_tests(kind=kind)


def _light_data(case):
    """Inputs and expected outputs of a `light` model, as onnx's own runner makes them."""
    import onnx
    from onnx import numpy_helper
    from onnx.backend.test.runner import Runner

    path = Path(onnx.__file__).parent.parent / case.url
    model = onnx.load(str(path))
    inits = {i.name for i in model.graph.initializer}
    inputs = [
        Runner.generate_dummy_data(x, seed=0, name=case.model_name, random=False)
        for x in model.graph.input
        if x.name not in inits
    ]
    prefix = str(path)[: -len(".onnx")]
    outputs = [
        numpy_helper.to_array(onnx.load_tensor(f"{prefix}_output_{i}.pb")) for i in range(len(model.graph.output))
    ]
    return model, [(inputs, outputs)]


def run_case(case, target: str) -> CaseResult:
    import tensorc
    from onnx.backend.test.runner import Runner

    from tensorc.diagnostics import UnsupportedOpError

    t0 = time.perf_counter()
    try:
        if (case.url or "").startswith("onnx/backend/test/data/light/"):
            model, data_sets = _light_data(case)
        else:
            model, data_sets = case.model, case.data_sets
        frozen: dict[str, np.ndarray] = {}
        try:
            prog = tensorc.import_onnx(model)
        except UnsupportedOpError as e:
            # Axes, shapes, pads... fed as graph inputs are constants in practice:
            # freeze the integer inputs to this case's values and import again.
            if "must be a constant" not in str(e) or len(data_sets) != 1:
                return CaseResult(case.name, "skipped", str(e), time.perf_counter() - t0)
            frozen = _integer_inputs(model, data_sets[0][0])
            try:
                prog = tensorc.import_onnx(model, constants=frozen)
            except UnsupportedOpError as e2:
                return CaseResult(case.name, "skipped", str(e2), time.perf_counter() - t0)
        exe = tensorc.compile(prog, target=target)
        for inputs, ref_outputs in data_sets:
            names = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
            inputs = [_as_array(x) for n, x in zip(names, inputs) if n not in frozen]
            ref_outputs = [_as_array(x) for x in ref_outputs]
            with np.errstate(all="ignore"):
                out = exe(*inputs)
            Runner.assert_similar_outputs(ref_outputs, list(out.values()), rtol=case.rtol, atol=case.atol)
        note = f"inputs frozen: {', '.join(frozen)}" if frozen else ""
        return CaseResult(case.name, "passed", note, time.perf_counter() - t0)
    except Exception as e:  # a conformance run reports every failure and goes on
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return CaseResult(case.name, "failed", f"{type(e).__name__}: {msg}"[:300], time.perf_counter() - t0)


def _integer_inputs(model, inputs) -> dict[str, np.ndarray]:
    names = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    arrays = {n: _as_array(x) for n, x in zip(names, inputs)}
    return {n: a for n, a in arrays.items() if a.dtype.kind in "iu" and a.size <= 64}


def _as_array(x):
    from onnx import TensorProto, numpy_helper

    return numpy_helper.to_array(x) if isinstance(x, TensorProto) else np.asarray(x)


def _select(cases, pattern):
    if pattern:
        rx = re.compile(pattern)
        cases = [c for c in cases if rx.search(c.name)]
    return cases


def _worker_loop(conn, kind: str, pattern: str | None, target: str) -> None:
    """A worker process: loads the cases once, then runs the indices it is sent."""
    warnings.simplefilter("ignore")
    cases = _select(_load_cases(kind), pattern)
    conn.send("ready")
    while True:
        index = conn.recv()
        if index is None:
            return
        conn.send(asdict(run_case(cases[index], target)))


class _Worker:
    """One isolated worker; a case that crashes or hangs it costs only that case."""

    def __init__(self, ctx, kind, pattern, target):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_loop, args=(child, kind, pattern, target), daemon=True)
        self.proc.start()
        self.index = None
        self.started = 0.0
        if not self.conn.poll(120) or self.conn.recv() != "ready":
            raise RuntimeError("conformance worker failed to start")

    def submit(self, index):
        self.index, self.started = index, time.perf_counter()
        self.conn.send(index)

    def stop(self):
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()


def run_suite(target: str = "reference", kind: str = "node", pattern: str | None = None, jobs: int = 1,
              progress=None, timeout: float = 120.0):
    import multiprocessing as mp

    cases = _select(_load_cases(kind), pattern)
    if jobs <= 1:
        results = []
        for c in cases:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results.append(run_case(c, target))
            if progress:
                progress(len(results), len(cases), results[-1])
        return results
    # forkserver, not fork: a forked LLVM/BLAS with live threads can deadlock
    ctx = mp.get_context("forkserver")
    results: dict[int, CaseResult] = {}
    pending = list(range(len(cases)))[::-1]
    workers = [_Worker(ctx, kind, pattern, target) for _ in range(min(jobs, len(cases)) or 1)]
    try:
        for w in workers:
            if pending:
                w.submit(pending.pop())
        while len(results) < len(cases):
            for i, w in enumerate(workers):
                if w.index is None:
                    continue
                done = None
                if w.conn.poll(0.01):
                    try:
                        done = CaseResult(**w.conn.recv())
                    except EOFError:
                        done = None
                if done is None and (not w.proc.is_alive() or time.perf_counter() - w.started > timeout):
                    why = "timed out" if w.proc.is_alive() else f"crashed (exit code {w.proc.exitcode})"
                    done = CaseResult(cases[w.index].name, "failed", f"worker {why}", time.perf_counter() - w.started)
                    w.stop()
                    w = workers[i] = _Worker(ctx, kind, pattern, target)
                if done is not None:
                    results[len(results)] = done
                    if progress:
                        progress(len(results), len(cases), done)
                    w.index = None
                    if pending:
                        w.submit(pending.pop())
    finally:
        for w in workers:
            try:
                w.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            w.stop()
    return list(results.values())


def summarize(results: list[CaseResult]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0, "frozen": 0}
    for r in results:
        counts[r.status] += 1
        counts["frozen"] += r.status == "passed" and r.detail.startswith("inputs frozen")
    counts["total"] = len(results)
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="tensorc conformance", description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="reference")
    ap.add_argument("--kind", default="node", choices=["node", "light", "simple", "pytorch-converted", "pytorch-operator"])
    ap.add_argument("-k", "--filter", default=None, help="regex on case names")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", default=None, help="write per-case results here")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every failure")
    args = ap.parse_args(argv)

    def progress(done, total, r):
        if done % 100 == 0 or done == total:
            print(f"  {done}/{total}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    results = run_suite(args.target, args.kind, args.filter, args.jobs, progress)
    counts = summarize(results)
    if args.verbose:
        for r in results:
            if r.status != "passed":
                print(f"{r.status:7s} {r.name}: {r.detail}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1))
    print(
        f"onnx {args.kind} suite, target {args.target}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped of {counts['total']} ({time.perf_counter() - t0:.0f} s; "
        f"{counts['frozen']} passed with integer inputs frozen to constants)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
