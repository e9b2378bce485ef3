//! Where the images are: the data folder, its splits and classes, and image files in sorted order.
//!
//! Folder scans behave like Keras's `flow_from_directory`: hidden files (`.DS_Store`) and files
//! whose extension is not an image format are skipped, class names are the sorted subfolder
//! names, and files come in a stable sorted order.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Environment variable that points at the dataset root (the folder holding `train/`, `test/`, `val/`).
pub const DATA_ENV: &str = "XRAY_DATA";

/// File extensions Keras accepts as images (lower case, compared case-insensitively).
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff"];

/// Which dataset a [`DataDir`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataSource {
    /// Chosen by the `XRAY_DATA` environment variable.
    Environment,
    /// The full dataset unpacked under the project's `data/chest_xray/`.
    Full,
    /// The small sample shipped in the project's `data/sample/chest_xray/`.
    Sample,
}

/// The dataset root in use, and where the choice came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    /// Folder holding the splits (`train/`, `test/`, `val/`).
    pub path: PathBuf,
    /// Why this folder was chosen.
    pub source: DataSource,
}

impl DataDir {
    /// The folder of one split, e.g. `split("train")`.
    pub fn split(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Shows where the data is without the machine's absolute paths (notebook outputs are
/// committed): `$XRAY_DATA`, or the path relative to the project.
impl std::fmt::Display for DataDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let root = project_root();
        let relative = self.path.strip_prefix(&root).unwrap_or(&self.path);
        match self.source {
            DataSource::Environment => write!(f, "$XRAY_DATA (the folder that variable names)"),
            DataSource::Full => write!(f, "{} (the full dataset)", relative.display()),
            DataSource::Sample => write!(
                f,
                "{} (the shipped sample; see data/README.md for the full dataset)",
                relative.display()
            ),
        }
    }
}

/// The project's root folder (the workspace holding `data/`), found from this crate's manifest.
pub fn project_root() -> PathBuf {
    // `support/` sits one level below the workspace root.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The dataset root: `$XRAY_DATA` if set, else `data/chest_xray/` when the full set is there, else
/// the shipped sample `data/sample/chest_xray/`.
pub fn data_dir() -> Result<DataDir> {
    data_dir_from(
        std::env::var_os(DATA_ENV).map(PathBuf::from),
        &project_root(),
    )
}

/// [`data_dir`] with the environment value and project root given (testable without globals).
pub fn data_dir_from(env: Option<PathBuf>, root: &Path) -> Result<DataDir> {
    if let Some(path) = env.filter(|p| !p.as_os_str().is_empty()) {
        if !path.is_dir() {
            return Err(Error::MissingDir {
                path,
                expected: format!("${DATA_ENV} must name a folder holding train/ and test/"),
            });
        }
        return Ok(DataDir {
            path,
            source: DataSource::Environment,
        });
    }
    let full = root.join("data").join("chest_xray");
    if full.join("train").is_dir() {
        return Ok(DataDir {
            path: full,
            source: DataSource::Full,
        });
    }
    let sample = root.join("data").join("sample").join("chest_xray");
    if sample.is_dir() {
        return Ok(DataDir {
            path: sample,
            source: DataSource::Sample,
        });
    }
    Err(Error::MissingDir {
        path: sample,
        expected: format!("the shipped sample, data/chest_xray/, or ${DATA_ENV}"),
    })
}

/// The names in a folder, sorted, hidden ones included: what Python's `os.listdir` shows.
pub fn list_dir(dir: impl AsRef<Path>) -> Result<Vec<String>> {
    let dir = dir.as_ref();
    let mut names: Vec<String> = read_dir(dir)?
        .into_iter()
        .map(|p| file_name_lossy(&p))
        .collect();
    names.sort();
    Ok(names)
}

/// True for a file name Keras would take as an image: not hidden, with an image extension.
pub fn is_image_name(path: &Path) -> bool {
    let Some(name) = path.file_name() else {
        return false;
    };
    if name.to_string_lossy().starts_with('.') {
        return false;
    }
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

/// The class names of a split folder: its non-hidden subfolders, sorted (Keras's `classes=None`).
pub fn class_names(split_dir: impl AsRef<Path>) -> Result<Vec<String>> {
    let split_dir = split_dir.as_ref();
    require_dir(split_dir, "a split folder such as train/ or test/")?;
    let mut names: Vec<String> = read_dir(split_dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .map(|p| file_name_lossy(&p))
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::NoClasses {
            path: split_dir.to_path_buf(),
        });
    }
    Ok(names)
}

/// The image files under `dir` (recursively, like Keras), sorted by path; hidden and
/// non-image files are skipped. With `follow_links`, symlinked folders are entered once each
/// (a link loop is not followed twice).
pub fn list_images(dir: impl AsRef<Path>, follow_links: bool) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    require_dir(dir, "a folder of images")?;
    let mut files = Vec::new();
    let mut visited = Vec::new();
    walk(dir, follow_links, &mut visited, &mut files)?;
    files.sort();
    Ok(files)
}

