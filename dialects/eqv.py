"""eqv — E(3)-equivariant operations on irreps-laid-out feature tensors.

Values are ordinary `tensor<... x D x f32|f64>`; the last axis is laid out by an
irreps (e3nn's mul_ir layout) that each op names in its attributes:

    %y   = eqv.spherical_harmonics(%r) {irreps_out = #eqv.irreps<"1x0e+1x1o+1x2e">, normalization = "integral"}
    %z   = eqv.cg_tp(%x1, %x2, %w) {irreps_in1 = ..., irreps_in2 = ..., irreps_out = ...,
                                     paths = [#eqv.path<0, 0, 0, "uuu", true, 1.0>, ...]}
    %g   = eqv.gaunt_tp(%x1, %x2, %a, %b, %c) {irreps_in1, irreps_in2, irreps_out, method = "grid"}
    %o   = eqv.linear(%x, %w) {irreps_in, irreps_out, paths = array<i64: i, j, ...>, coeffs = array<f64: ...>}

`#eqv.irreps<"...">` is the irreps type of a feature axis; `#eqv.path<i1, i2, io, mode,
has_weight, path_weight>` one CG instruction (e3nn's Instruction, path_weight being
e3nn's normalized sqrt(alpha)·path_weight). The numerics are `tensorc.eqv.reference`.

The ops subclass tg's `TGOp`, so the reference interpreter runs them by name
(kernels `eqv.*` in backends/reference/kernels/eqv.py) and tg's custom syntax applies.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from xdsl.dialects import builtin as B
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute
from xdsl.irdl import irdl_attr_definition, irdl_op_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from tensorc.dialects.tg.base import SRC, TGOp, tt
from tensorc.eqv import reference as R
from tensorc.eqv.irreps import Irreps


# ---- attributes ------------------------------------------------------------------------
@irdl_attr_definition
class IrrepsAttr(ParametrizedAttribute):
    """`#eqv.irreps<"32x0e+32x1o">`: the layout of a feature axis (canonical e3nn text)."""

    name = "eqv.irreps"
    spec: B.StringAttr

    def __init__(self, irreps: "Irreps | str"):
        super().__init__(B.StringAttr(str(Irreps(irreps))))

    @property
    def irreps(self) -> Irreps:
        return Irreps(self.spec.data)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            pos = parser.pos
            text = parser.parse_str_literal()
        try:
            canon = str(Irreps(text))
        except ValueError as e:
            parser.raise_error(str(e), pos, parser.pos)
        return [B.StringAttr(canon)]

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(f'<"{self.spec.data}">')

    def verify(self) -> None:
        try:
            Irreps(self.spec.data)
        except ValueError as e:
            raise VerifyException(str(e)) from None


def _parse_signed_float(parser: AttrParser) -> float:
    neg = parser.parse_optional_punctuation("-") is not None
    v = parser.parse_number()
    return -float(v) if neg else float(v)


@irdl_attr_definition
class PathAttr(ParametrizedAttribute):
    """`#eqv.path<i1, i2, io, "mode", has_weight, path_weight>`: one CG tensor-product instruction."""

    name = "eqv.path"
    i1: B.IntAttr
    i2: B.IntAttr
    io: B.IntAttr
    mode: B.StringAttr
    has_weight: B.IntAttr
    path_weight: B.FloatData

    def __init__(self, p: R.Path):
        super().__init__(
            B.IntAttr(p.i1), B.IntAttr(p.i2), B.IntAttr(p.io), B.StringAttr(p.mode),
            B.IntAttr(int(bool(p.has_weight))), B.FloatData(float(p.path_weight)),
        )

    @property
    def path(self) -> R.Path:
        return R.Path(self.i1.data, self.i2.data, self.io.data, self.mode.data, bool(self.has_weight.data), self.path_weight.data)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            ints = []
            for _ in range(3):
                ints.append(parser.parse_integer())
                parser.parse_punctuation(",")
            pos = parser.pos
            mode = parser.parse_str_literal()
            if mode not in R.MODES:
                parser.raise_error(f"unknown mode '{mode}' (one of {', '.join(R.MODES)})", pos, parser.pos)
            parser.parse_punctuation(",")
            hw = parser.parse_boolean()
            parser.parse_punctuation(",")
            pw = _parse_signed_float(parser)
        return [B.IntAttr(ints[0]), B.IntAttr(ints[1]), B.IntAttr(ints[2]), B.StringAttr(mode), B.IntAttr(int(hw)), B.FloatData(pw)]

    def print_parameters(self, printer: Printer) -> None:
        p = self.path
        printer.print_string(f'<{p.i1}, {p.i2}, {p.io}, "{p.mode}", {"true" if p.has_weight else "false"}, {p.path_weight!r}>')


# ---- op base -----------------------------------------------------------------------------
# attribute kinds of eqv ops: (kind, default); _REQ marks required
_REQ = object()


def _attr_value(kind: str, attr: Attribute) -> Any:
    if kind == "irreps":
        if not isinstance(attr, IrrepsAttr):
            raise VerifyException(f"expected #eqv.irreps<...>, got {attr}")
        return attr.irreps
    if kind == "paths":
        if not isinstance(attr, B.ArrayAttr) or not all(isinstance(a, PathAttr) for a in attr.data):
            raise VerifyException(f"expected [#eqv.path<...>, ...], got {attr}")
        return [a.path for a in attr.data]
    if kind == "str":
        if not isinstance(attr, B.StringAttr):
            raise VerifyException(f"expected a string, got {attr}")
        return attr.data
    if kind == "int":
        if not isinstance(attr, B.IntegerAttr):
            raise VerifyException(f"expected an integer, got {attr}")
        return int(attr.value.data)
    if kind == "ints":
        if not isinstance(attr, B.DenseArrayBase) or not isinstance(attr.elt_type, B.IntegerType):
            raise VerifyException(f"expected array<i64: ...>, got {attr}")
        return [int(v) for v in attr.get_values()]
    if kind == "f64s":
        if not isinstance(attr, B.DenseArrayBase) or attr.elt_type != B.f64:
            raise VerifyException(f"expected array<f64: ...>, got {attr}")
        return [float(v) for v in attr.get_values()]
    raise ValueError(kind)


def _to_attr(kind: str, value: Any) -> Attribute:
    if kind == "irreps":
        return value if isinstance(value, IrrepsAttr) else IrrepsAttr(value)
    if kind == "paths":
        return B.ArrayAttr([PathAttr(p) for p in value])
    if kind == "str":
        return B.StringAttr(str(value))
    if kind == "int":
        return B.IntegerAttr(int(value), B.i64)
    if kind == "ints":
        return B.DenseArrayBase.from_list(B.i64, [int(v) for v in value])
    if kind == "f64s":
        return B.DenseArrayBase.from_list(B.f64, [float(v) for v in value])
    raise ValueError(kind)


class EqvOp(TGOp):
    """Base of eqv ops: tg's operand/result shape with eqv-typed attributes."""

    SCHEMA: ClassVar[dict[str, tuple[str, Any]]] = {}

    def __init_subclass__(cls, **kwargs):
        ann = dict(cls.__dict__.get("__annotations__", {}))
        if "SCHEMA" in cls.__dict__:
            ann.setdefault("SCHEMA", ClassVar[Any])
        cls.__annotations__ = ann
        super().__init_subclass__(**kwargs)

    @classmethod
    def make_op(cls, operands, attrs: dict[str, Any], src: str | None = None, result_types=None):
        attributes = {}
        for k, v in attrs.items():
            if v is None:
                continue
            if k not in cls.SCHEMA:
                raise VerifyException(f"{cls.name}: unknown attribute '{k}'")
            attributes[k] = _to_attr(cls.SCHEMA[k][0], v)
        if src:
            attributes[SRC] = B.StringAttr(src)
        from xdsl.ir import SSAValue

        values = [SSAValue.get(o) for o in operands]
        if result_types is None:
            shell = cls.create(operands=values, attributes=attributes, result_types=[])
            try:
                shell._check_operands()
                result_types = shell.infer([v.type for v in values])
            finally:
                shell.drop_all_references()
        return cls.create(operands=values, attributes=attributes, result_types=list(result_types))

    def attr(self, key: str) -> Any:
        kind, default = self.SCHEMA[key]
        if key in self.attributes:
            return _attr_value(kind, self.attributes[key])
        return None if default is _REQ else default

    def attr_values(self) -> dict[str, Any]:
        return {k: self.attr(k) for k in self.SCHEMA}

    def _check_operands(self) -> None:
        lo, hi = self.OPERANDS
        n = len(self.inputs)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else f"{lo}..{'' if hi is None else hi}"
            raise VerifyException(f"{self.where()}: expects {want} operands, got {n}")
        for key, attr in self.attributes.items():
            if key == SRC:
                continue
            if key not in self.SCHEMA:
                raise VerifyException(f"{self.where()}: unknown attribute '{key}'")
            try:
                _attr_value(self.SCHEMA[key][0], attr)
            except VerifyException as e:
                raise VerifyException(f"{self.where()}: attribute '{key}': {e}") from None
        for key, (_k, default) in self.SCHEMA.items():
            if default is _REQ and key not in self.attributes:
                raise VerifyException(f"{self.where()}: missing required attribute '{key}'")

    # helpers for infer
    def _float_elem(self, ins) -> Attribute:
        elems = {t.element_type for t in ins}
        if len(elems) != 1:
            self._fail("operand element types differ: " + ", ".join(sorted(map(str, elems))))
        e = elems.pop()
        if e not in (B.f32, B.f64):
            self._fail(f"element type must be f32 or f64, got {e}")
        return e

    def _fail(self, msg: str):
        raise VerifyException(f"{self.where()}: {msg}")

    def _features(self, t, irr: Irreps, what: str) -> list[int]:
        shape = list(t.get_shape())
        if not shape or shape[-1] != irr.dim:
            self._fail(f"{what} has shape {shape}; its last axis must be {irr.dim} ({irr})")
        return shape[:-1]

    def _batch(self, *batches) -> list[int]:
        try:
            return list(np.broadcast_shapes(*[tuple(b) for b in batches]))
        except ValueError:
            self._fail("batch shapes " + ", ".join(str(list(b)) for b in batches) + " do not broadcast")


