//! The training progress the CLI shows: a bar per epoch, then a line per epoch.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use support::training::{EpochLog, Progress};

/// A progress bar per epoch with loss, rate and ETA, then a line per epoch.
#[derive(Default)]
pub(crate) struct Bar {
    bar: Option<ProgressBar>,
    batches: usize,
}

impl Progress for Bar {
    fn resumed(&mut self, epochs_done: usize) {
        eprintln!("continuing the checkpoint after epoch {epochs_done}");
    }
    fn fold(&mut self, fold: usize, folds: usize) {
        eprintln!("== fold {fold} of {folds}");
    }
    fn start(&mut self, train: usize, val: usize, batches: usize) {
        eprintln!("training on {train} images ({batches} batches per epoch), validating on {val}");
        self.batches = batches;
    }
    fn batch(&mut self, epoch: usize, batch: usize, loss: f32) {
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(self.batches as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "epoch {prefix:>2} [{bar:30}] {pos}/{len} batches, {per_sec}, ETA {eta} {msg}",
                )
                .expect("the template is a valid indicatif template")
                .progress_chars("=> "),
            );
            bar.set_prefix(epoch.to_string());
            bar.enable_steady_tick(Duration::from_millis(500));
            bar
        });
        bar.set_position(batch as u64);
        bar.set_message(format!("loss {loss:.4}"));
    }
    fn epoch(&mut self, log: &EpochLog, improved: bool) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!("{log}{}", if improved { "  * best" } else { "" });
    }
}
