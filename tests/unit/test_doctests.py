"""The examples in the pure modules' docstrings run as written."""

import doctest

import pytest

from autosync import archive, config, scheduler


@pytest.mark.parametrize("module", [archive, config, scheduler])
def test_docstring_examples_hold(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no autosync.toml around
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
