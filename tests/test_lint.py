"""Checks that catch what only a full run would otherwise hit: a name used but never defined in src/ or
benchmarks/, and a benchmark script that no longer imports (they are not run by the suite)."""
from __future__ import annotations

import importlib.util
import sys

import pytest
from pathlib import Path

from pyflakes import api, messages
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parents[1]
SRC, BENCHMARKS = ROOT / "src", ROOT / "benchmarks"
FATAL = (messages.UndefinedName, messages.UndefinedExport, messages.UndefinedLocal, messages.ImportStarUsed)


class _Collect(Reporter):
    def __init__(self) -> None:
        self.found: list[str] = []

    def flake(self, message) -> None:
        if isinstance(message, FATAL):
            self.found.append(f"{message.filename}:{message.lineno}: {message.message % message.message_args}")

    def syntaxError(self, filename, msg, lineno, offset, text) -> None:  # noqa: N802 - pyflakes' interface
        self.found.append(f"{filename}:{lineno}: {msg}")

    def unexpectedError(self, filename, msg) -> None:  # noqa: N802
        self.found.append(f"{filename}: {msg}")


def test_no_undefined_names_in_src_and_benchmarks():
    reporter = _Collect()
    for path in sorted([*SRC.rglob("*.py"), *BENCHMARKS.glob("*.py")]):
        api.checkPath(str(path), reporter)
    assert reporter.found == []


def test_the_check_sees_an_undefined_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    return _key(x)\n")
    reporter = _Collect()
    api.checkPath(str(bad), reporter)
    assert len(reporter.found) == 1 and "undefined name '_key'" in reporter.found[0]


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.name)
def test_every_benchmark_script_imports(path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # the scripts run only under __main__
