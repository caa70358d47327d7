"""`tensorc bench cosma`: COSMA against the TFLite-style baselines on real graphs.

    tensorc bench cosma [--json FILE] [--quick] [--weights both|no|yes] [--time-limit S] [--models a,b]
    tensorc bench cosma --arena [--models a,b] [--json FILE]     # only the arena tables

For each model, at scratchpad sizes M_R, M_H and M_P (8-bit sizes), the
non-compulsory traffic (spill + retrieve bytes beyond reading inputs and
writing outputs once) of COSMA and of the four baselines
(TFLite greedy-by-size arena x {default, min-peak order} x {Belady, greedy
replacement}), the reduction against the best baseline, COSMA's solve time
and status. Every plan passes the independent checker before it is counted.
The lower bound of planning/bounds.py (no plan in this memory model, in any
order, moves fewer bytes) gives the largest reduction any planner could show.

Models: the onnx wheel's `light` ResNet-50, DenseNet-121, Inception v1/v2 and
SqueezeNet, and locally built MobileNetV2, ViT-tiny (tools/models) and MiniLM
(sequence 128). `--quick` runs two small light models with a 5 s limit.

Two arena tables follow (`--no-arena` skips them, `--arena` runs only them):
the spill-free activation arena of the tg graph with the tensors' real dtype
sizes, COSMA's min-peak mode against TFLite's greedy by size under both
orders; and the activation arena of the compiled llvm-cpu program (f32, the
kernels' own buffers and scratch included), `plan-memory{planner=greedy}`
against the default `plan-memory{planner=min-peak}`, with compile times and a
bit-for-bit comparison of the two programs' outputs on one random input.

JSON: a list of records {model, weights, budget, capacity, method,
traffic_bytes, solve_s, status; cosma only: reduction_pct, lower_bound_bytes,
max_reduction_pct}; the arena
comparisons add records with budget "arena" (tg graph) and "llvm-arena"
(compiled; method greedy|min-peak, arena_bytes, plan_s, compile_s, winner).
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
        lower = res.lower_bound.bytes
        records.append({**common, "method": "cosma", "traffic_bytes": cosma, "solve_s": round(wall, 3),
                        "status": res.plan.status, "best_baseline": base.plan.method,
                        "best_baseline_bytes": best_base, "lower_bound_bytes": lower,
                        "reduction_pct": None if best_base == 0 else round(100.0 * (1 - cosma / best_base), 1),
                        "max_reduction_pct": None if best_base == 0 else round(100.0 * (1 - lower / best_base), 1)})
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


def _random_feeds(signature, seed: int = 0) -> list:
    """One input per argument: standard normal floats; integers 0/1 (valid token ids and masks)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = []
    for s in signature.inputs:
        dt = np.dtype(s.dtype)
        if dt.kind == "f":
            feeds.append(rng.standard_normal(s.shape).astype(dt))
        else:
            feeds.append(rng.integers(0, 2, s.shape).astype(dt))
    return feeds


