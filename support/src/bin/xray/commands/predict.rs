//! `xray predict`: the class and probabilities of image files and folders, streamed as they
//! are predicted, with one model, the ensemble of several, or the shipped model.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};

use crate::*;
use support::archive::{predict_stream, ImageWalk, Shard};
use support::ensemble::Ensemble;
use support::metrics::Decision;
use support::saved_model::{shipped_model_dir, CONFIG_FILE};

#[derive(clap::Args)]
pub(crate) struct PredictArgs {
    /// Model folders written by `xray train --out` (none: the shipped model), then image files
    /// or folders of images (walked recursively).
    #[arg(required = true, value_names = ["MODEL_DIR", "IMAGE_OR_DIR"])]
    pub(crate) paths: Vec<PathBuf>,
    /// Average each image's probabilities over N mild deterministic augmentations (1: none;
    /// then shifts of 4%, zoom 0.93 and 1.07, brightness 0.9 and 1.1, up to 9; no flips).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_TTA))]
    pub(crate) tta: u64,
    /// How each result is printed on stdout: tab-separated lines, CSV with a header, or one
    /// JSON object per line.
    #[arg(long, value_enum, default_value_t = Format::Tsv)]
    pub(crate) format: Format,
    /// Only share K of N (K from 0): the images whose patient hashes to K, so that N machines
    /// split an archive (every image of a patient goes to the same share).
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<Shard>,
}

/// How `predict` prints its results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// `PATH<TAB>CLASS<TAB>p(CLASS)=...`, errors on stderr.
    Tsv,
    /// `path,class,p_NORMAL,...` with a header line; errors in an `error` column.
    Csv,
    /// `{"path": ..., "class": ..., "probabilities": {...}}` or `{"path": ..., "error": ...}`.
    Jsonl,
}

/// `predict`'s "MODEL_DIR... IMAGE...": the leading folders that hold model.json are the
/// models; the rest are images or folders of images.
pub(crate) fn models_and_images(paths: &[PathBuf]) -> (&[PathBuf], &[PathBuf]) {
    let is_model = |p: &PathBuf| p.is_dir() && p.join(CONFIG_FILE).is_file();
    let models = paths.iter().take_while(|p| is_model(p)).count();
    paths.split_at(models)
}

/// The models to predict with: the ones named, or the shipped model (said on stderr).
fn load_models(dirs: &[PathBuf]) -> Result<Ensemble> {
    if !dirs.is_empty() {
        return Ok(Ensemble::load(dirs)?);
    }
    let dir = shipped_model_dir().ok_or(CliError::NoModel)?;
    eprintln!(
        "using the shipped model {} (its MODEL_CARD.md says how it was trained)",
        dir.display()
    );
    Ok(Ensemble::load(&[dir])?)
}

pub(crate) fn predict_command(args: &PredictArgs) -> Result<()> {
    let (model_dirs, inputs) = models_and_images(&args.paths);
    if inputs.is_empty() {
        return Err(CliError::NoImages);
    }
    // Every input must exist before the model is loaded and any work starts.
    if let Some(missing) = inputs.iter().find(|p| !p.exists()) {
        return Err(Error::io(
            missing,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such image or folder"),
        )
        .into());
    }
    let ensemble = load_models(model_dirs)?;
    let names = ensemble.class_names().to_vec();
    let shard = args.shard.unwrap_or_else(Shard::all);
    let mut out = Printer::new(args.format, &names, ensemble.decision());
    out.header()?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} images, {per_sec}, {elapsed}")
            .expect("the template is a valid indicatif template"),
    );
    let (mut total, mut failed) = (0, 0);
    for input in inputs {
        let files: Box<dyn Iterator<Item = support::Result<PathBuf>>> = if input.is_dir() {
            Box::new(ImageWalk::new(input)?)
        } else {
            Box::new(std::iter::once(Ok(input.clone())))
        };
        total += predict_stream(
            &ensemble,
            files,
            shard,
            args.tta as usize,
            |(path, result)| {
                if result.is_err() {
                    failed += 1;
                }
                out.result(&path, result)?;
                bar.inc(1);
                Ok(())
            },
        )?;
    }
    bar.finish_and_clear();
    if failed > 0 {
        return Err(CliError::PredictionsFailed { failed, total });
    }
    Ok(())
}

