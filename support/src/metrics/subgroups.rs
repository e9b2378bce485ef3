//! Metrics per subgroup of the images (a file-name series, a site, a machine): how many images,
//! how many the threshold gets right with a Wilson interval, their mean probability, and the
//! ROC AUC of the subgroup against every image of the other class with DeLong's interval.
//!
//! A subgroup of one class has one rate that means anything: the specificity of a group of
//! normals, the sensitivity of a group of pneumonias. A mixed group reports its accuracy.

use serde::{Deserialize, Serialize};

use super::intervals::{delong, Interval};
use super::Threshold;
use crate::error::{Error, Result};

/// One subgroup's counts and metrics at a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubgroupRow {
    /// The subgroup's name (e.g. `NORMAL2-IM-`).
    pub group: String,
    /// The class of its images, or `mixed`.
    pub class: String,
    /// Its images.
    pub images: u64,
    /// Its images the threshold classifies correctly.
    pub correct: u64,
    /// What the rate of correct images is: `specificity` (normals), `sensitivity` (the
    /// positive class) or `accuracy` (mixed).
    pub rate_name: String,
    /// `correct / images` with Wilson's 95% interval.
    pub rate: Interval,
    /// The mean predicted probability of class 1.
    pub mean_probability: f64,
    /// For a one-class group: its images against every image of the other class (DeLong's
    /// interval); `NaN` for mixed groups or with fewer than two images on a side.
    pub roc_auc_vs_other_class: Interval,
}

/// Metrics per subgroup (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubgroupReport {
    /// What the groups are (e.g. `series`).
    pub by: String,
    /// The threshold of every row.
    pub threshold: Threshold,
    /// One row per group, in order of first appearance.
    pub rows: Vec<SubgroupRow>,
}

