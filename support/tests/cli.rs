//! The `xray` binary: exit codes, one-line errors, and a training run killed with SIGKILL that
//! resumes from its last checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::cnn::ModelConfig;
use support::saved_model::{Checkpoint, SavedModel};

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
        vec!["predict".as_ref(), out_dir.as_os_str()],
    ];
    for args in cases {
        let out = run(xray().args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{args:?}");
    }
    assert!(!out_dir.exists(), "bad arguments must not start any work");
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
    assert_one_line_error(&out, "invalid conv_filters");
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
    let bytes = std::fs::read(Checkpoint::card_path(dir)).ok()?;
    let card: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    card["history"]["epochs"].as_array().map(Vec::len)
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
    let checkpoint = Checkpoint::load_if_present(&checkpoints, &config)
        .unwrap()
        .expect("the checkpoint survives the kill");
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

    let resumed = run(xray().args(train_args(&out, done + 1)).arg("--resume"));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let log = stderr(&resumed);
    // Only the missing epoch ran.
    assert!(log.contains(&format!("epoch {:>2}:", done + 1)), "{log}");
    assert!(!log.contains("epoch  1:"), "{log}");
    let saved = SavedModel::load(&out).unwrap();
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
    let mut seen_checkpoint = false;
    for delay_ms in [30u64, 70, 110, 150, 190, 230, 270, 310, 350, 400] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model");
        let mut child = spawn_training(&out);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        // Whatever the moment, the checkpoint folder holds a whole checkpoint or none.
        match Checkpoint::load_if_present(&out.join("checkpoints"), &config) {
            Ok(Some(checkpoint)) => {
                seen_checkpoint = true;
                assert!(!checkpoint.history.epochs.is_empty());
            }
            Ok(None) => {}
            Err(error) => panic!("killed after {delay_ms} ms: {error}"),
        }
    }
    assert!(
        seen_checkpoint,
        "no run lived long enough to write a checkpoint"
    );
}