# ---- ops ---------------------------------------------------------------------------------
@irdl_op_definition
class SphericalHarmonicsOp(EqvOp):
    """e3nn's o3.spherical_harmonics(irreps_out, r, normalize, normalization): [..., 3] → [..., D]."""

    name = "eqv.spherical_harmonics"
    OPERANDS = (1, 1)
    SCHEMA = {"irreps_out": ("irreps", _REQ), "normalize": ("int", 1), "normalization": ("str", "integral")}

    def infer(self, ins, num_results=None):
        e = self._float_elem(ins)
        io = self.attr("irreps_out")
        shape = list(ins[0].get_shape())
        if not shape or shape[-1] != 3:
            self._fail(f"input must be [..., 3], got {shape}")
        for m in io:
            if m.ir.p != (-1) ** m.ir.l:
                self._fail(f"spherical harmonics of degree {m.ir.l} have parity {'e' if m.ir.l % 2 == 0 else 'o'}, not {m.ir}")
        if self.attr("normalization") not in ("integral", "component", "norm"):
            self._fail(f"normalization '{self.attr('normalization')}' (integral, component or norm)")
        return [tt(shape[:-1] + [io.dim], e)]


@irdl_op_definition
class CGTensorProductOp(EqvOp):
    """out[io] += K_p · CG(x1[i1], x2[i2]) per path (e3nn's TensorProduct; weights shared, flat, e3nn order)."""

    name = "eqv.cg_tp"
    OPERANDS = (2, 3)
    SCHEMA = {
        "irreps_in1": ("irreps", _REQ),
        "irreps_in2": ("irreps", _REQ),
        "irreps_out": ("irreps", _REQ),
        "paths": ("paths", _REQ),
    }

    def infer(self, ins, num_results=None):
        e = self._float_elem(ins)
        i1, i2, io = self.attr("irreps_in1"), self.attr("irreps_in2"), self.attr("irreps_out")
        paths = self.attr("paths")
        b1 = self._features(ins[0], i1, "in1")
        b2 = self._features(ins[1], i2, "in2")
        for p in paths:
            why = R.check_path(p, i1, i2, io)
            if why:
                self._fail(why)
        n = R.weight_numel(paths, i1, i2, io)
        if n and len(ins) != 3:
            self._fail(f"the paths use {n} weights but no weight operand is given")
        if len(ins) == 3:
            ws = list(ins[2].get_shape())
            if ws != [n]:
                self._fail(f"weight operand must be [{n}], got {ws}")
        return [tt(self._batch(b1, b2) + [io.dim], e)]


