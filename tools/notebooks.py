#!/usr/bin/env python3
"""Registers the project's Rust kernel and executes the notebooks headlessly.

    python3 tools/notebooks.py kernel              # write the kernel spec into the virtual env
    python3 tools/notebooks.py run [--inplace] [NOTEBOOK ...]

`run` executes each notebook (all of notebooks/*.ipynb by default) with nbclient, fails on any
error output or panic, and writes the executed copy to target/notebooks/ (or back over the
notebook with --inplace, which is how the committed outputs are made). The kernel is evcxr with
a persistent EVCXR_TMPDIR (target/evcxr) so re-runs reuse compiled dependencies, and with
notebooks/evcxr/prelude.rs, whose panic hook follows XRAY_ABORT_ON_PANIC.

`kernel` registers two kernel specs that differ only in that variable:
  xray-rust           "Rust (xray, evcxr)", the one the notebooks name and JupyterLab opens.
                      A panic shows a PANIC report as the cell's result; the kernel keeps
                      running with the variables of earlier cells (evcxr drops the ones the
                      cell defined).
  xray-rust-headless  used by `run`, tests/ and CI. A panic aborts evcxr's child process (every
                      variable is lost), so the cell fails and the run stops and fails.
"""
import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNEL_NAME = "xray-rust"  # interactive: a panic is reported in the cell, the kernel lives on
HEADLESS_KERNEL_NAME = "xray-rust-headless"  # nbclient, pytest, CI: a panic aborts the kernel
ABORT_ENV = "XRAY_ABORT_ON_PANIC"  # read by notebooks/evcxr/prelude.rs's panic hook
NOTEBOOKS = ROOT / "notebooks"
OUT_DIR = ROOT / "target" / "notebooks"
# Training cells on the full dataset take minutes; compiling the first cell takes a few.
CELL_TIMEOUT_S = 3600
# "PANIC:" starts the prelude's reports (a stream in headless runs, the cell's result in interactive
# ones); evcxr reports a child that died as "Subprocess terminated" (0.22) or "Child process
# terminated" (older).
PANIC_MARKERS = ("panicked at", "PANIC:", "Subprocess terminated", "Child process terminated")


def kernel_dir(name: str = KERNEL_NAME) -> Path:
    return Path(sys.prefix) / "share" / "jupyter" / "kernels" / name


def write_kernel_spec(kernels: Path | None = None, evcxr_tmpdir: Path | None = None,
                      suffix: str = "") -> Path:
    """Writes both kernel specs; returns the interactive one's folder.

    By default into this virtual env, building in target/evcxr. Tests that need no `:dep` pass
    another `kernels` folder (put on JUPYTER_PATH), build folder and a name suffix, so that their
    kernels never rewrite target/evcxr's Cargo.toml and Cargo.lock without the notebooks'
    dependencies (which makes the next notebook resolve them afresh) nor share it with a running
    notebook kernel."""
    evcxr = shutil.which("evcxr_jupyter") or str(Path.home() / ".cargo" / "bin" / "evcxr_jupyter")
    if not Path(evcxr).exists():
        sys.exit("evcxr_jupyter not found: run ./run-notebooks, or "
                 "cargo install --locked evcxr_jupyter --version 0.22.0")
    tmpdir = evcxr_tmpdir or ROOT / "target" / "evcxr"
    spec = {
        "argv": [evcxr, "--control_file", "{connection_file}"],
        "display_name": None,  # set per kernel below
        "language": "rust",
        "interrupt_mode": "message",
        "env": {
            "EVCXR_TMPDIR": str(tmpdir),
            "EVCXR_CONFIG_DIR": str(NOTEBOOKS / "evcxr"),
            # evcxr builds with debug assertions on; gemm's inner kernels are full of them, which
            # made training in a notebook 2.4x slower than in the CLI (82 vs 198 img/s for a
            # step of the recommended model). Overflow checks stay on (about 6% of a step).
            "CARGO_PROFILE_DEV_DEBUG_ASSERTIONS": "false",
            # evcxr also builds at opt-level 2, which does not inline the SIMD kernels' helpers:
            # a training step 2.3x slower than the CLI's and inference 3.5x (`train_step` built
            # with evcxr's profile: 79 against 191 img/s; BENCHMARKS.md, 2026-12-03). Settings
            # from the environment take precedence over the generated Cargo.toml's.
            "CARGO_PROFILE_DEV_OPT_LEVEL": "3",
        },
    }
    # Set explicitly in both, so a value exported in the shell that starts Jupyter changes nothing.
    modes = (
        (KERNEL_NAME, "Rust (xray, evcxr)", "0"),
        (HEADLESS_KERNEL_NAME, "Rust (xray, evcxr, headless: abort on panic)", "1"),
    )
    for name, display_name, abort in modes:
        spec["display_name"] = display_name + (f" [{suffix.strip('-')}]" if suffix else "")
        spec["env"][ABORT_ENV] = abort
        target = (kernels / (name + suffix)) if kernels else kernel_dir(name + suffix)
        target.mkdir(parents=True, exist_ok=True)
        (target / "kernel.json").write_text(json.dumps(spec, indent=2) + "\n")
    tmpdir.mkdir(parents=True, exist_ok=True)
    return (kernels / (KERNEL_NAME + suffix)) if kernels else kernel_dir(KERNEL_NAME + suffix)


def problems(nb) -> list[str]:
    """Error outputs and panics left in an executed notebook."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {index}: {out.get('ename')}: {out.get('evalue')}")
            text = out.get("text", "")
            if isinstance(text, list):
                text = "".join(text)
            plain = out.get("data", {}).get("text/plain", "")
            if isinstance(plain, list):
                plain = "".join(plain)
            text = text or plain
            if any(marker in text for marker in PANIC_MARKERS):
                found.append(f"cell {index}: panic: {text.strip()[:500]}")
    return found


def execute(path: Path, inplace: bool, out_dir: Path = OUT_DIR,
            kernel_name: str = HEADLESS_KERNEL_NAME) -> float:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=kernel_name,  # not the notebook's xray-rust: a panic must fail the run
        timeout=CELL_TIMEOUT_S,
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.monotonic()
    try:
        client.execute()
    except CellExecutionError:
        pass  # the error output is in the notebook; problems() reports it below
    elapsed = time.monotonic() - start
    target = path if inplace else out_dir / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    found = problems(nb)
    if found:
        raise RuntimeError(f"{path.name} failed (executed copy: {target}):\n  " + "\n  ".join(found))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("kernel", help="register the kernel in this virtual env")
    run = sub.add_parser("run", help="execute notebooks headlessly")
    run.add_argument("--inplace", action="store_true", help="write outputs back into the notebooks")
    run.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()

    write_kernel_spec()
    if args.command == "kernel":
        print(f"kernels '{KERNEL_NAME}' and '{HEADLESS_KERNEL_NAME}' registered in "
              f"{kernel_dir().parent}")
        return
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    failed = 0
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        try:
            elapsed = execute(Path(path).resolve(), args.inplace)
            print(f"  ok in {elapsed:.0f} s", flush=True)
        except Exception as exc:  # report every notebook, then fail
            failed += 1
            print(f"  FAILED: {exc}", flush=True)
    if failed:
        sys.exit(f"{failed} notebook(s) failed")
    where = "in place" if args.inplace else f"to {OUT_DIR}"
    print(f"all {len(paths)} notebooks ran; executed copies written {where}")


if __name__ == "__main__":
    main()
