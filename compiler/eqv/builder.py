"""Build eqv programs from Python: `tensorc.eqv.Builder`.

    from tensorc import eqv
    b = eqv.Builder(dtype="float32")
    x = b.input("x", "32x0e+32x1o+32x2e", batch=(1000,))
    y = b.input("y", "32x0e+32x1o+32x2e", batch=(1000,))
    z = b.tensor_product(x, y, "32x0e+32x1o+32x2e", [(0, 0, 0, "uuu", True), ...], weights=w)
    b.output("z", z)
    prog = b.build()                       # a tensorc.Program
    exe = tensorc.compile(tensorc.lower(prog, "cg-to-gaunt"), target="llvm-cpu")

Normalizations follow e3nn (irrep_normalization 'component', path_normalization
'element' by default), so a product built here equals e3nn's with the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from xdsl.dialects import builtin as B, func
from xdsl.ir import Block, Region, SSAValue

from tensorc.eqv import reference as R
from tensorc.eqv.irreps import Irrep, Irreps


@dataclass
class Feature:
    """A value under construction: its SSA value and the irreps of its last axis (None for raw tensors)."""

    ssa: SSAValue
    irreps: Irreps | None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.ssa.type.get_shape())


def full_tp_instructions(irreps_in1, irreps_in2, filter_ir_out=None):
    """e3nn's FullTensorProduct: (irreps_out, instructions) with 'uvuv' paths, outputs sorted like e3nn."""
    i1, i2 = Irreps(irreps_in1), Irreps(irreps_in2)
    filt = None if filter_ir_out is None else [Irrep.parse(f) for f in filter_ir_out]
    outs, ins = [], []
    for a, e1 in enumerate(i1):
        for b, e2 in enumerate(i2):
            for ir in e1.ir * e2.ir:
                if filt is not None and ir not in filt:
                    continue
                ins.append((a, b, len(outs), "uvuv", False, 1.0))
                outs.append((e1.mul * e2.mul, ir))
    order = sorted(range(len(outs)), key=lambda k: (outs[k][1].l, outs[k][1].p))
    inv = {old: new for new, old in enumerate(order)}
    irreps_out = Irreps([outs[k] for k in order])
    ins = [(a, b, inv[o], m, hw, pw) for a, b, o, m, hw, pw in ins]
    return irreps_out, ins


def fully_connected_instructions(irreps_in1, irreps_in2, irreps_out):
    """e3nn's FullyConnectedTensorProduct: every allowed (i1, i2, io) in mode 'uvw' with weights."""
    i1, i2, io = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    return [
        (a, b, c, "uvw", True, 1.0)
        for a, e1 in enumerate(i1)
        for b, e2 in enumerate(i2)
        for c, eo in enumerate(io)
        if eo.ir in e1.ir * e2.ir
    ]


def channelwise_instructions(irreps_in1, irreps_in2, irreps_out, parity_check: bool = True):
    """Every allowed (i1, i2, io) in mode 'uuu' (all multiplicities equal), with weights."""
    i1, i2, io = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    return [
        (a, b, c, "uuu", True, 1.0)
        for a, e1 in enumerate(i1)
        for b, e2 in enumerate(i2)
        for c, eo in enumerate(io)
        if eo.ir in e1.ir * e2.ir
    ]


def make_paths(instructions, irreps_in1, irreps_in2, irreps_out, irrep_normalization="component",
               path_normalization="element") -> list[R.Path]:
    paths = []
    for ins in instructions:
        ins = tuple(ins)
        i1, i2, io, mode = ins[:4]
        hw = ins[4] if len(ins) > 4 else True
        pw = ins[5] if len(ins) > 5 else 1.0
        paths.append(R.Path(int(i1), int(i2), int(io), str(mode), bool(hw), float(pw)))
    return R.e3nn_path_weights(paths, irreps_in1, irreps_in2, irreps_out, irrep_normalization, path_normalization)