fn walk(
    dir: &Path,
    follow_links: bool,
    visited: &mut Vec<PathBuf>,
    files: &mut Vec<PathBuf>,
) -> Result<()> {
    // Canonical paths of the folders entered so far: a symlink loop ends here.
    if let Ok(canonical) = dir.canonicalize() {
        if visited.contains(&canonical) {
            return Ok(());
        }
        visited.push(canonical);
    }
    for path in read_dir(dir)? {
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(_) => continue,
        };
        let is_link = meta.file_type().is_symlink();
        if is_link && !follow_links {
            // Keras skips symlinked folders unless follow_links; symlinked files still count.
            if path.is_file() && is_image_name(&path) {
                files.push(path);
            }
            continue;
        }
        if path.is_dir() {
            if !file_name_lossy(&path).starts_with('.') {
                walk(&path, follow_links, visited, files)?;
            }
        } else if is_image_name(&path) {
            files.push(path);
        }
    }
    Ok(())
}

/// The files and labels of a split: one class per subfolder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassScan {
    /// Class names, sorted; a label is an index into this list.
    pub class_names: Vec<String>,
    /// Image files, grouped by class in class order, sorted within each class.
    pub files: Vec<PathBuf>,
    /// The class index of each file.
    pub labels: Vec<usize>,
}

/// The classes and their image counts: `NORMAL 234, PNEUMONIA 390`.
impl std::fmt::Display for ClassScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .class_names
            .iter()
            .zip(self.counts())
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        write!(f, "{}", parts.join(", "))
    }
}

impl ClassScan {
    /// Class name to index, as Keras's `class_indices`.
    pub fn class_indices(&self) -> BTreeMap<String, usize> {
        self.class_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect()
    }

    /// The same files labelled from `source`. With [`LabelSource::FileName`], a class folder
    /// whose files all name a kind splits into `FOLDER_KIND` classes and one whose files name
    /// none stays as it is (NORMAL). Refused: a folder that mixes both
    /// ([`Error::KindlessFileNames`], with how many files name no kind and the first few), and
    /// a split where no file names a kind ([`Error::NoKindInFileNames`]), whose labels would
    /// be the folders' under the name of file-name labels. Class names come back sorted (as
    /// Keras sorts them), files grouped by class in that order.
    pub fn labelled_by(&self, source: LabelSource) -> Result<ClassScan> {
        if source == LabelSource::Folder {
            return Ok(self.clone());
        }
        if !self.files.is_empty() && !self.files.iter().any(|f| file_name_kind(f).is_some()) {
            // The first file of each class, to show what the names look like.
            let examples = (0..self.class_names.len())
                .filter_map(|class| self.labels.iter().position(|&l| l == class))
                .take(EXAMPLES)
                .map(|i| folder_and_name(&self.files[i]))
                .collect();
            return Err(Error::NoKindInFileNames {
                path: split_folder(&self.files[0]),
                files: self.files.len(),
                examples,
                kinds: kind_parts(),
            });
        }
        let classes = self.kinds_by_file()?;
        Ok(ClassScan::grouped(
            self.files.iter().cloned().zip(classes).collect(),
        ))
    }

    /// Each file's class with the kind its name gives: `FOLDER_KIND` in a folder whose files
    /// all name one, the folder's class in a folder whose files name none; a folder that mixes
    /// both is refused with [`Error::KindlessFileNames`].
    fn kinds_by_file(&self) -> Result<Vec<String>> {
        let kinds: Vec<Option<&str>> = self.files.iter().map(file_name_kind).collect();
        for (label, class) in self.class_names.iter().enumerate() {
            let in_class = || {
                self.files
                    .iter()
                    .zip(&self.labels)
                    .zip(&kinds)
                    .filter(move |((_, &l), _)| l == label)
            };
            let kindless: Vec<&PathBuf> = in_class()
                .filter(|(_, kind)| kind.is_none())
                .map(|((file, _), _)| file)
                .collect();
            let total = in_class().count();
            if !kindless.is_empty() && kindless.len() < total {
                return Err(Error::KindlessFileNames {
                    path: kindless[0]
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                    class: class.clone(),
                    kindless: kindless.len(),
                    files: total,
                    examples: kindless
                        .iter()
                        .take(EXAMPLES)
                        .map(|f| file_name_lossy(f))
                        .collect(),
                    kinds: kind_parts(),
                });
            }
        }
        Ok(self
            .labels
            .iter()
            .zip(&kinds)
            .map(|(&label, kind)| match kind {
                Some(kind) => format!("{}_{kind}", self.class_names[label]),
                None => self.class_names[label].clone(),
            })
            .collect())
    }

