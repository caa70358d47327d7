"""bfp — block floating point: a format attribute usable as a tensor encoding, quantize/dequantize.

    %q = bfp.quantize(%k) {axis = 3 : i64}
           : (tensor<8x12x22x32xf32>) -> tensor<8x12x22x32xf32, #bfp.format<bfp12, block = 16, mantissa = 4, shared_exp = 8, rounding = rne>>
    %k2 = bfp.dequantize(%q) : (tensor<8x12x22x32xf32, #bfp.format<...>>) -> tensor<8x12x22x32xf32>

`#bfp.format<family, block = n, mantissa = m, shared_exp = 8, rounding = rne>`
describes one block format of `tensorc.quant` (family bfp12, bfp16, mxint8,
mxfp8_e4m3, mxfp8_e5m2, mxfp6_e3m2, mxfp6_e2m3, mxfp4). `mantissa` is the
element's mantissa width (sign included for the integer families, explicit
mantissa bits for the small-float ones), `shared_exp` the bits of the shared
exponent, `rounding` rne (half to even) or rna (half away from zero). Only the
family is required; the rest default to the family's values and must agree
with them.

As a tensor encoding the attribute says "these f32 values are stored in this
block format": a value of type `tensor<...xf32, #bfp.format<...>>` holds
exactly the values the format can represent. `bfp.quantize` (blocks along
`axis`) rounds a plain f32 tensor to the format; `bfp.dequantize` turns it back
into a plain tensor (the values are unchanged: it only drops the encoding).
Storage is accounted with `bits_per_element` / `tensor_bits`.

Packed storage (what bfp-pack turns an integer-format quantize/dequantize pair
into; the layout is tensorc.quant.packing's — the blocked axis replaced by
[nblocks, bytes per block], one exponent byte then the mantissas):

    %p = bfp.pack(%k) {axis = 2 : i64, format = "bfp12_16"} : (tensor<8x12x32x22xf32>) -> tensor<8x12x2x9x22xui8>
    %k2 = bfp.unpack(%p) {axis = 2 : i64, format = "bfp12_16", length = 32 : i64} : (...) -> tensor<8x12x32x22xf32>
    %s = bfp.matmul(%q, %p) {format = "bfp12_16", length = 32 : i64} : (tensor<8x12x22x32xf32>, ...) -> tensor<8x12x22x22xf32>

bfp.matmul is matmul(A, unpack(P)) for P blocked along B's contraction axis
(Q·Kᵀ reading a packed K cache without an f32 copy of it).

All ops are tg ops (they subclass `TGOp`), so the reference interpreter runs
them (kernels in backends/reference/kernels/bfp.py), the llvm-cpu backend has
kernels for the packed ones (backends/llvm/kernels/bfp.py), and tg passes see
ordinary pure ops.
"""

from __future__ import annotations

from xdsl.dialects import builtin as B
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute
from xdsl.irdl import irdl_attr_definition, irdl_op_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from tensorc.dialects.tg.base import Int, Str, TGOp, broadcast_shapes, fail, norm_axis, tt
from tensorc.quant.formats import FAMILIES, Format, parse_format


@irdl_attr_definition
class FormatAttr(ParametrizedAttribute):
    """A block format: family, block size, element mantissa bits, shared-exponent bits, rounding."""

    name = "bfp.format"

    family: B.StringAttr
    block: B.IntAttr
    mantissa: B.IntAttr
    shared_exp: B.IntAttr
    rounding: B.StringAttr

    @staticmethod
    def from_format(fmt: "Format | str") -> "FormatAttr":
        f = parse_format(fmt)
        return FormatAttr(B.StringAttr(f.family), B.IntAttr(f.block), B.IntAttr(f.mantissa_bits),
                          B.IntAttr(f.shared_exp_bits), B.StringAttr(f.rounding))

    def to_format(self) -> Format:
        return parse_format(self.family.data, block=self.block.data, rounding=self.rounding.data)

    def bits_per_element(self) -> float:
        return self.to_format().bits_per_element()

    @property
    def format_name(self) -> str:
        return self.to_format().name

    def verify(self) -> None:
        fam = self.family.data
        if fam not in FAMILIES:
            raise VerifyException(f"#bfp.format: unknown family '{fam}' (families: {', '.join(FAMILIES)})")
        try:
            f = self.to_format()
        except ValueError as e:
            raise VerifyException(f"#bfp.format: {e}") from None
        if self.mantissa.data != f.mantissa_bits:
            raise VerifyException(f"#bfp.format: {fam} has {f.mantissa_bits}-bit mantissas, not {self.mantissa.data}")
        if self.shared_exp.data != f.shared_exp_bits:
            raise VerifyException(f"#bfp.format: shared exponents are {f.shared_exp_bits} bits, not {self.shared_exp.data}")

    # `<bfp12, block = 16, mantissa = 4, shared_exp = 8, rounding = rne>`
    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(
            f"<{self.family.data}, block = {self.block.data}, mantissa = {self.mantissa.data}, "
            f"shared_exp = {self.shared_exp.data}, rounding = {self.rounding.data}>"
        )

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            family = parser.parse_identifier()
            values: dict[str, int | str] = {}
            while parser.parse_optional_punctuation(",") is not None:
                key = parser.parse_identifier()
                parser.parse_punctuation("=")
                if key == "rounding":
                    values[key] = parser.parse_identifier()
                elif key in ("block", "mantissa", "shared_exp"):
                    values[key] = parser.parse_integer(allow_boolean=False, allow_negative=False)
                else:
                    parser.raise_error(f"#bfp.format: unknown parameter '{key}' (block, mantissa, shared_exp, rounding)")
        try:
            f = parse_format(family, block=values.get("block"), rounding=values.get("rounding"))
        except ValueError as e:
            parser.raise_error(f"#bfp.format: {e}")
        return [B.StringAttr(f.family), B.IntAttr(f.block), B.IntAttr(int(values.get("mantissa", f.mantissa_bits))),
                B.IntAttr(int(values.get("shared_exp", f.shared_exp_bits))), B.StringAttr(f.rounding)]


