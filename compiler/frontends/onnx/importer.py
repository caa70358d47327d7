"""ONNX → tg: walks the graph in topological order and converts node by node.

Values whose contents are known at import (initializers, Constant nodes, and
anything computed only from them — shape subgraphs above all) are folded
eagerly with the reference kernels, so inputs that are attributes in practice
(axes, shapes, pads, split sizes) become tg attributes. Everything else
becomes tg ops in `func.func @main`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import onnx
from onnx import numpy_helper
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Region
from xdsl.utils.exceptions import VerifyException

from tensorc.dialects import dtypes
from tensorc.diagnostics import ImportError_, ShapeError, UnsupportedOpError
from tensorc.frontends.builder import INLINE_CONST_MAX, GraphBuilder, Val  # noqa: F401  (re-exported)
from tensorc.program import Program, Signature, TensorSpec

Converter = Callable[["NodeContext"], Sequence["Val"]]
CONVERTERS: dict[str, Converter] = {}


def converter(*op_types: str):
    """Register a converter for ONNX op types (default domain)."""

    def deco(fn: Converter) -> Converter:
        for t in op_types:
            CONVERTERS[t] = fn
        return fn

    return deco


class GraphImporter(GraphBuilder):
    def __init__(self, model: onnx.ModelProto, input_shapes: Mapping[str, Sequence[int]] | None, source: str,
                 constants: Mapping[str, np.ndarray] | None = None):
        super().__init__()
        self.model = model
        self.source = source
        self.opsets = {(o.domain or "ai.onnx"): o.version for o in model.opset_import}
        self.env: dict[str, Val] = {}
        self.input_shapes = dict(input_shapes or {})
        self.constants = dict(constants or {})
        self._fold_scratch = 0
        self._producers: dict[str, onnx.NodeProto] | None = None

    def producer(self, name: str) -> onnx.NodeProto | None:
        """The node whose output is `name` (None for inputs and initializers): converters that
        look through their operands' sources (DequantizeLinear → MatMul) use it."""
        if self._producers is None:
            self._producers = {o: n for n in self.model.graph.node for o in n.output if o}
        return self._producers.get(name)

    # ---- the graph ---------------------------------------------------
    def run(self) -> Program:
        g = self.model.graph
        for init in g.initializer:
            self.env[init.name] = Val(init.name, const=_to_numpy(init, self.source))
        for sp in g.sparse_initializer:
            self.env[sp.values.name] = Val(sp.values.name, const=numpy_helper.to_array(sp))
        for name, value in self.constants.items():  # inputs frozen to known values
            if name not in {i.name for i in g.input}:
                raise ImportError_(f"{self.source}: cannot freeze '{name}': not an input of the graph")
            self.env[name] = Val(name, const=np.asarray(value))
        real_inputs = [i for i in g.input if i.name not in self.env]
        unknown = set(self.input_shapes) - {i.name for i in real_inputs}
        if unknown:
            names = ", ".join(i.name for i in real_inputs)
            raise ShapeError(f"{self.source}: --input-shape names unknown input '{sorted(unknown)[0]}' (inputs: {names})")
        in_specs = []
        for inp in real_inputs:
            shape, dt = self._input_type(inp)
            in_specs.append(TensorSpec(inp.name, shape, dt))
            arg = self.block.insert_arg(dtypes.tensor_type(shape, dt), len(self.block.args))
            arg.name_hint = _hint(inp.name)
            self.env[inp.name] = Val(inp.name, ssa=arg)

        for node in _toposort(g, set(self.env), self.source):
            self._convert(node)

        out_vals, out_specs = [], []
        for out in g.output:
            v = self.env.get(out.name)
            if v is None:
                raise ImportError_(f"{self.source}: graph output '{out.name}' is never produced")
            ssa = self.materialize(v, stem=out.name)
            out_vals.append(ssa)
            out_specs.append(TensorSpec(out.name, dtypes.shape_of(ssa.type), dtypes.dtype_of(ssa.type)))
        self.block.add_op(func.ReturnOp(*out_vals))
        fn = func.FuncOp(
            "main",
            ([a.type for a in self.block.args], [v.type for v in out_vals]),
            Region(self.block),
        )
        module = ModuleOp([fn])
        try:
            module.verify()
        except VerifyException as e:
            raise ImportError_(f"{self.source}: imported IR does not verify: {str(e).splitlines()[0]}") from None
        return Program(module, self.weights, Signature(in_specs, out_specs))

    def _input_type(self, inp: onnx.ValueInfoProto):
        tt = inp.type.tensor_type
        if not inp.type.HasField("tensor_type"):
            raise ImportError_(f"{self.source}: input '{inp.name}' is not a tensor (sequences/maps are unsupported)")
        try:
            dt = dtypes.onnx_to_numpy(tt.elem_type)
        except dtypes.UnsupportedDType as e:
            raise ImportError_(f"{self.source}: input '{inp.name}': {e}") from None
        if inp.name in self.input_shapes:
            shape = tuple(int(d) for d in self.input_shapes[inp.name])
            if tt.HasField("shape"):
                declared = tt.shape.dim
                if len(declared) != len(shape) or any(
                    d.HasField("dim_value") and d.dim_value != s for d, s in zip(declared, shape)
                ):
                    want = ["?" if not d.HasField("dim_value") else d.dim_value for d in declared]
                    raise ShapeError(f"{self.source}: --input-shape {inp.name}={','.join(map(str, shape))} does not fit the declared shape {want}")
            return shape, dt
        if not tt.HasField("shape"):
            raise ShapeError(f"{self.source}: input '{inp.name}' has no shape; bind it with --input-shape {inp.name}=...")
        shape = []
        for i, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(d.dim_value)
            elif d.HasField("dim_value") and d.dim_value == 0:
                shape.append(0)
            else:
                what = f"'{d.dim_param}'" if d.dim_param else f"#{i}"
                raise ShapeError(
                    f"{self.source}: input '{inp.name}' has dynamic dimension {what}; bind it with --input-shape {inp.name}=..."
                )
        return tuple(shape), dt

    def _convert(self, node: onnx.NodeProto):
        domain = node.domain or "ai.onnx"
        opset = self.opsets.get(domain)
        label = node.name or (node.output[0] if node.output else node.op_type)
        fn = CONVERTERS.get(node.op_type) if domain == "ai.onnx" else CONVERTERS.get(f"{domain}.{node.op_type}")
        if fn is None:
            dom = "" if domain == "ai.onnx" else f"{domain}."
            raise UnsupportedOpError(label, dom + node.op_type, opset)
        ctx = NodeContext(self, node, opset or 0, label)
        try:
            outs = fn(ctx)
        except (UnsupportedOpError, ShapeError, ImportError_):
            raise
        except VerifyException as e:
            raise UnsupportedOpError(label, node.op_type, opset, str(e).splitlines()[0]) from None
        except dtypes.UnsupportedDType as e:
            raise UnsupportedOpError(label, node.op_type, opset, str(e)) from None
        for name, v in zip(node.output, outs):
            if name and v is not None:
                v.name = name
                if v.ssa is not None and v.ssa.name_hint is None:
                    v.ssa.name_hint = _hint(name)
                self.env[name] = v


