"""Packed BFP storage (tensorc.quant.packing): the bytes, and that they decode to exactly quantize's values.

* >= 1M values per integer format, edge cases included: unpack(pack(x)) is bit-identical to the
  independent integer oracle (bfp_oracle.quantize_bits), and the exponent byte to shared_exponents;
* the byte layout on a hand-made block, odd and short blocks, any axis, the storage cost.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from bfp_gen import mixed
from bfp_oracle import quantize_bits
from tensorc.quant import parse_format, quantize, shared_exponents
from tensorc.quant.packing import bytes_per_block, can_pack, pack, packed_shape, unpack

PACKABLE = ["bfp12_16", "bfp12_32", "bfp12_7", "bfp16_16", "bfp16_64", "mxint8", "bfp12_32_rna", "mxint8_rna"]


@pytest.mark.parametrize("name", PACKABLE)
def test_million_values_round_trip_bit_exact(name):
    fmt = parse_format(name)
    rng = np.random.default_rng(zlib.crc32(b"pack" + name.encode()))
    x = mixed(rng, fmt, 1_000_000).reshape(-1, fmt.block)
    assert x.size >= 1_000_000
    p = pack(x, fmt, axis=-1)
    assert p.dtype == np.uint8 and p.shape == (x.shape[0], 1, bytes_per_block(fmt))
    got = unpack(p, fmt, axis=-1, length=fmt.block).view(np.uint32)
    want = quantize_bits(x, fmt)
    bad = np.nonzero(got != want)
    assert bad[0].size == 0, f"{bad[0].size} mismatches, e.g. x={x[bad][:4]}"
    E = shared_exponents(x, fmt, axis=-1)[:, 0].astype(np.int64)
    np.testing.assert_array_equal(p[:, 0, 0], np.where(E == 128, 0xFF, E + 127))
    assert np.count_nonzero(p[:, 0, 0] == 0xFF) > 0 and np.count_nonzero(p[:, 0, 0] == 0) > 0  # NaN, 2^-127


def test_layout_of_one_block():
    # amax 1 -> E = 0, code 127; BFP12 step 2^-2: mantissas 4, -2, 1, 0 -> nibbles (4, 0xE), (1, 0)
    p = pack(np.array([1.0, -0.5, 0.25, 0.0], np.float32), "bfp12_4", axis=0)
    assert p.tolist() == [[127, 0xE4, 0x01]]
    # BFP16: step 2^-6, one int8 per byte; 3.0 -> E = 1, m = 3/2^-5 = 96
    p = pack(np.array([3.0, -1.0], np.float32), "bfp16_2", axis=0)
    assert p.tolist() == [[128, 96, (-32) & 0xFF]]
    # a block holding NaN: code 0xFF, mantissas 0, every value NaN
    p = pack(np.array([np.inf, 1.0, 2.0], np.float32), "bfp12_3", axis=0)
    assert p.tolist() == [[0xFF, 0, 0]]
    assert np.isnan(unpack(p, "bfp12_3", 0, 3)).all()


@pytest.mark.parametrize("name,shape,axis", [("bfp12_16", (3, 37, 5), 1), ("bfp12_5", (4, 11), -1),
                                             ("bfp16_8", (2, 3, 20, 7), 2), ("mxint8", (40, 2), 0)])
def test_short_blocks_and_axes(name, shape, axis):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * np.exp(rng.standard_normal(shape) * 2)).astype(np.float32)
    p = pack(x, name, axis)
    assert p.shape == packed_shape(shape, name, axis)
    y = unpack(p, name, axis, shape[axis])
    np.testing.assert_array_equal(y.view(np.uint32), quantize(x, name, axis).view(np.uint32))


def test_storage_is_the_formats_bits():
    for name, bits in (("bfp12_16", 4.5), ("bfp12_32", 4.25), ("bfp16_16", 8.5), ("mxint8", 8.25)):
        x = np.ones((64, 128), np.float32)
        p = pack(x, name, -1)
        assert p.nbytes * 8 / x.size == bits == parse_format(name).bits_per_element()


def test_small_float_formats_are_refused():
    assert not can_pack("mxfp4") and not can_pack("mxfp8") and can_pack("bfp12_16")
    with pytest.raises(ValueError, match="mxfp4: packed storage needs integer mantissas"):
        pack(np.ones(32, np.float32), "mxfp4")
