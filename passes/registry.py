"""Every tensorc pass by name, imported only when asked for.

Adding a pass is one line in PASSES: `"my-pass": _lazy("my_module", "MyPass")`.
The factories return the pass class (xDSL's convention), so this dict plugs
straight into `PassPipeline.parse_spec` and `xDSLOptMain.register_pass`.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Callable

from xdsl.passes import ModulePass


def _lazy(module: str, cls: str) -> Callable[[], type[ModulePass]]:
    """`module` is relative to tensorc.passes, or absolute when it starts with `tensorc.`."""

    def factory() -> type[ModulePass]:
        path = module if module.startswith("tensorc.") else f"tensorc.passes.{module}"
        return getattr(importlib.import_module(path), cls)

    factory.__qualname__ = f"{module}.{cls}"
    return factory


PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "canonicalize": _lazy("canonicalize", "Canonicalize"),
    "cse": _lazy("cse", "Cse"),
    "dce": _lazy("dce", "Dce"),
    "fold-constants": _lazy("fold_constants", "FoldConstants"),
    "fold-shapes": _lazy("fold_shapes", "FoldShapes"),
    "cosma": _lazy("cosma", "Cosma"),
    "bfp-quantize-kv": _lazy("bfp_quantize_kv", "BfpQuantizeKV"),
    "bfp-rearrange": _lazy("bfp_rearrange", "BfpRearrange"),
    "bfp-expand": _lazy("bfp_expand", "BfpExpand"),
    "bfp-pack": _lazy("bfp_pack", "BfpPack"),
    "cg-to-gaunt": _lazy("cg_to_gaunt", "CgToGaunt"),
    "lower-eqv": _lazy("lower_eqv", "LowerEqv"),
    "lut-mpgemm": _lazy("lut_mpgemm", "LutMpGemm"),
    "lut-symmetrize": _lazy("lut_symmetrize", "LutSymmetrize"),
    "quantize-weights": _lazy("quantize_weights", "QuantizeWeights"),
    # llvm-cpu backend stages
    "convert-tg-to-loops": _lazy("tensorc.backends.llvm.lower_tg", "ConvertTgToLoops"),
    "plan-memory": _lazy("tensorc.backends.llvm.plan_memory", "PlanMemory"),
    "approximate-math": _lazy("tensorc.backends.llvm.math_approx", "ApproximateMath"),
    "convert-to-llvm": _lazy("tensorc.backends.llvm.to_llvm", "ConvertToLLVM"),
}


def available() -> list[str]:
    """The names of all tensorc passes, sorted."""
    return sorted(PASSES)


def close_matches(name: str, names=None) -> list[str]:
    """Pass names that look like `name` (for 'did you mean' messages)."""
    return difflib.get_close_matches(name, list(names if names is not None else PASSES), n=3, cutoff=0.6)


def get_pass(name: str) -> type[ModulePass]:
    """The pass class registered as `name`; KeyError naming close matches if there is none."""
    factory = PASSES.get(name)
    if factory is None:
        hint = close_matches(name)
        raise KeyError(f"unknown pass '{name}'" + (f" (did you mean {', '.join(hint)}?)" if hint else ""))
    return factory()


def summary(name: str) -> str:
    """The first line of the pass's docstring, for `tensorc passes`."""
    doc = (get_pass(name).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """xDSL's passes plus tensorc's; where names clash (canonicalize, cse, dce) tensorc's win."""
    from xdsl.universe import Universe

    return {**Universe.get_multiverse().all_passes, **PASSES}


__all__ = ["PASSES", "available", "get_pass", "close_matches", "summary", "all_passes"]
