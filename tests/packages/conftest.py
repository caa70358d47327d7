"""Fixtures for package tests: a private shared-library cache, and the small models
compiled once per session (JIT executable + its saved package)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TENSORC_CACHE_DIR", str(tmp_path_factory.mktemp("tcpkg-cache")))
        yield


@dataclass
class Built:
    name: str
    prog: object
    exe: object
    pkg: Path
    feeds: dict


SMALL = {
    "mlp": lambda small: small.mlp(4),
    "convnet": lambda small: small.convnet(),
    "tiny_transformer_block": lambda small: small.tiny_transformer_block(),
}


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """name → Built, compiled on first use."""
    import tensorc
    from tensorc.tools.models import small
    from tcpkg_helpers import random_feeds

    cache: dict[str, Built] = {}

    def get(name: str) -> Built:
        if name not in cache:
            prog = tensorc.import_onnx(SMALL[name](small))
            exe = tensorc.compile(prog, target="llvm-cpu")
            pkg = tmp_path_factory.mktemp(name) / f"{name}.tcpkg"
            exe.save(pkg)
            cache[name] = Built(name, prog, exe, pkg, random_feeds(prog.signature.inputs))
        return cache[name]

    return get
