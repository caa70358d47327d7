"""bfp-pack: store block-quantized tensors packed (exponent byte + 4/8-bit mantissas), decode where read.

    -p 'bfp-pack'                 # also part of the llvm-cpu pipeline, before bfp-expand
    -p 'bfp-pack{fuse=false report=true}'

`bfp.quantize` / `bfp.dequantize` (what bfp-quantize-kv inserts) say which
values a tensor holds but leave it f32 in memory. This pass rewrites every such
pair of an integer format (BFP12, BFP16, MXINT8: `tensorc.quant.packing`) into

    %p = bfp.pack(%k) {axis = 2, format = "bfp12_16"}             : f32 [B,H,D,T] -> ui8 [B,H,T,nb,9]
    %k2 = bfp.unpack(%p) {axis = 2, format = "bfp12_16", length = D} : -> f32 [B,H,D,T]

so the buffer between them — the K cache — holds 1 + n/2 bytes per block of n
(BFP12) instead of 4n. With `fuse=true` (default), a dequantized tensor read
only as the right operand of a tg.matmul and blocked along that matmul's
contraction axis (Q·Kᵀ with K [..., D, T]: blocks along D) is read through
`bfp.matmul(Q, %p)` instead: the CPU kernel decodes one column of K at a time
into a D-float stack buffer, so no f32 copy of K exists after packing. Other
readers (tg.attention, V, a matmul blocked along another axis) get bfp.unpack.

The values are unchanged: unpack(pack(x)) is bit-identical to bfp.quantize(x)
(tests/bfp). Small-float MX formats (MXFP8/6/4) are left as they are (reported),
for bfp-expand to lower as fake-quantized f32.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import builtin as B
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from tensorc.dialects import dtypes

_LAST: list[dict] = []


def last_report() -> list[dict]:
    """One dict per bfp.quantize the last run saw: what it became."""
    return list(_LAST)


@dataclass(frozen=True)
class BfpPack(ModulePass):
    """Store bfp.quantize'd tensors of integer block formats packed; decode at their readers."""

    name = "bfp-pack"

    fuse: bool = True
    report: bool = False

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from tensorc.dialects.bfp import DequantizeOp, MatMulOp, PackOp, QuantizeOp, UnpackOp
        from tensorc.quant.packing import can_pack

        rows = []
        for q in [o for o in op.walk() if isinstance(o, QuantizeOp)]:
            fmt = q.format.to_format()
            x = q.operands[0]
            shape = dtypes.shape_of(x.type)
            row = dict(src=q.src, shape=shape, format=fmt.name)
            users = [u.operation for u in list(q.results[0].uses)]
            if not can_pack(fmt):
                rows.append(dict(row, action="left", reason="small-float elements are not packed"))
                continue
            if not all(isinstance(u, DequantizeOp) for u in users):
                rows.append(dict(row, action="left", reason="read other than through bfp.dequantize"))
                continue
            axis = q.axis
            p = PackOp.make([x], {"axis": axis, "format": fmt.name}, src=q.src)
            Rewriter.insert_op(p, InsertPoint.before(q))
            packed = p.results[0]
            if x.name_hint:
                packed.name_hint = f"{x.name_hint}_packed"
            fused = unpacked = 0
            for d in users:
                unpack = None
                for use in list(d.results[0].uses):
                    reader = use.operation
                    if self.fuse and _is_contraction_read(reader, use.index, axis, len(shape)):
                        mm = MatMulOp.make([reader.operands[0], packed], {"format": fmt.name, "length": shape[axis]},
                                           result_types=[reader.results[0].type], src=reader.src)
                        Rewriter.insert_op(mm, InsertPoint.before(reader))
                        reader.results[0].replace_all_uses_with(mm.results[0])
                        mm.results[0].name_hint = reader.results[0].name_hint
                        Rewriter.erase_op(reader)
                        fused += 1
                        continue
                    if unpack is None:
                        unpack = UnpackOp.make([packed], {"axis": axis, "format": fmt.name, "length": shape[axis]},
                                               src=d.src)
                        Rewriter.insert_op(unpack, InsertPoint.before(d))
                    reader.operands[use.index] = unpack.results[0]
                    unpacked += 1
                Rewriter.erase_op(d)
            Rewriter.erase_op(q)
            pshape = dtypes.shape_of(packed.type)
            rows.append(dict(row, action="packed", packed_shape=pshape, fused_reads=fused, unpacked_reads=unpacked,
                             bytes_f32=4 * _prod(shape), bytes_packed=_prod(pshape)))
        _LAST[:] = rows
        if self.report:
            for r in rows:
                head = f"bfp-pack: '{r['src'] or '?'}' {list(r['shape'])} {r['format']}"
                if r["action"] == "packed":
                    print(f"{head}: packed {list(r['packed_shape'])} ui8, {r['bytes_packed']} bytes "
                          f"(f32: {r['bytes_f32']}); {r['fused_reads']} fused matmul read(s), "
                          f"{r['unpacked_reads']} unpacked read(s)", file=sys.stderr)
                else:
                    print(f"{head}: left as f32 ({r['reason']})", file=sys.stderr)


def _is_contraction_read(reader, index: int, axis: int, rank: int) -> bool:
    """Is `reader` a tg.matmul reading the tensor as B [..., D, T] blocked along D (its contraction)?"""
    if reader.name != "tg.matmul" or index != 1 or rank < 2 or axis != rank - 2:
        return False
    a = reader.operands[0]
    return len(dtypes.shape_of(a.type)) >= 2 and a.type.element_type == B.f32


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


__all__ = ["BfpPack", "last_report"]
