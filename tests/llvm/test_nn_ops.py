"""Softmax family, normalizations, pooling, transposed convolution and attention compiled for
llvm-cpu, checked against the reference interpreter (attribute variants and float types)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP, helper

import difftest
from difftest import NP, Graph, check

RNG = np.random.default_rng(11)
NAMES = {v: TP.DataType.Name(v).lower() for v in NP}
TOL = {TP.FLOAT: (1e-5, 1e-6), TP.DOUBLE: (1e-12, 1e-12), TP.FLOAT16: (2e-3, 1e-3), TP.BFLOAT16: (1.6e-2, 1e-2)}


def _f(t, shape, scale=1.0):
    return (RNG.normal(0, scale, shape)).astype(NP[t])


def _multi(g, op, ins, outs, **attrs):
    """A node with several outputs: outs = [(name, type, shape)]."""
    g.nodes.append(helper.make_node(op, ins, [n for n, _, _ in outs], name=outs[0][0], **attrs))
    g.outputs += [o for o in outs if o[0]]


@pytest.mark.parametrize("t", [TP.FLOAT, TP.DOUBLE, TP.FLOAT16, TP.BFLOAT16], ids=NAMES.get)
def test_softmax_family(t):
    x = _f(t, (2, 3, 5), 3.0)
    g = Graph()
    g.input("x", x)
    for op in ("Softmax", "LogSoftmax", "Hardmax"):
        for axis in (-1, 1, 0):
            g.node(op, ["x"], f"{op}_{axis}", t, [2, 3, 5], axis=axis)
    g.input("ties", np.array([[1, 3, 3, 0], [2, 2, 2, 2]], NP[t]))
    g.node("Hardmax", ["ties"], "hardmax_ties", t, [2, 4])
    check(g, default=TOL[t])


@pytest.mark.parametrize("t", [TP.FLOAT, TP.FLOAT16], ids=NAMES.get)
def test_normalizations(t):
    x = _f(t, (2, 4, 3, 5), 2.0)
    g = Graph()
    g.input("x", x)
    for axis in (-1, 1):
        shp = [2, 4, 3, 5]
        stat = shp[:axis % 4] + [1] * (4 - axis % 4)
        inner = shp[axis % 4:]
        sc = g.const(f"ln_s{axis}", _f(t, inner))
        b = g.const(f"ln_b{axis}", _f(t, inner))
        _multi(g, "LayerNormalization", ["x", sc, b],
               [(f"ln_{axis}", t, shp), (f"ln_mean_{axis}", TP.FLOAT, stat), (f"ln_istd_{axis}", TP.FLOAT, stat)],
               axis=axis, epsilon=1e-3)
        g.node("RMSNormalization", ["x", sc], f"rms_{axis}", t, shp, axis=axis)
    g.node("LayerNormalization", ["x", g.const("ln_s1", _f(t, [5]))], "ln_nobias", t, [2, 4, 3, 5])
    c4 = lambda n: g.const(n, _f(t, [4]))  # noqa: E731
    g.node("InstanceNormalization", ["x", c4("in_s"), c4("in_b")], "instnorm", t, [2, 4, 3, 5], epsilon=1e-2)
    g.node("GroupNormalization", ["x", c4("gn_s"), c4("gn_b")], "groupnorm", t, [2, 4, 3, 5], num_groups=2)
    g.node("LRN", ["x"], "lrn", t, [2, 4, 3, 5], size=3, alpha=1e-2, beta=0.6, bias=2.0)
    g.node("LRN", ["x"], "lrn_even", t, [2, 4, 3, 5], size=2)
    for p in (1, 2):
        g.node("LpNormalization", ["x"], f"lpnorm_{p}", t, [2, 4, 3, 5], axis=1, p=p)
    g.input("z", np.zeros((2, 3), NP[t]))
    g.node("LpNormalization", ["z"], "lpnorm_zero", t, [2, 3])
    g.node("MeanVarianceNormalization", ["x"], "mvn", t, [2, 4, 3, 5])
    g.node("MeanVarianceNormalization", ["x"], "mvn_axes", t, [2, 4, 3, 5], axes=[1, -1])
    bn = [g.const(f"bn{i}", np.abs(_f(t, [4])) + 0.5) for i in range(4)]
    g.node("BatchNormalization", ["x"] + bn, "batchnorm", t, [2, 4, 3, 5])
    check(g, default=TOL[t] if t != TP.FLOAT else (1e-4, 1e-5))


def test_pools():
    x = _f(TP.FLOAT, (1, 2, 5, 6))
    g = Graph()
    g.input("x", x)
    for name, attrs in [
        ("basic", dict(kernel_shape=[2, 2])),
        ("pads_strides", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])),
        ("ceil", dict(kernel_shape=[3, 2], strides=[2, 2], ceil_mode=1)),
        ("dil", dict(kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 0, 1, 0])),
    ]:
        from tensorc.backends.reference.kernels.nn import pool_output_size

        k, s = attrs["kernel_shape"], attrs.get("strides", [1, 1])
        d, p = attrs.get("dilations", [1, 1]), attrs.get("pads", [0, 0, 0, 0])
        osp = [pool_output_size(x.shape[2 + i], k[i], s[i], d[i], p[i], p[2 + i], attrs.get("ceil_mode", 0))
               for i in range(2)]
        shp = [1, 2] + osp
        for order in ((0, 1) if name == "pads_strides" else (0,)):
            _multi(g, "MaxPool", ["x"], [(f"max_{name}_{order}", TP.FLOAT, shp), (f"maxi_{name}_{order}", TP.INT64, shp)],
                   storage_order=order, **attrs)
        for cip in (0, 1):
            g.node("AveragePool", ["x"], f"avg_{name}_{cip}", TP.FLOAT, shp, count_include_pad=cip, **attrs)
        g.node("LpPool", ["x"], f"lp_{name}", TP.FLOAT, shp, p=3 if name in ("basic", "ceil") else 2, **attrs)
    g.input("xu", RNG.integers(0, 255, (1, 1, 4, 4)).astype(np.uint8))
    g.input("xi", RNG.integers(-128, 127, (1, 1, 4, 4)).astype(np.int8))
    g.node("MaxPool", ["xu"], "max_u8", TP.UINT8, [1, 1, 2, 2], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    g.node("MaxPool", ["xi"], "max_i8", TP.INT8, [1, 1, 3, 3], kernel_shape=[2, 2])
    g.input("x1", _f(TP.FLOAT, (2, 3, 7)))
    _multi(g, "MaxPool", ["x1"], [("max_1d", TP.FLOAT, [2, 3, 3]), ("maxi_1d", TP.INT64, [2, 3, 3])], kernel_shape=[3],
           strides=[2])
    g.input("x3", _f(TP.FLOAT16, (1, 2, 3, 4, 4)))
    g.node("AveragePool", ["x3"], "avg_3d", TP.FLOAT16, [1, 2, 2, 2, 2], kernel_shape=[2, 2, 2], strides=[1, 2, 2],
           pads=[0, 1, 1, 0, 0, 0], count_include_pad=1)
    for op in ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"):
        g.node(op, ["x"], op, TP.FLOAT, [1, 2, 1, 1])
    check(g, default=(1e-5, 1e-6))


def test_conv_transpose():
    g = Graph()
    for name, xs, ws, attrs in [
        ("basic", (1, 2, 3, 3), (2, 3, 3, 3), {}),
        ("strided", (1, 2, 3, 4), (2, 2, 3, 2), dict(strides=[2, 3], pads=[1, 0, 1, 1], output_padding=[1, 2])),
        ("group_dil", (2, 4, 3, 3), (4, 1, 2, 2), dict(group=2, dilations=[2, 1], strides=[1, 2])),
        ("1d", (1, 3, 5), (3, 2, 3), dict(strides=[2], pads=[1, 2])),
        ("3d", (1, 1, 2, 3, 2), (1, 2, 2, 2, 2), dict(strides=[2, 1, 2], pads=[0, 1, 0, 0, 0, 1])),
    ]:
        x = g.input(f"x_{name}", _f(TP.FLOAT, xs))
        w = g.const(f"w_{name}", _f(TP.FLOAT, ws))
        b = g.const(f"b_{name}", _f(TP.FLOAT, [ws[1] * attrs.get("group", 1)]))
        r = len(xs) - 2
        s, d = attrs.get("strides", [1] * r), attrs.get("dilations", [1] * r)
        p, op_ = attrs.get("pads", [0] * 2 * r), attrs.get("output_padding", [0] * r)
        sp = [s[i] * (xs[2 + i] - 1) + op_[i] + (ws[2 + i] - 1) * d[i] + 1 - p[i] - p[r + i] for i in range(r)]
        shp = [xs[0], ws[1] * attrs.get("group", 1)] + sp
        g.node("ConvTranspose", [x, w, b], f"convt_{name}", TP.FLOAT, shp, **attrs)
        g.node("ConvTranspose", [x, w], f"convt_{name}_nobias", TP.FLOAT, shp, **attrs)
    check(g, default=(1e-5, 1e-5))


# ---- attention (opset 23) --------------------------------------------------------------
class _G23(Graph):
    opset = 23

    def model(self):
        old = difftest.OPSET
        difftest.OPSET = self.opset
        try:
            return super().model()
        finally:
            difftest.OPSET = old


def _attention(g, name, q, k, v, outs_shapes, extra_ins=(), t=TP.FLOAT, **attrs):
    ins = [g.input(f"{name}_q", q), g.input(f"{name}_k", k), g.input(f"{name}_v", v)] + list(extra_ins)
    outs = [(f"{name}_y", t, outs_shapes[0])]
    names = [f"{name}_y"]
    for i, suffix in enumerate(("pk", "pv", "qk")):
        if i + 1 < len(outs_shapes):
            shp = outs_shapes[i + 1]
            names.append(f"{name}_{suffix}" if shp is not None else "")
            if shp is not None:
                outs.append((f"{name}_{suffix}", t, shp))
    g.nodes.append(helper.make_node("Attention", ins, names, name=name, **attrs))
    g.outputs += outs


def test_attention():
    g = _G23()
    g.opset = 24
    B, Hq, Hk, Lq, Lk, D = 2, 4, 2, 3, 5, 4
    f = lambda *s: _f(TP.FLOAT, s)  # noqa: E731
    # 4-D, GQA, causal, float mask (3-D, shorter than the keys: padded with -inf), qk output after the mask
    mask = f(Hq, Lq, Lk - 1)
    _attention(g, "a4", f(B, Hq, Lq, D), f(B, Hk, Lk, D), f(B, Hk, Lk, 6),
               [[B, Hq, Lq, 6], None, None, [B, Hq, Lq, Lk]], [g.const("a4_mask", mask)], is_causal=1,
               qk_matmul_output_mode=2)
    # 3-D with past key/value, bool mask, softcap, scale, present outputs, qk output after softmax
    pk, pv = f(B, Hk, 2, D), f(B, Hk, 2, D)
    bmask = RNG.integers(0, 2, (Lq, 2 + Lk)).astype(bool)
    bmask[:, 0] = True
    _attention(g, "a3", f(B, Lq, Hq * D), f(B, Lk, Hk * D), f(B, Lk, Hk * D),
               [[B, Lq, Hq * D], [B, Hk, 2 + Lk, D], [B, Hk, 2 + Lk, D], [B, Hq, Lq, 2 + Lk]],
               [g.const("a3_mask", bmask), g.input("a3_pk", pk), g.input("a3_pv", pv)],
               q_num_heads=Hq, kv_num_heads=Hk, softcap=2.0, scale=0.3, qk_matmul_output_mode=3)
    # a fully masked row gives zeros; qk output before the softcap (mode 0) and after (mode 1)
    fm = np.zeros((Lq, Lk), np.float32)
    fm[1, :] = -np.inf
    for mode in (0, 1):
        _attention(g, f"am{mode}", f(1, 2, Lq, D), f(1, 2, Lk, D), f(1, 2, Lk, D),
                   [[1, 2, Lq, D], None, None, [1, 2, Lq, Lk]], [g.const(f"am{mode}_mask", fm)], softcap=1.5,
                   qk_matmul_output_mode=mode)
    # operand_slots: nonpad_kv_seqlen (slot 6) without mask/past: per-batch valid keys, causal offset
    _attention(g, "np", f(B, 2, 2, D), f(B, 2, Lk, D), f(B, 2, Lk, D), [[B, 2, 2, D]],
               ["", "", "", g.const("np_len", np.array([3, 5], np.int64))], is_causal=1)
    check(g, default=(1e-5, 1e-6))


def test_attention_fp16():
    g = _G23()
    f = lambda *s: _f(TP.FLOAT16, s)  # noqa: E731
    _attention(g, "h", f(1, 2, 3, 8), f(1, 2, 4, 8), f(1, 2, 4, 8), [[1, 2, 3, 8]], t=TP.FLOAT16, is_causal=1)
    check(g, default=(2e-3, 1e-3))


