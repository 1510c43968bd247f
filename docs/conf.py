"""Sphinx configuration: the API reference from the docstrings, the README's sections as pages, the
notebooks executed with their small budget (or as the test suite last ran them), and docs/differences.md.

Build (warnings are errors, as in CI): ``sphinx-build -W --keep-going -b html docs docs/_build/html``.

The README stays the one source of its sections: each ``## `` section is written to
``_readme/<name>.md`` at build time (git-ignored), and the notebooks are copied to ``_notebooks/``,
since Sphinx reads sources only under this folder. After the build, every public name of the package
(each ``__all__``) must be documented in ``api/`` and have a docstring, or the build fails.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "jaxrl_modules"
author = "the jaxrl_modules developers"
release = importlib.import_module("jaxrl_modules").__version__

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
exclude_patterns = ["_build", "README.md"]
html_theme = "furo"
html_title = "jaxrl_modules"

# Cross-references inside the package must resolve; names of other libraries are not checked
# (there are no inventories to check them against offline).
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(jax|jnp|flax|nn|np|numpy|distrax|optax|chex|gymnax|orbax|typing|collections|enum|dataclasses|"
        r"types|abc|builtins|tfp)(\..*)?",
    ),
    (
        r"py:.*",
        r"(Array|ArrayLike|Any|Callable|Sequence|Mapping|Iterator|Iterable|PRNGKey|DTypeLike|Shape|"
        r"NestedKey|Self|T|KeyArray|Module|Distribution|PyTree|optional|callable|default|int|float|bool|str|tuple|"
        r"dict|list|None|object|type|Ellipsis)",
    ),
]
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_inherit_docstrings = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
suppress_warnings = ["myst.header"]  # README sections start at "##"

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "auto"  # executes the notebooks without outputs: see _copy_notebooks
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
os.environ.setdefault("JAXRL_NOTEBOOK_BUDGET", "small")  # the budget the test suite uses


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


def _readme_pages() -> list[str]:
    """The README's ``## `` sections as pages; links into the repository are made site-relative."""
    text = (ROOT / "README.md").read_text()
    out = DOCS / "_readme"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    names = []
    for section in re.split(r"^(?=## )", text, flags=re.M)[1:]:
        title = section.splitlines()[0][3:].strip()
        if title == "API map":  # the API reference pages are its rendered form
            continue
        body = section.replace("](docs/", "](../").replace("(docs/differences.md)", "(../differences.md)")
        # Files of the repository that are not pages link to the repository path as code.
        body = re.sub(
            r"\[([^\]]+)\]\(((?:notebooks|benchmarks|examples|jaxrl_modules|tests)/[^)]*)\)", r"\1 (`\2`)", body
        )
        body = body.replace("](../benchmark_ratios.png)", "](../benchmark_ratios.png)")
        name = _slug(title)
        (out / f"{name}.md").write_text("#" + body[2:])
        names.append(name)
    (out / "index.md").write_text(
        "# Guide\n\nThe README's sections.\n\n```{toctree}\n:maxdepth: 1\n\n" + "\n".join(names) + "\n```\n"
    )
    return names


def _copy_notebooks() -> None:
    """Copy the notebooks to ``_notebooks/``, keeping a copy that is newer than its source.

    ``tests/test_notebooks.py`` writes each notebook it has run there, outputs included; with
    ``nb_execution_mode = "auto"`` such a copy is rendered as it is and a fresh copy (no outputs) is
    executed here. So CI, which builds the site after the suite, runs each notebook once.
    """
    out = DOCS / "_notebooks"
    out.mkdir(exist_ok=True)
    sources = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for stale in set(out.glob("*.ipynb")) - {out / p.name for p in sources}:
        stale.unlink()
    for path in sources:
        copy = out / path.name
        if not copy.exists() or copy.stat().st_mtime < path.stat().st_mtime:
            shutil.copy(path, copy)


_readme_pages()
_copy_notebooks()

PACKAGES = [
    "jaxrl_modules",
    "jaxrl_modules.data",
    "jaxrl_modules.functional",
    "jaxrl_modules.distributions",
    "jaxrl_modules.models",
    "jaxrl_modules.tensordict_module",
    "jaxrl_modules.planners",
    "jaxrl_modules.envs",
    "jaxrl_modules.recipes",
    "jaxrl_modules.compat.torchrl",
]


def _public_objects() -> dict[int, tuple[str, object]]:
    """Every object in a public ``__all__``, by identity, with the first name it was found under."""
    found: dict[int, tuple[str, object]] = {}
    for pkg in PACKAGES:
        module = importlib.import_module(pkg)
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, (str, int, float, tuple, frozenset, dict)) or obj is None:
                continue  # constants are documented in their module's docstring
            found.setdefault(id(obj), (f"{pkg}.{name}", obj))
    return found


def _check_every_public_name(app, env) -> None:
    """Fail the build when a public object is missing from the API pages or has no docstring."""
    from sphinx.util import logging

    logger = logging.getLogger("jaxrl_modules.api")
    documented = set()
    for full in env.domaindata["py"]["objects"]:
        module_name, _, attr = full.rpartition(".")
        try:
            documented.add(id(getattr(importlib.import_module(module_name), attr)))
        except (ImportError, AttributeError):
            continue
    for name, obj in _public_objects().values():
        if id(obj) not in documented and not type(obj).__name__ == "module":
            logger.warning(f"{name} is public but not in the API reference (docs/api/)")
        if not name.endswith("NestedKey") and not (getattr(obj, "__doc__", None) or "").strip():
            logger.warning(f"{name} has no docstring")


def _skip_borrowed_docstrings(app, what, name, obj, skip, options):
    """Skip class members whose docstring is not theirs: a field whose default is a class or dtype
    (autodoc would print that class's docstring) and a NamedTuple's fields ("Alias for field
    number 0"). The owner's ``Attributes:`` section documents both."""
    if what == "class" and (isinstance(obj, type) or (obj.__doc__ or "").startswith("Alias for field number")):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_borrowed_docstrings)
    app.connect("env-check-consistency", _check_every_public_name)
