"""Synthetic lut programs for the LUT Tensor Core benchmarks and tests (random low-bit weights,
or shapes only).

- `gemm_program`: y = lut.mpgemm(lut.precompute(x), W) for x [M, K] (f32 or i8), W [N, K] at b bits.
- `decoder_layer_program`: the linear layers of a decoder layer on a tile of M tokens:
      h  = LayerNorm(x)                  → tables (fusable: the norm is the producer)  → Q, K, V
      o_in = Q  (stands in for attention's output: a matmul, so its tables cannot be fused)
                                         → tables (standalone)                         → O
      h2 = LayerNorm(O)                  → tables (fusable)                            → the MLP
  with the MLP either LLaMA's (`mlp="swiglu"`: gate, up; a = gate · sigmoid(gate) · up, the
  product is the producer of the down projection's tables) or BLOOM's (`mlp="gelu"`: up;
  a = GELU_tanh(up), the GELU the producer). The attention core itself (Q·Kᵀ, softmax, P·V) is
  left out: it does not use the tables. `llama_layer_program` is the SwiGLU form.
Weights are random planes (every 4-bit index is valid in every form), scales and zero points —
or, with `weights="shapes"`, only their shapes: the lut.mpgemm weight operands are `tg.weight`s
the WeightStore does not hold, which `compile_ltc(..., shapes_only=True)` gives DRAM space
without values (a timing-only program: the cycle model never needs weight values, and a
BLOOM-176B layer's random planes alone would take over a gigabyte).
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
from tensorc.runtime.ltc.program import LTCProgram


def _tensor(shape, dtype):
    return dtypes.tensor_type(shape, np.dtype(dtype))


WEIGHTS = ("random", "shapes")


class _Builder:
    def __init__(self, rng: np.random.Generator, weights: str = "random"):
        if weights not in WEIGHTS:
            raise ValueError(f"weights='{weights}' is not one of {', '.join(WEIGHTS)}")
        self.rng = rng
        self.shapes_only = weights == "shapes"
        self.store = WeightStore()
        self.block: Block | None = None

    def weight(self, name: str, arr: np.ndarray):
        op = WeightOp(self.store.add(name, arr), _tensor(arr.shape, arr.dtype))
        self.block.add_op(op)
        return op.result

    def shaped(self, name: str, shape, dtype):
        """A tg.weight with no value in the store (shapes-only workloads)."""
        op = WeightOp(name, _tensor(shape, dtype))
        self.block.add_op(op)
        return op.result

    def add(self, op):
        self.block.add_op(op)
        return op

    def linear(self, name, tables, tscales, *, n, k, bits, group, act_group, form):
        if self.shapes_only:
            p = self.shaped(f"{name}.planes", (bits, n, k // 4), np.uint8)
            s = self.shaped(f"{name}.scales", (n, k // group), np.float32)
            z = self.shaped(f"{name}.zeros", (n, k // group), np.float32)
        else:
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
                 form: str = "half", table_type: str = "i8", adtype=np.float32, seed: int = 0,
                 weights: str = "random") -> Program:
    b = _Builder(np.random.default_rng(seed), weights)
    b.block = Block(arg_types=[_tensor((m, k), adtype)])
    t, ts = b.tables(b.block.args[0], k, form=form, table_type=table_type, act_group=act_group, fuse=False,
                     name="x.tables")
    y = b.linear("w", t, ts, n=n, k=k, bits=bits, group=group, act_group=act_group, form=form)
    return b.finish(list(b.block.args), [y], ["x"], ["y"])


def decoder_layer_program(m: int, hidden: int, ffn: int, kv: int | None = None, *, mlp: str = "swiglu",
                          bits: int = 2, group: int = 128, act_group: int = 64, form: str = "half",
                          table_type: str = "i8", fuse: bool = True, seed: int = 0,
                          weights: str = "random") -> Program:
    """The linear layers of a decoder layer on M tokens (module doc); outputs y (the MLP's), k, v."""
    if mlp not in ("swiglu", "gelu"):
        raise ValueError(f"mlp='{mlp}' is not swiglu or gelu")
    kv = kv or hidden
    b = _Builder(np.random.default_rng(seed), weights)
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
    if mlp == "swiglu":
        gate = b.linear("w_gate", t, ts, n=ffn, k=hidden, **kw)
        up = b.linear("w_up", t, ts, n=ffn, k=hidden, **kw)
        sig = b.add(op_class("sigmoid").make([gate], src="silu.sigmoid")).results[0]
        silu = b.add(op_class("mul").make([gate, sig], src="silu")).results[0]
        act = b.add(op_class("mul").make([silu, up], src="ffn_act")).results[0]
    else:
        up = b.linear("w_up", t, ts, n=ffn, k=hidden, **kw)
        act = b.add(op_class("gelu").make([up], {"approximate": "tanh"}, src="ffn_act")).results[0]
    t, ts = b.tables(act, ffn, fuse=fuse, name="ffn_act.tables", **tk)
    down = b.linear("w_down", t, ts, n=hidden, k=ffn, **kw)
    return b.finish([x], [down, kk, v], ["x"], ["y", "k", "v"])


def llama_layer_program(m: int, hidden: int, ffn: int, kv: int | None = None, **kw) -> Program:
    """decoder_layer_program with LLaMA's SwiGLU MLP."""
    return decoder_layer_program(m, hidden, ffn, kv, mlp="swiglu", **kw)


def repeat_tiles(prog: LTCProgram, tiles: int) -> LTCProgram:
    """The stream run `tiles` times back to back: one layer program on consecutive token tiles, as
    the core would run a batch that its scratchpad holds a tile of (the same plan each time, the
    weights streamed again for every tile). For timing only: every repetition reads and writes the
    same DRAM tensors, which changes no cycle (the stores of one tile are ordered before the next
    tile's on the store queue anyway) but leaves only the last tile's values."""
    if tiles < 1:
        raise ValueError(f"tiles = {tiles} must be at least 1")
    meta = dict(prog.meta)
    meta["timing_only"] = {**(meta.get("timing_only") or {}), "repeated_tiles": tiles}
    return LTCProgram(list(prog.instrs) * tiles, prog.spad_bytes, prog.dram_bytes, list(prog.tensors),
                      list(prog.segments), meta)
