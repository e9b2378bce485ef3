//! The `xray` binary: exit codes, one-line errors, and a training run killed with SIGKILL that
//! resumes from its last checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::metrics::best_threshold;
use support::model::ModelConfig;
use support::saved_model::SavedModel;
use support::training::{self, FitOptions, ResumeCheckpoint};

fn xray() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xray"));
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    cmd
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/chest_xray")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the xray binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit status 1 and exactly one line on stderr, `error: ...`, with no panic or backtrace.
/// `xray evaluate MODEL DIR --resamples N --plots FIGURES`, which must succeed: its stdout.
fn evaluate_with_plots(model: &Path, dir: &Path, resamples: usize, figures: &Path) -> String {
    let out = run(xray()
        .arg("evaluate")
        .arg(model)
        .arg(dir)
        .args(["--resamples", &resamples.to_string(), "--plots"])
        .arg(figures));
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every needle appears in `text`.
fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "'{needle}' missing from:\n{text}");
    }
}

fn assert_one_line_error(out: &Output, needle: &str) {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {text}");
    assert!(lines[0].starts_with("error: "), "{text}");
    assert!(lines[0].contains(needle), "expected '{needle}' in: {text}");
    assert!(
        !text.contains("panicked") && !text.contains("backtrace"),
        "{text}"
    );
}

#[test]
fn bad_arguments_exit_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("m");
    let sample = sample();
    let cases: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec![],
        vec!["fly".as_ref()],
        vec!["train".as_ref(), sample.as_os_str()],
        vec![
            "train".as_ref(),
            sample.as_os_str(),
            "--out".as_ref(),
            out_dir.as_os_str(),
            "--epochs".as_ref(),
            "many".as_ref(),
        ],
        vec![
            "train".as_ref(),
            sample.as_os_str(),
            "--out".as_ref(),
            out_dir.as_os_str(),
            "--resume".as_ref(),
            "--overwrite".as_ref(),
        ],
    ];
    for args in cases {
        let out = run(xray().args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{args:?}");
    }
    // `predict` takes one path (the shipped model predicts it): a missing one is refused by
    // name before any model is loaded.
    let out = run(xray().args(["predict".as_ref(), out_dir.as_os_str()]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no such image or folder"),
        "{}",
        stderr(&out)
    );
    assert!(!out_dir.exists(), "bad arguments must not start any work");
    // --help documents the exit statuses this test and the others check.
    let help = run(xray().arg("--help"));
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "Exit status:",
        "  1  an error",
        "  2  bad command-line arguments",
    ] {
        assert!(
            text.contains(needle),
            "'{needle}' missing from --help:\n{text}"
        );
    }
}

#[test]
fn missing_folders_and_models_exit_with_status_1_and_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let out = run(xray().arg("stats").arg(&missing));
    assert_one_line_error(&out, "folder not found");
    let out = run(xray()
        .arg("train")
        .arg(&missing)
        .arg("--out")
        .arg(dir.path().join("m")));
    assert_one_line_error(&out, "missing");
    let out = run(xray()
        .arg("evaluate")
        .arg(&missing)
        .arg(sample().join("test")));
    assert_one_line_error(&out, "a model folder holding model.safetensors");
    // A model folder with a broken description.
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("model.json"),
        b"{\"format\": \"xray-model/1\", ",
    )
    .unwrap();
    let image = sample().join("test/NORMAL");
    let image = std::fs::read_dir(&image)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jpeg"))
        .unwrap();
    let out = run(xray().arg("predict").arg(&broken).arg(&image));
    assert_one_line_error(&out, "model.json: model: unreadable description");
    // An invalid setting is a one-line error too, before any image is read.
    let out = run(xray()
        .arg("train")
        .arg(sample())
        .arg("--out")
        .arg(dir.path().join("m"))
        .args(["--filters", "0"]));
    assert_one_line_error(&out, "layer 1 (Conv2D) with 0 filters");
    // So is a --layers file that is not a list of layers, or whose layers do not fit.
    let layers = dir.path().join("layers.json");
    std::fs::write(&layers, r#"[{"class_name": "Conv3D", "config": {}}]"#).unwrap();
    let train_with = |layers: &std::path::Path| {
        run(xray()
            .arg("train")
            .arg(sample())
            .arg("--out")
            .arg(dir.path().join("m"))
            .arg("--layers")
            .arg(layers))
    };
    assert_one_line_error(
        &train_with(&layers),
        "layers.json: layer 1: unknown layer class 'Conv3D'",
    );
    std::fs::write(
        &layers,
        r#"[{"class_name": "Flatten"}, {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3}},
            {"class_name": "Dense", "config": {"units": 1, "activation": "sigmoid"}}]"#,
    )
    .unwrap();
    assert_one_line_error(&train_with(&layers), "layer 2 (Conv2D) with a flat input");
    // An output folder that cannot be made (its parent is a file): refused before training.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = run(xray()
        .arg("train")
        .arg(sample())
        .arg("--out")
        .arg(file.join("model")));
    assert_one_line_error(&out, "a-file/model");
    assert!(
        !stderr(&out).contains("Total params"),
        "no model summary before the check"
    );
    // A model folder that holds a checkpoint, without --resume or --overwrite.
    let held = dir.path().join("held");
    std::fs::create_dir_all(held.join("checkpoints")).unwrap();
    std::fs::write(held.join("checkpoints/checkpoint.json"), b"{}").unwrap();
    let out = run(xray().arg("train").arg(sample()).arg("--out").arg(&held));
    assert_one_line_error(
        &out,
        "holds a checkpoint: pass --resume to continue it or --overwrite to start over",
    );
}

