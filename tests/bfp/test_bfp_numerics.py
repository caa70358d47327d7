"""tensorc.quant.quantize is bit-exact against two independent implementations.

* >= 1M values per format against the integer bit-pattern implementation
  (bfp_oracle.quantize_bits), edge cases included;
* 8192 values per format against the literal rule in exact rationals
  (bfp_oracle.quantize_exact);
* MX element rounding agrees with ml_dtypes' casts (round half to even).
"""

from __future__ import annotations

import zlib

import ml_dtypes
import numpy as np
import pytest

from bfp_gen import edge_blocks, mixed
from bfp_oracle import QNAN, quantize_bits, quantize_exact
from tensorc.quant import parse_format, quantize, shared_exponents, zeroed_fraction

FORMATS = [
    "bfp12_16", "bfp12_32", "bfp12_64", "bfp12_128", "bfp16_8", "bfp16_32", "bfp16_64", "bfp16_128",
    "mxint8", "mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4",
    "bfp12_32_rna", "mxint8_rna", "mxfp4_rna", "mxfp8_e4m3_rna",
]
MILLION = 1_000_000


@pytest.mark.parametrize("name", FORMATS)
def test_million_values_bit_exact(name):
    fmt = parse_format(name)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = mixed(rng, fmt, MILLION)
    assert x.size >= MILLION
    got = quantize(x, fmt).view(np.uint32)
    want = quantize_bits(x.reshape(-1, fmt.block), fmt).reshape(-1)
    bad = np.nonzero(got != want)[0]
    assert bad.size == 0, (
        f"{bad.size} mismatches, e.g. x={x[bad[:4]]} got={got[bad[:4]].view(np.float32)} "
        f"want={want[bad[:4]].view(np.float32)}"
    )
    # the data exercises what it should: exact ties, NaN blocks, flushed values, subnormal results
    other = parse_format(name, rounding="rna" if fmt.rounding == "rne" else "rne")
    assert np.count_nonzero(quantize(x, other).view(np.uint32) != got) > 1000  # ties decided differently
    y = got.view(np.float32)
    assert np.count_nonzero(np.isnan(y)) >= fmt.block
    assert np.count_nonzero((y == 0) & (x != 0)) > 1000
    assert np.count_nonzero((y != 0) & (np.abs(y) < np.finfo(np.float32).tiny)) > 0


@pytest.mark.parametrize("name", FORMATS)
def test_exact_rational_rule(name):
    fmt = parse_format(name)
    rng = np.random.default_rng(7)
    x = mixed(rng, fmt, 8192)[-8192 // fmt.block * fmt.block :]
    got = quantize(x, fmt).view(np.uint32)
    want = quantize_exact(x, fmt).view(np.uint32)
    bad = np.nonzero(got != want)[0]
    assert bad.size == 0, f"x={x[bad[:4]]} got={got[bad[:4]].view(np.float32)} want={want[bad[:4]].view(np.float32)}"


_ML = {"mxfp8_e4m3": ml_dtypes.float8_e4m3fn, "mxfp8_e5m2": ml_dtypes.float8_e5m2,
       "mxfp6_e3m2": ml_dtypes.float6_e3m2fn, "mxfp6_e2m3": ml_dtypes.float6_e2m3fn, "mxfp4": ml_dtypes.float4_e2m1fn}


@pytest.mark.parametrize("name", sorted(_ML))
def test_mx_elements_match_ml_dtypes(name):
    fmt = parse_format(name)
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4096, 32)) * np.exp2(rng.integers(-20, 20, (4096, 1)))).astype(np.float32)
    S = shared_exponents(x, fmt).astype(np.int64)  # [4096, 1]
    v = np.ldexp(x.astype(np.float64), -S)
    v = np.clip(v, -fmt.elem.max_norm, fmt.elem.max_norm)
    want = np.ldexp(v.astype(_ML[name]).astype(np.float64), S).astype(np.float32)
    np.testing.assert_array_equal(quantize(x, fmt), want)