def _hint(name: str) -> str | None:
    """A readable SSA name from an ONNX name, when it is a valid MLIR identifier."""
    import re

    h = re.sub(r"[^A-Za-z0-9_$.]", "_", name).strip("_")
    if not h or h[0].isdigit():
        return None
    return h


class NodeContext:
    """What a converter sees: the node, its opset, typed access to inputs and attributes."""

    def __init__(self, imp: GraphImporter, node: onnx.NodeProto, opset: int, label: str):
        self.imp, self.node, self.opset, self.label = imp, node, opset, label
        self._attrs = {a.name: a for a in node.attribute}

    # ---- errors ------------------------------------------------------
    def unsupported(self, why: str) -> UnsupportedOpError:
        dom = self.node.domain
        op_type = f"{dom}.{self.node.op_type}" if dom and dom != "ai.onnx" else self.node.op_type
        return UnsupportedOpError(self.label, op_type, self.opset, why)

    # ---- attributes --------------------------------------------------
    def attr(self, name: str, default: Any = None) -> Any:
        a = self._attrs.get(name)
        if a is None:
            return default
        if a.type == onnx.AttributeProto.TENSOR:
            return _to_numpy(a.t, self.imp.source)
        if a.type == onnx.AttributeProto.GRAPH or a.type == onnx.AttributeProto.GRAPHS:
            raise self.unsupported(f"subgraph attribute '{name}'")
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            return v.decode()
        if isinstance(v, list) and v and isinstance(v[0], bytes):
            return [x.decode() for x in v]
        return v

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    # ---- inputs ------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        n = len(self.node.input)
        while n and not self.node.input[n - 1]:
            n -= 1
        return n

    def has(self, i: int) -> bool:
        return i < len(self.node.input) and bool(self.node.input[i])

    def val(self, i: int) -> Val:
        name = self.node.input[i]
        v = self.imp.env.get(name)
        if v is None:
            raise ImportError_(f"{self.imp.source}: node '{self.label}' ({self.node.op_type}): input '{name}' is not defined (missing initializer or graph input?)")
        return v

    def opt(self, i: int) -> Val | None:
        return self.val(i) if self.has(i) else None

    def const(self, i: int, what: str | None = None) -> np.ndarray:
        """The constant value of input i; an error when it is only known at run time."""
        v = self.val(i)
        if v.const is None:
            raise self.unsupported(f"input '{what or self.node.input[i]}' must be a constant (it is computed at run time)")
        return v.const

    def const_or(self, i: int, default):
        return self.const(i) if self.has(i) else default

    def ints(self, i: int, what: str | None = None) -> list[int]:
        return [int(x) for x in np.asarray(self.const(i, what)).reshape(-1)]

    # ---- emitting ----------------------------------------------------
    def emit(
        self,
        op: str,
        operands: Sequence[Val | None],
        attrs: Mapping[str, Any] | None = None,
        result_types: Sequence[TensorType] | None = None,
        num_results: int | None = None,
    ) -> list[Val]:
        """Add a tg op (or fold it, when all operands are constants) and return its results."""
        return self.imp.emit(op, operands, attrs, result_types, num_results, src=self.label)

    def emit1(self, op: str, operands, attrs=None, result_types=None) -> Val:
        return self.emit(op, operands, attrs, result_types)[0]

    def const_val(self, array) -> Val:
        return Val("", const=np.asarray(array))


