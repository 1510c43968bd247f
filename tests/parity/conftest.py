"""TorchRL parity tests: skipped on a user's machine without torchrl, required in CI."""

import os

if os.environ.get("CI", "").lower() == "true":
    # In CI a missing parity extra is a failure, not a skip.
    import torch  # noqa: F401
    import torchrl  # noqa: F401
