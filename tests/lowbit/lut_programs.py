"""Small programs around the lut ops for the LUT tests (the integer path: i8 activations)."""

from __future__ import annotations

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Region

from tensorc.dialects import dtypes
from tensorc.dialects.lut import MpGemmOp, PrecomputeOp
from tensorc.dialects.tg import WeightOp
from tensorc.program import Program, WeightStore, signature_from_main
from tensorc.quant import lut as L


def tensor(shape, dtype):
    return dtypes.tensor_type(shape, np.dtype(dtype))


def integer_lut_program(a_shape, codes, scales, zeros, *, bits, group, act_group, form, table_type="i16"):
    """tables of i8 activations → one lut.mpgemm on weights in a WeightStore (the integer path)."""
    return lut_program(a_shape, [(codes, scales, zeros, bits, group)], act_group=act_group, form=form,
                       table_type=table_type)


def lut_program(a_shape, layers, *, act_group, form, table_type="i16", a_dtype=np.int8, return_tables=False):
    """One lut.precompute of the input shared by one lut.mpgemm per layer (codes, scales, zeros, bits,
    group); weights `fc<i>.planes/scales/zeros` in the WeightStore; outputs y0, y1, ... (and the
    tables themselves with `return_tables`)."""
    k = layers[0][0].shape[1]
    store = WeightStore()
    block = Block(arg_types=[tensor(a_shape, a_dtype)])
    pc = PrecomputeOp.of(block.args[0], k, form, table_type, act_group, src="tables")
    block.add_op(pc)
    outs = []
    for i, (codes, scales, zeros, bits, group) in enumerate(layers):
        vals = []
        for what, arr in (("planes", L.planes_from_codes(codes, bits, form)), ("scales", scales), ("zeros", zeros)):
            op = WeightOp(store.add(f"fc{i}.{what}", arr), tensor(arr.shape, arr.dtype))
            block.add_op(op)
            vals.append(op.result)
        mp = MpGemmOp.of(pc.tables, pc.tscales, *vals, k=k, n=codes.shape[0], bits=bits, group=group,
                         act_group=act_group, form=form, src=f"fc{i}")
        block.add_op(mp)
        outs.append(mp.outputs[0])
    if return_tables:
        outs.append(pc.tables)
    block.add_op(func.ReturnOp(*outs))
    main = func.FuncOp("main", ([block.args[0].type], [o.type for o in outs]), Region(block))
    return Program(ModuleOp([main]), store, signature_from_main(main, ["a"], [f"y{i}" for i in range(len(outs))]))
