"""The ONNX export (support::export::save_onnx) checked by ONNX Runtime.

    .venv/bin/python -m pytest tests/test_onnx.py      (about a minute warm)

The Rust example support/examples/onnx_fixtures.rs builds every model kind the crate makes (the
tutorial and recommended CNNs, configs/batchnorm*.json's batch-norm, GAP and residual lists, an
every-layer list; two and three classes) with perturbed weights, exports each, and writes the
preprocessed sample test images it gave them and our probabilities. Each export must pass the
ONNX checker and give ONNX Runtime's probabilities within 1e-5 of ours.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import onnx_check  # noqa: E402

TOLERANCE = 1e-5
# One per model kind; the example must write exactly these.
MODELS = [
    "tutorial",
    "recommended",
    "recommended_three_class",
    "batchnorm",
    "batchnorm_gap",
    "batchnorm_gap_three_class",
    "batchnorm_residual",
    "batchnorm_residual_three_class",
    "every_layer",
    "every_layer_three_class",
]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """The example's output folder and its manifest by model name."""
    out = tmp_path_factory.mktemp("onnx")
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    # The dev profile: `cargo test --workspace` (CI's first step) has built the example with it.
    done = subprocess.run(
        [cargo, "run", "-p", "support", "--example", "onnx_fixtures", "--", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    return out, {entry["name"]: entry for entry in manifest}


def test_every_model_kind_is_exported(fixtures):
    _, manifest = fixtures
    assert sorted(manifest) == sorted(MODELS)
    layers = {layer for entry in manifest.values() for layer in entry["layers"]}
    for kind in [
        "Conv2D",
        "MaxPooling2D",
        "BatchNormalization",
        "Activation",
        "ResidualBlock",
        "GlobalAveragePooling2D",
        "Flatten",
        "Dense",
        "Dropout",
    ]:
        assert kind in layers
    assert {entry["classes"] for entry in manifest.values()} == {2, 3}


@pytest.mark.parametrize("name", MODELS)
def test_onnx_runtime_gives_our_probabilities(fixtures, name):
    out, manifest = fixtures
    model = out / f"{name}.onnx"
    # The onnx package is in notebooks/requirements.txt: a missing checker is a failure here.
    assert onnx_check.validate(model), "the onnx package is not installed"
    inputs = np.load(out / f"{name}.inputs.npy")
    expected = np.load(out / f"{name}.expected.npy")
    entry = manifest[name]
    h, w = entry["input_size"]
    assert inputs.shape == (entry["images"], h, w, 1) and inputs.dtype == np.float32
    assert expected.shape == (entry["images"], 1 if entry["classes"] == 2 else entry["classes"])
    # Saturated probabilities would agree whatever the graph computed.
    assert ((expected > 0.01) & (expected < 0.99)).any(), expected
    diff = onnx_check.max_abs_diff(model, inputs, expected)
    print(f"{name}: max abs diff {diff:.3g}")
    assert diff <= TOLERANCE
    # The batch size is free: one image alone, and the batch reversed, give the same rows.
    single, _ = onnx_check.run(model, inputs[1:2])
    assert np.max(np.abs(single - expected[1:2])) <= TOLERANCE
    reversed_, _ = onnx_check.run(model, inputs[::-1].copy())
    assert np.max(np.abs(reversed_ - expected[::-1])) <= TOLERANCE


@pytest.mark.parametrize("name", ["recommended", "batchnorm_gap_three_class"])
def test_metadata_tells_how_to_prepare_and_read(fixtures, name):
    import onnxruntime as ort

    out, manifest = fixtures
    entry = manifest[name]
    session = ort.InferenceSession(str(out / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    (graph_output,) = session.get_outputs()
    h, w = entry["input_size"]
    assert graph_input.name == "input" and graph_input.shape == ["N", h, w, 1]
    assert graph_input.type == "tensor(float)"
    units = 1 if entry["classes"] == 2 else entry["classes"]
    assert graph_output.name == "probabilities" and graph_output.shape == ["N", units]
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == entry["class_names"]
    preprocessing = json.loads(meta["preprocessing"])
    assert preprocessing["rescale"] == pytest.approx(1 / 255)
    assert f"resize to {h} rows x {w} columns" in meta["preprocessing_steps"]
    if units == 1:
        assert float(meta["threshold"]) == pytest.approx(entry["threshold"])
        assert meta["decision"].startswith("PNEUMONIA when the probability >= threshold")
    else:
        assert "threshold" not in meta
        assert "largest probability" in meta["decision"]


def test_the_check_fails_on_other_probabilities(fixtures, tmp_path):
    out, _ = fixtures
    model = out / "every_layer_three_class.onnx"
    inputs = out / "every_layer_three_class.inputs.npy"
    expected = np.load(out / "every_layer_three_class.expected.npy")
    off = expected.copy()
    off[0, 1] += 3 * TOLERANCE
    np.save(tmp_path / "off.npy", off)
    check = [sys.executable, str(ROOT / "tools" / "onnx_check.py"), str(model), str(inputs)]
    good = subprocess.run(check + [str(out / "every_layer_three_class.expected.npy")],
                          capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    assert ": ok: max abs diff" in good.stdout
    bad = subprocess.run(check + [str(tmp_path / "off.npy")], capture_output=True, text=True)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "FAILED" in bad.stdout
