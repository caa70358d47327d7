"""Text assembly for the LUT Tensor Core: instruction lines and whole programs (docs/ltc.md §3).

An instruction is its name and every field as `name=value`, in the order of the ISA table:

    lmma tab=0x0 tab_stride=0x800 ttype=i16 form=half w=0x10000 w_row=0x40 w_plane=0x1000 bits=2 ...

Addresses and strides print in hex, counts in decimal, enums by name, f32 immediates in the
shortest form that reads back to the same binary32, fence masks as `dma+lmma` or `all`. The
assembler accepts the fields in any order, any integer literal Python accepts (0x.., 0b.., 1_000),
and omits nothing unless the field has a default. `format_instr(parse_instr(s))` is the canonical
form of `s`, and parse(format(i)) == i for every instruction.

A program file adds directives (one per line; `#` or `;` start comments):

    .ltc spad=2097152 dram=1048576          sizes (default: the default core's scratchpad; DRAM from the extents)
    .meta {"source": "..."}                   free-form JSON, one line
    .tensor input x addr=0x0 dtype=i8 shape=1x4096
    .segment w.planes addr=0x1000 size=2048   then .bytes lines (base64) carrying exactly `size` bytes
    .bytes AAECAwQ...

`disassemble(prog, data=True)` prints a program that `assemble` turns back into the same bytes.
"""

from __future__ import annotations

import base64
import json
import math
import re
import zlib

import numpy as np

from tensorc.runtime.ltc import isa
from tensorc.runtime.ltc.config import LTCConfig
from tensorc.runtime.ltc.errors import LTCFormatError
from tensorc.runtime.ltc.program import LTCProgram, Segment, TensorInfo

_BYTES_PER_LINE = 57  # 76 base64 characters


def format_value(f: isa.Field, v) -> str:
    if f.kind == "enum":
        return v
    if f.kind == "f32":
        s = str(np.float32(v))  # shortest digits that identify the binary32
        back = float(np.float32(float(s)))
        if back != v or math.copysign(1.0, back) != math.copysign(1.0, v):  # pragma: no cover
            s = repr(float(v))  # the exact value as a double: always reads back
        return s
    if f.kind == "units":
        return isa.units_text(v)
    if f.kind in ("saddr", "stride", "daddr", "dstride"):
        return hex(v)
    return str(v)


def format_instr(ins: isa.Instr) -> str:
    return " ".join([ins.op] + [f"{f.name}={format_value(f, v)}" for f, v in zip(ins.spec.fields, ins.values)])


def _parse_value(spec: isa.OpSpec, f: isa.Field, text: str):
    if f.kind in ("enum", "units"):
        return text
    if f.kind == "f32":
        try:
            return float(text)
        except ValueError:
            raise LTCFormatError(f"{spec.name} field '{f.name}': '{text}' is not a number") from None
    try:
        return int(text, 0)
    except ValueError:
        raise LTCFormatError(f"{spec.name} field '{f.name}': '{text}' is not an integer") from None


def parse_instr(line: str) -> isa.Instr:
    """One instruction line (no comments) → Instr; LTCFormatError with a one-line reason."""
    parts = line.split()
    if not parts:
        raise LTCFormatError("empty instruction")
    op, args = parts[0], parts[1:]
    spec = isa.OPS.get(op)
    if spec is None:
        raise LTCFormatError(f"unknown instruction '{op}'")
    fields = {f.name: f for f in spec.fields}
    values = {}
    for a in args:
        name, eq, text = a.partition("=")
        if not eq or not text:
            raise LTCFormatError(f"{op}: expected field=value, got '{a}'")
        if name not in fields:
            raise LTCFormatError(f"{op}: unknown field '{name}' (fields: {', '.join(fields)})")
        if name in values:
            raise LTCFormatError(f"{op}: field '{name}' given twice")
        values[name] = _parse_value(spec, fields[name], text)
    return isa.Instr.make(op, **values)


# ---- programs -------------------------------------------------------------------------------------------

def disassemble(prog: LTCProgram, data: bool = False, offsets: bool = True) -> str:
    """The program as assembly text. data=False elides segment bytes (the listing then documents the
    program but does not assemble); data=True includes them as base64 (exact round trip)."""
    out = [f"# tensorc LUT Tensor Core program: {len(prog.instrs)} instructions, "
           f"{int(sum(i.spec.words for i in prog.instrs))} words, ISA {isa.stream_version(prog.instrs)}",
           f".ltc spad={prog.spad_bytes} dram={prog.dram_bytes}"]
    if prog.meta:
        out.append(".meta " + json.dumps(prog.meta, sort_keys=True, separators=(",", ":")))
    for t in prog.tensors:
        out.append(f".tensor {t.role} {t.name} addr={hex(t.addr)} dtype={t.dtype} "
                   f"shape={'x'.join(map(str, t.shape)) or 'scalar'}")
    for s in prog.segments:
        out.append(f".segment {s.name} addr={hex(s.addr)} size={len(s.data)}")
        if data:
            for i in range(0, len(s.data), _BYTES_PER_LINE):
                out.append(".bytes " + base64.b64encode(s.data[i:i + _BYTES_PER_LINE]).decode())
        else:
            out.append(f"# .bytes elided: {len(s.data)} bytes, crc32 0x{zlib.crc32(s.data):08x} "
                       f"(tensorc disasm --data includes them)")
    off = 0
    for ins in prog.instrs:
        text = format_instr(ins)
        out.append(f"{text}  # @{off}" if offsets else text)  # @ the word offset errors name
        off += ins.spec.words
    return "\n".join(out) + "\n"


