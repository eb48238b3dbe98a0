"""Every sample module has a test file, and every public function a docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import sekimori.samples

MODULES = [info.name for info in pkgutil.iter_modules(sekimori.samples.__path__)]


@pytest.mark.parametrize("name", MODULES)
def test_module_has_tests_and_docstrings(name: str) -> None:
    assert (Path(__file__).parent / f"test_{name}.py").exists()
    module = importlib.import_module(f"sekimori.samples.{name}")
    assert module.__doc__
    for attribute, value in vars(module).items():
        if attribute.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value) or inspect.isclass(value):
            assert value.__doc__, f"{name}.{attribute} has no docstring"
