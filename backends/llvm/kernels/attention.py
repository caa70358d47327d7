"""ONNX Attention (opsets 23-25): softmax(Q K^T * scale [softcap] + bias) V per (batch, head, query).

Operands are Q, K, V and, by `operand_slots`, the optional attn_mask, past_key,
past_value, nonpad_kv_seqlen; results are Y, present_key, present_value,
qk_matmul_output (positional). Q/K/V are 4-D (B, H, L, D) or 3-D (B, L, H*D).

One pass per query row: the scores go to a stack row `s[Ltotal]` (compute type
f32, f64 if an input is f64), with the additive bias (mask, causal, windows,
padding) tracked separately so that a fully masked row gives zeros (as the
reference). Keys come from past_key then K (two loops, no select per element);
the output row is accumulated in a stack vector `acc[Dv]` with the value
dimension innermost (contiguous in V).
"""

from __future__ import annotations

import math as pymath

from xdsl.dialects import arith, builtin as B, math

from ..kernel_builder import KernelBuilder
from . import UnsupportedKernel, kernel
from .data import raw_load, raw_store
from .elementwise import broadcast_index
from .kit import (
    addf, cmpf, cmpi, delinearize, divf, etype, fc, from_compute, is_float, load_c, load_index, mulf, or_, scratch, sel, shape,
    store_c, sub, subf, to_compute,
)

SLOTS = ["q", "k", "v", "mask", "past_k", "past_v", "nonpad"]


