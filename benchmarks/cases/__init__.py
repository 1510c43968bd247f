"""One module per benchmark case; each exposes ``NAME``, ``sizes(smoke)`` and ``implementations(size)``."""

from benchmarks.cases import tdmodule_mlp

CASES = {case.NAME: case for case in (tdmodule_mlp,)}
