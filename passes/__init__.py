"""tensorc's passes, one module per pass; `registry.PASSES` names them all.

Passes are xDSL `ModulePass`es. Those that need the Program's weights read
them from `weights.current_weights()`, which the pipeline driver sets.
"""