/// Writes results on stdout in one [`Format`], flushed line by line so that a consumer sees
/// each result as it comes.
struct Printer<'a> {
    format: Format,
    names: &'a [String],
    decision: Decision,
    csv: Option<csv::Writer<std::io::Stdout>>,
}

impl<'a> Printer<'a> {
    fn new(format: Format, names: &'a [String], decision: Decision) -> Self {
        let csv = (format == Format::Csv).then(|| csv::Writer::from_writer(std::io::stdout()));
        Printer {
            format,
            names,
            decision,
            csv,
        }
    }

    fn header(&mut self) -> Result<()> {
        if let Some(csv) = &mut self.csv {
            let mut row = vec!["path".to_string(), "class".to_string()];
            row.extend(self.names.iter().map(|n| format!("p_{n}")));
            row.push("error".into());
            csv.write_record(&row).map_err(csv_err)?;
            csv.flush().map_err(|e| Error::io("stdout", e))?;
        }
        Ok(())
    }

    /// The predicted class, as the model's decision makes it.
    fn class(&self, probs: &[f32]) -> usize {
        self.decision.class_of(probs)
    }

    fn result(&mut self, path: &Path, result: support::Result<Vec<f32>>) -> support::Result<()> {
        let shown = path.display().to_string();
        let stdout_err = |e| Error::io("stdout", e);
        match (self.format, result) {
            (Format::Tsv, Ok(probs)) => {
                let class = &self.names[self.class(&probs)];
                // Two classes: the positive class's probability, as the tutorial reports it.
                let each: Vec<String> = if probs.len() == 2 {
                    vec![format!("p({})={:.4}", self.names[1], probs[1])]
                } else {
                    self.names
                        .iter()
                        .zip(&probs)
                        .map(|(name, p)| format!("p({name})={p:.4}"))
                        .collect()
                };
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "{shown}\t{class}\t{}", each.join("\t")).map_err(stdout_err)?;
                stdout.flush().map_err(stdout_err)?;
            }
            (Format::Tsv, Err(error)) => eprintln!("error: {error}"),
            (Format::Csv, result) => {
                let mut row = vec![shown];
                match result {
                    Ok(probs) => {
                        row.push(self.names[self.class(&probs)].clone());
                        row.extend(probs.iter().map(|p| format!("{p:.6}")));
                        row.push(String::new());
                    }
                    Err(error) => {
                        row.push(String::new());
                        row.extend(self.names.iter().map(|_| String::new()));
                        row.push(error.to_string());
                    }
                }
                let csv = self.csv.as_mut().expect("a CSV printer has its writer");
                csv.write_record(&row).map_err(csv_err)?;
                csv.flush().map_err(stdout_err)?;
            }
            (Format::Jsonl, result) => {
                let line = match result {
                    Ok(probs) => {
                        let probabilities: serde_json::Map<String, serde_json::Value> = self
                            .names
                            .iter()
                            .zip(&probs)
                            .map(|(n, &p)| (n.clone(), serde_json::Value::from(f64::from(p))))
                            .collect();
                        serde_json::json!({
                            "path": shown,
                            "class": self.names[self.class(&probs)],
                            "probabilities": probabilities,
                        })
                    }
                    Err(error) => serde_json::json!({"path": shown, "error": error.to_string()}),
                };
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "{line}").map_err(stdout_err)?;
                stdout.flush().map_err(stdout_err)?;
            }
        }
        Ok(())
    }
}

/// A CSV writer's failure (only writing to stdout can fail here).
fn csv_err(e: csv::Error) -> Error {
    Error::io("stdout", std::io::Error::other(e.to_string()))
}
