//! Rebuilding the project's development copy of the dataset from the public Kaggle download.
//!
//! Notebooks and documents quote numbers measured on a "development copy" of the Kaggle set
//! "Chest X-Ray Images (Pneumonia)": the official test and val splits, the official train split
//! less about 9% of its patients, train and test resized to 224x224. The shipped manifest
//! (`data/dev_copy_manifest.txt`, one `SPLIT/CLASS/FILE` per line) names every file it keeps;
//! [`prepare_dev_copy`] reads a download, keeps exactly those files, resizes train and test with
//! PIL's BILINEAR filter ([`resize_with`], bit for bit Pillow's) and writes them as RGB JPEG at
//! quality 75 with 4:2:0 chroma (Pillow's defaults, whose tables the copy's files carry); val is
//! copied as published. `tools/match_dev_copy_resize.py` chose that method; `data/README.md`
//! says how close the result comes to the copy (not bit for bit: no tested resize is).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::dataset::patient_id;
use crate::error::{Error, Result};
use crate::imread::decode_gray;
use crate::resize::{resize_with, Interpolation};

/// The (height, width) of the copy's train and test files.
pub const SIZE: (usize, usize) = (224, 224);

/// The JPEG quality of the copy's train and test files (their quantisation tables are libjpeg's
/// standard tables scaled for this quality).
pub const QUALITY: u8 = 75;

/// The resize that comes closest to the copy (see `data/README.md`).
pub const INTERPOLATION: Interpolation = Interpolation::Bilinear;

/// The class folders a manifest may name.
pub const CLASSES: [&str; 2] = ["NORMAL", "PNEUMONIA"];

/// How many missing files a refusal names.
const MISSING_NAMED: usize = 5;

/// A split of the dataset, as the manifest and the download's folders name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    /// `train/`: resized.
    Train,
    /// `test/`: resized.
    Test,
    /// `val/`: copied as published.
    Val,
}

impl Split {
    /// Every split, in the dataset's order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Test, Split::Val];

