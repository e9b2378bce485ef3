//! One error type for the crate: every variant names the file or setting and the reason.

use std::path::PathBuf;

/// Everything that can go wrong in `support`, with the file or setting it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The bytes of a file are not an image we can decode.
    #[error("{}: cannot decode image: {reason}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The image header declares more pixels than we accept (decompression-bomb guard).
    #[error("{}: image of {width}x{height} pixels is over the limit of {limit} pixels", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its declared width in pixels.
        width: u64,
        /// Its declared height in pixels.
        height: u64,
        /// The most pixels accepted.
        limit: u64,
    },
    /// An expected folder is missing.
    #[error("{}: folder not found ({expected})", path.display())]
    MissingDir {
        /// The folder looked for.
        path: PathBuf,
        /// What it should have been.
        expected: String,
    },
    /// A split folder without class subfolders.
    #[error("{}: no class folders found (expected one subfolder per class, e.g. NORMAL/ and PNEUMONIA/)", path.display())]
    NoClasses {
        /// The split folder.
        path: PathBuf,
    },
    /// A class folder without a single image file.
    #[error("{}: class folder '{class}' holds no image files", path.display())]
    EmptyClass {
        /// The class folder.
        path: PathBuf,
        /// Its class name.
        class: String,
    },
    /// With labels from file names, a class folder where some names give a kind and some do not.
    #[error(
        "{}: labels from file names, but {kindless} of the {files} files in class folder '{class}' \
         name no kind ({kinds}), e.g. {}: rename them or move them to their own folder",
        path.display(),
        examples.join(", ")
    )]
    KindlessFileNames {
        /// The class folder.
        path: PathBuf,
        /// Its class.
        class: String,
        /// How many of its files name no kind.
        kindless: usize,
        /// How many files it holds.
        files: usize,
        /// The first few files that name no kind.
        examples: Vec<String>,
        /// The name parts that give a kind.
        kinds: String,
    },
    /// Labels from file names asked of a split where no file name gives a kind: the labels
    /// would be the folders' under the name of file-name labels.
    #[error(
        "{}: labels from file names, but none of the {files} files names a kind ({kinds}), e.g. \
         {}: name the kind in each pneumonia file (person1_bacteria_1.jpeg), or use folder labels",
        path.display(),
        examples.join(", ")
    )]
    NoKindInFileNames {
        /// The split folder.
        path: PathBuf,
        /// How many files it holds.
        files: usize,
        /// The first file of each class.
        examples: Vec<String>,
        /// The name parts that give a kind.
        kinds: String,
    },
    /// A setting outside its valid range.
    #[error("invalid {name} = {value}: expected {expected}")]
    InvalidArgument {
        /// The setting or argument.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A layer list file (`--layers`) that is not a list of layers this model builds.
    #[error("{}: {}{reason}", path.display(), layer.map(|i| format!("layer {i}: ")).unwrap_or_default())]
    LayerFile {
        /// The file.
        path: PathBuf,
        /// The layer's position in the list, from 1, when one layer is at fault.
        layer: Option<usize>,
        /// What is wrong: the layer class, the key, its value and what was expected.
        reason: String,
    },
    /// A model whose training would need more memory than the budget allows.
    #[error("the model would need {} to train at {batch} image{} per step ({} of it weights, the largest array {largest}), over the budget of {}: use fewer units or filters, more pooling before the dense layers, or smaller batches", gib(*needed_bytes), if *batch == 1 { "" } else { "s" }, gib(*weight_bytes), gib(*budget_bytes))]
    MemoryBudget {
        /// Images per step.
        batch: usize,
        /// The bytes training would need (an estimate).
        needed_bytes: u64,
        /// The part of them the weights take.
        weight_bytes: u64,
        /// The largest weight array, with its shape.
        largest: String,
        /// The budget.
        budget_bytes: u64,
    },
    /// A saved model that is broken or does not match its configuration.
    #[error("{}: model: {reason}", path.display())]
    Model {
        /// The model folder or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Drawing a figure failed.
    #[error("plot: {0}")]
    Plot(String),
    /// A checkpoint made with other settings than the run asked to resume it: every setting
    /// that differs, old value and new.
    #[error("{}: cannot resume: the checkpoint was made with other settings: {} (use the checkpoint's settings, or --overwrite to start over)", path.display(), changes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    ResumeMismatch {
        /// The checkpoint's description file.
        path: PathBuf,
        /// The settings that differ, in alphabetical order of their names.
        changes: Vec<SettingChange>,
    },
    /// A tensor or array operation of the numerical backend (dfdx, ndarray, rand_distr) failed;
    /// `operation` says which, `source` is the backend's own error.
    #[error("{operation} failed: {source}")]
    Backend {
        /// What was being done.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The training loss stopped being a finite number: the step was not applied.
    #[error("training diverged at step {step}{}: the loss is {loss}; the weights were left unchanged (lower the learning rate?)", .epoch.map(|e| format!(" of epoch {e}")).unwrap_or_default())]
    Diverged {
        /// The epoch, when known (set by `fit`).
        epoch: Option<usize>,
        /// The optimiser step, counted from 1 over the whole training.
        step: u64,
        /// The loss value (NaN or infinite).
        loss: f32,
    },
    /// A training folder whose classes (as the label source reads them) are not the model's.
    #[error("{}: the model tells {expected} classes apart, but the folder gives {} ({}){}", path.display(), classes.len(), classes.join(", "), if *expected > 2 && classes.len() == 2 { "; labels from file names (`--labels file-name`) split PNEUMONIA into bacterial and viral" } else { "" })]
    ClassCount {
        /// The folder.
        path: PathBuf,
        /// The classes it gives.
        classes: Vec<String>,
        /// How many classes the model has.
        expected: usize,
    },
    /// A labelled folder whose classes are not the model's (other names, a class missing or
    /// extra): class folders are matched to a model's classes by name, never by position.
    #[error("{}: the folder's classes are {} but the model's are {} ({})", path.display(), found.join(", "), expected.join(", "), class_differences(found, expected))]
    ClassMismatch {
        /// The folder.
        path: PathBuf,
        /// The classes it gives, as the model's label source reads them.
        found: Vec<String>,
        /// The model's classes.
        expected: Vec<String>,
    },
    /// Too few patients to hold out a validation split with both classes on each side.
    #[error("{}: too few patients to hold out {:.0}% for validation with both classes on each side", path.display(), fraction * 100.0)]
    TooFewPatients {
        /// The training folder.
        path: PathBuf,
        /// The validation fraction asked for.
        fraction: f64,
    },
    /// More cross-validation folds than a class has patients: some fold would validate
    /// without that class.
    #[error("{folds} folds: class '{class}' has {patients} patients, and folds are dealt by patient, so every fold needs one of each class (at most {patients} folds)")]
    FoldsOverPatients {
        /// The folds asked for.
        folds: usize,
        /// The class with too few patients.
        class: String,
        /// Its patients.
        patients: usize,
    },
    /// No training image of an epoch could be read, so there is nothing to learn from.
    #[error("no training image could be read in epoch {epoch}")]
    NoImagesRead {
        /// The epoch, counted from 1.
        epoch: usize,
    },
    /// Temperature scaling needs the validation scores that `fit` records; this model has none.
    #[error("no validation scores to fit a temperature to (a model trained by fit has them)")]
    NoValidationScores,
    /// Held-out evaluation needs the record of the validation split `fit` drew; this model has
    /// none (saved before models recorded it, or not trained by `fit` on a patient split).
    #[error("the model records no validation split, so its held-out patients cannot be found again (models trained by this version's fit record it; retrain to evaluate on held-out data)")]
    NoValidationSplit,
    /// The training folder no longer holds the files a model was trained on, so its
    /// validation split cannot be drawn again.
    #[error("{}: the folder's files differ from the ones the model was trained on ({recorded_files} files, fingerprint {recorded_fingerprint}; the folder now gives {files} files, fingerprint {fingerprint}): its held-out patients cannot be found again", path.display())]
    TrainingFilesChanged {
        /// The training folder.
        path: PathBuf,
        /// The number of files the model recorded.
        recorded_files: usize,
        /// Their recorded fingerprint.
        recorded_fingerprint: String,
        /// The number of files the folder gives now.
        files: usize,
        /// Their fingerprint.
        fingerprint: String,
    },
    /// Models that cannot be averaged into one ensemble: `what` differs between the first
    /// member and `member`.
    #[error("{member}: cannot join the ensemble: its {what} ({found}) differ from the first member's ({expected})")]
    EnsembleMismatch {
        /// The member that differs (its folder, or its position).
        member: String,
        /// What differs: class names, label source, validation split, ...
        what: &'static str,
        /// The member's value.
        found: String,
        /// The first member's value.
        expected: String,
    },
    /// An error concerning one member of an ensemble, named by its folder or position.
    #[error("{member}: {source}")]
    Member {
        /// The member (its folder, or its position).
        member: String,
        /// What went wrong with it.
        #[source]
        source: Box<Error>,
    },
    /// A line of a file list (the development copy's manifest) that cannot be used.
    #[error("{}:{line}: {reason}", path.display())]
    ManifestLine {
        /// The manifest.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// A download that lacks files the manifest names: nothing was written.
    #[error(
        "{}: {missing} of the manifest's {total} files are missing from the download (first: {}); \
         nothing was written. Is this the Kaggle download \"Chest X-Ray Images (Pneumonia)\" \
         (paultimothymooney/chest-xray-pneumonia), unpacked whole?",
        root.display(),
        first.join(", ")
    )]
    MissingFromDownload {
        /// The download folder searched (the one that lacks the fewest files).
        root: PathBuf,
        /// How many manifest files it lacks.
        missing: usize,
        /// How many files the manifest names.
        total: usize,
        /// The first few missing files, relative to `root`.
        first: Vec<String>,
    },
}

