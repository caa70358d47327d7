"""The ONNX frontend: ModelProto → tg Program."""

from .importer import CONVERTERS, NodeContext, Val, converter, import_onnx, load_model

__all__ = ["CONVERTERS", "NodeContext", "Val", "converter", "import_onnx", "load_model"]
