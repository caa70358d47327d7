"""`tg.matmul_nbits`: activations times a low-bit weight matrix (tensorc.quant.lowbit's form).

    %y = tg.matmul_nbits(%x, %codes, %scales, %zeros) {K = 256 : i64, N = 512 : i64, bits = 2 : i64, block_size = 64 : i64}
           : (tensor<4x256xf32>, tensor<512x64xui8>, tensor<512x4xf32>, tensor<512x4xf32>) -> tensor<4x512xf32>

y[..., n] = Σ_k x[..., k] · W[n, k] with W[n, k] = scales[n, k/B] · (q[n, k] − zeros[n, k/B]),
B = block_size, q the b-bit codes packed in `codes` (uint8[N, ceil(K·b/8)], a little-endian bit
stream per row). Names follow ONNX's com.microsoft.MatMulNBits; unlike it, zero points are
always present (float32; the importer fills in ORT's default 2^(b−1)) and B divides K.
`ternary = 1` marks codes {0, 1, 2} with zero point 1 (storage accounting only).

This is the target-neutral form every way in produces (MatMulNBits, DequantizeLinear →
MatMul, --quantize-weights); `lut-mpgemm` rewrites it into lut ops, and the CPU backend
compiles what remains as a fused dequantize + dot kernel.
"""

from __future__ import annotations

from xdsl.dialects import builtin as B
from xdsl.irdl import irdl_op_definition

from tensorc.quant.lowbit import check_layout, row_bytes

from .base import Int, TGOp, fail, tt


@irdl_op_definition
class MatMulNBitsOp(TGOp):
    name = "tg.matmul_nbits"
    OPERANDS = (4, 4)
    ATTRS = {"K": Int(), "N": Int(), "bits": Int(), "block_size": Int(), "ternary": Int(0)}

    def infer(self, ins, num_results=None):
        x, codes, scales, zeros = ins
        k, n, bits, group = (self.attr(a) for a in ("K", "N", "bits", "block_size"))
        try:
            check_layout(n, k, bits, group, scales.get_shape(), zeros.get_shape())
        except ValueError as e:
            fail(self, str(e))
        if not isinstance(codes.element_type, B.IntegerType) or codes.element_type.width.data != 8:
            fail(self, f"codes must be 8-bit integers (packed), got {codes.element_type}")
        if list(codes.get_shape()) != [n, row_bytes(k, bits)]:
            fail(self, f"codes have shape {list(codes.get_shape())}, expected {[n, row_bytes(k, bits)]} "
                       f"({bits}-bit codes packed per row)")
        for what, t in (("scales", scales), ("zero points", zeros)):
            if t.element_type != B.f32:
                fail(self, f"{what} must be f32, got {t.element_type}")
        xs = list(x.get_shape())
        if not xs or xs[-1] != k:
            fail(self, f"activation shape {xs} does not end in K = {k}")
        if x.element_type not in (B.f32,):
            fail(self, f"activations must be f32, got {x.element_type}")
        return [tt(xs[:-1] + [n], x.element_type)]


OPS = {"matmul_nbits": MatMulNBitsOp}