def encoding_of(t: Attribute) -> FormatAttr | None:
    """The block format a tensor type is stored in, or None."""
    if isinstance(t, B.TensorType) and isinstance(t.encoding, FormatAttr):
        return t.encoding
    return None


def with_format(t: B.TensorType, fmt: "FormatAttr | Format | str | None") -> B.TensorType:
    """`t` with the given block-format encoding (None: a plain tensor)."""
    if fmt is None:
        return B.TensorType(t.element_type, t.get_shape())
    attr = fmt if isinstance(fmt, FormatAttr) else FormatAttr.from_format(fmt)
    return B.TensorType(t.element_type, t.get_shape(), attr)


def bits_per_element(t: Attribute) -> float:
    """Storage bits per element of a tensor type: its block format's, else its element type's width."""
    enc = encoding_of(t)
    if enc is not None:
        return enc.bits_per_element()
    from tensorc.dialects import dtypes

    return float(dtypes.dtype_of(t).itemsize * 8)


def tensor_bits(t: Attribute) -> float:
    """Storage bits of a whole tensor (blocks along one axis; a short last block still pays its exponent
    only approximately: bits_per_element x elements)."""
    import math

    return bits_per_element(t) * math.prod(t.get_shape())


class _BfpOp(TGOp):
    """Shared verification: f32 tensors of the same shape."""

    def _check_float(self, t: Attribute, what: str) -> None:
        if not isinstance(t, B.TensorType) or t.element_type != B.f32:
            fail(self, f"{what} must be a tensor of f32, got {t}")


@irdl_op_definition
class QuantizeOp(_BfpOp):
    """Round an f32 tensor to a block format, blocks along `axis`; the result type's encoding is the format."""

    name = "bfp.quantize"
    ATTRS = {"axis": Int(-1)}

    @staticmethod
    def of(x, fmt: "FormatAttr | Format | str", axis: int = -1, src: str | None = None) -> "QuantizeOp":
        from xdsl.ir import SSAValue

        t = SSAValue.get(x).type
        return QuantizeOp.make([x], {"axis": axis}, result_types=[with_format(t, fmt)], src=src)

    @property
    def format(self) -> FormatAttr:
        enc = encoding_of(self.outputs[0].type)
        assert enc is not None
        return enc

    @property
    def axis(self) -> int:
        return norm_axis(self, self.attr("axis"), len(self.in_shapes()[0]))

    def attr_values(self):
        values = super().attr_values()
        values["axis"] = self.attr("axis")
        values["format"] = self.format.format_name
        return values

    def infer(self, ins, num_results=None):
        if not self.outputs:
            raise NotImplementedError("bfp.quantize needs its result type (it carries the format)")
        x = ins[0]
        self._check_float(x, "operand")
        if encoding_of(x) is not None:
            fail(self, "operand is already block-quantized")
        norm_axis(self, self.attr("axis"), len(x.get_shape()))
        out = self.outputs[0].type
        enc = encoding_of(out)
        if enc is None:
            fail(self, "result type must carry a #bfp.format encoding")
        return [with_format(tt(x.get_shape(), x.element_type), enc)]


@irdl_op_definition
class DequantizeOp(_BfpOp):
    """A block-quantized tensor as a plain f32 tensor (same values)."""

    name = "bfp.dequantize"

    @staticmethod
    def of(q, src: str | None = None) -> "DequantizeOp":
        return DequantizeOp.make([q], src=src)

    def infer(self, ins, num_results=None):
        q = ins[0]
        self._check_float(q, "operand")
        if encoding_of(q) is None:
            fail(self, "operand must carry a #bfp.format encoding")
        return [tt(q.get_shape(), q.element_type)]


