"""lut-mpgemm and lut-symmetrize: rewrites, shared precomputes, fusion marks, remarks, reports, numerics."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Region

import tensorc
from lowbit_programs import matmul_nbits_program
from lut_programs import lut_program, tensor
from tensorc.diagnostics import PassError
from tensorc.dialects.lut import MpGemmOp, PrecomputeOp
from tensorc.dialects.tg import WeightOp
from tensorc.dialects.tg.elementwise import OPS as EW
from tensorc.dialects.tg.lowbit import MatMulNBitsOp
from tensorc.dialects.tg.nn import RmsNormalizationOp
from tensorc.passes import lut_mpgemm, lut_symmetrize
from tensorc.pipeline import run_passes
from tensorc.program import Program, WeightStore, signature_from_main
from tensorc.quant import lut as L
from tensorc.quant.lowbit import quantize_rtn


def nmse(y, ref) -> float:
    y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
    return float(np.mean((y - ref) ** 2) / np.mean(ref ** 2))


def ops_of(prog, cls):
    return [o for o in prog.module.walk() if isinstance(o, cls)]


def run(prog, **inputs):
    return tensorc.compile(prog, target="reference")(**inputs)


@pytest.mark.parametrize("spec", ["w1g128", "w2g64", "w3g128", "w4g128", "ternary"])
def test_end_to_end_equals_matmul_nbits(spec):
    rng = np.random.default_rng(0)
    qw = quantize_rtn(rng.standard_normal((96, 256)).astype(np.float32), spec)
    prog = matmul_nbits_program(qw, (2, 3, 256))
    x = rng.standard_normal((2, 3, 256)).astype(np.float32)
    ref = run(prog.clone(), x=x)["y"]
    for pipeline in ("lut-mpgemm", "lut-mpgemm,lut-symmetrize", "lut-mpgemm{form=unsigned},lut-symmetrize"):
        low = run_passes(prog.clone(), pipeline)
        assert not ops_of(low, MatMulNBitsOp) and len(ops_of(low, MpGemmOp)) == 1
        assert "fc.codes" not in low.weights  # the packed codes are replaced by the planes
        assert nmse(run(low, x=x)["y"], ref) <= 5e-4, pipeline
    # f32 tables: only f32 rounding separates the two
    low = run_passes(prog.clone(), "lut-mpgemm{table-type=f32}")
    assert nmse(run(low, x=x)["y"], ref) < 1e-11


def test_planes_are_computed_into_the_weight_store():
    rng = np.random.default_rng(1)
    qw = quantize_rtn(rng.standard_normal((16, 64)).astype(np.float32), "w3g32")
    low = run_passes(matmul_nbits_program(qw, (1, 64)), "lut-mpgemm")
    (w,) = [o for o in ops_of(low, WeightOp) if o.weight_name.endswith("planes")]
    assert w.weight_name == "fc.planes"
    np.testing.assert_array_equal(low.weights["fc.planes"], L.planes_from_codes(qw.codes, 3))
    low = run_passes(low, "lut-symmetrize")
    np.testing.assert_array_equal(low.weights["fc.planes_half"], L.planes_from_codes(qw.codes, 3, "half"))
    assert "fc.planes" not in low.weights
    (pc,) = ops_of(low, PrecomputeOp)
    (mp,) = ops_of(low, MpGemmOp)
    assert pc.attr("form") == mp.attr("form") == "half"


def qkv_program(rng, producer: str, also_return_producer=False, k=128, n=64):
    """x → producer (relu / rms_normalization / none) → three tg.matmul_nbits (Q, K, V)."""
    store = WeightStore()
    block = Block(arg_types=[tensor((1, 4, k), np.float32)])
    x = block.args[0]
    if producer == "relu":
        op = EW["relu"].make([x], src="act")
        block.add_op(op)
        x = op.outputs[0]
    elif producer == "rms":
        g = WeightOp(store.add("gamma", rng.uniform(0.5, 1.5, size=(k,)).astype(np.float32)), tensor((k,), np.float32))
        block.add_op(g)
        op = RmsNormalizationOp.make([x, g.result], src="norm")
        block.add_op(op)
        x = op.outputs[0]
    outs = []
    for name, spec in (("q", "w4g64"), ("k", "w2g64"), ("v", "ternary")):
        qw = quantize_rtn(rng.standard_normal((n, k)).astype(np.float32), spec)
        vals = []
        for what, arr in (("codes", qw.packed()), ("scales", qw.scales), ("zeros", qw.zeros)):
            w = WeightOp(store.add(f"{name}.{what}", arr), tensor(arr.shape, arr.dtype))
            block.add_op(w)
            vals.append(w.result)
        mm = MatMulNBitsOp.make([x, *vals], {"K": k, "N": n, "bits": qw.bits, "block_size": qw.group,
                                             "ternary": int(qw.ternary)}, src=name)
        block.add_op(mm)
        outs.append(mm.outputs[0])
    if also_return_producer:
        outs.append(x)
    block.add_op(func.ReturnOp(*outs))
    main = func.FuncOp("main", ([block.args[0].type], [o.type for o in outs]), Region(block))
    return Program(ModuleOp([main]), store, signature_from_main(main, ["x"]))


@pytest.mark.parametrize("producer,extra_user,fused", [
    ("relu", False, True), ("rms", False, True), ("relu", True, False), ("none", False, False),
])
def test_one_shared_precompute_and_fusion_mark(producer, extra_user, fused):
    rng = np.random.default_rng(2)
    prog = qkv_program(rng, producer, extra_user)
    x = rng.standard_normal((1, 4, 128)).astype(np.float32)
    ref = run(prog.clone(), x=x)
    low = run_passes(prog.clone(), "lut-mpgemm,lut-symmetrize")
    (pc,) = ops_of(low, PrecomputeOp)
    mps = ops_of(low, MpGemmOp)
    assert len(mps) == 3 and all(m.inputs[0] is pc.tables and m.inputs[1] is pc.tscales for m in mps)
    assert pc.attr("fuse_producer") == int(fused)
    out = run(low, x=x)
    for name in ("out0", "out1", "out2"):
        assert nmse(out[name], ref[name]) <= 5e-4
    if extra_user:  # the producer's own output is untouched
        np.testing.assert_array_equal(out["out3"], ref["out3"])
    assert "lut-mpgemm: lut.precompute (node 'q'): 3 reader(s) (q, k, v)" in lut_mpgemm.last_report()[0]


def test_ops_left_alone_get_remarks(capsys):
    rng = np.random.default_rng(3)
    prog = matmul_nbits_program(quantize_rtn(rng.standard_normal((8, 6)).astype(np.float32), "w2g6"), (1, 6), "odd")
    low = run_passes(prog.clone(), "lut-mpgemm")
    assert len(ops_of(low, MatMulNBitsOp)) == 1 and not ops_of(low, PrecomputeOp)
    assert lut_mpgemm.last_remarks() == ["remark: lut-mpgemm: tg.matmul_nbits (node 'odd'): left as it is: "
                                         "K = 6 is not a multiple of 4 (tables hold groups of 4 activations)"]
    assert "K = 6 is not a multiple of 4" in capsys.readouterr().err
    prog = matmul_nbits_program(quantize_rtn(rng.standard_normal((8, 48)).astype(np.float32), "w2g8"), (1, 48))
    run_passes(prog.clone(), "lut-mpgemm{act-group=12}")
    assert "group 8 and act-group 12: neither divides the other" in lut_mpgemm.last_remarks()[0]
    # no weight store (as under `tensorc opt`): codes in a tg.weight cannot be read
    from tensorc.context import make_context

    bare = prog.clone()
    lut_mpgemm.LutMpGemm().apply(make_context(), bare.module)
    assert "there is no weight store here" in lut_mpgemm.last_remarks()[0]
    assert ops_of(bare, MatMulNBitsOp)


@pytest.mark.parametrize("option,msg", [
    ("form=half", "form=half is not signed or unsigned (half tables come from lut-symmetrize)"),
    ("table-type=i16", "table-type=i16 is not i8 or f32 (i16 tables are exact only for i8 activations"),
    ("act-group=6", "act-group=6 must be a positive multiple of 4"),
])
def test_bad_options(option, msg):
    rng = np.random.default_rng(4)
    prog = matmul_nbits_program(quantize_rtn(rng.standard_normal((8, 64)).astype(np.float32), "w2g32"), (1, 64))
    with pytest.raises(PassError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        run_passes(prog, f"lut-mpgemm{{{option}}}")


@pytest.mark.parametrize("form", ["unsigned", "signed"])
@pytest.mark.parametrize("table_type", ["i16", "f32"])
def test_symmetrize_halves_tables_and_keeps_integer_outputs_bit_identical(form, table_type, capsys):
    rng = np.random.default_rng(5)
    k = 200  # not a multiple of 64
    layers = []
    for bits, ternary, group in ((1, False, 40), (2, True, 20), (3, False, 4), (4, False, 40)):
        codes = rng.integers(0, 3 if ternary else 1 << bits, size=(7, k), dtype=np.uint8)
        scales = rng.uniform(0.1, 2, size=(7, k // group)).astype(np.float32)
        zeros = (np.ones if ternary else lambda s, d: rng.integers(0, 1 << bits, size=s).astype(d))(
            (7, k // group), np.float32)
        layers.append((codes, scales, zeros, bits, group))
    prog = lut_program((3, k), layers, act_group=20 if table_type == "i16" else 40, form=form, table_type=table_type)
    a = rng.integers(-128, 128, size=(3, k), dtype=np.int8)
    before = run(prog.clone(), a=a)
    low = run_passes(prog.clone(), "lut-symmetrize{report=true}")
    (pc,) = ops_of(low, PrecomputeOp)
    assert pc.attr("form") == "half" and all(m.attr("form") == "half" for m in ops_of(low, MpGemmOp))
    esize = 2 if table_type == "i16" else 4
    full = 3 * 50 * 16 * esize
    assert lut_symmetrize.last_report()[-1] == f"lut-symmetrize: table bytes {full} -> {full // 2} " \
                                               "(1 precompute(s) symmetrized)"
    err = capsys.readouterr().err
    assert f"tables 3x50x16x{table_type} ({full} B) -> 3x50x8x{table_type} ({full // 2} B)" in err
    after = run(low, a=a)
    for i, (codes, scales, zeros, bits, group) in enumerate(layers):
        np.testing.assert_array_equal(after[f"y{i}"].view(np.int32), before[f"y{i}"].view(np.int32))
        want = L.direct_integer_dot(a, codes, scales, zeros, group=group, act_group=pc.attr("act_group"))
        np.testing.assert_array_equal(after[f"y{i}"].view(np.int32), want.view(np.int32))
    assert sorted(n for n in low.weights if "planes" in n) == [f"fc{i}.planes_half" for i in range(4)]


def test_symmetrize_is_idempotent_and_leaves_other_readers_alone():
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 4, size=(4, 32), dtype=np.uint8)
    one = np.ones((4, 1), np.float32)
    prog = lut_program((1, 32), [(codes, one, one, 2, 32)], act_group=32, form="half")
    low = run_passes(prog.clone(), "lut-symmetrize")
    assert lut_symmetrize.last_report() == ["lut-symmetrize: table bytes 128 -> 128 (0 precompute(s) symmetrized)"]
    # tables that leave the function cannot be re-encoded
    prog = lut_program((1, 32), [(codes, one, one, 2, 32)], act_group=32, form="signed", return_tables=True)
    low = run_passes(prog, "lut-symmetrize")
    assert ops_of(low, PrecomputeOp)[0].attr("form") == "signed"
    assert "its tables are read by func.return, which has no half form" in lut_symmetrize.last_remarks()[0]
