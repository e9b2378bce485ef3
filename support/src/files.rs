//! The project's files on disk: written so that a crash never leaves a half-written one, and
//! the format of the JSON descriptions of a saved model and a checkpoint, read naming the file
//! when it is missing, truncated or edited.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The format name both a model's and a checkpoint's description record.
/// `xray-model/2` moved the learning rate out of the model's configuration into the training
/// settings; files of [`FORMAT_1`] still load (their rate is read and dropped, see
/// [`crate::model::ModelConfig`]), and a checkpoint's moves to its run settings.
pub(crate) const FORMAT: &str = "xray-model/2";
/// The first format, read by the migration described at [`FORMAT`].
pub(crate) const FORMAT_1: &str = "xray-model/1";

/// Writes `data` to a temporary file beside `path`, flushes it to disk, then renames it over
/// `path`: readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid("path", path.display(), "a file path"))?
        .to_string_lossy();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp: PathBuf = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(data)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// An [`Error::Model`] for the description or weights at `path`.
pub(crate) fn model_error(path: PathBuf, reason: String) -> Error {
    Error::Model { path, reason }
}

/// Reads a JSON description, naming the file when it is missing, truncated or edited.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        model_error(
            path.to_path_buf(),
            format!("unreadable description (truncated or edited?): {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let err = write_atomic(&dir.path().join("missing/a.json"), b"x").unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
