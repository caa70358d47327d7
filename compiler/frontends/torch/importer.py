"""ExportedProgram (decomposed) → tg: walks the FX graph node by node.

- Parameters, buffers and lifted constants are known constants named by their
  qualified names (`layers.0.q.weight`); when a run-time op uses one it becomes
  `tg.weight @"layers.0.q.weight"`. Ops on constants only (position ids from
  `arange`, masks sliced from buffers, `weight[0]`) fold at import.
- Symbolic sizes (`sym_size`, arithmetic on them) are evaluated to Python ints:
  tg shapes are static, bound to the example inputs or `input_shapes`.
- Each ATen op is converted by the function registered for its overload
  (`aten.add.Tensor`) or its packet (`aten.add`) in `ATEN`; each tg op gets
  `src = "<node> in <module path> at <file>:<line>"` from the node's
  `nn_module_stack` and `stack_trace`.
- The result of every node is checked against the node's FakeTensor: a dtype
  the converter did not produce is cast to, a shape mismatch is an error.
"""

from __future__ import annotations

import math
import operator
import os
import re
from typing import Any, Callable

import numpy as np
import torch
from torch.export.graph_signature import InputKind, OutputKind
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Region
from xdsl.utils.exceptions import VerifyException

from tensorc.dialects import dtypes
from tensorc.diagnostics import ImportError_, ShapeError, UnsupportedOpError
from tensorc.frontends.builder import GraphBuilder, Val
from tensorc.program import Program, Signature, TensorSpec

Converter = Callable[["OpContext"], Any]
#: "aten.add.Tensor" (one overload) or "aten.add" (all overloads) → converter
ATEN: dict[str, Converter] = {}


def aten(*names: str):
    """Register a converter for ATen ops: `@aten("add", "sub.Tensor")`."""

    def deco(fn: Converter) -> Converter:
        for n in names:
            ATEN[n if n.startswith("aten.") else f"aten.{n}"] = fn
        return fn

    return deco


# ---- dtypes ------------------------------------------------------------------
def _torch_np_table():
    import ml_dtypes

    return {
        torch.float32: np.dtype(np.float32), torch.float64: np.dtype(np.float64),
        torch.float16: np.dtype(np.float16), torch.bfloat16: np.dtype(ml_dtypes.bfloat16),
        torch.int64: np.dtype(np.int64), torch.int32: np.dtype(np.int32), torch.int16: np.dtype(np.int16),
        torch.int8: np.dtype(np.int8), torch.uint8: np.dtype(np.uint8), torch.bool: np.dtype(np.bool_),
        torch.uint16: np.dtype(np.uint16), torch.uint32: np.dtype(np.uint32), torch.uint64: np.dtype(np.uint64),
        torch.float8_e4m3fn: np.dtype(ml_dtypes.float8_e4m3fn), torch.float8_e5m2: np.dtype(ml_dtypes.float8_e5m2),
    }


T2N = _torch_np_table()
N2T = {v: k for k, v in T2N.items()}


def np_dtype(t: torch.dtype) -> np.dtype:
    try:
        return T2N[t]
    except KeyError:
        raise dtypes.UnsupportedDType(f"unsupported element type {t}") from None


def torch_dtype(d) -> torch.dtype:
    return N2T[np.dtype(d)]


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A torch tensor's data as numpy (bfloat16 and friends through ml_dtypes)."""
    t = t.detach().cpu().contiguous()
    dt = np_dtype(t.dtype)
    if t.dtype in (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2, torch.uint16, torch.uint32, torch.uint64):
        width = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
        return t.view(width).numpy().view(dt).copy()
    return t.numpy().copy()


# ---- source locations --------------------------------------------------------
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<fn>\S+)\n(?P<code>[^\n]*)')
# frames in torch itself, or in this frontend (nodes made while decomposing carry our call site), are not the model's
_NOT_USER = (os.path.dirname(torch.__file__) + os.sep, os.path.dirname(os.path.abspath(__file__)) + os.sep)


