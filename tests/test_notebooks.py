"""Executes every notebook headlessly with the project's evcxr kernel and fails on any error or panic.

Run by .ci/run (and ./run-notebooks) after the kernel is registered:

    .venv/bin/python -m pytest tests/test_notebooks.py

Notebooks read the dataset from support::dataset::data_dir(): $XRAY_DATA, data/chest_xray/ or
the shipped sample, in that order.
"""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import notebooks  # noqa: E402

PATHS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def test_there_are_notebooks():
    assert len(PATHS) >= 3, PATHS


@pytest.fixture(scope="session", autouse=True)
def kernel():
    notebooks.write_kernel_spec()


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_without_error_or_panic(path):
    notebooks.execute(path, inplace=False)


def test_kernels_build_cells_as_fast_as_the_cli(tmp_path):
    # evcxr's own profile (opt-level 2, debug assertions) made a notebook's training step 2.3x
    # slower than the CLI's; both kernels must override it.
    import json

    notebooks.write_kernel_spec(tmp_path, tmp_path / "build", "-spec-test")
    specs = sorted(tmp_path.glob("*/kernel.json"))
    assert len(specs) == 2, specs
    for spec in specs:
        env = json.loads(spec.read_text())["env"]
        assert env["CARGO_PROFILE_DEV_OPT_LEVEL"] == "3", spec
        assert env["CARGO_PROFILE_DEV_DEBUG_ASSERTIONS"] == "false", spec


def test_problems_finds_errors_and_panics():
    import nbformat

    nb = nbformat.v4.new_notebook()
    ok = nbformat.v4.new_code_cell("1")
    ok.outputs = [nbformat.v4.new_output("stream", name="stdout", text="fine\n")]
    panic = nbformat.v4.new_code_cell("panic!()")
    panic.outputs = [nbformat.v4.new_output("stream", name="stderr", text="PANIC: panicked at x\n")]
    error = nbformat.v4.new_code_cell("x")
    error.outputs = [nbformat.v4.new_output("error", ename="Error", evalue="bad", traceback=[])]
    # The interactive kernel's report is the cell's result, not a stream.
    shown = nbformat.v4.new_code_cell("panic!()")
    shown.outputs = [
        nbformat.v4.new_output(
            "execute_result",
            data={"text/plain": "PANIC: x\nThe kernel keeps running", "text/html": "<div></div>"},
            execution_count=4,
        )
    ]
    nb.cells = [ok, panic, error, shown]
    found = notebooks.problems(nb)
    assert len(found) == 3
    assert found[0].startswith("cell 1: panic")
    assert found[1].startswith("cell 2: Error: bad")
    assert found[2].startswith("cell 3: panic")
