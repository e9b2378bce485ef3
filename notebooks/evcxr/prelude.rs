// Runs once when the notebook kernel starts (evcxr reads `prelude.rs` from $EVCXR_CONFIG_DIR).
// The panic hook is process-wide, so it stays in force for every later cell. What it does depends
// on XRAY_ABORT_ON_PANIC, which each kernel spec sets (tools/notebooks.py writes both):
// - "1" (kernel xray-rust-headless: nbclient, pytest, CI): print the panic and abort the child
//   process. evcxr would otherwise report a cell that panicked as if it had succeeded; the abort
//   makes the cell fail, so headless runs catch every panic.
// - anything else (kernel xray-rust, which the notebooks name and JupyterLab opens): show the
//   panic as the cell's result and return, so evcxr's catch_unwind around the cell takes over. The
//   kernel keeps running; variables from earlier cells are kept and the ones the panicking cell
//   defined are dropped (evcxr 0.22 with its default preserve_vars_on_panic).
// The interactive report goes to stdout as an evcxr rich-content block, not to stderr: evcxr
// forwards the child's stderr on its own thread, unsynchronised with the end of the cell, and a
// multi-line stderr message lost its later lines in a test; stdout is read in order before the cell
// completes.
{
    // evcxr runs the prelude and every cell on one thread; a panic elsewhere (a rayon worker, a
    // spawned thread) may or may not end the cell, depending on the cell's code.
    let cell_thread = std::thread::current().id();
    std::panic::set_hook(Box::new(move |info| {
        let message = match info.payload().downcast_ref::<&str>() {
            Some(text) => text.to_string(),
            None => match info.payload().downcast_ref::<String>() {
                Some(text) => text.clone(),
                None => "(a panic without a text message)".to_string(),
            },
        };
        let place = match info.location() {
            // evcxr compiles the cells into src/lib.rs of a generated crate.
            Some(at) if at.file() == "src/lib.rs" => "in this cell's code".to_string(),
            Some(at) => format!("at {}:{}", at.file(), at.line()),
            None => "at an unknown place".to_string(),
        };
        let thread = std::thread::current();
        let place = if thread.id() == cell_thread {
            place
        } else {
            let name = thread.name().unwrap_or("unnamed");
            format!("{place}, on thread '{name}', not the cell's own")
        };
        if std::env::var_os("XRAY_ABORT_ON_PANIC").is_some_and(|v| v == "1") {
            eprintln!("PANIC: {message}\n({place}; headless run: aborting the kernel)");
            std::process::abort();
        }
        let kept = "The kernel keeps running: variables from earlier cells are kept, the ones this \
                    cell defined are dropped (if the panic ended the cell). JupyterLab does not mark \
                    this cell as failed, so \"Run All\" goes on with the next cells. Fix the cause \
                    and run this cell again.";
        let escape = |text: &str| {
            text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
        };
        println!("EVCXR_BEGIN_CONTENT text/plain");
        println!("PANIC: {message}\n({place})\n{kept}");
        println!("EVCXR_END_CONTENT");
        println!("EVCXR_BEGIN_CONTENT text/html");
        println!(
            "<div class=\"xray-panic\" style=\"border-left: 6px solid #c62828; background: #fdecea; \
             color: #611a15; padding: 6px 10px; font-family: monospace; white-space: pre-wrap;\">\
             <b>PANIC:</b> {}\n<span style=\"color: #555;\">({})</span>\n{}</div>",
            escape(&message),
            escape(&place),
            kept
        );
        println!("EVCXR_END_CONTENT");
    }));
}
