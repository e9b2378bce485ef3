//! The [`Progress`] hooks [`fit`](super::fit) calls as it goes, and the reporters that print
//! them: a line per epoch, progress lines within an epoch, or nothing.

use std::time::Instant;

use crate::history::EpochLog;

/// Hooks that [`fit`](super::fit) calls as it goes: a progress bar, a line per epoch, or nothing.
pub trait Progress {
    /// Before each fold of a cross-validation.
    fn fold(&mut self, _fold: usize, _folds: usize) {}
    /// When training continues a checkpoint whose `epochs_done` epochs are already run.
    fn resumed(&mut self, _epochs_done: usize) {}
    /// Once, before the first epoch.
    fn start(&mut self, _train_images: usize, _val_images: usize, _batches_per_epoch: usize) {}
    /// After every training step.
    fn batch(&mut self, _epoch: usize, _batch: usize, _loss: f32) {}
    /// After every epoch.
    fn epoch(&mut self, _log: &EpochLog, _improved: bool) {}
}

/// Prints one compact line per epoch (Keras's `verbose=2`); see [`ProgressLines`] for progress
/// within an epoch.
#[derive(Debug, Default)]
pub struct EpochLines;

impl Progress for EpochLines {
    fn resumed(&mut self, epochs_done: usize) {
        println!("continuing a checkpoint of this run after epoch {epochs_done}");
    }
    fn fold(&mut self, fold: usize, folds: usize) {
        println!("fold {fold} of {folds}");
    }
    fn start(&mut self, train: usize, val: usize, batches: usize) {
        println!("training on {train} images ({batches} batches per epoch), validating on {val}");
    }
    fn epoch(&mut self, log: &EpochLog, improved: bool) {
        println!("{log}{}", if improved { "  *" } else { "" });
    }
}

/// Keras's `verbose=1` as far as a notebook kernel allows: while an epoch runs, a progress line
/// (bar, steps done, time per step, ETA and the epoch's mean loss so far) at most once per
/// interval (10 s unless set), then the epoch's line as soon as it ends.
///
/// evcxr 0.22 forwards a cell's output one whole line at a time, so a bar cannot redraw in place
/// the way Keras's does in a terminal (the `xray` CLI's bar does): each update is a new line,
/// and the interval keeps them few.
pub struct ProgressLines {
    interval: std::time::Duration,
    out: Box<dyn std::io::Write + Send>,
    batches: usize,
    epoch_start: Option<Instant>,
    last_line: Option<Instant>,
    loss_sum: f64,
}

impl std::fmt::Debug for ProgressLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressLines")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl Default for ProgressLines {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressLines {
    /// Progress lines on standard output, at most one every 10 s.
    pub fn new() -> Self {
        Self::to_writer(Box::new(std::io::stdout()))
    }

    /// Progress lines written to `out` (a file, a buffer), at most one every 10 s.
    pub fn to_writer(out: Box<dyn std::io::Write + Send>) -> Self {
        Self {
            interval: std::time::Duration::from_secs(10),
            out,
            batches: 0,
            epoch_start: None,
            last_line: None,
            loss_sum: 0.0,
        }
    }

    /// The least time between two progress lines (zero: a line after every step).
    pub fn interval(mut self, interval: std::time::Duration) -> Self {
        self.interval = interval;
        self
    }

    fn line(&mut self, text: std::fmt::Arguments<'_>) {
        use std::io::Write as _;
        // Progress is best effort: a closed output must not stop training.
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }
}

/// One progress line: `epoch 3  [=====>        ]  48/134  180 ms/step  ETA 16 s  loss 0.3121`.
fn progress_line(
    epoch: usize,
    done: usize,
    total: usize,
    elapsed_s: f64,
    mean_loss: f64,
) -> String {
    const WIDTH: usize = 24;
    let total = total.max(done).max(1);
    let filled = WIDTH * done / total;
    let bar: String = (0..WIDTH)
        .map(|i| match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal if done < total => '>',
            _ => ' ',
        })
        .collect();
    let per_step = elapsed_s / done.max(1) as f64;
    let eta = per_step * (total - done) as f64;
    format!(
        "epoch {epoch:>2}  [{bar}] {done:>w$}/{total}  {:.0} ms/step  ETA {eta:.0} s  loss {mean_loss:.4}",
        per_step * 1000.0,
        w = total.to_string().len()
    )
}

