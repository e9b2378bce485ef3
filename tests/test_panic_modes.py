"""What a panic in a notebook cell does under each of the project's two kernel specs.

    .venv/bin/python -m pytest tests/test_panic_modes.py      (about 30 s warm)

notebooks/evcxr/prelude.rs installs a panic hook that reads XRAY_ABORT_ON_PANIC, which
tools/notebooks.py sets per kernel spec:
- xray-rust (interactive, what JupyterLab opens): the panic is shown as the cell's result, the
  kernel keeps running, earlier variables survive and the panicking cell's new ones are dropped;
- xray-rust-headless (nbclient, pytest, CI): the panic aborts evcxr's child process, the cell fails
  and notebooks.execute() reports the notebook as failed.
Each test starts its own kernel with jupyter_client and talks to it directly. The kernels are
both specs as tools/notebooks.py writes them, registered under a "-scratch" suffix with their own
build folder (target/evcxr-scratch): these cells need no `:dep`, and building them in target/evcxr
would drop the notebooks' dependencies from its Cargo.lock.
"""
import queue
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import notebooks  # noqa: E402

# Compiling the prelude and the first cell takes seconds warm, a few minutes with an empty
# target/evcxr.
STARTUP_TIMEOUT_S = 900
CELL_TIMEOUT_S = 900

PANIC_CELL = 'let lost = 7; if kept > 0 { panic!("deliberate test panic, kept = {kept}"); }'


SUFFIX = "-scratch"
INTERACTIVE = notebooks.KERNEL_NAME + SUFFIX
HEADLESS = notebooks.HEADLESS_KERNEL_NAME + SUFFIX


@pytest.fixture(scope="module", autouse=True)
def kernel_specs(tmp_path_factory):
    specs = tmp_path_factory.mktemp("jupyter")
    notebooks.write_kernel_spec(specs / "kernels", ROOT / "target" / "evcxr-scratch", SUFFIX)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(specs))
        yield


@pytest.fixture
def kernel(request):
    """A running kernel of the spec named by the test's parameter; shut down afterwards."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(
        kernel_name=request.param, cwd=str(ROOT / "notebooks"), startup_timeout=STARTUP_TIMEOUT_S
    )
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run(kc, code: str) -> tuple[str, list[dict]]:
    """Executes one cell; returns the reply's status and the cell's iopub outputs."""
    msg_id = kc.execute(code)
    outputs = []
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=CELL_TIMEOUT_S)
        except queue.Empty:
            pytest.fail(f"no idle status within {CELL_TIMEOUT_S} s after {code!r}")
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            break
        if kind in ("stream", "error", "execute_result", "display_data"):
            outputs.append({"output_type": kind, **msg["content"]})
    while True:
        reply = kc.get_shell_msg(timeout=CELL_TIMEOUT_S)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]["status"], outputs


def text_of(outputs: list[dict]) -> str:
    parts = []
    for out in outputs:
        parts.append(out.get("text", ""))
        parts.append(out.get("data", {}).get("text/plain", ""))
        parts.append(out.get("evalue", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("kernel", [INTERACTIVE], indirect=True)
def test_interactive_panic_is_shown_and_earlier_variables_survive(kernel):
    km, kc = kernel
    assert run(kc, "let kept = 41;")[0] == "ok"

    status, outputs = run(kc, PANIC_CELL)
    shown = text_of(outputs)
    assert "PANIC: deliberate test panic, kept = 41" in shown, outputs
    assert "The kernel keeps running" in shown, outputs
    # The whole report arrives before the cell completes (it goes through evcxr's stdout).
    assert "run this cell again." in shown, outputs
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert html and 'class="xray-panic"' in html[0], outputs
    # evcxr reports a caught panic as success; the prelude's text says so.
    assert status == "ok"
    assert km.is_alive()

    status, outputs = run(kc, "kept + 1")
    assert status == "ok", outputs
    results = [o["data"]["text/plain"] for o in outputs if o["output_type"] == "execute_result"]
    assert results == ["42"], outputs

    # The variable the panicking cell defined is gone, as the message says.
    status, outputs = run(kc, "lost")
    assert status == "error"
    assert "cannot find value `lost`" in text_of(outputs), outputs


@pytest.mark.parametrize("kernel", [HEADLESS], indirect=True)
def test_headless_panic_fails_the_cell_and_loses_the_variables(kernel):
    km, kc = kernel
    assert run(kc, "let kept = 41;")[0] == "ok"

    status, outputs = run(kc, PANIC_CELL)
    assert status == "error", outputs
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert errors and "SIGABRT" in errors[0]["evalue"], outputs
    # The check that notebooks.execute() applies to executed notebooks sees it too.
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PANIC_CELL)]
    nb.cells[0].outputs = outputs
    assert notebooks.problems(nb), outputs

    # evcxr restarts its child process: everything defined before the panic is gone.
    status, outputs = run(kc, "kept + 1")
    assert status == "error"
    assert "cannot find value `kept`" in text_of(outputs), outputs


def test_execute_reports_a_notebook_whose_cell_panics(tmp_path):
    """notebooks.execute() (nbclient with the headless kernel) fails on a panic; the committed
    notebooks name the interactive kernel, so the notebook here does too."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": notebooks.KERNEL_NAME,
        "display_name": "Rust (xray, evcxr)",
        "language": "rust",
    }
    nb.cells = [
        nbformat.v4.new_code_cell("let kept = 41;"),
        nbformat.v4.new_code_cell(PANIC_CELL),
        nbformat.v4.new_code_cell("kept + 1"),
    ]
    path = tmp_path / "panics.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(RuntimeError) as failure:
        notebooks.execute(path, inplace=False, out_dir=tmp_path / "out", kernel_name=HEADLESS)
    assert "cell 1" in str(failure.value)
    assert "SIGABRT" in str(failure.value) or "PANIC" in str(failure.value)
    executed = nbformat.read(tmp_path / "out" / "panics.ipynb", as_version=4)
    assert not executed.cells[2].outputs, "nbclient should stop at the failed cell"