# ---------------------------------------------------------------------------
# packed storage (bfp-pack): the bytes of tensorc.quant.packing
# ---------------------------------------------------------------------------
UI8 = B.IntegerType(8, B.Signedness.UNSIGNED)


def _packable(op: TGOp, name) -> "Format":
    from tensorc.quant.packing import can_pack

    try:
        fmt = parse_format(name)
    except ValueError as e:
        fail(op, str(e))
    if not can_pack(fmt):
        fail(op, f"format {fmt.name} has no packed storage (integer mantissas of 2, 4 or 8 bits only)")
    return fmt


def _check_packed(op: TGOp, t: Attribute, fmt, axis: int) -> tuple[int, ...]:
    """The shape of a packed operand whose blocks are at `axis` (its bytes at `axis` + 1)."""
    from tensorc.quant.packing import bytes_per_block

    if not isinstance(t, B.TensorType) or t.element_type != UI8 or len(t.get_shape()) < 2:
        fail(op, f"packed operand must be a ui8 tensor [..., nblocks, bytes, ...], got {t}")
    shape = tuple(t.get_shape())
    axis = norm_axis(op, axis, len(shape) - 1)
    if shape[axis + 1] != bytes_per_block(fmt):
        fail(op, f"{fmt.name} blocks are {bytes_per_block(fmt)} bytes, the packed operand's axis {axis + 1} "
                 f"is {shape[axis + 1]}")
    return shape


def _check_length(op: TGOp, shape, axis: int, fmt, length: int) -> None:
    axis %= len(shape) - 1
    if length < 1 or shape[axis] != -(-length // fmt.block):
        fail(op, f"{shape[axis]} blocks of {fmt.block} do not hold length {length}")


@irdl_op_definition
class PackOp(_BfpOp):
    """Quantize an f32 tensor to an integer block format and store it packed (tensorc.quant.packing):
    the blocked `axis` is replaced by [nblocks, bytes per block] of ui8 (exponent byte, then the
    mantissas, 2 per byte for BFP12)."""

    name = "bfp.pack"
    ATTRS = {"axis": Int(-1), "format": Str()}

    def infer(self, ins, num_results=None):
        from tensorc.quant.packing import packed_shape

        x = ins[0]
        self._check_float(x, "operand")
        if encoding_of(x) is not None:
            fail(self, "operand is already block-quantized")
        fmt = _packable(self, self.attr("format"))
        axis = norm_axis(self, self.attr("axis"), len(x.get_shape()))
        return [tt(packed_shape(x.get_shape(), fmt, axis), UI8)]


@irdl_op_definition
class UnpackOp(_BfpOp):
    """The f32 values of packed blocks (bit-identical to bfp.quantize's), the block axis put back at
    `axis` with `length` elements."""

    name = "bfp.unpack"
    ATTRS = {"axis": Int(), "format": Str(), "length": Int()}

    def infer(self, ins, num_results=None):
        from tensorc.quant.packing import unpacked_shape

        fmt = _packable(self, self.attr("format"))
        shape = _check_packed(self, ins[0], fmt, self.attr("axis"))
        _check_length(self, shape, self.attr("axis"), fmt, self.attr("length"))
        return [tt(unpacked_shape(shape, self.attr("axis"), self.attr("length")), B.f32)]


@irdl_op_definition
class MatMulOp(_BfpOp):
    """A @ unpack(P): numpy matmul of A [..., S, D] with the packed B [..., D, T] blocked along its
    contraction axis D (packed [..., nblocks, bytes, T]; `length` = D). The K-cache read of Q·Kᵀ:
    the CPU kernel decodes a tile of K at a time, so K is never materialized in f32."""

    name = "bfp.matmul"
    OPERANDS = (2, 2)
    ATTRS = {"format": Str(), "length": Int()}

    def infer(self, ins, num_results=None):
        from tensorc.quant.packing import unpacked_shape

        a = ins[0]
        self._check_float(a, "A")
        fmt = _packable(self, self.attr("format"))
        if len(ins[1].get_shape()) < 3:
            fail(self, f"packed B must be [..., nblocks, bytes, T], got {ins[1]}")
        shape = _check_packed(self, ins[1], fmt, -2)
        D = self.attr("length")
        _check_length(self, shape, -2, fmt, D)
        b = unpacked_shape(shape, -2, D)  # [..., D, T]
        ash = list(a.get_shape())
        if len(ash) < 2 or ash[-1] != D:
            fail(self, f"contraction sizes differ: A {ash} x packed B of {D} channels")
        batch = broadcast_shapes(self, ash[:-2], b[:-2])
        return [tt(list(batch) + [ash[-2], b[-1]], B.f32)]


BFP = Dialect("bfp", [QuantizeOp, DequantizeOp, PackOp, UnpackOp, MatMulOp], [FormatAttr])

__all__ = ["BFP", "FormatAttr", "QuantizeOp", "DequantizeOp", "PackOp", "UnpackOp", "MatMulOp", "UI8", "encoding_of", "with_format", "bits_per_element",
           "tensor_bits"]
