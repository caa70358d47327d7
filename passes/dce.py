"""dce: remove ops whose results are unused and which have no side effects (xDSL's pass).

Every tg op is pure, so an unused tg op (including an unused `tg.weight`) goes;
the pipeline driver prunes the weights nothing refers to any more afterwards.
"""

from dataclasses import dataclass

from xdsl.transforms.dead_code_elimination import DeadCodeElimination


@dataclass(frozen=True)
class Dce(DeadCodeElimination):
    """Remove unused side-effect-free ops (and unreachable blocks)."""

    name = "dce"


__all__ = ["Dce"]
