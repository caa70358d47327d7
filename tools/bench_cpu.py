"""`tensorc bench cpu`: tensorc (llvm-cpu) vs onnxruntime vs numpy on the CPU workloads.

    tensorc bench cpu [--json FILE] [--quick] [--threads 1,all] [--workloads mlp_b1,...]

Workloads (../shared/research/peers-and-data.md): `mlp_b1`, `mlp_b64` (X[B,256] →
Gemm 256×1024 → Relu → Gemm 1024×256), `convnet` (1×3×32×32, two conv/relu/maxpool
stages, Gemm 2048→10), `minilm` (the trained all-MiniLM-L6-v2, batch 1, 128 tokens)
and `resnet18` (random weights, 1×3×224×224).

For every workload and thread count, tensorc and onnxruntime run side by side in
the same process, *interleaved* (turns of ~0.3 s of calls each, 0.1 s apart,
until the time budget is spent), so machine noise hits them alike while an
engine's still-spinning idle threads hardly touch the other's turn (numpy runs
after them: its BLAS threads keep spinning long after a call); the table gives medians, the compile
time (tensorc: import + compile; onnxruntime: session creation), the ratio to
onnxruntime at the same thread count, and the largest difference of tensorc's
output from onnxruntime's (relative to the output's largest magnitude).

- tensorc: `tensorc.compile(prog, target="llvm-cpu", threads=N)`.
- onnxruntime: `intra_op_num_threads=N`, `inter_op_num_threads=1`, all graph optimizations.
- numpy: a direct numpy implementation where one is natural (the MLPs: two BLAS
  matmuls with bias and ReLU; BLAS threads set to N through OpenBLAS'
  `*_set_num_threads`); `n/a` elsewhere.

`--json FILE` writes a list of records, one per (workload, engine, threads):
`workload, engine, threads, median_us, p10_us, p90_us, runs, compile_s,
ratio_to_onnxruntime, max_rel_diff` (and `note` when an engine is n/a).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

WORKLOADS = ["mlp_b1", "mlp_b64", "convnet", "minilm", "resnet18"]
TURN_S = 0.3    # work per turn of one engine
PAUSE_S = 0.1   # idle time before each turn
ENGINES = ["tensorc", "onnxruntime", "numpy"]


@dataclass
class Workload:
    name: str
    model: object  # onnx.ModelProto
    inputs: dict[str, np.ndarray]
    input_shapes: dict | None = None
    numpy_fn: Callable | None = None  # (threads) -> callable() -> output
    note: str = ""


def _cache_dir() -> Path:
    root = Path(os.environ.get("TENSORC_CACHE") or Path.home() / ".cache" / "tensorc")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _mlp_numpy(model, x):
    from onnx import numpy_helper

    w = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    w1, b1 = np.ascontiguousarray(w["fc1.weight"].T), w["fc1.bias"]
    w2, b2 = np.ascontiguousarray(w["fc2.weight"].T), w["fc2.bias"]

    def run():
        h = x @ w1
        h += b1
        np.maximum(h, 0, out=h)
        y = h @ w2
        y += b2
        return y

    return run


def build_workload(name: str) -> Workload:
    rng = np.random.default_rng(0)
    if name in ("mlp_b1", "mlp_b64"):
        from tensorc.tools.models import small

        batch = int(name.removeprefix("mlp_b"))
        model = small.mlp(batch)
        x = rng.standard_normal((batch, 256)).astype(np.float32)
        return Workload(name, model, {"x": x}, numpy_fn=lambda: _mlp_numpy(model, x))
    if name == "convnet":
        from tensorc.tools.models import small

        return Workload(name, small.convnet(), {"x": rng.standard_normal((1, 3, 32, 32)).astype(np.float32)})
    if name == "minilm":
        import onnx

        from tensorc.tools.models.minilm import minilm_onnx_cached

        model = onnx.load(str(minilm_onnx_cached()))
        ids = rng.integers(1000, 30000, (1, 128)).astype(np.int64)
        ids[0, 0], ids[0, -1] = 101, 102  # [CLS] ... [SEP]
        mask = np.ones((1, 128), np.int64)
        return Workload(name, model, {"input_ids": ids, "attention_mask": mask},
                        input_shapes={"input_ids": (1, 128), "attention_mask": (1, 128)})
    if name == "resnet18":
        import onnx

        from tensorc.tools.models.resnet import export_resnet18_onnx

        path = _cache_dir() / "resnet18_seed0_opset17.onnx"
        if not path.is_file():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            export_resnet18_onnx(tmp)
            os.replace(tmp, path)
        return Workload(name, onnx.load(str(path)),
                        {"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)})
    raise SystemExit(f"error: unknown workload '{name}' (available: {', '.join(WORKLOADS)})")


# ---- BLAS threads for the numpy engine -------------------------------------------------------
def _blas_thread_setter() -> Callable[[int], None] | None:
    """OpenBLAS' set_num_threads of the BLAS numpy loaded (found in /proc/self/maps)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    libs = sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower() and "/" in line})
    for lib in libs:
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for sym in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                    "scipy_openblas_set_num_threads", "openblas_set_num_threads"):
            fn = getattr(handle, sym, None)
            if fn is not None:
                return lambda n, fn=fn: fn(ctypes.c_int(n))
    return None


