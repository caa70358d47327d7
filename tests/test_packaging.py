"""Every Python package folder is listed in pyproject.toml, so a normal (non-editable) install has it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAP = {"compiler": "tensorc", "dialects": "tensorc.dialects", "passes": "tensorc.passes",
       "backends": "tensorc.backends", "runtime": "tensorc.runtime", "tools": "tensorc.tools"}


def test_all_packages_listed():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert cfg["package-dir"] == {name: folder for folder, name in MAP.items()}
    listed = set(cfg["packages"])
    found = set()
    for folder, name in MAP.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    assert sorted(found - listed) == []
