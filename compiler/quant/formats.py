"""Block formats: BFP12_n / BFP16_n (d-Matrix) and the OCP MX formats, by name.

A block format stores `block` consecutive values along one axis as one shared
8-bit exponent plus one small element per value. Two element kinds:

* ``int``: a signed, symmetric integer mantissa of `mantissa_bits` bits
  (sign included; -2^(wl-1) unused). Block value: m * 2^(E - (wl - 2)).
  BFP12 (wl = 4), BFP16 (wl = 8), MXINT8 (wl = 8: the BFP16 grid).
* ``fp``: a small float (sign, `elem_exp_bits` exponent bits, `mantissa_bits`
  explicit mantissa bits, subnormals, no inf/NaN used), scaled by the block's
  E8M0 scale 2^(E - emax_elem). MXFP8 E4M3/E5M2, MXFP6 E3M2/E2M3, MXFP4 E2M1.

Names (`parse_format`): ``bfp12_16``, ``bfp16_64`` (block required),
``mxint8``, ``mxfp8`` (= ``mxfp8_e4m3``), ``mxfp8_e5m2``, ``mxfp6_e3m2``,
``mxfp6_e2m3``, ``mxfp4`` (block 32, the OCP default; ``mxfp4_16`` sets another
block size), each optionally followed by a rounding suffix ``_rne`` (round half
to even, the default) or ``_rna`` (round half away from zero, as
microsoft/microxcaling's "nearest").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUNDINGS = ("rne", "rna")
SHARED_EXP_BITS = 8
#: shared exponent range: an 8-bit biased field (bias 127) whose codes 0..254 are
#: 2^-127 .. 2^127 and 255 marks a block holding NaN or +-inf (OCP E8M0)
E_MIN, E_MAX = -127, 127
SHARED_EXP_BIAS = 127


@dataclass(frozen=True)
class FpElem:
    """An OCP small-float element type (no inf/NaN are produced: MX saturates)."""

    name: str
    exp_bits: int
    man_bits: int
    max_norm: float

    @property
    def bias(self) -> int:
        return (1 << (self.exp_bits - 1)) - 1

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal (subnormals share it)."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest normal (OCP's emax_elem)."""
        import math

        return int(math.floor(math.log2(self.max_norm)))

    @property
    def bits(self) -> int:
        return 1 + self.exp_bits + self.man_bits


FP_ELEMS = {
    "e4m3": FpElem("e4m3", 4, 3, 448.0),
    "e5m2": FpElem("e5m2", 5, 2, 57344.0),
    "e3m2": FpElem("e3m2", 3, 2, 28.0),
    "e2m3": FpElem("e2m3", 2, 3, 7.5),
    "e2m1": FpElem("e2m1", 2, 1, 6.0),
}


@dataclass(frozen=True)
class Format:
    """One block format. `family` is the name without block size or rounding."""

    family: str  # bfp12 | bfp16 | mxint8 | mxfp8_e4m3 | mxfp8_e5m2 | mxfp6_e3m2 | mxfp6_e2m3 | mxfp4
    kind: str  # "int" | "fp"
    mantissa_bits: int  # int: wl, sign included; fp: explicit mantissa bits
    block: int
    elem_exp_bits: int = 0  # fp only
    shared_exp_bits: int = SHARED_EXP_BITS
    rounding: str = "rne"

    def __post_init__(self):
        if self.block < 1:
            raise ValueError(f"block size must be >= 1, got {self.block}")
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {self.rounding!r}")
        if self.kind not in ("int", "fp"):
            raise ValueError(f"kind must be int or fp, got {self.kind!r}")
        if self.kind == "int" and not 2 <= self.mantissa_bits <= 16:
            raise ValueError(f"integer mantissas of 2..16 bits, got {self.mantissa_bits}")
        if self.shared_exp_bits != SHARED_EXP_BITS:
            raise ValueError("only 8-bit shared exponents are supported")

    # ---- derived -------------------------------------------------------------
    @property
    def is_mx(self) -> bool:
        return self.family.startswith("mx")

    @property
    def elem(self) -> FpElem | None:
        """The small-float element type (fp kind), else None."""
        return FP_ELEMS[_ELEM_OF[self.family]] if self.kind == "fp" else None

    @property
    def elem_bits(self) -> int:
        """Bits of one element (sign included)."""
        return self.mantissa_bits if self.kind == "int" else 1 + self.elem_exp_bits + self.mantissa_bits

    @property
    def mmax(self) -> int:
        """Largest integer mantissa magnitude (int kind): 2^(wl-1) - 1."""
        return (1 << (self.mantissa_bits - 1)) - 1

    @property
    def emax_elem(self) -> int:
        """The exponent offset between the block's floor(log2 amax) and its scale."""
        return 0 if self.kind == "int" else self.elem.emax

    def bits_per_element(self) -> float:
        """Storage per element: element bits plus the shared exponent spread over the block."""
        return self.elem_bits + self.shared_exp_bits / self.block

    @property
    def name(self) -> str:
        """Canonical name: parse_format(f.name) == f."""
        base = self.family
        if not self.is_mx or self.block != 32:
            base += f"_{self.block}"
        if self.rounding != "rne":
            base += f"_{self.rounding}"
        return base

    def with_block(self, block: int) -> "Format":
        return Format(self.family, self.kind, self.mantissa_bits, block, self.elem_exp_bits,
                      self.shared_exp_bits, self.rounding)

    def __str__(self) -> str:
        return self.name