@kernel("attention")
def attention(kb: KernelBuilder, ins, outs, op) -> None:
    slots = op.attr("operand_slots") or list(range(len(ins)))
    by = {SLOTS[s]: (buf, op.inputs[i]) for i, (s, buf) in enumerate(zip(slots, ins))}
    q, qv = by["q"]
    k, kv = by["k"]
    v, vv = by["v"]
    tq, tk, tv = etype(qv), etype(kv), etype(vv)
    for t in (tq, tk, tv):
        if not is_float(t):
            raise UnsupportedKernel(f"{op.where()}: attention on {t}")
    ct = B.f64 if any(isinstance(t, B.Float64Type) for t in (tq, tk, tv)) else B.f32
    sp = op.attr("softmax_precision")
    st = B.f64 if sp == 11 else ct
    three_d = len(shape(q)) == 3
    qs, ks, vs = shape(q), shape(k), shape(v)
    bsz = qs[0]
    if three_d:
        hq, hk = op.attr("q_num_heads"), op.attr("kv_num_heads")
        lq, lk = qs[1], ks[1]
        dk, dv = qs[2] // hq, vs[2] // hk
    else:
        hq, lq, dk = qs[1:]
        hk, lk = ks[1], ks[2]
        dv = vs[3]
    past_k = by.get("past_k", (None, None))[0]
    past_v = by.get("past_v", (None, None))[0]
    lp = shape(past_k)[2] if past_k is not None else 0
    lt = lp + lk
    group = hq // hk
    scale = op.attr("scale")
    if scale is None:
        scale = 1.0 / pymath.sqrt(dk)
    softcap = op.attr("softcap") or 0.0
    mode = op.attr("qk_matmul_output_mode")
    causal = op.attr("is_causal")
    left, right = op.attr("left_window_size"), op.attr("right_window_size")
    left = -1 if left is None else left
    right = -1 if right is None else right
    n_out = len(outs)
    y = outs[0]
    qk_out = outs[3] if n_out > 3 else None
    mask = by.get("mask", (None, None))
    nonpad = by.get("nonpad", (None, None))
    if mask[0] is not None and shape(mask[0])[-1] > lt:
        raise UnsupportedKernel(f"{op.where()}: mask longer than the keys")

    def kidx(b, h, j, d, new):  # index into K/V (new keys) or the past cache
        if not new:
            return [b, h, j, d]
        return [b, j, kb.add(kb.mul(h, dk if new == "k" else dv), d)] if three_d else [b, h, j, d]

    # ---- present_key / present_value: concat(past, new) in the 4-D layout
    for out_i, (src_new, src_past, width) in ((1, (k, past_k, dk)), (2, (v, past_v, dv))):
        if n_out <= out_i:
            continue
        dst = outs[out_i]
        tag = "k" if out_i == 1 else "v"
        if src_past is not None:
            with kb.loops([bsz, hk, lp, width]) as (b, h, j, d):
                raw_store(kb, raw_load(kb, src_past, [b, h, j, d]), dst, [b, h, j, d])
        with kb.loops([bsz, hk, lk, width]) as (b, h, j, d):
            raw_store(kb, raw_load(kb, src_new, kidx(b, h, j, d, tag)), dst, [b, h, kb.add(j, lp), d])

    if lq == 0:
        return
    srow = scratch(kb, ct, [lt])
    brow = scratch(kb, B.i1, [lt])  # key j not masked out by the bias
    acc = scratch(kb, ct, [dv])
    ninf = fc(kb, float("-inf"), ct)
    zero = fc(kb, 0.0, ct)

    def ld(buf, t, idx):
        x = load_c(kb, buf, idx, t)
        return x if x.type == ct else kb.op(arith.ExtFOp(x, ct))

    with kb.loops([bsz, hq, lq]) as (b, h, i):
        g = kb.op(arith.DivUIOp(h, kb.idx(group))) if group > 1 else h
        qidx = (lambda d: [b, i, kb.add(kb.mul(h, dk), d)]) if three_d else (lambda d: [b, h, i, d])
        # query position offset (for causal / windows): the past length, else nonpad[b] - Lq
        npad = None
        if nonpad[0] is not None:  # nonpad flattened, one length per batch item
            ns = shape(nonpad[0])
            npad = load_index(kb, nonpad[0], delinearize(kb, b, ns) if len(ns) != 1 else [b], etype(nonpad[1]))
        if past_k is not None or npad is None:
            offset = kb.idx(lp)
        else:
            offset = sub(kb, npad, lq)
        qpos = kb.add(i, offset)

        # ---- scores (and the qk output for modes 0-2)
        def score_loop(new: bool):
            n = lk if new else lp
            if n == 0:
                return
            kbuf = k if new else past_k
            with kb.loop(0, n) as jj:
                j = kb.add(jj, lp) if new else jj
                dot = kb.fold([dk], [zero], lambda ds, a: [addf(kb, a[0], mulf(kb, ld(q, tq, qidx(ds[0])),
                                                                                  ld(kbuf, tk, kidx(b, g, jj, ds[0], "k" if new else None))))])[0]
                s = mulf(kb, dot, fc(kb, scale, ct))
                raw = s
                if softcap > 0:
                    s = mulf(kb, fc(kb, softcap, ct), kb.op(math.TanhOp(divf(kb, s, fc(kb, softcap, ct)))))
                bias, ok = _bias(kb, j, qpos, npad, b, h, i, mask, causal, left, right, lt, ct, zero, ninf)
                sb = addf(kb, s, bias)
                kb.store(sb, srow, [j])
                kb.store(ok, brow, [j])
                if qk_out is not None and mode in (0, 1, 2):
                    val = {0: raw, 1: s, 2: sb}[mode]
                    store_c(kb, val, qk_out, [b, h, i, j], etype(op.outputs[3]))

        score_loop(False)
        score_loop(True)

        # ---- softmax over the row (max-shifted; an all -inf row uses 0 as its max)
        def ldst(j):
            x = kb.load(srow, [j])
            return x if st == ct else kb.op(arith.ExtFOp(x, st))

        mx, anyok = kb.fold([lt], [fc(kb, float("-inf"), st), kb.const(0, B.i1)],
                            lambda js, a: [kb.op(arith.MaximumfOp(a[0], ldst(js[0]))), or_(kb, a[1], kb.load(brow, js))])
        is_inf = cmpf(kb, mx, fc(kb, float("-inf"), st), "oeq")
        mx = sel(kb, is_inf, fc(kb, 0.0, st), mx)

        def esum(js, a):
            e = kb.op(math.ExpOp(subf(kb, ldst(js[0]), mx)))
            kb.store(e if st == ct else kb.op(arith.TruncFOp(e, ct)), srow, js)
            return [addf(kb, a[0], e)]

        (den,) = kb.fold([lt], [fc(kb, 0.0, st)], esum)
        den = sel(kb, cmpf(kb, den, fc(kb, 0.0, st), "oeq"), fc(kb, 1.0, st), den)
        inv = divf(kb, fc(kb, 1.0, st), den)
        with kb.loop(0, dv) as d:
            kb.store(zero, acc, [d])
        with kb.loop(0, lt) as j:
            e = kb.load(srow, [j])
            p = mulf(kb, e if st == ct else kb.op(arith.ExtFOp(e, st)), inv)
            p = p if st == ct else kb.op(arith.TruncFOp(p, ct))
            p = sel(kb, anyok, p, zero)  # a fully masked row gives zeros
            if qk_out is not None and mode == 3:
                store_c(kb, p, qk_out, [b, h, i, j], etype(op.outputs[3]))
            if not isinstance(tq, (B.Float32Type, B.Float64Type)):
                p = to_compute(kb, from_compute(kb, p, tq), tq)  # the softmax is cast to Q's type
                if p.type != ct:
                    p = kb.op(arith.ExtFOp(p, ct))
            # acc += p * V[j]
            is_past = cmpi(kb, j, kb.idx(lp), "slt") if lp else None
            if lp:
                jn = kb.op(arith.MaxSIOp(sub(kb, j, lp), kb.idx(0)))
                jp = kb.op(arith.MinSIOp(j, kb.idx(lp - 1)))
            with kb.loop(0, dv) as d:
                if lp:
                    vv_ = sel(kb, is_past, ld(past_v, etype(by["past_v"][1]), [b, g, jp, d]), ld(v, tv, kidx(b, g, jn, d, "v")))
                else:
                    vv_ = ld(v, tv, kidx(b, g, j, d, "v"))
                kb.store(addf(kb, kb.load(acc, [d]), mulf(kb, p, vv_)), acc, [d])
        with kb.loop(0, dv) as d:
            yidx = [b, i, kb.add(kb.mul(h, dv), d)] if three_d else [b, h, i, d]
            store_c(kb, kb.load(acc, [d]), y, yidx, etype(op.outputs[0]))