    /// The folder name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
            Split::Val => "val",
        }
    }

    /// Whether the copy resizes this split's files (train and test) or keeps them (val).
    pub fn is_resized(self) -> bool {
        self != Split::Val
    }

    fn parse(name: &str) -> Option<Split> {
        Split::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One file the copy keeps: `SPLIT/CLASS/FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Its split.
    pub split: Split,
    /// Its class folder, one of [`CLASSES`].
    pub class: &'static str,
    /// Its file name.
    pub file: String,
}

impl ManifestEntry {
    /// The path relative to the dataset root, `split/class/file`.
    pub fn relative_path(&self) -> PathBuf {
        Path::new(self.split.name())
            .join(self.class)
            .join(&self.file)
    }
}

impl fmt::Display for ManifestEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.split, self.class, self.file)
    }
}

/// The files of the development copy, in the manifest's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// One entry per file.
    pub entries: Vec<ManifestEntry>,
}

/// The images per split and class of the Kaggle download (Kermany et al.'s data as published on
/// Kaggle, `chest_xray/`), to recognise it.
const KAGGLE_COUNTS: [(Split, [usize; 2]); 3] = [
    (Split::Train, [1341, 3875]),
    (Split::Test, [234, 390]),
    (Split::Val, [8, 8]),
];

// Defined here rather than in `dataset`, which the copy's manifest builds on: this module knows
// the development copy, so it is the one that can recognise it.
impl crate::dataset::DataDir {
    /// Which data this is and how many images each split holds, without a machine path, for a
    /// notebook's first output: "the development copy (the Kaggle download resized to 224 x 224,
    /// data/dev_copy_manifest.txt): train 1,082 NORMAL + 3,678 PNEUMONIA; ...". The development
    /// copy and the Kaggle download are recognised by their counts per split and class; any
    /// other folder is "a dataset of your own".
    pub fn describe(&self) -> Result<String> {
        let counts = self.split_counts()?;
        let name = match self.kind_from(&counts) {
            DatasetKind::Sample => "the shipped sample (data/sample/chest_xray)",
            DatasetKind::DevelopmentCopy => {
                "the development copy (the Kaggle download resized to 224 x 224, data/dev_copy_manifest.txt)"
            }
            DatasetKind::KaggleDownload => "the Kaggle download (original resolution)",
            DatasetKind::Own => "a dataset of your own",
        };
        let splits: Vec<String> = counts
            .iter()
            .map(|(split, names, n)| {
                let parts: Vec<String> = names
                    .iter()
                    .zip(n)
                    .map(|(c, k)| format!("{k} {c}"))
                    .collect();
                format!("{split} {}", parts.join(" + "))
            })
            .collect();
        Ok(format!("{name}: {}", splits.join("; ")))
    }

    /// Which dataset this is: the shipped sample, the development copy, the Kaggle download
    /// (both recognised by their counts per split and class) or one of the user's own.
    pub fn kind(&self) -> Result<DatasetKind> {
        Ok(self.kind_from(&self.split_counts()?))
    }

    /// The class names and image counts of each split present.
    fn split_counts(&self) -> Result<SplitCounts> {
        let mut counts = Vec::new();
        for split in Split::ALL {
            let dir = self.split(split.name());
            if !dir.is_dir() {
                continue;
            }
            let scan = crate::dataset::scan_classes(&dir, None, false)?;
            counts.push((split, scan.class_names.clone(), scan.counts()));
        }
        Ok(counts)
    }

    fn kind_from(&self, counts: &SplitCounts) -> DatasetKind {
        let two_classes = |split: Split| {
            counts
                .iter()
                .find(|(s, names, _)| *s == split && names.as_slice() == CLASSES)
                .map(|(_, _, n)| [n[0], n[1]])
        };
        let manifest = Manifest::shipped();
        let matches = |expected: &dyn Fn(Split) -> [usize; 2]| {
            [Split::Train, Split::Test]
                .into_iter()
                .all(|split| two_classes(split) == Some(expected(split)))
        };
        if self.source == crate::dataset::DataSource::Sample {
            DatasetKind::Sample
        } else if matches(&|split| {
            [
                manifest.count(split, CLASSES[0]),
                manifest.count(split, CLASSES[1]),
            ]
        }) {
            DatasetKind::DevelopmentCopy
        } else if matches(&|split| {
            KAGGLE_COUNTS
                .iter()
                .find(|(s, _)| *s == split)
                .map_or([0, 0], |(_, n)| *n)
        }) {
            DatasetKind::KaggleDownload
        } else {
            DatasetKind::Own
        }
    }
}

/// Each split present with its class names and their image counts.
type SplitCounts = Vec<(Split, Vec<String>, Vec<usize>)>;

/// Which dataset a [`DataDir`](crate::dataset::DataDir) holds (see its `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// The small sample shipped in `data/sample/chest_xray`.
    Sample,
    /// The development copy: the Kaggle download at 224 x 224, as `data/dev_copy_manifest.txt`
    /// lists it (what the shipped model was trained on and the notebooks' outputs come from).
    DevelopmentCopy,
    /// The Kaggle download at its original resolution.
    KaggleDownload,
    /// Any other labelled folder.
    Own,
}

/// The shipped manifest, `data/dev_copy_manifest.txt`, built in so that tools need no path.
const SHIPPED: &str = include_str!("../../data/dev_copy_manifest.txt");

impl Manifest {
    /// The shipped manifest of the development copy (`data/dev_copy_manifest.txt`).
    pub fn shipped() -> Manifest {
        Manifest::parse(SHIPPED, Path::new("data/dev_copy_manifest.txt"))
            .expect("the shipped manifest parses (checked by tests/dev_copy.rs)")
    }

    /// Reads a manifest file (see [`Manifest::parse`]).
    pub fn read(path: impl AsRef<Path>) -> Result<Manifest> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Manifest::parse(&text, path)
    }

    /// Parses a manifest: one `SPLIT/CLASS/FILE` per line, blank lines and `#` comments skipped;
    /// `path` only names the source in errors. A bad or repeated line is an error.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: String| Error::ManifestLine {
                path: path.to_path_buf(),
                line: index + 1,
                reason,
            };
            let entry = parse_entry(line).map_err(bad)?;
            if !seen.insert(entry.to_string()) {
                return Err(bad(format!("'{line}' is listed twice")));
            }
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err(Error::ManifestLine {
                path: path.to_path_buf(),
                line: 0,
                reason: "no files listed".into(),
            });
        }
        Ok(Manifest { entries })
    }

    /// How many files the manifest lists.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it lists none (a parsed manifest never is).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many files of `split` and `class` it lists.
    pub fn count(&self, split: Split, class: &str) -> usize {
        self.of(split, class).count()
    }

    /// How many patients those files show (names without a patient id count as their own).
    pub fn patients(&self, split: Split, class: &str) -> usize {
        self.of(split, class)
            .map(|e| patient_id(&e.file).unwrap_or_else(|| e.file.clone()))
            .collect::<HashSet<_>>()
            .len()
    }

    fn of<'a>(&'a self, split: Split, class: &'a str) -> impl Iterator<Item = &'a ManifestEntry> {
        self.entries
            .iter()
            .filter(move |e| e.split == split && e.class == class)
    }
}