# ---- measuring ------------------------------------------------------------------------------------
@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)

    def stats(self) -> dict:
        a = np.asarray(self.samples) * 1e6
        return {"median_us": float(np.median(a)), "p10_us": float(np.percentile(a, 10)),
                "p90_us": float(np.percentile(a, 90)), "runs": len(a)}


def interleaved(fns: dict[str, Callable], budget_s: float, min_runs: int = 5) -> dict[str, Timing]:
    """Time the callables in turns of a few calls each, until the budget is spent."""
    timings = {k: Timing() for k in fns}
    for f in fns.values():  # warm up (first-call costs, thread pools)
        f()
        f()
    # calls per turn: about TURN_S of work each, then a short pause. An engine's idle
    # threads keep spinning for a while after its turn (onnxruntime's for tens of ms): on
    # a 2-core machine a spinning thread halves the next engine's second core, so turns
    # are long and separated by a pause, and only a turn's first call can feel it.
    per_turn = {}
    for k, f in fns.items():
        t0 = time.perf_counter()
        f()
        per_turn[k] = max(1, min(2000, int(TURN_S / max(time.perf_counter() - t0, 1e-6))))
    start = time.perf_counter()
    while True:
        for k, f in fns.items():
            s = timings[k].samples
            time.sleep(PAUSE_S)
            for _ in range(per_turn[k]):
                t0 = time.perf_counter()
                f()
                s.append(time.perf_counter() - t0)
        done = time.perf_counter() - start >= budget_s
        if done and all(len(t.samples) >= min_runs for t in timings.values()):
            return timings


def _max_rel_diff(a: np.ndarray, ref: np.ndarray) -> float:
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(a - ref)) / max(np.max(np.abs(ref)), 1e-30))


def run_workload(wl: Workload, threads: list[int], budget_s: float, log) -> list[dict]:
    import onnxruntime as ort

    import tensorc

    records = []
    t0 = time.perf_counter()
    prog = tensorc.import_onnx(wl.model, input_shapes=wl.input_shapes)
    import_s = time.perf_counter() - t0
    serialized = wl.model.SerializeToString()
    feeds = dict(wl.inputs)
    set_blas = _blas_thread_setter()
    for n in threads:
        t0 = time.perf_counter()
        exe = tensorc.compile(prog, target="llvm-cpu", threads=n)
        tc_compile = import_s + time.perf_counter() - t0
        so = ort.SessionOptions()
        so.intra_op_num_threads = n
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        t0 = time.perf_counter()
        sess = ort.InferenceSession(serialized, so, providers=["CPUExecutionProvider"])
        ort_compile = time.perf_counter() - t0
        ref = sess.run(None, feeds)[0]
        out = next(iter(exe(**feeds).values()))
        diff = _max_rel_diff(out, ref)
        fns = {"tensorc": lambda: exe(**feeds), "onnxruntime": lambda: sess.run(None, feeds)}
        timings = interleaved(fns, budget_s)
        np_diff = None
        if wl.numpy_fn is not None and set_blas is not None:
            # on its own, after: OpenBLAS' threads spin long after a call and would slow the others
            set_blas(n)
            npf = wl.numpy_fn()
            np_diff = _max_rel_diff(npf(), ref)
            timings.update(interleaved({"numpy": npf}, budget_s / 2))
        ort_med = timings["onnxruntime"].stats()["median_us"]
        compile_s = {"tensorc": tc_compile, "onnxruntime": ort_compile, "numpy": 0.0}
        diffs = {"tensorc": diff, "onnxruntime": 0.0, "numpy": np_diff}
        for eng in ENGINES:
            rec = {"workload": wl.name, "engine": eng, "threads": n}
            if eng in timings:
                st = timings[eng].stats()
                rec.update(st, compile_s=round(compile_s[eng], 4),
                           ratio_to_onnxruntime=round(st["median_us"] / ort_med, 3),
                           max_rel_diff=diffs[eng])
                if eng == "tensorc":
                    rec["compile_detail"] = {"import_s": round(import_s, 4),
                                             **{k: round(v, 4) for k, v in exe.compile_stats.items()}}
            else:
                rec.update(median_us=None, compile_s=None, ratio_to_onnxruntime=None, max_rel_diff=None,
                           note="no direct numpy implementation" if wl.numpy_fn is None else
                           "BLAS thread count not controllable")
            records.append(rec)
            log(_row(rec))
        del exe, sess, fns
        gc.collect()
    return records