/// One setting a resumed run asks to change: `seed 5 -> 6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingChange {
    /// The setting's name, a dotted path inside nested ones (`model.layers.3.config.filters`).
    pub setting: String,
    /// Its value in the checkpoint, as JSON.
    pub saved: String,
    /// Its value in this run, as JSON.
    pub requested: String,
}

impl std::fmt::Display for SettingChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} -> {}", self.setting, self.saved, self.requested)
    }
}

/// What [`Error::ClassMismatch`]'s lists differ by: `missing PNEUMONIA; not the model's: COVID`.
fn class_differences(found: &[String], expected: &[String]) -> String {
    let missing: Vec<&str> = expected
        .iter()
        .filter(|c| !found.contains(c))
        .map(String::as_str)
        .collect();
    let extra: Vec<&str> = found
        .iter()
        .filter(|c| !expected.contains(c))
        .map(String::as_str)
        .collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(format!("not the model's: {}", extra.join(", ")));
    }
    parts.join("; ")
}

/// Bytes in GiB for a message: `256.0 GiB`, `8 GiB` for whole numbers.
fn gib(bytes: u64) -> String {
    let gib = bytes as f64 / f64::from(1u32 << 30);
    if gib.fract() == 0.0 {
        format!("{gib:.0} GiB")
    } else {
        format!("{gib:.1} GiB")
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A failed backend operation, with the backend's error as its source.
    pub fn backend(
        operation: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Backend {
            operation,
            source: Box::new(source),
        }
    }

    /// An invalid setting: its name, the value given and what was expected.
    pub fn invalid(name: &'static str, value: impl ToString, expected: impl Into<String>) -> Self {
        Error::InvalidArgument {
            name,
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

/// A file a pass over a folder could not use, and why; passes collect these and go on.
#[derive(Debug)]
pub struct Skipped {
    /// The file that was skipped.
    pub path: PathBuf,
    /// Why it could not be used.
    pub error: Error,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)
    }
}

/// One line that summarises the skipped files of a pass ("2 files skipped: a.jpeg, b.jpeg"), or `None`.
pub fn skipped_summary(skipped: &[Skipped]) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    let names: Vec<String> = skipped
        .iter()
        .map(|s| {
            s.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| s.path.display().to_string())
        })
        .collect();
    let noun = if skipped.len() == 1 { "file" } else { "files" };
    Some(format!(
        "{} {noun} skipped as unreadable: {}",
        skipped.len(),
        names.join(", ")
    ))
}
