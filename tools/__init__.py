"""tensorc.tools: command-line driver, ``opt`` driver, benchmark helpers and model zoo."""
