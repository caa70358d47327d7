"""The LUT Tensor Core instruction set: opcodes, bit fields, encoding, decoding, operand regions.

This table is the one source of truth: the binary encoder and decoder here, the text assembler
and disassembler (tensorc.ltc.asm), the Python emitter (tensorc.ltc.builder), the simulator's
functional and cycle models, and the bit-field tables of docs/ltc.md are all derived from `OPS`.
It lives in the runtime because the runtime may not import the compiler.

Encoding. An instruction is 1–7 little-endian 64-bit words. Bits 0–7 of its first word hold the
opcode, which fixes the instruction's length. The fields follow in the order `OPS` lists them,
each placed (first fit) in the lowest word with room for all of its bits — a field never straddles
a word. Every bit not covered by a field is reserved and must be zero, so each instruction has
exactly one encoding and binary → text → binary is the identity.

Field kinds: `u` unsigned integer; `enum` (the index of a name); `flag` (0/1); `saddr`/`stride`
scratchpad byte address / byte stride (24 bits: scratchpads up to 16 MiB); `daddr`/`dstride` DRAM
byte address / stride (40 bits); `f32` an IEEE binary32 immediate (finite); `units` a mask of units.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple

import numpy as np

from .errors import LTCFormatError

#: 2 added `lmma.dq`; a version-1 stream is a valid version-2 stream (opcodes are never reused)
ISA_VERSION = 2
WORD_BITS = 64
OPCODE_BITS = 8
SADDR_BITS = 24
DADDR_BITS = 40

#: the execution units (dma.ld and dma.st have a queue each and share the DRAM channel);
#: `fence` names them in its mask (bit i = UNITS[i]); "dma" in assembly means ld+st
UNITS = ("ld", "st", "pre", "lmma", "vec")

#: storage types of vector-unit operands
VDTYPES = ("f32", "f16", "i8", "i32")
#: activation types the precompute unit reads
ADTYPES = ("i8", "f16", "f32")
#: table entry types
TTYPES = ("i8", "i16", "f16")
#: table forms (docs/lut.md §2): entries per table group
FORMS = ("unsigned", "signed", "half")
FORM_ENTRIES = {"unsigned": 16, "signed": 16, "half": 8}

NUMPY_DTYPES = {"f32": np.float32, "f16": np.float16, "i8": np.int8, "i16": np.int16, "i32": np.int32,
                "u8": np.uint8}


def itemsize(dt: str) -> int:
    return np.dtype(NUMPY_DTYPES[dt]).itemsize


# ---- the field and op tables ------------------------------------------------------------------------

_KIND_WIDTH = {"saddr": SADDR_BITS, "stride": SADDR_BITS, "daddr": DADDR_BITS, "dstride": DADDR_BITS,
               "f32": 32, "flag": 1, "units": len(UNITS)}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # u | enum | flag | saddr | stride | daddr | dstride | f32 | units
    width: int
    doc: str
    names: tuple[str, ...] = ()  # enum values, in encoding order
    lo: int = 0  # smallest valid value (integers)
    hi: int | None = None  # largest valid value (default: what the width holds)
    default: Any = None  # used by the assembler and the emitter when the field is omitted

    @property
    def max(self) -> int:
        return (1 << self.width) - 1 if self.hi is None else self.hi


def F(name: str, kind: str, doc: str, width: int | None = None, names: Iterable[str] = (), lo: int = 0,
      hi: int | None = None, default: Any = None) -> Field:
    names = tuple(names)
    if kind == "enum":
        width = width or max(1, (len(names) - 1).bit_length())
    elif width is None:
        width = _KIND_WIDTH[kind]
    return Field(name, kind, width, doc, names, lo, hi, default)


@dataclass(frozen=True)
class Placed:
    field: Field
    word: int  # which word of the instruction
    bit: int  # lowest bit of the field in that word


@dataclass(frozen=True)
class OpSpec:
    name: str
    code: int
    unit: str  # dma | pre | lmma | vec | ctl
    fields: tuple[Field, ...]
    doc: str
    layout: tuple[Placed, ...] = field(default=(), compare=False)
    words: int = field(default=1, compare=False)
    since: int = 1  # the ISA version that introduced the instruction

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def _place(fields: tuple[Field, ...]) -> tuple[tuple[Placed, ...], int]:
    used = [OPCODE_BITS]  # bits used in each word; the opcode takes word 0 bits 0-7
    placed = []
    for f in fields:
        if f.width > WORD_BITS:
            raise AssertionError(f"field {f.name} wider than a word")
        for w, u in enumerate(used):
            if u + f.width <= WORD_BITS:
                break
        else:
            used.append(0)
            w = len(used) - 1
        placed.append(Placed(f, w, used[w]))
        used[w] += f.width
    return tuple(placed), len(used)


def _region_fields(prefix: str, what: str, typed: bool = True) -> list[Field]:
    out = [F(prefix, "saddr", f"{what}: scratchpad byte address"),
           F(f"{prefix}_stride", "stride", f"{what}: bytes between rows")]
    if typed:
        out.append(F(f"{prefix}_dt", "enum", f"{what}: storage type", names=VDTYPES))
    return out


_SHAPE = [F("rows", "u", "rows", 16, lo=1), F("cols", "u", "columns (elements per row)", 16, lo=1)]

_OP_LIST = [
    OpSpec("fence", 0x01, "ctl", (
        F("units", "units", "units to drain: no later instruction is dispatched before every earlier "
                            "instruction on these units has completed", lo=1),
    ), "Barrier: the front end waits until the named units have finished all earlier instructions."),
    OpSpec("dma.ld", 0x10, "ld", (
        F("tag", "enum", "traffic class: c = compulsory (first read of an input or weight), "
                         "r = retrieve (re-read of something spilled or evicted)", names=("c", "r"), default="c"),
        F("rows", "u", "rows", 16, lo=1),
        F("row_bytes", "u", "bytes per row", 24, lo=1),
        F("dram", "daddr", "source DRAM byte address"),
        F("spad", "saddr", "destination scratchpad byte address"),
        F("dram_stride", "dstride", "source bytes between rows"),
        F("spad_stride", "stride", "destination bytes between rows"),
    ), "DRAM → scratchpad copy of a strided 2-D block."),
    OpSpec("dma.st", 0x11, "st", (
        F("tag", "enum", "traffic class: c = compulsory (write-back of an output), s = spill",
          names=("c", "s"), default="c"),
        F("rows", "u", "rows", 16, lo=1),
        F("row_bytes", "u", "bytes per row", 24, lo=1),
        F("dram", "daddr", "destination DRAM byte address"),
        F("spad", "saddr", "source scratchpad byte address"),
        F("dram_stride", "dstride", "destination bytes between rows"),
        F("spad_stride", "stride", "source bytes between rows"),
    ), "Scratchpad → DRAM copy of a strided 2-D block."),
    OpSpec("pre", 0x20, "pre", (
        F("src", "saddr", "activations a[M, K]: scratchpad byte address"),
        F("src_stride", "stride", "activations: bytes between rows"),
        F("adt", "enum", "activation type", names=ADTYPES),
        F("m", "u", "rows M", 16, lo=1),
        F("k", "u", "K (activations per row; zero-padded to a multiple of 4)", 16, lo=1),
        F("tab", "saddr", "tables [M, ceil(K/4), E]: scratchpad byte address"),
        F("tab_stride", "stride", "tables: bytes between rows"),
        F("ttype", "enum", "table entry type", names=TTYPES),
        F("form", "enum", "table form (E = 16, 16, 8 entries)", names=FORMS),
        F("act_group", "u", "activations per table scale (multiple of 4)", 16, lo=4),
        F("ts", "saddr", "table scales f32 [M, ceil(K/act_group)]: scratchpad byte address"),
        F("ts_stride", "stride", "table scales: bytes between rows"),
        F("fused", "flag", "1: runs in the output stage of the immediately preceding vector instruction, "
                           "which must write exactly the activations read here", default=0),
    ), "Table precompute (lut.precompute): activation tables and table scales."),
    OpSpec("lmma", 0x30, "lmma", (
        F("tab", "saddr", "tables of the K range: scratchpad byte address of row 0, group 0"),
        F("tab_stride", "stride", "tables: bytes between rows"),
        F("ttype", "enum", "table entry type", names=TTYPES),
        F("form", "enum", "table form", names=FORMS),
        F("w", "saddr", "weight planes: byte address of plane 0, row 0 (two 4-bit indices a byte)"),
        F("w_row", "stride", "weight planes: bytes between rows n"),
        F("w_plane", "stride", "weight planes: bytes between bit-planes"),
        F("bits", "u", "bit-planes (weight bits; ternary = 2)", 4, lo=1, hi=8),
        F("m", "u", "rows M", 16, lo=1),
        F("n", "u", "output columns N (weight rows)", 16, lo=1),
        F("k", "u", "K (multiple of `block`)", 16, lo=4),
        F("block", "u", "activations per accumulator block (multiple of 4)", 16, lo=4),
        F("acc", "saddr", "accumulators [K/block, M, N] i32 (f32 for f16 tables): byte address"),
        F("sums", "saddr", "block sums S [M, K/block] (same type): byte address"),
        F("accum", "flag", "1: add to the accumulators and sums already there", default=0),
    ), "Table-lookup matrix multiply over a batch of array tiles (lut.mpgemm's integer part)."),
    OpSpec("lmma.dq", 0x31, "lmma", (
        # ordered so that first fit packs 7 words with no gaps worth a word
        F("tab", "saddr", "tables of the K range: scratchpad byte address of row 0, group 0"),
        F("tab_stride", "stride", "tables: bytes between rows"),
        F("ttype", "enum", "table entry type", names=TTYPES),
        F("form", "enum", "table form", names=FORMS),
        F("bits", "u", "bit-planes (weight bits; ternary = 2)", 4, lo=1, hi=8),
        F("w", "saddr", "weight planes: byte address of plane 0, row 0 (two 4-bit indices a byte)"),
        F("w_row", "stride", "weight planes: bytes between rows n"),
        F("m", "u", "rows M", 16, lo=1),
        F("w_plane", "stride", "weight planes: bytes between bit-planes"),
        F("n", "u", "output columns N (weight rows)", 16, lo=1),
        F("k", "u", "K (multiple of `block`)", 16, lo=4),
        F("accum", "flag", "1: add to y (continuing the block sum), 0: start from 0.0", default=0),
        F("block", "u", "activations per block: one scale and table-scale column each (multiple of 4)", 16, lo=4),
        F("scales", "saddr", "group scales f32 [N, ·]: byte address"),
        F("zeros", "saddr", "zero points f32 [N, ·], same layout as the scales: byte address"),
        F("s_stride", "stride", "scales and zeros: bytes between rows"),
        F("s_div", "u", "blocks per scale column (G / block)", 16, lo=1, default=1),
        F("s_phase", "u", "scale column of block b is (b + s_phase) // s_div", 16, default=0),
        F("ts", "saddr", "table scales f32 [M, ·]: byte address"),
        F("ts_stride", "stride", "table scales: bytes between rows"),
        F("t_div", "u", "blocks per table-scale column (act_group / block)", 16, lo=1, default=1),
        F("t_phase", "u", "table-scale column of block b is (b + t_phase) // t_div", 16, default=0),
        F("y", "saddr", "output f32 [M, N]: byte address"),
        F("y_stride", "stride", "output: bytes between rows"),
    ), "Table-lookup matrix multiply with the dequantizing epilogue in the array's output stage: "
       "y (+)= Σ_b (s·ts)·R_b, each block's accumulators kept in the array.", since=2),
    OpSpec("vdq", 0x40, "vec", (
        F("acc", "saddr", "accumulators [NB, M, N]: byte address"),
        F("sums", "saddr", "block sums [M, NB]: byte address"),
        F("acct", "enum", "accumulator type", names=("i32", "f32")),
        F("m", "u", "rows M", 16, lo=1),
        F("n", "u", "columns N", 16, lo=1),
        F("nb", "u", "blocks NB", 16, lo=1),
        F("bits", "u", "weight bits (for the signed/half zero-point term)", 4, lo=1, hi=8),
        F("form", "enum", "table form", names=FORMS),
        F("scales", "saddr", "group scales f32 [N, ·]: byte address"),
        F("zeros", "saddr", "zero points f32 [N, ·], same layout as the scales: byte address"),
        F("s_stride", "stride", "scales and zeros: bytes between rows"),
        F("s_div", "u", "blocks per scale column (G / block)", 16, lo=1, default=1),
        F("s_phase", "u", "scale column of block b is (b + s_phase) // s_div", 16, default=0),
        F("ts", "saddr", "table scales f32 [M, ·]: byte address"),
        F("ts_stride", "stride", "table scales: bytes between rows"),
        F("t_div", "u", "blocks per table-scale column (act_group / block)", 16, lo=1, default=1),
        F("t_phase", "u", "table-scale column of block b is (b + t_phase) // t_div", 16, default=0),
        F("y", "saddr", "output f32 [M, N]: byte address"),
        F("y_stride", "stride", "output: bytes between rows"),
        F("accum", "flag", "1: add to y (continuing the block sum), 0: start from 0.0", default=0),
    ), "Dequantizing epilogue: y (+)= Σ_b (s·ts)·R_b, R from the accumulators, sums and zero points."),
    OpSpec("vbin", 0x41, "vec", (
        F("func", "enum", "operation", names=("add", "sub", "mul", "div", "max", "min")),
        F("bcast", "enum", "shape of b: full [rows, cols], row [1, cols], col [rows, 1], scalar",
          names=("full", "row", "col", "scalar"), default="full"),
        *_SHAPE,
        *_region_fields("dst", "destination"), *_region_fields("a", "first operand"),
        *_region_fields("b", "second operand"),
    ), "Element-wise binary operation, dst = a ∘ b, with b broadcast."),
    OpSpec("vun", 0x42, "vec", (
        F("func", "enum", "operation", names=("copy", "neg", "abs", "relu", "gelu", "gelu_tanh", "silu",
                                                "sigmoid", "tanh", "exp", "sqrt", "rsqrt", "recip", "square")),
        F("trans", "flag", "1: dst is the transpose [cols, rows]", default=0),
        *_SHAPE,
        *_region_fields("dst", "destination"), *_region_fields("src", "source"),
    ), "Element-wise unary operation (copy converts between storage types)."),
    OpSpec("vsa", 0x43, "vec", (
        *_SHAPE,
        *_region_fields("dst", "destination"), *_region_fields("src", "source"),
        F("alpha", "f32", "multiplier"),
        F("beta", "f32", "addend", default=0.0),
    ), "Scale and add: dst = src · alpha + beta (two f32 roundings)."),
    OpSpec("vnorm", 0x44, "vec", (
        F("kind", "enum", "normalization", names=("layernorm", "rmsnorm")),
        *_SHAPE,
        *_region_fields("dst", "destination"), *_region_fields("src", "source"),
        F("gamma", "saddr", "scale f32 [cols]: byte address"),
        F("beta", "saddr", "shift f32 [cols]: byte address (if has_beta)", default=0),
        F("has_beta", "flag", "1: add beta", default=0),
        F("eps", "f32", "epsilon added to the variance (mean square for rmsnorm)"),
    ), "Row normalization (LayerNorm or RMSNorm over the columns) with a per-column affine."),
    OpSpec("vsoftmax", 0x45, "vec", (
        *_SHAPE,
        *_region_fields("dst", "destination"), *_region_fields("src", "source"),
        F("scale", "f32", "softmax(scale · x) along each row", default=1.0),
        F("causal", "flag", "1: columns c > r + qoff are masked out", default=0),
        F("qoff", "u", "causal offset (row r sees columns ≤ r + qoff)", 24, default=0),
    ), "Row softmax (max-subtracted), optionally causal."),
    OpSpec("vquant", 0x46, "vec", (
        *_SHAPE,
        F("dst", "saddr", "i8 destination: byte address"),
        F("dst_stride", "stride", "destination: bytes between rows"),
        *_region_fields("src", "source"),
        F("scales", "saddr", "per-row scales f32 [rows] (dense): byte address"),
    ), "Per-row symmetric int8 quantization: s = max|x| / 127, q = round_half_even(x / s)."),
    OpSpec("vmm", 0x47, "vec", (
        F("m", "u", "rows of C", 16, lo=1),
        F("n", "u", "columns of C", 16, lo=1),
        F("k", "u", "contraction length", 16, lo=1),
        F("transb", "flag", "1: b is [n, k] (C = A·Bᵀ)", default=0),
        F("accum", "flag", "1: C += A·B", default=0),
        F("c", "saddr", "C f32 [m, n]: byte address"),
        F("c_stride", "stride", "C: bytes between rows"),
        *_region_fields("a", "A [m, k]"), *_region_fields("b", "B [k, n] (or [n, k])"),
    ), "Small f32 matrix multiply on the vector unit (activation × activation, e.g. attention)."),
]


def _finish(spec: OpSpec) -> OpSpec:
    layout, words = _place(spec.fields)
    names = [f.name for f in spec.fields]
    assert len(set(names)) == len(names), spec.name
    return OpSpec(spec.name, spec.code, spec.unit, spec.fields, spec.doc, layout, words, spec.since)


OPS: dict[str, OpSpec] = {s.name: _finish(s) for s in _OP_LIST}
BY_CODE: dict[int, OpSpec] = {s.code: s for s in OPS.values()}
_FIELD_INDEX = {s.name: {f.name: i for i, f in enumerate(s.fields)} for s in OPS.values()}
assert len(BY_CODE) == len(OPS)

#: vector instructions whose destination a fused precompute may consume
FUSABLE = ("vbin", "vun", "vsa", "vnorm", "vsoftmax", "vquant")


# ---- instructions -----------------------------------------------------------------------------------

class Instr:
    """One instruction: an op name and a value for every field (ints, enum names, floats).

    Build with `Instr.make("lmma", m=2, ...)` (checks and fills defaults); compare with ==.
    """

    __slots__ = ("spec", "values")

    def __init__(self, spec: OpSpec, values: tuple):
        self.spec = spec
        self.values = values

    @classmethod
    def make(cls, op: str, **kwargs) -> "Instr":
        spec = OPS.get(op)
        if spec is None:
            raise LTCFormatError(f"unknown instruction '{op}' (known: {', '.join(OPS)})")
        unknown = set(kwargs) - {f.name for f in spec.fields}
        if unknown:
            raise LTCFormatError(f"{op}: unknown field '{sorted(unknown)[0]}' "
                                 f"(fields: {', '.join(f.name for f in spec.fields)})")
        given = {f.name: coerce(spec, f, kwargs[f.name]) for f in spec.fields if f.name in kwargs}
        values = []
        for f in spec.fields:
            if f.name in given:
                values.append(given[f.name])
            elif f.default is not None:
                values.append(coerce(spec, f, f.default))
            else:
                raise LTCFormatError(f"{op}: field '{f.name}' is required ({f.doc})")
        return cls(spec, tuple(values))

    @property
    def op(self) -> str:
        return self.spec.name

    def __getitem__(self, name: str):
        try:
            return self.values[_FIELD_INDEX[self.spec.name][name]]
        except KeyError:
            raise KeyError(f"{self.op} has no field '{name}'") from None

    def get(self, name: str, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def as_dict(self) -> dict:
        return {f.name: v for f, v in zip(self.spec.fields, self.values)}

    def replace(self, **changes) -> "Instr":
        return Instr.make(self.op, **{**self.as_dict(), **changes})

    def __eq__(self, other):
        return isinstance(other, Instr) and self.spec.name == other.spec.name and self.values == other.values

    def __hash__(self):
        return hash((self.spec.name, self.values))

    def __repr__(self):
        return f"Instr({self.op}, {self.as_dict()})"


def f32_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def bits_f32(b: int) -> float:
    return struct.unpack("<f", struct.pack("<I", b))[0]


def coerce(spec: OpSpec, f: Field, v) -> Any:
    """A field value in canonical form (enum → name, f32 → the nearest binary32 as a float), checked."""
    where = f"{spec.name} field '{f.name}'"
    if f.kind == "enum":
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < len(f.names):
            return f.names[int(v)]
        if v not in f.names:
            raise LTCFormatError(f"{where}: '{v}' is not one of {', '.join(f.names)}")
        return v
    if f.kind == "f32":
        try:
            x = float(np.float32(v))
        except (TypeError, ValueError):
            raise LTCFormatError(f"{where}: '{v}' is not a number") from None
        if not math.isfinite(x):
            raise LTCFormatError(f"{where}: {v} is not a finite binary32 value")
        return x
    if f.kind == "units" and isinstance(v, str):
        try:
            v = int(v, 0)  # a numeric mask
        except ValueError:
            v = units_mask(v, where)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise LTCFormatError(f"{where}: '{v}' is not an integer")
    v = int(v)
    if not f.lo <= v <= f.max:
        raise LTCFormatError(f"{where} = {v} is out of range [{f.lo}, {f.max}]")
    return v


def units_mask(text: str, where: str = "units") -> int:
    if text == "all":
        return (1 << len(UNITS)) - 1
    mask = 0
    for part in text.split("+"):
        if part == "dma":
            mask |= 0b11
            continue
        if part not in UNITS:
            raise LTCFormatError(f"{where}: unknown unit '{part}' (units: {', '.join(UNITS)}, dma = ld+st, or all)")
        mask |= 1 << UNITS.index(part)
    return mask


def units_text(mask: int) -> str:
    if mask == (1 << len(UNITS)) - 1:
        return "all"
    return "+".join(u for i, u in enumerate(UNITS) if mask >> i & 1)


# ---- binary encoding --------------------------------------------------------------------------------

def _raw(f: Field, v) -> int:
    if f.kind == "enum":
        return f.names.index(v)
    if f.kind == "f32":
        return f32_bits(v)
    return int(v)


def encode(ins: Instr) -> list[int]:
    """The instruction's words (Python ints < 2^64)."""
    words = [0] * ins.spec.words
    words[0] = ins.spec.code
    for p, v in zip(ins.spec.layout, ins.values):
        words[p.word] |= _raw(p.field, v) << p.bit
    return words


