#!/usr/bin/env python3
"""Runs an exported model (xray export --onnx, support::export::save_onnx) with ONNX Runtime and
compares its output with our own probabilities.

    .venv/bin/python tools/onnx_check.py MODEL.onnx INPUTS.npy EXPECTED.npy [--tolerance 1e-5]

INPUTS.npy: the preprocessed images as the model reads them, float32 NHWC [n, height, width, 1];
EXPECTED.npy: our probabilities for them, float32 [n, 1] (two classes) or [n, K]. Exits 1 when
the largest absolute difference is above the tolerance (default 1e-5) or the shapes differ.
The `onnx` package's checker validates the file first when it is installed.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

TOLERANCE = 1e-5


def validate(model_path: Path) -> bool:
    """The ONNX checker's full check (graph, types and shape inference); False when `onnx` is
    not installed, an exception when the file breaks the specification."""
    try:
        import onnx
    except ImportError:
        return False
    onnx.checker.check_model(str(model_path), full_check=True)
    return True


def run(model_path: Path, inputs: np.ndarray) -> tuple[np.ndarray, dict[str, str]]:
    """ONNX Runtime's output for `inputs` on the CPU, and the model's metadata_props."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    (output,) = session.run(None, {graph_input.name: inputs.astype(np.float32)})
    return output, dict(session.get_modelmeta().custom_metadata_map)


def max_abs_diff(model_path: Path, inputs: np.ndarray, expected: np.ndarray) -> float:
    """The largest absolute difference between ONNX Runtime's output and `expected`; raises
    AssertionError when the shapes differ."""
    output, _ = run(model_path, inputs)
    assert output.shape == expected.shape, f"output shape {output.shape}, expected {expected.shape}"
    assert output.dtype == np.float32, output.dtype
    return float(np.max(np.abs(output.astype(np.float64) - expected.astype(np.float64))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("inputs", type=Path)
    parser.add_argument("expected", type=Path)
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    args = parser.parse_args()
    checked = validate(args.model)
    inputs = np.load(args.inputs)
    expected = np.load(args.expected)
    diff = max_abs_diff(args.model, inputs, expected)
    ok = diff <= args.tolerance
    print(
        f"{args.model}: {'ok' if ok else 'FAILED'}: max abs diff {diff:.3g} over "
        f"{expected.shape[0]} images x {expected.shape[1]} outputs (tolerance {args.tolerance:g})"
        f"{'' if checked else '; onnx checker not installed, skipped'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
