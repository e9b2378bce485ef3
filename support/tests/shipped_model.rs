//! The model shipped in `models/pretrained`: it loads, its card's figures are those of its
//! `model.json`, and it predicts the shipped sample's test images with the accuracy its card
//! states (recomputed here, not read back).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use support::inference;
use support::saved_model::{SavedModel, SHIPPED_MODEL};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `- name: value` lines of the card's "Figures checked by the tests" section.
fn card_figures() -> HashMap<String, f64> {
    let card = std::fs::read_to_string(repository().join(SHIPPED_MODEL).join("MODEL_CARD.md"))
        .expect("the shipped model has a MODEL_CARD.md");
    let section = card
        .split("## Figures checked by the tests")
        .nth(1)
        .expect("the card has its checked figures");
    section
        .lines()
        .filter_map(|line| line.strip_prefix("- "))
        .map(|line| {
            let (name, value) = line.rsplit_once(": ").expect("`name: value`");
            (name.to_string(), value.trim().parse().expect("a number"))
        })
        .collect()
}

fn figure(figures: &HashMap<String, f64>, prefix: &str) -> f64 {
    let hits: Vec<f64> = figures
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, &value)| value)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "one figure named '{prefix}...' in {figures:?}"
    );
    hits[0]
}

#[test]
fn the_card_states_the_figures_of_the_model_json() {
    let saved = SavedModel::load(repository().join(SHIPPED_MODEL)).unwrap();
    let history = saved
        .history
        .as_ref()
        .expect("the shipped model was trained by fit");
    let best = history.best().expect("a best epoch");
    let figures = card_figures();
    assert_eq!(figure(&figures, "best epoch"), history.best_epoch as f64);
    let close = |a: f64, b: f64| (a - b).abs() < 5e-5;
    assert!(close(
        figure(&figures, "validation accuracy"),
        f64::from(best.val_accuracy)
    ));
    assert!(close(
        figure(&figures, "validation ROC AUC"),
        f64::from(best.val_auc)
    ));
    let threshold = saved
        .decision
        .threshold()
        .expect("a two-class model has a threshold");
    assert!(close(
        figure(&figures, "decision threshold"),
        f64::from(threshold.get())
    ));
    assert_eq!(saved.class_names, ["NORMAL", "PNEUMONIA"]);
}

#[test]
fn it_predicts_the_sample_test_images_as_its_card_says() {
    let saved = SavedModel::load(repository().join(SHIPPED_MODEL)).unwrap();
    let test = repository().join("data/sample/chest_xray/test");
    let predictions = inference::predict_labelled(&saved, &test).unwrap();
    let threshold = saved
        .decision
        .threshold()
        .expect("a two-class model has a threshold");
    let accuracy = predictions.evaluate(threshold).unwrap().accuracy;
    let stated = figure(&card_figures(), "accuracy on the shipped sample");
    assert!(
        (accuracy - stated).abs() < 5e-5,
        "computed {accuracy:.4}, the card says {stated:.4}"
    );
    assert_eq!(predictions.files.len(), 60);
}
