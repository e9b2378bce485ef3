//! The README's library example, compiled by `cargo test` (support/tests/readme.rs checks that
//! the two agree): `cargo run --release -p support --example quickstart`.

use support::prelude::*;

fn main() -> Result<()> {
    let data = dataset::data_dir()?; // $XRAY_DATA, data/chest_xray/ or the shipped sample
    let mut model = Model::new(ModelConfig::recommended(), 42)?;
    let options = FitOptions::builder()
        .class_weight(ClassWeight::Balanced)
        .epochs(3)
        .build()?;
    let mut progress = ProgressLines::new(); // Keras's verbose=1, one line at a time
    let history = training::fit(&mut model, data.split("train"), &options, &mut progress)?;
    let saved = SavedModel::from_fit(model, history, &options)?; // Keras's model.save() next
    let test = ModelEvaluation::on_directory(saved.clone(), data.split("test"), 1)?;
    println!("{}", test.report_at(Threshold::HALF)?); // intervals too; test.figures() to draw
    saved.save("models/example")?;
    let x_ray = data
        .split("test")
        .join("PNEUMONIA/person103_bacteria_489.jpeg");
    println!(
        "p(pneumonia) = {:.3}",
        inference::predict_files(&saved, &[x_ray]).remove(0)?
    );
    Ok(())
}