/// One manifest line as an entry, or why it is not one.
fn parse_entry(line: &str) -> std::result::Result<ManifestEntry, String> {
    let parts: Vec<&str> = line.split('/').collect();
    let [split, class, file] = parts[..] else {
        return Err(format!("'{line}' is not SPLIT/CLASS/FILE"));
    };
    let split = Split::parse(split)
        .ok_or_else(|| format!("'{line}': split '{split}' is not train, test or val"))?;
    let class = CLASSES
        .into_iter()
        .find(|c| *c == class)
        .ok_or_else(|| format!("'{line}': class '{class}' is not {}", CLASSES.join(" or ")))?;
    // A file name that could leave its folder, or hide, is never a dataset file.
    if file.is_empty() || file.starts_with('.') || file.contains('\\') {
        return Err(format!("'{line}': '{file}' is not a plain file name"));
    }
    Ok(ManifestEntry {
        split,
        class,
        file: file.to_string(),
    })
}

/// What [`prepare_dev_copy`] did.
#[derive(Debug)]
pub struct DevCopyReport {
    /// The download folder the files came from (the one holding `train/`, `test/`, `val/`).
    pub source: PathBuf,
    /// The folder written.
    pub out: PathBuf,
    /// Files written per (split, class).
    pub written: BTreeMap<(Split, &'static str), usize>,
    /// Files present in the download's class folders but not in the manifest, relative to
    /// `source` (left out of the copy), sorted.
    pub not_in_manifest: Vec<PathBuf>,
    /// Wall-clock time of the whole rebuild.
    pub elapsed: Duration,
}

impl DevCopyReport {
    /// Files written in all.
    pub fn total(&self) -> usize {
        self.written.values().sum()
    }
}

impl fmt::Display for DevCopyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wrote {} files to {} from {} in {:.1} s",
            self.total(),
            self.out.display(),
            self.source.display(),
            self.elapsed.as_secs_f64()
        )?;
        for ((split, class), n) in &self.written {
            let what = if split.is_resized() {
                format!("resized to {}x{}", SIZE.0, SIZE.1)
            } else {
                "copied".into()
            };
            write!(f, "\n  {split}/{class}: {n} ({what})")?;
        }
        let extra = self.not_in_manifest.len();
        if extra > 0 {
            let first: Vec<String> = self
                .not_in_manifest
                .iter()
                .take(3)
                .map(|p| p.display().to_string())
                .collect();
            write!(
                f,
                "\n{extra} files of the download are not in the manifest and were left out \
                 (e.g. {})",
                first.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The folders of a download that may hold `train/`, `test/` and `val/`: the download itself,
/// its `chest_xray/`, and the `chest_xray/chest_xray/` the Kaggle zip nests inside that
/// (`__MACOSX/` holds only resource forks and is never looked at).
fn candidate_roots(download: &Path) -> Vec<PathBuf> {
    let nested = download.join("chest_xray");
    [download.to_path_buf(), nested.join("chest_xray"), nested]
        .into_iter()
        .filter(|root| Split::ALL.iter().any(|s| root.join(s.name()).is_dir()))
        .collect()
}

/// Finds the download folder that holds every manifest file, or refuses with
/// [`Error::MissingFromDownload`] naming the closest one; reads nothing but directory entries.
pub fn find_source(download: &Path, manifest: &Manifest) -> Result<PathBuf> {
    let roots = candidate_roots(download);
    if roots.is_empty() {
        return Err(Error::MissingDir {
            path: download.to_path_buf(),
            expected: "a Kaggle download holding chest_xray/{train,test,val}/ (or those folders)"
                .into(),
        });
    }
    let mut best: Option<(PathBuf, Vec<&ManifestEntry>)> = None;
    for root in roots {
        let missing: Vec<&ManifestEntry> = manifest
            .entries
            .iter()
            .filter(|e| !root.join(e.relative_path()).is_file())
            .collect();
        if missing.is_empty() {
            return Ok(root);
        }
        if best.as_ref().is_none_or(|(_, m)| missing.len() < m.len()) {
            best = Some((root, missing));
        }
    }
    let (root, missing) = best.expect("at least one candidate folder was searched");
    Err(Error::MissingFromDownload {
        root,
        missing: missing.len(),
        total: manifest.len(),
        first: missing
            .iter()
            .take(MISSING_NAMED)
            .map(|e| e.to_string())
            .collect(),
    })
}

/// Files in `source`'s split/class folders that the manifest does not list, relative, sorted.
fn not_in_manifest(source: &Path, manifest: &Manifest) -> Result<Vec<PathBuf>> {
    let listed: HashSet<PathBuf> = manifest.entries.iter().map(|e| e.relative_path()).collect();
    let hidden = |name: &std::ffi::OsStr| name.to_string_lossy().starts_with('.');
    let mut extra = Vec::new();
    for split in Split::ALL {
        let split_dir = source.join(split.name());
        if !split_dir.is_dir() {
            continue;
        }
        for class_dir in read_dir(&split_dir)? {
            if !class_dir.is_dir() || class_dir.file_name().is_none_or(hidden) {
                continue;
            }
            for file in read_dir(&class_dir)? {
                if !file.is_file() || file.file_name().is_none_or(hidden) {
                    continue;
                }
                let relative = file.strip_prefix(source).unwrap_or(&file).to_path_buf();
                if !listed.contains(&relative) {
                    extra.push(relative);
                }
            }
        }
    }
    extra.sort();
    Ok(extra)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect()
}

/// Rebuilds the development copy in `out` from a Kaggle download and the copy's manifest.
///
/// `download` is the unpacked download: a folder holding `chest_xray/{train,test,val}/`, the
/// doubly nested `chest_xray/chest_xray/...` of the Kaggle zip, or those split folders
/// themselves. Before writing anything it checks that the download holds every manifest file
/// (else [`Error::MissingFromDownload`]) and that `out` is absent or empty. Then it writes
/// exactly the manifest's files: train and test resized to [`SIZE`] with [`INTERPOLATION`] and
/// encoded as RGB JPEG at [`QUALITY`], val copied byte for byte. Download files the manifest
/// does not list are counted in the report and left out.
pub fn prepare_dev_copy(
    download: impl AsRef<Path>,
    manifest: &Manifest,
    out: impl AsRef<Path>,
) -> Result<DevCopyReport> {
    let start = Instant::now();
    let (download, out) = (download.as_ref(), out.as_ref());
    let source = find_source(download, manifest)?;
    check_empty_output(out)?;
    let not_in_manifest = not_in_manifest(&source, manifest)?;
    let mut written = BTreeMap::new();
    for entry in &manifest.entries {
        *written.entry((entry.split, entry.class)).or_insert(0) += 1;
    }
    for (split, class) in written.keys() {
        let dir = out.join(split.name()).join(class);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    manifest
        .entries
        .par_iter()
        .try_for_each(|entry| rebuild_file(&source, out, entry))?;
    Ok(DevCopyReport {
        source,
        out: out.to_path_buf(),
        written,
        not_in_manifest,
        elapsed: start.elapsed(),
    })
}

/// [`prepare_dev_copy`] with the manifest read from a file.
pub fn prepare_dev_copy_from(
    download: impl AsRef<Path>,
    manifest: impl AsRef<Path>,
    out: impl AsRef<Path>,
) -> Result<DevCopyReport> {
    prepare_dev_copy(download, &Manifest::read(manifest)?, out)
}

/// Refuses an output folder that already holds something: the rebuild must be exactly the
/// manifest's files, and must never mix with (or overwrite) an earlier copy.
fn check_empty_output(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    let not_empty = !out.is_dir()
        || std::fs::read_dir(out)
            .map_err(|e| Error::io(out, e))?
            .next()
            .is_some();
    if not_empty {
        return Err(Error::invalid(
            "output folder",
            out.display(),
            "a folder that does not exist yet, or an empty one (delete the old copy first)",
        ));
    }
    Ok(())
}

/// Writes one manifest file into `out`: resized and re-encoded, or copied.
fn rebuild_file(source: &Path, out: &Path, entry: &ManifestEntry) -> Result<()> {
    let relative = entry.relative_path();
    let (from, to) = (source.join(&relative), out.join(&relative));
    if !entry.split.is_resized() {
        std::fs::copy(&from, &to).map_err(|e| Error::io(&to, e))?;
        return Ok(());
    }
    let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
    let jpeg = resize_to_copy(&bytes, &from)?;
    std::fs::write(&to, jpeg).map_err(|e| Error::io(&to, e))
}

/// The copy's version of one original image (any format [`decode_gray`] reads): grey,
/// resized to [`SIZE`] with [`INTERPOLATION`], as an RGB JPEG at [`QUALITY`]. `path` only
/// names the source in errors.
pub fn resize_to_copy(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let grey = decode_like_pillow(bytes, path)?;
    let small = resize_with(grey.view(), SIZE, INTERPOLATION)?;
    encode_jpeg(small.view(), path)
}

/// Grey pixels as Pillow's `Image.open(f).convert("L")` gives them. JPEGs go through
/// libjpeg-turbo, as in Pillow: the `image` crate's decoder differs by one grey level here and
/// there, and after the resize such a difference can flip a quantised coefficient of the output
/// (several grey levels over a block). Other files, and JPEGs libjpeg refuses, go through
/// [`decode_gray`], which also reports errors.
#[cfg(feature = "scaled-jpeg")]
fn decode_like_pillow(bytes: &[u8], path: &Path) -> Result<Array2<u8>> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        crate::imread::check_jpeg_complete(bytes, path)?;
        if let Some(grey) = libjpeg_grey(bytes) {
            return Ok(grey);
        }
    }
    decode_gray(bytes, path)
}

/// Without the `scaled-jpeg` feature: the `image` crate's decoder (see the other version).
#[cfg(not(feature = "scaled-jpeg"))]
fn decode_like_pillow(bytes: &[u8], path: &Path) -> Result<Array2<u8>> {
    decode_gray(bytes, path)
}

/// A full-size libjpeg decode to grey: grey files as stored, YCbCr files to RGB then Pillow's
/// fixed-point luma; `None` for anything else or whatever libjpeg refuses.
#[cfg(feature = "scaled-jpeg")]
fn libjpeg_grey(bytes: &[u8]) -> Option<Array2<u8>> {
    use mozjpeg::ColorSpace;
    // libjpeg's errors unwind out of its callback (see scaled_decode.rs): any unwind here
    // means "not for this path", and the caller's fallback reports the real error.
    std::panic::catch_unwind(|| {
        let decoder = mozjpeg::Decompress::new_mem(bytes).ok()?;
        let (width, height) = decoder.size();
        let pixels = (width as u64) * (height as u64);
        if pixels == 0 || pixels > crate::imread::MAX_PIXELS {
            return None;
        }
        let grey: Vec<u8> = match decoder.color_space() {
            ColorSpace::JCS_GRAYSCALE => {
                let mut started = decoder.grayscale().ok()?;
                let grey = started.read_scanlines().ok()?;
                started.finish().ok()?;
                grey
            }
            ColorSpace::JCS_YCbCr | ColorSpace::JCS_RGB => {
                let mut started = decoder.rgb().ok()?;
                let rgb: Vec<[u8; 3]> = started.read_scanlines().ok()?;
                started.finish().ok()?;
                rgb.into_iter().map(pillow_luma).collect()
            }
            _ => return None,
        };
        Array2::from_shape_vec((height, width), grey).ok()
    })
    .ok()
    .flatten()
}

/// Pillow's RGB to 'L': `(19595 R + 38470 G + 7471 B + 0x8000) >> 16` (its `L24` macro).
#[cfg(feature = "scaled-jpeg")]
fn pillow_luma([r, g, b]: [u8; 3]) -> u8 {
    let sum = 19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 0x8000;
    (sum >> 16) as u8
}

/// Grey pixels as an RGB JPEG (R = G = B) at [`QUALITY`], 4:2:0 chroma, standard Huffman
/// tables: libjpeg-turbo's defaults, as Pillow writes them, through the `mozjpeg` crate in its
/// libjpeg-turbo mode. `path` names the source in errors.
#[cfg(feature = "scaled-jpeg")]
fn encode_jpeg(grey: ArrayView2<u8>, path: &Path) -> Result<Vec<u8>> {
    let (h, w) = grey.dim();
    let rgb: Vec<u8> = grey.iter().flat_map(|&v| [v, v, v]).collect();
    // libjpeg signals errors by unwinding out of its callback (see scaled_decode.rs); an
    // in-memory encode of a valid buffer should never fail, but if it does it is an error here.
    let encoded = std::panic::catch_unwind(|| -> std::io::Result<Vec<u8>> {
        let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        // libjpeg-turbo's defaults: Annex K tables, no trellis, no progressive scans.
        compress.set_fastest_defaults();
        compress.set_size(w, h);
        compress.set_quality(f32::from(QUALITY));
        compress.set_optimize_coding(false);
        compress.set_chroma_sampling_pixel_sizes((2, 2), (2, 2));
        let mut started = compress.start_compress(Vec::new())?;
        started.write_scanlines(&rgb)?;
        started.finish()
    });
    match encoded {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(Error::io(path, e)),
        Err(_) => Err(Error::Decode {
            path: path.to_path_buf(),
            reason: "libjpeg could not encode the resized image".into(),
        }),
    }
}

/// Grey pixels as an RGB JPEG at [`QUALITY`] through the `image` crate (without the
/// `scaled-jpeg` feature): the same quantisation tables, but 4:4:4 chroma and its own rounding,
/// so files differ slightly from the libjpeg encoding. `path` names the source in errors.
#[cfg(not(feature = "scaled-jpeg"))]
fn encode_jpeg(grey: ArrayView2<u8>, path: &Path) -> Result<Vec<u8>> {
    use image::codecs::jpeg::JpegEncoder;
    let (h, w) = grey.dim();
    let rgb: Vec<u8> = grey.iter().flat_map(|&v| [v, v, v]).collect();
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, QUALITY)
        .encode(&rgb, w as u32, h as u32, image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::Decode {
            path: path.to_path_buf(),
            reason: format!("cannot encode the resized image: {e}"),
        })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_skips_comments() {
        let text =
            "# header\n\ntrain/NORMAL/IM-0001-0001.jpeg\n  val/PNEUMONIA/person1_virus_6.jpeg\n";
        let m = Manifest::parse(text, Path::new("m.txt")).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m.entries[0].split, Split::Train);
        assert_eq!(m.entries[1].class, "PNEUMONIA");
        assert_eq!(
            m.entries[1].relative_path(),
            Path::new("val/PNEUMONIA/person1_virus_6.jpeg")
        );
        assert_eq!(m.count(Split::Train, "NORMAL"), 1);
        assert_eq!(m.patients(Split::Val, "PNEUMONIA"), 1);
    }

    #[test]
    fn refuses_bad_and_repeated_lines_with_their_line_number() {
        for (text, needle) in [
            ("train/NORMAL/a.jpeg\ntrain/NORMAL/a.jpeg\n", "twice"),
            ("#\nvalid/NORMAL/a.jpeg\n", "split 'valid'"),
            ("#\ntrain/COVID/a.jpeg\n", "class 'COVID'"),
            ("#\ntrain/NORMAL\n", "not SPLIT/CLASS/FILE"),
            ("#\ntrain/NORMAL/x/a.jpeg\n", "not SPLIT/CLASS/FILE"),
            ("#\ntrain/NORMAL/..\n", "plain file name"),
            ("# only comments\n", "no files"),
        ] {
            let err = Manifest::parse(text, Path::new("m.txt")).unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, Error::ManifestLine { .. }), "{message}");
            assert!(message.contains(needle), "{message}");
        }
        let err = Manifest::parse("#\n#\ntrain/X/a\n", Path::new("m.txt")).unwrap_err();
        assert!(err.to_string().starts_with("m.txt:3:"), "{err}");
    }

    #[test]
    fn encodes_grey_as_a_decodable_rgb_jpeg_of_the_right_size() {
        let grey = ndarray::Array2::from_shape_fn(SIZE, |(r, c)| ((r * 3 + c) % 256) as u8);
        let bytes = encode_jpeg(grey.view(), Path::new("x")).unwrap();
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!((decoded.height(), decoded.width()), (224, 224));
        assert_eq!(decoded.color(), image::ColorType::Rgb8);
        let back = decode_gray(&bytes, Path::new("x")).unwrap();
        let mad = back
            .iter()
            .zip(grey.iter())
            .map(|(&a, &b)| f64::from(a.abs_diff(b)))
            .sum::<f64>()
            / grey.len() as f64;
        assert!(mad < 3.0, "mean abs difference {mad}");
    }
}
