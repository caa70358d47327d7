"""The `.ltc` program file: header, tensor table, DRAM data segments, instruction stream.

    offset  size  field (all little-endian)
    0       8     magic b"\\x89LTC\\r\\n\\x1a\\n"
    8       4     u32 format version (1)
    12      4     u32 ISA version: the lowest that has every instruction of the stream (≤ isa.ISA_VERSION)
    16      8     u64 scratchpad bytes the program needs (every scratchpad operand lies below it)
    24      8     u64 DRAM bytes (every DRAM operand, tensor and segment lies below it)
    32      8     u64 table offset      40  8  u64 table length (bytes)
    48      8     u64 code offset       56  8  u64 code length (64-bit words)
    64      ...   the table: UTF-8 JSON, keys sorted, no spaces:
                  {"code_crc32": int, "meta": {...},
                   "segments": [{"name", "addr", "size", "offset", "crc32"}],
                   "tensors": [{"name", "role": "input"|"output", "addr", "dtype", "shape"}]}
                  then each segment's bytes at its file `offset` (8-byte aligned), then the code
                  (8-byte aligned): the instruction words.

DRAM starts zeroed; segments (weights, constants) are copied to their addresses before the run;
inputs are written to their tensors' addresses (dense, row-major); outputs are read back from
theirs afterwards. Writing is deterministic: the same program gives the same bytes.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import isa
from .errors import LTCFormatError

MAGIC = b"\x89LTC\r\n\x1a\n"
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sIIQQQQQQ")
assert HEADER.size == 64

TENSOR_DTYPES = ("f32", "f16", "i8", "i16", "i32", "u8")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    role: str  # input | output
    addr: int
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * isa.itemsize(self.dtype)


@dataclass(frozen=True)
class Segment:
    name: str
    addr: int
    data: bytes = field(repr=False)


@dataclass
class LTCProgram:
    instrs: list[isa.Instr]
    spad_bytes: int
    dram_bytes: int
    tensors: list[TensorInfo] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def words(self) -> np.ndarray:
        return isa.encode_all(self.instrs)

    def inputs(self) -> list[TensorInfo]:
        return [t for t in self.tensors if t.role == "input"]

    def outputs(self) -> list[TensorInfo]:
        return [t for t in self.tensors if t.role == "output"]

    def validate(self) -> list[isa.Access]:
        """Everything `read_program` checks; returns each instruction's operand regions."""
        _check_layout(self)
        offsets, off = [], 0
        for ins in self.instrs:
            offsets.append((off, ins))
            off += ins.spec.words
        return isa.check_stream(offsets, self.spad_bytes, self.dram_bytes)

    def to_bytes(self) -> bytes:
        self.validate()
        code = self.words().astype("<u8").tobytes()
        seg_meta, blobs = [], []
        # offsets depend on the table's length, which depends on the offsets: fix the layout after
        # the table with a placeholder width, then fill in
        table = self._table(seg_meta, code)
        for _ in range(3):
            pos = _align(HEADER.size + len(table), 8)
            seg_meta, blobs = [], []
            for s in self.segments:
                seg_meta.append({"name": s.name, "addr": s.addr, "size": len(s.data), "offset": pos,
                                 "crc32": zlib.crc32(s.data)})
                blobs.append((pos, s.data))
                pos = _align(pos + len(s.data), 8)
            code_off = pos
            new = self._table(seg_meta, code)
            if len(new) == len(table):
                table = new
                break
            table = new
        else:  # pragma: no cover - the lengths converge after one round
            raise AssertionError("table layout did not converge")
        out = bytearray(code_off + len(code))
        out[:HEADER.size] = HEADER.pack(MAGIC, FORMAT_VERSION, isa.stream_version(self.instrs), self.spad_bytes, self.dram_bytes,
                                        HEADER.size, len(table), code_off, len(code) // 8)
        out[HEADER.size:HEADER.size + len(table)] = table
        for pos, data in blobs:
            out[pos:pos + len(data)] = data
        out[code_off:] = code
        return bytes(out)

    def _table(self, seg_meta, code: bytes) -> bytes:
        doc = {"code_crc32": zlib.crc32(code), "meta": self.meta, "segments": seg_meta,
               "tensors": [{"name": t.name, "role": t.role, "addr": t.addr, "dtype": t.dtype,
                            "shape": list(t.shape)} for t in self.tensors]}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())


