//! `xray prepare-dev-copy`: rebuild the development copy of the dataset from the Kaggle
//! download, file for file as the shipped manifest lists it.

use std::path::PathBuf;

use crate::*;
use support::dev_copy::{prepare_dev_copy, Manifest};

#[derive(clap::Args)]
pub(crate) struct PrepareDevCopyArgs {
    /// The unpacked download: holds chest_xray/ (or chest_xray/chest_xray/) with train/, test/
    /// and val/.
    pub(crate) download: PathBuf,
    /// The folder to write; it must not exist yet, or be empty.
    #[arg(long, default_value = "data/chest_xray")]
    pub(crate) out: PathBuf,
    /// Another manifest instead of the built-in one (data/dev_copy_manifest.txt).
    #[arg(long, value_name = "FILE")]
    pub(crate) manifest: Option<PathBuf>,
}

pub(crate) fn prepare_dev_copy_command(args: &PrepareDevCopyArgs) -> Result<()> {
    let manifest = match &args.manifest {
        Some(path) => Manifest::read(path)?,
        None => Manifest::shipped(),
    };
    eprintln!(
        "rebuilding {} files into {} ...",
        manifest.len(),
        args.out.display()
    );
    let report = prepare_dev_copy(&args.download, &manifest, &args.out)?;
    println!("{report}");
    Ok(())
}
