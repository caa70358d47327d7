"""tensorc runtime: runs compiled packages with numpy and ctypes only.

Nothing here imports the compiler (xdsl, onnx, llvmlite), so a package runs
where only numpy is installed.
"""

from .package import ChecksumError, FormatVersionError, Model, PackageError, UnsupportedCPUError, load
from .signature import InputError, check_inputs

__all__ = ["InputError", "check_inputs"]
__all__ += ["load", "Model", "PackageError", "FormatVersionError", "ChecksumError", "UnsupportedCPUError"]
