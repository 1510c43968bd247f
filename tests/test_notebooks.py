"""Every notebook in ``notebooks/`` runs top to bottom (DESIGN section 7), with small budgets.

Each notebook runs in a fresh ``python3`` kernel with ``JAXRL_NOTEBOOK_BUDGET=small`` (each reads
it and shrinks its training and planning sizes) and strict rank promotion, as this suite's
conftest sets for itself. The kernel inherits the environment, ``XLA_FLAGS`` included (plus a
lower LLVM optimisation level, see below). A cell that raises fails the test with nbclient's
``CellExecutionError`` (cell source and traceback).

``06_coming_from_torchrl`` compares against TorchRL: without torch/torchrl it is skipped with a
reason on a user's machine, and fails under ``CI=true``, where the parity extra is installed
(as ``tests/parity/conftest.py`` rules).

A notebook that ran is written, outputs included, to ``docs/_notebooks/`` (git-ignored), where the
API site's build renders it without running it again.
"""

import importlib.util
import json
import os
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
NEEDS_TORCHRL = {"06_coming_from_torchrl"}
CELL_TIMEOUT_S = 300  # per cell; generous because a loaded 2-core CI machine compiles slowly


def test_notebooks_found():
    # A glob that matches nothing would make the parametrized test below vanish silently.
    assert len(NOTEBOOKS) >= 6, f"expected the six notebooks in {NOTEBOOKS_DIR}, found {NOTEBOOKS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    code = [(i, cell) for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"]
    dirty = [i for i, cell in code if cell.get("outputs") or cell.get("execution_count") is not None]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing (smaller diffs)."


def _missing_torchrl() -> list[str]:
    return [name for name in ("torch", "torchrl") if importlib.util.find_spec(name) is None]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch):
    if path.stem in NEEDS_TORCHRL and _missing_torchrl():
        message = f"{path.name} compares with TorchRL, but {_missing_torchrl()} are not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}: CI installs the parity extra, so this is a failure.")
        pytest.skip(f"{message} (pip install -e '.[parity]').")
    # The kernel is a subprocess: it inherits this environment. With small budgets compiling
    # dominates the run time, and LLVM's optimisation level 0 halves it (the programs then run
    # slower, which small budgets do not notice).
    monkeypatch.setenv("JAXRL_NOTEBOOK_BUDGET", "small")
    monkeypatch.setenv("JAX_NUMPY_RANK_PROMOTION", "raise")
    xla_flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0"
    monkeypatch.setenv("XLA_FLAGS", xla_flags.strip())
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}
    )
    client.execute()  # raises CellExecutionError at the first cell that fails
    # The API site renders this run instead of running the notebook again (docs/conf.py).
    rendered = NOTEBOOKS_DIR.parent / "docs" / "_notebooks"
    rendered.mkdir(exist_ok=True)
    nbformat.write(nb, rendered / path.name)