def _align(x: int, a: int) -> int:
    return -(-x // a) * a


def _check_layout(p: LTCProgram, where: str = "program") -> None:
    if not 0 < p.spad_bytes <= 1 << isa.SADDR_BITS:
        raise LTCFormatError(f"{where}: scratchpad size {p.spad_bytes} is outside (0, 16 MiB]")
    if not 0 < p.dram_bytes <= 1 << isa.DADDR_BITS:
        raise LTCFormatError(f"{where}: DRAM size {p.dram_bytes} is outside (0, 1 TiB]")
    names = set()
    for t in p.tensors:
        if t.name in names:
            raise LTCFormatError(f"{where}: tensor '{t.name}' appears twice in the tensor table")
        names.add(t.name)
        if t.role not in ("input", "output"):
            raise LTCFormatError(f"{where}: tensor '{t.name}' has role '{t.role}' (input or output)")
        if t.dtype not in TENSOR_DTYPES:
            raise LTCFormatError(f"{where}: tensor '{t.name}' has dtype '{t.dtype}' "
                                 f"(one of {', '.join(TENSOR_DTYPES)})")
        if any((not isinstance(d, int)) or d < 0 for d in t.shape):
            raise LTCFormatError(f"{where}: tensor '{t.name}' has shape {list(t.shape)}")
        if t.addr < 0 or t.addr + t.nbytes > p.dram_bytes:
            raise LTCFormatError(f"{where}: tensor '{t.name}' [0x{t.addr:x}, 0x{t.addr + t.nbytes:x}) is out of "
                                 f"range of the {p.dram_bytes}-byte DRAM")
    spans = []
    for s in p.segments:
        if s.addr < 0 or s.addr + len(s.data) > p.dram_bytes:
            raise LTCFormatError(f"{where}: segment '{s.name}' [0x{s.addr:x}, 0x{s.addr + len(s.data):x}) is out "
                                 f"of range of the {p.dram_bytes}-byte DRAM")
        spans.append((s.addr, s.addr + len(s.data), s.name))
    spans.sort()
    for (a0, a1, n0), (b0, b1, n1) in zip(spans, spans[1:]):
        if b0 < a1:
            raise LTCFormatError(f"{where}: segments '{n0}' and '{n1}' overlap in DRAM")
    # inputs are written before the run: one may not clobber a segment or another input
    spans += [(t.addr, t.addr + t.nbytes, f"input '{t.name}'") for t in p.tensors if t.role == "input"]
    spans.sort()
    for i, (a0, a1, n0) in enumerate(spans):
        for b0, b1, n1 in spans[i + 1:]:
            if b0 >= a1:
                break
            if a1 > a0 and b1 > b0 and (n0.startswith("input") or n1.startswith("input")):
                raise LTCFormatError(f"{where}: {_what(n0)} and {_what(n1)} overlap in DRAM")


def _what(name: str) -> str:
    return name if name.startswith("input '") else f"segment '{name}'"


def program_from_bytes(data: bytes, where: str = "program") -> LTCProgram:
    """Parse and check a .ltc image; LTCFormatError (one line naming `where`) if anything is off."""
    if len(data) < HEADER.size:
        raise LTCFormatError(f"{where}: too short for a .ltc header ({len(data)} bytes)")
    magic, fver, iver, spad, dram, t_off, t_len, c_off, c_words = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise LTCFormatError(f"{where}: not a .ltc program (bad magic)")
    if fver != FORMAT_VERSION:
        raise LTCFormatError(f"{where}: format version {fver}, this simulator reads {FORMAT_VERSION}")
    if not 1 <= iver <= isa.ISA_VERSION:
        raise LTCFormatError(f"{where}: ISA version {iver}, this simulator implements versions 1 to {isa.ISA_VERSION}")
    if t_off + t_len > len(data):
        raise LTCFormatError(f"{where}: tensor table runs past the end of the file")
    if c_off % 8 or c_off + 8 * c_words > len(data):
        raise LTCFormatError(f"{where}: truncated instruction stream (the header promises {c_words} words "
                             f"at offset {c_off}, the file has {max(0, (len(data) - c_off) // 8)})")
    try:
        table = json.loads(data[t_off:t_off + t_len].decode())
        tensors = [TensorInfo(str(t["name"]), str(t["role"]), int(t["addr"]), str(t["dtype"]),
                              tuple(int(d) for d in t["shape"])) for t in table["tensors"]]
        segs_meta = table["segments"]
        meta = table.get("meta", {})
        code_crc = int(table["code_crc32"])
    except (ValueError, KeyError, TypeError) as e:
        raise LTCFormatError(f"{where}: malformed tensor table ({type(e).__name__}: {e})") from None
    code = data[c_off:c_off + 8 * c_words]
    if zlib.crc32(code) != code_crc:
        raise LTCFormatError(f"{where}: instruction stream checksum mismatch (corrupted file)")
    segments = []
    for s in segs_meta:
        try:
            off, size, name, addr, crc = int(s["offset"]), int(s["size"]), str(s["name"]), int(s["addr"]), int(s["crc32"])
        except (KeyError, TypeError, ValueError) as e:
            raise LTCFormatError(f"{where}: malformed segment entry ({e})") from None
        if off < 0 or off + size > len(data):
            raise LTCFormatError(f"{where}: segment '{name}' runs past the end of the file")
        blob = data[off:off + size]
        if zlib.crc32(blob) != crc:
            raise LTCFormatError(f"{where}: segment '{name}' checksum mismatch (corrupted file)")
        segments.append(Segment(name, addr, bytes(blob)))
    words = np.frombuffer(code, dtype="<u8")
    decoded = isa.decode_all(words, iver)
    prog = LTCProgram([ins for _, ins in decoded], spad, dram, tensors, segments, meta)
    _check_layout(prog, where)
    isa.check_stream(decoded, spad, dram)
    return prog


def read_program(path: str | Path) -> LTCProgram:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise LTCFormatError(f"{p}: cannot read: {e.strerror or e}") from None
    try:
        return program_from_bytes(data, str(p))
    except LTCFormatError as e:
        msg = str(e)
        raise LTCFormatError(msg if msg.startswith(str(p)) else f"{p}: {msg}") from None