@irdl_op_definition
class GauntTensorProductOp(EqvOp):
    """Σ_r c_r ⊙ Gaunt(a_r ⊙ x1, b_r ⊙ x2) per parity family pair (see tensorc.eqv.reference.gaunt_tp).

    a: [R, 1|C, entries of in1], b: [R, 1|C, entries of in2], c: [R, 1|C, entries of out]."""

    name = "eqv.gaunt_tp"
    OPERANDS = (5, 5)
    SCHEMA = {
        "irreps_in1": ("irreps", _REQ),
        "irreps_in2": ("irreps", _REQ),
        "irreps_out": ("irreps", _REQ),
        "method": ("str", "grid"),
    }

    def infer(self, ins, num_results=None):
        e = self._float_elem(ins)
        i1, i2, io = self.attr("irreps_in1"), self.attr("irreps_in2"), self.attr("irreps_out")
        if self.attr("method") not in ("grid", "fft"):
            self._fail(f"method '{self.attr('method')}' (grid or fft)")
        b1 = self._features(ins[0], i1, "in1")
        b2 = self._features(ins[1], i2, "in2")
        muls = []
        for irr, what in ((i1, "in1"), (i2, "in2"), (io, "out")):
            m = irr.uniform_mul()
            if m is None:
                self._fail(f"every entry of {what} ({irr}) must have the same multiplicity")
            muls.append(m)
        for irr, what in ((i1, "in1"), (i2, "in2")):
            if not irr.is_simplified():
                self._fail(f"{what} ({irr}) repeats an irrep; a Gaunt product takes one entry per irrep")
        scal = []
        for t, irr, what in ((ins[2], i1, "a"), (ins[3], i2, "b"), (ins[4], io, "c")):
            s = list(t.get_shape())
            if len(s) != 3 or s[2] != len(irr):
                self._fail(f"scaling {what} must be [R, 1|C, {len(irr)}], got {s}")
            scal.append(s)
        if len({s[0] for s in scal}) != 1:
            self._fail(f"scalings a, b, c disagree on the rank R: {[s[0] for s in scal]}")
        try:
            C = R.channels(muls[0], muls[1], *[s[1] for s in scal])
        except ValueError as err:
            self._fail(str(err))
        if muls[2] != C:
            self._fail(f"output multiplicity {muls[2]} must be the channel count {C}")
        return [tt(self._batch(b1, b2) + [io.dim], e)]