def _to_numpy(t: onnx.TensorProto, source: str) -> np.ndarray:
    if t.data_location == onnx.TensorProto.EXTERNAL:
        raise ImportError_(f"{source}: tensor '{t.name}' has external data that could not be loaded")
    try:
        dtypes.onnx_to_numpy(t.data_type)
        return numpy_helper.to_array(t)
    except dtypes.UnsupportedDType as e:
        raise ImportError_(f"{source}: tensor '{t.name}': {e}") from None
    except Exception as e:  # malformed raw data
        raise ImportError_(f"{source}: tensor '{t.name}' is malformed: {e}") from None


def _toposort(g: onnx.GraphProto, known: set[str], source: str) -> list[onnx.NodeProto]:
    """Nodes in dependency order (exporters don't always emit them sorted); cycles are errors."""
    producers: dict[str, int] = {}
    for i, n in enumerate(g.node):
        for o in n.output:
            if o:
                producers[o] = i
    deps = []
    for i, n in enumerate(g.node):
        d = set()
        for inp in n.input:
            if inp and inp not in known:
                if inp not in producers:
                    label = n.name or n.op_type
                    raise ImportError_(f"{source}: node '{label}' ({n.op_type}): input '{inp}' is not defined (missing initializer or graph input?)")
                d.add(producers[inp])
        deps.append(d)
    order, state = [], [0] * len(g.node)  # 0 new, 1 visiting, 2 done
    for root in range(len(g.node)):
        if state[root]:
            continue
        stack = [(root, iter(sorted(deps[root])))]
        state[root] = 1
        while stack:
            i, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[i] = 2
                order.append(g.node[i])
            elif state[nxt] == 1:
                n = g.node[nxt]
                raise ImportError_(f"{source}: the graph has a cycle through node '{n.name or n.op_type}' ({n.op_type})")
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(deps[nxt]))))
    return order


def load_model(model: Any) -> tuple[onnx.ModelProto, str]:
    """A ModelProto from a path, bytes or ModelProto, with a name for messages."""
    if isinstance(model, onnx.ModelProto):
        return model, model.graph.name or "<model>"
    if isinstance(model, (bytes, bytearray)):
        try:
            return onnx.load_model_from_string(bytes(model)), "<bytes>"
        except Exception as e:
            raise ImportError_(f"<bytes>: not a valid ONNX model ({type(e).__name__})") from None
    path = Path(os.fspath(model))
    if not path.exists():
        raise ImportError_(f"{path}: no such file")
    try:
        proto = onnx.load(str(path), load_external_data=True)
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ImportError_(f"{path}: not a valid ONNX model ({first[:120]})") from None
    if not proto.graph.node and not proto.graph.output:
        raise ImportError_(f"{path}: not a valid ONNX model (empty graph)")
    return proto, str(path)


def import_onnx(
    model: Any,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    constants: Mapping[str, np.ndarray] | None = None,
    quantize_weights=None,
) -> Program:
    """Import an ONNX model (path, bytes or ModelProto) into a tg Program.

    `input_shapes` binds dynamic dimensions; `constants` freezes graph inputs to
    known values (e.g. axes or shapes fed as inputs), removing them from the signature.
    `quantize_weights` (a spec such as "w4g128", see passes/quantize_weights.py) turns the
    constant weight of every MatMul/Gemm into low-bit codes (tg.matmul_nbits).
    """
    from . import converters  # noqa: F401  (registers the converters)

    proto, source = load_model(model)
    prog = GraphImporter(proto, input_shapes, source, constants).run()
    if quantize_weights is not None:
        from tensorc.passes.quantize_weights import quantize_program_weights

        prog = quantize_program_weights(prog, quantize_weights)
    return prog
