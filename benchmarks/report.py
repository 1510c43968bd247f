"""The benchmark results against their targets: a markdown table and a chart of the ratios.

``python -m benchmarks.report [--json PATH] [--png PATH] [--markdown PATH]`` reads the JSON that
`benchmarks.run` writes (default ``benchmarks/results/latest.json``), prints the table (and writes
it to ``--markdown`` if given) and draws the ratios to ``--png`` (default
``benchmarks/results/ratios.png``; ``--png ""`` draws nothing).

One table row per case, size and judged jaxrl_modules column (the ``variants`` of
`benchmarks.targets` get rows of their own): the medians in microseconds (± interquartile range),
the two ratios of `benchmarks.run` (jaxrl_modules time / hand-written JAX time: 1.0 is a free
library layer; TorchRL time / jaxrl_modules time: how many times faster we are, against the faster
of TorchRL's 2-thread and 1-thread columns), the target and whether it is met. The chart shows
the same two ratios per row on log axes, with each row's target marked.

Example (a payload as `benchmarks.run` writes it)::

    >>> t = lambda us: {"median_us": us, "iqr_us": 0.0, "first_call_s": 0.0, "repeats": 1, "number": 1}
    >>> payload = {"environment": {}, "rows": [{"case": "cem_plan", "size": "C1000xH10xI5xK100",
    ...     "timings": {"jaxrl_modules": t(1000.0), "jax": t(1000.0), "torchrl": t(20000.0)}}]}
    >>> [(v.vs_jax, v.vs_torchrl, v.met) for v in evaluate(payload)]
    [(1.0, 20.0, True)]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.targets import TORCHRL_COLUMNS, lookup

__all__ = ["Check", "Verdict", "evaluate", "format_markdown", "plot_ratios", "report", "main"]

OURS = "jaxrl_modules"


@dataclasses.dataclass
class Check:
    """One target of one row: ``label`` (``"<=1.05x jax"``), the measured ``value`` (None when a
    column it needs did not run), whether it is met (None likewise), and its ``kind``: ``"jax"``
    and ``"torchrl"`` (the two ratio columns), ``"other"`` (a ratio to another column) or ``"us"``
    (an absolute time)."""

    label: str
    value: float | None
    ok: bool | None
    kind: str


@dataclasses.dataclass
class Verdict:
    """One judged row: ``impl`` is the jaxrl_modules column judged (``"jaxrl_modules"`` or a
    variant); times are medians in microseconds, ``iqr`` their interquartile ranges."""

    case: str
    size: str
    impl: str
    times: dict[str, float]
    iqr: dict[str, float]
    hand_written: str | None
    torchrl: str | None
    others: list[str]
    checks: list[Check]
    source: str | None

    @property
    def vs_jax(self) -> float | None:
        return _ratio(self.times, self.impl, self.hand_written)

    @property
    def vs_torchrl(self) -> float | None:
        return _ratio(self.times, self.torchrl, self.impl)

    @property
    def met(self) -> bool | None:
        """False if any target is missed; True if every target that could be judged is met;
        None if there is no target or none could be judged."""
        judged = [c.ok for c in self.checks if c.ok is not None]
        if not judged:
            return None
        return all(judged)


def _ratio(times: dict[str, float], num: str | None, den: str | None) -> float | None:
    if num in times and den in times and times[den] > 0:
        return times[num] / times[den]
    return None


def _hand_written(timings: dict[str, Any], target: dict[str, Any] | None) -> str | None:
    named = (target or {}).get("hand_written")
    if named in timings:
        return named
    if "jax" in timings:
        return "jax"
    return next((n for n in timings if n.startswith("jax[")), None)


def _checks(
    target: dict[str, Any], times: dict[str, float], impl: str, hand: str | None, torchrl: str | None
) -> list[Check]:
    checks = []

    def check(label: str, value: float | None, bound: float, at_most: bool, kind: str) -> None:
        ok = None if value is None else (value <= bound if at_most else value >= bound)
        checks.append(Check(label, value, ok, kind))

    if "max_us" in target:
        check(f"<={target['max_us']:g} us", times.get(impl), target["max_us"], True, "us")
    if "vs_jax_max" in target:
        bound = target["vs_jax_max"]
        check(f"<={bound:.3g}x {hand or 'hand-written'}", _ratio(times, impl, hand), bound, True, "jax")
    for column, bound in target.get("vs_other_max", {}).items():
        check(f"<={bound:g}x {column}", _ratio(times, impl, column), bound, True, "other")
    for column, bound in target.get("vs_other_min", {}).items():
        check(f">={bound:g}x faster than {column}", _ratio(times, column, impl), bound, False, "other")
    if "vs_torchrl_min" in target:
        bound = target["vs_torchrl_min"]
        label = "faster than TorchRL" if bound == 1.0 else f">={bound:g}x faster than TorchRL"
        check(label, _ratio(times, torchrl, impl), bound, False, "torchrl")
    return checks


def evaluate(payload: dict[str, Any]) -> list[Verdict]:
    """Judges every row of a `benchmarks.run` payload against `benchmarks.targets`.

    Args:
      payload: ``{"environment": {...}, "rows": [{"case", "size", "timings": {impl: {"median_us",
        "iqr_us", ...}}}]}``.

    Returns:
      One `Verdict` per row and judged jaxrl_modules column (rows without a jaxrl_modules column
      are skipped), in the payload's order.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list):
        raise ValueError(f"payload must be a dict with a 'rows' list (benchmarks.run's JSON), got {type(payload)}.")
    verdicts = []
    for row in payload["rows"]:
        timings = row["timings"]
        times = {name: float(t["median_us"]) for name, t in timings.items()}
        iqr = {name: float(t.get("iqr_us", 0.0)) for name, t in timings.items()}
        target = lookup(row["case"], str(row["size"]))
        hand = _hand_written(timings, target)
        # TorchRL at its best: on a loaded 2-core machine its 2-thread run can be 10x slower than 1 thread
        torchrl = min((c for c in TORCHRL_COLUMNS if c in timings), key=times.get, default=None)
        variants = [v for v in (target or {}).get("variants", []) if v in timings]
        judged = {OURS, *variants, hand, *TORCHRL_COLUMNS}
        others = [n for n in timings if n not in judged]
        for impl in [OURS, *variants]:
            if impl not in timings:
                continue
            checks = _checks(target, times, impl, hand, torchrl) if target else []
            verdicts.append(
                Verdict(
                    row["case"],
                    str(row["size"]),
                    impl,
                    times,
                    iqr,
                    hand,
                    torchrl,
                    others,
                    checks,
                    (target or {}).get("source"),
                )
            )
    return verdicts


