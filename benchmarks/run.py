"""Runs the benchmark suite: ``python -m benchmarks.run [--smoke] [--only CASE] [--json PATH]``.

For each case and size, every implementation is timed in this one process; the table
(`benchmarks.report`) gives medians in microseconds per call, two ratios: jaxrl_modules over
hand-written JAX (the cost of the library's layer; 1.0 is free) and TorchRL over jaxrl_modules
(how many times faster we are), and each target's verdict (`benchmarks.targets`). It writes the
JSON and a chart of the ratios (``ratios.png`` beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax

from benchmarks.cases import CASES
from benchmarks.harness import Row, time_calls


def run(smoke: bool, only: str | None) -> list[Row]:
    if only is not None and only not in CASES:
        raise SystemExit(f"Unknown case {only!r}; cases: {sorted(CASES)}")
    rows = []
    for name, case in CASES.items():
        if only is not None and name != only:
            continue
        for size in case.sizes(smoke):
            if hasattr(case, "timings"):  # whole training runs: the case times them itself
                timings = case.timings(size, smoke)
            else:
                impls = case.implementations(size)
                timings = time_calls(impls, repeats=3 if smoke else 21, min_repeat_s=0.002 if smoke else 0.02)
            rows.append(Row(name, str(size), timings))
    return rows


def environment() -> dict:
    info = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0].device_kind),
        "backend": jax.default_backend(),
    }
    try:
        import torch
        import torchrl

        info["torch"], info["torchrl"] = torch.__version__, torchrl.__version__
    except ImportError:
        pass
    return info


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and few repeats (CI)")
    parser.add_argument("--only", help="run one case by name")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/latest.json"))
    args = parser.parse_args(argv)
    rows = run(args.smoke, args.only)
    env = environment()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "environment": env,
        "rows": [{"case": r.case, "size": r.size, "timings": {k: vars(t) for k, t in r.timings.items()}} for r in rows],
    }
    args.json.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.json}", file=sys.stderr)
    from benchmarks.report import plot_ratios, report  # after the JSON is safely on disk

    print(report(payload))  # the environment, then the table with each target's verdict
    print(f"wrote {plot_ratios(payload, args.json.with_name('ratios.png'))}", file=sys.stderr)
    return rows


if __name__ == "__main__":
    main()
