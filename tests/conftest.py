"""Strict JAX for the whole suite (DESIGN section 7).

Eight host CPU devices so that sharding code runs on a CPU; rank promotion raises so that a silent
broadcast is a test failure. The device count must be set before jax is first imported.
"""

import os

os.environ["XLA_FLAGS"] = " ".join(
    [os.environ.get("XLA_FLAGS", ""), "--xla_force_host_platform_device_count=8"]
).strip()

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
    return jax.random.key(0)


# CI runs hypothesis derandomized, so a run is reproducible; locally each run explores new examples.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")