    /// A scan of `(file, class)` pairs: classes sorted, files grouped by class in that order
    /// and sorted within it.
    fn grouped(mut pairs: Vec<(PathBuf, String)>) -> ClassScan {
        pairs.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        let mut class_names: Vec<String> = pairs.iter().map(|(_, c)| c.clone()).collect();
        class_names.dedup();
        let labels = pairs
            .iter()
            .map(|(_, c)| class_names.partition_point(|n| n < c))
            .collect();
        ClassScan {
            class_names,
            files: pairs.into_iter().map(|(f, _)| f).collect(),
            labels,
        }
    }

    /// The same files labelled by their class's position in `classes`, looked up by name, and
    /// grouped in that order. Refused with [`Error::ClassMismatch`], naming `folder` and both
    /// lists, unless this scan's classes are exactly `classes` (in any order): a folder of other
    /// classes must not be read by position.
    pub fn matched_to(&self, classes: &[String], folder: &Path) -> Result<ClassScan> {
        let sorted = |names: &[String]| {
            let mut names = names.to_vec();
            names.sort();
            names
        };
        if sorted(&self.class_names) != sorted(classes) {
            return Err(Error::ClassMismatch {
                path: folder.to_path_buf(),
                found: self.class_names.clone(),
                expected: classes.to_vec(),
            });
        }
        let position: Vec<usize> = self
            .class_names
            .iter()
            .map(|name| classes.iter().position(|c| c == name).unwrap_or(0))
            .collect();
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        order.sort_by_key(|&i| position[self.labels[i]]);
        Ok(ClassScan {
            class_names: classes.to_vec(),
            files: order.iter().map(|&i| self.files[i].clone()).collect(),
            labels: order.iter().map(|&i| position[self.labels[i]]).collect(),
        })
    }

    /// How many files each class has, in class order.
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }
}

/// Where each image's class comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelSource {
    /// The subfolder a file is in, as Keras's `flow_from_directory` does: NORMAL, PNEUMONIA.
    #[default]
    Folder,
    /// The subfolder refined by the kind of pneumonia the file name gives:
    /// `PNEUMONIA/person12_bacteria_34.jpeg` is PNEUMONIA_BACTERIA and `..._virus_...` is
    /// PNEUMONIA_VIRUS, while NORMAL stays NORMAL: the tutorial's three classes.
    FileName,
}

/// The kinds a file name can give, as `(part of the name, class suffix)`.
pub const FILE_NAME_KINDS: &[(&str, &str)] = &[("_bacteria_", "BACTERIA"), ("_virus_", "VIRUS")];

/// The kind a file's name gives (`"BACTERIA"` for `person12_bacteria_34.jpeg`), ignoring case.
pub fn file_name_kind(path: impl AsRef<Path>) -> Option<&'static str> {
    let name = path
        .as_ref()
        .file_name()?
        .to_string_lossy()
        .to_ascii_lowercase();
    FILE_NAME_KINDS
        .iter()
        .find(|(part, _)| name.contains(part))
        .map(|&(_, kind)| kind)
}

/// How many files an error about file names shows.
const EXAMPLES: usize = 3;

