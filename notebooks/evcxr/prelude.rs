// Runs once when the notebook kernel starts (evcxr reads `prelude.rs` from $EVCXR_CONFIG_DIR).
// evcxr reports a cell that panicked as if it had succeeded; aborting the child process instead
// makes the cell fail visibly, so headless runs (and CI) catch every panic.
std::panic::set_hook(Box::new(|info| {
    eprintln!("PANIC: {info}");
    std::process::abort();
}));
