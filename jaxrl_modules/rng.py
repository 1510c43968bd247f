"""The names of the flax RNG streams, defined once.

Every random operation in jaxrl_modules draws from one of these streams, so a caller seeds exactly
what it means to: ``module.apply(variables, td, rngs={EXPLORATION: key})``. The same key in gives the
same output out.
"""

SAMPLE = "sample"
"""Sampling from a distribution (probabilistic actors under ``ExplorationType.RANDOM``)."""

EXPLORATION = "exploration"
"""Exploration noise (e-greedy coins and random actions, Gaussian and Ornstein-Uhlenbeck noise)."""

NOISE = "noise"
"""Noisy layers' factorised Gaussian noise."""

DROPOUT = "dropout"
"""Dropout masks (flax's own name for the stream)."""

PLANNING = "planning"
"""Candidate action sequences of the CEM / MPPI planners."""

RNG_STREAMS = (SAMPLE, EXPLORATION, NOISE, DROPOUT, PLANNING)

__all__ = ["SAMPLE", "EXPLORATION", "NOISE", "DROPOUT", "PLANNING", "RNG_STREAMS"]
