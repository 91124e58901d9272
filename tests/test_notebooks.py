"""The teaching notebooks run from top to bottom in quick mode, and are committed without outputs.

Each notebook is executed by ``notebooks/execute.py`` (the same code as ``make notebooks``) with
``BAYES_DISTILL_QUICK=1``: fewer draws, the smoke grid, small data subsets. The notebooks that need trained runs
share one smoke sweep through ``BAYES_DISTILL_RUNS_DIR``: the first trains it, the others resume the finished sweep.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _execute_module():
    """``notebooks/execute.py``, imported by path (the notebooks folder is not a package)."""
    spec = importlib.util.spec_from_file_location("notebooks_execute", ROOT / "notebooks" / "execute.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shared_runs(request, tmp_path_factory) -> Path:
    """The smoke sweep the notebooks use: the suite's own (conftest's ``smoke_runs``, trained once per session) if
    there is one, else an empty folder the first notebook trains it into and the others resume."""
    try:
        return Path(request.getfixturevalue("smoke_runs"))
    except pytest.FixtureLookupError:
        return tmp_path_factory.mktemp("notebook_runs") / "smoke"


def test_four_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path: Path, shared_runs: Path, tmp_path: Path):
    executed = _execute_module().execute(path, tmp_path, quick=True, env={"BAYES_DISTILL_RUNS_DIR": str(shared_runs)})
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} shows no figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"
