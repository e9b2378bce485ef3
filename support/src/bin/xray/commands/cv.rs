//! `xray cv`: patient-grouped k-fold cross-validation.

use std::path::PathBuf;

use super::run_args::*;
use super::train::training_folder;
use crate::*;
use support::training::{self};

#[derive(clap::Args)]
pub(crate) struct CvArgs {
    /// The training folder (class subfolders), or a dataset root whose train/ is used.
    pub(crate) dir: PathBuf,
    /// Number of patient-grouped folds.
    #[arg(long, default_value_t = 5)]
    pub(crate) folds: usize,
    /// Print the results as JSON on stdout instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also measure each fold's model on its held-out patients under the acquisition changes of
    /// `evaluate --stress`, at the fold's own threshold: the worst accuracy and the largest loss
    /// of specificity per fold.
    #[arg(long)]
    pub(crate) stress: bool,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

pub(crate) fn cv_command(args: &CvArgs) -> Result<()> {
    let train_dir = training_folder(&args.dir);
    let options = fit_options(&args.run)?;
    let config = model_config(&args.run, 2)?;
    training::training_scan(&train_dir, &options, config.classes())?;
    let changes = if args.stress {
        support::stress::standard_changes()
    } else {
        Vec::new()
    };
    let result = support::cross_validation::cross_validate_stressed(
        &config,
        &train_dir,
        args.folds,
        &options,
        &changes,
        &mut Bar::default(),
    )?;
    if args.json {
        print_json("results", &result)?;
    } else {
        print!("{result}");
    }
    Ok(())
}
