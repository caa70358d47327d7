"""`tensorc plan`: the COSMA memory plan of a model, with the baselines beside it.

    tensorc plan model.onnx --scratchpad auto:MR --mode traffic --json plan.json
    tensorc plan model.onnx --scratchpad 512KiB --weights --time-limit 5
    tensorc plan model.mlir --mode min-peak

Prints M_R / M_H / M_P, the chosen scratchpad, and the non-compulsory traffic
of COSMA and of the four TFLite-style baselines; `--json` writes the whole
plan (order, per-step events, residency and offsets, traffic, bounds, solver
status and time, baselines). The format is documented in docs/cosma.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence


def _shape_arg(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=D1,D2,..., got '{text}'")
    try:
        return name, tuple(int(d) for d in dims.split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"dimensions must be integers: '{text}'") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tensorc plan", description="Plan schedule, scratchpad offsets and spills (COSMA).")
    p.add_argument("model", help="an .onnx model or .mlir tg IR")
    p.add_argument("--scratchpad", default="auto:MR",
                   help="bytes (e.g. 1048576, 512KiB, 2MB) or auto:MR | auto:MH | auto:MP (default auto:MR)")
    p.add_argument("--mode", default="traffic", choices=["traffic", "min-peak", "fixed-schedule"])
    p.add_argument("--time-limit", type=float, default=30.0, metavar="S", help="seconds for planning (default 30)")
    p.add_argument("--weights", action="store_true", help="count weights as tensors read into the scratchpad")
    p.add_argument("--elem-bytes", type=int, default=1, metavar="N",
                   help="bytes per element (default 1, 8-bit data; 0 = each tensor's dtype)")
    p.add_argument("--solver", default="auto", choices=["auto", "highs", "cbc"])
    p.add_argument("--input-shape", action="append", type=_shape_arg, metavar="NAME=D1,D2,...",
                   help="bind the shape of a dynamic model input (repeatable)")
    p.add_argument("--no-cleanup", action="store_true", help="plan the graph as imported (no canonicalize/fold/cse/dce)")
    p.add_argument("--json", metavar="FILE", help="write the plan as JSON")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    return p


def load_graph(path: str, input_shapes=None, weights: bool = False, elem_bytes: int = 1, cleanup: bool = True):
    """The planning graph of an .onnx or .mlir model (after the cleanup pipeline)."""
    import tensorc
    from tensorc.diagnostics import InputError
    from tensorc.planning.graph import Graph

    if path.endswith(".mlir"):
        from tensorc.ir_text import parse_module
        from tensorc.program import Program, WeightStore

        with open(path) as f:
            prog = Program(parse_module(f.read(), name=path), WeightStore())
        if input_shapes:
            raise InputError("--input-shape applies to ONNX models; tg IR has static shapes")
    else:
        prog = tensorc.import_onnx(path, input_shapes=dict(input_shapes or []) or None)
    if cleanup:
        prog = tensorc.lower(prog, "cleanup")
    return Graph.from_program(prog, elem_bytes=elem_bytes or None, weights=weights)


def format_report(result, name: str) -> str:
    g, b = result.graph, result.budgets
    lines = [
        f"model: {name}  ({g.n_ops} operators, {len(g.tensors)} tensors)",
        f"M_R = {b.m_r} B  (needed by {b.m_r_op})",
        f"M_P = {b.m_p} B{'' if b.m_p_exact else ' (best found, not proven minimal)'}   M_H = {b.m_h} B",
        f"scratchpad: {result.scratchpad} = {result.capacity} B   mode: {result.mode}",
        "",
        f"{'method':<26} {'traffic B':>12} {'arena B':>10}  {'status':<10} {'time s':>7}",
    ]
    rows = [result.best] + list(result.baselines)
    for c in rows:
        lines.append(f"{c.plan.method:<26} {c.report.non_compulsory:>12} {c.report.arena:>10}  "
                     f"{c.plan.status:<10} {c.plan.solve_s:>7.2f}")
    base = result.best_baseline()
    if base is not None and result.mode != "min-peak":
        if base.report.non_compulsory:
            red = 100.0 * (1 - result.best.report.non_compulsory / base.report.non_compulsory)
            lines.append(f"reduction against the best baseline ({base.plan.method}): {red:.1f}%")
        else:
            lines.append("the best baseline moves no byte either")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from tensorc.diagnostics import TensorcError

    try:
        from tensorc.planning.cosma import plan_graph

        graph = load_graph(args.model, args.input_shape, args.weights, args.elem_bytes, not args.no_cleanup)
        result = plan_graph(graph, scratchpad=args.scratchpad, mode=args.mode, time_limit=args.time_limit,
                            solver=args.solver)
    except (TensorcError, OSError) as e:
        if args.debug:
            raise
        msg = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.strerror else str(e).strip().splitlines()[0]
        print(f"error: {msg}", file=sys.stderr)
        return 1
    print(format_report(result, args.model))
    if args.json:
        doc = result.to_dict()
        doc["model"] = args.model
        doc["weights"] = args.weights
        doc["elem_bytes"] = args.elem_bytes
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
