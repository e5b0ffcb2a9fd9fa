//! Grouped convolution (`Conv::groups`, PyTorch's semantics) against the
//! same layer without groups and block-diagonal weights, forward and
//! backward, unfused and fused with ReLU and max-pool, by every algorithm
//! and at every SIMD level this machine runs; and against finite
//! differences.

use cnn_runtime::ops::{
    self, Act, Backward, Conv, ConvAlgo, ConvGeom, Forward, Grads, Params, PoolGeom,
};
use cnn_runtime::simd::{self, Level};
use std::sync::Mutex;

static LEVEL: Mutex<()> = Mutex::new(());

fn each_level(mut f: impl FnMut(Level)) {
    let _g = LEVEL.lock().unwrap_or_else(|e| e.into_inner());
    for level in simd::available_levels() {
        simd::force(level).unwrap();
        f(level);
    }
    simd::force(simd::best_available()).unwrap();
}

fn rand_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A layer shape: one group's geometry, groups, algorithm, an optional
/// fused pool `(window, stride, pad)`.
#[derive(Clone, Copy, Debug)]
struct Case {
    groups: usize,
    c: usize,
    k: usize,
    hw: (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    pad: (usize, usize),
    algo: ConvAlgo,
    pool: Option<(usize, usize, usize)>,
}

impl Case {
    /// The grouped layer and the equivalent layer without groups.
    fn layers(&self, act: Act) -> (Conv, Conv) {
        let (h, w) = self.hw;
        let g = ConvGeom::new(self.c, h, w, self.k, self.kernel, self.stride, self.pad);
        let pool = |k: usize| {
            self.pool
                .map(|(s, st, p)| PoolGeom::new(k, g.oh, g.ow, (s, s), (st, st), (p, p)))
        };
        let grouped = Conv {
            geom: g,
            algo: self.algo,
            act,
            pool: pool(self.k),
            bias: true,
            groups: self.groups,
        };
        let n = self.groups;
        let plain = Conv {
            geom: ConvGeom::new(
                n * self.c,
                h,
                w,
                n * self.k,
                self.kernel,
                self.stride,
                self.pad,
            ),
            pool: pool(n * self.k),
            groups: 1,
            ..grouped
        };
        (grouped, plain)
    }
}

/// The block-diagonal weights `[K, C, kh, kw]` of grouped weights
/// `[K, C / groups, kh, kw]`.
fn block_diagonal(l: &Conv, w: &[f32]) -> Vec<f32> {
    let g = l.geom;
    let taps = g.kh * g.kw;
    let c_all = l.in_channels();
    let mut out = vec![0.0; l.out_channels() * c_all * taps];
    for o in 0..l.out_channels() {
        let group = o / g.k;
        for c in 0..g.c {
            let src = &w[(o * g.c + c) * taps..][..taps];
            out[(o * c_all + group * g.c + c) * taps..][..taps].copy_from_slice(src);
        }
    }
    out
}

/// The diagonal blocks of a weight gradient of the plain layer, in the
/// grouped layer's layout.
fn diagonal_blocks(l: &Conv, dw: &[f32]) -> Vec<f32> {
    let g = l.geom;
    let taps = g.kh * g.kw;
    let c_all = l.in_channels();
    let mut out = vec![0.0; l.weight_len()];
    for o in 0..l.out_channels() {
        let group = o / g.k;
        for c in 0..g.c {
            let src = &dw[(o * c_all + group * g.c + c) * taps..][..taps];
            out[(o * g.c + c) * taps..][..taps].copy_from_slice(src);
        }
    }
    out
}

/// Output, auxiliary bytes and input, weight and bias gradients of `l`
/// for `n` samples at the current level.
struct Run {
    y: Vec<f32>,
    aux: Vec<u8>,
    dx: Vec<f32>,
    dw: Vec<f32>,
    db: Vec<f32>,
}

fn run(l: &Conv, x: &[f32], w: &[f32], b: &[f32], dy: &[f32], n: usize) -> Run {
    let scratch_len = ops::conv::forward_scratch(l).max(ops::conv::backward_scratch(l));
    let mut scratch = vec![0.0; scratch_len];
    let mut y = vec![0.0; n * l.out_len()];
    let mut aux = vec![0u8; y.len()];
    let p = Params {
        weight: w,
        bias: Some(b),
    };
    let io = Forward {
        x,
        y: &mut y,
        aux: Some(&mut aux),
        n,
    };
    ops::conv::forward(l, p, io, &mut scratch);
    // Inference (no auxiliary bytes) gives the same outputs.
    let mut y_infer = vec![0.0; y.len()];
    let io = Forward {
        x,
        y: &mut y_infer,
        aux: None,
        n,
    };
    ops::conv::forward(l, p, io, &mut scratch);
    assert_eq!(y_infer, y, "inference vs training forward of {l:?}");
    let mut d = dy.to_vec();
    let (mut dx, mut dw, mut db) = (
        vec![0.0; n * l.in_len()],
        vec![0.0; l.weight_len()],
        vec![0.0; l.out_channels()],
    );
    let io = Backward {
        x,
        y: Some(&y),
        aux: Some(&aux),
        dy: &mut d,
        dx: Some(&mut dx),
        n,
    };
    let grads = Grads {
        weight: Some(&mut dw),
        bias: Some(&mut db),
    };
    ops::conv::backward(l, w, io, grads, &mut scratch);
    Run { y, aux, dx, dw, db }
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
            "{what}[{i}]: {a} vs {b}"
        );
    }
}

