"""Quantized weights: packing, round-to-nearest quantization, specs, and tg.matmul_nbits on the reference."""

from __future__ import annotations

import numpy as np
import pytest

import tensorc
from lowbit_programs import matmul_nbits_program
from tensorc.quant.lowbit import (QuantizedWeight, dequantize, pack_codes, parse_spec, quantize_rtn, row_bytes,
                                  unpack_codes)


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
@pytest.mark.parametrize("k", [8, 13, 64])
def test_pack_roundtrip_and_bit_order(bits, k):
    rng = np.random.default_rng(bits * 100 + k)
    codes = rng.integers(0, 1 << bits, size=(5, k), dtype=np.uint8)
    packed = pack_codes(codes, bits)
    assert packed.shape == (5, row_bytes(k, bits))
    np.testing.assert_array_equal(unpack_codes(packed, k, bits), codes)
    # code k starts at bit k·bits of its row, little-endian: check against a direct bit count
    stream = int.from_bytes(packed[2].tobytes(), "little")
    for j in range(k):
        assert (stream >> (j * bits)) & ((1 << bits) - 1) == codes[2, j]


@pytest.mark.parametrize("spec", ["w1g32", "w2g32", "w3g32", "w4g32", "w4g32s", "w2g32s", "ternary", "w4"])
def test_rtn_error_is_within_half_a_step(spec):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 128)).astype(np.float32)
    qw = quantize_rtn(w, spec)
    s = parse_spec(spec)
    assert qw.codes.max() < (3 if s.ternary else 1 << s.bits)
    err = np.abs(qw.dequantize() - w).reshape(16, -1, qw.group)
    step = qw.scales[:, :, None]
    if s.ternary or s.bits == 1:  # not a uniform grid over the range: only check it is a real approximation
        assert np.mean((qw.dequantize() - w) ** 2) < np.mean(w ** 2)
    elif s.symmetric:  # values beyond the top level (amax on the negative side) clip by at most one step
        assert np.all(err <= step * 1.0 + 1e-5)
    else:
        assert np.all(err <= step * 0.5 + 1e-5)


def test_rtn_asymmetric_zero_points_are_integers_and_exact_on_grid():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 16, size=(4, 64), dtype=np.uint8)
    codes[:, ::32], codes[:, 1::32] = 0, 15  # every group spans the full range, so RTN recovers the grid
    scales = rng.uniform(0.5, 2, size=(4, 2)).astype(np.float32)
    zeros = np.full((4, 2), 3, np.float32)
    w = dequantize(codes, scales, zeros, 32)
    qw = quantize_rtn(w, "w4g32")
    assert np.all(qw.zeros == np.rint(qw.zeros))
    np.testing.assert_allclose(qw.dequantize(), w, atol=1e-4 * np.abs(w).max())


@pytest.mark.parametrize("text,msg", [
    ("w5g128", "unsupported bit width 5"), ("w4g", "malformed"), ("x4g128", "malformed"),
    ("ternarys", "malformed"), ("w4g0", "group size must be positive"), ("", "malformed"),
])
def test_malformed_specs(text, msg):
    with pytest.raises(ValueError, match=msg):
        parse_spec(text)


def test_layout_errors():
    codes = np.zeros((4, 64), np.uint8)
    with pytest.raises(ValueError, match="group size 48 does not divide K = 64"):
        QuantizedWeight(codes, np.ones((4, 1), np.float32), np.zeros((4, 1), np.float32), 4, 48)
    with pytest.raises(ValueError, match=r"scales have shape \[4, 3\], expected \[4, 2\]"):
        QuantizedWeight(codes, np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), 4, 32)
    with pytest.raises(ValueError, match="unsupported bit width 5"):
        QuantizedWeight(codes, np.ones((4, 2), np.float32), np.zeros((4, 2), np.float32), 5, 32)


@pytest.mark.parametrize("spec", ["w2g32", "w3g32", "w4g64s", "ternary"])
def test_matmul_nbits_reference_equals_dequantize_then_matmul(spec):
    rng = np.random.default_rng(2)
    qw = quantize_rtn(rng.standard_normal((24, 64)).astype(np.float32), spec)
    prog = matmul_nbits_program(qw, (3, 64))
    x = rng.standard_normal((3, 64)).astype(np.float32)
    (y,) = tensorc.compile(prog, target="reference")(x=x).values()
    np.testing.assert_allclose(y, x @ qw.dequantize().T, rtol=1e-5, atol=1e-5)
    # the IR prints and verifies
    prog.module.verify()
    assert "tg.matmul_nbits" in str(prog.module)
