"""canonicalize: xDSL's canonicalization plus tg's own simplifications.

The tg dialect does not carry `HasCanonicalizationPatternsTrait` (adding it
would need every op class to list its patterns), so the tg patterns live here
and run in the same greedy walk as xDSL's trait-driven patterns and folders.
That walk also erases unused pure ops; `func.return` is not pure and keeps its
operands alive, so only truly dead tg ops disappear.

tg patterns:
  flatten / squeeze / unsqueeze          -> tg.reshape to the result shape
  reshape(reshape(x))                    -> reshape(x)
  reshape(x) to x's own type             -> x
  transpose(transpose(x, p), q)          -> transpose(x, p∘q)
  transpose(x, identity)                 -> x
  identity(x), cast(x) to x's own type   -> x
  x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1 -> x
      (the constant must be a tg.constant splat, and the result type must be
      x's type, so a broadcast that grows x is never dropped)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.transforms.canonicalize import CanonicalizationRewritePattern
from xdsl.transforms.dead_code_elimination import region_dce

from tensorc.dialects.tg import OPS, ConstantOp

ReshapeOp = OPS["reshape"]
TransposeOp = OPS["transpose"]


def _forward(rewriter: PatternRewriter, op: Operation, value: SSAValue) -> None:
    """Replace `op` (one result) by an existing value of the same type."""
    rewriter.replace(op, [], [value])


class ToReshape(RewritePattern):
    """flatten, squeeze and unsqueeze only change the shape: one op, reshape, covers them."""

    KINDS = (OPS["flatten"], OPS["squeeze"], OPS["unsqueeze"])

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, self.KINDS):
            return
        shape = list(op.outputs[0].type.get_shape())
        rewriter.replace(op, ReshapeOp.make([op.inputs[0]], {"shape": shape}, src=op.src))


class ReshapeOfReshape(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, ReshapeOp):
            return
        inner = op.inputs[0].owner
        if isinstance(inner, ReshapeOp):
            rewriter.replace(op, ReshapeOp.make([inner.inputs[0]], {"shape": op.attr("shape")}, src=op.src))


class ReshapeToSameShape(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if isinstance(op, ReshapeOp) and op.outputs[0].type == op.inputs[0].type:
            _forward(rewriter, op, op.inputs[0])


class TransposeOfTranspose(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not isinstance(op, TransposeOp):
            return
        inner = op.inputs[0].owner
        if isinstance(inner, TransposeOp):
            # y = x.transpose(p), z = y.transpose(q): z axis i is y axis q[i], which is x axis p[q[i]]
            p, q = inner.attr("perm"), op.attr("perm")
            perm = [p[i] for i in q]
            rewriter.replace(op, TransposeOp.make([inner.inputs[0]], {"perm": perm}, src=op.src))


class IdentityTranspose(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if isinstance(op, TransposeOp) and op.attr("perm") == list(range(len(op.attr("perm")))):
            _forward(rewriter, op, op.inputs[0])


class RemoveIdentity(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if isinstance(op, OPS["identity"]):
            _forward(rewriter, op, op.inputs[0])


class CastToSameType(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if isinstance(op, OPS["cast"]) and op.outputs[0].type == op.inputs[0].type:
            _forward(rewriter, op, op.inputs[0])


def is_splat_constant(value: SSAValue, scalar: float) -> bool:
    """Whether `value` is a tg.constant with every element equal to `scalar`."""
    const = value.owner
    if not isinstance(const, ConstantOp):
        return False
    arr = const.to_array()
    return arr.size > 0 and bool(np.all(arr == scalar))


class NeutralElement(RewritePattern):
    """x + 0, x - 0, x * 1, x / 1 (and 0 + x, 1 * x) -> x.

    For floats, x + 0.0 differs from x only in the sign of a zero (-0.0 + 0.0 = +0.0),
    which no comparison can observe; ONNX graph optimizers make the same trade.
    """

    # op -> (neutral element, may the constant be on the left?)
    RULES = {OPS["add"]: (0, True), OPS["sub"]: (0, False), OPS["mul"]: (1, True), OPS["div"]: (1, False)}

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        rule = self.RULES.get(type(op))
        if rule is None:
            return
        neutral, commutes = rule
        lhs, rhs = op.inputs
        out = op.outputs[0].type
        if out == lhs.type and is_splat_constant(rhs, neutral):
            _forward(rewriter, op, lhs)
        elif commutes and out == rhs.type and is_splat_constant(lhs, neutral):
            _forward(rewriter, op, rhs)


TG_PATTERNS: tuple[type[RewritePattern], ...] = (
    ToReshape,
    ReshapeOfReshape,
    ReshapeToSameShape,
    TransposeOfTranspose,
    IdentityTranspose,
    RemoveIdentity,
    CastToSameType,
    NeutralElement,
)


@dataclass(frozen=True)
class Canonicalize(ModulePass):
    """Simplify tg ops in place (and run every registered dialect's canonicalizations)."""

    name = "canonicalize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns = [p() for p in TG_PATTERNS] + [CanonicalizationRewritePattern()]
        applier = GreedyRewritePatternApplier(patterns, ctx=ctx, folding_enabled=True)
        PatternRewriteWalker(applier, post_walk_func=region_dce).rewrite_module(op)


__all__ = ["Canonicalize", "TG_PATTERNS", "is_splat_constant"]
