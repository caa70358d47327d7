"""`tensorc bench cosma`: COSMA against the TFLite-style baselines on real graphs.

    tensorc bench cosma [--json FILE] [--quick] [--weights both|no|yes] [--time-limit S] [--models a,b]

For each model, at scratchpad sizes M_R, M_H and M_P (8-bit sizes), the
non-compulsory traffic (spill + retrieve bytes beyond reading inputs and
writing outputs once) of COSMA and of the four baselines
(TFLite greedy-by-size arena x {default, min-peak order} x {Belady, greedy
replacement}), the reduction against the best baseline, COSMA's solve time
and status. Every plan passes the independent checker before it is counted.

Models: the onnx wheel's `light` ResNet-50, DenseNet-121, Inception v1/v2 and
SqueezeNet, and locally built MobileNetV2, ViT-tiny (tools/models) and MiniLM
(sequence 128). `--quick` runs two small light models with a 5 s limit.

A second table compares spill-free activation arenas with the tensors' real
dtype sizes (what llvm-cpu allocates): COSMA's min-peak mode against TFLite's
greedy by size under both orders.

JSON: a list of records {model, weights, budget, capacity, method,
traffic_bytes, solve_s, status, reduction_pct (cosma only)}; the arena
comparison adds records with budget "arena" and arena_bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

MODELS = ["resnet50", "mobilenet_v2", "densenet121", "inception_v1", "inception_v2", "squeezenet", "vit_tiny", "minilm"]
EXTRA = ["shufflenet", "vgg19", "bvlc_alexnet", "zfnet512", "resnet18"]
QUICK = ["squeezenet", "densenet121"]
BUDGETS = ("MR", "MH", "MP")


def _light(name: str) -> str:
    import onnx

    path = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"light_{name}.onnx"
    if not path.exists():
        raise FileNotFoundError(f"{path} (the onnx wheel's light models)")
    return str(path)


def _cache_dir() -> Path:
    return Path(os.environ.get("TENSORC_CACHE") or Path.home() / ".cache" / "tensorc")


def _torch_model(stem: str, module_name: str, export_fn: str) -> str:
    """Export a tools.models torch model once; the file name carries torch version and source hash."""
    import importlib

    import torch

    mod = importlib.import_module(f"tensorc.tools.models.{module_name}")
    digest = hashlib.sha256(Path(mod.__file__).read_bytes()).hexdigest()[:8]
    path = _cache_dir() / f"{stem}_torch{torch.__version__.replace('+', '-')}_opset17_{digest}.onnx"
    if not path.exists():
        tmp = path.with_suffix(f".tmp{os.getpid()}.onnx")
        getattr(mod, export_fn)(tmp)
        os.replace(tmp, path)
    return str(path)


def model_source(name: str) -> tuple[str, dict | None]:
    """(onnx path, input shapes) of a benchmark model."""
    if name == "mobilenet_v2":
        return _torch_model("mobilenet_v2", "mobilenet", "export_mobilenet_v2_onnx"), None
    if name == "vit_tiny":
        return _torch_model("vit_tiny", "vit", "export_vit_tiny_onnx"), None
    if name == "resnet18":
        return _torch_model("resnet18", "resnet", "export_resnet18_onnx"), None
    if name == "minilm":
        from tensorc.tools.models.minilm import minilm_onnx_cached

        return str(minilm_onnx_cached()), {"input_ids": (1, 128), "attention_mask": (1, 128)}
    return _light(name), None


def load_graph(name: str, weights: bool):
    import tensorc
    from tensorc.planning.graph import Graph

    path, shapes = model_source(name)
    prog = tensorc.lower(tensorc.import_onnx(path, input_shapes=shapes), "cleanup")
    return Graph.from_program(prog, elem_bytes=1, weights=weights)


def bench_model(name: str, weights: bool, time_limit: float, solver: str = "auto") -> list[dict]:
    from tensorc.planning.cosma import compute_budgets, plan_graph

    graph = load_graph(name, weights)
    budgets = compute_budgets(graph, solver=solver)
    records = []
    for budget in BUDGETS:
        t0 = time.perf_counter()
        res = plan_graph(graph, scratchpad=f"auto:{budget}", mode="traffic", time_limit=time_limit,
                         solver=solver, budgets=budgets)
        wall = time.perf_counter() - t0
        base = res.best_baseline()
        best_base = base.report.non_compulsory
        cosma = res.best.report.non_compulsory
        common = {"model": name, "weights": weights, "budget": budget, "capacity": res.capacity,
                  "operators": graph.n_ops, "M_P_exact": budgets.m_p_exact}
        records.append({**common, "method": "cosma", "traffic_bytes": cosma, "solve_s": round(wall, 3),
                        "status": res.plan.status, "best_baseline": base.plan.method,
                        "best_baseline_bytes": best_base,
                        "reduction_pct": None if best_base == 0 else round(100.0 * (1 - cosma / best_base), 1)})
        for c in res.baselines:
            records.append({**common, "method": c.plan.method, "traffic_bytes": c.report.non_compulsory,
                            "solve_s": round(c.plan.solve_s, 4), "status": c.plan.status})
    return records


def bench_arena(name: str, time_limit: float, solver: str = "auto") -> list[dict]:
    """Spill-free activation arena with real dtype sizes (what llvm-cpu allocates): COSMA min-peak vs greedy."""
    import tensorc
    from tensorc.planning.cosma import plan_graph
    from tensorc.planning.graph import Graph

    path, shapes = model_source(name)
    prog = tensorc.lower(tensorc.import_onnx(path, input_shapes=shapes), "cleanup")
    graph = Graph.from_program(prog, elem_bytes=None, weights=False)
    t0 = time.perf_counter()
    res = plan_graph(graph, mode="min-peak", time_limit=time_limit, solver=solver)
    wall = time.perf_counter() - t0
    common = {"model": name, "weights": False, "budget": "arena", "operators": graph.n_ops, "traffic_bytes": 0,
              "peak_bytes": res.budgets.m_p}
    out = [{**common, "method": "cosma-min-peak", "arena_bytes": res.best.report.arena, "solve_s": round(wall, 3),
            "status": res.plan.status}]
    out += [{**common, "method": c.plan.method, "arena_bytes": c.report.arena, "solve_s": round(c.plan.solve_s, 4),
             "status": c.plan.status} for c in res.baselines]
    return out


def summarize_arena(records: list[dict]) -> str:
    rows = [r for r in records if r["budget"] == "arena"]
    if not rows:
        return ""
    out = ["\n### spill-free activation arena, dtype sizes (min-peak mode vs TFLite greedy by size)\n",
           "| model | peak live B | COSMA min-peak arena B | greedy arena, default order B | greedy arena, min-peak order B | status |",
           "|---|---|---|---|---|---|"]
    for m in dict.fromkeys(r["model"] for r in rows):
        by = {r["method"]: r for r in rows if r["model"] == m}
        c = by["cosma-min-peak"]
        out.append(f"| {m} | {c['peak_bytes']} | {c['arena_bytes']} | {by['tflite-default-arena']['arena_bytes']} | "
                   f"{by['tflite-min-peak-arena']['arena_bytes']} | {c['status']} |")
    worse = [m for m in dict.fromkeys(r["model"] for r in rows)
             if next(r for r in rows if r["model"] == m and r["method"] == "cosma-min-peak")["arena_bytes"] >
             next(r for r in rows if r["model"] == m and r["method"] == "tflite-default-arena")["arena_bytes"]]
    out.append(f"\nMin-peak arena larger than the greedy arena on: {', '.join(worse) or 'no model'}.")
    return "\n".join(out)


def summarize(records: list[dict]) -> str:
    """The markdown table and the acceptance figures."""
    out = []
    cos = [r for r in records if r["method"] == "cosma" and r["budget"] != "arena"]
    for weights in sorted({r["weights"] for r in cos}):
        out.append(f"\n### {'activations and weights' if weights else 'activations only'} (8-bit sizes)\n")
        out.append("| model | ops | budget | scratchpad B | COSMA B | best baseline B (which) | "
                   "default-belady | default-greedy | min-peak-belady | min-peak-greedy | reduction | time s | status |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in [r for r in cos if r["weights"] == weights]:
            base = {b["method"]: b["traffic_bytes"] for b in records
                    if b["model"] == r["model"] and b["weights"] == weights and b["budget"] == r["budget"]
                    and b["method"] != "cosma"}
            red = "n/a (0/0)" if r["reduction_pct"] is None else f"{r['reduction_pct']:.1f}%"
            out.append(
                f"| {r['model']} | {r['operators']} | {r['budget']} | {r['capacity']} | {r['traffic_bytes']} | "
                f"{r['best_baseline_bytes']} ({r['best_baseline'].removeprefix('tflite-')}) | "
                + " | ".join(str(base.get(f"tflite-{k}", "-")) for k in
                             ("default-belady", "default-greedy", "min-peak-belady", "min-peak-greedy"))
                + f" | {red} | {r['solve_s']:.2f} | {r['status']} |"
            )
        at_mr = [r for r in cos if r["weights"] == weights and r["budget"] == "MR"]
        reds = [r["reduction_pct"] for r in at_mr if r["reduction_pct"] is not None]
        zero_mp = [r for r in cos if r["weights"] == weights and r["budget"] == "MP"]
        out.append("")
        if reds:
            out.append(f"Average reduction at M_R over the {len(reds)} models where the best baseline moves "
                       f"bytes: {sum(reds) / len(reds):.1f}% "
                       f"({len(at_mr) - len(reds)} models move nothing at M_R under any method).")
        out.append(f"Zero traffic at M_P: {sum(1 for r in zero_mp if r['traffic_bytes'] == 0)}/{len(zero_mp)} models.")
        out.append(f"Slowest COSMA solve at M_R: {max((r['solve_s'] for r in at_mr), default=0):.2f} s.")
    return "\n".join(out) + "\n" + summarize_arena(records)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tensorc bench cosma", description=__doc__.splitlines()[0])
    p.add_argument("--json", metavar="FILE", help="write the records as JSON")
    p.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}, activations only, 5 s limit")
    p.add_argument("--weights", choices=["no", "yes", "both"], default=None,
                   help="count weights too (default: both; --quick: no)")
    p.add_argument("--time-limit", type=float, default=None, metavar="S", help="per plan (default 20, --quick 5)")
    p.add_argument("--models", metavar="A,B", help=f"models to run (default: {','.join(MODELS)}; also {','.join(EXTRA)})")
    p.add_argument("--solver", default="auto", choices=["auto", "highs", "cbc"])
    p.add_argument("--no-arena", action="store_true", help="skip the spill-free arena comparison (dtype sizes)")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    models = args.models.split(",") if args.models else (QUICK if args.quick else MODELS)
    unknown = [m for m in models if m not in MODELS + EXTRA]
    if unknown:
        print(f"error: unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS + EXTRA)}", file=sys.stderr)
        return 2
    weights = args.weights or ("no" if args.quick else "both")
    variants = {"no": [False], "yes": [True], "both": [False, True]}[weights]
    limit = args.time_limit if args.time_limit is not None else (5.0 if args.quick else 20.0)

    records: list[dict] = []
    for w in variants:
        for m in models:
            t0 = time.perf_counter()
            recs = bench_model(m, w, limit, args.solver)
            records += recs
            mr = next(r for r in recs if r["method"] == "cosma" and r["budget"] == "MR")
            print(f"{m:<14} weights={'yes' if w else 'no ':<3}  M_R: cosma {mr['traffic_bytes']} B, best baseline "
                  f"{mr['best_baseline_bytes']} B, {mr['solve_s']:.2f} s  ({time.perf_counter() - t0:.1f} s total)",
                  flush=True)
    if not args.no_arena:
        for m in models:
            records += bench_arena(m, limit, args.solver)
    print(summarize(records))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
