"""Benchmarks: jaxrl_modules against hand-written JAX and TorchRL, in one run, as ratios."""
