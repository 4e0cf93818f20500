"""Every tutorial notebook is valid jupytext percent format with goals, time, exercises and hidden solutions."""

import pytest

from notebook_cells import ALL, NOTEBOOKS, cells


def test_the_notebooks_are_found():
    assert {p.stem for p in ALL} >= {"archaeology", "volumes"}


@pytest.mark.parametrize("notebook", ALL, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_notebook_is_jupytext_percent_format(notebook):
    text = notebook.read_text()
    header = text.split("\n# %%", 1)[0].splitlines()
    assert header[0] == "# ---" and "# ---" in header[1:], "the jupytext header opens and closes with '# ---'"
    assert "#   jupytext:" in header and "#       format_name: percent" in header
    found = cells(text)
    kinds = [rest.strip() for rest, _ in found]
    markdown = sum(k.startswith("[markdown]") for k in kinds)
    assert markdown >= 10 and len(kinds) - markdown >= 10
    assert kinds[0] == "[markdown]" and "You will learn" in found[0][1] and "Time:" in found[0][1]
    for rest, body in found:
        if rest.strip().startswith("[markdown]"):
            assert all(not line or line.startswith("#") for line in body.strip().splitlines()), body[:200]
    solutions = [body for rest, body in found if '"source_hidden": true' in rest]
    assert len(solutions) >= 2 and all("Exercise" in body for body in solutions)
    compile(text, str(notebook), "exec")


@pytest.mark.parametrize("notebook", ALL, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_jupytext_reads_it_as_the_notebook_a_reader_opens(notebook):
    """What `jupytext --to ipynb` writes: the same cells, and the solutions collapsed and tagged."""
    import jupytext

    nb = jupytext.read(notebook)
    found = cells(notebook.read_text())
    assert [c.cell_type for c in nb.cells] == ["markdown" if r.strip().startswith("[markdown]") else "code"
                                               for r, _ in found]
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert len(solutions) >= 2
    assert all(c.cell_type == "code" and c.metadata["jupyter"]["source_hidden"] for c in solutions)
