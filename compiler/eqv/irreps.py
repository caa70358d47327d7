"""Irreducible representations of O(3) and their direct sums, in e3nn's layout.

An `Irrep` is a degree l and a parity p (+1 even `e`, -1 odd `o`); `Irreps` is an
ordered list of (multiplicity, Irrep) entries, written e3nn's way: "32x0e+32x1o".
A feature vector of Irreps lays its entries one after the other, each entry as a
[mul, 2l+1] block, row-major ("mul_ir" layout), m ordered -l..l.

Pure Python and numpy: the dialect, the passes and the backends import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator


@dataclass(frozen=True, order=True)
class Irrep:
    l: int
    p: int  # +1 (e) or -1 (o)

    def __post_init__(self):
        if self.l < 0 or self.p not in (1, -1):
            raise ValueError(f"bad irrep l={self.l} p={self.p}")

    @property
    def dim(self) -> int:
        return 2 * self.l + 1

    @property
    def family(self) -> int:
        """+1 when p = (-1)^l (like spherical harmonics), -1 for the pseudo family."""
        return self.p * (-1) ** self.l

    def __mul__(self, other: "Irrep") -> list["Irrep"]:
        p = self.p * other.p
        return [Irrep(l, p) for l in range(abs(self.l - other.l), self.l + other.l + 1)]

    def __str__(self) -> str:
        return f"{self.l}{'e' if self.p == 1 else 'o'}"

    @staticmethod
    def parse(text: str | "Irrep") -> "Irrep":
        if isinstance(text, Irrep):
            return text
        m = re.fullmatch(r"\s*(\d+)([eoy])\s*", text)
        if not m:
            raise ValueError(f"cannot parse irrep '{text}' (expected like '1o')")
        l = int(m.group(1))
        p = {"e": 1, "o": -1, "y": (-1) ** l}[m.group(2)]
        return Irrep(l, p)


@dataclass(frozen=True)
class MulIr:
    mul: int
    ir: Irrep

    @property
    def dim(self) -> int:
        return self.mul * self.ir.dim

    def __str__(self) -> str:
        return f"{self.mul}x{self.ir}"


class Irreps(tuple):
    """A tuple of MulIr; parses from and prints to e3nn's string form."""

    def __new__(cls, entries: "str | Iterable" = ()):
        if isinstance(entries, Irreps):
            return entries
        if isinstance(entries, str):
            items = []
            text = entries.strip()
            if text:
                for part in text.split("+"):
                    m = re.fullmatch(r"\s*(?:(\d+)\s*x\s*)?(\d+[eoy])\s*", part)
                    if not m:
                        raise ValueError(f"cannot parse irreps '{entries}' at '{part.strip()}'")
                    items.append(MulIr(int(m.group(1) or 1), Irrep.parse(m.group(2))))
            return super().__new__(cls, items)
        items = []
        for e in entries:
            if isinstance(e, MulIr):
                items.append(e)
            elif isinstance(e, Irrep):
                items.append(MulIr(1, e))
            else:
                mul, ir = e
                items.append(MulIr(int(mul), Irrep.parse(ir) if not isinstance(ir, Irrep) else ir))
        for e in items:
            if e.mul < 0:
                raise ValueError(f"negative multiplicity in {e}")
        return super().__new__(cls, items)

    def __str__(self) -> str:
        return "+".join(str(e) for e in self) or ""

    def __repr__(self) -> str:
        return f"Irreps('{self}')"

    def __add__(self, other) -> "Irreps":
        return Irreps(list(self) + list(Irreps(other)))

    @property
    def dim(self) -> int:
        return sum(e.dim for e in self)

    @property
    def lmax(self) -> int:
        return max((e.ir.l for e in self), default=-1)

    @property
    def num_irreps(self) -> int:
        return sum(e.mul for e in self)

    def offsets(self) -> list[int]:
        """Start of each entry in the flat layout."""
        out, o = [], 0
        for e in self:
            out.append(o)
            o += e.dim
        return out

    def slices(self) -> list[slice]:
        return [slice(o, o + e.dim) for o, e in zip(self.offsets(), self)]

    def muls(self) -> set[int]:
        return {e.mul for e in self}

    def entries(self) -> Iterator[tuple[int, MulIr]]:
        return iter(enumerate(self))

    def is_simplified(self) -> bool:
        """No irrep appears in two entries."""
        seen = [e.ir for e in self]
        return len(seen) == len(set(seen))

    def uniform_mul(self) -> int | None:
        m = self.muls()
        return next(iter(m)) if len(m) == 1 else None

    @staticmethod
    def spherical_harmonics(lmax: int, p: int = -1) -> "Irreps":
        """1x0e+1x1o+...: the irreps of spherical harmonics up to lmax (e3nn's p=-1)."""
        return Irreps([(1, Irrep(l, p**l)) for l in range(lmax + 1)])


def irreps(x) -> Irreps:
    return Irreps(x)