/// The name parts that give a kind, for messages: `_bacteria_, _virus_`.
fn kind_parts() -> String {
    FILE_NAME_KINDS
        .iter()
        .map(|(part, _)| *part)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `FOLDER/name` of a file, as a message shows it.
fn folder_and_name(file: &Path) -> String {
    match file.parent() {
        Some(folder) => format!("{}/{}", file_name_lossy(folder), file_name_lossy(file)),
        None => file_name_lossy(file),
    }
}

/// The split folder a scanned file is in: the folder above its class folder.
fn split_folder(file: &Path) -> PathBuf {
    file.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Scans a split folder: `classes` picks and orders the class subfolders (`None`: all, sorted).
/// An empty class folder or a split without classes is an error before any work starts.
pub fn scan_classes(
    split_dir: impl AsRef<Path>,
    classes: Option<&[String]>,
    follow_links: bool,
) -> Result<ClassScan> {
    let split_dir = split_dir.as_ref();
    let class_names = match classes {
        Some(c) if !c.is_empty() => c.to_vec(),
        _ => class_names(split_dir)?,
    };
    let mut files = Vec::new();
    let mut labels = Vec::new();
    for (label, class) in class_names.iter().enumerate() {
        let class_dir = split_dir.join(class);
        require_dir(&class_dir, &format!("the class folder {class}/"))?;
        let class_files = list_images(&class_dir, follow_links)?;
        if class_files.is_empty() {
            return Err(Error::EmptyClass {
                path: class_dir,
                class: class.clone(),
            });
        }
        labels.extend(std::iter::repeat_n(label, class_files.len()));
        files.extend(class_files);
    }
    Ok(ClassScan {
        class_names,
        files,
        labels,
    })
}

/// Scans the labelled split folder `split_dir` for a model whose classes are `classes`, read
/// from `source` as it was trained. A class folder named after one of the model's classes is
/// that class whatever its files are called (NORMAL/, or PNEUMONIA_BACTERIA/ of a split already
/// made by kind); the other folders are labelled from `source` (PNEUMONIA/ splits by the kinds
/// its file names give, for a model trained on file-name labels). Labels are the model's class
/// indices, looked up by name ([`ClassScan::matched_to`]); a folder whose classes differ from
/// the model's (other names, a class missing or extra) is refused before any image is read.
pub fn scan_for_model(
    split_dir: impl AsRef<Path>,
    classes: &[String],
    source: LabelSource,
) -> Result<ClassScan> {
    let split_dir = split_dir.as_ref();
    let scan = scan_classes(split_dir, None, false)?;
    let named: Vec<bool> = scan
        .labels
        .iter()
        .map(|&l| classes.contains(&scan.class_names[l]))
        .collect();
    let mut pairs: Vec<(PathBuf, String)> = Vec::with_capacity(scan.files.len());
    let folder_classes = |part: &ClassScan| -> Vec<String> {
        part.labels
            .iter()
            .map(|&l| part.class_names[l].clone())
            .collect()
    };
    let by_folder = scan.subset(&named, true);
    pairs.extend(
        by_folder
            .files
            .iter()
            .cloned()
            .zip(folder_classes(&by_folder)),
    );
    let others = scan.subset(&named, false);
    let other_classes = match source {
        LabelSource::Folder => folder_classes(&others),
        LabelSource::FileName => others.kinds_by_file()?,
    };
    pairs.extend(others.files.into_iter().zip(other_classes));
    ClassScan::grouped(pairs).matched_to(classes, split_dir)
}

/// The patient a file belongs to, from the dataset's naming: the first numeric group after
/// `person` or `IM-`, with the series prefix kept. `person123_bacteria_45.jpeg` -> `person123`,
/// `IM-0115-0001.jpeg` and `IM-0115-0001-0002.jpeg` -> `IM-0115`,
/// `NORMAL2-IM-1258-0001-0001.jpeg` -> `NORMAL2-IM-1258`. Matching ignores case and the
/// extension, and the id comes back in that canonical spelling; a name of another form gives
/// `None`. Several images can share a patient, so validation splits group by this id.
pub fn patient_id(path: impl AsRef<Path>) -> Option<String> {
    let stem = path
        .as_ref()
        .file_stem()?
        .to_string_lossy()
        .to_ascii_lowercase();
    let leading_digits =
        |s: &str| -> String { s.chars().take_while(char::is_ascii_digit).collect() };
    if let Some(rest) = stem.strip_prefix("person") {
        let digits = leading_digits(rest);
        return (!digits.is_empty()).then(|| format!("person{digits}"));
    }
    // `IM-N[-M...]`, or a series prefix such as `NORMAL2-` before it.
    let at = stem.find("im-")?;
    let (prefix, rest) = (&stem[..at], &stem[at + 3..]);
    let prefix_ok = prefix.is_empty()
        || (prefix.ends_with('-')
            && prefix[..prefix.len() - 1]
                .chars()
                .all(|c| c.is_ascii_alphanumeric()));
    let digits = leading_digits(rest);
    let ends_cleanly = matches!(rest[digits.len()..].chars().next(), None | Some('-'));
    (prefix_ok && !digits.is_empty() && ends_cleanly)
        .then(|| format!("{}IM-{digits}", prefix.to_ascii_uppercase()))
}

/// A file's name without its folders, for printing: `.../PNEUMONIA/person1_virus_6.jpeg` ->
/// `person1_virus_6.jpeg` (empty for a path without one).
pub fn file_name(path: impl AsRef<Path>) -> String {
    path.as_ref()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The series a file's name places it in, for subgroup reports: `IM-` and `NORMAL2-IM-` (the
/// dataset's two series of normal X-rays), `bacteria` and `virus` (pneumonia, from the kind in
/// the name), `person` (a pneumonia file without a kind), or `other`.
/// `NORMAL2-IM-1427-0001.jpeg` -> `NORMAL2-IM-`, `person1_virus_6.jpeg` -> `virus`.
pub fn file_series(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    match patient_id(path) {
        Some(id) if id.starts_with("person") => match file_name_kind(path) {
            Some(kind) => kind.to_ascii_lowercase(),
            None => "person".to_string(),
        },
        Some(id) => match id.find("IM-") {
            Some(at) => id[..at + 3].to_string(),
            None => "other".to_string(),
        },
        None => "other".to_string(),
    }
}

/// The number of distinct patients of each class (files without an id count as their own).
pub fn patients_per_class(scan: &ClassScan) -> Vec<usize> {
    let mut seen: Vec<std::collections::HashSet<String>> =
        vec![Default::default(); scan.class_names.len()];
    for (file, &label) in scan.files.iter().zip(&scan.labels) {
        seen[label].insert(patient_key(file));
    }
    seen.iter().map(|s| s.len()).collect()
}

/// The id a split groups by: the patient, or the file itself when its name carries none.
fn patient_key(file: &Path) -> String {
    patient_id(file).unwrap_or_else(|| file.to_string_lossy().into_owned())
}

/// Splits files into (training, validation) by patient: every image of one patient lands on the
/// same side, so validation never sees a patient the model trained on. About `fraction` of each
/// class's patients go to validation, chosen with `seed`. Files without a recognisable patient id
/// count as their own patient.
pub fn split_by_patient(
    scan: &ClassScan,
    fraction: f64,
    seed: u64,
) -> Result<(ClassScan, ClassScan)> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(Error::invalid(
            "validation fraction",
            fraction,
            "a number in [0, 1)",
        ));
    }
    let mut to_validation = vec![false; scan.files.len()];
    for patients in shuffled_patients(scan, seed) {
        let n_val = (patients.len() as f64 * fraction).round() as usize;
        let chosen: std::collections::HashSet<&String> = patients[..n_val].iter().collect();
        for (i, file) in scan.files.iter().enumerate() {
            if chosen.contains(&patient_key(file)) {
                to_validation[i] = true;
            }
        }
    }
    Ok((
        scan.subset(&to_validation, false),
        scan.subset(&to_validation, true),
    ))
}

/// Patient-grouped, class-stratified k-fold splits: each class's patients are shuffled with
/// `seed` and dealt in turn to `k` folds; fold `i` is `(training, validation)` with the
/// patients of fold `i` on the validation side. Every image is validated exactly once, and no
/// patient is on both sides of any fold.
///
/// Refused before any fold is drawn: fewer than 2 folds, or more folds than some class has
/// patients ([`Error::FoldsOverPatients`]), which would leave a fold without that class.
pub fn patient_folds(scan: &ClassScan, k: usize, seed: u64) -> Result<Vec<(ClassScan, ClassScan)>> {
    if k < 2 {
        return Err(Error::invalid("folds", k, "at least 2"));
    }
    // Folds deal patients, not images: a class needs a patient for every fold.
    let patients = patients_per_class(scan);
    if let Some((class, &count)) = scan
        .class_names
        .iter()
        .zip(&patients)
        .find(|(_, &count)| count < k)
    {
        return Err(Error::FoldsOverPatients {
            folds: k,
            class: class.clone(),
            patients: count,
        });
    }
    let mut fold_of: std::collections::HashMap<String, usize> = Default::default();
    for patients in shuffled_patients(scan, seed) {
        for (i, patient) in patients.into_iter().enumerate() {
            fold_of.insert(patient, i % k);
        }
    }
    let folds: Vec<usize> = scan
        .files
        .iter()
        .map(|f| fold_of[&patient_key(f)])
        .collect();
    Ok((0..k)
        .map(|fold| {
            let in_fold: Vec<bool> = folds.iter().map(|&f| f == fold).collect();
            (scan.subset(&in_fold, false), scan.subset(&in_fold, true))
        })
        .collect())
}

/// Each class's patients in first-seen (sorted file) order, shuffled with `seed`, one list per
/// class in class order (one generator across the classes).
fn shuffled_patients(scan: &ClassScan, seed: u64) -> Vec<Vec<String>> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..scan.class_names.len())
        .map(|class| {
            let mut seen = std::collections::HashSet::new();
            let mut patients: Vec<String> = scan
                .files
                .iter()
                .zip(&scan.labels)
                .filter(|(_, &l)| l == class)
                .map(|(file, _)| patient_key(file))
                .filter(|id| seen.insert(id.clone()))
                .collect();
            patients.shuffle(&mut rng);
            patients
        })
        .collect()
}

