//! `xray export`: a trained model in a format other tools run (ONNX).

use std::path::PathBuf;

use crate::*;
use support::export::save_onnx;
use support::saved_model::SavedModel;

#[derive(clap::Args)]
pub(crate) struct ExportArgs {
    /// A model folder written by `xray train --out`.
    pub(crate) model: PathBuf,
    /// Where to write the ONNX graph (NHWC float32 input of the preprocessed image, batch
    /// free; the preprocessing, class names and threshold are in its metadata).
    #[arg(long, value_name = "FILE")]
    pub(crate) onnx: PathBuf,
}

pub(crate) fn export_command(args: &ExportArgs) -> Result<()> {
    let saved = SavedModel::load(&args.model)?;
    let summary = save_onnx(&saved, &args.onnx)?;
    println!("{}: {summary}", args.onnx.display());
    Ok(())
}
