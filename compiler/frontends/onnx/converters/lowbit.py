"""Low-bit weights from ONNX → `tg.matmul_nbits` (docs/lut.md §1, "Ways in").

Two ways in live here:

- `com.microsoft.MatMulNBits` (onnxruntime's contrib op, what onnxruntime-genai models use).
  Its packed B [N, k_blocks, blob_size] holds each block's codes low bits first (for 4 bits:
  code 2i in the low nibble of byte i, code 2i+1 in the high one), which is exactly a
  little-endian bit stream; when block_size divides K the blocks of a row concatenate into
  our row stream, so B reshaped to [N, K·bits/8] *is* our packed codes, byte for byte.
  Absent zero points mean ORT's default 2^(bits−1). `accuracy_level` only allows onnxruntime
  to quantize A to int8 internally; tensorc computes with f32 activations whatever it says.
- `DequantizeLinear` of a constant int4/uint4 (or int2/uint2) tensor feeding the B operand of
  MatMul / Gemm, possibly through a 2-D Transpose (exporters put one between a [N, K] weight and
  MatMul): `dequantized_matmul` is called by the MatMul and Gemm converters. Signed codes v
  become q = v + 2^(b−1) with the zero point shifted by the same amount, so q − z = v − zp and
  the weight is bit-identical to what DequantizeLinear computes. Layouts our form cannot hold
  without inflating the scales (per input channel, blocks along N, a block that does not divide
  K) and 8-bit codes stay a plain DequantizeLinear + MatMul, which is correct, just not low-bit.
"""

from __future__ import annotations

import numpy as np
import onnx

from tensorc.dialects import dtypes
from tensorc.quant.lowbit import check_layout, pack_codes, unpack_codes

from ..importer import NodeContext, Val, converter

# MatMulNBits bit widths tensorc takes: what onnxruntime defines (2, 4, 8) ∩ what the low-bit
# path supports (1–4). Wider codes are not low-bit weights; refuse them rather than guess.
NBITS_SUPPORTED = (2, 4)

# DequantizeLinear input types that are low-bit codes: numpy dtype name → (bits, signed)
_LOWBIT_DQ = {"int4": (4, True), "uint4": (4, False), "int2": (2, True), "uint2": (2, False)}


def emit_matmul_nbits(ctx: NodeContext, x: Val, codes: np.ndarray, scales: np.ndarray, zeros: np.ndarray,
                      k: int, n: int, bits: int, group: int, stem: str) -> Val:
    """y = x @ Wᵀ as one tg.matmul_nbits, the packed codes, scales and zeros as named weights
    `<stem>.codes/.scales/.zeros`. x must be f32 (the caller casts)."""
    weights = [Val(f"{stem}.{what}", const=np.ascontiguousarray(arr), named=True)
               for what, arr in (("codes", codes), ("scales", scales.astype(np.float32)),
                                 ("zeros", zeros.astype(np.float32)))]
    return ctx.emit1("matmul_nbits", [x, *weights], {"K": k, "N": n, "bits": bits, "block_size": group})


# ---- com.microsoft.MatMulNBits ---------------------------------------------------------------

def _per_block(ctx: NodeContext, arr: np.ndarray, what: str, n: int, cols: int) -> np.ndarray:
    """A per-block input as [N, cols]; onnxruntime accepts it 2-D or flattened."""
    if arr.shape not in ((n, cols), (n * cols,)):
        raise ctx.unsupported(f"{what} have shape {list(arr.shape)}, expected {[n, cols]} (or {[n * cols]})")
    return arr.reshape(n, cols)