impl ClassScan {
    /// The files whose entry in `mask` equals `want`, with their labels.
    fn subset(&self, mask: &[bool], want: bool) -> ClassScan {
        let keep = |i: &usize| mask[*i] == want;
        ClassScan {
            class_names: self.class_names.clone(),
            files: (0..self.files.len())
                .filter(keep)
                .map(|i| self.files[i].clone())
                .collect(),
            labels: (0..self.labels.len())
                .filter(keep)
                .map(|i| self.labels[i])
                .collect(),
        }
    }
}

fn require_dir(path: &Path, expected: &str) -> Result<()> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(Error::MissingDir {
            path: path.to_path_buf(),
            expected: expected.to_string(),
        })
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        paths.push(entry.path());
    }
    Ok(paths)
}

fn file_name_lossy(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_series_come_from_the_dataset_naming() {
        for (name, series) in [
            ("NORMAL/IM-0115-0001.jpeg", "IM-"),
            ("NORMAL/NORMAL2-IM-1427-0001.jpeg", "NORMAL2-IM-"),
            ("PNEUMONIA/person1_bacteria_1.jpeg", "bacteria"),
            ("PNEUMONIA/person1_virus_6.jpeg", "virus"),
            ("PNEUMONIA/person7_12.jpeg", "person"),
            ("x/scan.png", "other"),
        ] {
            assert_eq!(file_series(name), series, "{name}");
        }
    }

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"x").unwrap();
    }

    #[test]
    fn file_names_give_the_three_classes() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "NORMAL/IM-0001-0001.jpeg",
            "NORMAL/IM-0002-0001.jpeg",
            "PNEUMONIA/person1_virus_6.jpeg",
            "PNEUMONIA/person2_bacteria_3.jpeg",
            "PNEUMONIA/PERSON3_BACTERIA_9.JPEG",
        ] {
            touch(&dir.path().join(name));
        }
        let folders = scan_classes(dir.path(), None, false).unwrap();
        assert_eq!(folders.labelled_by(LabelSource::Folder).unwrap(), folders);
        let kinds = folders.labelled_by(LabelSource::FileName).unwrap();
        assert_eq!(
            kinds.class_names,
            ["NORMAL", "PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"]
        );
        assert_eq!(kinds.labels, vec![0, 0, 1, 1, 2]);
        let names: Vec<String> = kinds.files.iter().map(|f| file_name_lossy(f)).collect();
        assert_eq!(
            names,
            [
                "IM-0001-0001.jpeg",
                "IM-0002-0001.jpeg",
                "PERSON3_BACTERIA_9.JPEG",
                "person2_bacteria_3.jpeg",
                "person1_virus_6.jpeg"
            ]
        );
        assert_eq!(kinds.counts(), vec![2, 2, 1]);
        assert_eq!(file_name_kind("a/person1_virus_6.jpeg"), Some("VIRUS"));
        assert_eq!(file_name_kind("IM-0001-0001.jpeg"), None);
    }

    #[test]
    fn a_folder_mixing_named_and_unnamed_kinds_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("PNEUMONIA/person1_virus_6.jpeg"));
        touch(&dir.path().join("PNEUMONIA/unknown.jpeg"));
        touch(&dir.path().join("PNEUMONIA/unnamed.jpeg"));
        touch(&dir.path().join("NORMAL/IM-0001-0001.jpeg"));
        let folders = scan_classes(dir.path(), None, false).unwrap();
        let err = folders.labelled_by(LabelSource::FileName).unwrap_err();
        assert!(
            matches!(&err, Error::KindlessFileNames { path, class, kindless: 2, files: 3, examples, .. }
                if path.ends_with("PNEUMONIA") && class == "PNEUMONIA"
                    && examples == &["unknown.jpeg", "unnamed.jpeg"]),
            "{err}"
        );
        assert!(err.to_string().contains("_bacteria_, _virus_"), "{err}");
    }

    #[test]
    fn file_name_labels_without_any_kind_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("NORMAL/IM-0001-0001.jpeg"));
        touch(&dir.path().join("PNEUMONIA/scan1.jpeg"));
        touch(&dir.path().join("PNEUMONIA/scan2.jpeg"));
        let folders = scan_classes(dir.path(), None, false).unwrap();
        let err = folders.labelled_by(LabelSource::FileName).unwrap_err();
        assert!(
            matches!(&err, Error::NoKindInFileNames { path, files: 3, examples, .. }
                if path == dir.path()
                    && examples == &["NORMAL/IM-0001-0001.jpeg", "PNEUMONIA/scan1.jpeg"]),
            "{err}"
        );
        assert!(err.to_string().contains("none of the 3 files"), "{err}");
    }

    #[test]
    fn folders_are_read_for_a_model_by_class_name() {
        let dir = tempfile::tempdir().unwrap();
        let names =
            |classes: &[&str]| -> Vec<String> { classes.iter().map(|c| c.to_string()).collect() };
        for name in [
            "joined/NORMAL/IM-0001-0001.jpeg",
            "joined/PNEUMONIA/person1_virus_6.jpeg",
            "joined/PNEUMONIA/person2_bacteria_3.jpeg",
            "split/NORMAL/IM-0001-0001.jpeg",
            "split/PNEUMONIA_BACTERIA/person2_bacteria_3.jpeg",
            "split/PNEUMONIA_VIRUS/renamed.jpeg",
            "covid/COVID/c.jpeg",
            "covid/NORMAL/n.jpeg",
        ] {
            touch(&dir.path().join(name));
        }
        let three = names(&["NORMAL", "PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"]);
        // Folders named after the classes are the classes, whatever their files are called.
        let split =
            scan_for_model(dir.path().join("split"), &three, LabelSource::FileName).unwrap();
        assert_eq!(split.class_names, three);
        assert_eq!(split.labels, [0, 1, 2]);
        // The others are labelled as the model was trained: PNEUMONIA/ by the file names.
        let joined =
            scan_for_model(dir.path().join("joined"), &three, LabelSource::FileName).unwrap();
        assert_eq!(joined.labels, [0, 1, 2]);
        assert!(joined.files[2].ends_with("person1_virus_6.jpeg"));
        // Labels are the model's positions, looked up by name.
        let reversed = names(&["PNEUMONIA", "NORMAL"]);
        let by_name =
            scan_for_model(dir.path().join("joined"), &reversed, LabelSource::Folder).unwrap();
        assert_eq!(by_name.class_names, reversed);
        assert_eq!(by_name.labels, [0, 0, 1]);
        assert!(by_name.files[2].ends_with("IM-0001-0001.jpeg"));
        // Other classes, or a class missing, are refused naming both lists.
        let two = names(&["NORMAL", "PNEUMONIA"]);
        let err = scan_for_model(dir.path().join("covid"), &two, LabelSource::Folder).unwrap_err();
        assert!(
            matches!(&err, Error::ClassMismatch { found, expected, .. }
                if *found == names(&["COVID", "NORMAL"]) && *expected == two),
            "{err}"
        );
        assert!(err.to_string().contains("missing PNEUMONIA"), "{err}");
        assert!(scan_for_model(dir.path().join("split"), &two, LabelSource::Folder).is_err());
    }

    #[test]
    fn patient_ids_follow_every_naming_form_of_the_dataset() {
        let cases = [
            ("a/person123_bacteria_45.jpeg", Some("person123")),
            ("person1234_bacteria_5678.jpeg", Some("person1234")),
            ("person7_virus_1.jpeg", Some("person7")),
            ("person12_virus_34.jpeg", Some("person12")),
            ("IM-0115-0001.jpeg", Some("IM-0115")),
            // The leak of issue 9: four-part names are the same patient as three-part ones.
            ("IM-0429-0001.jpeg", Some("IM-0429")),
            ("IM-0429-0001-0001.jpeg", Some("IM-0429")),
            ("IM-0429-0001-0002.jpeg", Some("IM-0429")),
            ("NORMAL2-IM-0007-0001.jpeg", Some("NORMAL2-IM-0007")),
            ("NORMAL2-IM-1258-0001-0001.jpeg", Some("NORMAL2-IM-1258")),
            // Case and extension do not matter; the id comes back canonical.
            ("PERSON12_VIRUS_34.JPEG", Some("person12")),
            ("Person5_Bacteria_1.png", Some("person5")),
            ("im-0115-0001.jpg", Some("IM-0115")),
            ("normal2-im-0007-0001.PNG", Some("NORMAL2-IM-0007")),
            ("IM-0115", Some("IM-0115")),
            // No id.
            ("scan.jpeg", None),
            ("personX.jpeg", None),
            ("person_1.jpeg", None),
            ("IM-.jpeg", None),
            ("IM-X12-0001.jpeg", None),
            ("IM-12a-0001.jpeg", None),
            ("my scan IM-0001.jpeg", None),
            ("", None),
        ];
        for (name, expected) in cases {
            assert_eq!(patient_id(name).as_deref(), expected, "{name}");
        }
    }

    #[test]
    fn scans_skip_hidden_and_non_images_and_sort() {
        let dir = tempfile::tempdir().unwrap();
        let split = dir.path().join("train");
        touch(&split.join("PNEUMONIA/b.jpeg"));
        touch(&split.join("PNEUMONIA/a.JPG"));
        touch(&split.join("NORMAL/z.png"));
        touch(&split.join("NORMAL/.DS_Store"));
        touch(&split.join("NORMAL/notes.txt"));
        touch(&split.join(".DS_Store"));
        let scan = scan_classes(&split, None, false).unwrap();
        assert_eq!(scan.class_names, vec!["NORMAL", "PNEUMONIA"]);
        let names: Vec<String> = scan.files.iter().map(|p| file_name_lossy(p)).collect();
        assert_eq!(names, vec!["z.png", "a.JPG", "b.jpeg"]);
        assert_eq!(scan.labels, vec![0, 1, 1]);
        assert_eq!(scan.counts(), vec![1, 2]);
        assert_eq!(scan.class_indices()["PNEUMONIA"], 1);
        assert_eq!(
            list_dir(&split).unwrap(),
            vec![".DS_Store", "NORMAL", "PNEUMONIA"]
        );
    }

    #[test]
    fn folder_problems_are_reported_before_work() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(matches!(
            scan_classes(&missing, None, false),
            Err(Error::MissingDir { .. })
        ));
        let split = dir.path().join("train");
        fs::create_dir_all(&split).unwrap();
        touch(&split.join("stray.jpeg"));
        assert!(matches!(
            scan_classes(&split, None, false),
            Err(Error::NoClasses { .. })
        ));
        fs::create_dir_all(split.join("NORMAL")).unwrap();
        let err = scan_classes(&split, None, false).unwrap_err();
        assert!(matches!(err, Error::EmptyClass { ref class, .. } if class == "NORMAL"));
        assert!(err.to_string().contains("NORMAL"));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_end() {
        let dir = tempfile::tempdir().unwrap();
        let class = dir.path().join("NORMAL");
        touch(&class.join("a.jpeg"));
        std::os::unix::fs::symlink(&class, class.join("loop")).unwrap();
        let followed = list_images(&class, true).unwrap();
        assert_eq!(followed.len(), 1);
        let plain = list_images(&class, false).unwrap();
        assert_eq!(plain.len(), 1);
    }

    #[test]
    fn patient_split_keeps_patients_together_and_is_seeded() {
        let mut files = Vec::new();
        let mut labels = Vec::new();
        for p in 0..20 {
            for img in 0..3 {
                files.push(PathBuf::from(format!(
                    "PNEUMONIA/person{p}_bacteria_{img}.jpeg"
                )));
                labels.push(1);
            }
        }
        for p in 0..10 {
            files.push(PathBuf::from(format!("NORMAL/IM-{p:04}-0001.jpeg")));
            labels.push(0);
        }
        let scan = ClassScan {
            class_names: vec!["NORMAL".into(), "PNEUMONIA".into()],
            files,
            labels,
        };
        let (train, val) = split_by_patient(&scan, 0.2, 7).unwrap();
        assert_eq!(train.files.len() + val.files.len(), scan.files.len());
        let ids = |s: &ClassScan| {
            s.files
                .iter()
                .map(|f| patient_id(f).unwrap())
                .collect::<std::collections::HashSet<_>>()
        };
        assert!(ids(&train).is_disjoint(&ids(&val)));
        // 20% of 20 pneumonia patients (3 images each) and of 10 normal patients.
        assert_eq!(val.counts(), vec![2, 12]);
        let (_, again) = split_by_patient(&scan, 0.2, 7).unwrap();
        assert_eq!(again.files, val.files);
        let (_, other) = split_by_patient(&scan, 0.2, 8).unwrap();
        assert_ne!(other.files, val.files);
        assert!(split_by_patient(&scan, 1.0, 7).is_err());
    }

    #[test]
    fn folds_are_checked_against_each_class_s_patients_not_its_images() {
        // Three NORMAL patients with two images each, five PNEUMONIA patients.
        let mut files: Vec<PathBuf> = (0..3)
            .flat_map(|p| (1..=2).map(move |i| format!("NORMAL/IM-{p:04}-000{i}.jpeg").into()))
            .collect();
        let mut labels = vec![0; files.len()];
        files.extend((0..5).map(|p| PathBuf::from(format!("PNEUMONIA/person{p}_virus_1.jpeg"))));
        labels.resize(files.len(), 1);
        let scan = ClassScan {
            class_names: vec!["NORMAL".into(), "PNEUMONIA".into()],
            files,
            labels,
        };
        // Four folds fit the six NORMAL images, not its three patients.
        let err = patient_folds(&scan, 4, 1).unwrap_err();
        assert!(
            matches!(&err, Error::FoldsOverPatients { folds: 4, class, patients: 3 } if class == "NORMAL"),
            "{err}"
        );
        assert!(err.to_string().contains("at most 3 folds"), "{err}");
        for (train, val) in patient_folds(&scan, 3, 1).unwrap() {
            assert!(!train.counts().contains(&0) && !val.counts().contains(&0));
        }
        assert!(patient_folds(&scan, 1, 1).is_err());
    }

    #[test]
    fn data_dir_prefers_env_then_full_then_sample() {
        let root = tempfile::tempdir().unwrap();
        assert!(data_dir_from(None, root.path()).is_err());
        let sample = root.path().join("data/sample/chest_xray");
        fs::create_dir_all(&sample).unwrap();
        assert_eq!(
            data_dir_from(None, root.path()).unwrap().source,
            DataSource::Sample
        );
        fs::create_dir_all(root.path().join("data/chest_xray/train")).unwrap();
        assert_eq!(
            data_dir_from(None, root.path()).unwrap().source,
            DataSource::Full
        );
        let env = data_dir_from(Some(sample.clone()), root.path()).unwrap();
        assert!(
            !env.to_string().contains(&*root.path().to_string_lossy()),
            "{env}"
        );
        assert_eq!((env.path, env.source), (sample, DataSource::Environment));
        assert!(data_dir_from(Some(root.path().join("missing")), root.path()).is_err());
    }
}
