"""Small programs around `tg.matmul_nbits` for the low-bit tests."""

from __future__ import annotations

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Region

from tensorc.dialects import dtypes
from tensorc.dialects.tg import WeightOp
from tensorc.dialects.tg.lowbit import MatMulNBitsOp
from tensorc.program import Program, WeightStore, signature_from_main
from tensorc.quant.lowbit import QuantizedWeight


def matmul_nbits_program(qw: QuantizedWeight, x_shape: tuple[int, ...], src: str = "fc") -> Program:
    """y = x @ dequantize(qw)ᵀ as one tg.matmul_nbits on weights named `<src>.codes/scales/zeros`."""
    store = WeightStore()
    block = Block(arg_types=[dtypes.tensor_type(x_shape, np.float32)])
    vals = []
    for what, arr in (("codes", qw.packed()), ("scales", qw.scales), ("zeros", qw.zeros)):
        name = store.add(f"{src}.{what}", arr)
        op = WeightOp(name, dtypes.tensor_type(arr.shape, arr.dtype))
        block.add_op(op)
        vals.append(op.result)
    mm = MatMulNBitsOp.make([block.args[0], *vals], {"K": qw.k, "N": qw.n, "bits": qw.bits,
                                                      "block_size": qw.group, "ternary": int(qw.ternary)}, src=src)
    block.add_op(mm)
    block.add_op(func.ReturnOp(mm.outputs[0]))
    main = func.FuncOp("main", ([block.args[0].type], [mm.outputs[0].type]), Region(block))
    module = ModuleOp([main])
    return Program(module, store, signature_from_main(main, ["x"], ["y"]))