_NAME = re.compile(r"^[A-Za-z_][\w.\-/:]*$")


def _kv(parts: list[str], where: str, allowed: set[str]) -> dict:
    out = {}
    for p in parts:
        k, eq, v = p.partition("=")
        if not eq or k not in allowed:
            raise LTCFormatError(f"{where}: expected {', '.join(sorted(allowed))} as key=value, got '{p}'")
        if k in out:
            raise LTCFormatError(f"{where}: '{k}' given twice")
        out[k] = v
    missing = allowed - set(out)
    if missing:
        raise LTCFormatError(f"{where}: missing {', '.join(sorted(missing))}")
    return out


def _int(text: str, where: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise LTCFormatError(f"{where}: '{text}' is not an integer") from None


def assemble(text: str, where: str = "<asm>") -> LTCProgram:
    """Assembly text → a checked LTCProgram. Errors name `where` and the line."""
    instrs: list[isa.Instr] = []
    tensors: list[TensorInfo] = []
    segments: list[tuple[str, int, int, bytearray, int]] = []  # name, addr, size, data, line
    meta: dict = {}
    spad = dram = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        at = f"{where}:{lineno}"
        line = re.split(r"[#;]", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        try:
            if line.startswith("."):
                d, _, rest = line.partition(" ")
                parts = rest.split()
                if d == ".ltc":
                    kv = {}
                    for p in parts:
                        k, eq, v = p.partition("=")
                        if not eq or k not in ("spad", "dram"):
                            raise LTCFormatError(f"{d}: expected spad=BYTES and/or dram=BYTES, got '{p}'")
                        kv[k] = _int(v, d)
                    spad, dram = kv.get("spad", spad), kv.get("dram", dram)
                elif d == ".meta":
                    try:
                        meta = json.loads(rest)
                    except json.JSONDecodeError as e:
                        raise LTCFormatError(f".meta: not valid JSON ({e.msg})") from None
                    if not isinstance(meta, dict):
                        raise LTCFormatError(".meta: expected a JSON object")
                elif d == ".tensor":
                    if len(parts) < 2 or parts[0] not in ("input", "output") or not _NAME.match(parts[1]):
                        raise LTCFormatError(".tensor: expected `.tensor input|output NAME addr=.. dtype=.. shape=..`")
                    kv = _kv(parts[2:], ".tensor", {"addr", "dtype", "shape"})
                    shape = () if kv["shape"] == "scalar" else tuple(_int(x, ".tensor shape") for x in kv["shape"].split("x"))
                    tensors.append(TensorInfo(parts[1], parts[0], _int(kv["addr"], ".tensor"), kv["dtype"], shape))
                elif d == ".segment":
                    if not parts or not _NAME.match(parts[0]):
                        raise LTCFormatError(".segment: expected `.segment NAME addr=.. size=..`")
                    kv = _kv(parts[1:], ".segment", {"addr", "size"})
                    segments.append((parts[0], _int(kv["addr"], ".segment"), _int(kv["size"], ".segment"),
                                     bytearray(), lineno))
                elif d == ".bytes":
                    if not segments:
                        raise LTCFormatError(".bytes outside a .segment")
                    try:
                        segments[-1][3].extend(base64.b64decode(rest.strip(), validate=True))
                    except ValueError:
                        raise LTCFormatError(".bytes: not valid base64") from None
                else:
                    raise LTCFormatError(f"unknown directive '{d}' (.ltc, .meta, .tensor, .segment, .bytes)")
            else:
                instrs.append(parse_instr(line))
        except LTCFormatError as e:
            raise LTCFormatError(f"{at}: {e}") from None
    segs = []
    for name, addr, size, data, lineno in segments:
        if len(data) != size:
            raise LTCFormatError(f"{where}:{lineno}: segment '{name}' declares {size} bytes, "
                                 f"its .bytes lines carry {len(data)}")
        segs.append(Segment(name, addr, bytes(data)))
    if spad is None:
        spad = LTCConfig().spad_bytes
    if dram is None:
        dram = _dram_extent(instrs, tensors, segs)
    prog = LTCProgram(instrs, spad, dram, tensors, segs, meta)
    try:
        prog.validate()
    except LTCFormatError as e:
        raise LTCFormatError(f"{where}: {e}") from None
    return prog


def _dram_extent(instrs, tensors, segs) -> int:
    top = 64
    for ins in instrs:
        try:
            acc = isa.access(ins)
        except LTCFormatError:
            continue  # reported with its word offset by validate()
        for r in acc.reads + acc.writes:
            if r.space == "dram":
                top = max(top, r.hi)
    for t in tensors:
        top = max(top, t.addr + t.nbytes)
    for s in segs:
        top = max(top, s.addr + len(s.data))
    return -(-top // 64) * 64