/// Wilson's score interval for `k` successes in `n` trials at 95% (Wilson 1927).
pub fn wilson_interval(k: u64, n: u64) -> Interval {
    if n == 0 {
        return Interval::UNDEFINED;
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
    Interval {
        estimate: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

impl SubgroupReport {
    /// The report of probabilities `probs` (of class 1) against `labels` (0 or 1), grouped by
    /// `groups` (one name per image), at `threshold`; `class_names` names class 0 and 1.
    pub fn new(
        by: &str,
        groups: &[String],
        labels: &[u8],
        probs: &[f32],
        threshold: Threshold,
        class_names: [&str; 2],
    ) -> Result<SubgroupReport> {
        if groups.len() != labels.len() || probs.len() != labels.len() {
            return Err(Error::invalid(
                "subgroups",
                format!(
                    "{} groups, {} labels and {} probabilities",
                    groups.len(),
                    labels.len(),
                    probs.len()
                ),
                "one group, label and probability per image",
            ));
        }
        if let Some(bad) = labels.iter().find(|&&l| l > 1) {
            return Err(Error::invalid("labels", bad, "0 or 1"));
        }
        let mut names: Vec<&String> = Vec::new();
        for g in groups {
            if !names.contains(&g) {
                names.push(g);
            }
        }
        let rows = names
            .into_iter()
            .map(|name| {
                let members: Vec<usize> =
                    (0..groups.len()).filter(|&i| &groups[i] == name).collect();
                row(name, &members, labels, probs, threshold, class_names)
            })
            .collect();
        Ok(SubgroupReport {
            by: by.to_string(),
            threshold,
            rows,
        })
    }

    /// The report as a text table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "By {} at threshold {:.3} (95% intervals: Wilson for rates, DeLong for ROC AUC)\n",
            self.by,
            self.threshold.get()
        );
        out.push_str(&format!(
            "{:<14} {:<11} {:>6} {:>8}  {:<12} {:<22} {:>7}  {:<22}\n",
            "group", "class", "images", "correct", "rate", "", "mean p", "ROC AUC vs other class"
        ));
        for r in &self.rows {
            out.push_str(&format!(
                "{:<14} {:<11} {:>6} {:>8}  {:<12} {:<22} {:>7.3}  {:<22}\n",
                r.group,
                r.class,
                r.images,
                r.correct,
                r.rate_name,
                fmt_interval(&r.rate),
                r.mean_probability,
                fmt_interval(&r.roc_auc_vs_other_class),
            ));
        }
        out
    }
}

fn fmt_interval(i: &Interval) -> String {
    if i.estimate.is_nan() {
        return "-".into();
    }
    format!("{:.3} [{:.3}, {:.3}]", i.estimate, i.low, i.high)
}

/// The row of the images `members`.
fn row(
    name: &str,
    members: &[usize],
    labels: &[u8],
    probs: &[f32],
    threshold: Threshold,
    class_names: [&str; 2],
) -> SubgroupRow {
    let predicted = |i: usize| u8::from(probs[i] >= threshold.get());
    let correct = members
        .iter()
        .filter(|&&i| predicted(i) == labels[i])
        .count() as u64;
    let first = labels[members[0]];
    let one_class = members.iter().all(|&i| labels[i] == first);
    let (class, rate_name) = match (one_class, first) {
        (true, 0) => (class_names[0].to_string(), "specificity"),
        (true, _) => (class_names[1].to_string(), "sensitivity"),
        (false, _) => ("mixed".to_string(), "accuracy"),
    };
    let roc_auc_vs_other_class = if one_class {
        let others: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] != first).collect();
        let idx: Vec<usize> = members.iter().chain(&others).copied().collect();
        let l: Vec<u8> = idx.iter().map(|&i| labels[i]).collect();
        let p: Vec<f32> = idx.iter().map(|&i| probs[i]).collect();
        delong(&l, &p)
            .and_then(|d| d.interval(0.95))
            .unwrap_or(Interval::UNDEFINED)
    } else {
        Interval::UNDEFINED
    };
    SubgroupRow {
        group: name.to_string(),
        class,
        images: members.len() as u64,
        correct,
        rate_name: rate_name.to_string(),
        rate: wilson_interval(correct, members.len() as u64),
        mean_probability: members.iter().map(|&i| f64::from(probs[i])).sum::<f64>()
            / members.len() as f64,
        roc_auc_vs_other_class,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn subgroup_counts_add_up_and_rates_match_the_threshold() {
        let groups = names(&[
            "IM-",
            "NORMAL2-IM-",
            "IM-",
            "NORMAL2-IM-",
            "bacteria",
            "virus",
            "bacteria",
        ]);
        let labels = [0u8, 0, 0, 0, 1, 1, 1];
        let probs = [0.1f32, 0.7, 0.2, 0.9, 0.8, 0.4, 0.95];
        let report = SubgroupReport::new(
            "series",
            &groups,
            &labels,
            &probs,
            Threshold::HALF,
            ["NORMAL", "PNEUMONIA"],
        )
        .unwrap();
        let total: u64 = report.rows.iter().map(|r| r.images).sum();
        assert_eq!(total, labels.len() as u64);
        let by_name = |g: &str| report.rows.iter().find(|r| r.group == g).unwrap();
        assert_eq!(
            (by_name("IM-").correct, by_name("IM-").rate_name.as_str()),
            (2, "specificity")
        );
        assert_eq!(by_name("NORMAL2-IM-").correct, 0);
        assert_eq!(by_name("bacteria").class, "PNEUMONIA");
        assert_eq!(by_name("virus").correct, 0);
        // IM- normals score below every pneumonia: AUC 1; NORMAL2 (0.7, 0.9) against 0.8, 0.4, 0.95: 3 of 6 pairs.
        assert_eq!(by_name("IM-").roc_auc_vs_other_class.estimate, 1.0);
        assert!((by_name("NORMAL2-IM-").roc_auc_vs_other_class.estimate - 0.5).abs() < 1e-9);
        let correct: u64 = report.rows.iter().map(|r| r.correct).sum();
        let direct = (0..7)
            .filter(|&i| u8::from(probs[i] >= 0.5) == labels[i])
            .count() as u64;
        assert_eq!(correct, direct);
        assert!(report.table().contains("NORMAL2-IM-"));
    }

    #[test]
    fn wilson_matches_a_known_value_and_refuses_nothing() {
        // 8 of 10: Wilson 95% [0.4902, 0.9433] (Newcombe 1998, Table I style check).
        let i = wilson_interval(8, 10);
        assert!(
            (i.low - 0.4902).abs() < 1e-3 && (i.high - 0.9433).abs() < 1e-3,
            "{i:?}"
        );
        assert!(wilson_interval(0, 0).estimate.is_nan());
        assert_eq!(wilson_interval(5, 5).high, 1.0);
    }

    #[test]
    fn mismatched_lengths_are_refused() {
        let err = SubgroupReport::new(
            "series",
            &names(&["a"]),
            &[0, 1],
            &[0.1, 0.2],
            Threshold::HALF,
            ["A", "B"],
        );
        assert!(err.is_err());
    }
}
