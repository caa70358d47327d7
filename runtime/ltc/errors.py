"""Errors of the LUT Tensor Core runtime. Each message is one line naming the file, word or key at fault.

The runtime imports nothing from the compiler, so these do not derive from tensorc.diagnostics;
the CLI prints them as `error: ...` like any other user error.
"""

from __future__ import annotations


class LTCError(ValueError):
    """Base of the simulator's user-facing errors."""


class LTCFormatError(LTCError):
    """A malformed instruction stream, .ltc file or assembly text."""


class LTCConfigError(LTCError):
    """A bad machine configuration (unknown key, wrong type, impossible value)."""


class LTCInputError(LTCError):
    """A simulation input with the wrong name, shape or dtype."""
