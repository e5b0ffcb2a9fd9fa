//! The LeNet-5 expansion, held as reviewed text in
//! `tests/golden/lenet5.expanded.rs`. A change to the generated code shows
//! up as a diff of that file; after reviewing it, bless the new text with
//! `CNN_BLESS=1 cargo test -p cnn-macros golden`.

use std::path::PathBuf;

use quote::quote;

fn expansion() -> String {
    let tokens = crate::expand(quote! {
        /// LeNet-5 as most modern code writes it.
        pub struct LeNet5 {
            input: [1, 28, 28],
            conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
            conv2: conv(16, kernel = 5), relu, max_pool(2),
            flatten,
            fc1: dense(120), relu,
            fc2: dense(84), relu,
            fc3: dense(10),
            softmax,
        }
    });
    let file: syn::File = syn::parse2(tokens).expect("the expansion is valid Rust");
    let body = prettyplease::unparse(&file);
    format!(
        "// The expansion of `network!` for LeNet-5 (see src/golden.rs).\n\
         // Regenerate with `CNN_BLESS=1 cargo test -p cnn-macros golden`.\n\n{body}"
    )
}

#[test]
fn golden_lenet5_expansion() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/lenet5.expanded.rs");
    let got = expansion();
    if std::env::var_os("CNN_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if got != want {
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "the LeNet-5 expansion differs from {} from line {}:\n  got:  {:?}\n  want: {:?}\n\
             review the change and bless it with CNN_BLESS=1",
            path.display(),
            first + 1,
            got.lines().nth(first),
            want.lines().nth(first),
        );
    }
}
