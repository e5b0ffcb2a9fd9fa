//! Seeded mutation fuzzing of the macro: networks whose tokens are
//! deleted, repeated, swapped or replaced at random must give compile
//! errors, never a panic of the macro. Runs in `cargo test` in seconds;
//! `CNN_FUZZ_CASES=n` runs more.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// Well-formed invocations the mutations start from.
const SEEDS: &[&str] = &[
    r#"
    #[cnn(fuse = false)]
    pub struct LeNet5 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu, dropout(0.5),
        fc2: dense(10),
        softmax,
    }
    "#,
    r#"
    block basic_conv(out, kernel, pad = 0) = [
        conv: conv(out, kernel = kernel, pad = pad, bias = false), bn: batch_norm(eps = 1e-3), relu,
    ];
    block inception(c1, c3r, c3, pool) = concat(
        branch1: basic_conv(c1, 1),
        branch2: [basic_conv(c3r, 1), basic_conv(c3, 3, pad = 1)],
        branch3: [max_pool(3, stride = 1, pad = 1, ceil_mode = true), basic_conv(pool, 1)],
    );
    block basic(planes) = [
        add([conv1: conv(planes, kernel = 3, pad = 1), relu, conv2: conv(planes, kernel = 3, pad = 1)], identity),
        relu,
    ];
    struct Net {
        input: [3, 16, 16],
        stem: basic_conv(8, 3, pad = 1) as "features.0",
        inception3a: inception(4, 4, 8, c1 = 2),
        layer1: [basic(14), basic(14)],
        lrn(5), avg_pool(2, stride = 2),
        global_avg_pool, flatten,
        fc: dense(10, bias = false),
    }
    "#,
    r#"
    #[cnn(allow(batch_norm_with_dropout), crate = ::cnn)]
    struct Mlp {
        input: [16],
        dense(8), sigmoid, batch_norm(momentum = 0.2), dropout(0.1), dense(4), tanh,
        conv(3, kernel = (1, 2), groups = 1),
    }
    "#,
];

/// Tokens a mutation may insert.
const VOCABULARY: &[&str] = &[
    "conv",
    "dense",
    "relu",
    "max_pool",
    "concat",
    "add",
    "block",
    "struct",
    "input",
    "as",
    "\"features.0\"",
    "identity",
    "batch_norm",
    "flatten",
    "0",
    "1",
    "-1",
    "3",
    "255",
    "256",
    "99999999999999999999",
    "1e40",
    "0.99999999999",
    "-0.0",
    "NaN",
    "true",
    ",",
    ":",
    "=",
    ";",
    "#",
    "!",
    "r#type",
    "f32",
    "Self",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "_",
    "'a",
    "b'x'",
    "1u8",
    "kernel",
    "stride",
    "pad",
    "groups",
    "ceil_mode",
    "eps",
    "momentum",
    "fuse",
    "fuse_overlapping",
    "weights",
];

/// xorshift64*: a small seeded generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// The tokens of `stream` as text, groups opened and closed in place.
fn flatten(stream: TokenStream, out: &mut Vec<String>) {
    for tree in stream {
        match tree {
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::None => ("", ""),
                };
                out.push(open.into());
                flatten(g.stream(), out);
                out.push(close.into());
            }
            other => out.push(other.to_string()),
        }
    }
}

fn mutate(tokens: &mut Vec<String>, rng: &mut Rng) {
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(tokens.len());
        match rng.below(4) {
            0 => {
                tokens.remove(i);
            }
            1 => {
                let t = tokens[i].clone();
                tokens.insert(i, t);
            }
            2 => {
                let j = rng.below(tokens.len());
                tokens.swap(i, j);
            }
            _ => tokens[i] = VOCABULARY[rng.below(VOCABULARY.len())].to_string(),
        }
        if tokens.is_empty() {
            return;
        }
    }
}

#[test]
fn mutated_networks_never_panic_the_macro() {
    let cases: usize = std::env::var("CNN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut rng = Rng(0x5EED_CAFE_F00D);
    let (mut expanded, mut unlexable) = (0, 0);
    for case in 0..cases {
        let seed = SEEDS[case % SEEDS.len()];
        let mut tokens = Vec::new();
        flatten(TokenStream::from_str(seed).unwrap(), &mut tokens);
        mutate(&mut tokens, &mut rng);
        let text = tokens.join(" ");
        let Ok(stream) = TokenStream::from_str(&text) else {
            unlexable += 1;
            continue;
        };
        let result = catch_unwind(AssertUnwindSafe(|| crate::expand(stream)));
        assert!(
            result.is_ok(),
            "case {case}: the macro panicked on:\n{text}"
        );
        expanded += 1;
    }
    // Most mutations still lex (unbalanced delimiters do not).
    assert!(
        expanded > cases / 2,
        "{expanded} of {cases} expanded, {unlexable} did not lex"
    );
}
