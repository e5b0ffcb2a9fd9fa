use proc_macro2::TokenStream;
use quote::quote;

use super::*;
use crate::diag::Diagnostics;
use crate::layers;
use crate::parse::parse_invocation;

fn build_one(ts: TokenStream) -> (Option<Network>, Vec<String>) {
    let mut diag = Diagnostics::default();
    let inv = parse_invocation(ts, &mut diag);
    let net = build(&inv.networks[0], &inv.blocks, &mut diag).ok();
    (net, diag.messages())
}

#[test]
fn lenet_shapes_params_and_macs() {
    let (net, errors) = build_one(quote! {
        struct LeNet5 {
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
    assert!(errors.is_empty(), "{errors:?}");
    let net = net.unwrap();
    let shapes: Vec<String> = net.values.iter().map(|v| v.shape.to_string()).collect();
    assert_eq!(
        shapes,
        [
            "1x28x28", "6x28x28", "6x28x28", "6x14x14", "16x10x10", "16x10x10", "16x5x5", "[400]",
            "[120]", "[120]", "[84]", "[84]", "[10]", "[10]"
        ]
    );
    let params: usize = (0..net.nodes.len()).map(|i| net.param_count(i)).sum();
    let macs: u64 = (0..net.nodes.len()).map(|i| net.macs(i)).sum();
    assert_eq!(params, 61_706);
    assert_eq!(macs, 416_520);
    let names: Vec<&str> = net.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names[1], "relu1");
    assert_eq!(names[2], "max_pool1");
    assert_eq!(names[12], "softmax1");
    // A chain: each node reads the value the one before produced.
    for (i, node) in net.nodes.iter().enumerate() {
        assert_eq!(node.inputs, [i]);
        assert_eq!(node.output, i + 1);
        assert_eq!(net.values[i].consumers, [i]);
    }
    assert_eq!(net.output, 13);
}

#[test]
fn pytorch_keras_and_caffe_spellings_are_aliases() {
    let canonical = build_one(quote! {
        struct A { input: [3, 16, 16], conv(6, kernel = 5), relu, max_pool(2), conv(4, kernel = 3),
                   avg_pool(2), global_avg_pool, flatten, dense(8), tanh, dropout(0.5), dense(4), softmax }
    });
    for ts in [
        quote! {
            struct A { input: [3, 16, 16], conv2d(6, kernel = 5), ReLU, MaxPool2d(2), Conv2D(4, kernel = 3),
                       avg_pool2d(2), GlobalAveragePooling2D, Flatten, linear(8), Tanh, Dropout(0.5), fc(4), Softmax }
        },
        quote! {
            struct A { input: [3, 16, 16], Convolution(6, kernel = 5), relu, maxpool(2), convolution(4, kernel = 3),
                       AveragePooling2D(2), global_avg_pool, flatten, InnerProduct(8), TanH, dropout(0.5), inner_product(4), softmax }
        },
    ] {
        let (net, errors) = build_one(ts);
        assert!(errors.is_empty(), "{errors:?}");
        let (net, canonical) = (net.unwrap(), canonical.0.as_ref().unwrap());
        let kinds = |n: &Network| -> Vec<(String, &'static str)> {
            n.nodes
                .iter()
                .map(|x| (x.name.clone(), x.layer.keyword()))
                .collect()
        };
        // The same layers with the same automatic names (`dense1`, not `linear1`).
        assert_eq!(kinds(&net), kinds(canonical));
    }
}

#[test]
fn misspellings_are_matched_against_keywords_and_aliases() {
    let errors = errors_of(quote! { struct A { input: [3, 8, 8], maxpol(2) } });
    assert!(errors[0].contains("did you mean `max_pool`?"), "{errors:?}");
    let errors = errors_of(quote! { struct A { input: [3, 8, 8], Conv2DD(2, kernel = 3) } });
    assert!(errors[0].contains("did you mean `conv`?"), "{errors:?}");
    let errors = errors_of(quote! { struct A { input: [8], lineer(2) } });
    assert!(errors[0].contains("did you mean `dense`?"), "{errors:?}");
    let errors = errors_of(quote! { struct A { input: [8], frobnicate } });
    assert!(!errors[0].contains("did you mean"), "{errors:?}");
}

#[test]
fn automatic_names_skip_explicit_ones() {
    let (net, errors) = build_one(quote! {
        struct A { input: [4], relu2: relu, relu, relu }
    });
    assert!(errors.is_empty());
    let names: Vec<String> = net.unwrap().nodes.iter().map(|n| n.name.clone()).collect();
    assert_eq!(names, ["relu2", "relu1", "relu3"]);
}

#[test]
fn kernel_that_does_not_fit() {
    let (_, errors) = build_one(quote! {
        struct A { input: [16, 3, 3], conv3: conv(4, kernel = 5) }
    });
    assert_eq!(
        errors,
        ["conv3: kernel 5x5 does not fit its 16x3x3 input (padding 0)"]
    );
}

#[test]
fn all_errors_at_once_without_cascade() {
    let (_, errors) = build_one(quote! {
        struct A {
            input: [1, 8, 8],
            conv(0, kernel = 3),
            relu,
            pool: max_pool(20),
            frobnicate,
        }
    });
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("channels"));
    assert!(errors[1].contains("unknown layer `frobnicate`"));
}

#[test]
fn suggestions_for_typos() {
    assert_eq!(layers::suggestion("maxpoll"), Some("max_pool"));
    assert_eq!(layers::suggestion("xyzzy"), None);
}

#[test]
fn alexnet_counts() {
    let (net, errors) = build_one(quote! {
        struct AlexNet {
            input: [3, 224, 224],
            conv(64, kernel = 11, stride = 4, pad = 2), relu, max_pool(3, stride = 2),
            conv(192, kernel = 5, pad = 2), relu, max_pool(3, stride = 2),
            conv(384, kernel = 3, pad = 1), relu,
            conv(256, kernel = 3, pad = 1), relu,
            conv(256, kernel = 3, pad = 1), relu, max_pool(3, stride = 2),
            flatten, dropout(0.5),
            dense(4096), relu, dropout(0.5),
            dense(4096), relu,
            dense(1000),
        }
    });
    assert!(errors.is_empty(), "{errors:?}");
    let net = net.unwrap();
    assert_eq!(
        (0..net.nodes.len())
            .map(|i| net.param_count(i))
            .sum::<usize>(),
        61_100_840
    );
    assert_eq!(
        (0..net.nodes.len()).map(|i| net.macs(i)).sum::<u64>(),
        714_188_480
    );
}

fn errors_of(ts: TokenStream) -> Vec<String> {
    build_one(ts).1
}

#[test]
fn errors_come_in_source_order() {
    let errors = errors_of(quote! {
        struct A { input: [4], a: relu(1), a: dense(0) }
    });
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("relu takes no arguments"), "{errors:?}");
    assert!(errors[1].contains("duplicate layer name `a`"), "{errors:?}");
    assert!(
        errors[2].contains("`units` must be at least 1"),
        "{errors:?}"
    );
}

