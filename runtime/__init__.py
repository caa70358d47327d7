"""tensorc runtime: runs compiled packages with numpy and ctypes only.

Nothing here imports the compiler (xdsl, onnx, llvmlite), so a package runs
where only numpy is installed.
"""

from .signature import InputError, check_inputs

__all__ = ["InputError", "check_inputs"]
