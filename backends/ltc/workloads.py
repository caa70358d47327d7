"""Synthetic lut programs for the LUT Tensor Core benchmarks and tests (random low-bit weights).

- `gemm_program`: y = lut.mpgemm(lut.precompute(x), W) for x [M, K] (f32 or i8), W [N, K] at b bits.
- `llama_layer_program`: the linear layers of a LLaMA-style decoder layer on a tile of M tokens:
      h  = LayerNorm(x)                  → tables (fusable: the norm is the producer)  → Q, K, V
      o_in = Q  (stands in for attention's output: a matmul, so its tables cannot be fused)
                                         → tables (standalone)                         → O
      h2 = LayerNorm(O)                  → tables (fusable)                            → gate, up
      a  = gate · sigmoid(gate) · up     (SiLU-gated; the product is the producer)
                                         → tables (fusable)                            → down
  The attention core itself (Q·Kᵀ, softmax, P·V) is left out: it does not use the tables.
Weights are random planes (every 4-bit index is valid in every form), scales and zero points.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Region

from tensorc.dialects import dtypes
from tensorc.dialects.lut import MpGemmOp, PrecomputeOp
from tensorc.dialects.tg import WeightOp, op_class
from tensorc.program import Program, WeightStore, signature_from_main


def _tensor(shape, dtype):
    return dtypes.tensor_type(shape, np.dtype(dtype))


class _Builder:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.store = WeightStore()
        self.block: Block | None = None

    def weight(self, name: str, arr: np.ndarray):
        op = WeightOp(self.store.add(name, arr), _tensor(arr.shape, arr.dtype))
        self.block.add_op(op)
        return op.result

    def add(self, op):
        self.block.add_op(op)
        return op

    def linear(self, name, tables, tscales, *, n, k, bits, group, act_group, form):
        planes = self.rng.integers(0, 16, size=(bits, n, k // 4), dtype=np.uint8)
        scales = self.rng.uniform(0.5, 1.5, size=(n, k // group)).astype(np.float32) / np.float32(k)
        zeros = np.full((n, k // group), (2 ** bits - 1) / 2, np.float32)
        p = self.weight(f"{name}.planes", planes)
        s = self.weight(f"{name}.scales", scales)
        z = self.weight(f"{name}.zeros", zeros)
        return self.add(MpGemmOp.of(tables, tscales, p, s, z, k=k, n=n, bits=bits, group=group,
                                    act_group=act_group, form=form, src=name)).outputs[0]

    def tables(self, x, k, *, form, table_type, act_group, fuse, name):
        pc = self.add(PrecomputeOp.of(x, k, form, table_type, act_group, fuse_producer=fuse, src=name))
        return pc.tables, pc.tscales

    def layernorm(self, x, c, name):
        g = self.weight(f"{name}.gamma", self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        b = self.weight(f"{name}.beta", self.rng.normal(0, 0.1, c).astype(np.float32))
        return self.add(op_class("layer_normalization").make([x, g, b], {"epsilon": 1e-5}, src=name)).results[0]

    def finish(self, args, outs, in_names, out_names) -> Program:
        self.block.add_op(func.ReturnOp(*outs))
        main = func.FuncOp("main", ([a.type for a in args], [o.type for o in outs]), Region(self.block))
        return Program(ModuleOp([main]), self.store, signature_from_main(main, in_names, out_names))


def gemm_program(m: int, n: int, k: int, *, bits: int = 2, group: int = 128, act_group: int = 64,
                 form: str = "half", table_type: str = "i8", adtype=np.float32, seed: int = 0) -> Program:
    b = _Builder(np.random.default_rng(seed))
    b.block = Block(arg_types=[_tensor((m, k), adtype)])
    t, ts = b.tables(b.block.args[0], k, form=form, table_type=table_type, act_group=act_group, fuse=False,
                     name="x.tables")
    y = b.linear("w", t, ts, n=n, k=k, bits=bits, group=group, act_group=act_group, form=form)
    return b.finish(list(b.block.args), [y], ["x"], ["y"])


def llama_layer_program(m: int, hidden: int, ffn: int, kv: int | None = None, *, bits: int = 2, group: int = 128,
                        act_group: int = 64, form: str = "half", table_type: str = "i8", fuse: bool = True,
                        seed: int = 0) -> Program:
    kv = kv or hidden
    b = _Builder(np.random.default_rng(seed))
    b.block = Block(arg_types=[_tensor((m, hidden), np.float32)])
    x = b.block.args[0]
    kw = dict(bits=bits, group=group, act_group=act_group, form=form)
    tk = dict(form=form, table_type=table_type, act_group=act_group)
    h = b.layernorm(x, hidden, "attn_norm")
    t, ts = b.tables(h, hidden, fuse=fuse, name="attn_norm.tables", **tk)
    q = b.linear("wq", t, ts, n=hidden, k=hidden, **kw)
    kk = b.linear("wk", t, ts, n=kv, k=hidden, **kw)
    v = b.linear("wv", t, ts, n=kv, k=hidden, **kw)
    t, ts = b.tables(q, hidden, fuse=False, name="attn_out.tables", **tk)
    o = b.linear("wo", t, ts, n=hidden, k=hidden, **kw)
    h2 = b.layernorm(o, hidden, "ffn_norm")
    t, ts = b.tables(h2, hidden, fuse=fuse, name="ffn_norm.tables", **tk)
    gate = b.linear("w_gate", t, ts, n=ffn, k=hidden, **kw)
    up = b.linear("w_up", t, ts, n=ffn, k=hidden, **kw)
    sig = b.add(op_class("sigmoid").make([gate], src="silu.sigmoid")).results[0]
    silu = b.add(op_class("mul").make([gate, sig], src="silu")).results[0]
    act = b.add(op_class("mul").make([silu, up], src="ffn_act")).results[0]
    t, ts = b.tables(act, ffn, fuse=fuse, name="ffn_act.tables", **tk)
    down = b.linear("w_down", t, ts, n=hidden, k=ffn, **kw)
    return b.finish([x], [down, kk, v], ["x"], ["y", "k", "v"])