/// Starts a long, quiet training into `out` in the background, to be killed.
fn spawn_training(out: &Path) -> std::process::Child {
    xray()
        .args(train_args(out, 50))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn train_args(out: &Path, epochs: usize) -> Vec<String> {
    [
        "train",
        &sample().join("train").to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
        "--epochs",
        &epochs.to_string(),
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "8",
        "--input-size",
        "64",
        "--filters",
        "8,16",
        "--dense",
        "16",
        "--learning-rate",
        "0.001",
        "--patience",
        "1000",
        "--seed",
        "5",
        // A constant rate: a cosine schedule spans the run's epochs, so a resume must keep
        // them, and these tests resume a run started for 50 epochs with fewer.
        "--lr-schedule",
        "constant",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The model configuration [`train_args`] describes (learning rate 0.001).
fn train_args_config() -> ModelConfig {
    ModelConfig::builder()
        .input_size(64, 64)
        .conv_filters(&[8, 16])
        .dense_units(16)
        .build()
        .unwrap()
}

/// The number of epochs the checkpoint description records, if it is there and readable.
fn recorded_epochs(dir: &Path) -> Option<usize> {
    let bytes = std::fs::read(ResumeCheckpoint::card_path(dir)).ok()?;
    let card: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    card["history"]["epochs"].as_array().map(Vec::len)
}

/// The best weights a checkpoint holds are the ones its history describes: on the run's own
/// validation split they give the best epoch's recorded validation loss and threshold.
fn assert_best_pair_consistent(checkpoint: &ResumeCheckpoint) {
    let Some(best) = &checkpoint.best else {
        return;
    };
    let settings = &checkpoint.settings;
    let options = FitOptions::builder()
        .seed(settings.seed)
        .validation_split(settings.validation_split)
        .batch_size(settings.batch_size)
        .interpolation(settings.preprocessing.interpolation)
        .augmentation(settings.preprocessing.generator().unwrap())
        .build()
        .unwrap();
    let val = training::predict_validation(best, sample().join("train"), &options).unwrap();
    let recorded = checkpoint.history.best().expect("a best epoch");
    let loss: f64 = val
        .labels
        .iter()
        .zip(&val.probs)
        .map(|(&y, &p)| {
            let p = f64::from(p).clamp(1e-7, 1.0 - 1e-7);
            -(f64::from(y) * p.ln() + (1.0 - f64::from(y)) * (1.0 - p).ln())
        })
        .sum::<f64>()
        / val.labels.len() as f64;
    assert!(
        (loss - f64::from(recorded.val_loss)).abs() < 1e-5,
        "best weights give val_loss {loss}, the card says epoch {} had {}",
        recorded.epoch,
        recorded.val_loss
    );
    let labels: Vec<u8> = val.labels.iter().map(|&y| y as u8).collect();
    assert_eq!(
        Some(best_threshold(&labels, &val.probs).unwrap()),
        checkpoint.history.decision.threshold()
    );
}

#[test]
fn training_killed_mid_run_resumes_from_its_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let checkpoints = out.join("checkpoints");
    let mut child = spawn_training(&out);
    let start = Instant::now();
    // Kill it as soon as a second epoch's checkpoint is in place (it is then into epoch 3).
    loop {
        if recorded_epochs(&checkpoints).is_some_and(|n| n >= 2) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("training ended before it could be killed: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();

    let config = train_args_config();
    let checkpoint = ResumeCheckpoint::load_if_present(&checkpoints)
        .unwrap()
        .expect("the checkpoint survives the kill");
    assert_best_pair_consistent(&checkpoint);
    let done = checkpoint.history.epochs.len();
    assert!(done >= 2, "{done}");
    assert!(checkpoint.best.is_some());
    assert!(
        !out.join("model.json").exists(),
        "a killed run saved no final model"
    );

    // Starting again without --resume refuses to overwrite the checkpoint.
    let again = run(xray().args(train_args(&out, done + 1)));
    assert_one_line_error(&again, "pass --resume to continue it");

    // A resume that would change the experiment is refused, naming the setting.
    let mut other_split = train_args(&out, done + 1);
    other_split.extend(["--resume", "--validation-split", "0.3"].map(String::from));
    let refused = run(xray().args(other_split));
    assert_eq!(refused.status.code(), Some(1));
    assert_one_line_error(&refused, "validation_split");
    let mut other_seed = train_args(&out, done + 1);
    other_seed.retain(|a| a != "5" && a != "--seed");
    other_seed.extend(["--resume", "--seed", "6"].map(String::from));
    assert_one_line_error(&run(xray().args(other_seed)), "cannot resume");

    let resumed = run(xray().args(train_args(&out, done + 1)).arg("--resume"));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let log = stderr(&resumed);
    // Only the missing epoch ran.
    assert!(log.contains(&format!("epoch {:>2}:", done + 1)), "{log}");
    assert!(!log.contains("epoch  1:"), "{log}");
    let saved = SavedModel::load(&out).unwrap();
    // The validation scores the model was chosen on travel with it.
    let validation = saved
        .history
        .as_ref()
        .and_then(|h| h.validation.as_ref())
        .expect("validation scores");
    assert_eq!(validation.labels.len(), validation.probs.len());
    // The run leaves Keras's CSVLogger history and the learning curves beside the model.
    let csv = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(csv.lines().count(), done + 2, "{csv}");
    assert!(csv.starts_with("epoch,accuracy,auc,loss,val_accuracy,val_auc,val_loss\n0,"));
    let png = std::fs::read(out.join("learning_curves.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let history = saved.history.expect("fit records its history");
    let epochs: Vec<usize> = history.epochs.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, (1..=done + 1).collect::<Vec<_>>());
    // The first epochs are the checkpoint's, unchanged.
    // (Compared as text: an AUC may be NaN, which is not equal to itself.)
    assert_eq!(
        format!("{:?}", &history.epochs[..done]),
        format!("{:?}", checkpoint.history.epochs)
    );
    assert_eq!(saved.model.config(), &config);
    assert_eq!(recorded_epochs(&checkpoints), Some(done + 1));
}

#[test]
fn a_kill_at_any_moment_leaves_a_loadable_checkpoint_or_none() {
    let config = train_args_config();
    let mut seen_checkpoint = 0;
    // Kills before the first checkpoint (measured from the start), then kills at spread moments
    // after the first checkpoint appeared, when later epochs write theirs (and new best weights).
    let before = [(false, 30u64), (false, 70)];
    let after = [0u64, 2, 5, 9, 14, 20, 28, 40, 60, 90, 130, 200].map(|d| (true, d));
    for (after_first, delay_ms) in before.into_iter().chain(after) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model");
        let checkpoints = out.join("checkpoints");
        let mut child = spawn_training(&out);
        if after_first {
            let start = Instant::now();
            while recorded_epochs(&checkpoints).is_none() {
                assert!(child.try_wait().unwrap().is_none(), "training ended early");
                assert!(
                    start.elapsed() < Duration::from_secs(120),
                    "no checkpoint after 2 minutes"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        // Whatever the moment, the checkpoint folder holds a whole checkpoint or none, and its
        // best weights are the ones its history describes.
        match ResumeCheckpoint::load_if_present(&checkpoints) {
            Ok(Some(checkpoint)) => {
                seen_checkpoint += 1;
                assert!(!checkpoint.history.epochs.is_empty());
                assert_eq!(checkpoint.settings.model, config);
                assert_best_pair_consistent(&checkpoint);
            }
            Ok(None) => assert!(!after_first, "the first checkpoint was lost"),
            Err(error) => panic!("killed after {delay_ms} ms: {error}"),
        }
    }
    assert!(seen_checkpoint >= after.len());
}

#[test]
fn cv_reports_every_fold_by_patient_as_json() {
    let mut args: Vec<String> = train_args(Path::new("unused"), 1)[..2].to_vec();
    args[0] = "cv".into();
    args.extend(train_args(Path::new("unused"), 1)[4..].iter().cloned());
    args.extend(["--folds", "3", "--json"].map(String::from));
    let out = run(xray().args(&args));
    assert!(out.status.success(), "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let folds = result["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    let validated: u64 = folds
        .iter()
        .map(|f| f["val_images"].as_u64().unwrap())
        .sum();
    assert_eq!(validated, result["images"].as_u64().unwrap());
    for fold in folds {
        let train = fold["train_images"].as_u64().unwrap();
        assert_eq!(train + fold["val_images"].as_u64().unwrap(), validated);
        assert!((0.0..=1.0).contains(&fold["accuracy"].as_f64().unwrap()));
    }
    // Progress goes to stderr, one section per fold.
    assert_eq!(stderr(&out).matches("== fold").count(), 3);
    assert!(folds.iter().all(|f| f.get("stress").is_none()));
    // With --stress every fold carries its worst cases under the standard changes.
    let mut stressed = args.clone();
    stressed.push("--stress".into());
    let out = run(xray().args(&stressed));
    assert!(out.status.success(), "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<String> = support::stress::standard_changes()
        .iter()
        .map(|c| c.name())
        .collect();
    for fold in result["folds"].as_array().unwrap() {
        let stress = &fold["stress"];
        assert!((0.0..=1.0).contains(&stress["worst_accuracy"].as_f64().unwrap()));
        assert!(stress["largest_specificity_loss"].as_f64().unwrap() >= 0.0);
        for key in ["worst_accuracy_change", "worst_specificity_change"] {
            let change = stress[key].as_str().unwrap().to_string();
            assert!(names.contains(&change), "{change}");
        }
    }
    // Too many folds is refused before any training.
    let mut too_many = args.clone();
    too_many.retain(|a| a != "--json");
    let position = too_many.iter().position(|a| a == "3").unwrap();
    too_many[position] = "100000".into();
    assert_one_line_error(&run(xray().args(&too_many)), "folds");
}

#[test]
fn evaluate_reports_intervals_and_calibration_as_text_json_and_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let mut args = train_args(&out, 1);
    args.push("--temperature-scaling".into());
    let trained = run(xray().args(&args));
    assert!(trained.status.success(), "{}", stderr(&trained));
    assert!(
        stderr(&trained).contains("temperature"),
        "{}",
        stderr(&trained)
    );
    let saved = SavedModel::load(&out).unwrap();
    assert!(saved.temperature().is_some_and(|t| t > 0.0));
    let test = sample().join("test");

    let figures = dir.path().join("figures");
    let report = evaluate_with_plots(&out, &test, 300, &figures);
    assert_contains_all(
        &report,
        &[
            "95% CI",
            "DeLong",
            "Brier",
            "ECE",
            "at threshold 0.5",
            "chosen on the validation split",
            "temperature",
        ],
    );
    let size = |path: &Path| image::image_dimensions(path).unwrap();
    // Every figure `evaluate --plots` writes for a model trained by `xray train`.
    const FIGURES: [&str; 5] = [
        "confusion.png",
        "roc.png",
        "reliability.png",
        "scores.png",
        "learning_curves.png",
    ];
    for name in FIGURES {
        let png = std::fs::read(figures.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(png.starts_with(b"\x89PNG"), "{name}");
    }
    // Saved at screen size unless told otherwise; --figure-scale 2 doubles every side.
    assert_eq!(size(&figures.join("roc.png")), (500, 480));
    let hidpi = dir.path().join("figures-2x");
    let scaled = run(xray()
        .arg("evaluate")
        .arg(&out)
        .arg(&test)
        .args(["--resamples", "50", "--figure-scale", "2", "--plots"])
        .arg(&hidpi));
    assert!(scaled.status.success(), "{}", stderr(&scaled));
    for name in FIGURES {
        let (w, h) = size(&figures.join(name));
        assert_eq!(size(&hidpi.join(name)), (2 * w, 2 * h), "{name}");
    }

    // A reader that stops early (`xray predict ... | head -1`) ends xray by SIGPIPE, quietly.
    let image = std::fs::read_dir(test.join("NORMAL"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jpeg"))
        .unwrap();
    let mut child = xray()
        .arg("predict")
        .arg(&out)
        .args(std::iter::repeat_n(&image, 3000))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(
        first.contains("NORMAL") || first.contains("PNEUMONIA"),
        "{first}"
    );
    let piped = child.wait_with_output().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            piped.status.signal(),
            Some(libc::SIGPIPE),
            "{:?}",
            piped.status
        );
    }
    let errors = String::from_utf8_lossy(&piped.stderr);
    assert!(!errors.contains("panicked"), "{errors}");

    let json = run(xray().arg("evaluate").arg(&out).arg(&test).args([
        "--resamples",
        "300",
        "--json",
        "--per-image",
    ]));
    assert!(json.status.success(), "{}", stderr(&json));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON on stdout");
    let reports = value["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["threshold"].as_f64(), Some(0.5));
    assert!(
        (reports[1]["threshold"].as_f64().unwrap()
            - f64::from(saved.decision.threshold().unwrap().get()))
        .abs()
            < 1e-6
    );
    let images = reports[0]["images"].as_u64().unwrap();
    assert_eq!(
        reports[0]["per_image"].as_array().unwrap().len() as u64,
        images
    );
    // Every interval holds its estimate; the AUC's has width (a one-epoch model may call every
    // image one class, and a stratified resample then keeps its accuracy fixed).
    let metrics = reports[0]["metrics"].as_object().unwrap();
    for (name, interval) in metrics {
        // An undefined metric (e.g. precision with nothing called positive) is null throughout.
        let [low, estimate, high] = ["low", "estimate", "high"].map(|k| interval[k].as_f64());
        match (low, estimate, high) {
            (Some(low), Some(estimate), Some(high)) => {
                assert!(low <= estimate && estimate <= high, "{name}: {interval}")
            }
            _ => assert!(interval["estimate"].is_null(), "{name}: {interval}"),
        }
    }
    let auc = &metrics["roc_auc"];
    assert!(
        auc["high"].as_f64().unwrap() > auc["low"].as_f64().unwrap(),
        "{auc}"
    );
    let estimate = metrics["accuracy"]["estimate"].as_f64().unwrap();
    assert!(reports[0]["brier_score"].as_f64().is_some());
    // The same seed gives the same intervals; the text and the JSON agree.
    let again =
        run(xray()
            .arg("evaluate")
            .arg(&out)
            .arg(&test)
            .args(["--resamples", "300", "--json"]));
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["reports"][0]["metrics"], reports[0]["metrics"]);
    assert!(report.contains(&format!("{estimate:.3}")));
}

#[test]
fn three_classes_train_evaluate_and_predict_from_file_name_labels() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    // One class folder: refused before any training, naming the folder and its class.
    let one = dir.path().join("one");
    std::fs::create_dir_all(one.join("NORMAL")).unwrap();
    for entry in std::fs::read_dir(sample().join("train/NORMAL"))
        .unwrap()
        .take(3)
    {
        let path = entry.unwrap().path();
        std::fs::copy(&path, one.join("NORMAL").join(path.file_name().unwrap())).unwrap();
    }
    let mut single = train_args(&out, 1);
    single[1] = one.to_string_lossy().into_owned();
    assert_one_line_error(&run(xray().args(&single)), "the folder gives 1 (NORMAL)");
    // Asked before any training: a softmax model is not temperature-scaled.
    let mut refused = train_args(&out, 1);
    refused.extend([
        "--labels".into(),
        "file-name".into(),
        "--temperature-scaling".into(),
    ]);
    assert_one_line_error(&run(xray().args(&refused)), "two-class models only");
    assert!(!out.join("checkpoints").exists(), "refused before training");

    let mut args = train_args(&out, 1);
    args.extend(["--labels".into(), "file-name".into()]);
    let trained = run(xray().args(&args));
    assert!(trained.status.success(), "{}", stderr(&trained));
    let summary = String::from_utf8_lossy(&trained.stdout);
    assert!(
        summary.contains("3 classes: NORMAL, PNEUMONIA_BACTERIA, PNEUMONIA_VIRUS"),
        "{summary}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("model.json")).unwrap()).unwrap();
    assert_eq!(json["label_source"], "file-name");
    assert_eq!(json["class_names"].as_array().unwrap().len(), 3);

    let test = sample().join("test");
    let figures = dir.path().join("figures");
    let report = evaluate_with_plots(&out, &test, 200, &figures);
    assert_contains_all(
        &report,
        &[
            "macro ROC AUC",
            "one-vs-rest ROC AUC",
            "precision    recall  f1-score   support",
            "PNEUMONIA_VIRUS",
            "bacterial against viral among the pneumonia images",
            "pneumonia against normal",
            "DeLong",
        ],
    );
    for name in [
        "confusion.png",
        "roc.png",
        "roc_pneumonia_vs_normal.png",
        "roc_bacteria_vs_virus.png",
        "learning_curves.png",
    ] {
        let png = std::fs::read(figures.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(png.starts_with(b"\x89PNG"), "{name}");
    }

    let json = run(xray().arg("evaluate").arg(&out).arg(&test).args([
        "--resamples",
        "100",
        "--json",
        "--per-image",
    ]));
    assert!(json.status.success(), "{}", stderr(&json));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let images = value["classes"]["images"].as_u64().unwrap();
    assert_eq!(value["per_image"].as_array().unwrap().len() as u64, images);
    assert_eq!(value["two_class_views"].as_array().unwrap().len(), 2);
    let acc = &value["classes"]["intervals"]["accuracy"];
    assert!(acc["low"].as_f64().unwrap() <= acc["estimate"].as_f64().unwrap());

    let image = test.join("PNEUMONIA/person103_bacteria_489.jpeg");
    let predicted = run(xray().arg("predict").arg(&out).arg(&image));
    assert!(predicted.status.success(), "{}", stderr(&predicted));
    let line = String::from_utf8_lossy(&predicted.stdout);
    let fields: Vec<&str> = line.trim_end().split('\t').collect();
    assert_eq!(fields.len(), 5, "{line}");
    let probs: Vec<f32> = fields[2..]
        .iter()
        .map(|f| f.split('=').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-3, "{line}");
    assert!(fields[2].starts_with("p(NORMAL)="), "{line}");
}

/// The probability `xray predict` prints on its one line for `image` with these model folders.
fn predicted_probability(models: &[&Path], image: &Path) -> f64 {
    let out = run(xray().arg("predict").args(models).arg(image));
    assert!(out.status.success(), "{}", stderr(&out));
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    line.trim_end()
        .rsplit('=')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no probability in {line}"))
}

#[test]
fn seeds_train_an_ensemble_judged_held_out_then_evaluated_and_predicted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ensemble");
    let mut args = train_args(&out, 1);
    let seed_at = args.iter().position(|a| a == "--seed").unwrap();
    args.drain(seed_at..seed_at + 2);
    // --seeds and --seed together, or a seed twice: refused before any training.
    let mut both = args.clone();
    both.extend(["--seeds", "1,2", "--seed", "3"].map(String::from));
    assert_eq!(run(xray().args(&both)).status.code(), Some(2));
    let mut twice = args.clone();
    twice.extend(["--seeds", "1,1"].map(String::from));
    assert_one_line_error(&run(xray().args(&twice)), "each seed once");
    assert!(!out.exists());

    args.extend(["--seeds", "1,2"].map(String::from));
    let trained = run(xray().args(&args));
    assert!(trained.status.success(), "{}", stderr(&trained));
    let summary = String::from_utf8_lossy(&trained.stdout);
    assert_contains_all(
        &summary,
        &[
            "ensemble of 2 members on the",
            "validation images they all held out (split seed 1)",
            "ROC AUC",
        ],
    );
    let (one, two) = (out.join("seed-1"), out.join("seed-2"));
    let split = |m: &Path| {
        SavedModel::load(m)
            .unwrap()
            .history
            .unwrap()
            .validation_split
    };
    assert_eq!(split(&one), split(&two));
    assert!(one.join("checkpoints/checkpoint.json").exists());
    // Each member's checkpoints: without --resume refused, with it continued.
    assert_one_line_error(&run(xray().args(&args)), "holds a checkpoint");
    let mut resumed = args.clone();
    resumed.push("--resume".into());
    assert!(run(xray().args(&resumed)).status.success());

    // Held out: one member's predictions are the validation scores its training recorded.
    let held_out = run(xray()
        .arg("evaluate")
        .arg(&one)
        .arg(sample().join("train"))
        .args(["--held-out", "--resamples", "50", "--json", "--per-image"]));
    assert!(held_out.status.success(), "{}", stderr(&held_out));
    let value: serde_json::Value = serde_json::from_slice(&held_out.stdout).unwrap();
    assert_eq!(value["held_out"], true);
    let probs: Vec<f64> = value["reports"][0]["per_image"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["probability"].as_f64().unwrap())
        .collect();
    let recorded = SavedModel::load(&one)
        .unwrap()
        .history
        .unwrap()
        .validation
        .unwrap();
    assert_eq!(probs.len(), recorded.probs.len());
    for (p, r) in probs.iter().zip(&recorded.probs) {
        assert!((p - f64::from(*r)).abs() < 1e-6, "{p} against {r}");
    }

    // The ensemble, held out with TTA, then on the test split with figures.
    let text = run(xray()
        .arg("evaluate")
        .arg(&one)
        .arg(&two)
        .arg(sample())
        .args(["--held-out", "--tta", "3", "--resamples", "50"]));
    assert!(text.status.success(), "{}", stderr(&text));
    assert_contains_all(
        &String::from_utf8_lossy(&text.stdout),
        &[
            "held-out validation images",
            "ensemble of 2 models",
            "averaged over 3 versions",
            "members' averaged probabilities",
            "optimistic",
        ],
    );
    let figures = dir.path().join("figures");
    let out_text = run(xray()
        .arg("evaluate")
        .arg(&one)
        .arg(&two)
        .arg(sample().join("test"))
        .args(["--resamples", "50", "--plots"])
        .arg(&figures));
    assert!(out_text.status.success(), "{}", stderr(&out_text));
    assert!(figures.join("scores.png").exists() && !figures.join("learning_curves.png").exists());
    for bad in ["0", "10"] {
        let refused = run(xray()
            .arg("evaluate")
            .arg(&one)
            .arg(sample().join("test"))
            .args(["--tta", bad]));
        assert_eq!(refused.status.code(), Some(2), "--tta {bad}");
    }

    // predict: the ensemble's probability is the mean of its members'.
    let image = sample().join("test/NORMAL/IM-0017-0001.jpeg");
    let (p1, p2) = (
        predicted_probability(&[&one], &image),
        predicted_probability(&[&two], &image),
    );
    let both = predicted_probability(&[&one, &two], &image);
    assert!((both - (p1 + p2) / 2.0).abs() < 2e-4, "{both} {p1} {p2}");
    assert_one_line_error(
        &run(xray().arg("predict").arg(&one).arg(&two)),
        "no image files",
    );

    // Members that cannot be averaged are refused before any prediction.
    let edited = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let copy = dir.path().join(name);
        std::fs::create_dir_all(&copy).unwrap();
        for file in ["model.json", "model.safetensors"] {
            std::fs::copy(two.join(file), copy.join(file)).unwrap();
        }
        let card = copy.join("model.json");
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&card).unwrap()).unwrap();
        edit(&mut json);
        std::fs::write(&card, serde_json::to_vec(&json).unwrap()).unwrap();
        copy
    };
    let renamed = edited("renamed", &|json| json["class_names"][1] = "COVID".into());
    let refused = run(xray()
        .arg("evaluate")
        .arg(&one)
        .arg(&renamed)
        .arg(sample().join("test")));
    assert_one_line_error(&refused, "its class names (NORMAL, COVID) differ");
    let resplit = edited("resplit", &|json| {
        json["history"]["validation_split"]["seed"] = 99.into()
    });
    let refused = run(xray()
        .arg("evaluate")
        .arg(&one)
        .arg(&resplit)
        .arg(sample())
        .arg("--held-out"));
    assert_one_line_error(&refused, "validation split");
}

// ---------------------------------------------------------------------------------------------
// Misuse a new user found (issue "One shape for the library"): each refused before any work.

/// Copies one sample image to `dir/name` for each name (folders made as needed).
fn images_named(dir: &Path, names: &[&str]) {
    let image = sample().join("test/NORMAL/IM-0017-0001.jpeg");
    for name in names {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::copy(&image, &path).unwrap();
    }
}

#[test]
fn cv_needs_as_many_patients_of_each_class_as_folds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Three NORMAL patients with two images each (six images), eight PNEUMONIA patients.
    let mut names: Vec<String> = (0..3)
        .flat_map(|p| (1..=2).map(move |i| format!("NORMAL/IM-{p:04}-000{i}.jpeg")))
        .collect();
    names.extend((0..8).map(|p| format!("PNEUMONIA/person{p}_virus_{p}.jpeg")));
    images_named(&data, &names.iter().map(String::as_str).collect::<Vec<_>>());
    let mut args: Vec<String> = train_args(Path::new("unused"), 1)[..2].to_vec();
    args[0] = "cv".into();
    args[1] = data.to_string_lossy().into_owned();
    args.extend(train_args(Path::new("unused"), 1)[4..].iter().cloned());
    args.extend(["--folds", "4"].map(String::from));
    let out = run(xray().args(&args));
    assert_one_line_error(&out, "NORMAL");
    assert!(stderr(&out).contains("3 patients"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("== fold"), "refused before training");
}

#[test]
fn a_refused_resume_lists_every_setting_that_differs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let mut cosine = train_args(&out, 1);
    let at = cosine.iter().position(|a| a == "constant").unwrap();
    cosine[at] = "cosine".into();
    let first = run(xray().args(&cosine));
    assert!(first.status.success(), "{}", stderr(&first));
    // Two epochs (which a cosine schedule spans) and another seed: both named, old -> new.
    let mut changed = cosine.clone();
    let at = changed.iter().position(|a| a == "--epochs").unwrap();
    changed[at + 1] = "2".into();
    let at = changed.iter().position(|a| a == "--seed").unwrap();
    changed[at + 1] = "6".into();
    changed.push("--resume".into());
    let refused = run(xray().args(&changed));
    assert_one_line_error(&refused, "seed 5 -> 6");
    assert!(
        stderr(&refused).contains("schedule_epochs 1 -> 2"),
        "{}",
        stderr(&refused)
    );
    // Other labels are named as such, not only as another file fingerprint.
    let mut relabelled = cosine.clone();
    relabelled.extend(["--labels", "file-name", "--resume"].map(String::from));
    let refused = run(xray().args(&relabelled));
    assert_one_line_error(&refused, r#"label_source "folder" -> "file-name""#);
}

#[test]
fn file_name_labels_need_a_kind_in_every_pneumonia_file_name() {
    let dir = tempfile::tempdir().unwrap();
    // No file names a kind: --labels file-name would train two classes and call them three.
    let plain = dir.path().join("plain");
    let mut names: Vec<String> = (0..6)
        .map(|i| format!("NORMAL/IM-{i:04}-0001.jpeg"))
        .collect();
    names.extend((0..6).map(|i| format!("PNEUMONIA/scan{i}.jpeg")));
    images_named(
        &plain,
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let train = |data: &Path| {
        let mut args = train_args(&dir.path().join("model"), 1);
        args[1] = data.to_string_lossy().into_owned();
        args.extend(["--labels".into(), "file-name".into()]);
        run(xray().args(&args))
    };
    let out = train(&plain);
    assert_one_line_error(&out, "none of the 12 files");
    assert!(stderr(&out).contains("scan0.jpeg"), "{}", stderr(&out));
    assert!(!dir.path().join("model/checkpoints").exists());
    // Some do, some do not: how many do not, and the first few.
    let mixed = dir.path().join("mixed");
    names.extend((0..4).map(|i| format!("PNEUMONIA/person{i}_virus_{i}.jpeg")));
    images_named(
        &mixed,
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let out = train(&mixed);
    assert_one_line_error(&out, "6 of the 10 files");
    assert!(
        stderr(&out).contains("scan0.jpeg, scan1.jpeg, scan2.jpeg"),
        "{}",
        stderr(&out)
    );
}

/// An untrained model saved into `dir` with these classes and labels (12x12 inputs).
fn untrained_model(dir: &Path, classes: &[&str], labels: support::dataset::LabelSource) {
    use support::preprocessing::Preprocessing;
    let config = ModelConfig::builder()
        .input_size(12, 12)
        .conv_filters(&[2])
        .dense_units(4)
        .classes(classes.len())
        .build()
        .unwrap();
    SavedModel {
        model: support::model::Model::new(config, 5).unwrap(),
        class_names: classes.iter().map(|c| c.to_string()).collect(),
        decision: support::metrics::Decision::default_for(classes.len()),
        label_source: labels,
        preprocessing: Preprocessing {
            rescale: 1.0 / 255.0,
            interpolation: support::resize::Interpolation::Area,
            samplewise_center: false,
            samplewise_std_normalization: false,
            equalize_histogram: false,
        },
        history: None,
    }
    .save(dir)
    .unwrap();
}

#[test]
fn evaluate_matches_class_folders_by_name_not_by_position() {
    use support::dataset::LabelSource;
    let dir = tempfile::tempdir().unwrap();
    let two = dir.path().join("two");
    untrained_model(&two, &["NORMAL", "PNEUMONIA"], LabelSource::Folder);
    let evaluate = |model: &Path, data: &Path| {
        run(xray()
            .arg("evaluate")
            .arg(model)
            .arg(data)
            .args(["--resamples", "20"]))
    };
    // COVID/ and NORMAL/: two classes, but not the model's; refused naming both lists.
    let covid = dir.path().join("covid");
    images_named(
        &covid,
        &[
            "COVID/c1.jpeg",
            "COVID/c2.jpeg",
            "NORMAL/n1.jpeg",
            "NORMAL/n2.jpeg",
        ],
    );
    let refused = evaluate(&two, &covid);
    assert_one_line_error(&refused, "COVID, NORMAL");
    assert!(
        stderr(&refused).contains("NORMAL, PNEUMONIA"),
        "{}",
        stderr(&refused)
    );
    // A missing class is refused the same way.
    let normal_only = dir.path().join("normal-only");
    images_named(&normal_only, &["NORMAL/n1.jpeg", "NORMAL/n2.jpeg"]);
    assert_one_line_error(&evaluate(&two, &normal_only), "NORMAL, PNEUMONIA");

    // A three-class model trained on file-name labels, on folders already split by kind: the
    // folder names are its classes (not PNEUMONIA_BACTERIA_BACTERIA).
    let three = dir.path().join("three");
    let classes = ["NORMAL", "PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"];
    untrained_model(&three, &classes, LabelSource::FileName);
    let split = dir.path().join("split");
    images_named(
        &split,
        &[
            "NORMAL/IM-0001-0001.jpeg",
            "NORMAL/IM-0002-0001.jpeg",
            "NORMAL/IM-0003-0001.jpeg",
            "PNEUMONIA_BACTERIA/person1_bacteria_1.jpeg",
            "PNEUMONIA_BACTERIA/person2_bacteria_2.jpeg",
            "PNEUMONIA_BACTERIA/person3_bacteria_3.jpeg",
            "PNEUMONIA_VIRUS/person4_virus_4.jpeg",
            "PNEUMONIA_VIRUS/person5_virus_5.jpeg",
            "PNEUMONIA_VIRUS/person6_virus_6.jpeg",
        ],
    );
    let by_folder = evaluate(&three, &split);
    assert!(by_folder.status.success(), "{}", stderr(&by_folder));
    let report = String::from_utf8_lossy(&by_folder.stdout);
    assert!(report.contains("PNEUMONIA_BACTERIA"), "{report}");
    assert!(!report.contains("BACTERIA_BACTERIA"), "{report}");
    // And on NORMAL/ and PNEUMONIA/, with the kinds read from the file names, as trained.
    let joined = dir.path().join("joined");
    images_named(
        &joined,
        &[
            "NORMAL/IM-0001-0001.jpeg",
            "NORMAL/IM-0002-0001.jpeg",
            "NORMAL/IM-0003-0001.jpeg",
            "PNEUMONIA/person1_bacteria_1.jpeg",
            "PNEUMONIA/person2_bacteria_2.jpeg",
            "PNEUMONIA/person3_bacteria_3.jpeg",
            "PNEUMONIA/person4_virus_4.jpeg",
            "PNEUMONIA/person5_virus_5.jpeg",
            "PNEUMONIA/person6_virus_6.jpeg",
        ],
    );
    let by_name = evaluate(&three, &joined);
    assert!(by_name.status.success(), "{}", stderr(&by_name));
}

/// `train_args` without its architecture flags, for a `--layers` file.
fn train_args_without_architecture(out: &Path) -> Vec<String> {
    let mut args = train_args(out, 1);
    for flag in ["--filters", "--dense"] {
        let at = args.iter().position(|a| a == flag).unwrap();
        args.drain(at..at + 2);
    }
    args
}

#[test]
fn layer_files_refuse_settings_the_model_would_drop_and_read_keras_forms() {
    let dir = tempfile::tempdir().unwrap();
    let layers = dir.path().join("layers.json");
    let train_with = |json: &str, out: &str| {
        std::fs::write(&layers, json).unwrap();
        let mut args = train_args_without_architecture(&dir.path().join(out));
        args.extend(["--layers".into(), layers.to_string_lossy().into_owned()]);
        run(xray().args(&args))
    };
    let dense = r#"{"class_name": "Dense", "config": {"units": 1, "activation": "sigmoid"}}"#;
    // A stride the model would not apply, and a key it does not know: refused, named.
    let strided = format!(
        r#"[{{"class_name": "Conv2D", "config": {{"filters": 4, "kernel_size": 3, "strides": 2}}}},
            {{"class_name": "Flatten"}}, {dense}]"#
    );
    let out = train_with(&strided, "strided");
    assert_one_line_error(&out, "strides 2: only 1 is supported");
    assert!(stderr(&out).contains("Conv2D"), "{}", stderr(&out));
    let misspelt = format!(
        r#"[{{"class_name": "Conv2D", "config": {{"filters": 4, "kernel_sise": 3}}}},
            {{"class_name": "Flatten"}}, {dense}]"#
    );
    let out = train_with(&misspelt, "misspelt");
    assert_one_line_error(&out, "kernel_sise");
    assert!(stderr(&out).contains("Conv2D"), "{}", stderr(&out));
    // Keras's own forms: square lists, an empty config.
    let keras = format!(
        r#"[{{"class_name": "Conv2D", "config": {{"filters": 4, "kernel_size": [3, 3],
              "strides": [1, 1], "padding": "valid", "use_bias": true, "activation": "relu"}}}},
            {{"class_name": "MaxPooling2D", "config": {{"pool_size": [2, 2]}}}},
            {{"class_name": "Flatten", "config": {{}}}}, {dense}]"#
    );
    let out = train_with(&keras, "keras");
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The shipped model, whose folder every clone has.
fn shipped_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/pretrained")
}

#[test]
fn stress_and_series_reports_agree_with_the_plain_report() {
    let dir = tempfile::tempdir().unwrap();
    let figures = dir.path().join("figures");
    let test = sample().join("test");
    let out = run(xray()
        .arg("evaluate")
        .arg(shipped_model())
        .arg(&test)
        .args([
            "--stress",
            "--by",
            "series",
            "--json",
            "--resamples",
            "50",
            "--plots",
        ])
        .arg(&figures));
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let images = json["reports"][1]["images"].as_u64().unwrap();
    // Series: every image in exactly one group, the groups the dataset's names give.
    let groups = json["subgroups"]["rows"].as_array().unwrap();
    let counted: u64 = groups.iter().map(|g| g["images"].as_u64().unwrap()).sum();
    assert_eq!(counted, images);
    for g in groups {
        let name = g["group"].as_str().unwrap();
        assert!(
            ["IM-", "NORMAL2-IM-", "bacteria", "virus"].contains(&name),
            "{name}"
        );
        assert!(g["correct"].as_u64().unwrap() <= g["images"].as_u64().unwrap());
    }
    let correct: u64 = groups.iter().map(|g| g["correct"].as_u64().unwrap()).sum();
    let accuracy = json["reports"][1]["metrics"]["accuracy"]["estimate"]
        .as_f64()
        .unwrap();
    assert!((correct as f64 / images as f64 - accuracy).abs() < 1e-9);
    // Stress: the unchanged row is the plain report at the validation threshold.
    let rows = json["stress"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1 + support::stress::standard_changes().len());
    assert_eq!(rows[0]["name"], "unchanged");
    assert_eq!(
        rows[0]["report"]["metrics"]["accuracy"]["estimate"].as_f64(),
        Some(accuracy)
    );
    assert!(rows
        .iter()
        .all(|r| r["report"]["images"].as_u64() == Some(images)));
    assert!(figures.join("stress.png").is_file());
    // The text report names the worst case.
    let text = run(xray()
        .arg("evaluate")
        .arg(shipped_model())
        .arg(&test)
        .args(["--stress", "--resamples", "20"]));
    assert!(text.status.success(), "{}", stderr(&text));
    assert_contains_all(
        &String::from_utf8_lossy(&text.stdout),
        &[
            "Stress validation at threshold",
            "worst accuracy: ",
            "JPEG quality 30",
        ],
    );
}

#[test]
fn stress_and_series_refuse_a_three_class_model_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("three");
    untrained_model(
        &model,
        &["NORMAL", "PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"],
        support::dataset::LabelSource::FileName,
    );
    for flags in [&["--stress"][..], &["--by", "series"][..]] {
        let out = run(xray()
            .arg("evaluate")
            .arg(&model)
            .arg(sample().join("test"))
            .args(flags));
        assert_one_line_error(&out, "a 3-class model");
    }
}

