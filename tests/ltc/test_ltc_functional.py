"""The simulator's numerics: bit-exact with the lut ops on the integer path, within the documented
bound for f16 tables, and the vector unit against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ltc_helpers import linear_program, make_weight

from tensorc.ltc import LinearTiling, ProgramBuilder, Ref
from tensorc.quant import lut as L
from tensorc.runtime.ltc import simulate

BITS = [(1, False), (2, False), (3, False), (4, False), (2, True)]  # (bits, ternary)


def _ids(v):
    return f"W{v[0]}" + ("t" if v[1] else "")


@pytest.mark.parametrize("bits,ternary", BITS, ids=[_ids(b) for b in BITS])
@pytest.mark.parametrize("form", ["unsigned", "signed", "half"])
@pytest.mark.parametrize("m", [1, 5], ids=["gemv", "gemm"])
@pytest.mark.parametrize("epilogue", ["array", "vector"])
def test_integer_path_bit_exact(bits, ternary, form, m, epilogue):
    """i8 activations, exact i16 tables: y equals the direct integer dot product and lut.mpgemm bit for
    bit, with the epilogue in the arrays (lmma.dq) or on the vector unit (lmma + vdq)."""
    rng = np.random.default_rng(bits * 10 + m + len(form))
    k, n, group, ag = 256, 192, 64, 32
    w = make_weight(rng, n, k, bits, group, ternary=ternary, zero="int" if m == 1 else "odd")
    prog, (codes, scales, zeros), _ = linear_program(m, k, n, bits=bits, group=group, act_group=ag, form=form,
                                                     table_type="i16", codes=w[0], scales=w[1], zeros=w[2],
                                                     epilogue=epilogue)
    assert {i.op for i in prog.instrs} >= ({"lmma.dq"} if epilogue == "array" else {"lmma", "vdq"})
    x = rng.integers(-128, 128, (m, k)).astype(np.int8)
    y = simulate(prog, {"x": x}).outputs["y"]
    oracle = L.direct_integer_dot(x, codes, scales, zeros, group=group, act_group=ag)
    tables, ts = L.precompute(x, k, form, "i16", ag)
    ref = L.mpgemm(tables, ts, L.planes_from_codes(codes, bits, form), scales, zeros, k=k, n=n, bits=bits,
                   group=group, act_group=ag, form=form)
    assert y.dtype == np.float32 and np.array_equal(y, oracle) and np.array_equal(y, ref)


@pytest.mark.parametrize("form", ["unsigned", "signed", "half"])
@pytest.mark.parametrize("bits", [1, 2, 4])
def test_int8_tables_bit_exact(form, bits):
    """Quantized int8 tables (per-activation-group scales) are deterministic: equal to lut.mpgemm's."""
    rng = np.random.default_rng(bits)
    m, k, n, group, ag = 3, 512, 128, 128, 64
    prog, (codes, scales, zeros), _ = linear_program(m, k, n, bits=bits, group=group, act_group=ag, form=form,
                                                     table_type="i8", rng=rng)
    x = rng.integers(-128, 128, (m, k)).astype(np.int8)
    tables, ts = L.precompute(x, k, form, "i8", ag)
    ref = L.mpgemm(tables, ts, L.planes_from_codes(codes, bits, form), scales, zeros, k=k, n=n, bits=bits,
                   group=group, act_group=ag, form=form)
    assert np.array_equal(simulate(prog, {"x": x}).outputs["y"], ref)


@pytest.mark.parametrize("epilogue", ["array", "vector"])
def test_tiled_chunks_with_scale_phases_bit_exact(epilogue):
    """Forced small tiles: M, N and K chunks, accumulation of y across K chunks, scale columns that
    start mid-group (G = 128, act_group = 32, K chunks of 64 → phases 0 and 2 of s_div = 4)."""
    rng = np.random.default_rng(7)
    m, k, n, group, ag, bits = 5, 512, 200, 128, 32, 3
    til = LinearTiling(m_chunk=2, n_chunk=64, k_chunk=64, table_buffers=2, footprint=0)
    prog, (codes, scales, zeros), _ = linear_program(m, k, n, bits=bits, group=group, act_group=ag, form="half",
                                                     table_type="i16", tiling=til, rng=rng, epilogue=epilogue)
    assert sum(i.op == ("lmma.dq" if epilogue == "array" else "lmma") for i in prog.instrs) == 3 * 4 * 8
    x = rng.integers(-128, 128, (m, k)).astype(np.int8)
    y = simulate(prog, {"x": x}).outputs["y"]
    assert np.array_equal(y, L.direct_integer_dot(x, codes, scales, zeros, group=group, act_group=ag))


