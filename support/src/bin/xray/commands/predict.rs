//! `xray predict`: the class and probabilities of image files.

use std::path::PathBuf;

use crate::*;
use support::ensemble::Ensemble;

#[derive(clap::Args)]
pub(crate) struct PredictArgs {
    /// Model folders written by `xray train --out`, then image files.
    #[arg(required = true, num_args = 2.., value_names = ["MODEL_DIR", "IMAGE"])]
    pub(crate) paths: Vec<PathBuf>,
    /// Average each image's probabilities over N mild deterministic augmentations (1: none;
    /// then shifts of 4%, zoom 0.93 and 1.07, brightness 0.9 and 1.1, up to 9; no flips).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_TTA))]
    pub(crate) tta: u64,
}

/// `predict`'s "MODEL_DIR... IMAGE...": the first path is a model; so is every following folder
/// that holds model.json; the rest are images.
pub(crate) fn models_and_images(paths: &[PathBuf]) -> (&[PathBuf], &[PathBuf]) {
    let is_model = |p: &PathBuf| p.is_dir() && p.join(support::saved_model::CONFIG_FILE).is_file();
    let models = 1 + paths[1..].iter().take_while(|p| is_model(p)).count();
    paths.split_at(models.min(paths.len()))
}

pub(crate) fn predict_command(args: &PredictArgs) -> Result<()> {
    let (model_dirs, images) = models_and_images(&args.paths);
    let ensemble = Ensemble::load(model_dirs)?;
    if images.is_empty() {
        return Err(CliError::NoImages);
    }
    let names = ensemble.class_names();
    let mut failed = 0;
    for (path, result) in images
        .iter()
        .zip(ensemble.predict_files_classes(images, args.tta as usize)?)
    {
        match result {
            Ok(probs) if probs.len() == 2 => {
                let p = probs[1];
                let class = &names[usize::from(p >= ensemble.threshold())];
                println!("{}\t{class}\tp({})={p:.4}", path.display(), names[1]);
            }
            Ok(probs) => {
                // The most probable class, then every class's probability.
                let best = (0..probs.len()).fold(0, |b, c| if probs[c] > probs[b] { c } else { b });
                let each: Vec<String> = names
                    .iter()
                    .zip(&probs)
                    .map(|(name, p)| format!("p({name})={p:.4}"))
                    .collect();
                println!("{}\t{}\t{}", path.display(), names[best], each.join("\t"));
            }
            Err(error) => {
                failed += 1;
                eprintln!("error: {error}");
            }
        }
    }
    if failed > 0 {
        return Err(CliError::PredictionsFailed {
            failed,
            total: images.len(),
        });
    }
    Ok(())
}