class Where:
    """Where a node came from: module path, and the innermost user frame of its stack trace."""

    def __init__(self, node: torch.fx.Node):
        self.node = node.name
        stack = node.meta.get("nn_module_stack") or {}
        paths = [p for p, _ in stack.values() if p]
        self.module = paths[-1] if paths else ""
        frames = [m.groupdict() for m in _FRAME.finditer(node.meta.get("stack_trace") or "")]
        user = [f for f in frames if not f["file"].startswith(_NOT_USER)]
        f = (user or frames or [None])[-1]
        self.file = f["file"] if f else None
        self.line = int(f["line"]) if f else None
        self.code = f["code"].strip() if f else ""

    @property
    def src(self) -> str:
        s = self.node
        if self.module:
            s += f" in {self.module}"
        if self.file:
            s += f" at {os.path.basename(self.file)}:{self.line}"
        return s

    def describe(self) -> str:
        """`/path/model.py:12 (node 'add_3' in module 'layers.0'): y = x + 1`."""
        loc = f"{self.file}:{self.line}" if self.file else "<unknown source line>"
        mod = f" in module '{self.module}'" if self.module else ""
        code = f": {self.code}" if self.code else ""
        return f"{loc} (node '{self.node}'{mod}){code}"


class TorchOpError(UnsupportedOpError):
    """An ATen op (or a form of it) the importer does not handle; one line naming the op and source line."""

    def __init__(self, op: str, where: Where, why: str = ""):
        self.node, self.op_type, self.opset, self.where = where.node, op, None, where
        msg = f"unsupported ATen op {op}" + (f" ({why})" if why else "") + f" at {where.describe()}"
        ImportError_.__init__(self, msg)


class _Unavailable:
    """A result the converter does not compute (batch-norm statistics, pooling indices)."""

    def __init__(self, what: str):
        self.what = what