class Builder:
    """A `func.func @main` of eqv (and tg) ops, with its weights, built op by op."""

    def __init__(self, dtype="float32"):
        from tensorc.program import WeightStore

        self.dtype = np.dtype(dtype)
        self.elem = B.f32 if self.dtype == np.float32 else B.f64
        if self.dtype not in (np.float32, np.float64):
            raise ValueError("eqv programs are float32 or float64")
        self.weights = WeightStore()
        self.block = Block()
        self.inputs: list[tuple[str, SSAValue]] = []
        self.outputs: list[tuple[str, SSAValue]] = []

    # ---- values ---------------------------------------------------------------------
    def input(self, name: str, irreps_or_dim, batch: Sequence[int] = ()) -> Feature:
        irr = None if isinstance(irreps_or_dim, int) else Irreps(irreps_or_dim)
        dim = irreps_or_dim if irr is None else irr.dim
        arg = self.block.insert_arg(B.TensorType(self.elem, [*batch, dim]), len(self.block.args))
        arg.name_hint = name
        self.inputs.append((name, arg))
        return Feature(arg, irr)

    def weight(self, name: str, array) -> SSAValue:
        from tensorc.dialects import dtypes
        from tensorc.dialects.tg import WeightOp

        arr = np.ascontiguousarray(np.asarray(array, dtype=self.dtype))
        wname = self.weights.add_unique(name, arr)
        op = WeightOp(wname, dtypes.tensor_type(arr.shape, arr.dtype))
        self.block.add_op(op)
        return op.result

    def _add(self, op, irreps) -> Feature:
        self.block.add_op(op)
        return Feature(op.results[0], Irreps(irreps) if irreps is not None else None)

    # ---- eqv ops ---------------------------------------------------------------------
    def spherical_harmonics(self, vectors: Feature, lmax_or_irreps, normalize=True, normalization="integral") -> Feature:
        from tensorc.dialects.eqv import SphericalHarmonicsOp

        irr = Irreps.spherical_harmonics(lmax_or_irreps) if isinstance(lmax_or_irreps, int) else Irreps(lmax_or_irreps)
        op = SphericalHarmonicsOp.make_op([vectors.ssa], {"irreps_out": irr, "normalize": int(normalize), "normalization": normalization})
        return self._add(op, irr)

    def tensor_product(self, x1: Feature, x2: Feature, irreps_out, instructions, weights=None,
                       irrep_normalization="component", path_normalization="element", name="tp",
                       paths: Sequence[R.Path] | None = None) -> Feature:
        """e3nn's o3.TensorProduct(x1.irreps, x2.irreps, irreps_out, instructions) with shared `weights`."""
        from tensorc.dialects.eqv import CGTensorProductOp

        io = Irreps(irreps_out)
        if paths is None:
            paths = make_paths(instructions, x1.irreps, x2.irreps, io, irrep_normalization, path_normalization)
        operands = [x1.ssa, x2.ssa]
        n = R.weight_numel(paths, x1.irreps, x2.irreps, io)
        if n:
            if weights is None:
                raise ValueError(f"the paths use {n} weights; pass weights=")
            w = np.asarray(weights).reshape(-1)
            if w.size != n:
                raise ValueError(f"{w.size} weights given, the paths use {n}")
            operands.append(self.weight(name + ".weight", w))
        op = CGTensorProductOp.make_op(operands, {"irreps_in1": x1.irreps, "irreps_in2": x2.irreps, "irreps_out": io, "paths": list(paths)})
        return self._add(op, io)

    def full_tensor_product(self, x1: Feature, x2: Feature, filter_ir_out=None, irrep_normalization="component") -> Feature:
        io, ins = full_tp_instructions(x1.irreps, x2.irreps, filter_ir_out)
        return self.tensor_product(x1, x2, io, ins, irrep_normalization=irrep_normalization)

    def fully_connected_tensor_product(self, x1: Feature, x2: Feature, irreps_out, weights, **kw) -> Feature:
        return self.tensor_product(x1, x2, irreps_out, fully_connected_instructions(x1.irreps, x2.irreps, irreps_out), weights, **kw)

    def gaunt_tensor_product(self, x1: Feature, x2: Feature, irreps_out, a, b, c, method="grid") -> Feature:
        from tensorc.dialects.eqv import GauntTensorProductOp

        io = Irreps(irreps_out)
        ops = [x1.ssa, x2.ssa] + [self.weight(f"gaunt.{k}", v) for k, v in (("a", a), ("b", b), ("c", c))]
        op = GauntTensorProductOp.make_op(ops, {"irreps_in1": x1.irreps, "irreps_in2": x2.irreps, "irreps_out": io, "method": method})
        return self._add(op, io)

    def linear(self, x: Feature, irreps_out, weights, name="linear") -> Feature:
        """e3nn's o3.Linear(x.irreps, irreps_out) without biases, weights in e3nn's order."""
        from tensorc.dialects.eqv import LinearOp

        io = Irreps(irreps_out)
        paths = R.e3nn_linear_paths(x.irreps, io)
        w = self.weight(name + ".weight", np.asarray(weights).reshape(-1))
        op = LinearOp.make_op([x.ssa, w], {"irreps_in": x.irreps, "irreps_out": io,
                                          "paths": [v for i, j, _ in paths for v in (i, j)], "coeffs": [c for *_, c in paths]})
        return self._add(op, io)

    def add(self, x: Feature, y: Feature) -> Feature:
        from tensorc.dialects.tg import op_class

        return self._add(op_class("add").make([x.ssa, y.ssa]), x.irreps)

    # ---- finish ------------------------------------------------------------------------
    def output(self, name: str, v: Feature) -> None:
        self.outputs.append((name, v.ssa))

    def build(self):
        from tensorc.program import Program, signature_from_main

        self.block.add_op(func.ReturnOp(*[v for _, v in self.outputs]))
        ftype = ([a.type for _, a in self.inputs], [v.type for _, v in self.outputs])
        main = func.FuncOp("main", ftype, Region(self.block))
        module = B.ModuleOp([main])
        module.verify()
        sig = signature_from_main(main, [n for n, _ in self.inputs], [n for n, _ in self.outputs])
        return Program(module, self.weights, sig)


def gaunt_equivalent_weights(irreps, instructions, a, b, c) -> np.ndarray:
    """uuu weights W_p[u] that make a channelwise CG product a rank-1 Gaunt product (K_p = g a b c),
    given e3nn-normalized paths: W = g·a[u,i1]·b[u,i2]·c[u,io] / path_weight."""
    from tensorc.eqv import so3

    irr = Irreps(irreps)
    paths = make_paths(instructions, irr, irr, irr)
    out = []
    for p in paths:
        l1, l2, lo = irr[p.i1].ir.l, irr[p.i2].ir.l, irr[p.io].ir.l
        out.append(so3.gaunt_factor(l1, l2, lo) * a[:, p.i1] * b[:, p.i2] * c[:, p.io] / p.path_weight)
    return np.concatenate(out)
