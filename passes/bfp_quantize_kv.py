"""bfp-quantize-kv: store the K (and optionally V) cache of every attention in a block format.

    -p 'bfp-quantize-kv{format=bfp12 block=16 v=false}'

Every attention site found by `attention_match` (Q·Kᵀ from two projections,
RoPE and grouped-query attention included) gets its K operand replaced by

    %q = bfp.quantize(%k) {axis = <channel axis>} : (...) -> tensor<..., #bfp.format<...>>
    %k2 = bfp.dequantize(%q) : (...) -> tensor<...>

with blocks along the head's channels (head_dim), which is how a K cache is
laid out: one shared exponent per `block` channels of one token of one head.
`v=true` does the same to the V operand of the probabilities·V product
(blocks along V's channels too). An operand that is already quantized is left
alone, so the pass is idempotent.

Options: `format` is a family (bfp12, bfp16, mxint8, mxfp8, mxfp8_e5m2,
mxfp6_e3m2, mxfp6_e2m3, mxfp4), optionally with a block size and rounding
(`bfp12_32`, `mxfp4_rna`); `block` (default 16) is the block size of BFP
families when the name has none. MX families keep the OCP block of 32 unless
their name says otherwise (`mxint8_16`). `report=true` prints one line per site
to stderr.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from tensorc.diagnostics import PassError
from tensorc.dialects import dtypes
from tensorc.quant.formats import Format, parse_format

from .attention_match import find_sites
from .weights import current_weights

_LAST: list[dict] = []


def resolve_format(name: str, block: int) -> Format:
    """The format of the options `format=NAME block=N` (see the module doc)."""
    import re

    try:
        has_block = re.search(r"_\d+(_rn[ea])?$", name.strip().lower()) is not None
        fmt = parse_format(name) if (has_block or name.strip().lower().startswith("mx")) else parse_format(name, block=block)
    except ValueError as e:
        raise PassError(f"bfp: {e}") from None
    return fmt


def quantize_operand(op: Operation, index: int, fmt: Format, axis: int) -> bool:
    """Put `op`'s operand `index` through bfp.quantize/bfp.dequantize (blocks along `axis`).
    False if it already is block-quantized."""
    from tensorc.dialects.bfp import DequantizeOp, QuantizeOp

    value = op.operands[index]
    if isinstance(value.owner, DequantizeOp):
        return False
    rank = len(dtypes.shape_of(value.type))
    src = op.attributes.get("src")
    tag = f"{src.data}/kv" if src is not None else None
    q = QuantizeOp.of(value, fmt, axis % rank, src=tag)
    d = DequantizeOp.of(q.results[0], src=tag)
    Rewriter.insert_op([q, d], InsertPoint.before(op))
    op.operands[index] = d.results[0]
    return True


def last_report() -> list[dict]:
    """What the last run of the pass did, one dict per quantized tensor."""
    return list(_LAST)


@dataclass(frozen=True)
class BfpQuantizeKV(ModulePass):
    """Store the K (and V with v=true) cache of every recognized attention in a block format."""

    name = "bfp-quantize-kv"

    format: str = "bfp12"
    block: int = 16
    v: bool = False
    report: bool = False

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fmt = resolve_format(self.format, self.block)
        sites = find_sites(op, current_weights())
        rows = []
        for site in sites:
            targets = [("K", site.op, site.k_operand, site.k_axis)]
            if self.v and site.v_op is not None:
                targets.append(("V", site.v_op, site.v_operand, site.v_axis))
            for what, user, idx, axis in targets:
                shape = dtypes.shape_of(user.operands[idx].type)
                done = quantize_operand(user, idx, fmt, axis)
                rows.append(dict(site=site.index, name=site.name, tensor=what, shape=shape, format=fmt.name,
                                 bits_per_elem=fmt.bits_per_element(), channels=shape[axis],
                                 action="quantized" if done else "already quantized"))
        _LAST[:] = rows
        if self.report:
            for r in rows:
                print(f"bfp-quantize-kv: site {r['site']} '{r['name']}' {r['tensor']} {list(r['shape'])}: "
                      f"{r['action']} as {r['format']} ({r['bits_per_elem']:g} bits/elem)", file=sys.stderr)
            if not sites:
                print("bfp-quantize-kv: no attention found", file=sys.stderr)


__all__ = ["BfpQuantizeKV", "resolve_format", "quantize_operand", "last_report"]