# ---- the importer ------------------------------------------------------------
class FxImporter(GraphBuilder):
    def __init__(self, ep, shapes: dict[str, tuple[int, ...]], source: str | None = None):
        from . import e3nn_modules, ops  # noqa: F401  (registers the converters)

        e3nn_modules.register(ATEN)

        super().__init__()
        self.ep = ep
        self.source = source or "import_torch"
        self.shapes = shapes
        self.env: dict[torch.fx.Node, Any] = {}
        self.symbols: dict[Any, int] = {}  # sympy symbol → its bound size

    # ---- inputs ------------------------------------------------------
    def _constant(self, spec) -> Val:
        """A parameter, buffer or lifted constant, under its qualified name."""
        target = spec.target
        if spec.kind == InputKind.PARAMETER or (spec.kind == InputKind.BUFFER and spec.persistent is not False):
            t = self.ep.state_dict.get(target)
        else:
            t = self.ep.constants.get(target)
        if t is None:  # non-persistent buffers live in constants, some versions put them in the state dict
            t = self.ep.state_dict.get(target, self.ep.constants.get(target))
        if t is None:
            raise ImportError_(f"{self.source}: the exported program has no value for '{target}'")
        if not isinstance(t, torch.Tensor):  # a torch.ScriptObject
            raise ImportError_(f"{self.source}: '{target}' is a {type(t).__name__}, not a tensor (custom classes are unsupported)")
        try:
            return Val(target, const=to_numpy(t), named=True)
        except dtypes.UnsupportedDType as e:
            raise ImportError_(f"{self.source}: '{target}': {e}") from None

    def _bind_symbols(self, node: torch.fx.Node, shape: tuple[int, ...]) -> None:
        val = node.meta.get("val")
        for d, concrete in zip(val.shape, shape):
            if isinstance(d, torch.SymInt):
                expr = d.node.expr
                if getattr(expr, "is_Symbol", False):
                    bound = self.symbols.setdefault(expr, concrete)
                    if bound != concrete:
                        raise ShapeError(
                            f"{self.source}: input '{node.name}': dimension {expr} is {concrete} here "
                            f"but {bound} in another input"
                        )
                    if not self._in_range(expr, concrete):
                        rng = self.ep.range_constraints[expr]
                        raise ShapeError(
                            f"{self.source}: input '{node.name}': dimension {expr}={concrete} is outside "
                            f"its exported range [{rng.lower}, {rng.upper}]"
                        )

    def _in_range(self, expr, value: int) -> bool:
        """Whether `value` is in the range the program was exported for (sympy bounds, maybe int_oo)."""
        rng = self.ep.range_constraints.get(expr)
        if rng is None:
            return True
        try:
            return bool(rng.lower <= value) and bool(value <= rng.upper)
        except TypeError:
            return True

    def concrete_shape(self, val) -> tuple[int, ...] | None:
        """A FakeTensor's shape with the bound symbols substituted (None if some size is unknown)."""
        out = []
        for d in val.shape:
            if isinstance(d, int):
                out.append(d)
                continue
            try:
                out.append(int(d.node.expr.xreplace(self.symbols)))
            except (TypeError, ValueError):
                return None
        return tuple(out)

    # ---- the graph ---------------------------------------------------
    def run(self) -> Program:
        sig = self.ep.graph_signature
        specs = {s.arg.name: s for s in sig.input_specs}
        in_specs = []
        for node in self.ep.graph.nodes:
            if node.op == "placeholder":
                spec = specs[node.name]
                if spec.kind == InputKind.USER_INPUT:
                    self._user_input(node, in_specs)
                else:
                    self.env[node] = self._constant(spec)
            elif node.op == "call_function":
                self._call(node)
            elif node.op == "output":
                out_vals, out_specs = self._outputs(node)
            else:  # get_attr (subgraphs of control flow), call_module
                raise TorchOpError(f"{node.op} {node.target}", Where(node), "control flow and submodule calls are unsupported")

        self.block.add_op(func.ReturnOp(*out_vals))
        fn = func.FuncOp("main", ([a.type for a in self.block.args], [v.type for v in out_vals]), Region(self.block))
        module = ModuleOp([fn])
        try:
            module.verify()
        except VerifyException as e:
            raise ImportError_(f"{self.source}: imported IR does not verify: {str(e).splitlines()[0]}") from None
        self.weights.prune({op.weight_name for op in fn.walk() if hasattr(op, "weight_name")})
        return Program(module, self.weights, Signature(in_specs, out_specs))

    def _user_input(self, node, in_specs) -> None:
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):  # an int/float/bool input: export specialized it
            self.env[node] = val
            return
        shape = self.shapes[node.name]
        self._bind_symbols(node, shape)
        try:
            dt = np_dtype(val.dtype)
        except dtypes.UnsupportedDType as e:
            raise ImportError_(f"{self.source}: input '{node.name}': {e}") from None
        arg = self.block.insert_arg(dtypes.tensor_type(shape, dt), len(self.block.args))
        arg.name_hint = _hint(node.name)
        in_specs.append(TensorSpec(node.name, shape, dt))
        self.env[node] = Val(node.name, ssa=arg)

    def _outputs(self, node):
        outs = node.args[0]
        specs = self.ep.graph_signature.output_specs
        user = []
        for spec, arg in zip(specs, outs):
            if spec.kind == OutputKind.USER_OUTPUT:
                user.append(arg)
            elif spec.kind == OutputKind.USER_INPUT_MUTATION:
                raise ImportError_(f"{self.source}: the model mutates its input '{spec.target}' in place (unsupported)")
            # BUFFER_MUTATION (e.g. batch-norm statistics in training mode): one call needs no write-back
        names = _output_names(self.ep, len(user))
        out_vals, out_specs = [], []
        for name, arg in zip(names, user):
            v = self.env.get(arg) if isinstance(arg, torch.fx.Node) else arg
            if not isinstance(v, Val):
                if isinstance(v, (int, float, bool)):
                    v = Val(name, const=np.asarray(v))
                else:
                    raise ImportError_(f"{self.source}: output '{name}' is not a tensor ({type(v).__name__})")
            ssa = self.materialize(v, stem=name)
            out_vals.append(ssa)
            out_specs.append(TensorSpec(name, dtypes.shape_of(ssa.type), dtypes.dtype_of(ssa.type)))
        return out_vals, out_specs

    # ---- one node ----------------------------------------------------
    def value(self, x):
        """Node arguments with the nodes replaced by their values (Val, int, list...)."""
        return torch.fx.node.map_aggregate(x, lambda a: self.env[a] if isinstance(a, torch.fx.Node) else a)

    def _call(self, node: torch.fx.Node) -> None:
        target = node.target
        if target is operator.getitem:
            seq, i = self.value(node.args[0]), self.value(node.args[1])
            v = seq[i]
            if isinstance(v, _Unavailable):
                raise TorchOpError(str(node.args[0].target), Where(node), f"its {v.what} output is not supported")
            self.env[node] = v
            return
        if target in PY_OPS:
            self.env[node] = PY_OPS[target](*self.value(node.args), **self.value(node.kwargs))
            return
        if not isinstance(target, torch._ops.OpOverload):
            name = getattr(target, "__name__", None) or str(target)
            if isinstance(target, torch._ops.HigherOrderOperator):
                raise TorchOpError(f"torch.ops.higher_order.{name}", Where(node), "control flow is unsupported")
            raise TorchOpError(name, Where(node))
        op_name = str(target)  # aten.add.Tensor
        fn = ATEN.get(op_name) or ATEN.get(op_name.rsplit(".", 1)[0])
        if fn is None:
            raise TorchOpError(op_name, Where(node))
        cx = OpContext(self, node, op_name)
        try:
            out = fn(cx)
        except TorchOpError:
            raise
        except (UnsupportedOpError, ShapeError) as e:
            raise TorchOpError(op_name, cx.where, str(e)) from None
        except VerifyException as e:
            raise TorchOpError(op_name, cx.where, str(e).splitlines()[0]) from None
        except dtypes.UnsupportedDType as e:
            raise TorchOpError(op_name, cx.where, str(e)) from None
        except (ValueError, IndexError, KeyError, TypeError, AttributeError, ZeroDivisionError) as e:
            # a form of the op the converter does not expect; `--debug` shows the traceback
            raise TorchOpError(op_name, cx.where, f"{type(e).__name__}: {e}") from e
        self.env[node] = self._check(cx, out)

    def _check(self, cx: "OpContext", out):
        """Name the results after the node; cast to the dtype torch says; shapes must agree."""
        meta = cx.node.meta.get("val")
        if isinstance(out, Val):
            return self._check_one(cx, out, meta, cx.node.name)
        if isinstance(out, (list, tuple)):
            metas = meta if isinstance(meta, (list, tuple)) else [None] * len(out)
            return [
                self._check_one(cx, o, m, f"{cx.node.name}_{i}") if isinstance(o, Val) else o
                for i, (o, m) in enumerate(zip(out, metas))
            ]
        return out

    def _check_one(self, cx, v: Val, meta, name: str) -> Val:
        if isinstance(meta, torch.Tensor):
            want = self.concrete_shape(meta)
            if want is not None and tuple(v.shape) != want:
                raise TorchOpError(cx.op, cx.where, f"importer bug: result shape {list(v.shape)}, torch says {list(want)}")
            dt = np_dtype(meta.dtype)
            if v.dtype != dt:
                v = cx.cast(v, dt)
        if not v.name:
            v.name = name
        if v.ssa is not None and v.ssa.name_hint is None:
            v.ssa.name_hint = _hint(name)
        return v


