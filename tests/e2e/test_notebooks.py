"""The CRISP-DM notebooks execute top to bottom on the tiny run, so they cannot rot."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.py"))


def test_there_is_a_notebook_per_crisp_dm_phase():
    text = "\n".join(p.read_text() for p in NOTEBOOKS).lower()
    for phase in ("business understanding", "data understanding", "data preparation", "modelling", "evaluation", "deployment"):
        assert f"# {phase}" in text or f"## {phase}" in text, phase


@pytest.fixture(scope="module")
def executed(tiny_analysed, artifacts_dir):
    """Every notebook run in turn in one kernel (one Spark start), its namespace wiped in between
    (``%reset -f``) so that no notebook can lean on another's variables. Notebook -> error or None."""
    overlay = tiny_analysed[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EBUY_ENV", "local")
        mp.setenv("EBUY_CONFIG", str(overlay))
        notebooks = {p.stem: jupytext.read(p) for p in NOTEBOOKS}
        client = NotebookClient(nbformat.v4.new_notebook(), timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
        results = {}
        with client.setup_kernel():
            for name, notebook in notebooks.items():
                client.nb = notebook
                client.execute_cell(nbformat.v4.new_code_cell("%reset -f"), 0)
                try:
                    for index, cell in enumerate(notebook.cells):
                        client.execute_cell(cell, index)
                    results[name] = None
                except CellExecutionError as exc:
                    results[name] = exc
                nbformat.write(notebook, artifacts_dir / f"{name}.ipynb")
    return notebooks, results


@pytest.mark.parametrize("name", [p.stem for p in NOTEBOOKS])
def test_notebook_executes(name, executed):
    notebooks, results = executed
    assert results[name] is None, str(results[name])[:3000]
    outputs = [o for cell in notebooks[name].cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(o.get("output_type") == "stream" for o in outputs)
