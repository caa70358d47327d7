"""quantize-weights: low-bit codes for the constant weight of every matmul (`--quantize-weights`).

    -p 'quantize-weights{spec=w4g128}'        tensorc import m.onnx --quantize-weights w4g128
    tensorc.import_onnx(path, quantize_weights="w2g64")   tensorc.import_torch(m, (x,), quantize_weights="ternary")

Every `tg.matmul` whose B is a 2-D f32 `tg.weight` [K, N], and every `tg.gemm` whose B is one
([K, N], or [N, K] with transB — a torch Linear), becomes a `tg.matmul_nbits` on W[N, K]
quantized round-to-nearest by `tensorc.quant.lowbit.quantize_rtn` (spec syntax: `parse_spec`;
`w4g128` = 4 bits, groups of 128 along K, asymmetric). Gemm's transA, alpha, beta and C become
a transpose, a multiply and an add around it. A weight read by several matmuls is quantized
once. Matmuls with a non-constant B (attention's Q·Kᵀ) or non-f32 operands are left alone: they
have no weight to quantize. A group size that does not divide some weight's K is an error
naming that op and K: silently keeping some layers in f32 would misreport what was measured.

It runs right after import (the `quantize_weights=` argument of `import_onnx`/`import_torch`
and the CLI flag call `quantize_program_weights`), so every later pipeline sees tg.matmul_nbits,
whichever frontend the model came from. `report=true` prints one line per weight to stderr.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from tensorc.diagnostics import InputError, PassError
from tensorc.dialects import dtypes
from tensorc.quant.lowbit import QuantizedWeight, WeightQuantSpec, parse_spec, quantize_rtn

from .weights import current_weights

_LAST: list[dict] = []


def last_report() -> list[dict]:
    """What the last run did: one dict per quantized weight use."""
    return list(_LAST)


def _weight_operand(op: Operation):
    """B of a tg.matmul / tg.gemm when it is a 2-D f32 tg.weight with an f32 A, else None."""
    from tensorc.dialects.tg import WeightOp

    a, b = op.operands[0], op.operands[1]
    if not isinstance(b.owner, WeightOp) or len(dtypes.shape_of(b.type)) != 2:
        return None
    if dtypes.dtype_of(b.type) != np.float32 or dtypes.dtype_of(a.type) != np.float32:
        return None
    return b.owner


@dataclass(frozen=True)
class QuantizeWeights(ModulePass):
    """Quantize the constant weight of every matmul/gemm to low-bit codes (tg.matmul_nbits)."""

    name = "quantize-weights"

    spec: str = "w4g128"
    """w<bits>[g<group>][a|s] or ternary[g<group>] (docs/lut.md §1)."""

    report: bool = False

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        from tensorc.dialects.tg import ConstantOp, WeightOp, op_class
        from tensorc.dialects.tg.lowbit import MatMulNBitsOp

        try:
            spec = parse_spec(self.spec)
        except ValueError as e:
            raise PassError(f"quantize-weights: {e}") from None
        store = current_weights()
        if store is None:
            raise PassError("quantize-weights needs the program's weights: run it on an imported model "
                            "(--quantize-weights on import/run/compile), not on bare IR")
        matmul, gemm = op_class("matmul"), op_class("gemm")
        done: dict[tuple[str, bool], tuple[QuantizedWeight, list[SSAValue]]] = {}
        rows = []
        for op in list(module.walk()):
            if not isinstance(op, (matmul, gemm)):
                continue
            w_op = _weight_operand(op)
            if w_op is None:
                continue
            is_gemm = isinstance(op, gemm)
            trans_b = is_gemm and bool(op.attr("transB"))
            key = (w_op.weight_name, trans_b)
            if key not in done:
                b = store[w_op.weight_name]
                w = np.asarray(b if trans_b else b.T, np.float32)  # W[N, K], out × in
                group = spec.group or w.shape[1]
                if w.shape[1] % group:
                    raise PassError(f"{op.where()}: quantize-weights {spec.text()}: group size {group} "
                                    f"does not divide K = {w.shape[1]} (weight '{w_op.weight_name}' {list(b.shape)})")
                qw = quantize_rtn(w, spec)
                vals = []
                for what, arr in (("codes", qw.packed()), ("scales", qw.scales), ("zeros", qw.zeros)):
                    name = store.add_unique(f"{w_op.weight_name}.{what}", arr)
                    new = WeightOp(name, dtypes.tensor_type(arr.shape, arr.dtype))
                    Rewriter.insert_op(new, InsertPoint.before(w_op))
                    vals.append(new.result)
                done[key] = (qw, vals)
            qw, vals = done[key]
            new_ops: list[Operation] = []

            def add(o: Operation) -> SSAValue:
                new_ops.append(o)
                return o.results[0]

            x = op.operands[0]
            if is_gemm and op.attr("transA"):
                x = add(op_class("transpose").make([x], {"perm": [1, 0]}, src=op.src))
            y = add(MatMulNBitsOp.make([x, *vals], {"K": qw.k, "N": qw.n, "bits": qw.bits, "block_size": qw.group,
                                                    "ternary": int(qw.ternary)}, src=op.src))
            if is_gemm:
                alpha, beta = float(op.attr("alpha")), float(op.attr("beta"))
                if alpha != 1.0:
                    y = add(op_class("mul").make([y, add(ConstantOp.from_array(np.float32(alpha)))], src=op.src))
                if len(op.operands) > 2 and beta != 0.0:
                    c = op.operands[2]
                    if beta != 1.0:
                        c = add(op_class("mul").make([c, add(ConstantOp.from_array(np.float32(beta)))], src=op.src))
                    y = add(op_class("add").make([y, c], src=op.src))
            if y.type != op.results[0].type:  # cannot happen for well-typed matmuls; never rewrite silently wrong
                raise PassError(f"{op.where()}: quantize-weights would change the result type "
                                f"{op.results[0].type} → {y.type}")
            Rewriter.replace_op(op, new_ops, [y])
            rows.append(dict(node=op.src or "", weight=w_op.weight_name, n=qw.n, k=qw.k, spec=spec.text(),
                             bits_per_weight=qw.bits_per_weight()))
        for key in done:  # the f32 originals nothing reads any more
            for w_op in [o for o in module.walk() if isinstance(o, WeightOp) and o.weight_name == key[0]]:
                if not w_op.result.uses:
                    Rewriter.erase_op(w_op)
        _LAST[:] = rows
        if self.report:
            for r in rows:
                print(f"quantize-weights: node '{r['node']}' weight '{r['weight']}' {r['n']}x{r['k']} → "
                      f"{r['spec']} ({r['bits_per_weight']:.3g} bits/weight)", file=sys.stderr)


def resolve_spec(spec: "str | WeightQuantSpec", flag: str = "quantize_weights") -> WeightQuantSpec:
    """A parsed spec; InputError naming `flag` when the text is malformed."""
    if isinstance(spec, WeightQuantSpec):
        return spec
    try:
        return parse_spec(str(spec))
    except ValueError as e:
        raise InputError(f"{flag}: {e}") from None


def quantize_program_weights(prog, spec: "str | WeightQuantSpec", flag: str = "quantize_weights"):
    """`prog` with its matmul weights quantized (the pass above, then unused f32 weights pruned)."""
    from tensorc.pipeline import run_passes

    parsed = resolve_spec(spec, flag)
    return run_passes(prog, f"quantize-weights{{spec={parsed.text()}}}")


__all__ = ["QuantizeWeights", "quantize_program_weights", "resolve_spec", "last_report"]