impl Progress for ProgressLines {
    fn resumed(&mut self, epochs_done: usize) {
        self.line(format_args!(
            "continuing a checkpoint of this run after epoch {epochs_done}"
        ));
    }
    fn fold(&mut self, fold: usize, folds: usize) {
        self.line(format_args!("fold {fold} of {folds}"));
    }
    fn start(&mut self, train: usize, val: usize, batches: usize) {
        self.batches = batches;
        self.line(format_args!(
            "training on {train} images ({batches} batches per epoch), validating on {val}"
        ));
    }
    fn batch(&mut self, epoch: usize, batch: usize, loss: f32) {
        let now = Instant::now();
        if batch == 1 {
            // The first step's clock starts when the step ends: compilation-free but honest
            // enough for an ETA, and the first line waits a full interval.
            self.epoch_start = Some(now);
            self.last_line = Some(now);
            self.loss_sum = 0.0;
        }
        self.loss_sum += f64::from(loss);
        let start = *self.epoch_start.get_or_insert(now);
        let last = *self.last_line.get_or_insert(now);
        if batch > 1 && batch < self.batches && now.duration_since(last) >= self.interval {
            self.last_line = Some(now);
            // Steps after the first, over the time since the first ended.
            let elapsed =
                now.duration_since(start).as_secs_f64() * batch as f64 / (batch - 1) as f64;
            let text = progress_line(
                epoch,
                batch,
                self.batches,
                elapsed,
                self.loss_sum / batch as f64,
            );
            self.line(format_args!("{text}"));
        }
    }
    fn epoch(&mut self, log: &EpochLog, improved: bool) {
        self.line(format_args!("{log}{}", if improved { "  *" } else { "" }));
    }
}

/// Prints nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect()
        }
    }

    fn run_epoch(progress: &mut dyn Progress, batches: usize) {
        progress.start(320, 40, batches);
        for batch in 1..=batches {
            progress.batch(1, batch, 0.5);
        }
        let log = EpochLog {
            epoch: 1,
            loss: 0.5,
            accuracy: 0.8,
            auc: 0.9,
            val_loss: 0.4,
            val_accuracy: 0.85,
            val_auc: 0.95,
            seconds: 2.0,
            images_per_second: 160.0,
        };
        progress.epoch(&log, true);
    }

    #[test]
    fn progress_line_shows_bar_steps_time_eta_and_loss() {
        let line = progress_line(3, 48, 134, 9.6, 0.31214);
        assert_eq!(
            line,
            "epoch  3  [========>               ]  48/134  200 ms/step  ETA 17 s  loss 0.3121"
        );
        let done = progress_line(3, 134, 134, 10.0, 0.3);
        assert!(done.contains("[========================]"), "{done}");
        assert!(done.contains("ETA 0 s"), "{done}");
    }

    #[test]
    fn progress_lines_appear_within_an_epoch_at_most_once_per_interval() {
        let out = Shared::default();
        let mut every_step =
            ProgressLines::to_writer(Box::new(out.clone())).interval(std::time::Duration::ZERO);
        run_epoch(&mut every_step, 10);
        let lines = out.lines();
        // The start line, one line per step from the 2nd to the 9th, and the epoch's line.
        assert_eq!(lines.len(), 10, "{lines:#?}");
        assert!(lines[0].starts_with("training on 320 images (10 batches per epoch)"));
        assert!(
            lines[1].contains(" 2/10 ") && lines[8].contains(" 9/10 "),
            "{lines:#?}"
        );
        assert!(lines[1..9]
            .iter()
            .all(|l| l.contains("ms/step") && l.contains("loss 0.5000")));
        assert!(
            lines[9].starts_with("epoch  1:") && lines[9].ends_with('*'),
            "{}",
            lines[9]
        );

        let out = Shared::default();
        let mut hourly = ProgressLines::to_writer(Box::new(out.clone()))
            .interval(std::time::Duration::from_secs(3600));
        run_epoch(&mut hourly, 10);
        assert_eq!(out.lines().len(), 2, "{:#?}", out.lines());
    }
}