#[test]
fn shape_checks_continue_after_a_bad_activation() {
    let errors = errors_of(quote! {
        struct A { input: [1, 8, 8], relu(3), dropout(2.0), conv(4, kernel = 9) }
    });
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(
        errors[2],
        "conv1: kernel 9x9 does not fit its 1x8x8 input (padding 0)"
    );
    // After a broken layer whose shape depends on its arguments, the
    // shape is unknown and nothing more is said about shapes.
    let errors = errors_of(quote! {
        struct A { input: [1, 8, 8], conv(4, kernel = true), conv(4, kernel = 9) }
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn misspelt_argument_is_not_also_missing() {
    let errors = errors_of(quote! { struct A { input: [1, 8, 8], conv(4, kernal = 3) } });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("did you mean `kernel`?"), "{errors:?}");
    // A name that is not close to any argument still leaves `kernel` missing.
    let errors = errors_of(quote! { struct A { input: [1, 8, 8], conv(4, xyzzy = 3) } });
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn argument_given_by_position_and_by_name() {
    let errors = errors_of(quote! { struct A { input: [1, 8, 8], c: conv(4, 3, kernel = 5) } });
    assert_eq!(
        errors,
        ["c: `kernel` is given twice: by position (`3`) and as `kernel = 5`"]
    );
}

#[test]
fn too_many_positional_arguments_name_the_next_one() {
    let errors = errors_of(quote! { struct A { input: [4], d: dense(3, false) } });
    assert_eq!(
        errors,
        ["d: too many positional arguments: dense takes only `units` by position; write `bias = false`"]
    );
    let errors = errors_of(quote! { struct A { input: [1, 8, 8], c: conv(4, 3, 2) } });
    assert_eq!(
        errors,
        ["c: too many positional arguments: conv takes only `channels` and `kernel` by position; write `stride = 2`"]
    );
}

#[test]
fn suffixed_and_huge_integers_are_refused() {
    let errors = errors_of(quote! { struct A { input: [1, 8, 8], c: conv(4, kernel = 3x5) } });
    assert_eq!(
        errors,
        ["c: `kernel` must be a plain integer, found `3x5`; write a 3x5 size as the pair `(3, 5)`"]
    );
    let errors = errors_of(quote! { struct A { input: [1, 8u8, 8], relu } });
    assert_eq!(errors, ["input dimensions are plain integers, found `8u8`"]);
    let errors = errors_of(quote! {
        struct A { input: [1, 8, 8], c: conv(4, kernel = 3, pad = 9223372036854775808) }
    });
    assert_eq!(
        errors,
        ["c: `pad` is too large: 9223372036854775808 (at most 16777216)"]
    );
}

#[test]
fn layers_too_large_for_the_counters() {
    // Every argument within bounds, but 2^24 channels over 2^24 input
    // channels: the parameter count would not fit.
    let errors = errors_of(quote! {
        struct A { input: [16777216, 1, 1], c: conv(16777216, kernel = 1) }
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("c: the layer is too large"),
        "{errors:?}"
    );
    let errors = errors_of(quote! {
        struct A { input: [1, 1, 1], c: conv(1, kernel = 1, pad = 16777216) }
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("c: the layer is too large"),
        "{errors:?}"
    );
}

#[test]
fn raw_layer_names_and_names_like_constants() {
    let (net, errors) = build_one(quote! { struct A { input: [4], r#type: dense(2) } });
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(net.unwrap().nodes[0].name, "type");
    // Names that read like the generated constants are fine.
    let errors = errors_of(quote! { struct A { input: [4], Params: dense(2), plan: relu } });
    assert!(errors.is_empty(), "{errors:?}");
    let errors = errors_of(quote! { struct A { input: [4], r#type: dense(2), type: relu } });
    assert_eq!(
        errors,
        ["duplicate layer name `type`: every layer needs its own name"]
    );
}

#[test]
fn late_input_is_one_error() {
    let errors = errors_of(quote! { struct A { relu, input: [4] } });
    assert_eq!(errors, ["`input: [...]` must come before the first layer"]);
}

// ---------------------------------------------------------------------
// Robustness: no token stream makes the macro panic.

use proc_macro2::{Delimiter, Group};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;

/// A token stream with its groups opened up, so that prefixes,
/// deletions and shuffles can cut through them.
#[derive(Clone)]
enum Flat {
    Open(Delimiter),
    Close(Delimiter),
    Leaf(proc_macro2::TokenTree),
}

fn flatten(ts: TokenStream, out: &mut Vec<Flat>) {
    for tt in ts {
        match tt {
            proc_macro2::TokenTree::Group(g) => {
                out.push(Flat::Open(g.delimiter()));
                flatten(g.stream(), out);
                out.push(Flat::Close(g.delimiter()));
            }
            leaf => out.push(Flat::Leaf(leaf)),
        }
    }
}

/// The token stream of `flat`: unmatched closers are dropped and groups
/// left open are closed.
fn rebuild(flat: &[Flat]) -> TokenStream {
    let mut stack: Vec<(Delimiter, Vec<proc_macro2::TokenTree>)> =
        vec![(Delimiter::None, Vec::new())];
    let close = |stack: &mut Vec<(Delimiter, Vec<proc_macro2::TokenTree>)>| {
        let (d, items) = stack.pop().unwrap();
        let group = Group::new(d, items.into_iter().collect());
        stack.last_mut().unwrap().1.push(group.into());
    };
    for f in flat {
        match f {
            Flat::Open(d) => stack.push((*d, Vec::new())),
            Flat::Close(d) => {
                if stack.len() > 1 && stack.last().unwrap().0 == *d {
                    close(&mut stack);
                }
            }
            Flat::Leaf(t) => stack.last_mut().unwrap().1.push(t.clone()),
        }
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    stack.pop().unwrap().1.into_iter().collect()
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SEEDS: &[&str] = &[
    "/// Doc. \n #[cnn(fuse = false)] pub struct LeNet5 { input: [1, 28, 28], \
     conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2), \
     conv2: conv(16, kernel = 5), relu, max_pool(2, stride = 2), flatten, \
     fc1: dense(120), relu, fc2: dense(84), relu, fc3: dense(10), softmax, }",
    "struct SmallNet { input: [3, 17, 15], \
     conv1: conv(9, kernel = (3, 5), stride = (1, 2), pad = (1, 2)), relu, \
     max_pool(3, stride = 2, pad = 1), conv2: conv(12, kernel = 3, pad = 1), tanh, \
     conv3: conv(6, kernel = 1, bias = false), relu, avg_pool(2), flatten, \
     fc1: dense(20), sigmoid, dropout(0.5), fc2: dense(5), softmax } ; \
     struct Mlp { input: [10], dense(4, bias = true), relu, dense(2) }",
    "struct G { input: [4, 9, 9], conv(8, kernel = [3, 3], stride = [2, 1]), \
     global_avg_pool, flatten, dense(3) } struct G { input: [2], r#type: dense(1) }",
];

/// Tokens spliced into the seeds.
const POOL: &str = "0 1 2 3 5 255 256 16777216 16777217 18446744073709551615 \
    99999999999999999999999 9223372036854775808 3x5 8u8 1.5 0.99 1e9 true false \
    \"s\" 'c' b'x' r#type input struct pub conv dense max_pool avg_pool global_avg_pool \
    flatten relu softmax dropout kernel stride pad bias size channels units p fuse \
    weights crate plan self Self : = , ; # ! < > - + * . :: => ..";

fn run_passes(ts: &TokenStream) {
    let mut diag = Diagnostics::default();
    let invocation = parse_invocation(ts.clone(), &mut diag);
    for decl in &invocation.networks {
        let _ = build(decl, &invocation.blocks, &mut diag);
    }
    let _ = diag.to_compile_errors();
    // The whole macro, plan and code generation included.
    let _ = crate::expand(ts.clone());
}

/// Runs every case and fails with the first few that panicked.
fn assert_no_panics(cases: impl IntoIterator<Item = TokenStream>) {
    let mut panicked = Vec::new();
    let mut count = 0;
    for ts in cases {
        count += 1;
        if catch_unwind(AssertUnwindSafe(|| run_passes(&ts))).is_err() {
            panicked.push(ts.to_string());
        }
    }
    assert!(count > 0);
    assert!(
        panicked.is_empty(),
        "{} of {count} inputs panicked, e.g.:\n{}",
        panicked.len(),
        panicked[..panicked.len().min(5)].join("\n")
    );
}

fn seeds() -> Vec<Vec<Flat>> {
    SEEDS
        .iter()
        .map(|s| {
            let mut flat = Vec::new();
            flatten(TokenStream::from_str(s).unwrap(), &mut flat);
            flat
        })
        .collect()
}

#[test]
fn no_panic_on_prefixes_and_deletions() {
    let mut cases = Vec::new();
    for flat in seeds() {
        for end in 0..=flat.len() {
            cases.push(rebuild(&flat[..end]));
            cases.push(rebuild(&flat[end..]));
        }
        for i in 0..flat.len() {
            let mut v = flat.clone();
            v.remove(i);
            cases.push(rebuild(&v));
        }
    }
    assert_no_panics(cases);
}

#[test]
fn no_panic_on_random_mutations_and_shuffles() {
    let mut pool = Vec::new();
    flatten(TokenStream::from_str(POOL).unwrap(), &mut pool);
    for d in [Delimiter::Parenthesis, Delimiter::Bracket, Delimiter::Brace] {
        pool.push(Flat::Open(d));
        pool.push(Flat::Close(d));
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cases = Vec::new();
    for flat in seeds() {
        for _ in 0..1500 {
            let mut v = flat.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(v.len() + 1);
                let tok = pool[rng.below(pool.len())].clone();
                match rng.below(5) {
                    0 if i < v.len() => v[i] = tok,
                    1 => v.insert(i, tok),
                    2 if i < v.len() => {
                        v.remove(i);
                    }
                    3 => {
                        let j = rng.below(v.len());
                        if i < v.len() {
                            v.swap(i, j);
                        }
                    }
                    _ => {
                        // Duplicate a run of tokens.
                        let j = (i + rng.below(8)).min(v.len());
                        let run: Vec<Flat> = v[i..j].to_vec();
                        v.splice(j..j, run);
                    }
                }
            }
            cases.push(rebuild(&v));
        }
        for _ in 0..200 {
            // A full shuffle.
            let mut v = flat.clone();
            for i in (1..v.len()).rev() {
                v.swap(i, rng.below(i + 1));
            }
            cases.push(rebuild(&v));
        }
    }
    assert_no_panics(cases);
}

#[test]
fn no_panic_on_extreme_sizes() {
    const EDGES: &[&str] = &[
        "0",
        "1",
        "2",
        "3",
        "7",
        "255",
        "256",
        "4096",
        "65536",
        "16777216",
        "16777217",
        "4294967296",
        "9223372036854775808",
        "18446744073709551615",
    ];
    let mut rng = Rng(42);
    let pick = |rng: &mut Rng| {
        // Mostly small values, so that many networks get through the
        // checks and reach the later passes.
        if rng.below(3) == 0 {
            EDGES[rng.below(EDGES.len())]
        } else {
            EDGES[1 + rng.below(6)]
        }
    };
    let mut cases = Vec::new();
    for _ in 0..3000 {
        let v: Vec<&str> = (0..16).map(|_| pick(&mut rng)).collect();
        let src = format!(
            "struct N {{ input: [{}, {}, {}], \
             conv({}, kernel = ({}, {}), stride = ({}, {}), pad = ({}, {})), relu, \
             max_pool({}, stride = {}, pad = {}), avg_pool(({}, 1)), flatten, \
             dense({}), softmax }}",
            v[0],
            v[1],
            v[2],
            v[3],
            v[4],
            v[5],
            v[6],
            v[7],
            v[8],
            v[9],
            v[10],
            v[11],
            v[12],
            v[13],
            v[14]
        );
        cases.push(TokenStream::from_str(&src).unwrap());
        let mlp = format!(
            "struct M {{ input: [{}], dense({}), dense({}) }}",
            v[0], v[14], v[15]
        );
        cases.push(TokenStream::from_str(&mlp).unwrap());
    }
    assert_no_panics(cases);
}