def _us(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def _timed(v: Verdict, name: str | None) -> str:
    if name not in v.times:
        return "-"
    return f"{_us(v.times[name])} ±{_us(v.iqr[name])}"


def _x(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def _met(v: Verdict) -> str:
    """ "yes"/"no", then the missed targets and the values no other column shows."""
    if v.met is None:
        return "-"
    shown = []
    for c in v.checks:
        value = "not run" if c.value is None else (f"{_us(c.value)} us" if c.kind == "us" else _x(c.value))
        if c.ok is False:
            shown.append(f"missed {c.label}: {value}")
        elif c.kind in ("us", "other") or c.ok is None:
            shown.append(f"{c.label}: {value}")
    return ("yes" if v.met else "no") + (" (" + "; ".join(shown) + ")" if shown else "")


def format_markdown(verdicts: list[Verdict], environment: dict[str, Any] | None = None) -> str:
    """The verdicts as a markdown table, with the environment and a count of targets met above it."""
    header = [
        "case",
        "size",
        "jaxrl_modules (us)",
        "hand-written JAX (us)",
        "other JAX (us)",
        "TorchRL 2 / 1 thread (us)",
        "ours / hand-written",
        "TorchRL / ours",
        "target",
        "met?",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for v in verdicts:
        case = v.case if v.impl == OURS else f"{v.case} {v.impl[len(OURS) :]}"
        hand = _timed(v, v.hand_written) + (f" ({v.hand_written})" if v.hand_written not in (None, "jax") else "")
        others = "; ".join(f"{n} {_us(v.times[n])}" for n in v.others) or "-"
        torch = " / ".join(_us(v.times[c]) if c in v.times else "-" for c in TORCHRL_COLUMNS)
        target = ", ".join(c.label for c in v.checks) or "-"
        cells = [case, v.size, _timed(v, v.impl), hand, others, torch, _x(v.vs_jax), _x(v.vs_torchrl), target, _met(v)]
        lines.append("| " + " | ".join(cells) + " |")
    judged = [v.met for v in verdicts if v.met is not None]
    out = []
    if environment:
        out.append(", ".join(f"{k}={val}" for k, val in environment.items()))
    out.append(f"Targets met: {sum(judged)} of {len(judged)} rows with a target.")
    return "\n\n".join([*out, "\n".join(lines)])


def report(payload: dict[str, Any]) -> str:
    """The markdown report of a `benchmarks.run` payload (see `format_markdown`)."""
    return format_markdown(evaluate(payload), payload.get("environment"))


def plot_ratios(payload: dict[str, Any], path: str | Path) -> Path:
    """Draws both ratios of every judged row on log axes, each row's target marked, to a PNG.

    Left: jaxrl_modules / hand-written time (left of 1 is faster than hand-written; the mark is
    the most allowed). Right: TorchRL / jaxrl_modules time (right of 1 is faster than TorchRL;
    the mark is the least required). Bars are green where that target is met, red where missed,
    grey without one.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    verdicts = [v for v in evaluate(payload) if v.vs_jax is not None or v.vs_torchrl is not None]
    labels = [f"{v.case}{'' if v.impl == OURS else v.impl[len(OURS) :]} {v.size}" for v in verdicts]
    n = max(len(verdicts), 1)
    fig, axes = plt.subplots(1, 2, figsize=(13, 1.2 + 0.32 * n), sharey=True)
    panels = (
        ("jaxrl_modules / hand-written time", "vs_jax", "vs_jax_max"),
        ("TorchRL / jaxrl_modules time", "vs_torchrl", "vs_torchrl_min"),
    )
    for ax, (title, attr, key) in zip(axes, panels):
        shown = [1.0]
        for y, v in enumerate(verdicts):
            value = getattr(v, attr)
            target = lookup(v.case, v.size) or {}
            bound = target.get(key)
            if value is None:
                continue
            color = (
                "0.6"
                if bound is None
                else ("tab:green" if (value <= bound if key.endswith("max") else value >= bound) else "tab:red")
            )
            ax.barh(y, value - 1.0, left=1.0, color=color, height=0.7)  # from 1 (parity) to the ratio
            ax.plot([value], [y], "o", color=color, markersize=4)  # visible at parity too
            ax.text(value, y, f"  {_x(value)}  ", va="center", ha="left" if value >= 1 else "right", fontsize=7)
            shown.append(value)
            if bound is not None:
                ax.plot([bound, bound], [y - 0.45, y + 0.45], color="black", linewidth=2)
                shown.append(bound)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlim(min(shown) / 2.0, max(shown) * 2.0)  # room for the value labels
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}x"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(title + " (black: target)", fontsize=10)
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0].set_yticks(range(len(labels)), labels, fontsize=8)
    axes[0].invert_yaxis()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/latest.json"))
    parser.add_argument("--png", default="benchmarks/results/ratios.png", help='"" to draw nothing')
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    payload = json.loads(args.json.read_text())
    text = report(payload)
    print(text)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n")
    if args.png:
        print(f"wrote {plot_ratios(payload, args.png)}", file=sys.stderr)
    return text


if __name__ == "__main__":
    main()