def _bias(kb, j, qpos, npad, b, h, i, mask, causal, left, right, lt, ct, zero, ninf):
    """(additive bias of key j for this query, whether it is finite-or-unmasked)."""
    bias = zero
    ok = kb.const(1, B.i1)
    mbuf, mval = mask
    if mbuf is not None:
        ms = shape(mbuf)
        mt = etype(mval)
        full = [b, h, i, j]
        last = ms[-1]
        jj = kb.op(arith.MinSIOp(j, kb.idx(last - 1))) if last < lt else j
        idx = broadcast_index(kb, ms[:-1], full[:-1]) + [jj]
        if isinstance(mt, B.IntegerType) and mt.width.data == 1:
            keep = kb.load(mbuf, idx)
            mb = sel(kb, keep, zero, ninf)
        else:
            mb = load_c(kb, mbuf, idx, mt)
            if mb.type != ct:
                mb = kb.op(arith.ExtFOp(mb, ct) if ct.bitwidth > mb.type.bitwidth else arith.TruncFOp(mb, ct))
        if last < lt:
            mb = sel(kb, cmpi(kb, j, kb.idx(last), "slt"), mb, ninf)
        bias = addf(kb, bias, mb)
    diff = sub(kb, qpos, j)  # query position - key position
    conds = []
    if causal:
        conds.append(cmpi(kb, diff, kb.idx(0), "sge"))
    if left >= 0:
        conds.append(cmpi(kb, diff, kb.idx(left), "sle"))
    if right >= 0:
        conds.append(cmpi(kb, sub(kb, kb.idx(0), diff), kb.idx(right), "sle"))
    if npad is not None:
        conds.append(cmpi(kb, j, npad, "slt"))
    for c in conds:
        bias = addf(kb, bias, sel(kb, c, zero, ninf))
    ok = cmpf(kb, bias, ninf, "une")
    return bias, ok
