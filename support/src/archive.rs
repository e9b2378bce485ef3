//! Prediction over archives too big for one machine: a lazy walk of a folder's images
//! ([`ImageWalk`]), a deterministic share of them by patient ([`Shard`]) so that N machines
//! split an archive under any scheduler (Slurm array jobs, Kubernetes indexed Jobs, GNU
//! parallel), and predictions made a chunk at a time ([`predict_stream`]), so memory stays
//! flat whatever the folder's size.

use std::fmt;
use std::fs::ReadDir;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::dataset::{is_image_name, patient_id};
use crate::ensemble::Ensemble;
use crate::error::{Error, Result};

/// Images per call to the model in [`predict_stream`]: enough for the batch kernels to run at
/// full speed, few enough that memory does not grow with the archive.
pub const STREAM_CHUNK: usize = 256;

/// Share `index` of `count` (`K/N`, `K` counted from 0 as Slurm's `SLURM_ARRAY_TASK_ID` with
/// `--array=0-(N-1)` and Kubernetes' `JOB_COMPLETION_INDEX` count): the files whose patient
/// hashes to `index`. Every image of one patient lands in the same share, and the `N` shares
/// of a folder partition it exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Share `index` of `count`; refused unless `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Shard> {
        if count == 0 || index >= count {
            return Err(Error::invalid(
                "shard",
                format!("{index}/{count}"),
                "K/N with N at least 1 and K from 0 to N-1",
            ));
        }
        Ok(Shard { index, count })
    }

    /// The whole archive (`0/1`).
    pub fn all() -> Shard {
        Shard { index: 0, count: 1 }
    }

    /// Whether `path` belongs to this share: by its patient id, or by its file name when the
    /// name carries no patient (such files are their own patient).
    pub fn contains(&self, path: &Path) -> bool {
        if self.count == 1 {
            return true;
        }
        let key = patient_id(path).unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        (fnv1a(key.as_bytes()) % self.count as u64) as usize == self.index
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// Reads `K/N`, e.g. `0/4`.
    fn from_str(s: &str) -> Result<Shard> {
        let bad = || Error::invalid("shard", s, "K/N, e.g. 0/4 for the first of four shares");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k = k.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Shard::new(k, n)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// FNV-1a over bytes: a fixed hash, so a share is the same on every machine and every run
/// (the standard library's hasher is seeded per process).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The image files under a folder (recursively; hidden and non-image files skipped), read one
/// directory entry at a time: only the open directories' handles are held, never the listing.
/// The order is the file system's, the same from run to run on one unchanged folder.
pub struct ImageWalk {
    stack: Vec<(PathBuf, ReadDir)>,
}

impl ImageWalk {
    /// Starts a walk of `dir`; refused when it is not a readable folder.
    pub fn new(dir: impl AsRef<Path>) -> Result<ImageWalk> {
        let dir = dir.as_ref();
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        Ok(ImageWalk {
            stack: vec![(dir.to_path_buf(), entries)],
        })
    }
}

impl Iterator for ImageWalk {
    type Item = Result<PathBuf>;

    fn next(&mut self) -> Option<Result<PathBuf>> {
        loop {
            let (dir, entries) = self.stack.last_mut()?;
            let Some(entry) = entries.next() else {
                self.stack.pop();
                continue;
            };
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => return Some(Err(Error::io(dir.clone(), e))),
            };
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            // Symlinked folders are not entered: a link loop would never end.
            match entry.file_type() {
                Ok(kind) if kind.is_dir() && !hidden => match std::fs::read_dir(&path) {
                    Ok(inner) => self.stack.push((path, inner)),
                    Err(e) => return Some(Err(Error::io(path, e))),
                },
                Ok(_) if is_image_name(&path) => return Some(Ok(path)),
                Ok(_) => {}
                Err(e) => return Some(Err(Error::io(path, e))),
            }
        }
    }
}

/// One image's outcome in [`predict_stream`]: its class probabilities (in the model's class
/// order), or why it could not be read.
pub type Outcome = (PathBuf, Result<Vec<f32>>);

/// Predicts every file of `files` that lies in `shard`, [`STREAM_CHUNK`] images at a time,
/// handing each outcome to `each` as soon as its chunk is done (in input order). A file that
/// cannot be read is reported through `each` and does not stop the stream; an error of the
/// walk itself (an unreadable folder) stops it. Returns how many files were predicted.
pub fn predict_stream(
    ensemble: &Ensemble,
    files: impl IntoIterator<Item = Result<PathBuf>>,
    shard: Shard,
    tta: usize,
    mut each: impl FnMut(Outcome) -> Result<()>,
) -> Result<usize> {
    let mut chunk = Vec::with_capacity(STREAM_CHUNK);
    let mut done = 0;
    let mut flush = |chunk: &mut Vec<PathBuf>| -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let results = ensemble.predict_files_classes(chunk, tta)?;
        for (path, result) in chunk.drain(..).zip(results) {
            each((path, result))?;
            done += 1;
        }
        Ok(())
    };
    for file in files {
        let file = file?;
        if shard.contains(&file) {
            chunk.push(file);
            if chunk.len() == STREAM_CHUNK {
                flush(&mut chunk)?;
            }
        }
    }
    flush(&mut chunk)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_what_is_not_k_of_n() {
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard::new(2, 4).unwrap());
        assert_eq!(Shard::new(2, 4).unwrap().to_string(), "2/4");
        for bad in ["4/4", "1/0", "a/4", "3", "-1/4", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_partition_files_and_keep_patients_together() {
        let names: Vec<PathBuf> = (0..300)
            .flat_map(|p| {
                [
                    PathBuf::from(format!("PNEUMONIA/person{p}_bacteria_{}.jpeg", p * 3)),
                    PathBuf::from(format!("PNEUMONIA/person{p}_virus_{}.jpeg", p * 3 + 1)),
                    PathBuf::from(format!("NORMAL/IM-{p:04}-0001.jpeg")),
                    PathBuf::from(format!("NORMAL/scan_{p}.png")),
                ]
            })
            .collect();
        for n in [1, 2, 3, 7] {
            let shards: Vec<Shard> = (0..n).map(|k| Shard::new(k, n).unwrap()).collect();
            let mut sizes = vec![0; n];
            for name in &names {
                let owners: Vec<usize> = (0..n).filter(|&k| shards[k].contains(name)).collect();
                assert_eq!(
                    owners.len(),
                    1,
                    "{} in shards {owners:?} of {n}",
                    name.display()
                );
                sizes[owners[0]] += 1;
                if let Some(id) = patient_id(name) {
                    let twin = PathBuf::from(format!("elsewhere/{id}-0009.jpeg"));
                    assert!(
                        shards[owners[0]].contains(&twin),
                        "{id} split across shards"
                    );
                }
            }
            // A hash spreads 900 patients about evenly.
            let expected = names.len() / n;
            assert!(sizes.iter().all(|&s| s > expected / 2), "{sizes:?}");
        }
    }

    #[test]
    fn the_walk_finds_every_image_once_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["a", "a/b", ".hidden", "c"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        for file in [
            "x.jpeg",
            "a/y.JPG",
            "a/b/z.png",
            "a/notes.txt",
            ".hidden/h.jpeg",
            "a/.dot.jpeg",
        ] {
            std::fs::write(root.join(file), b"").unwrap();
        }
        let mut found: Vec<PathBuf> = ImageWalk::new(root)
            .unwrap()
            .map(|p| p.unwrap().strip_prefix(root).unwrap().to_path_buf())
            .collect();
        found.sort();
        let want: Vec<PathBuf> = ["a/b/z.png", "a/y.JPG", "x.jpeg"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(found, want);
        assert!(ImageWalk::new(root.join("missing")).is_err());
    }
}
