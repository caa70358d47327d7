"""ltc — the LUT Tensor Core's instructions as IR: one op per instruction.

    ltc.dma_ld {tag = "c", rows = 1 : i64, row_bytes = 384 : i64, dram = 0 : i64, spad = 4096 : i64, ...}
    ltc.pre {src = 4096 : i64, ..., ttype = "i16", form = "half", ...}
    ltc.lmma {...}
    ltc.vdq {...}

The ops are generated from the ISA table (`tensorc.runtime.ltc.isa.OPS`, the one definition of
the instruction set) when this module is imported, so the dialect cannot drift from the encoder,
the assembler or the simulator: every ISA field is an attribute of the same name (integers and
flags `i64`, enums and fence unit masks strings, f32 immediates `f32`), and the verifier is the
ISA's own check (`Instr.make` for ranges and enums, `isa.access` for alignment and shapes). Op
names are the mnemonic with `.` → `_` (`dma.ld` → `ltc.dma_ld`).

The ops have no operands or results: an instruction names scratchpad and DRAM addresses, and
its dependences are the hardware scoreboard's business. A stream is a `builtin.module` whose body
holds the ops in program order (`stream_to_module` / `module_to_stream`); it prints and parses
like any other stage of the pipeline (docs/ltc.md, "Compiler").
"""

from __future__ import annotations

from typing import Iterable

from xdsl.dialects import builtin as B
from xdsl.ir import Dialect
from xdsl.irdl import IRDLOperation, irdl_op_definition
from xdsl.utils.exceptions import VerifyException

from tensorc.runtime.ltc import isa
from tensorc.runtime.ltc.errors import LTCFormatError


def op_name(mnemonic: str) -> str:
    return "ltc." + mnemonic.replace(".", "_")


def _attr(f: isa.Field, v):
    if f.kind == "enum":
        return B.StringAttr(v)
    if f.kind == "units":
        return B.StringAttr(isa.units_text(v))
    if f.kind == "f32":
        return B.FloatAttr(float(v), B.f32)
    return B.IntegerAttr(int(v), B.i64)


def _value(f: isa.Field, a):
    if isinstance(a, B.StringAttr):
        return a.data
    if isinstance(a, B.FloatAttr):
        return float(a.value.data)
    if isinstance(a, B.IntegerAttr):
        return int(a.value.data)
    raise LTCFormatError(f"field '{f.name}': unexpected attribute {a}")


class LTCInstrOp(IRDLOperation):
    """Base of the generated instruction ops. The fields are plain attributes of the op (not IRDL
    attribute definitions: names such as `block` would shadow Operation's own members); the
    verifier checks them against the ISA."""

    @property
    def SPEC(self) -> isa.OpSpec:
        return _SPECS[self.name]

    def instr(self) -> isa.Instr:
        """The instruction this op stands for (checked by the ISA)."""
        vals = {}
        for f in self.SPEC.fields:
            a = self.attributes.get(f.name)
            if a is not None:
                vals[f.name] = _value(f, a)
        return isa.Instr.make(self.SPEC.name, **vals)

    def verify_(self) -> None:
        try:
            isa.access(self.instr())
        except LTCFormatError as e:
            raise VerifyException(f"{self.name}: {e}") from None
        extra = set(self.attributes) - {f.name for f in self.SPEC.fields} - {"origin"}
        if extra:
            raise VerifyException(f"{self.name}: unknown attribute '{sorted(extra)[0]}' (not an ISA field)")

    @classmethod
    def of(cls, ins: isa.Instr, origin: str | None = None) -> "LTCInstrOp":
        attrs = {f.name: _attr(f, v) for f, v in zip(ins.spec.fields, ins.values)}
        if origin:
            attrs["origin"] = B.StringAttr(origin)
        return cls.create(attributes=attrs)


def _make_op(spec: isa.OpSpec) -> type[LTCInstrOp]:
    # fields are attributes checked by verify_ (omitted ones take the ISA's default); `origin`
    # names the tg op the instruction was selected for
    body = {"name": op_name(spec.name), "__doc__": spec.doc, "assembly_format": "attr-dict"}
    cls_name = "".join(p.capitalize() for p in spec.name.replace(".", "_").split("_")) + "Op"
    return irdl_op_definition(type(cls_name, (LTCInstrOp,), body))


_SPECS: dict[str, isa.OpSpec] = {op_name(name): spec for name, spec in isa.OPS.items()}
#: mnemonic -> op class, in the ISA's order
OPS: dict[str, type[LTCInstrOp]] = {name: _make_op(spec) for name, spec in isa.OPS.items()}

LTC = Dialect("ltc", list(OPS.values()), [])


def instr_to_op(ins: isa.Instr, origin: str | None = None) -> LTCInstrOp:
    return OPS[ins.op].of(ins, origin)


def stream_to_module(instrs: Iterable[isa.Instr], origins: Iterable[str | None] | None = None) -> B.ModuleOp:
    """A module whose body is the instruction stream, one op per instruction (`origins`: the tg
    op each was selected for, kept as the `origin` attribute)."""
    instrs = list(instrs)
    origins = list(origins) if origins is not None else [None] * len(instrs)
    return B.ModuleOp([instr_to_op(i, s) for i, s in zip(instrs, origins)])


def module_to_stream(module: B.ModuleOp) -> list[isa.Instr]:
    """The instructions of a module built by `stream_to_module` (or parsed), in order."""
    out = []
    for op in module.ops:
        if not isinstance(op, LTCInstrOp):
            raise LTCFormatError(f"an ltc stream holds only ltc ops, not {op.name}")
        out.append(op.instr())
    return out


__all__ = ["LTC", "OPS", "LTCInstrOp", "op_name", "instr_to_op", "stream_to_module", "module_to_stream"]
