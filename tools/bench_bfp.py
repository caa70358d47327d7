"""`tensorc bench bfp`: BFP / MX K caches, with and without channel rearrangement, on real activations.

    tensorc bench bfp [--json FILE] [--models minilm,rope] [--quick] [--no-llvm] [--llvm-repeat N]

Models:

Rearrangements (`rearrange`): none, weight-norm (the paper's W_k row norms),
static (E[k²] from W_k, b_k and the preceding norm's γ, β), calibration (the pass's
default rule: a candidate must raise logits SQNR on all calibration samples and on both halves).

* ``minilm``: the trained all-MiniLM-L6-v2 (6 layers, 12 heads, head_dim 32) on
  the eight real sentences of tools/models/minilm.py; calibration for
  `bfp-rearrange{score=calibration}` uses eight *other* sentences (CALIBRATION).
  Formats BFP12/BFP16 at n = 8, 16, 32, MXINT8 and MXFP4 (n = 32).
* ``rope``: tools/models/rope_decoder.py (2 layers, 4 query / 2 KV heads,
  head_dim 128, RoPE, K outlier channels; random weights), on random token ids
  (calibration on other random ids). BFP12/BFP16 at n = 32, 64, 128, MXINT8, MXFP4.

Every model is imported from ONNX (torch.onnx.export, dynamo=False), cleaned
up, and transformed by the compiler's passes: `bfp-rearrange` (weight-norm or
calibration) then `bfp-quantize-kv`. Per record:

* k_channel_sqnr_db: mean over (layer, KV head, channel) of the SQNR of that
  channel of K over all real tokens (K taken from the fp32 model, quantized in
  isolation: "teacher-forced"; padding excluded, GQA copies counted once);
* logits_sqnr_db: mean over layers of the SQNR of Q·K̂ᵀ against Q·Kᵀ over the
  attended (query, key) pairs (padding masked; causal for the decoder);
* zeroed_frac: fraction of the nonzero K values that quantize to 0;
* cosine: mean cosine similarity to fp32 of the final output (MiniLM: the
  sentence embeddings; decoder: every token's final hidden state), with every
  layer's K cache quantized end to end by bfp-quantize-kv (reference interpreter);
* bits_per_elem: K-cache storage per element;
* qk_rel_change: largest relative change (Frobenius, over layers) of the fp32
  Q·Kᵀ that the rearranged program computes, against the original program.

Unless --no-llvm, the best BFP12 MiniLM setting (highest cosine) is also
compiled for llvm-cpu four ways, run side by side (records with target
"llvm-cpu" and a `variant`): fp32 (no quantization); fake-quant (bfp-expand:
the K cache is f32 holding BFP values); packed+unpack (bfp-pack{fuse=false}:
K stored packed, a kernel decodes it to f32 for the matmul); packed+fused
(bfp-pack: Q·Kᵀ reads the packed K directly). Each has the cosine to the fp32
reference interpreter, kcache_bytes (what holds K between quantization and the
attention read), f32_copies_bytes (f32 K decoded from packed), arena_bytes
(the compiled arena) and latency_ms (one thread, median of --llvm-repeat
interleaved rounds).

JSON: a list of records {model, format, block, rearrange, k_channel_sqnr_db,
logits_sqnr_db, zeroed_frac, cosine, cosine_min, bits_per_elem, qk_rel_change,
heads_permuted, heads_total, target} (calibration records below head_dim add calibration_split:
how bfp-rearrange split its samples in halves, and heads_rejected_by_halves: heads left unpermuted
because every candidate that raised logits SQNR on all calibration samples lost on one half;
llvm-cpu records add variant,
kcache_bytes, f32_copies_bytes, arena_bytes, latency_ms, latency_ms_min).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

CALIBRATION = [
    "The weather today is sunny with a light breeze from the west.",
    "He forgot his umbrella and got soaked on the way to work.",
    "Quarterly earnings exceeded analyst expectations by a wide margin.",
    "Please restart the router and try connecting again.",
    "Dogs are loyal companions and love to play fetch.",
    "The algorithm sorts the list in logarithmic time per insertion.",
    "Volunteers planted hundreds of trees along the riverbank last spring.",
    "The orchestra rehearsed the symphony late into the night.",
]

MODES = ("none", "weight-norm", "static", "calibration")


@dataclass
class Model:
    name: str
    prog: object  # tensorc.Program (fp32, cleaned up)
    eval_inputs: dict
    calib_inputs: dict
    pair_mask: Callable  # (lead_shape, S, T) -> bool [B, S, T] of attended pairs
    token_mask: np.ndarray  # [B, T] real tokens (keys)
    output: str
    configs: list = field(default_factory=list)  # (family, block)


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------
def load_minilm() -> Model:
    import tensorc
    from tensorc.tools.models.minilm import SENTENCES, minilm_onnx_cached, tokenize

    ids0, _ = tokenize(SENTENCES)
    idc0, _ = tokenize(CALIBRATION)
    seq = max(ids0.shape[1], idc0.shape[1])
    ids, mask = (t.numpy() for t in tokenize(SENTENCES, max_len=seq))
    cids, cmask = (t.numpy() for t in tokenize(CALIBRATION, max_len=seq))
    path = minilm_onnx_cached(batch=len(SENTENCES), seq=None)
    prog = tensorc.import_onnx(str(path), input_shapes={"input_ids": ids.shape, "attention_mask": ids.shape})
    prog = tensorc.lower(prog, "cleanup")
    valid = mask.astype(bool)
    configs = [(f, n) for f in ("bfp12", "bfp16") for n in (8, 16, 32)] + [("mxint8", 32), ("mxfp4", 32)]
    return Model("minilm", prog, {"input_ids": ids, "attention_mask": mask},
                 {"input_ids": cids, "attention_mask": cmask},
                 lambda S, T: valid[:, :, None] & valid[:, None, :], valid, "embedding", configs)


def load_rope(batch: int = 2, seq: int = 128) -> Model:
    import tensorc
    from tensorc.tools.models.rope_decoder import rope_decoder_onnx, sample_ids

    with tempfile.TemporaryDirectory() as d:
        path = rope_decoder_onnx(os.path.join(d, "rope.onnx"), batch=batch, seq=seq)
        prog = tensorc.import_onnx(str(path))
    prog = tensorc.lower(prog, "cleanup")
    ids = sample_ids(batch, seq, seed=1).numpy()
    cids = sample_ids(batch, seq, seed=2).numpy()
    causal = np.tril(np.ones((seq, seq), bool))
    configs = [(f, n) for f in ("bfp12", "bfp16") for n in (32, 64, 128)] + [("mxint8", 32), ("mxfp4", 32)]
    return Model("rope-decoder", prog, {"ids": ids}, {"ids": cids},
                 lambda S, T: np.broadcast_to(causal, (batch, S, T)), np.ones((batch, seq), bool), "hidden", configs)


# ---------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------
def _main_args(prog, inputs: dict):
    names = [s.name for s in prog.signature.inputs]
    return [np.asarray(inputs[n]) for n in names]


@dataclass
class Captured:
    sites: list
    q: list  # per site [L, S, D]
    k: list  # per site [L, D, T]
    scores: list  # per site: the scores op's own fp32 output
    out: np.ndarray


def capture_sites(prog, inputs: dict, output: str) -> Captured:
    from tensorc.passes.attention_match import capture, find_sites
    from tensorc.passes.bfp_rearrange import Calibration

    sites = find_sites(prog.module, prog.weights)
    wanted = {v for s in sites for v in (s.q_value, s.k_value, s.op.results[0])}
    got = capture(prog.main, _main_args(prog, inputs), prog.weights, wanted)
    cals = [Calibration(s, got[s.q_value], got[s.k_value]) for s in sites]
    names = [sp.name for sp in prog.signature.outputs]
    out = got[None][names.index(output)]
    return Captured(sites, [c.q for c in cals], [c.k for c in cals], [got[s.op.results[0]] for s in sites], out)


def _unique_kv(site) -> np.ndarray:
    """Lead indices holding each (batch, KV head) once (GQA repeats K for every query head)."""
    lead = site.lead_shape
    per_batch = int(np.prod(lead[1:])) if len(lead) > 1 else 1
    seen, keep = set(), []
    for l, g in enumerate(site.k_head_of_lead.tolist()):
        key = (l // per_batch, g)
        if key not in seen:
            seen.add(key)
            keep.append(l)
    return np.array(keep)


def k_metrics(model: Model, cap: Captured, fmt) -> dict:
    """Teacher-forced K and logits metrics of one format on captured activations."""
    from tensorc.quant import quantize, sqnr_db

    ch_db, lg_db = [], []
    nz = zeroed = 0
    for site, q, k in zip(cap.sites, cap.q, cap.k):
        lead = site.lead_shape
        per_batch = int(np.prod(lead[1:])) if len(lead) > 1 else 1
        kq = quantize(k, fmt, axis=-2)  # [L, D, T], blocks along D
        # per channel over real tokens, each (batch, KV head) once
        keep = _unique_kv(site)
        tok = model.token_mask[keep // per_batch]  # [Lk, T]
        ref, err = k[keep].astype(np.float64), (k[keep] - kq[keep]).astype(np.float64)
        w = tok[:, None, :]
        heads = site.k_head_of_lead[keep]
        for g in range(site.num_kv_heads):
            sel = heads == g
            sig = np.sum((ref[sel] ** 2) * w[sel], axis=(0, 2))
            e = np.sum((err[sel] ** 2) * w[sel], axis=(0, 2))
            ch_db.extend(200.0 if ee == 0 else float(np.clip(10 * np.log10(ss / ee), -200, 200))
                         for ss, ee in zip(sig.tolist(), e.tolist()))
        kk = k[keep][np.broadcast_to(w, k[keep].shape)]
        kkq = kq[keep][np.broadcast_to(w, k[keep].shape)]
        nz += int(np.count_nonzero(kk))
        zeroed += int(np.count_nonzero((kk != 0) & (kkq == 0)))
        # logits over attended pairs
        L, S, D = q.shape
        T = k.shape[-1]
        pm = model.pair_mask(S, T)  # [B, S, T]
        pmask = pm[np.arange(L) // per_batch]
        qd = q.astype(np.float64)
        exact = np.matmul(qd, k.astype(np.float64))
        approx = np.matmul(qd, kq.astype(np.float64))
        lg_db.append(sqnr_db(exact[pmask], approx[pmask]))
    return dict(k_channel_sqnr_db=float(np.mean(ch_db)), logits_sqnr_db=float(np.mean(lg_db)),
                zeroed_frac=zeroed / max(nz, 1))


def qk_change(base: Captured, other: Captured) -> float:
    worst = 0.0
    for a, b in zip(base.scores, other.scores):
        worst = max(worst, float(np.linalg.norm(b.astype(np.float64) - a) / np.linalg.norm(a.astype(np.float64))))
    return worst


def cosine_of(model: Model, out: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    from tensorc.quant import cosine

    c = cosine(out.reshape(-1, out.shape[-1]), ref.reshape(-1, ref.shape[-1]))
    return float(np.mean(c)), float(np.min(c))


def run(prog, inputs: dict, output: str, target: str = "reference") -> np.ndarray:
    import tensorc

    exe = tensorc.compile(prog, target=target)
    return exe(**inputs)[output]


# ---------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------
def bench_model(model: Model, log, llvm: bool = False, llvm_repeat: int = 30) -> list[dict]:
    import tensorc
    from tensorc.passes import bfp_rearrange
    from tensorc.quant import parse_format

    records = []
    ref = run(model.prog, model.eval_inputs, model.output)
    base_cap = capture_sites(model.prog, model.eval_inputs, model.output)
    head_dim = base_cap.sites[0].head_dim
    log(f"{model.name}: {len(base_cap.sites)} attention sites, {base_cap.sites[0].describe()}")
    wn: dict[tuple, tuple] = {}  # data-free programs and their captures, by (score, min(block, head_dim))
    for family, block in model.configs:
        fmt = parse_format(family, block=block)
        for mode in MODES:
            t0 = time.perf_counter()
            spec = f"format={family} block={block}"
            if mode == "none":
                prog, cap = model.prog, base_cap
            elif mode in ("weight-norm", "static"):
                key = (mode, min(block, head_dim))  # below head_dim the permutation does not depend on the block
                if key not in wn:
                    wprog = tensorc.lower(model.prog, f"bfp-rearrange{{score={mode} {spec}}}")
                    wn[key] = (wprog, capture_sites(wprog, model.eval_inputs, model.output))
                prog, cap = wn[key]
            else:
                with bfp_rearrange.use_samples(model.calib_inputs):
                    prog = tensorc.lower(model.prog, f"bfp-rearrange{{score=calibration {spec}}}")
                cap = capture_sites(prog, model.eval_inputs, model.output)
                calib_rows = bfp_rearrange.last_report()
            if len(cap.sites) != len(base_cap.sites):
                raise RuntimeError(f"{model.name} {mode}: {len(cap.sites)} attention sites after rearranging, "
                                   f"{len(base_cap.sites)} before")
            m = k_metrics(model, cap, fmt)
            q = tensorc.lower(prog, f"bfp-quantize-kv{{{spec}}}")
            nq = sum(1 for o in q.module.walk() if o.name == "bfp.quantize")
            if nq != len(base_cap.sites):
                raise RuntimeError(f"{model.name} {mode}: {nq} K caches quantized, {len(base_cap.sites)} expected")
            out = run(q, model.eval_inputs, model.output)
            cmean, cmin = cosine_of(model, out, ref)
            permuted = _count_permuted(prog, model.prog)
            rec = dict(model=model.name, format=family, block=block, rearrange=mode, target="reference",
                       **m, cosine=cmean, cosine_min=cmin, bits_per_elem=fmt.bits_per_element(),
                       qk_rel_change=qk_change(base_cap, cap), heads_permuted=permuted,
                       heads_total=sum(s.num_kv_heads for s in base_cap.sites), seconds=round(time.perf_counter() - t0, 2))
            if mode == "calibration" and block < head_dim:
                rec.update(calibration_split=sorted({r.get("split", "none") for r in calib_rows}),
                           heads_rejected_by_halves=sum("both halves" in r.get("reason", "") for r in calib_rows))
            records.append(rec)
            log(f"  {family}_{block:<4} {mode:<12} K ch {m['k_channel_sqnr_db']:6.2f} dB  logits {m['logits_sqnr_db']:6.2f} dB  "
                f"zeroed {m['zeroed_frac']:.3f}  cos {cmean:.5f} (min {cmin:.5f})  {fmt.bits_per_element():.3f} b/e  "
                f"heads permuted {permuted}  dQK {rec['qk_rel_change']:.1e}")
    if llvm:
        cands = [r for r in records if r["format"] == "bfp12"]
        best = max(cands, key=lambda r: r["cosine"])
        records += llvm_side_by_side(model, best, ref, log, repeat=llvm_repeat)
    return records


# ---------------------------------------------------------------------------
# compiled: fake-quantized vs packed K cache
# ---------------------------------------------------------------------------
LLVM_VARIANTS = (  # name, pipeline after bfp-quantize-kv (None: the fp32 program, no quantization)
    ("fp32", None),
    ("fake-quant", "bfp-expand"),
    ("packed+unpack", "bfp-pack{fuse=false}"),
    ("packed+fused", "bfp-pack"),
)


def kcache_bytes(prog, quant) -> dict:
    """What holds K between quantization and the attention read, from the tg program the backend
    lowers (every tg intermediate is one arena buffer of its type's size), summed over layers:
    `kcache` = the packed ui8 buffers (bfp.pack results) if `prog` has them, else the f32 K operands
    of the attention sites (read from `quant`, the program before bfp-expand/bfp-pack, where the
    sites are still recognizable); `f32_copies` = f32 K decoded from packed (bfp.unpack results)."""
    from tensorc.dialects import dtypes
    from tensorc.passes.attention_match import find_sites

    def nbytes(v):
        return int(np.prod(dtypes.shape_of(v.type))) * dtypes.dtype_of(v.type).itemsize

    ops = list(prog.module.walk())
    packs = [o for o in ops if o.name == "bfp.pack"]
    if packs:
        kc = sum(nbytes(o.results[0]) for o in packs)
    else:
        kc = sum(nbytes(s.k_value) for s in find_sites(quant.module, quant.weights))
    return dict(kcache=kc, f32_copies=sum(nbytes(o.results[0]) for o in ops if o.name == "bfp.unpack"))


def llvm_side_by_side(model: Model, best: dict, ref: np.ndarray, log, repeat: int = 30) -> list[dict]:
    """The best BFP12 setting compiled for llvm-cpu four ways (fp32, fake-quantized f32 K via
    bfp-expand, packed K + unpack kernel, packed K read by the fused Q·Kᵀ kernel): cosine to the
    fp32 reference, K-cache and arena bytes, and latency (one thread, the variants interleaved
    round by round, median of `repeat` rounds)."""
    import tensorc
    from tensorc.passes import bfp_rearrange

    spec = f"format=bfp12 block={best['block']}"
    mode = best["rearrange"]
    if mode == "none":
        base = model.prog
    elif mode == "calibration":
        with bfp_rearrange.use_samples(model.calib_inputs):
            base = tensorc.lower(model.prog, f"bfp-rearrange{{score=calibration {spec}}}")
    else:
        base = tensorc.lower(model.prog, f"bfp-rearrange{{score={mode} {spec}}}")
    quant = tensorc.lower(base, f"bfp-quantize-kv{{{spec}}}")
    exes, rows = {}, {}
    for name, pipe in LLVM_VARIANTS:
        t0 = time.perf_counter()
        prog = model.prog if pipe is None else tensorc.lower(quant, pipe)
        exe = tensorc.compile(prog, target="llvm-cpu", threads=1)
        out = exe(**model.eval_inputs)[model.output]
        cmean, cmin = cosine_of(model, out, ref)
        lowered = getattr(exe, "_lowered", None)
        arena = int(lowered.module.attributes["cpu.arena_size"].value.data) if lowered is not None else None
        exes[name] = exe
        rows[name] = dict(best if pipe else {}, model=model.name, format="fp32" if pipe is None else "bfp12",
                          block=None if pipe is None else best["block"], rearrange=mode if pipe else "none",
                          target="llvm-cpu", variant=name, cosine=cmean, cosine_min=cmin,
                          bits_per_elem=32.0 if pipe is None else best["bits_per_elem"],
                          arena_bytes=arena, **{f"{k}_bytes": v for k, v in kcache_bytes(prog, quant).items()},
                          compile_seconds=round(time.perf_counter() - t0, 2))
    times = {name: [] for name in exes}
    for name, exe in exes.items():  # warm up
        exe(**model.eval_inputs)
    for _ in range(repeat):
        for name, exe in exes.items():
            t0 = time.perf_counter()
            exe(**model.eval_inputs)
            times[name].append(time.perf_counter() - t0)
    out = []
    for name, _ in LLVM_VARIANTS:
        r = rows[name]
        r["latency_ms"] = 1e3 * float(np.median(times[name]))
        r["latency_ms_min"] = 1e3 * float(np.min(times[name]))
        out.append(r)
        log(f"  llvm-cpu {name:<14} cos {r['cosine']:.5f} (min {r['cosine_min']:.5f})  K cache {r['kcache_bytes']:>8} B  "
            f"f32 copies {r['f32_copies_bytes']:>8} B  arena {r['arena_bytes']:>9} B  "
            f"median {r['latency_ms']:.2f} ms (min {r['latency_ms_min']:.2f})")
    return out


def _count_permuted(prog, base) -> int:
    """KV heads whose channels the program permutes (compares W_k columns with the original)."""
    if prog is base:
        return 0
    from tensorc.passes.attention_match import Statics, find_sites

    n = 0
    sb, sp = Statics(base.weights), Statics(prog.weights)
    for a, b in zip(find_sites(base.module, base.weights), find_sites(prog.module, prog.weights)):
        wa = sb.value(a.k.proj.matmul.operands[a.k.proj.weight_operand])
        wb = sp.value(b.k.proj.matmul.operands[b.k.proj.weight_operand])
        ax = a.k.proj.weight_axis
        for g in range(a.num_kv_heads):
            cols = a.k_cols[g]
            if not np.array_equal(np.take(wa, cols, axis=ax), np.take(wb, cols, axis=ax)):
                n += 1
    return n


def _program(text: str):
    from tensorc.ir_text import parse_module
    from tensorc.program import Program, signature_from_main

    prog = Program(parse_module(text))
    prog.signature = signature_from_main(prog.main)
    return prog


def _tensor(shape, elem="f32") -> str:
    return "tensor<" + "x".join(map(str, shape)) + f"x{elem}>"


def kernel_side_by_side(log, repeat: int = 200) -> list[dict]:
    """The K path alone, compiled for llvm-cpu (one thread), variants interleaved, median time:

    * ``kpath``: one MiniLM layer's K [8, 12, 32, 22] (blocks along D) quantized to BFP12_16 and read
      by Q·Kᵀ (Q [8, 12, 22, 32]) — quantization included: fp32 (no quantization), fake-quant
      (bfp-expand), packed+unpack, packed+fused;
    * ``decode``: reading a long K cache in one decode step (1 query, 8 heads, D = 128, 4096 cached
      tokens, BFP12_32): the cache is an input, f32 [1, 8, 128, 4096] or packed; fp32 matmul,
      packed+unpack, packed+fused. Packing is not timed (a decoder packs each token once).
    """
    import tensorc
    from tensorc.quant.packing import pack, packed_shape

    T = _tensor
    rng = np.random.default_rng(0)
    out = []
    for scenario, (B, H, S, D, Tn), fmt in (("kpath", (8, 12, 22, 32, 22), "bfp12_16"),
                                             ("decode", (1, 8, 1, 128, 4096), "bfp12_32")):
        qs, ks, os_ = (B, H, S, D), (B, H, D, Tn), (B, H, S, Tn)
        ps = packed_shape(ks, fmt, 2)
        q = rng.standard_normal(qs).astype(np.float32)
        k = (rng.standard_normal(ks) * np.exp(rng.standard_normal((D, 1)))).astype(np.float32)
        mm = f"tg.matmul(%q, %k) : ({T(qs)}, {T(ks)}) -> {T(os_)}"
        f32 = _program(f"func.func @main(%q: {T(qs)}, %k: {T(ks)}) -> {T(os_)} {{\n %s = {mm}\n"
                       f" func.return %s : {T(os_)}\n}}")
        variants = [("fp32", f32, (q, k), 4 * k.size)]
        unpack = f"bfp.unpack(%p) {{axis = 2 : i64, format = \"{fmt}\", length = {D} : i64}} : ({T(ps, 'ui8')}) -> {T(ks)}"
        fused = f"bfp.matmul(%q, %p) {{format = \"{fmt}\", length = {D} : i64}} : ({T(qs)}, {T(ps, 'ui8')}) -> {T(os_)}"
        nbytes = int(np.prod(ps))
        if scenario == "kpath":
            enc = f"#bfp.format<{fmt.split('_')[0]}, block = {fmt.split('_')[1]}>"
            quant = _program(
                f"func.func @main(%q: {T(qs)}, %k0: {T(ks)}) -> {T(os_)} {{\n"
                f" %e = bfp.quantize(%k0) {{axis = 2 : i64}} : ({T(ks)}) -> tensor<{'x'.join(map(str, ks))}xf32, {enc}>\n"
                f" %k = bfp.dequantize(%e) : (tensor<{'x'.join(map(str, ks))}xf32, {enc}>) -> {T(ks)}\n"
                f" %s = {mm}\n func.return %s : {T(os_)}\n}}")
            variants += [("fake-quant", tensorc.lower(quant, "bfp-expand"), (q, k), 4 * k.size),
                         ("packed+unpack", tensorc.lower(quant, "bfp-pack{fuse=false}"), (q, k), nbytes),
                         ("packed+fused", tensorc.lower(quant, "bfp-pack"), (q, k), nbytes)]
        else:
            p = pack(k, fmt, 2)
            head = f"func.func @main(%q: {T(qs)}, %p: {T(ps, 'ui8')}) -> {T(os_)} {{\n"
            variants += [("packed+unpack", _program(head + f" %k = {unpack}\n %s = {mm}\n func.return %s : {T(os_)}\n}}"),
                          (q, p), nbytes),
                         ("packed+fused", _program(head + f" %s = {fused}\n func.return %s : {T(os_)}\n}}"), (q, p), nbytes)]
        exact = np.matmul(q.astype(np.float64), k.astype(np.float64))
        exes = []
        for name, prog, args, kbytes in variants:
            exe = tensorc.compile(prog, target="llvm-cpu", threads=1)
            got = exe(*args)["out0"]
            rel = float(np.linalg.norm(got - exact) / np.linalg.norm(exact))
            exes.append((name, exe, args, kbytes, rel))
        times = {name: [] for name, *_ in exes}
        for name, exe, args, *_ in exes:
            exe(*args)
        for _ in range(repeat):
            for name, exe, args, *_ in exes:
                t0 = time.perf_counter()
                exe(*args)
                times[name].append(time.perf_counter() - t0)
        for name, _, _, kbytes, rel in exes:
            r = dict(model="kernel", scenario=scenario, shape=[B, H, S, D, Tn], format="fp32" if name == "fp32" else fmt,
                     variant=name, target="llvm-cpu", kcache_bytes=kbytes, rel_err=rel,
                     latency_ms=1e3 * float(np.median(times[name])), latency_ms_min=1e3 * float(np.min(times[name])))
            out.append(r)
            log(f"  kernel {scenario:<7} {name:<14} K {kbytes:>9} B  rel err {rel:.2e}  "
                f"median {r['latency_ms']:.3f} ms (min {r['latency_ms_min']:.3f})")
    return out


def summarize(records: list[dict]) -> str:
    out = []
    kern = [r for r in records if r["model"] == "kernel"]
    records = [r for r in records if r["model"] != "kernel"]
    for model in dict.fromkeys(r["model"] for r in records):
        rows = [r for r in records if r["model"] == model and r["target"] == "reference"]
        out.append(f"\n### {model}\n")
        out.append("| format | n | bits/elem | rearrange | K channel SQNR dB | logits SQNR dB | zeroed | cosine (min) | heads permuted |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            out.append(f"| {r['format']} | {r['block']} | {r['bits_per_elem']:.3f} | {r['rearrange']} | "
                       f"{r['k_channel_sqnr_db']:.3f} | {r['logits_sqnr_db']:.3f} | {r['zeroed_frac']:.3f} | "
                       f"{r['cosine']:.5f} ({r['cosine_min']:.5f}) | {r['heads_permuted']}/{r['heads_total']} |")
        if rows:
            dqk = max(r["qk_rel_change"] for r in rows)
            out.append(f"\nLargest relative change of fp32 Q·Kᵀ over all layers and settings: {dqk:.1e}.")
        llvm = [r for r in records if r["model"] == model and r["target"] == "llvm-cpu"]
        if llvm:
            q = next(r for r in llvm if r["variant"] != "fp32")
            out.append(f"\nllvm-cpu, BFP12 n={q['block']} rearrange={q['rearrange']} (one thread, median of the "
                       f"interleaved runs):\n")
            out.append("| variant | cosine (min) | K cache bytes | f32 K copies bytes | arena bytes | median ms (min) |")
            out.append("|---|---|---|---|---|---|")
            for r in llvm:
                out.append(f"| {r['variant']} | {r['cosine']:.5f} ({r['cosine_min']:.5f}) | {r['kcache_bytes']} | "
                           f"{r['f32_copies_bytes']} | {r['arena_bytes']} | {r['latency_ms']:.2f} "
                           f"({r['latency_ms_min']:.2f}) |")
    if kern:
        out.append("\n### K path kernels (llvm-cpu, one thread, median of interleaved runs)\n")
        out.append("| scenario | variant | format | K bytes | rel. error vs fp64 | median ms (min) |")
        out.append("|---|---|---|---|---|---|")
        for r in kern:
            out.append(f"| {r['scenario']} {r['shape']} | {r['variant']} | {r['format']} | {r['kcache_bytes']} | "
                       f"{r['rel_err']:.2e} | {r['latency_ms']:.3f} ({r['latency_ms_min']:.3f}) |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tensorc bench bfp", description=__doc__.splitlines()[0])
    p.add_argument("--json", metavar="FILE", help="write the records as JSON")
    p.add_argument("--models", default="minilm,rope", help="comma-separated: minilm, rope (default: both)")
    p.add_argument("--quick", action="store_true",
                   help="one format per model (bfp12 at the smallest block); the decoder on 32 tokens")
    p.add_argument("--no-llvm", action="store_true", help="skip the llvm-cpu compiles of the best MiniLM setting")
    p.add_argument("--llvm-repeat", type=int, default=30, metavar="N",
                   help="timed rounds of the llvm-cpu side-by-side run (default 30)")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    loaders = {"minilm": load_minilm, "rope": (lambda: load_rope(batch=1, seq=32)) if args.quick else load_rope}
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in names if m not in loaders]
    if bad:
        p.error(f"unknown model(s) {', '.join(bad)} (choose from {', '.join(loaders)})")

    def log(msg):
        print(msg, flush=True)

    records = []
    for name in names:
        t0 = time.perf_counter()
        model = loaders[name]()
        if args.quick:
            model.configs = model.configs[:1]
        records += bench_model(model, log, llvm=(name == "minilm" and not args.no_llvm and not args.quick),
                               llvm_repeat=args.llvm_repeat)
        log(f"{name}: {time.perf_counter() - t0:.1f} s")
    if not args.no_llvm and not args.quick:
        records += kernel_side_by_side(log)
    print(summarize(records))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