@irdl_op_definition
class LinearOp(EqvOp):
    """e3nn's o3.Linear without biases: out[j] += coeff · x[i] @ W ([mul_in, mul_out]) per path (i, j)."""

    name = "eqv.linear"
    OPERANDS = (2, 2)
    SCHEMA = {
        "irreps_in": ("irreps", _REQ),
        "irreps_out": ("irreps", _REQ),
        "paths": ("ints", _REQ),
        "coeffs": ("f64s", _REQ),
    }

    def lin_paths(self) -> list[tuple[int, int, float]]:
        ij, cs = self.attr("paths"), self.attr("coeffs")
        return [(ij[2 * k], ij[2 * k + 1], cs[k]) for k in range(len(cs))]

    def attr_values(self) -> dict[str, Any]:
        return {"irreps_in": self.attr("irreps_in"), "irreps_out": self.attr("irreps_out"), "paths": self.lin_paths()}

    def infer(self, ins, num_results=None):
        e = self._float_elem(ins)
        ii, io = self.attr("irreps_in"), self.attr("irreps_out")
        b = self._features(ins[0], ii, "input")
        ij, cs = self.attr("paths"), self.attr("coeffs")
        if len(ij) != 2 * len(cs):
            self._fail(f"paths has {len(ij)} indices for {len(cs)} coefficients (two per path)")
        n = 0
        for i, j, _c in self.lin_paths():
            if not (0 <= i < len(ii) and 0 <= j < len(io)):
                self._fail(f"path ({i}, {j}) out of range")
            if ii[i].ir != io[j].ir:
                self._fail(f"path ({i}, {j}) connects {ii[i].ir} to {io[j].ir}: a linear map keeps the irrep")
            n += ii[i].mul * io[j].mul
        if list(ins[1].get_shape()) != [n]:
            self._fail(f"weight operand must be [{n}], got {list(ins[1].get_shape())}")
        return [tt(b + [io.dim], e)]


OPS = {
    "spherical_harmonics": SphericalHarmonicsOp,
    "cg_tp": CGTensorProductOp,
    "gaunt_tp": GauntTensorProductOp,
    "linear": LinearOp,
}

EQV = Dialect("eqv", list(OPS.values()), [IrrepsAttr, PathAttr])

__all__ = ["EQV", "OPS", "IrrepsAttr", "PathAttr", "EqvOp", *[c.__name__ for c in OPS.values()]]