_FAMILIES = {
    "bfp12": dict(kind="int", mantissa_bits=4),
    "bfp16": dict(kind="int", mantissa_bits=8),
    "mxint8": dict(kind="int", mantissa_bits=8),
    "mxfp8_e4m3": dict(kind="fp", mantissa_bits=3, elem_exp_bits=4),
    "mxfp8_e5m2": dict(kind="fp", mantissa_bits=2, elem_exp_bits=5),
    "mxfp6_e3m2": dict(kind="fp", mantissa_bits=2, elem_exp_bits=3),
    "mxfp6_e2m3": dict(kind="fp", mantissa_bits=3, elem_exp_bits=2),
    "mxfp4": dict(kind="fp", mantissa_bits=1, elem_exp_bits=2),
}
_ELEM_OF = {"mxfp8_e4m3": "e4m3", "mxfp8_e5m2": "e5m2", "mxfp6_e3m2": "e3m2", "mxfp6_e2m3": "e2m3", "mxfp4": "e2m1"}
_ALIASES = {"mxfp8": "mxfp8_e4m3", "mxfp4_e2m1": "mxfp4", "bfp12": "bfp12", "bfp16": "bfp16"}
FAMILIES = tuple(_FAMILIES)

_NAME = re.compile(r"^(?P<fam>[a-z0-9]+?(?:_e\dm\d)?)(?:_(?P<block>\d+))?(?:_(?P<rnd>rne|rna))?$")


def parse_format(name: "str | Format", block: int | None = None, rounding: str | None = None) -> Format:
    """A Format from its name (`bfp12_16`, `mxfp4`, `mxfp8_e5m2_rna`, ...).

    `block` / `rounding` override what the name says (or supply it: `parse_format("bfp12", 16)`).
    """
    if isinstance(name, Format):
        fmt = name
        if block is not None:
            fmt = fmt.with_block(block)
        if rounding is not None:
            fmt = Format(fmt.family, fmt.kind, fmt.mantissa_bits, fmt.block, fmt.elem_exp_bits,
                         fmt.shared_exp_bits, rounding)
        return fmt
    text = str(name).strip().lower().replace("-", "_")
    m = _NAME.match(text)
    if not m:
        raise ValueError(f"unknown block format {name!r}")
    fam = _ALIASES.get(m.group("fam"), m.group("fam"))
    if fam not in _FAMILIES:
        raise ValueError(f"unknown block format {name!r} (families: {', '.join(FAMILIES)}, alias mxfp8)")
    b = block if block is not None else (int(m.group("block")) if m.group("block") else None)
    if b is None:
        if not fam.startswith("mx"):
            raise ValueError(f"{name!r}: a BFP format needs a block size, e.g. {fam}_32")
        b = 32
    rnd = rounding or m.group("rnd") or "rne"
    return Format(fam, block=b, rounding=rnd, **_FAMILIES[fam])


__all__ = ["Format", "FpElem", "FP_ELEMS", "FAMILIES", "ROUNDINGS", "parse_format", "E_MIN", "E_MAX",
           "SHARED_EXP_BIAS", "SHARED_EXP_BITS"]