#[test]
fn range_flags_take_two_numbers_either_way_and_refuse_bad_ranges_before_training() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, values, needle) in [
        ("--gamma", vec!["1.6", "0.6"], "gamma_range"),
        ("--gamma", vec!["1.6,0.6"], "gamma_range"),
        ("--gamma", vec!["0.6"], "--gamma"),
        ("--brightness", vec!["1.2,0.8"], "brightness_range"),
    ] {
        let out = run(xray()
            .arg("train")
            .arg(sample())
            .arg("--out")
            .arg(dir.path().join("m"))
            .arg(flag)
            .args(&values));
        assert_one_line_error(&out, needle);
        assert!(!dir.path().join("m").exists(), "nothing written");
    }
}

#[test]
fn a_model_past_the_memory_budget_is_refused_before_anything_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let layers = dir.path().join("huge.json");
    // 65536 units on an unpooled 1024x1024 image: 2^36 weights, over a terabyte to train.
    std::fs::write(
        &layers,
        r#"[{"class_name": "Flatten"},
            {"class_name": "Dense", "config": {"units": 65536, "activation": "relu"}},
            {"class_name": "Dense", "config": {"units": 1, "activation": "sigmoid"}}]"#,
    )
    .unwrap();
    let start = Instant::now();
    let out = run(xray()
        .arg("train")
        .arg(sample())
        .arg("--out")
        .arg(dir.path().join("model"))
        .args(["--input-size", "1024", "--layers"])
        .arg(&layers));
    assert_one_line_error(&out, "over the budget of 8 GiB");
    assert!(stderr(&out).contains("dense.kernel"), "{}", stderr(&out));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}
