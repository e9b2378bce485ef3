//! The README's library example is `support/examples/quickstart.rs`, which `cargo test` compiles:
//! the two must not drift apart.

use std::path::Path;

#[test]
fn the_readme_library_example_is_the_compiled_quickstart_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme
        .find("```rust\n")
        .expect("a Rust block in the README")
        + "```rust\n".len();
    let end = start + readme[start..].find("```").expect("the block ends");
    let block = &readme[start..end];
    let example = std::fs::read_to_string(root.join("support/examples/quickstart.rs")).unwrap();
    assert!(
        example.ends_with(block),
        "support/examples/quickstart.rs must end with the README's block:\n{block}"
    );
}
