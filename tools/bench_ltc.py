"""`tensorc bench ltc`: the LUT Tensor Core reproductions of issue 9 on the simulated core.

    tensorc bench ltc [--json FILE] [--quick] [--parts a,b,c,d,e] [--time-limit S]

Every case is compiled by the ltc backend (tensorc.backends.ltc: COSMA plan, instruction
selection, the stream) and run by the simulator (tensorc.runtime.ltc) on the default core
(docs/ltc.md §1) unless it says otherwise. GEMMs and layers are timed without the numerics
(`functional=False`: the timing model does not depend on data); MiniLM runs functionally.

a. symmetrization: a W2 GEMM with `signed` tables (16 entries) vs `half` (8, lut-symmetrize):
   table storage, table broadcast bytes (entries the arrays read: one table row per N tile per
   K tile per M tile), cycles, energy.
b. precompute fusion: the linear layers of LLaMA-like decoder layers (workloads.py) on a tile of
   tokens, tables built by the precompute unit vs fused into the norm / SiLU-product vector op:
   precompute cycles as a share of the total, and the end-to-end cycle difference; also with a
   4x slower precompute unit (pre_groups_per_cycle = 1) to show how the share scales.
c. bit width: W1/W2/W4 GEMMs: cycles against the number of bit-planes; array utilization.
d. a MAC baseline: dequantize + FP16 MAC array of the same geometry (M2 N64 K4 x4 = 2048 MACs per
   cycle), modelled analytically with the simulator's own DRAM and energy constants (the ISA has
   no MAC array): cycles = max(MAC cycles, dequantization on the vector unit, DRAM) + DRAM latency;
   energy = MACs x (fp16 mul + add) + dequantization (fp16 sub + mul per weight) + SRAM + DRAM.
e. MiniLM (all-MiniLM-L6-v2, every Linear w2g128, sequence 128): cycles, utilization, DRAM
   traffic measured by the simulator on the default core (COSMA plan), and on a small core whose
   plan region is exactly M_R (the smallest scratchpad the model runs in; 256 KiB workspace) for
   the COSMA plan and the greedy arena baseline (TFLite greedy by size, evicting the largest:
   tflite-default-greedy).

JSON: a list of records {experiment, case, cycles, utilization, dram_bytes, energy_nj, ...}.
Other work on the machine does not change the numbers (the simulator counts cycles), only the
wall time of the run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Sequence

import numpy as np


def _log(msg: str) -> None:
    print(msg, flush=True)


def _run(prog, *, cfg=None, functional=False, inputs=None, **kw):
    from tensorc.backends.ltc import compile_ltc
    from tensorc.runtime.ltc import LTCConfig, simulate

    cfg = cfg or LTCConfig()
    t0 = time.perf_counter()
    c = compile_ltc(prog, config=cfg, **kw)
    t1 = time.perf_counter()
    res = simulate(c.program, inputs, cfg, functional=functional)
    rep = res.report
    if rep["dram_bytes"]["total"] != c.traffic["total"]:
        raise AssertionError(f"simulated DRAM bytes {rep['dram_bytes']['total']} != predicted {c.traffic['total']}")
    return c, res, {"compile_s": round(t1 - t0, 2), "sim_s": round(time.perf_counter() - t1, 2)}


def _record(exp, case, rep, **extra) -> dict:
    return {"experiment": exp, "case": case, "cycles": rep["cycles"], "utilization": rep["array"]["utilization"],
            "dram_bytes": rep["dram_bytes"]["total"], "energy_nj": rep["energy_nj"]["total"],
            "energy_parts_nj": {k: v for k, v in rep["energy_nj"].items() if k != "total"}, **extra}


def table_broadcast_bytes(instrs, cfg) -> int:
    """Table entries the arrays read: each lmma streams one table row (K/4 groups × E entries) per
    M row past every N tile it computes."""
    from tensorc.runtime.ltc import isa

    total = 0
    for ins in instrs:
        if ins.op == "lmma":
            nt = -(-ins["n"] // cfg.tile_n)
            total += nt * ins["m"] * (ins["k"] // 4) * isa.FORM_ENTRIES[ins["form"]] * isa.itemsize(ins["ttype"])
    return total


# ---- a. symmetrization ----------------------------------------------------------------------------------

def part_a(sizes, out):
    from tensorc.backends.ltc.workloads import gemm_program
    from tensorc.runtime.ltc import LTCConfig

    m, n, k = sizes["gemm_sym"]
    cfg = LTCConfig()
    _log(f"## a. symmetrization: W2 GEMM M={m} N={n} K={k}, i8 tables")
    _log("| tables | table bytes | broadcast bytes | cycles | energy (nJ) | lmma energy (nJ) |")
    _log("|---|---|---|---|---|---|")
    for form in ("signed", "half"):
        prog = gemm_program(m, n, k, bits=2, form=form)
        c, res, t = _run(prog, cfg=cfg)
        rep = res.report
        tables = next(b for b in c.core.main.body.block.ops if b.name == "lut.precompute").results[0]
        from tensorc.dialects import dtypes

        tbytes = int(np.prod(dtypes.shape_of(tables.type))) * 1
        bb = table_broadcast_bytes(c.program.instrs, cfg)
        out.append(_record("a", f"W2 M{m} N{n} K{k} {form}", rep, table_bytes=tbytes, table_broadcast_bytes=bb, **t))
        _log(f"| {form} ({'16' if form == 'signed' else '8'} entries) | {tbytes} | {bb} | {rep['cycles']} | "
             f"{rep['energy_nj']['total']:.0f} | {rep['energy_nj'].get('lmma', 0):.0f} |")


# ---- b. precompute fusion -------------------------------------------------------------------------------

def part_b(sizes, out):
    from tensorc.backends.ltc.workloads import llama_layer_program
    from tensorc.runtime.ltc import LTCConfig, simulate

    _log("## b. precompute fusion: linear layers of a LLaMA-like decoder layer, W2, i8 tables")
    _log("| shape | tokens | precompute | pre unit (groups/cycle) | cycles | precompute share | "
         "lmma stalled on pre |")
    _log("|---|---|---|---|---|---|---|")
    for name, (m, hidden, ffn, kv) in sizes["layers"].items():
        for fuse in (False, True):
            prog = llama_layer_program(m, hidden, ffn, kv, bits=2, fuse=fuse)
            c, res, t = _run(prog, fuse=fuse)
            for gpc in (4, 1):
                cfg = LTCConfig().replace(pre_groups_per_cycle=gpc)
                rep = simulate(c.program, None, cfg, functional=False).report if gpc != 4 else res.report
                p = rep["precompute"]
                how = "fused" if fuse else "standalone"
                out.append(_record("b", f"{name} tokens={m} {how} pre_groups_per_cycle={gpc}", rep,
                                   precompute_share=p["share"], precompute_cycles=p["standalone_cycles"]
                                   + p["fused_extra_cycles"], lmma_stall_on_pre=p["lmma_stall_on_pre_cycles"],
                                   fused_instructions=p["fused_instructions"], **t))
                _log(f"| {name} ({hidden}/{ffn}/{kv}) | {m} | {how} | {gpc} | {rep['cycles']} | "
                     f"{100 * p['share']:.2f}% | {p['lmma_stall_on_pre_cycles']} |")


# ---- c. bit width, d. MAC baseline ------------------------------------------------------------------------

def mac_baseline(m, n, k, bits, group, cfg) -> dict:
    """Dequantize + FP16 MAC array of the LMMA array's geometry (analytical; see the module doc)."""
    from tensorc.runtime.ltc.cost import Energy

    en = Energy(cfg)
    mt, nt, kt = -(-m // cfg.tile_m), -(-n // cfg.tile_n), -(-k // cfg.tile_k)
    mac_cycles = mt * -(-nt // cfg.arrays) * kt
    deq_cycles = 2 * -(-(n * k) // cfg.vec_lanes)  # (q − z)·s per weight, 2 passes on the vector unit
    w_dram = bits * n * k // 8 + 2 * n * (k // group) * 4
    io_dram = m * k * 4 + m * n * 4
    dram_cycles = math.ceil((w_dram + io_dram) / cfg.dram_bytes_per_cycle)
    cycles = max(mac_cycles, deq_cycles, dram_cycles) + cfg.dram_latency_cycles
    sram = (n * k * 2 * 2  # fp16 weights written by the dequantizer and read once (weight-stationary)
            + nt * kt * mt * cfg.tile_m * cfg.tile_k * 2  # fp16 activations streamed past every N tile
            + m * n * 4 + m * k * 4)
    parts = {"mac": m * n * k * (en.fmul[16] + en.fadd[16]) / 1000,
             "dequant": n * k * (en.fadd[16] + en.fmul[16]) / 1000,
             "sram": sram * en.sram_per_byte / 1000, "dram": (w_dram + io_dram) * en.dram_per_byte / 1000}
    return {"cycles": cycles, "utilization": m * n * k / (cycles * cfg.tile_macs), "dram_bytes": w_dram + io_dram,
            "energy_nj": sum(parts.values()), "energy_parts_nj": parts, "mac_cycles": mac_cycles,
            "dequant_cycles": deq_cycles, "dram_cycles": dram_cycles}


def part_cd(sizes, out, parts):
    from tensorc.backends.ltc.workloads import gemm_program
    from tensorc.runtime.ltc import LTCConfig

    cfg = LTCConfig()
    m, n, k = sizes["gemm"]
    rows = []
    for bits in (1, 2, 4):
        prog = gemm_program(m, n, k, bits=bits, form="half")
        c, res, t = _run(prog, cfg=cfg)
        rows.append((bits, res.report, mac_baseline(m, n, k, bits, 128, cfg)))
        if "c" in parts:
            out.append(_record("c", f"W{bits} M{m} N{n} K{k}", res.report, bits=bits, **t))
    if "c" in parts:
        _log(f"## c. bit width: GEMM M={m} N={n} K={k}, half i8 tables")
        _log("| bits | cycles | cycles / W1 cycles | array utilization | energy (nJ) |")
        _log("|---|---|---|---|---|")
        c1 = rows[0][1]["cycles"]
        for bits, rep, _ in rows:
            _log(f"| W{bits} | {rep['cycles']} | {rep['cycles'] / c1:.2f} | {rep['array']['utilization']:.3f} | "
                 f"{rep['energy_nj']['total']:.0f} |")
    if "d" in parts:
        _log(f"## d. MAC baseline (dequantize + FP16 MAC, {cfg.tile_macs} MACs/cycle) vs LTC, GEMM M={m} N={n} K={k}")
        _log("| bits | LTC cycles | MAC cycles | cycles LTC/MAC | LTC energy (nJ) | MAC energy (nJ) | energy MAC/LTC | "
             "array energy LTC (lmma+pre) / MAC (MACs+dequant) (nJ) | SRAM LTC / MAC (nJ) |")
        _log("|---|---|---|---|---|---|---|---|---|")
        for bits, rep, mac in rows:
            out.append({"experiment": "d", "case": f"MAC baseline W{bits} M{m} N{n} K{k}", "bits": bits, **mac})
            e = rep["energy_nj"]
            mp = mac["energy_parts_nj"]
            _log(f"| W{bits} | {rep['cycles']} | {mac['cycles']} | {rep['cycles'] / mac['cycles']:.2f} | "
                 f"{e['total']:.0f} | {mac['energy_nj']:.0f} | {mac['energy_nj'] / e['total']:.2f} | "
                 f"{e['lmma'] + e['precompute']:.0f} / {mp['mac'] + mp['dequant']:.0f} | "
                 f"{e['sram']:.0f} / {mp['sram']:.0f} |")


# ---- e. MiniLM ------------------------------------------------------------------------------------------

def part_e(sizes, out, time_limit):
    import tensorc
    from tensorc.tools.models.minilm import SENTENCES, minilm_onnx_cached, tokenize

    seq = sizes["minilm_seq"]
    path = str(minilm_onnx_cached(batch=None, seq=None))
    prog = tensorc.import_onnx(path, input_shapes={"input_ids": (1, seq), "attention_mask": (1, seq)},
                               quantize_weights="w2g128")
    ids, mask = tokenize(SENTENCES[:1])
    ids = np.asarray(ids, np.int64)[:, :seq]
    mask = np.asarray(mask, np.int64)[:, :seq]
    ids = np.pad(ids, ((0, 0), (0, seq - ids.shape[1])))
    mask = np.pad(mask, ((0, 0), (0, seq - mask.shape[1])))
    from tensorc.backends.ltc import LTCExecutable, prepare_program
    from tensorc.planning.graph import Graph
    from tensorc.runtime.ltc import LTCConfig

    core, _, _ = prepare_program(prog)
    m_r = Graph.from_func(core.main, elem_bytes=None, weights=False).m_r
    small_ws = 256 * 1024
    small = LTCConfig().replace(spad_bytes=-(-(m_r + small_ws) // 64) * 64)
    _log(f"## e. MiniLM w2g128, sequence {seq} (M_R = {m_r} B)")
    _log("| core | plan | plan region (B) | plan non-compulsory (B) | DRAM read (B) | DRAM written (B) | "
         "spill+retrieve (B) | cycles | utilization | precompute share | energy (nJ) |")
    _log("|---|---|---|---|---|---|---|---|---|---|---|")
    cases = [("default", LTCConfig(), None, "cosma"), ("small", small, small_ws, "cosma"),
             ("small", small, small_ws, "tflite-default-greedy")]
    for core_name, cfg, ws, plan in cases:
        t0 = time.perf_counter()
        exe = LTCExecutable(prog, config=cfg, workspace=ws, time_limit=time_limit, plan=plan)
        t1 = time.perf_counter()
        exe(input_ids=ids, attention_mask=mask)
        rep = exe.last_report
        d = rep["dram_bytes"]
        meta = exe.program.meta["plan"]
        if d["total"] != exe.compiled.traffic["total"]:
            raise AssertionError("simulated traffic differs from the plan's")
        out.append(_record("e", f"MiniLM seq{seq} {core_name} core ({cfg.spad_bytes} B) {plan}", rep, plan=plan,
                           spad_bytes=cfg.spad_bytes, capacity=meta["capacity"],
                           plan_non_compulsory=meta["traffic_non_compulsory"],
                           spill_retrieve_bytes=d["read"]["retrieve"] + d["write"]["spill"],
                           precompute_share=rep["precompute"]["share"], compile_s=round(t1 - t0, 1),
                           sim_s=round(time.perf_counter() - t1, 1)))
        _log(f"| {core_name} ({cfg.spad_bytes} B) | {plan} | {meta['capacity']} | {meta['traffic_non_compulsory']} | "
             f"{d['read']['total']} | {d['write']['total']} | {d['read']['retrieve'] + d['write']['spill']} | "
             f"{rep['cycles']} | {rep['array']['utilization']:.3f} | {100 * rep['precompute']['share']:.2f}% | "
             f"{rep['energy_nj']['total']:.0f} |")


# (a) at 32 rows: 16-entry tables of 64 f32 rows (x 1 MiB + tables 1 MiB) do not fit the 2 MiB scratchpad
FULL = {"gemm": (64, 4096, 4096), "gemm_sym": (32, 4096, 4096), "minilm_seq": 128,
        "layers": {"LLaMA2-7B": (8, 4096, 11008, 4096), "LLaMA2-70B": (4, 8192, 28672, 1024)}}
QUICK = {"gemm": (16, 1024, 1024), "gemm_sym": (16, 1024, 1024), "minilm_seq": 32, "layers": {"small": (8, 1024, 2816, 1024)}}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="tensorc bench ltc", description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="FILE", help="write the records as JSON")
    ap.add_argument("--quick", action="store_true", help="small shapes (about a minute)")
    ap.add_argument("--parts", default="a,b,c,d,e", help="which reproductions (default: a,b,c,d,e)")
    ap.add_argument("--time-limit", type=float, default=20.0, help="seconds for each MiniLM memory plan")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    bad = parts - set("abcde")
    if bad:
        print(f"error: --parts: unknown part '{sorted(bad)[0]}' (a, b, c, d, e)", file=sys.stderr)
        return 2
    sizes = QUICK if args.quick else FULL
    out: list[dict] = []
    t0 = time.perf_counter()
    if "a" in parts:
        part_a(sizes, out)
    if "b" in parts:
        part_b(sizes, out)
    if parts & {"c", "d"}:
        part_cd(sizes, out, parts)
    if "e" in parts:
        part_e(sizes, out, args.time_limit if not args.quick else min(args.time_limit, 5.0))
    _log(f"# {len(out)} records in {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        _log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