# ---- output ---------------------------------------------------------------------------------------
HEADER = f"| {'workload':<9} | {'threads':>7} | {'engine':<11} | {'median µs':>10} | {'p10–p90 µs':>17} | " \
         f"{'compile s':>9} | {'vs ORT':>6} | {'max rel diff':>12} |"


def _row(r: dict) -> str:
    if r.get("median_us") is None:
        return f"| {r['workload']:<9} | {r['threads']:>7} | {r['engine']:<11} | {'n/a':>10} | {'':>17} | " \
               f"{'':>9} | {'':>6} | {'':>12} |"
    spread = f"{r['p10_us']:.0f}–{r['p90_us']:.0f}"
    diff = "" if r["max_rel_diff"] is None else f"{r['max_rel_diff']:.1e}"
    return (f"| {r['workload']:<9} | {r['threads']:>7} | {r['engine']:<11} | {r['median_us']:>10.1f} | "
            f"{spread:>17} | {r['compile_s']:>9.2f} | {r['ratio_to_onnxruntime']:>5.2f}× | {diff:>12} |")


def environment() -> dict:
    import onnxruntime

    import tensorc

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "tensorc": tensorc.__version__, "onnxruntime": onnxruntime.__version__, "numpy": np.__version__,
            "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None}


def _threads_arg(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip()
        if part in ("all", "0"):
            out.append(os.cpu_count() or 1)
        elif part:
            try:
                n = int(part)
            except ValueError:
                raise argparse.ArgumentTypeError(f"thread counts are integers or 'all', not '{part}'") from None
            if n < 1:
                raise argparse.ArgumentTypeError("thread counts must be >= 1")
            out.append(n)
    return sorted(set(out))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tensorc bench cpu", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", metavar="FILE", help="write the records as a JSON list to FILE")
    p.add_argument("--quick", action="store_true", help="short time budget per measurement (1.5 s instead of 6)")
    p.add_argument("--threads", type=_threads_arg, default=None, metavar="N,M",
                   help="thread counts, comma separated ('all' = every core; default: 1,all)")
    p.add_argument("--workloads", default=",".join(WORKLOADS), metavar="W,...",
                   help=f"subset of {','.join(WORKLOADS)}")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="time budget of each (workload, threads) measurement (default 6, --quick 1.5)")
    args = p.parse_args(list(argv) if argv is not None else None)
    threads = args.threads or _threads_arg("1,all")
    budget = args.budget if args.budget is not None else (1.5 if args.quick else 6.0)
    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in names:
        if w not in WORKLOADS:
            p.error(f"unknown workload '{w}' (available: {', '.join(WORKLOADS)})")

    env = environment()
    print(f"# tensorc bench cpu — {env['cpu']}, {env['cores']} cores; onnxruntime {env['onnxruntime']}, "
          f"numpy {env['numpy']}; threads {','.join(map(str, threads))}; budget {budget:g} s; "
          f"load average {env['loadavg'][0]:.2f}" if env["loadavg"] else "")
    print(HEADER)
    print("|" + "|".join("-" * (len(c)) for c in HEADER.split("|")[1:-1]) + "|")
    records: list[dict] = []
    for name in names:
        try:
            wl = build_workload(name)
        except ImportError as e:  # torch missing for minilm/resnet18
            print(f"| {name:<9} | skipped: {e}", flush=True)
            continue
        records += run_workload(wl, threads, budget, lambda line: print(line, flush=True))
    if env["loadavg"]:
        print(f"# load average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
        print(f"# wrote {len(records)} records to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
