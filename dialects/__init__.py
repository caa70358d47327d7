"""xDSL dialects of tensorc, one module (or package) per dialect."""