def encode_all(instrs: Iterable[Instr]) -> np.ndarray:
    out: list[int] = []
    for ins in instrs:
        out.extend(encode(ins))
    return np.array(out, dtype=np.uint64)


def _reserved_masks(spec: OpSpec) -> list[int]:
    used = [0] * spec.words
    used[0] = (1 << OPCODE_BITS) - 1
    for p in spec.layout:
        used[p.word] |= ((1 << p.field.width) - 1) << p.bit
    return [~u & ((1 << WORD_BITS) - 1) for u in used]


_RESERVED = {name: _reserved_masks(s) for name, s in OPS.items()}


def stream_version(instrs: Iterable[Instr]) -> int:
    """The lowest ISA version that has every instruction of a stream (what a file records)."""
    return max((ins.spec.since for ins in instrs), default=1)


def decode_one(words, offset: int, version: int = ISA_VERSION) -> Instr:
    """Decode the instruction starting at word `offset` of `words` (a sequence of ints), as ISA
    `version` defines it."""
    code = int(words[offset]) & 0xFF
    spec = BY_CODE.get(code)
    if spec is None:
        raise LTCFormatError(f"word {offset}: unknown opcode 0x{code:02x}")
    if spec.since > version:
        raise LTCFormatError(f"word {offset}: opcode 0x{code:02x} ({spec.name}) is not in ISA version {version} "
                             f"(it came with version {spec.since})")
    left = len(words) - offset
    if left < spec.words:
        raise LTCFormatError(f"word {offset}: truncated {spec.name} instruction "
                             f"(needs {spec.words} words, {left} left)")
    ws = [int(words[offset + i]) for i in range(spec.words)]
    for i, (w, mask) in enumerate(zip(ws, _RESERVED[spec.name])):
        if w & mask:
            raise LTCFormatError(f"word {offset}: reserved bits set in {spec.name} (word {offset + i}, "
                                 f"mask 0x{w & mask:016x})")
    values = []
    for p in spec.layout:
        f = p.field
        raw = (ws[p.word] >> p.bit) & ((1 << f.width) - 1)
        where = f"word {offset}: {spec.name} field '{f.name}'"
        if f.kind == "enum":
            if raw >= len(f.names):
                raise LTCFormatError(f"{where} = {raw} is not a valid value ({', '.join(f.names)})")
            values.append(f.names[raw])
        elif f.kind == "f32":
            x = bits_f32(raw)
            if not math.isfinite(x):
                raise LTCFormatError(f"{where} is not a finite binary32 value (0x{raw:08x})")
            values.append(x)
        else:
            if not f.lo <= raw <= f.max:
                raise LTCFormatError(f"{where} = {raw} is out of range [{f.lo}, {f.max}]")
            values.append(raw)
    return Instr(spec, tuple(values))


