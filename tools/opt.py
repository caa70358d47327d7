"""`tensorc opt`: this project's mlir-opt, xDSL's opt driver with tensorc's dialects and passes.

    tensorc opt model.mlir -p 'canonicalize,fold-constants{max-size=64}'
    tensorc opt errors.mlir --verify-diagnostics --split-input-file

Every xDSL dialect and pass is available too; where pass names clash
(canonicalize, cse, dce) tensorc's version wins. There is no WeightStore
here: passes that need weight values leave weight-dependent IR alone.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from xdsl.xdsl_opt_main import xDSLOptMain

from tensorc.context import tensorc_dialects
from tensorc.passes.registry import all_passes


class TensorcOptMain(xDSLOptMain):
    version_format = "tensorc opt (xdsl {xdsl_version})"

    def register_all_dialects(self):
        super().register_all_dialects()
        for name, factory in tensorc_dialects().items():
            self.ctx.register_dialect(name, factory)

    def register_all_passes(self):
        for name, factory in all_passes().items():
            self.register_pass(name, factory)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the driver on `argv` (sys.argv[1:] by default); returns the exit status."""
    TensorcOptMain(description="tensorc's modular optimizer driver", args=argv).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