@converter("com.microsoft.MatMulNBits")
def matmul_nbits(ctx: NodeContext):
    for name in ("K", "N", "block_size"):
        if not ctx.has_attr(name):
            raise ctx.unsupported(f"missing required attribute '{name}'")
    k, n, group = (int(ctx.attr(a)) for a in ("K", "N", "block_size"))
    bits = int(ctx.attr("bits", 4))
    if ctx.attr("weight_prepacked", 0):
        raise ctx.unsupported(f"weight_prepacked = {ctx.attr('weight_prepacked')} (an execution provider's "
                              f"private layout) is not supported")
    if bits not in NBITS_SUPPORTED:
        raise ctx.unsupported(f"unsupported bit width {bits} (supported: {', '.join(map(str, NBITS_SUPPORTED))})")
    if group <= 0 or k % group:
        # onnxruntime pads the last block; our form needs whole groups (docs/lut.md §1)
        raise ctx.unsupported(f"group size (block_size) {group} does not divide K = {k}")
    k_blocks, blob = k // group, group * bits // 8

    x = ctx.val(0)
    if not x.shape or x.shape[-1] != k:
        raise ctx.unsupported(f"input A has shape {list(x.shape)}, whose last dimension is not K = {k}")
    if x.dtype not in (np.float32, np.float16) and x.dtype.name != "bfloat16":
        raise ctx.unsupported(f"input A has type {x.dtype}, expected float, float16 or bfloat16")

    b = ctx.const(1, "B")
    if b.dtype != np.uint8:
        raise ctx.unsupported(f"B has type {b.dtype}, expected uint8")
    if b.size == 0:
        raise ctx.unsupported("an empty B (an omitted projection) is not supported")
    if b.shape != (n, k_blocks, blob):
        raise ctx.unsupported(f"B has shape {list(b.shape)}, expected {[n, k_blocks, blob]} (N, k_blocks, blob_size)")
    codes = b.reshape(n, k_blocks * blob)  # = pack_codes(q, bits): see the module doc

    scales = _per_block(ctx, ctx.const(2, "scales"), "scales", n, k_blocks)
    if scales.dtype.kind != "f":
        raise ctx.unsupported(f"scales have type {scales.dtype}, expected a float type")
    if ctx.has(3):
        zp = ctx.const(3, "zero_points")
        if zp.dtype == np.uint8:  # packed like B: per row, k_blocks codes low bits first
            packed_cols = -(-k_blocks * bits // 8)
            zeros = unpack_codes(_per_block(ctx, zp, "zero points (packed uint8)", n, packed_cols), k_blocks, bits)
        elif zp.dtype.kind == "f":
            zeros = _per_block(ctx, zp, "zero points", n, k_blocks)
        else:
            raise ctx.unsupported(f"zero_points have type {zp.dtype}, expected uint8 (packed) or the type of A")
    else:
        zeros = np.full((n, k_blocks), 1 << (bits - 1), np.float32)
    if ctx.has(4):
        g_idx = np.asarray(ctx.const(4, "g_idx")).reshape(-1)
        if g_idx.shape != (k,) or not np.array_equal(g_idx, np.arange(k) // group):
            raise ctx.unsupported("g_idx (act-order group indices) other than k // block_size is not supported")
    try:
        check_layout(n, k, bits, group, scales.shape, zeros.shape)
    except ValueError as e:
        raise ctx.unsupported(str(e)) from None

    a32 = x if x.dtype == np.float32 else _cast(ctx, x, np.float32)
    stem = ctx.node.input[1] or ctx.label
    y = emit_matmul_nbits(ctx, a32, codes, scales, zeros, k, n, bits, group, stem)
    if ctx.has(5):
        bias = ctx.val(5)
        if bias.shape != (n,):
            raise ctx.unsupported(f"bias has shape {list(bias.shape)}, expected {[n]}")
        y = ctx.emit1("add", [y, bias if bias.dtype == np.float32 else _cast(ctx, bias, np.float32)])
    return [y if x.dtype == np.float32 else _cast(ctx, y, x.dtype)]


def _cast(ctx: NodeContext, v: Val, dtype) -> Val:
    return ctx.emit1("cast", [v], result_types=[dtypes.tensor_type(v.shape, np.dtype(dtype))])


# ---- DequantizeLinear → MatMul / Gemm ------------------------------------------------------------

def check_quant_params(ctx: NodeContext, x_shape, axis: int, block: int, scale_shape, zp_shape=None) -> None:
    """Scale / zero-point shapes of Quantize/DequantizeLinear against ONNX's three forms (per tensor:
    one element; per axis: [x.shape[axis]]; blocked: x's shape with ceil(d / block_size) along
    `axis`); a one-line error naming the node otherwise, instead of a broadcast gone wrong."""
    rank = len(x_shape)
    s = list(scale_shape)
    if block:
        ax = axis % rank if rank else 0
        want = list(x_shape)
        if want:
            want[ax] = -(-want[ax] // block)
        form = f"block_size {block} along axis {ax}"
    elif int(np.prod(s)) == 1:  # per tensor (a scalar; 1-element tensors are read the same way)
        if zp_shape is not None and int(np.prod(zp_shape)) != 1:
            raise ctx.unsupported(f"zero point has shape {list(zp_shape)}, expected one element (per tensor)")
        return
    else:
        ax = axis % rank if rank else 0
        want, form = [x_shape[ax]] if rank else [1], f"per axis {ax}"
    if s != want:
        raise ctx.unsupported(f"scale has shape {s}, expected {want} ({form})")
    if zp_shape is not None and list(zp_shape) != s:
        raise ctx.unsupported(f"zero point has shape {list(zp_shape)}, expected the scale's {s}")


def _dequantize_source(ctx: NodeContext, index: int, nk: bool):
    """The constant DequantizeLinear behind input `index`, through 2-D Transposes, and whether its
    input is laid out [N, K] (`nk`; it starts as how the consumer reads B: [K, N] unless transB)."""
    name = ctx.node.input[index]
    imp = ctx.imp
    while True:
        node = imp.producer(name)
        if node is None or (node.domain or "ai.onnx") != "ai.onnx":
            return None
        if node.op_type == "Transpose":
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
            src = imp.env.get(node.input[0])
            if src is None or src.rank != 2 or perm not in (None, [1, 0]):
                return None
            nk, name = not nk, node.input[0]
        elif node.op_type == "DequantizeLinear":
            return node, nk
        else:
            return None


def _dq_weight(ctx: NodeContext, dq: onnx.NodeProto, nk: bool):
    """(codes [N, K] uint8, scales [N, K/G], zeros [N, K/G], bits, G) for a DequantizeLinear whose
    layout our form holds, else None (see the module doc)."""
    env = ctx.imp.env
    ins = [env.get(i) if i else None for i in dq.input]
    q, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 else None
    if q is None or scale is None or q.const is None or scale.const is None or (zp is not None and zp.const is None):
        return None
    kind = _LOWBIT_DQ.get(q.const.dtype.name)
    if kind is None or q.rank != 2 or scale.const.dtype != np.float32:
        return None  # 8-bit (or float8) codes, or not a matrix: the plain path is right
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in dq.attribute}
    if attrs.get("output_dtype", onnx.TensorProto.FLOAT) != onnx.TensorProto.FLOAT:
        return None
    bits, signed = kind
    qv, s = q.const, np.asarray(scale.const)
    zv = None if zp is None else np.asarray(zp.const)
    axis, block = int(attrs.get("axis", 1)) % 2, int(attrs.get("block_size", 0))
    k_axis = 1 if nk else 0
    kdim, ndim = qv.shape[k_axis], qv.shape[1 - k_axis]

    def to_nk(p: np.ndarray) -> np.ndarray:
        return p if nk else p.T

    if block == 0 and s.size == 1:  # per tensor (as check_quant_params reads it)
        group = kdim
        s_nk = np.full((ndim, 1), s.reshape(()), np.float32)
        z_nk = None if zv is None else np.full((ndim, 1), zv.reshape(()))
    elif block == 0:  # per axis: one scale per output channel fits (a group of the whole row)
        if axis == k_axis:
            return None
        group = kdim
        s_nk = s.reshape(ndim, 1)
        z_nk = None if zv is None else zv.reshape(ndim, 1)
    else:  # blocked
        if axis != k_axis or kdim % block:
            return None
        group = block
        s_nk, z_nk = to_nk(s), None if zv is None else to_nk(zv)
    offset = (1 << (bits - 1)) if signed else 0
    codes = (to_nk(qv).astype(np.int16) + offset).astype(np.uint8)
    zeros = np.full(s_nk.shape, float(offset), np.float32) if z_nk is None \
        else z_nk.astype(np.float32) + offset
    return codes, s_nk.astype(np.float32), zeros, bits, group


def dequantized_matmul(ctx: NodeContext) -> list[Val] | None:
    """MatMul / Gemm whose B is a constant low-bit DequantizeLinear: its tg.matmul_nbits form,
    or None when the plain conversion applies (called by the MatMul and Gemm converters)."""
    gemm = ctx.node.op_type == "Gemm"
    found = _dequantize_source(ctx, 1, nk=gemm and bool(ctx.attr("transB", 0)))
    if found is None:
        return None
    dq, nk = found
    a = ctx.val(0)
    if a.const is not None or a.dtype != np.float32 or a.rank < 1 or (gemm and a.rank != 2):
        return None
    weight = _dq_weight(ctx, dq, nk)
    if weight is None:
        return None
    codes, scales, zeros, bits, group = weight
    n, k = codes.shape
    trans_a = gemm and bool(ctx.attr("transA", 0))
    if (a.shape[0] if trans_a else a.shape[-1]) != k:
        return None  # let the plain converter report the shape mismatch
    if trans_a:
        a = ctx.emit1("transpose", [a], {"perm": [1, 0]})
    y = emit_matmul_nbits(ctx, a, pack_codes(codes, bits), scales, zeros, k, n, bits, group,
                          stem=dq.input[0] or ctx.label)
    if gemm:
        alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
        if alpha != 1.0:
            y = ctx.emit1("mul", [y, ctx.const_val(np.float32(alpha))])
        c = ctx.opt(2)
        if c is not None and beta != 0.0:
            if beta != 1.0:
                c = ctx.emit1("mul", [c, ctx.const_val(np.asarray(beta, c.dtype))])
            y = ctx.emit1("add", [y, c])
    return [y]
