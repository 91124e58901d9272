"""The teaching notebooks run from top to bottom in quick mode, and are committed without outputs.

Each notebook is executed by ``notebooks/execute.py`` (the same code as ``make notebooks``) with
``BAYES_DISTILL_QUICK=1``: fewer draws, the smoke grid, small data subsets. The notebooks that need trained runs
share the suite's smoke sweep through ``BAYES_DISTILL_RUNS_DIR`` (their ``run_sweep`` resumes the finished sweep),
and notebooks 3 and 4 start from the suite's fit of it, saved and named by ``BAYES_DISTILL_POSTERIOR``. Each
executed notebook must show at least one figure (image/png output).
"""

from __future__ import annotations

import importlib.util
import json
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
def shared_runs(smoke_runs) -> Path:
    """The smoke sweep the notebooks use: the suite's own, trained once per session (conftest's ``smoke_runs``)."""
    return Path(smoke_runs)


@pytest.fixture(scope="session")
def shared_posterior(smoke_posterior, tmp_path_factory) -> Path:
    """The suite's quick fit of that sweep (conftest's ``smoke_posterior``: default prior, E at the source's floor),
    saved for the notebooks that start from a saved fit (``BAYES_DISTILL_POSTERIOR``) instead of sampling again."""
    return smoke_posterior.save(tmp_path_factory.mktemp("notebook_posterior") / "smoke.nc")


def test_four_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path: Path, shared_runs: Path, shared_posterior: Path, tmp_path: Path):
    env = {"BAYES_DISTILL_RUNS_DIR": str(shared_runs), "BAYES_DISTILL_POSTERIOR": str(shared_posterior)}
    executed = _execute_module().execute(path, tmp_path, quick=True, env=env)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} shows no figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path):
    # nbformat 4.5 gives every cell an id; one without it is a warning now and an error in later nbformat releases.
    cells = json.loads(path.read_text())["cells"]
    assert [index for index, cell in enumerate(cells) if "id" not in cell] == [], f"{path.name}: cells without an id"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"
