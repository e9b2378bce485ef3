//! One error type for the crate: every variant names the file or setting and the reason.

use std::path::PathBuf;

/// Everything that can go wrong in `support`, with the file or setting it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes of a file are not an image we can decode.
    #[error("{}: cannot decode image: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },
    /// The image header declares more pixels than we accept (decompression-bomb guard).
    #[error("{}: image of {width}x{height} pixels is over the limit of {limit} pixels", path.display())]
    TooLarge {
        path: PathBuf,
        width: u64,
        height: u64,
        limit: u64,
    },
    /// An expected folder is missing.
    #[error("{}: folder not found ({expected})", path.display())]
    MissingDir { path: PathBuf, expected: String },
    /// A split folder without class subfolders.
    #[error("{}: no class folders found (expected one subfolder per class, e.g. NORMAL/ and PNEUMONIA/)", path.display())]
    NoClasses { path: PathBuf },
    /// A class folder without a single image file.
    #[error("{}: class folder '{class}' holds no image files", path.display())]
    EmptyClass { path: PathBuf, class: String },
    /// A setting outside its valid range.
    #[error("invalid {name} = {value}: expected {expected}")]
    InvalidArgument {
        name: &'static str,
        value: String,
        expected: String,
    },
    /// A saved model that is broken or does not match its configuration.
    #[error("{}: model: {reason}", path.display())]
    Model { path: PathBuf, reason: String },
    /// Drawing a figure failed.
    #[error("plot: {0}")]
    Plot(String),
    /// A checkpoint made with other settings than the run asked to resume it.
    #[error("{}: cannot resume: the checkpoint was made with {setting} = {saved}, this run asks for {requested} (use the checkpoint's settings, or --overwrite to start over)", path.display())]
    ResumeMismatch {
        path: PathBuf,
        setting: String,
        saved: String,
        requested: String,
    },
    /// Training or evaluation could not proceed.
    #[error("{0}")]
    Training(String),
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