def _output_names(ep, n: int) -> list[str]:
    """`output` for one result, `output_0`, ... for several; the keys when forward returns a dict."""
    spec = ep.call_spec.out_spec
    try:
        if spec is not None and spec.type is dict and spec.num_leaves == n and all(c.is_leaf() for c in spec.children()):
            return [str(k) for k in spec.context]
    except AttributeError:
        pass
    return ["output"] if n == 1 else [f"output_{i}" for i in range(n)]


def _hint(name: str) -> str | None:
    h = re.sub(r"[^A-Za-z0-9_$.]", "_", name).strip("_")
    return None if not h or h[0].isdigit() else h


def _sym_size(x: Val, dim: int) -> int:
    return x.shape[dim]


def _skip(*args, **kwargs):
    return None


#: Python-level and symbolic-shape ops: evaluated on Python ints at import.
PY_OPS: dict[Any, Callable] = {
    operator.add: operator.add, operator.sub: operator.sub, operator.mul: operator.mul,
    operator.floordiv: operator.floordiv, operator.truediv: operator.truediv, operator.mod: operator.mod,
    operator.pow: operator.pow, operator.neg: operator.neg, operator.pos: operator.pos, operator.abs: operator.abs,
    operator.eq: operator.eq, operator.ne: operator.ne, operator.lt: operator.lt, operator.le: operator.le,
    operator.gt: operator.gt, operator.ge: operator.ge, operator.and_: operator.and_, operator.or_: operator.or_,
    operator.not_: operator.not_,
    math.ceil: math.ceil, math.floor: math.floor, math.sqrt: math.sqrt, math.trunc: math.trunc,
    torch.sym_float: float, torch.sym_int: int, torch.sym_max: max, torch.sym_min: min, torch.sym_not: operator.not_,
    torch.sym_sum: sum, torch.sym_ite: lambda c, a, b: a if c else b,
    torch.ops.aten.sym_size.int: _sym_size,
    torch.ops.aten.sym_numel.default: lambda x: int(np.prod(x.shape)),
    torch.ops.aten.sym_storage_offset.default: lambda x: 0,
    torch.ops.aten.sym_stride.int: lambda x, d: int(np.prod(x.shape[d + 1:])),
    torch.ops.aten._assert_scalar.default: _skip,
    torch.ops.aten.sym_constrain_range.default: _skip,
    torch.ops.aten.sym_constrain_range_for_size.default: _skip,
    torch.ops.aten._assert_tensor_metadata.default: _skip,
    torch.ops.aten._assert_async.msg: _skip,
    torch._check: _skip,
}