fn cases() -> Vec<Case> {
    let case = |groups, c, k, kernel: usize, pad: usize, algo, pool| Case {
        groups,
        c,
        k,
        hw: (9, 11),
        kernel: (kernel, kernel),
        stride: (1, 1),
        pad: (pad, pad),
        algo,
        pool,
    };
    let d = ConvAlgo::Direct;
    let mut v = vec![
        // Column-vectorised, channel-vectorised and depthwise direct.
        case(2, 2, 3, 3, 1, d, None),
        case(2, 2, 16, 3, 1, d, None),
        case(6, 1, 1, 3, 1, d, None),
        case(4, 1, 2, 5, 2, d, None),
        // GEMM algorithms.
        case(3, 3, 4, 3, 0, ConvAlgo::Im2col, None),
        case(2, 4, 5, 1, 0, ConvAlgo::Pointwise, None),
        // Fused: disjoint windows (column and channel kernels), overlapping
        // windows, and the band kernel of both GEMM algorithms.
        case(2, 2, 3, 3, 1, d, Some((2, 2, 0))),
        case(2, 3, 16, 3, 1, d, Some((2, 2, 0))),
        case(3, 1, 2, 3, 1, d, Some((3, 2, 1))),
        case(2, 3, 4, 3, 1, ConvAlgo::Im2col, Some((2, 2, 0))),
        case(2, 4, 3, 1, 0, ConvAlgo::Pointwise, Some((3, 3, 0))),
    ];
    // A horizontal stride (the scalar fallbacks of the direct kernels).
    v.push(Case {
        stride: (2, 2),
        ..case(2, 2, 3, 3, 1, d, None)
    });
    v
}

#[test]
fn grouped_equals_block_diagonal() {
    for (i, case) in cases().into_iter().enumerate() {
        let (grouped, plain) = case.layers(Act::Relu);
        let n = 2;
        let seed = 100 * i as u64;
        let x = rand_vec(n * grouped.in_len(), seed + 1);
        let w = rand_vec(grouped.weight_len(), seed + 2);
        let b = rand_vec(grouped.out_channels(), seed + 3);
        let dy = rand_vec(n * grouped.out_len(), seed + 4);
        let wd = block_diagonal(&grouped, &w);
        assert_eq!(plain.in_len(), grouped.in_len());
        assert_eq!(plain.out_len(), grouped.out_len());
        each_level(|level| {
            let what = format!("{case:?} at {level:?}");
            let got = run(&grouped, &x, &w, &b, &dy, n);
            let want = run(&plain, &x, &wd, &b, &dy, n);
            assert_close(&format!("{what}: y"), &got.y, &want.y);
            assert_eq!(got.aux, want.aux, "{what}: mask or argmax");
            assert_close(&format!("{what}: dx"), &got.dx, &want.dx);
            let dw = diagonal_blocks(&grouped, &want.dw);
            assert_close(&format!("{what}: dw"), &got.dw, &dw);
            assert_close(&format!("{what}: db"), &got.db, &want.db);
        });
    }
}

/// `sum(y * r)` in f64 for the layer's output on `x` with weights `w`,
/// bias `b`.
fn loss(l: &Conv, x: &[f32], w: &[f32], b: &[f32], r: &[f32], n: usize) -> f64 {
    let mut scratch = vec![0.0; ops::conv::forward_scratch(l)];
    let mut y = vec![0.0; n * l.out_len()];
    let p = Params {
        weight: w,
        bias: Some(b),
    };
    let io = Forward {
        x,
        y: &mut y,
        aux: None,
        n,
    };
    ops::conv::forward(l, p, io, &mut scratch);
    y.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
}

#[test]
fn grouped_gradients_match_finite_differences() {
    // Unfused layers without activation: the loss is linear in every
    // parameter and input. (The fused layers' gradients are checked against
    // the unfused computation above.)
    for (i, case) in cases().into_iter().enumerate() {
        if case.pool.is_some() {
            continue;
        }
        let (l, _) = case.layers(Act::Identity);
        let n = 2;
        let seed = 1000 + 100 * i as u64;
        let x = rand_vec(n * l.in_len(), seed + 1);
        let w = rand_vec(l.weight_len(), seed + 2);
        let b = rand_vec(l.out_channels(), seed + 3);
        let r = rand_vec(n * l.out_len(), seed + 4);
        each_level(|level| {
            let got = run(&l, &x, &w, &b, &r, n);
            let eps = 1e-2f32;
            let check = |what: &str, analytic: &[f32], numeric: &dyn Fn(usize) -> f64| {
                // Every 7th value keeps the test quick.
                for j in (0..analytic.len()).step_by(7) {
                    let want = numeric(j);
                    assert!(
                        (analytic[j] as f64 - want).abs() <= 2e-3 * (1.0 + want.abs()),
                        "{case:?} at {level:?}: {what}[{j}] = {} vs {want}",
                        analytic[j]
                    );
                }
            };
            check("dw", &got.dw, &|j| {
                let (mut wp, mut wm) = (w.clone(), w.clone());
                wp[j] += eps;
                wm[j] -= eps;
                (loss(&l, &x, &wp, &b, &r, n) - loss(&l, &x, &wm, &b, &r, n)) / (2.0 * eps as f64)
            });
            check("db", &got.db, &|j| {
                let (mut bp, mut bm) = (b.clone(), b.clone());
                bp[j] += eps;
                bm[j] -= eps;
                (loss(&l, &x, &w, &bp, &r, n) - loss(&l, &x, &w, &bm, &r, n)) / (2.0 * eps as f64)
            });
            check("dx", &got.dx, &|j| {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[j] += eps;
                xm[j] -= eps;
                (loss(&l, &xp, &w, &b, &r, n) - loss(&l, &xm, &w, &b, &r, n)) / (2.0 * eps as f64)
            });
        });
    }
}
