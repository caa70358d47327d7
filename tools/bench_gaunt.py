"""`tensorc bench gaunt`: compiled CG vs compiled Gaunt vs e3nn on the CPU.

The workload (issue 8): a channelwise ('uuu') tensor product of two features
"Cx0e+Cx1o+...+CxLp" (C = 32 channels, batch 10,000) onto the same irreps, every even
path l1 x l2 -> l3 <= L, with weights that make it exactly a rank-1 Gaunt product
(K_p = g_p a_l1 b_l2 c_l3 per channel, random a, b, c). Engines:

- cg:    the eqv.cg_tp lowered (dense CG blocks as matmuls) and compiled for llvm-cpu,
- gaunt: the same op after `cg-to-gaunt` (sphere-grid Gaunt product), compiled,
- e3nn:  e3nn's o3.TensorProduct with the same instructions and weights (torch, CPU),
         when e3nn is installed.

Every run checks the compiled Gaunt result against the compiled CG result. Times are
medians of `--repeat` calls after one warm-up call; the exponent is the least-squares
slope of log(time) against log(L) over L >= 2.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def workload(L: int, channels: int):
    from tensorc.eqv import Irreps
    from tensorc.eqv.builder import gaunt_equivalent_weights

    irr = Irreps([(channels, f"{l}{'e' if l % 2 == 0 else 'o'}") for l in range(L + 1)])
    ins = [
        (l1, l2, l3, "uuu", True)
        for l1 in range(L + 1)
        for l2 in range(L + 1)
        for l3 in range(abs(l1 - l2), min(l1 + l2, L) + 1)
        if (l1 + l2 + l3) % 2 == 0
    ]
    rng = np.random.default_rng(L)
    a, b, c = (rng.uniform(0.5, 1.5, (channels, L + 1)) for _ in range(3))
    w = gaunt_equivalent_weights(irr, ins, a, b, c)
    return irr, ins, w


def build(L: int, channels: int, batch: int):
    from tensorc.eqv.builder import Builder

    irr, ins, w = workload(L, channels)
    bd = Builder("float32")
    x = bd.input("x", irr, (batch,))
    y = bd.input("y", irr, (batch,))
    bd.output("z", bd.tensor_product(x, y, irr, ins, w))
    return bd.build(), irr, ins, w


def _time(fn, repeat: int, cpu: list | None = None) -> list[float]:
    """Wall-clock ms of `repeat` calls after a warm-up; the process CPU ms of each go to `cpu`
    (on a shared machine CPU time is the steadier of the two: it excludes waiting for a core)."""
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
        if cpu is not None:
            cpu.append((time.process_time() - c) * 1e3)
    return out


def run(Ls, channels=32, batch=10_000, repeat=3, engines=("cg", "gaunt", "e3nn"), log=sys.stderr, json_path=None,
        torch_threads=None):
    import tensorc

    records = []
    for L in Ls:
        prog, irr, ins, w = build(L, channels, batch)
        rng = np.random.default_rng(0)
        X = rng.standard_normal((batch, irr.dim)).astype(np.float32)
        Y = rng.standard_normal((batch, irr.dim)).astype(np.float32)
        outs = {}
        for eng in engines:
            rec = {"L": L, "engine": eng, "batch": batch, "channels": channels, "paths": len(ins)}
            cpu: list[float] = []
            if eng in ("cg", "gaunt"):
                t0 = time.perf_counter()
                if eng == "gaunt":  # the Gaunt path itself, whatever the cost model would pick
                    p = tensorc.lower(prog, "cg-to-gaunt{force=true}")
                    from tensorc.passes.cg_to_gaunt import LAST_REPORT

                    rec["rewrite"] = LAST_REPORT[0].split("]: ", 1)[1] if LAST_REPORT else "?"
                    tensorc.lower(prog, "cg-to-gaunt")
                    rec["cost_model_choice"] = LAST_REPORT[0].split("]: ", 1)[1].split(" ")[0] if LAST_REPORT else "?"
                else:
                    p = prog
                exe = tensorc.compile(p, target="llvm-cpu")
                rec["compile_s"] = round(time.perf_counter() - t0, 2)
                res = {}

                def call():
                    res["z"] = exe(x=X, y=Y)["z"]

                times = _time(call, repeat, cpu)
                outs[eng] = res["z"]
            elif eng == "e3nn":
                try:
                    import torch
                    from e3nn import o3
                except ImportError:
                    print("bench gaunt: e3nn is not installed; skipping the e3nn engine", file=log)
                    continue
                if torch_threads:  # on a busy machine torch's 2 threads can wait on each other badly
                    torch.set_num_threads(torch_threads)
                tp = o3.TensorProduct(str(irr), str(irr), str(irr), ins, internal_weights=False, shared_weights=True)
                wt = torch.tensor(w, dtype=torch.float32)
                xt, yt = torch.tensor(X), torch.tensor(Y)
                res = {}
                with torch.no_grad():
                    times = _time(lambda: res.update(z=tp(xt, yt, wt)), repeat, cpu)
                outs[eng] = res["z"].numpy()
                rec["torch_threads"] = torch.get_num_threads()
            else:
                raise ValueError(f"unknown engine '{eng}'")
            rec["median_ms"] = round(statistics.median(times), 3)
            rec["min_ms"] = round(min(times), 3)
            rec["times_ms"] = [round(t, 3) for t in times]
            rec["cpu_median_ms"] = round(statistics.median(cpu), 3)
            rec["loadavg_1m"] = round(os.getloadavg()[0], 2)  # the machine is shared: how busy it was
            records.append(rec)
            print(f"L={L} {eng:6s} {rec['median_ms']:10.2f} ms  (cpu {rec['cpu_median_ms']:.0f} ms, load {rec['loadavg_1m']})", file=log, flush=True)
            if json_path:  # after every record: a crash keeps what was measured
                with open(json_path, "w") as f:
                    json.dump(records, f, indent=1)
        if "cg" in outs:
            ref = outs["cg"]
            scale = float(np.abs(ref).max()) or 1.0
            for eng, o in outs.items():
                if eng != "cg":
                    err = float(np.abs(o - ref).max()) / scale
                    for r in records:
                        if r["L"] == L and r["engine"] == eng:
                            r["max_rel_err_vs_cg"] = err
    return records


def fit_exponent(records, engine, min_L=2, key="median_ms"):
    pts = [(r["L"], r[key]) for r in records if r["engine"] == engine and r["L"] >= min_L and key in r]
    if len(pts) < 2:
        return None
    x = np.log([p[0] for p in pts])
    y = np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def table(records, key="median_ms") -> str:
    """A markdown table of `key` (median_ms: wall clock; cpu_median_ms: process CPU time; min_ms: the fastest call)."""
    Ls = sorted({r["L"] for r in records})
    engines = [e for e in ("cg", "gaunt", "e3nn") if any(r["engine"] == e for r in records)]
    get = {(r["L"], r["engine"]): r[key] for r in records if key in r}
    unit = {"median_ms": "ms", "cpu_median_ms": "CPU ms", "min_ms": "min ms"}[key]
    head = "| L | " + " | ".join(f"{e} {unit}" for e in engines) + " | gaunt vs cg |" + (" gaunt vs e3nn |" if "e3nn" in engines else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for L in Ls:
        cells = [f"{get[(L, e)]:.1f}" if (L, e) in get else "–" for e in engines]
        s1 = f"{get[(L, 'cg')] / get[(L, 'gaunt')]:.2f}x" if (L, "cg") in get and (L, "gaunt") in get else "–"
        row = f"| {L} | " + " | ".join(cells) + f" | {s1} |"
        if "e3nn" in engines:
            s2 = f"{get[(L, 'e3nn')] / get[(L, 'gaunt')]:.2f}x" if (L, "e3nn") in get and (L, "gaunt") in get else "–"
            row += f" {s2} |"
        lines.append(row)
    fits = {e: fit_exponent(records, e, key=key) for e in engines}
    ex = ", ".join(f"{e} {v:.2f}" for e, v in fits.items() if v is not None)
    lines.append("")
    what = {"median_ms": "time", "cpu_median_ms": "CPU time", "min_ms": "fastest time"}[key]
    lines.append(f"fitted exponent of {what} vs L (L >= 2): {ex}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="tensorc bench gaunt", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("--L", default="1-8", help="degrees: '1-8' or '2,4,6' (default 1-8)")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engines", default="cg,gaunt,e3nn")
    ap.add_argument("--torch-threads", type=int, help="torch.set_num_threads for the e3nn engine (default: torch's)")
    ap.add_argument("--json", metavar="FILE", help="write the records as JSON")
    ap.add_argument("--merge", metavar="FILE", help="add the records of an earlier --json run for engines not run now")
    args = ap.parse_args(argv)
    if "-" in args.L:
        lo, hi = args.L.split("-")
        Ls = list(range(int(lo), int(hi) + 1))
    else:
        Ls = [int(v) for v in args.L.split(",")]
    engines = tuple(args.engines.split(","))
    records = run(Ls, args.channels, args.batch, args.repeat, engines, json_path=args.json, torch_threads=args.torch_threads)
    if args.merge:
        with open(args.merge) as f:
            records += [r for r in json.load(f) if r["engine"] not in engines and r["L"] in Ls]
        records.sort(key=lambda r: (r["L"], ("cg", "gaunt", "e3nn").index(r["engine"])))
    print(table(records))
    for key in ("cpu_median_ms", "min_ms"):  # on a shared machine: CPU time, and the fastest call
        if any(key in r for r in records):
            print()
            print(table(records, key))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
