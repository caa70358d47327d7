"""Fixtures for the pass tests: small tg programs with random weights, and the reference oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

PROGRAMS = Path(__file__).with_name("programs")


def _random_array(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        return rng.integers(0, 5, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def make_program(text: str, seed: int = 0):
    """A Program from tg IR text; every `tg.weight` gets a random array of its type."""
    from tensorc.dialects import dtypes
    from tensorc.dialects.tg import WeightOp
    from tensorc.ir_text import parse_module
    from tensorc.program import Program, WeightStore, signature_from_main

    module = parse_module(text)
    rng = np.random.default_rng(seed)
    store = WeightStore()
    for op in module.walk():
        if isinstance(op, WeightOp) and op.weight_name not in store:
            t = op.result.type
            store.add(op.weight_name, _random_array(rng, dtypes.shape_of(t), dtypes.dtype_of(t)))
    prog = Program(module, store)
    prog.signature = signature_from_main(prog.main)
    return prog


def random_inputs(prog, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [_random_array(rng, s.shape, s.dtype) for s in prog.signature.inputs]


def run_reference(prog, inputs) -> list[np.ndarray]:
    import tensorc

    return list(tensorc.compile(prog, target="reference")(*inputs).values())


@pytest.fixture
def program():
    """program(name_or_text) -> Program: a file in programs/ (without .mlir) or IR text."""

    def load(name_or_text: str, seed: int = 0):
        text = name_or_text if "func.func" in name_or_text else (PROGRAMS / f"{name_or_text}.mlir").read_text()
        return make_program(text, seed)

    return load


@pytest.fixture
def reference():
    """reference(prog, inputs) -> outputs of the reference interpreter."""
    return run_reference


@pytest.fixture
def inputs():
    return random_inputs