def bench_llvm_arena(name: str) -> list[dict]:
    """The compiled llvm-cpu activation arena (f32) under plan-memory's greedy and min-peak planners.

    The pipeline is the `llvm-cpu` one, cut at `plan-memory`: the passes before it
    run once, then each planner, the passes after it and LLVM's code generation
    run per planner, so both compile times are full compiles with the shared part
    counted in both. Both programs run on one random input: their outputs must
    agree bit for bit (the same kernels, only their order and buffers differ).
    """
    import numpy as np

    import tensorc
    from tensorc.backends.llvm import codegen, jit
    from tensorc.context import make_context
    from tensorc.pipeline import NAMED_PIPELINES, parse_pipeline_spec, run_passes

    passes = NAMED_PIPELINES["llvm-cpu"].replace("convert-to-llvm", "convert-to-llvm{threads=1}").split(",")
    cut = passes.index("plan-memory")
    before, after = ",".join(passes[:cut]), ",".join(passes[cut + 1:])
    path, shapes = model_source(name)
    prog = tensorc.import_onnx(path, input_shapes=shapes)
    t0 = time.perf_counter()
    low = run_passes(prog.clone(), before)
    shared_s = time.perf_counter() - t0
    feeds = _random_feeds(prog.signature)
    info = codegen.host_target("host")
    records, outputs = [], {}
    for planner in ("greedy", "min-peak"):
        mod = low.clone()
        plan_pass = parse_pipeline_spec(f"plan-memory{{planner={planner}}}")[0]
        t0 = time.perf_counter()
        plan_pass.apply(make_context(), mod.module)  # the pass alone (run_passes adds IR verification)
        plan_s = time.perf_counter() - t0
        attrs = mod.module.attributes
        arena = attrs["cpu.arena_size"].value.data
        plan = {k: (v.value.data if hasattr(v, "value") else v.data) for k, v in attrs["cpu.arena_plan"].data.items()}
        mod = run_passes(mod, after)
        native, _ = jit.build_native(mod.module, mod.weights, info)
        compile_s = shared_s + time.perf_counter() - t0
        outs = [np.empty(s.shape, s.dtype) for s in prog.signature.outputs]
        native.call(list(feeds) + outs)
        outputs[planner] = outs
        records.append({"model": name, "weights": False, "budget": "llvm-arena", "method": planner,
                        "traffic_bytes": 0, "arena_bytes": arena, "winner": attrs["cpu.arena_planner"].data,
                        "how": plan["how"], "peak_bytes": plan.get("peak"), "plan_s": round(plan_s, 3),
                        "compile_s": round(compile_s, 2), "status": "heuristic" if planner == "greedy" else "checked"})
    same = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(outputs["greedy"], outputs["min-peak"]))
    for r in records:
        r["outputs_identical"] = same
    return records