class OpContext:
    """What a converter sees: the node, its arguments by schema name, and emitting helpers."""

    def __init__(self, imp: FxImporter, node: torch.fx.Node, op: str):
        self.imp, self.node, self.op = imp, node, op
        self.where = Where(node)
        self.src = self.where.src
        self.args = self._bind(node.target._schema, imp.value(node.args), imp.value(node.kwargs))

    @staticmethod
    def _bind(schema, args, kwargs) -> dict[str, Any]:
        out: dict[str, Any] = {}
        pos = 0
        for a in schema.arguments:
            if not a.kwarg_only and pos < len(args):
                out[a.name] = args[pos]
                pos += 1
            elif a.name in kwargs:
                out[a.name] = kwargs[a.name]
            elif a.has_default_value():
                out[a.name] = a.default_value
            else:
                out[a.name] = None
        return out

    def __getitem__(self, name: str) -> Any:
        return self.args[name]

    def get(self, name: str, default=None) -> Any:
        v = self.args.get(name)
        return default if v is None else v

    # ---- errors ------------------------------------------------------
    def unsupported(self, why: str) -> TorchOpError:
        return TorchOpError(self.op, self.where, why)

    # ---- what torch says about the result ----------------------------
    @property
    def meta(self):
        return self.node.meta.get("val")

    @property
    def out_dtype(self) -> np.dtype:
        m = self.meta
        m = m[0] if isinstance(m, (list, tuple)) else m
        return np_dtype(m.dtype)

    @property
    def out_shape(self) -> tuple[int, ...]:
        m = self.meta
        m = m[0] if isinstance(m, (list, tuple)) else m
        shape = self.imp.concrete_shape(m)
        if shape is None:
            raise self.unsupported("its result shape depends on the data")
        return shape

    def out_type(self, i: int | None = None):
        m = self.meta if i is None else self.meta[i]
        shape = self.imp.concrete_shape(m)
        if shape is None:
            raise self.unsupported("its result shape depends on the data")
        return dtypes.tensor_type(shape, np_dtype(m.dtype))

    # ---- values ------------------------------------------------------
    def tensor(self, x, dtype=None) -> Val:
        """A Val from a Val or a Python scalar (cast to `dtype` when given)."""
        if isinstance(x, Val):
            return x if dtype is None else self.cast(x, dtype)
        if isinstance(x, (torch.SymInt, torch.SymFloat, torch.SymBool)):
            raise self.unsupported("a symbolic scalar operand")
        if dtype is None:
            dtype = np.bool_ if isinstance(x, bool) else np.int64 if isinstance(x, int) else np.float32
        return Val("", const=np.asarray(x).astype(dtype))

    def const(self, x: Val | Any, what: str = "operand") -> np.ndarray:
        if isinstance(x, Val):
            if x.const is None:
                raise self.unsupported(f"{what} must be known at import (it is computed at run time)")
            return x.const
        return np.asarray(x)

    def cast(self, v: Val, dtype) -> Val:
        dtype = np.dtype(dtype)
        if v.dtype == dtype:
            return v
        return self.emit1("cast", [v], result_types=[dtypes.tensor_type(v.shape, dtype)])

    def emit(self, op: str, operands, attrs=None, result_types=None, num_results=None) -> list[Val]:
        return self.imp.emit(op, operands, attrs, result_types, num_results, src=self.src)

    def emit1(self, op: str, operands, attrs=None, result_types=None) -> Val:
        return self.emit(op, operands, attrs, result_types)[0]

    def reshape(self, v: Val, shape) -> Val:
        shape = [int(d) for d in shape]
        return v if list(v.shape) == shape else self.emit1("reshape", [v], {"shape": shape})

    def unavailable(self, what: str) -> _Unavailable:
        return _Unavailable(what)


def norm_dim(d: int, rank: int) -> int:
    r = max(rank, 1)
    if not -r <= d < r:
        raise ShapeError(f"dimension {d} out of range for rank {rank}")
    return d % r


def dims_list(dim, rank: int) -> list[int]:
    """A `dim` argument (int, list, or None / [] = all) as sorted, normalized axes."""
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(rank))
    if isinstance(dim, int):
        dim = [dim]
    return sorted({norm_dim(int(d), rank) for d in dim})
