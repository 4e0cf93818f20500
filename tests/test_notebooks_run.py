"""Every tutorial notebook runs top to bottom in fast mode as Jupyter runs it (nbclient, an IPython kernel in the
notebook's folder), solutions included, shows its figures and writes nothing into the repository. The application
notebooks have their own test modules (test_notebook_<name>.py), which run them the same way and check their
figures."""

from pathlib import Path

import pytest

from conftest import SHARED_DATA
from notebook_cells import ALL, NOTEBOOKS, images, notebook_env, now, run_notebook, written_into_repo

OWN_TESTS = {p.stem.removeprefix("test_notebook_") for p in Path(__file__).parent.glob("test_notebook_*.py")}
GENERIC = [p for p in ALL if p.stem not in OWN_TESTS]


def test_each_application_notebook_has_its_own_test():
    assert {"archaeology", "volumes", "neurobiology"} <= OWN_TESTS
    assert len(GENERIC) + len(OWN_TESTS & {p.stem for p in ALL}) == len(ALL)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", GENERIC, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_notebook_runs_in_fast_mode(notebook, tmp_path):
    start = now()
    printed, nb = run_notebook(notebook, notebook_env(tmp_path, SHARED_DATA))
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code if c.source.strip()), "every code cell ran"
    solutions = [c for c in code if "solution" in c.metadata.get("tags", [])]
    assert len(solutions) >= 2 and all(c.execution_count for c in solutions), "the exercises' solutions ran"
    assert images(nb) >= 2, "the notebook shows its figures"
    assert printed.strip(), "the notebook prints what it measures"
    assert not written_into_repo(start), written_into_repo(start)
