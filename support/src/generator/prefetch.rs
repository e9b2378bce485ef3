//! The background thread that builds batches ahead of the training loop, at most `prefetch`
//! at a time, and stops when its iterator is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::batch::{Built, Source};

/// The background thread that builds batches ahead, in order, from a starting position.
pub(super) struct Worker {
    pub(super) rx: Option<Receiver<Built>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    pub(super) fn start(
        source: Arc<Source>,
        epoch: u64,
        batch_index: usize,
        prefetch: usize,
    ) -> Worker {
        // The thread holds one built batch while it waits to hand it over, so the channel holds
        // prefetch - 1: at most `prefetch` batches are ready at any time.
        let (tx, rx) = sync_channel(prefetch.saturating_sub(1));
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("xray-batches".into())
            .spawn(move || {
                let per_epoch = source.batches_per_epoch();
                let (mut epoch, mut batch_index) = (epoch, batch_index);
                let mut order = source.order(epoch);
                while !thread_stop.load(Ordering::Relaxed) {
                    let built = source.build(epoch, batch_index, &order);
                    if tx.send(built).is_err() {
                        break;
                    }
                    batch_index += 1;
                    if batch_index == per_epoch {
                        batch_index = 0;
                        epoch += 1;
                        order = source.order(epoch);
                    }
                }
            });
        match handle {
            Ok(handle) => Worker {
                rx: Some(rx),
                stop,
                handle: Some(handle),
            },
            // No thread: an empty worker makes the iterator build batches itself.
            Err(_) => Worker {
                rx: None,
                stop,
                handle: None,
            },
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver wakes a thread blocked on a full channel; it then ends.
        drop(self.rx.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