def _f16_bound(x, codes, scales, zeros, bits, group, ag):
    """docs/ltc.md §3.3: |Δy| ≤ 2^-11 · Σ_β |s|·(2^b − 1 + |2^b − 1 − 2z| + |z|)·Σ_{k∈β}|a_k| + 2^-20·Σ_β |s·R_β|."""
    m, k = x.shape
    blk = L.block_size(group, ag)
    nb = k // blk
    beta = np.arange(nb) * blk
    s = np.abs(scales[:, beta // group]).astype(np.float64)  # [N, NB]
    z = zeros[:, beta // group].astype(np.float64)
    coef = (2 ** bits - 1) + np.abs(2 ** bits - 1 - 2 * z) + np.abs(z)
    absum = np.abs(x.astype(np.float64)).reshape(m, nb, blk).sum(axis=2)  # [M, NB]
    wq = codes.astype(np.float64).reshape(codes.shape[0], nb, blk) - z[:, :, None]
    r = np.einsum("mbk,nbk->mnb", x.astype(np.float64).reshape(m, nb, blk), wq)
    return 2.0 ** -11 * np.einsum("nb,mb->mn", s * coef, absum) + 2.0 ** -20 * np.einsum("nb,mnb->mn", s, np.abs(r))


@pytest.mark.parametrize("form", ["unsigned", "signed", "half"])
@pytest.mark.parametrize("adt", ["f32", "f16"])
def test_fp16_tables_within_documented_bound(form, adt):
    rng = np.random.default_rng(3)
    m, k, n, group, ag, bits = 4, 256, 128, 64, 64, 2
    prog, (codes, scales, zeros), _ = linear_program(m, k, n, bits=bits, group=group, act_group=ag, form=form,
                                                     table_type="f16", adt=adt, rng=rng)
    x = (rng.standard_normal((m, k)) * 3).astype(np.float16 if adt == "f16" else np.float32)
    y = simulate(prog, {"x": x}).outputs["y"]
    tables, ts = L.precompute(x.astype(np.float32), k, form, "f32", ag)
    ref = L.mpgemm(tables, ts, L.planes_from_codes(codes, bits, form), scales, zeros, k=k, n=n, bits=bits,
                   group=group, act_group=ag, form=form)
    err = np.abs(y.astype(np.float64) - ref)
    bound = _f16_bound(x.astype(np.float32), codes, scales, zeros, bits, group, ag)
    assert np.all(err <= bound), float((err / bound).max())
    assert err.max() > 0  # f16 entries do round here: the bound is not vacuous


def test_fp16_zero_and_subnormal_entries_are_exact():
    """Activations on the f16 subnormal grid: every table entry is an exact f16 (zero or subnormal),
    and the ×2^i of each bit-plane must stay exact — the published RTL's exponent add would not."""
    rng = np.random.default_rng(5)
    m, k, n, group, ag, bits = 2, 128, 64, 64, 64, 4
    x = (rng.integers(-3, 4, (m, k)) * 2.0 ** -24).astype(np.float32)  # sums stay below 2^-14
    x[:, :16] = 0.0  # whole zero tables
    prog, (codes, scales, zeros), _ = linear_program(m, k, n, bits=bits, group=group, act_group=ag, form="half",
                                                     table_type="f16", adt="f32", rng=rng)
    tables, ts = L.precompute(x, k, "half", "f32", ag)
    assert np.all(np.abs(tables) < 2.0 ** -14) and np.any(tables == 0) and np.any(tables != 0)
    ref = L.mpgemm(tables, ts, L.planes_from_codes(codes, bits, "half"), scales, zeros, k=k, n=n, bits=bits,
                   group=group, act_group=ag, form="half")
    assert np.array_equal(simulate(prog, {"x": x}).outputs["y"], ref)


@pytest.mark.parametrize("table_type,adt", [("i16", "i8"), ("i8", "f32"), ("f16", "f32")])
@pytest.mark.parametrize("form", ["unsigned", "half"])
def test_lmma_dq_is_lmma_then_vdq_bit_for_bit(table_type, adt, form):
    """The array epilogue computes what lmma + vdq compute, for every table type (f16 tables round
    each block's sum to f32 first, as lmma stores it), with y continued across K chunks and scale
    phases; and it moves no accumulators through the scratchpad."""
    rng = np.random.default_rng(len(table_type) + len(form))
    m, k, n, group, ag, bits = 3, 384, 128, 128, 32, 2
    til = LinearTiling(m_chunk=3, n_chunk=128, k_chunk=64, table_buffers=1, footprint=0)
    w = make_weight(rng, n, k, bits, group)
    x = (rng.integers(-128, 128, (m, k)).astype(np.int8) if adt == "i8"
         else (rng.standard_normal((m, k)) * 2).astype(np.float32))
    runs = {}
    for epilogue in ("array", "vector"):
        prog, _, _ = linear_program(m, k, n, bits=bits, group=group, act_group=ag, form=form, table_type=table_type,
                                    adt=adt, codes=w[0], scales=w[1], zeros=w[2], tiling=til, epilogue=epilogue)
        runs[epilogue] = simulate(prog, {"x": x})
    y_arr, y_vec = runs["array"].outputs["y"], runs["vector"].outputs["y"]
    assert y_arr.view(np.int32).tolist() == y_vec.view(np.int32).tolist()
    if table_type != "f16":
        tables, ts = L.precompute(x, k, form, table_type, ag)
        ref = L.mpgemm(tables, ts, L.planes_from_codes(w[0], bits, form), w[1], w[2], k=k, n=n, bits=bits,
                       group=group, act_group=ag, form=form)
        assert np.array_equal(y_arr, ref)
    # accumulators: 6 K chunks × [2 blocks, 3, 128] i32 written and read back by vdq; none with lmma.dq
    e_arr, e_vec = runs["array"].report["energy_nj"], runs["vector"].report["energy_nj"]
    assert e_arr["sram"] < e_vec["sram"] and e_arr["epilogue"] > 0 and "epilogue" not in e_vec


def test_lmma_dq_wraps_int32_like_lmma():
    """A block sum that overflows i32 wraps inside the array exactly as lmma stores it."""
    k, n, m = 20000, 64, 1  # 5000 groups × 15 × 32767 > 2^31
    outs = {}
    for op in ("lmma.dq", "lmma"):
        b = ProgramBuilder(1 << 20)
        tab_d = b.constant("tab", np.full((m, k // 4, 16), 32767, np.int16))
        w_d = b.constant("w", np.full((4, n, k // 8), 0xFF, np.uint8))  # every index 15 on 4 planes
        sz_d = b.constant("sz", np.concatenate([np.ones(n, np.float32), np.zeros(n, np.float32),
                                                np.ones(m, np.float32)]))
        y_o = b.output("y", (m, n), "f32")
        TAB, W, SZ, ACC, SUMS, Y = 0, 0x30000, 0xE0000, 0xE1000, 0xE2000, 0xE3000
        b.dma_load(spad=TAB, dram=tab_d.addr, row_bytes=tab_d.nbytes)
        b.dma_load(spad=W, dram=w_d.addr, row_bytes=w_d.nbytes)
        b.dma_load(spad=SZ, dram=sz_d.addr, row_bytes=sz_d.nbytes)
        look = dict(tab=TAB, tab_stride=k // 4 * 32, table_type="i16", form="unsigned", w=W, w_row=k // 8,
                    w_plane=n * k // 8, bits=4, m=m, n=n, k=k, block=k)
        scale = dict(scales=SZ, zeros=SZ + n * 4, s_stride=4, ts=SZ + 8 * n, ts_stride=4, y=Y)
        if op == "lmma.dq":
            b.lmma_dq(**look, **scale)
        else:
            b.lmma(**look, acc=ACC, sums=SUMS)
            b.dequant(acc=ACC, sums=SUMS, m=m, n=n, nb=1, bits=4, form="unsigned", **scale)
        b.dma_store(dram=y_o.addr, spad=Y, row_bytes=m * n * 4)
        res = simulate(b.build(), {})
        outs[op] = (res.outputs["y"], res.report["acc_overflows"])
    wrapped = (15 * (k // 4) * 32767 + 2 ** 31) % 2 ** 32 - 2 ** 31
    assert wrapped < 0 and np.all(outs["lmma.dq"][0] == np.float32(wrapped)) and outs["lmma.dq"][1] > 0
    assert np.array_equal(outs["lmma.dq"][0], outs["lmma"][0]) and outs["lmma.dq"][1] == outs["lmma"][1]


def _vec_prog(rows, cols):
    b = ProgramBuilder(1 << 20)
    xa = b.input("x", (rows, cols), "f32")
    return b, xa


def test_fused_precompute_equals_unfused_and_hides_the_table_pass():
    """x f32 → vquant → (fused) pre → lmma → vdq; the fused program computes the same bits, and the
    precompute unit never runs."""
    rng = np.random.default_rng(11)
    m, k, n, bits, group, ag = 2, 256, 128, 2, 64, 64
    codes, scales, zeros = make_weight(rng, n, k, bits, group)
    x = rng.standard_normal((m, k)).astype(np.float32)
    outs, reps = [], []
    for fused in (False, True):
        from tensorc.ltc.kernels import place_weight
        b = ProgramBuilder(1 << 20)
        xa = b.input("x", (m, k), "f32")
        ya = b.output("y", (m, n), "f32")
        wt = place_weight(b, "w", codes, scales, zeros, bits=bits, group=group, form="half", n_chunk=n, k_chunk=k)
        X, XQ, SX, TAB, TS = 0, 4096, 8192, 16384, 32768
        W, SC, ZP, ACC, SUMS, Y = 40960, 65536, 69632, 73728, 90112, 94208
        addr, rows_, kb, nbytes = wt.tile(0, 0)  # weights first: the activations' path is then critical
        b.dma_load(spad=W, dram=addr, row_bytes=nbytes)
        b.dma_load(spad=SC, dram=wt.scales.addr, row_bytes=n * (k // group) * 4)
        b.dma_load(spad=ZP, dram=wt.zeros.addr, row_bytes=n * (k // group) * 4)
        b.dma_load(spad=X, dram=xa.addr, rows=m, row_bytes=k * 4)
        b.vquant(dst=Ref(XQ, k, "i8"), src=Ref(X, k * 4, "f32"), rows=m, cols=k, scales=SX)
        b.precompute(Ref(XQ, k, "i8"), m=m, k=k, tab=TAB, ts=TS, table_type="i16", form="half", act_group=ag,
                     fused=fused)
        b.lmma(tab=TAB, tab_stride=(k // 4) * 8 * 2, table_type="i16", form="half", w=W, w_row=kb, w_plane=n * kb,
               bits=bits, m=m, n=n, k=k, block=64, acc=ACC, sums=SUMS)
        b.dequant(acc=ACC, sums=SUMS, m=m, n=n, nb=k // 64, bits=bits, form="half", scales=SC, zeros=ZP,
                  s_stride=(k // group) * 4, ts=TS, ts_stride=(k // ag) * 4, y=Y)
        b.dma_store(dram=ya.addr, spad=Y, rows=m, row_bytes=n * 4)
        res = simulate(b.build(), {"x": x})
        outs.append(res.outputs["y"])
        reps.append(res.report)
    assert np.array_equal(outs[0], outs[1])
    s = np.abs(x).max(axis=1) / np.float32(127)
    xq = np.clip(np.rint(x / s[:, None]), -127, 127).astype(np.int8)
    assert np.array_equal(outs[0], L.direct_integer_dot(xq, codes, scales, zeros, group=group, act_group=ag))
    plain, fused = reps
    assert plain["units"]["pre"]["instructions"] == 1 and fused["units"]["pre"]["instructions"] == 0
    assert fused["precompute"]["fused_instructions"] == 1 and fused["precompute"]["standalone_cycles"] == 0
    assert plain["units"]["lmma"]["scoreboard_stall_cycles"].get("pre", 0) > 0
    assert fused["cycles"] < plain["cycles"]


def test_lmma_accumulate_and_int32_wraparound():
    """acc (+)= with accum=1; i32 accumulators wrap like an adder and the report counts it."""
    k, n, m = 4096, 64, 2
    b = ProgramBuilder(1 << 20)
    tab_d = b.constant("tab", np.full((m, k // 4, 16), 32767, np.int16))
    w_d = b.constant("w", np.full((4, n, k // 8), 0xFF, np.uint8))  # every index 15 on 4 planes
    acc_o = b.output("acc", (1, m, n), "i32")
    b.dma_load(spad=0, dram=tab_d.addr, row_bytes=tab_d.nbytes)
    b.dma_load(spad=262144, dram=w_d.addr, row_bytes=w_d.nbytes)
    for i in range(5):
        b.lmma(tab=0, tab_stride=k // 4 * 32, table_type="i16", form="signed", w=262144, w_row=k // 8,
               w_plane=n * k // 8, bits=4, m=m, n=n, k=k, block=k, acc=524288, sums=600000, accum=i > 0)
    b.dma_store(dram=acc_o.addr, spad=524288, row_bytes=m * n * 4)
    res = simulate(b.build(), {})
    exact = 5 * 15 * (k // 4) * 32767
    wrapped = (exact + 2 ** 31) % 2 ** 32 - 2 ** 31
    assert np.all(res.outputs["acc"] == wrapped) and res.report["acc_overflows"] > 0


def _run_vec(emit, inputs: dict, outputs: dict, spad=1 << 16):
    """Load each input to the scratchpad, run `emit(b, addr)` and store the outputs back."""
    b = ProgramBuilder(spad)
    addr, pos = {}, 0
    for name, a in inputs.items():
        t = b.input(name, a.shape, {np.float32: "f32", np.float16: "f16", np.int8: "i8", np.int32: "i32"}[a.dtype.type])
        addr[name] = pos
        b.dma_load(spad=pos, dram=t.addr, row_bytes=t.nbytes)
        pos += -(-t.nbytes // 64) * 64
    outs = {}
    for name, (shape, dt) in outputs.items():
        addr[name] = pos
        outs[name] = b.output(name, shape, dt)
        pos += -(-outs[name].nbytes // 64) * 64
    emit(b, addr)
    for name, t in outs.items():
        b.dma_store(dram=t.addr, spad=addr[name], row_bytes=t.nbytes)
    return simulate(b.build(), inputs).outputs


def test_vector_unit_against_numpy():
    rng = np.random.default_rng(2)
    r, c = 5, 24
    x = rng.standard_normal((r, c)).astype(np.float32)
    y = rng.standard_normal((r, c)).astype(np.float32) + 3
    row = rng.standard_normal((1, c)).astype(np.float32)
    col = rng.standard_normal((r, 1)).astype(np.float32)
    gamma = rng.standard_normal((1, c)).astype(np.float32)
    beta = rng.standard_normal((1, c)).astype(np.float32)
    F = lambda a: Ref(a, c * 4, "f32")  # noqa: E731

    def emit(b, A):
        b.vbin("add", dst=F(A["add"]), a=F(A["x"]), b=Ref(A["row"], c * 4, "f32"), rows=r, cols=c, bcast="row")
        b.vbin("div", dst=F(A["div"]), a=F(A["x"]), b=F(A["y"]), rows=r, cols=c)
        b.vbin("max", dst=F(A["max"]), a=F(A["x"]), b=Ref(A["col"], 4, "f32"), rows=r, cols=c, bcast="col")
        b.vbin("mul", dst=F(A["mul"]), a=F(A["x"]), b=Ref(A["col"], 4, "f32"), rows=r, cols=c, bcast="scalar")
        b.vunary("gelu", dst=F(A["gelu"]), src=F(A["x"]), rows=r, cols=c)
        b.vunary("silu", dst=F(A["silu"]), src=F(A["x"]), rows=r, cols=c)
        b.vunary("copy", dst=Ref(A["t"], r * 4, "f32"), src=F(A["x"]), rows=r, cols=c, trans=True)
        b.vunary("copy", dst=Ref(A["h"], c * 2, "f16"), src=F(A["x"]), rows=r, cols=c)
        b.vaffine(dst=Ref(A["i8"], c, "i8"), src=F(A["x"]), rows=r, cols=c, alpha=100.0, beta=0.5)
        b.vnorm("layernorm", dst=F(A["ln"]), src=F(A["x"]), rows=r, cols=c, gamma=A["gamma"], beta=A["beta"], eps=1e-5)
        b.vnorm("rmsnorm", dst=F(A["rms"]), src=F(A["x"]), rows=r, cols=c, gamma=A["gamma"], eps=1e-6)
        b.vsoftmax(dst=F(A["sm"]), src=F(A["x"]), rows=r, cols=c, scale=0.5, causal=True, qoff=2)
        b.vquant(dst=Ref(A["q"], c, "i8"), src=F(A["x"]), rows=r, cols=c, scales=A["qs"])
        b.vmatmul(c=Ref(A["mm"], r * 4, "f32"), a=F(A["x"]), b=F(A["y"]), m=r, n=r, k=c, transb=True)

    outs = {"add": ((r, c), "f32"), "div": ((r, c), "f32"), "max": ((r, c), "f32"), "mul": ((r, c), "f32"),
            "gelu": ((r, c), "f32"), "silu": ((r, c), "f32"), "t": ((c, r), "f32"), "h": ((r, c), "f16"),
            "i8": ((r, c), "i8"), "ln": ((r, c), "f32"), "rms": ((r, c), "f32"), "sm": ((r, c), "f32"),
            "q": ((r, c), "i8"), "qs": ((r,), "f32"), "mm": ((r, r), "f32")}
    o = _run_vec(emit, {"x": x, "y": y, "row": row, "col": col, "gamma": gamma, "beta": beta}, outs)
    assert np.array_equal(o["add"], x + row)
    assert np.array_equal(o["div"], x / y)
    assert np.array_equal(o["max"], np.maximum(x, col))
    assert np.array_equal(o["mul"], x * col[0, 0])
    d = x.astype(np.float64)
    erf = np.vectorize(math.erf)
    assert np.array_equal(o["gelu"], (0.5 * d * (1 + erf(d / math.sqrt(2)))).astype(np.float32))
    assert np.allclose(o["silu"], d / (1 + np.exp(-d)), rtol=1e-6, atol=1e-7)
    assert np.array_equal(o["t"], x.T) and np.array_equal(o["h"], x.astype(np.float16))
    assert np.array_equal(o["i8"], np.clip(np.rint(x * np.float32(100) + np.float32(0.5)), -128, 127))
    mu, var = d.mean(1, keepdims=True), d.var(1, keepdims=True)
    assert np.allclose(o["ln"], (d - mu) / np.sqrt(var + 1e-5) * gamma + beta, rtol=1e-6, atol=1e-6)
    assert np.allclose(o["rms"], d / np.sqrt((d * d).mean(1, keepdims=True) + 1e-6) * gamma, rtol=1e-6, atol=1e-6)
    logits = np.where(np.arange(c)[None, :] > np.arange(r)[:, None] + 2, -np.inf, d * 0.5)
    e = np.exp(logits - logits.max(1, keepdims=True))
    assert np.allclose(o["sm"], e / e.sum(1, keepdims=True), rtol=1e-6, atol=1e-7)
    assert np.all(o["sm"][0, 3:] == 0)
    s = np.abs(x).max(1) / np.float32(127)
    assert np.array_equal(o["qs"], s) and np.array_equal(o["q"], np.clip(np.rint(x / s[:, None]), -127, 127))
    assert np.allclose(o["mm"], d @ y.astype(np.float64).T, rtol=1e-6, atol=1e-6)
