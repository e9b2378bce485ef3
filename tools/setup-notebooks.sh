#!/usr/bin/env bash
# Installs what the notebooks need where it is missing: the evcxr Jupyter kernel (from crates.io),
# Jupyter in the project-local virtual environment .venv, and the kernel spec registered there.
set -euo pipefail
cd "$(dirname "$0")/.."

EVCXR_VERSION=0.22.0
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo install --list | grep -q "^evcxr_jupyter v$EVCXR_VERSION:"; then
  echo "installing evcxr_jupyter $EVCXR_VERSION (compiles for 10-20 minutes, once) ..."
  cargo install --locked evcxr_jupyter --version "$EVCXR_VERSION"
fi
# evcxr compiles notebook cells with the Rust standard library's sources at hand.
rustup component list --installed 2>/dev/null | grep -q rust-src || rustup component add rust-src || true
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Playwright is for tests/test_browser.py; it drives the system's Chromium and downloads no browser.
# numpy, onnx and onnxruntime are for tests/test_onnx.py.
if ! .venv/bin/python -c "import nbclient, jupyterlab, pytest, playwright, numpy, onnx, onnxruntime" 2>/dev/null; then
  .venv/bin/pip install -q -r notebooks/requirements.txt
fi
.venv/bin/python tools/notebooks.py kernel
