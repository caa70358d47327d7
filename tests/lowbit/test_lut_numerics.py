"""LUT-mpGEMM numerics (docs/lut.md §2): the integer path bit-exact against a direct integer dot
product, the float path with int8 tables within T-MAC's NMSE bar, and the pieces (planes, half
encoding, tables) against their definitions written out by hand."""

from __future__ import annotations


import numpy as np
import pytest

from tensorc.quant import lut as L
from tensorc.quant.lowbit import dequantize, quantize_rtn

FORMS = ("unsigned", "signed", "half")


def nmse(y, ref) -> float:
    y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
    return float(np.mean((y - ref) ** 2) / np.mean(ref ** 2))


def random_integer_case(rng, bits: int, ternary: bool, m: int, n: int, k: int, group: int):
    """i8 activations, b-bit codes, f32 scales, integer or half-integer zero points."""
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    a[0, :4] = -128  # the extreme value the int16 tables must hold exactly
    hi = 3 if ternary else 1 << bits
    codes = rng.integers(0, hi, size=(n, k), dtype=np.uint8)
    scales = rng.uniform(0.01, 2.0, size=(n, k // group)).astype(np.float32)
    if ternary:
        zeros = np.ones((n, k // group), np.float32)
    else:  # a mix of the conventions: integer (asymmetric), 2^(b-1), (2^b - 1)/2
        choices = np.array([0, 1 << (bits - 1), ((1 << bits) - 1) / 2, (1 << bits) - 1], np.float32)
        zeros = rng.choice(choices, size=(n, k // group)).astype(np.float32)
    return a, codes, scales, zeros


# (M, N, K, G, act_group): K not a multiple of 64/128, act_group not dividing K, G > and < act_group
SHAPES = [(1, 8, 64, 64, 64), (3, 7, 96, 32, 64), (2, 5, 200, 8, 4), (5, 3, 384, 128, 64), (4, 9, 72, 24, 12),
          (2, 6, 160, 32, 128)]


@pytest.mark.parametrize("bits,ternary", [(1, False), (2, False), (3, False), (4, False), (2, True)])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("table_type", ["i16", "f32"])
def test_integer_path_is_bit_exact(bits, ternary, form, table_type):
    rng = np.random.default_rng(bits * 7 + ternary + 3 * FORMS.index(form) + (table_type == "f32"))
    for m, n, k, group, ag in SHAPES:
        a, codes, scales, zeros = random_integer_case(rng, bits, ternary, m, n, k, group)
        tables, ts = L.precompute(a, k, form, table_type, ag)
        assert tables.dtype == np.dtype(L.TABLE_TYPES[table_type]) and np.all(ts == 1.0)
        planes = L.planes_from_codes(codes, bits, form)
        y = L.mpgemm(tables, ts, planes, scales, zeros, k=k, n=n, bits=bits, group=group, act_group=ag, form=form)
        want = L.direct_integer_dot(a, codes, scales, zeros, group=group, act_group=ag)
        np.testing.assert_array_equal(y.view(np.int32), want.view(np.int32),
                                      err_msg=f"b={bits} {form} {table_type} shape {(m, n, k, group, ag)}")
        # and the oracle itself is the quantized matmul (up to f32 rounding)
        ref = a.astype(np.float64) @ dequantize(codes, scales, zeros, group).astype(np.float64).T
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("form", FORMS)
def test_i8_tables_of_integers_are_exact_when_lossless(form):
    """i8 tables of i8 activations whose every activation group peaks at Σ|a| = 127: ts = 1, the
    quantization is the identity, and the result is again bit-exact against the direct dot."""
    rng = np.random.default_rng(5)
    m, n, k, group, ag = 3, 6, 192, 32, 64
    a, codes, scales, zeros = random_integer_case(rng, 3, False, m, n, k, group)
    a = rng.integers(-31, 32, size=(m, k)).astype(np.int8)
    a[:, ::ag] = 31  # the first quad of each activation group sums to 31 + 3·32 = 127 in |a|
    for t in (1, 2, 3):
        a[:, t::ag] = -32
    tables, ts = L.precompute(a, k, form, "i8", ag)
    assert np.all(ts == 1.0)
    y = L.mpgemm(tables, ts, L.planes_from_codes(codes, 3, form), scales, zeros, k=k, n=n, bits=3, group=group,
                 act_group=ag, form=form)
    want = L.direct_integer_dot(a, codes, scales, zeros, group=group, act_group=ag, tscales=ts)
    np.testing.assert_array_equal(y.view(np.int32), want.view(np.int32))


@pytest.mark.parametrize("spec", ["w1g128", "w2g64", "w3g128", "w4g128", "w4g32s", "ternary"])
@pytest.mark.parametrize("form", ["signed", "half"])
def test_float_path_i8_tables_nmse(spec, form):
    """T-MAC's bar: NMSE ≤ 5e-4 against dequantize-then-matmul, Gaussian weights and activations."""
    rng = np.random.default_rng(11)
    k, n, m = 512, 256, 4
    qw = quantize_rtn(rng.standard_normal((n, k)).astype(np.float32), spec)
    x = rng.standard_normal((m, k)).astype(np.float32)
    tables, ts = L.precompute(x, k, form, "i8", 64)
    assert tables.dtype == np.int8 and np.abs(tables).max() <= 127
    y = L.mpgemm(tables, ts, L.planes_from_codes(qw.codes, qw.bits, form), qw.scales, qw.zeros, k=k, n=n,
                 bits=qw.bits, group=qw.group, act_group=64, form=form)
    ref = x.astype(np.float64) @ qw.dequantize().astype(np.float64).T
    assert nmse(y, ref) <= 5e-4


def test_float_path_unsigned_i8_tables_is_worse_but_bounded():
    """The unsigned form's R = acc − z·S cancels: its i8-table error is several times the signed
    form's (docs/lut.md §2 says to prefer signed/half for quantized tables)."""
    rng = np.random.default_rng(12)
    k, n = 512, 256
    qw = quantize_rtn(rng.standard_normal((n, k)).astype(np.float32), "w4g128")
    x = rng.standard_normal((4, k)).astype(np.float32)
    ref = x.astype(np.float64) @ qw.dequantize().astype(np.float64).T
    errs = {}
    for form in ("unsigned", "signed"):
        t, ts = L.precompute(x, k, form, "i8", 64)
        y = L.mpgemm(t, ts, L.planes_from_codes(qw.codes, 4, form), qw.scales, qw.zeros, k=k, n=n, bits=4,
                     group=128, act_group=64, form=form)
        errs[form] = nmse(y, ref)
    assert errs["signed"] <= 5e-4 and errs["unsigned"] <= 2e-3
    assert errs["unsigned"] > 2 * errs["signed"]


@pytest.mark.parametrize("form", FORMS)
def test_f32_tables_match_dequantize_then_matmul(form):
    rng = np.random.default_rng(13)
    k, n = 256, 64
    qw = quantize_rtn(rng.standard_normal((n, k)).astype(np.float32), "w3g64")
    x = rng.standard_normal((2, 3, k)).astype(np.float32)
    t, ts = L.precompute(x, k, form, "f32", 64)
    assert t.shape == (6, k // 4, L.FORMS[form])
    y = L.mpgemm(t, ts, L.planes_from_codes(qw.codes, 3, form), qw.scales, qw.zeros, k=k, n=n, bits=3, group=64,
                 act_group=64, form=form)
    ref = x.reshape(6, k).astype(np.float64) @ qw.dequantize().astype(np.float64).T
    assert nmse(y, ref) < 1e-12


def test_planes_and_half_encoding_by_hand():
    codes = np.array([[0b101, 0b011, 0b110, 0b001, 0b111, 0b010]], np.uint8)  # K = 6: padded to 8
    planes = L.planes_from_codes(codes, 3, "unsigned")
    assert planes.shape == (3, 1, 2)
    # plane i, group j: bit i of codes 4j..4j+3 at bit positions 0..3
    assert planes[:, 0, 0].tolist() == [0b1011, 0b0110, 0b0101]
    assert planes[:, 0, 1].tolist() == [0b0001, 0b0011, 0b0001]
    np.testing.assert_array_equal(L.planes_from_codes(codes, 3, "signed"), planes)
    half = L.planes_from_codes(codes, 3, "half")
    np.testing.assert_array_equal(half, L.symmetrize_planes(planes))
    for idx in range(16):
        byte = int(L.half_encode(np.uint8(idx)))
        sel, neg = byte & 7, byte >> 3
        assert (sel, neg) == ((idx >> 1, 0) if idx & 1 else (((~idx) & 15) >> 1, 1))
        assert int(L.half_decode(np.uint8(byte))) == idx
    with pytest.raises(ValueError, match="do not fit in 2 bits"):
        L.planes_from_codes(np.array([[4]], np.uint8), 2)


def test_tables_by_hand_and_symmetry():
    a = np.array([[1.5, -2.0, 0.25, 4.0, 3.0]], np.float32)  # K = 5: one padded activation
    t01, _ = L.precompute(a, 5, "unsigned", "f32", 8)
    t, _ = L.precompute(a, 5, "signed", "f32", 8)
    h, _ = L.precompute(a, 5, "half", "f32", 8)
    for idx in range(16):
        bits = [(idx >> s) & 1 for s in range(4)]
        assert t01[0, 0, idx] == sum(b * v for b, v in zip(bits, a[0, :4]))
        assert t[0, 0, idx] == sum((2 * b - 1) * v for b, v in zip(bits, a[0, :4]))
        assert t[0, 0, 15 - idx] == -t[0, 0, idx]
    assert t[0, 1].tolist() == [3.0 * (2 * (i & 1) - 1) for i in range(16)]  # padded activations are 0
    np.testing.assert_array_equal(h[0], t[0, :, 1::2])


def test_i8_table_quantization_rule():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 40)).astype(np.float32)
    q, ts = L.precompute(a, 40, "signed", "i8", 16)  # 3 activation groups, the last one partial
    assert ts.shape == (2, 3)
    quads = np.abs(a.reshape(2, 10, 4))
    peaks = [quads[:, j0:j0 + 4].sum(axis=2).max(axis=1) for j0 in (0, 4, 8)]
    np.testing.assert_allclose(ts, np.stack(peaks, axis=1) / 127, rtol=1e-6)
    t, _ = L.precompute(a, 40, "signed", "f32", 16)
    scale = np.repeat(ts, 4, axis=1)[:, :10, None]
    np.testing.assert_array_equal(q, np.clip(np.rint(t / scale), -127, 127).astype(np.int8))
    zero, zts = L.precompute(np.zeros((1, 8), np.float32), 8, "signed", "i8", 8)
    assert np.all(zts == 1.0) and np.all(zero == 0)


def test_direct_oracle_rejects_what_it_cannot_do_exactly():
    with pytest.raises(ValueError, match="integer activations"):
        L.direct_integer_dot(np.ones((1, 8), np.float32), np.zeros((1, 8), np.uint8), np.ones((1, 1)),
                             np.zeros((1, 1)), group=8, act_group=8)
    with pytest.raises(ValueError, match="half-integer zero points"):
        L.direct_integer_dot(np.ones((1, 8), np.int8), np.zeros((1, 8), np.uint8), np.ones((1, 1)),
                             np.full((1, 1), 0.3), group=8, act_group=8)