def test_edge_cases_spelled_out():
    f = parse_format("bfp12_4")
    q = lambda v: quantize(np.array(v, np.float32), f)  # noqa: E731
    # all-zero block, -0 becomes +0 for integer mantissas
    assert q([0, -0.0, 0, 0]).view(np.uint32).tolist() == [0, 0, 0, 0]
    # amax 1 -> E 0, step 1/4, |m| <= 7
    np.testing.assert_array_equal(q([1, 0.125, 0.375, -0.6]), [1, 0, 0.5, -0.5])
    # a value that rounds to 2^(wl-1) is clipped to 7 q
    np.testing.assert_array_equal(q([1.9, 0, 0, 0]), [1.75, 0, 0, 0])
    # NaN or inf anywhere: the whole block is NaN, the next block is untouched
    y = quantize(np.array([1, np.inf, 0, 0, 1, 2, 3, 4], np.float32), f)
    assert np.isnan(y[:4]).all() and y.view(np.uint32)[0] == QNAN
    np.testing.assert_array_equal(y[4:], [1, 2, 3, 4])
    # subnormal block: E clamps at -127 (step 2^-129); 2^-140 vanishes
    sub = np.array([2.0**-128, 2.0**-129, 2.0**-140, 0], np.float32)
    np.testing.assert_array_equal(q(sub), [2.0**-128, 2.0**-129, 0, 0])
    # fp elements keep the sign of zero
    m = quantize(np.array([-1e-30] + [1.0] * 31, np.float32), "mxfp4")
    assert np.signbit(m[0]) and m[0] == 0
    # float32 max survives BFP16 and MXFP8 exactly
    big = np.full(32, np.finfo(np.float32).max, np.float32)
    assert np.isfinite(quantize(big, "bfp16_32")).all() and np.isfinite(quantize(big, "mxfp8")).all()


def test_axis_partial_blocks_and_shapes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 40, 5)).astype(np.float32)
    y = quantize(x, "bfp12_16", axis=1)  # 40 = 16 + 16 + 8 (last block shorter)
    ref = np.moveaxis(quantize(np.moveaxis(x, 1, -1), "bfp12_16"), -1, 1)
    np.testing.assert_array_equal(y, ref)
    padded = np.concatenate([np.moveaxis(x, 1, -1), np.zeros((3, 5, 8), np.float32)], -1)
    np.testing.assert_array_equal(np.moveaxis(quantize(padded, "bfp12_16")[..., :40], -1, 1), y)
    assert quantize(np.float32(3.3), "bfp16_8").shape == ()
    assert quantize(np.zeros((2, 0), np.float32), "mxfp4").shape == (2, 0)
    assert quantize(x.astype(np.float64), "mxint8").dtype == np.float32


def test_format_names_and_bits():
    assert parse_format("bfp12_64").bits_per_element() == 4.125
    assert parse_format("bfp16_64").bits_per_element() == 8.125
    assert parse_format("mxfp4").bits_per_element() == 4.25
    assert parse_format("mxfp8").name == "mxfp8_e4m3"
    assert parse_format("bfp12", block=16).name == "bfp12_16"
    assert parse_format("mxint8_16_rna").name == "mxint8_16_rna"
    for name in FORMATS:
        assert parse_format(parse_format(name).name) == parse_format(name)
    for bad in ("bfp12", "bfp13_16", "mxfp6", "bfp12_0", "mxfp4_rnz"):
        with pytest.raises(ValueError):
            parse_format(bad)
    # MXINT8 is the BFP16 grid
    x = edge_blocks(np.random.default_rng(0), parse_format("mxint8")).reshape(-1)
    np.testing.assert_array_equal(quantize(x, "mxint8").view(np.uint32), quantize(x, "bfp16_32").view(np.uint32))


def test_zeroed_fraction():
    x = np.array([1.0, 1e-3, 0.0, -1e-4], np.float32)
    assert zeroed_fraction(x, quantize(x, "bfp12_4")) == pytest.approx(2 / 3)
