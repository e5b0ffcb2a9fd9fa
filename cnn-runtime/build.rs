//! Records the optimisation level the runtime is compiled at
//! (`cnn_runtime::OPT_LEVEL`), so that a program can tell when its
//! kernels run unoptimised (a debug build without the profile setting the
//! README's quickstart gives).

fn main() {
    let level = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=CNN_RUNTIME_OPT_LEVEL={level}");
    println!("cargo:rerun-if-changed=build.rs");
}