def decode_all(words, version: int = ISA_VERSION) -> list[tuple[int, Instr]]:
    """[(word offset, instruction)] for a whole stream; LTCFormatError names the bad word."""
    out = []
    i = 0
    n = len(words)
    while i < n:
        ins = decode_one(words, i, version)
        out.append((i, ins))
        i += ins.spec.words
    return out


# ---- operand regions (bounds checks, the scoreboard, the energy model) ------------------------------

class Region(NamedTuple):
    space: str  # "spad" | "dram"
    lo: int  # first byte
    hi: int  # one past the last byte
    what: str  # the operand, for messages


class Access(NamedTuple):
    reads: tuple[Region, ...]
    writes: tuple[Region, ...]


def _rect(space, addr, rows, row_bytes, stride, what) -> Region:
    return Region(space, addr, addr + (rows - 1) * stride + row_bytes, what)


def _cols(nb: int, div: int, phase: int) -> int:
    """How many scale columns blocks 0..nb-1 touch: (nb - 1 + phase) // div + 1."""
    return (nb - 1 + phase) // div + 1


def table_groups(k: int) -> int:
    return -(-k // 4)


class _Check:
    """Collects the semantic checks of one instruction; raise names the word offset."""

    def __init__(self, ins: Instr, offset: int | None):
        self.ins, self.offset = ins, offset

    def fail(self, msg: str):
        at = f"word {self.offset}: " if self.offset is not None else ""
        raise LTCFormatError(f"{at}{self.ins.op}: {msg}")

    def aligned(self, name: str, size: int, *strides: str):
        if size > 1:
            if self.ins[name] % size:
                self.fail(f"{name} = 0x{self.ins[name]:x} is not aligned to {size} bytes")
            for s in strides:
                if self.ins[s] % size:
                    self.fail(f"{s} = {self.ins[s]} is not a multiple of {size} bytes")

    def rows_disjoint(self, rows: int, row_bytes: int, stride: int, what: str):
        if rows > 1 and stride < row_bytes:
            self.fail(f"{what} rows overlap (stride {stride} < {row_bytes} bytes per row)")


def _epilogue_regions(c: _Check, m: int, n: int, nb: int) -> tuple[tuple[Region, ...], Region]:
    """The dequantizing epilogue's operands (vdq, lmma.dq): scales, zero points and table scales
    read for blocks 0..nb-1, and the output y [m, n]; checked for alignment and phases."""
    g = c.ins.__getitem__
    for a in ("scales", "zeros", "ts", "y"):
        c.aligned(a, 4)
    for s in ("s_stride", "ts_stride", "y_stride"):
        if g(s) % 4:
            c.fail(f"{s} = {g(s)} is not a multiple of 4 bytes")
    if g("s_phase") >= g("s_div") or g("t_phase") >= g("t_div"):
        c.fail("a phase must be smaller than its divisor")
    scols = _cols(nb, g("s_div"), g("s_phase"))
    tcols = _cols(nb, g("t_div"), g("t_phase"))
    c.rows_disjoint(m, n * 4, g("y_stride"), "output")
    sc = _rect("spad", g("scales"), n, scols * 4, g("s_stride"), "scales")
    zp = _rect("spad", g("zeros"), n, scols * 4, g("s_stride"), "zero points")
    ts = _rect("spad", g("ts"), m, tcols * 4, g("ts_stride"), "table scales")
    y = _rect("spad", g("y"), m, n * 4, g("y_stride"), "output")
    return (sc, zp, ts), y


def access(ins: Instr, offset: int | None = None) -> Access:
    """The byte ranges an instruction reads and writes, after its semantic checks
    (alignment, shapes, forms) — LTCFormatError otherwise. Ranges are bounding intervals."""
    c = _Check(ins, offset)
    g = ins.__getitem__
    op = ins.op
    if op == "fence":
        return Access((), ())
    if op in ("dma.ld", "dma.st"):
        spad = _rect("spad", g("spad"), g("rows"), g("row_bytes"), g("spad_stride"), "scratchpad block")
        dram = _rect("dram", g("dram"), g("rows"), g("row_bytes"), g("dram_stride"), "DRAM block")
        if op == "dma.ld":
            c.rows_disjoint(g("rows"), g("row_bytes"), g("spad_stride"), "destination")
            return Access((dram,), (spad,))
        c.rows_disjoint(g("rows"), g("row_bytes"), g("dram_stride"), "destination")
        return Access((spad,), (dram,))
    if op == "pre":
        m, k, ag = g("m"), g("k"), g("act_group")
        if ag % 4:
            c.fail(f"act_group = {ag} is not a multiple of 4")
        if g("ttype") == "i16" and g("adt") != "i8":
            c.fail("i16 tables need i8 activations (exact only for them)")
        asz, tsz = itemsize(g("adt")), itemsize(g("ttype"))
        c.aligned("src", asz, "src_stride")
        c.aligned("tab", tsz, "tab_stride")
        c.aligned("ts", 4, "ts_stride")
        tab_row = table_groups(k) * FORM_ENTRIES[g("form")] * tsz
        ts_row = -(-k // ag) * 4
        c.rows_disjoint(m, tab_row, g("tab_stride"), "table")
        c.rows_disjoint(m, ts_row, g("ts_stride"), "table-scale")
        src = _rect("spad", g("src"), m, k * asz, g("src_stride"), "activations")
        tab = _rect("spad", g("tab"), m, tab_row, g("tab_stride"), "tables")
        ts = _rect("spad", g("ts"), m, ts_row, g("ts_stride"), "table scales")
        return Access((src,), (tab, ts))
    if op in ("lmma", "lmma.dq"):
        m, n, k, blk, bits = g("m"), g("n"), g("k"), g("block"), g("bits")
        if blk % 4:
            c.fail(f"block = {blk} is not a multiple of 4")
        if k % blk:
            c.fail(f"k = {k} is not a multiple of block = {blk}")
        tsz = itemsize(g("ttype"))
        c.aligned("tab", tsz, "tab_stride")
        k4 = k // 4
        wbytes = (k4 + 1) // 2
        tab = _rect("spad", g("tab"), m, k4 * FORM_ENTRIES[g("form")] * tsz, g("tab_stride"), "tables")
        w_hi = g("w") + (bits - 1) * g("w_plane") + (n - 1) * g("w_row") + wbytes
        w = Region("spad", g("w"), w_hi, "weight planes")
        nb = k // blk
        if op == "lmma.dq":
            params, y = _epilogue_regions(c, m, n, nb)
            return Access((tab, w) + params + ((y,) if g("accum") else ()), (y,))
        c.aligned("acc", 4)
        c.aligned("sums", 4)
        acc = Region("spad", g("acc"), g("acc") + nb * m * n * 4, "accumulators")
        sums = Region("spad", g("sums"), g("sums") + m * nb * 4, "sums")
        if acc.lo < sums.hi and sums.lo < acc.hi:
            c.fail("accumulators and sums overlap")
        reads = (tab, w) + ((acc, sums) if g("accum") else ())
        return Access(reads, (acc, sums))
    if op == "vdq":
        m, n, nb = g("m"), g("n"), g("nb")
        c.aligned("acc", 4)
        c.aligned("sums", 4)
        acc = Region("spad", g("acc"), g("acc") + nb * m * n * 4, "accumulators")
        sums = Region("spad", g("sums"), g("sums") + m * nb * 4, "sums")
        params, y = _epilogue_regions(c, m, n, nb)
        return Access((acc, sums) + params + ((y,) if g("accum") else ()), (y,))
    if op in ("vbin", "vun", "vsa", "vnorm", "vsoftmax", "vquant"):
        rows, cols = g("rows"), g("cols")
        ddt = "i8" if op == "vquant" else g("dst_dt")
        dsz = itemsize(ddt)
        c.aligned("dst", dsz, "dst_stride")
        drows, dcols = (cols, rows) if op == "vun" and g("trans") else (rows, cols)
        c.rows_disjoint(drows, dcols * dsz, g("dst_stride"), "destination")
        dst = _rect("spad", g("dst"), drows, dcols * dsz, g("dst_stride"), "destination")
        reads = []
        srcs = ("a", "b") if op == "vbin" else ("src",)
        for s in srcs:
            ssz = itemsize(g(f"{s}_dt"))
            c.aligned(s, ssz, f"{s}_stride")
            r, cc = rows, cols
            if s == "b":
                bc = g("bcast")
                r = 1 if bc in ("row", "scalar") else rows
                cc = 1 if bc in ("col", "scalar") else cols
            reads.append(_rect("spad", g(s), r, cc * ssz, g(f"{s}_stride"), "source" if s == "src" else s))
        if op == "vnorm":
            c.aligned("gamma", 4)
            reads.append(Region("spad", g("gamma"), g("gamma") + cols * 4, "gamma"))
            if g("has_beta"):
                c.aligned("beta", 4)
                reads.append(Region("spad", g("beta"), g("beta") + cols * 4, "beta"))
        writes = [dst]
        if op == "vquant":
            if g("src_dt") not in ("f32", "f16"):
                c.fail("quantizes f32 or f16 sources only")
            c.aligned("scales", 4)
            writes.append(Region("spad", g("scales"), g("scales") + rows * 4, "scales"))
        return Access(tuple(reads), tuple(writes))
    if op == "vmm":
        m, n, k = g("m"), g("n"), g("k")
        c.aligned("c", 4, "c_stride")
        c.rows_disjoint(m, n * 4, g("c_stride"), "C")
        asz, bsz = itemsize(g("a_dt")), itemsize(g("b_dt"))
        c.aligned("a", asz, "a_stride")
        c.aligned("b", bsz, "b_stride")
        cm = _rect("spad", g("c"), m, n * 4, g("c_stride"), "C")
        am = _rect("spad", g("a"), m, k * asz, g("a_stride"), "A")
        br, bc = (n, k) if g("transb") else (k, n)
        bm = _rect("spad", g("b"), br, bc * bsz, g("b_stride"), "B")
        return Access((am, bm) + ((cm,) if g("accum") else ()), (cm,))
    raise AssertionError(op)


def check_stream(instrs: list[tuple[int, Instr]], spad_bytes: int, dram_bytes: int) -> list[Access]:
    """Semantic checks of a decoded stream: every operand inside the scratchpad / DRAM, alignment,
    shapes, fused precomputes placed right. Returns each instruction's Access."""
    out = []
    prev: Instr | None = None
    for off, ins in instrs:
        acc = access(ins, off)
        for r in acc.reads + acc.writes:
            size = spad_bytes if r.space == "spad" else dram_bytes
            if r.hi > size:
                where = "scratchpad" if r.space == "spad" else "DRAM"
                raise LTCFormatError(f"word {off}: {ins.op}: {r.what} [0x{r.lo:x}, 0x{r.hi:x}) is out of range "
                                     f"of the {size}-byte {where}")
        if ins.op == "pre" and ins["fused"]:
            _check_fused(prev, ins, off)
        out.append(acc)
        prev = ins
    return out


def _check_fused(prev: Instr | None, ins: Instr, off: int) -> None:
    def fail(msg):
        raise LTCFormatError(f"word {off}: pre: fused precompute {msg}")

    if prev is None or prev.op not in FUSABLE:
        fail(f"must directly follow an element-wise or normalization vector instruction "
             f"({', '.join(FUSABLE)}), not {prev.op if prev else 'the start of the stream'}")
    pdt = "i8" if prev.op == "vquant" else prev["dst_dt"]
    if prev.op == "vun" and prev["trans"]:
        fail("cannot follow a transposing vun")
    if pdt not in ADTYPES:
        fail(f"cannot read the {pdt} output of {prev.op}")
    if (prev["dst"], prev["dst_stride"], pdt, prev["rows"], prev["cols"]) != \
            (ins["src"], ins["src_stride"], ins["adt"], ins["m"], ins["k"]):
        fail(f"reads different activations than {prev.op} writes "
             f"(src/src_stride/adt/m/k must equal its dst/dst_stride/dst_dt/rows/cols)")


def doc_tables() -> str:
    """The bit-field tables of docs/ltc.md §3 (a test keeps the page equal to this)."""
    out = []
    for spec in OPS.values():
        since = f" (ISA version {spec.since})" if spec.since > 1 else ""
        out.append(f"#### `{spec.name}` — opcode 0x{spec.code:02x}, {spec.words} word{'s' if spec.words > 1 else ''}, "
                   f"unit {spec.unit}{since}\n\n{spec.doc}\n")
        out.append("| word | bits | field | kind | values | meaning |")
        out.append("|---|---|---|---|---|---|")
        out.append("| 0 | 0–7 | opcode | | " + f"0x{spec.code:02x} | |")
        for p in sorted(spec.layout, key=lambda p: (p.word, p.bit)):
            f = p.field
            if f.kind == "enum":
                vals = ", ".join(f"{i} {n}" for i, n in enumerate(f.names))
            elif f.kind == "units":
                vals = "mask: " + ", ".join(f"bit {i} {u}" for i, u in enumerate(UNITS))
            elif f.kind == "f32":
                vals = "binary32, finite"
            else:
                vals = f"{f.lo}–{f.max}" if f.lo or f.hi is not None else f"0–2^{f.width}−1"
            if f.default is not None:
                vals += f" (default {f.default})"
            out.append(f"| {p.word} | {p.bit}–{p.bit + f.width - 1} | `{f.name}` | {f.kind} | {vals} | {f.doc} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
