"""Low-bit weights: the quantized-matrix representation, its packing, and round-to-nearest quantization.

A weight matrix W[N, K] (out × in: row n produces output n) is stored as

- codes q[n, k] in [0, 2^b), b ∈ {1, 2, 3, 4}; ternary weights are b = 2 with codes {0, 1, 2};
- per group of `group` consecutive k (group divides K): a scale s[n, g] and a zero point z[n, g],

and means W[n, k] = s[n, k // group] · (q[n, k] − z[n, k // group]). Zero points are float32 so
that every convention fits one form: integers (asymmetric RTN, ONNX's MatMulNBits), 2^(b−1)
(symmetric, ORT's default when absent), (2^b − 1)/2 (the odd "±1 bit-plane" grid of 1-bit
weights, for which the LUT path needs no zero-point correction at all).

In the WeightStore the codes are *packed*: row by row, a little-endian bit stream of b bits per
code (code k at bit k·b), each row padded to whole bytes: uint8[N, ceil(K·b / 8)]. That is the
storage `tg.matmul_nbits` reads; backends repack it at compile time for their kernels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

SUPPORTED_BITS = (1, 2, 3, 4)


def row_bytes(k: int, bits: int) -> int:
    return -(-k * bits // 8)


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """uint8[N, K] codes < 2^bits → uint8[N, ceil(K·bits/8)] little-endian bit streams."""
    codes = np.asarray(codes, dtype=np.uint8)
    n, k = codes.shape
    planes = (codes[:, :, None] >> np.arange(bits, dtype=np.uint8)) & 1  # [N, K, bits], bit i of code k
    stream = planes.reshape(n, k * bits)
    pad = row_bytes(k, bits) * 8 - k * bits
    if pad:
        stream = np.concatenate([stream, np.zeros((n, pad), np.uint8)], axis=1)
    return np.packbits(stream, axis=1, bitorder="little")


def unpack_codes(packed: np.ndarray, k: int, bits: int) -> np.ndarray:
    """The inverse of `pack_codes`: uint8[N, K] codes."""
    packed = np.asarray(packed, dtype=np.uint8)
    n = packed.shape[0]
    stream = np.unpackbits(packed, axis=1, bitorder="little")[:, : k * bits].reshape(n, k, bits)
    return (stream << np.arange(bits, dtype=np.uint8)).sum(axis=2, dtype=np.uint8)


@dataclass(frozen=True)
class QuantizedWeight:
    """W[N, K] = scales · (codes − zeros), groups of `group` along K (see the module doc)."""

    codes: np.ndarray  # uint8 [N, K]
    scales: np.ndarray  # float32 [N, K // group]
    zeros: np.ndarray  # float32 [N, K // group]
    bits: int
    group: int
    ternary: bool = False

    def __post_init__(self):
        check_layout(self.codes.shape[0], self.codes.shape[1], self.bits, self.group,
                     self.scales.shape, self.zeros.shape)

    @property
    def n(self) -> int:
        return self.codes.shape[0]

    @property
    def k(self) -> int:
        return self.codes.shape[1]

    def packed(self) -> np.ndarray:
        return pack_codes(self.codes, self.bits)

    def dequantize(self) -> np.ndarray:
        """float32 [N, K]."""
        return dequantize(self.codes, self.scales, self.zeros, self.group)

    def bits_per_weight(self) -> float:
        """Storage per weight: codes plus one f32 scale and one f32 zero per group (ternary: log2 3 + the same)."""
        code_bits = np.log2(3) if self.ternary else self.bits
        return float(code_bits + 64 / self.group)


def check_layout(n: int, k: int, bits: int, group: int, scales_shape, zeros_shape) -> None:
    """Raise ValueError (a user-facing sentence) when the pieces of a quantized weight disagree."""
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"unsupported bit width {bits} (supported: {', '.join(map(str, SUPPORTED_BITS))})")
    if group <= 0 or k % group:
        raise ValueError(f"group size {group} does not divide K = {k}")
    want = (n, k // group)
    for what, shape in (("scales", scales_shape), ("zero points", zeros_shape)):
        if tuple(shape) != want:
            raise ValueError(f"{what} have shape {list(shape)}, expected {list(want)} (N × K/group)")


def dequantize(codes: np.ndarray, scales: np.ndarray, zeros: np.ndarray, group: int) -> np.ndarray:
    n, k = codes.shape
    q = codes.astype(np.float32).reshape(n, k // group, group)
    w = (q - zeros.astype(np.float32)[:, :, None]) * scales.astype(np.float32)[:, :, None]
    return w.reshape(n, k).astype(np.float32)


# ---- --quantize-weights SPEC -------------------------------------------------------------------

@dataclass(frozen=True)
class WeightQuantSpec:
    """What `--quantize-weights` asks for: `w<bits>[g<group>][a|s]` or `ternary[g<group>]`.

    `w4g128` = 4 bits, groups of 128, asymmetric (the default: an integer zero point per
    group); `w4g128s` symmetric; no `g` = one group per row. `ternary` = codes {−1, 0, 1}·s
    with BitNet b1.58's absmean scale.
    """

    bits: int
    group: int | None  # None: the whole row
    symmetric: bool
    ternary: bool = False

    def text(self) -> str:
        g = f"g{self.group}" if self.group else ""
        return f"ternary{g}" if self.ternary else f"w{self.bits}{g}{'s' if self.symmetric else 'a'}"


_SPEC = re.compile(r"^(?:w(?P<bits>\d+)|(?P<ternary>ternary))(?:g(?P<group>\d+))?(?P<mode>[as])?$")


def parse_spec(text: str) -> WeightQuantSpec:
    """Parse a `--quantize-weights` value; ValueError with a one-line reason otherwise."""
    m = _SPEC.match(text.strip().lower())
    if not m:
        raise ValueError(f"malformed spec '{text}' (expected w<bits>[g<group>][a|s] or ternary[g<group>], "
                         f"e.g. w4g128, w2g64s, ternary)")
    group = int(m["group"]) if m["group"] else None
    if group is not None and group <= 0:
        raise ValueError(f"malformed spec '{text}': group size must be positive")
    if m["ternary"]:
        if m["mode"]:
            raise ValueError(f"malformed spec '{text}': ternary is always symmetric")
        return WeightQuantSpec(2, group, True, ternary=True)
    bits = int(m["bits"])
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"spec '{text}': unsupported bit width {bits} "
                         f"(supported: {', '.join(map(str, SUPPORTED_BITS))})")
    return WeightQuantSpec(bits, group, m["mode"] == "s" or (bits == 1 and not m["mode"]))


def quantize_rtn(w: np.ndarray, spec: WeightQuantSpec | str) -> QuantizedWeight:
    """Round-to-nearest quantization of W[N, K] (out × in) per group along K.

    asymmetric: the group's range [min(w, 0), max(w, 0)] on 2^b levels, an integer zero point;
    symmetric:  z = 2^(b−1), s = max|w| / (2^(b−1) − 1) for b ≥ 2 (ORT/GPTQ convention);
                b = 1: z = ½, s = 2·mean|w| (levels ±mean|w|, the L2-optimal binary);
    ternary:    z = 1, s = mean|w| (BitNet b1.58's absmean), codes round(clip(w/s, −1, 1)) + 1.
    Rounding is half to even (numpy's), codes are clipped to [0, 2^b).
    """
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"expected a 2-D weight, got shape {list(w.shape)}")
    n, k = w.shape
    group = spec.group or k
    if k % group:
        raise ValueError(f"group size {group} does not divide K = {k}")
    g = w.reshape(n, k // group, group).astype(np.float64)
    top = (1 << spec.bits) - 1
    if spec.ternary:
        s = np.abs(g).mean(axis=2)
        z = np.ones_like(s)
        s = np.where(s > 0, s, 1.0)
        q = np.clip(np.rint(g / s[:, :, None]), -1, 1) + 1
    elif spec.symmetric and spec.bits == 1:
        m = np.abs(g).mean(axis=2)
        s = np.where(m > 0, 2 * m, 1.0)
        z = np.full_like(s, 0.5)
        q = (g >= 0).astype(np.float64)
    elif spec.symmetric:
        amax = np.abs(g).max(axis=2)
        s = np.where(amax > 0, amax / ((1 << (spec.bits - 1)) - 1), 1.0)
        z = np.full_like(s, float(1 << (spec.bits - 1)))
        q = np.clip(np.rint(g / s[:, :, None]) + z[:, :, None], 0, top)
    else:
        lo = np.minimum(g.min(axis=2), 0.0)
        hi = np.maximum(g.max(axis=2), 0.0)
        s = np.where(hi > lo, (hi - lo) / top, 1.0)
        z = np.clip(np.rint(-lo / s), 0, top)
        q = np.clip(np.rint(g / s[:, :, None]) + z[:, :, None], 0, top)
    return QuantizedWeight(q.reshape(n, k).astype(np.uint8), s.astype(np.float32), z.astype(np.float32),
                           spec.bits, group, spec.ternary)
