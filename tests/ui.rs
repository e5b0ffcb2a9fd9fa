//! Compile-time behaviour of `network!`: malformed networks are refused with
//! a message that names the layer and the values involved, spanned on the
//! offending layer or argument (`tests/ui/fail`), and well-formed ones
//! compile (`tests/ui/pass`).
//!
//! The expected diagnostics depend on the exact compiler (pinned by
//! `rust-toolchain.toml`). After an intended change to a message, regenerate
//! them with `TRYBUILD=overwrite cargo test --test ui` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
