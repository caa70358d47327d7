"""The ISA's binary encoding and text form: exact round trips, and malformed streams refused."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ltc_helpers import random_instr

from tensorc.ltc.asm import format_instr, parse_instr
from tensorc.runtime.ltc import isa
from tensorc.runtime.ltc.errors import LTCFormatError

OPS = sorted(isa.OPS)


def test_layout_fits_and_is_disjoint():
    for spec in isa.OPS.values():
        used = [0] * spec.words
        used[0] = 0xFF
        for p in spec.layout:
            mask = ((1 << p.field.width) - 1) << p.bit
            assert p.bit + p.field.width <= 64, (spec.name, p.field.name)
            assert not used[p.word] & mask, (spec.name, p.field.name)
            used[p.word] |= mask
        assert all(u for u in used), f"{spec.name}: an empty word"


@pytest.mark.parametrize("op", OPS)
def test_round_trip_every_instruction_kind(op):
    rng = np.random.default_rng(hash(op) % 2**32)
    for _ in range(200):
        ins = random_instr(op, rng)
        words = isa.encode(ins)
        assert len(words) == ins.spec.words and all(0 <= w < 2**64 for w in words)
        back = isa.decode_one(np.array(words, np.uint64), 0)
        assert back == ins and isa.encode(back) == words
        text = format_instr(ins)
        again = parse_instr(text)
        assert isa.encode(again) == words  # bit-exact, -0.0 included
        assert format_instr(again) == text


@st.composite
def instr_streams(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    ops = draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=12))
    rng = np.random.default_rng(seed)
    return [random_instr(op, rng) for op in ops]


@settings(max_examples=150, deadline=None)
@given(instr_streams())
def test_property_stream_round_trip(instrs):
    words = isa.encode_all(instrs)
    decoded = isa.decode_all(words)
    assert [i for _, i in decoded] == instrs
    offsets = [o for o, _ in decoded]
    assert offsets == list(np.cumsum([0] + [i.spec.words for i in instrs])[:-1])
    texts = [format_instr(i) for i in instrs]
    assert np.array_equal(isa.encode_all([parse_instr(t) for t in texts]), words)


def test_assembler_accepts_any_field_order_defaults_and_literals():
    a = parse_instr("dma.ld rows=2 row_bytes=0x40 dram=64 spad=0b1000000 dram_stride=64 spad_stride=1_0_0")
    assert a["tag"] == "c" and a["spad"] == 64 and a["spad_stride"] == 100
    assert format_instr(a) == ("dma.ld tag=c rows=2 row_bytes=64 dram=0x40 spad=0x40 dram_stride=0x40 "
                               "spad_stride=0x64")
    f = parse_instr("fence units=dma+vec")
    assert f["units"] == 0b10011 and format_instr(f) == "fence units=ld+st+vec"
    v = parse_instr(format_instr(isa.Instr.make("vsa", rows=1, cols=1, dst=0, dst_stride=4, dst_dt="f32", src=0,
                                                src_stride=4, src_dt="f32", alpha=0.1)))
    assert v["alpha"] == float(np.float32(0.1)) and "alpha=0.1 " in format_instr(v)


@pytest.mark.parametrize("text, msg", [
    ("lmmb m=1", "unknown instruction 'lmmb'"),
    ("fence", "field 'units' is required"),
    ("fence units=0", "out of range"),
    ("fence units=dma+gpu", "unknown unit 'gpu'"),
    ("dma.ld rows=0 row_bytes=1 dram=0 spad=0 dram_stride=0 spad_stride=0", "rows' = 0 is out of range"),
    ("dma.ld rows=1 row_bytes=1 dram=0 spad=0x1000000 dram_stride=0 spad_stride=0", "out of range"),
    ("dma.ld rows=1 row_bytes=1 dram=0 spad=0 dram_stride=0 spad_stride=0 tag=s", "'s' is not one of c, r"),
    ("dma.ld rows=1 rows=2", "given twice"),
    ("dma.ld rows", "expected field=value"),
    ("dma.ld rows=x", "not an integer"),
    ("vsa alpha=nan", "not a finite"),
    ("vsa alpha=1e39", "not a finite"),
    ("dma.ld bogus=1", "unknown field 'bogus'"),
])
def test_assembler_errors_are_one_line(text, msg):
    with pytest.raises(LTCFormatError, match=re.escape(msg)) as e:
        parse_instr(text)
    assert "\n" not in str(e.value)


def _stream():
    rng = np.random.default_rng(1)
    return isa.encode_all([random_instr(op, rng) for op in ("fence", "dma.ld", "lmma", "vdq", "fence")])


def test_unknown_opcode_names_the_word():
    words = _stream()
    bad = words.copy()
    bad[4] = (int(bad[4]) & ~0xFF) | 0xEE  # the lmma starting at word 4
    with pytest.raises(LTCFormatError, match=r"^word 4: unknown opcode 0xee$"):
        isa.decode_all(bad)
    zero = np.concatenate([words, np.zeros(1, np.uint64)])
    with pytest.raises(LTCFormatError, match=rf"^word {len(words)}: unknown opcode 0x00$"):
        isa.decode_all(zero)


def test_truncated_stream_names_the_word():
    words = _stream()[:-2]  # vdq (6 words, starting at word 8) loses... the fence and one word
    with pytest.raises(LTCFormatError, match=r"^word 8: truncated vdq instruction \(needs 6 words, 5 left\)$"):
        isa.decode_all(words)


def test_reserved_bits_and_bad_enum_are_refused():
    ins = isa.Instr.make("fence", units="all")
    w = isa.encode(ins)[0]
    with pytest.raises(LTCFormatError, match=r"^word 0: reserved bits set in fence"):
        isa.decode_all(np.array([w | 1 << 63], np.uint64))
    rng = np.random.default_rng(0)
    pre = random_instr("pre", rng)
    words = isa.encode(pre)
    form = next(p for p in pre.spec.layout if p.field.name == "form")
    words[form.word] |= 3 << form.bit  # form 3 does not exist
    with pytest.raises(LTCFormatError, match=r"^word 0: pre field 'form' = 3 is not a valid value"):
        isa.decode_all(np.array(words, np.uint64))


def test_address_out_of_range_names_the_word():
    ld = isa.Instr.make("dma.ld", rows=4, row_bytes=256, dram=0, spad=4096 - 512, dram_stride=256, spad_stride=256)
    ok = isa.Instr.make("fence", units="all")
    decoded = isa.decode_all(isa.encode_all([ok, ld]))
    with pytest.raises(LTCFormatError, match=r"^word 1: dma.ld: scratchpad block \[0xe00, 0x1200\) is out of range "
                                             r"of the 4096-byte scratchpad$"):
        isa.check_stream(decoded, 4096, 1 << 20)
    with pytest.raises(LTCFormatError, match=r"^word 1: dma.ld: DRAM block \[0x0, 0x400\) is out of range"):
        isa.check_stream(decoded, 1 << 20, 512)
    isa.check_stream(decoded, 1 << 20, 1 << 20)


def test_semantic_checks():
    def lmma(**kw):
        base = dict(tab=0, tab_stride=256, ttype="i16", form="half", w=4096, w_row=64, w_plane=4096, bits=2, m=2,
                    n=64, k=128, block=64, acc=65536, sums=131072)
        return isa.Instr.make("lmma", **{**base, **kw})
    isa.access(lmma())
    with pytest.raises(LTCFormatError, match="k = 96 is not a multiple of block = 64"):
        isa.access(lmma(k=96))
    with pytest.raises(LTCFormatError, match="tab = 0x1 is not aligned to 2 bytes"):
        isa.access(lmma(tab=1))
    with pytest.raises(LTCFormatError, match="accumulators and sums overlap"):
        isa.access(lmma(sums=65536 + 64))
    with pytest.raises(LTCFormatError, match="i16 tables need i8 activations"):
        isa.access(isa.Instr.make("pre", src=0, src_stride=64, adt="f32", m=1, k=16, tab=0, tab_stride=0,
                                  ttype="i16", form="half", act_group=16, ts=0, ts_stride=0))
    with pytest.raises(LTCFormatError, match="destination rows overlap"):
        isa.access(isa.Instr.make("dma.ld", rows=2, row_bytes=64, dram=0, spad=0, dram_stride=64, spad_stride=32))


def test_fused_precompute_placement():
    vq = isa.Instr.make("vquant", rows=2, cols=64, dst=0, dst_stride=64, src=1024, src_stride=256, src_dt="f32",
                        scales=4096)
    pre = isa.Instr.make("pre", src=0, src_stride=64, adt="i8", m=2, k=64, tab=8192, tab_stride=512, ttype="i16",
                         form="half", act_group=64, ts=16384, ts_stride=4, fused=1)
    isa.check_stream(isa.decode_all(isa.encode_all([vq, pre])), 1 << 20, 64)
    with pytest.raises(LTCFormatError, match=r"^word 0: pre: fused precompute must directly follow"):
        isa.check_stream(isa.decode_all(isa.encode_all([pre])), 1 << 20, 64)
    other = pre.replace(src_stride=128)
    with pytest.raises(LTCFormatError, match=r"^word 3: pre: fused precompute reads different activations"):
        isa.check_stream(isa.decode_all(isa.encode_all([vq, other])), 1 << 20, 64)


def test_docs_tables_match_the_isa():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ltc.md").read_text()
    assert isa.doc_tables() in doc, "docs/ltc.md §3.1 is out of date: paste tensorc.runtime.ltc.isa.doc_tables()"
    from tensorc.runtime.ltc.config import config_doc_table
    assert config_doc_table() in doc, "docs/ltc.md §1 is out of date: paste config.config_doc_table()"
