"""Runs the lit + FileCheck suite (tests/filecheck) so that `pytest` covers it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parents[1] / "filecheck"


def _tool(name: str) -> str | None:
    # prefer the tools installed next to this Python (the project's venv)
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else shutil.which(name)


def test_lit_suite():
    lit = _tool("lit")
    if lit is None or _tool("filecheck") is None or _tool("tensorc") is None:
        pytest.skip("lit, filecheck or the tensorc script is not installed")
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    r = subprocess.run([lit, str(SUITE), "-q", "-v"], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
