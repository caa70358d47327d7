import os
import warnings

import pytest

os.environ.setdefault("ONNX_HOME", os.path.join(os.path.expanduser("~"), ".cache", "tensorc", "onnx_home"))


@pytest.fixture(autouse=True)
def _quiet_numpy_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