def summarize_llvm_arena(records: list[dict]) -> str:
    rows = [r for r in records if r["budget"] == "llvm-arena"]
    if not rows:
        return ""
    out = ["\n### compiled llvm-cpu activation arena, f32 (plan-memory: greedy vs min-peak)\n",
           "| model | greedy B | min-peak B | change | live-bytes bound of the order used B | plan used | "
           "plan-memory s (greedy / min-peak) | compile s (greedy / min-peak) | outputs bit-identical |",
           "|---|---|---|---|---|---|---|---|---|"]
    larger = []
    for m in dict.fromkeys(r["model"] for r in rows):
        g = next(r for r in rows if r["model"] == m and r["method"] == "greedy")
        p = next(r for r in rows if r["model"] == m and r["method"] == "min-peak")
        change = 100.0 * (p["arena_bytes"] / g["arena_bytes"] - 1) if g["arena_bytes"] else 0.0
        if p["arena_bytes"] > g["arena_bytes"]:
            larger.append(m)
        out.append(f"| {m} | {g['arena_bytes']} | {p['arena_bytes']} | {change:+.1f}% | {p['peak_bytes']} | "
                   f"{p['winner']}: {p['how']} | {g['plan_s']:.2f} / {p['plan_s']:.2f} | "
                   f"{g['compile_s']:.1f} / {p['compile_s']:.1f} | {'yes' if p['outputs_identical'] else 'NO'} |")
    out.append(f"\nMin-peak arena larger than greedy's on: {', '.join(larger) or 'no model'}.")
    return "\n".join(out)


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
        out.append("| model | ops | budget | scratchpad B | COSMA B | lower bound B | best baseline B (which) | "
                   "default-belady | default-greedy | min-peak-belady | min-peak-greedy | reduction | "
                   "largest possible reduction | time s | status |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in [r for r in cos if r["weights"] == weights]:
            base = {b["method"]: b["traffic_bytes"] for b in records
                    if b["model"] == r["model"] and b["weights"] == weights and b["budget"] == r["budget"]
                    and b["method"] != "cosma"}
            red = "n/a (0/0)" if r["reduction_pct"] is None else f"{r['reduction_pct']:.1f}%"
            most = "n/a" if r["max_reduction_pct"] is None else f"{r['max_reduction_pct']:.1f}%"
            out.append(
                f"| {r['model']} | {r['operators']} | {r['budget']} | {r['capacity']} | {r['traffic_bytes']} | "
                f"{r['lower_bound_bytes']} | "
                f"{r['best_baseline_bytes']} ({r['best_baseline'].removeprefix('tflite-')}) | "
                + " | ".join(str(base.get(f"tflite-{k}", "-")) for k in
                             ("default-belady", "default-greedy", "min-peak-belady", "min-peak-greedy"))
                + f" | {red} | {most} | {r['solve_s']:.2f} | {r['status']} |"
            )
        at_mr = [r for r in cos if r["weights"] == weights and r["budget"] == "MR"]
        reds = [r["reduction_pct"] for r in at_mr if r["reduction_pct"] is not None]
        zero_mp = [r for r in cos if r["weights"] == weights and r["budget"] == "MP"]
        out.append("")
        if reds:
            most = [r["max_reduction_pct"] for r in at_mr if r["max_reduction_pct"] is not None]
            out.append(f"Average reduction at M_R over the {len(reds)} models where the best baseline moves "
                       f"bytes: {sum(reds) / len(reds):.1f}% "
                       f"({len(at_mr) - len(reds)} models move nothing at M_R under any method); "
                       f"the lower bound caps it at {sum(most) / len(most):.1f}% for any plan in this model.")
        out.append(f"Zero traffic at M_P: {sum(1 for r in zero_mp if r['traffic_bytes'] == 0)}/{len(zero_mp)} models.")
        out.append(f"Slowest COSMA solve at M_R: {max((r['solve_s'] for r in at_mr), default=0):.2f} s.")
    return "\n".join(out) + "\n" + summarize_arena(records) + "\n" + summarize_llvm_arena(records)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tensorc bench cosma", description=__doc__.splitlines()[0])
    p.add_argument("--json", metavar="FILE", help="write the records as JSON")
    p.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}, activations only, 5 s limit")
    p.add_argument("--weights", choices=["no", "yes", "both"], default=None,
                   help="count weights too (default: both; --quick: no)")
    p.add_argument("--time-limit", type=float, default=None, metavar="S", help="per plan (default 20, --quick 5)")
    p.add_argument("--models", metavar="A,B", help=f"models to run (default: {','.join(MODELS)}; also {','.join(EXTRA)})")
    p.add_argument("--solver", default="auto", choices=["auto", "highs", "cbc"])
    p.add_argument("--no-arena", action="store_true", help="skip the arena comparisons")
    p.add_argument("--arena", action="store_true",
                   help="only the arena comparisons (tg graph and compiled llvm-cpu), no traffic tables")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    models = args.models.split(",") if args.models else (QUICK if args.quick else MODELS)
    unknown = [m for m in models if m not in MODELS + EXTRA]
    if unknown:
        print(f"error: unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS + EXTRA)}", file=sys.stderr)
        return 2
    weights = args.weights or ("no" if args.quick else "both")
    variants = {"no": [False], "yes": [True], "both": [False, True]}[weights]
    limit = args.time_limit if args.time_limit is not None else (5.0 if args.quick else 20.0)

    if args.arena and args.no_arena:
        print("error: --arena and --no-arena exclude each other", file=sys.stderr)
        return 2
    records: list[dict] = []
    for w in [] if args.arena else variants:
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
            recs = bench_llvm_arena(m)
            records += recs
            g, p = recs
            print(f"{m:<14} llvm-cpu arena: greedy {g['arena_bytes']} B, min-peak {p['arena_bytes']} B "
                  f"({p['winner']}), compile {g['compile_s']:.1f} / {p['compile_s']:.1f} s", flush=True)
    print(summarize(records))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
