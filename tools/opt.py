"""`tensorc opt`: this project's mlir-opt, xDSL's opt driver with tensorc's dialects and passes.

    tensorc opt model.mlir -p 'canonicalize,fold-constants{max-size=64}'
    tensorc opt errors.mlir --verify-diagnostics --split-input-file

Every xDSL dialect and pass is available too; where pass names clash
(canonicalize, cse, dce) tensorc's version wins, and named pipelines
(`-p cleanup`) work as in `run_passes`. There is no WeightStore here: passes
that need weight values leave weight-dependent IR alone.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from xdsl.utils.exceptions import DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from tensorc.context import tensorc_dialects
from tensorc.diagnostics import TensorcError
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

    def setup_pipeline(self):
        # Parse with tensorc's parser first: it expands named pipelines and says
        # which pass or option is unknown (with close matches). xDSL then builds
        # its pipeline (verification, --print-between-passes) from the result.
        from tensorc.pipeline import parse_pipeline_spec

        passes = parse_pipeline_spec(self.args.passes)
        self.args.passes = ",".join(str(p) for p in passes)
        super().setup_pipeline()

    def get_input_stream(self):
        # any file that is not for another frontend is MLIR text (`x.ir`, `x.txt`, ...)
        stream, ext = super().get_input_stream()
        return stream, ext if ext in self.available_frontends else "mlir"


def main(argv: Sequence[str] | None = None, debug: bool = False) -> int:
    """Run the driver on `argv` (sys.argv[1:] by default); returns the exit status.

    Parse and verifier errors print the full MLIR-style diagnostic (it points
    at the offending op) after `error: `, and exit 1; `debug` re-raises instead.
    """
    try:
        TensorcOptMain(description="tensorc's modular optimizer driver", args=argv).run()
    except (ParseError, DiagnosticException, TensorcError, OSError) as e:
        if debug:
            raise
        if isinstance(e, OSError) and e.filename is not None and e.strerror:
            message = f"{e.filename}: {e.strerror}"
        else:
            message = str(e).strip()
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
