"""The README's code runs as written, and every docstring example in the package is a doctest."""

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import jaxrl_modules

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_blocks_run_as_written():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has no python example"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)


def test_readme_shows_the_two_set_up_commands():
    lines = [ln.strip() for ln in (ROOT / "README.md").read_text().splitlines() if ln.strip().startswith("pip install")]
    assert lines[:2] == ["pip install -e . && python -m jaxrl_modules.demo", 'pip install -e ".[test]" && pytest']


MODULES = sorted(
    m.name for m in pkgutil.walk_packages(jaxrl_modules.__path__, "jaxrl_modules.") if not m.name.endswith("demo")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_public_name_is_exported_and_documented():
    typing_aliases = {"NestedKey"}  # a Union alias: documented in jaxrl_modules.data.tensordict
    for name in jaxrl_modules.__all__:
        obj = getattr(jaxrl_modules, name)
        assert name in typing_aliases or obj.__doc__, f"{name} has no docstring"
