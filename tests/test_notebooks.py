"""The CRISP-DM notebooks execute top to bottom on the tiny run, so they cannot rot."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.py"))


def test_there_is_a_notebook_per_crisp_dm_phase():
    text = "\n".join(p.read_text() for p in NOTEBOOKS).lower()
    for phase in ("business understanding", "data understanding", "data preparation", "modelling", "evaluation", "deployment"):
        assert f"# {phase}" in text or f"## {phase}" in text, phase


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tiny_analysed, artifacts_dir, monkeypatch):
    overlay = tiny_analysed[1]
    monkeypatch.setenv("EBUY_ENV", "local")
    monkeypatch.setenv("EBUY_CONFIG", str(overlay))
    notebook = jupytext.read(path)
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(o.get("output_type") == "stream" for o in outputs)
    nbformat.write(notebook, artifacts_dir / f"{path.stem}.ipynb")
