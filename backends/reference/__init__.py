"""Reference interpreter target (numpy): the oracle of every other target."""

from .interpreter import InterpreterError, evaluate_op, main_of, run_function

__all__ = ["InterpreterError", "evaluate_op", "main_of", "run_function"]
