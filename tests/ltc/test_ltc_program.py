"""The .ltc file format and whole-program assembly: exact round trips, corrupted files refused."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
from ltc_helpers import linear_program

from tensorc.ltc import ProgramBuilder, Ref, assemble, disassemble
from tensorc.runtime.ltc import program_from_bytes, read_program
from tensorc.runtime.ltc.errors import LTCFormatError
from tensorc.runtime.ltc.program import HEADER


@pytest.fixture(scope="module")
def prog():
    p, _, _ = linear_program(3, 256, 128, bits=3, group=64, act_group=32, form="signed", table_type="i8")
    return p


def test_file_round_trip_is_byte_exact_and_deterministic(prog, tmp_path):
    data = prog.to_bytes()
    assert prog.to_bytes() == data
    back = program_from_bytes(data)
    assert back.instrs == prog.instrs and back.tensors == prog.tensors and back.segments == prog.segments
    assert back.to_bytes() == data
    prog.save(tmp_path / "m.ltc")
    assert read_program(tmp_path / "m.ltc").to_bytes() == data


def test_asm_disasm_round_trip_of_a_compiled_program(prog):
    text = disassemble(prog, data=True)
    again = assemble(text, "m.s")
    assert again.to_bytes() == prog.to_bytes()
    assert disassemble(again, data=True) == text
    # the listing names word offsets the decoder's errors use
    assert "# @0" in text and re.search(r"lmma.dq .* # @\d+", text)


def test_elided_listing_does_not_assemble(prog):
    with pytest.raises(LTCFormatError, match=r"^m\.s:\d+: segment 'w\.planes' declares \d+ bytes, its .bytes lines "
                                             r"carry 0$"):
        assemble(disassemble(prog, data=False), "m.s")


def _patched(data: bytes, **fields) -> bytes:
    names = ["magic", "fver", "iver", "spad", "dram", "t_off", "t_len", "c_off", "c_words"]
    vals = dict(zip(names, HEADER.unpack_from(data)))
    vals.update(fields)
    return HEADER.pack(*[vals[n] for n in names]) + data[HEADER.size:]


def test_corrupted_files_are_refused(prog):
    data = prog.to_bytes()
    with pytest.raises(LTCFormatError, match="bad magic"):
        program_from_bytes(b"GARBAGE!" + data[8:])
    with pytest.raises(LTCFormatError, match="format version 7"):
        program_from_bytes(_patched(data, fver=7))
    with pytest.raises(LTCFormatError, match="truncated instruction stream"):
        program_from_bytes(data[:-8])
    flipped = bytearray(data)
    flipped[-3] ^= 0x40
    with pytest.raises(LTCFormatError, match="instruction stream checksum mismatch"):
        program_from_bytes(bytes(flipped))
    seg = bytearray(data)
    off = data.index(prog.segments[0].data[:32])
    seg[off] ^= 1
    with pytest.raises(LTCFormatError, match="segment 'w.planes' checksum mismatch"):
        program_from_bytes(bytes(seg))
    with pytest.raises(LTCFormatError, match=r"^prog: scratchpad size 0"):
        program_from_bytes(_patched(data, spad=0), "prog")
    with pytest.raises(LTCFormatError, match="too short"):
        program_from_bytes(data[:10])


def test_isa_version_is_the_lowest_the_stream_needs(prog):
    """lmma.dq came with ISA version 2: a stream with it records 2, one without records 1 (and reads
    as before); a version-1 file holding the lmma.dq opcode, or a version from the future, is refused."""
    data = prog.to_bytes()
    assert HEADER.unpack_from(data)[2] == 2 and "lmma.dq" in {i.op for i in prog.instrs}
    v1, _, _ = linear_program(3, 256, 128, bits=3, group=64, act_group=32, form="signed", table_type="i8",
                              epilogue="vector")
    assert HEADER.unpack_from(v1.to_bytes())[2] == 1 and program_from_bytes(v1.to_bytes()).instrs == v1.instrs
    off = next(i for i, ins in enumerate(prog.instrs) if ins.op == "lmma.dq")
    word = sum(ins.spec.words for ins in prog.instrs[:off])
    with pytest.raises(LTCFormatError, match=rf"^word {word}: opcode 0x31 \(lmma.dq\) is not in ISA version 1 "
                                             r"\(it came with version 2\)$"):
        program_from_bytes(_patched(data, iver=1), "p")
    with pytest.raises(LTCFormatError, match=r"^p: ISA version 3, this simulator implements versions 1 to 2$"):
        program_from_bytes(_patched(data, iver=3), "p")


def test_a_small_scratchpad_header_puts_operands_out_of_range(prog):
    data = _patched(prog.to_bytes(), spad=4096)
    with pytest.raises(LTCFormatError, match=r"word \d+: \S+: .* is out of range of the 4096-byte scratchpad"):
        program_from_bytes(data)


def test_program_layout_checks():
    b = ProgramBuilder(1 << 16)
    b.input("x", (4,), "f32")
    b.constant("c", np.arange(4, dtype=np.float32))
    p = b.build()
    p.segments.append(type(p.segments[0])("d", p.segments[0].addr + 4, b"\0" * 8))
    with pytest.raises(LTCFormatError, match="segments 'c' and 'd' overlap"):
        p.validate()
    p.segments.pop()
    p.tensors.append(type(p.tensors[0])("x2", "input", p.segments[0].addr + 8, "f32", (2,)))
    with pytest.raises(LTCFormatError, match="segment 'c' and input 'x2' overlap"):
        p.validate()
    with pytest.raises(LTCFormatError, match="tensor 'x' is declared twice"):
        b.input("x", (1,), "f32")


def test_assembly_directives_and_errors():
    text = """
    # a hand-written program
    .ltc spad=65536
    .tensor input x addr=0x0 dtype=f32 shape=2x8
    .tensor output y addr=0x40 dtype=f32 shape=2x8
    dma.ld rows=2 row_bytes=32 dram=0 spad=0 dram_stride=32 spad_stride=32
    vun func=relu rows=2 cols=8 dst=0x100 dst_stride=32 dst_dt=f32 src=0 src_stride=32 src_dt=f32   ; relu
    dma.st rows=2 row_bytes=32 dram=0x40 spad=0x100 dram_stride=32 spad_stride=32
    """
    p = assemble(text, "h.s")
    assert p.spad_bytes == 65536 and p.dram_bytes == 128 and [i.op for i in p.instrs] == ["dma.ld", "vun", "dma.st"]
    from tensorc.runtime.ltc import simulate
    x = np.array([[-1, 2, -3, 4, 0, 1, -1, 5]] * 2, np.float32)
    assert np.array_equal(simulate(p, {"x": x}).outputs["y"], np.maximum(x, 0))
    for bad, msg in [(".ltc spad=1 bogus=2", r"h\.s:1: \.ltc: expected spad"),
                     (".tensor input x addr=0 dtype=f32", r"h\.s:1: \.tensor: missing shape"),
                     (".bytes AAAA", r"h\.s:1: \.bytes outside a \.segment"),
                     (".wat", r"h\.s:1: unknown directive '\.wat'"),
                     ("\n\nvun func=relu", r"h\.s:3: vun: field 'rows' is required"),
                     ("dma.ld rows=1 row_bytes=64 dram=0 spad=0x1000000 dram_stride=0 spad_stride=0",
                      r"h\.s:1: dma\.ld field 'spad' = 16777216 is out of range")]:
        with pytest.raises(LTCFormatError, match=msg):
            assemble(bad, "h.s")
    with pytest.raises(LTCFormatError, match=r"^h\.s: word 0: dma\.ld: scratchpad block .* out of range of the "
                                             r"65536-byte scratchpad$"):
        assemble(".ltc spad=65536\ndma.ld rows=1 row_bytes=64 dram=0 spad=0x10000 dram_stride=0 spad_stride=0",
                 "h.s")


def test_builder_checks_at_the_call():
    b = ProgramBuilder(4096)
    with pytest.raises(LTCFormatError, match=r"^instruction 0 \(word 0\): dma.ld: scratchpad block \[0xf00, 0x1100\) "
                                             r"is out of range of the 4096-byte scratchpad$"):
        b.dma_load(spad=3840, dram=0, row_bytes=512)
    with pytest.raises(LTCFormatError, match=r"^instruction 0 \(word 0\): vbin field 'func': 'pow' is not one of"):
        b.vbin("pow", dst=Ref(0, 4, "f32"), a=Ref(0, 4, "f32"), b=Ref(0, 4, "f32"), rows=1, cols=1)
    with pytest.raises(LTCFormatError, match="scratchpad full"):
        b.spad.alloc(8192)
