# lit configuration for tensorc's FileCheck tests (xDSL style).
#
#   lit tests/filecheck -v
#
# `tensorc` and `filecheck` come from the Python environment running lit: its
# bin directory goes first on PATH, so an un-activated venv works too.

import os
import sys

import lit.formats

config.name = "tensorc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
# lit's scratch files (Output/ dirs, .lit_test_times.txt) go to the git-ignored build/
config.test_exec_root = os.path.join(os.path.dirname(__file__), "..", "..", "build", "filecheck")
config.excludes = ["lit.cfg.py", "Inputs"]

_bin = os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join([_bin, os.environ.get("PATH", "")])
# keep output stable: no colours, no user site quirks
config.environment["PYTHONNOUSERSITE"] = "1"
