//! Every SIMD level this machine runs against plain references, on many
//! sizes (remainders included): GEMM with every layout, direct
//! convolutions forward and backward, fused pooling, dense layers.

use cnn_runtime::ops::gemm::{sgemm, Layout};
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

fn layout(rows: usize, cols: usize, transposed: bool) -> Layout {
    if transposed {
        Layout::transposed(rows, cols)
    } else {
        Layout::row_major(rows, cols)
    }
}

#[test]
fn gemm_matches_naive_for_all_layouts_and_sizes() {
    let sizes = [
        (1, 1, 1),
        (3, 5, 7),
        (8, 256, 48),
        (9, 257, 49),
        (17, 300, 95),
        (64, 576, 113),
        (97, 31, 200),
        (130, 513, 3),
        // Stripes of column panels of B, partial ones included, read in
        // place (fewer rows than GEMM_PACK_B_ROWS) and packed.
        (20, 40, 250),
        (41, 600, 431),
        // Whole tiles of the levels' own micro-kernels: one step of k, a
        // last k block of one step (B in place, then packed), A's rows in
        // place and packed.
        (12, 1, 16),
        (30, 257, 64),
        (50, 259, 40),
        (16, 1, 48),
        (24, 257, 96),
        (48, 259, 96),
    ];
    each_level(|level| {
        for (si, &(m, k, n)) in sizes.iter().enumerate() {
            for ta in [false, true] {
                for tb in [false, true] {
                    for tc in [false, true] {
                        for beta in [0.0f32, 1.0, 0.5] {
                            let a = rand_vec(m * k, si as u64 * 7 + 1);
                            let b = rand_vec(k * n, si as u64 * 7 + 2);
                            let c0 = rand_vec(m * n, si as u64 * 7 + 3);
                            let (la, lb, lc) =
                                (layout(m, k, ta), layout(k, n, tb), layout(m, n, tc));
                            let mut c = c0.clone();
                            sgemm(&a, la, &b, lb, beta, &mut c, lc);
                            for i in 0..m {
                                for j in 0..n {
                                    let mut want = beta as f64 * c0[i * lc.rs + j * lc.cs] as f64;
                                    for p in 0..k {
                                        want += a[i * la.rs + p * la.cs] as f64
                                            * b[p * lb.rs + j * lb.cs] as f64;
                                    }
                                    let got = c[i * lc.rs + j * lc.cs] as f64;
                                    assert!(
                                        (got - want).abs() <= 1e-4 * (k as f64).sqrt() + 1e-5 * want.abs(),
                                        "{level:?} {m}x{k}x{n} ta={ta} tb={tb} tc={tc} beta={beta}: [{i},{j}] {got} vs {want}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    });
}

use cnn_runtime::ops::{
    self, Act, Backward, Conv, ConvAlgo, ConvGeom, Dense, Forward, Grads, Params, PoolGeom,
};

/// Runs `f` at the scalar level and at every other level, comparing
/// each output vector with the scalar one.
fn against_scalar(what: &str, tol: f32, mut f: impl FnMut() -> Vec<Vec<f32>>) {
    let _g = LEVEL.lock().unwrap_or_else(|e| e.into_inner());
    simd::force(Level::Scalar).unwrap();
    let want = f();
    for level in simd::available_levels().filter(|&l| l != Level::Scalar) {
        simd::force(level).unwrap();
        let got = f();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.len(), w.len());
            for (j, (&a, &b)) in g.iter().zip(w).enumerate() {
                let ok = (a - b).abs() <= tol * (1.0 + b.abs()) || (a.is_nan() && b.is_nan());
                assert!(ok, "{what} at {level:?}: output {i}[{j}] = {a}, scalar {b}");
            }
        }
    }
    simd::force(simd::best_available()).unwrap();
}

/// Shapes that exercise every direct-conv kernel: few and many output
/// channels (column- and channel-vectorised), widths just under, at and
/// over a vector, odd sizes, padding, strides, 3x3 and 5x5 taps.
fn conv_shapes() -> Vec<ConvGeom> {
    let mut v = Vec::new();
    for &(c, h, w) in &[
        (1, 28, 28),
        (3, 9, 17),
        (6, 14, 14),
        (2, 7, 33),
        (4, 16, 16),
        (1, 5, 8),
    ] {
        for &k in &[1, 5, 6, 16, 20, 33] {
            for &(kh, kw) in &[(3, 3), (5, 5), (2, 3)] {
                for &(s, p) in &[
                    ((1, 1), (0, 0)),
                    ((1, 1), (1, 1)),
                    ((2, 1), (2, 1)),
                    ((2, 2), (1, 2)),
                ] {
                    if h + 2 * p.0 >= kh && w + 2 * p.1 >= kw {
                        v.push(ConvGeom::new(c, h, w, k, (kh, kw), s, p));
                    }
                }
            }
        }
    }
    v
}

#[test]
fn direct_convolution_forward_and_backward() {
    for (i, g) in conv_shapes().into_iter().enumerate() {
        let n = 2;
        let x = rand_vec(n * g.in_len(), i as u64 + 10);
        let w = rand_vec(g.weight_len(), i as u64 + 11);
        let b = rand_vec(g.k, i as u64 + 12);
        let dy = rand_vec(n * g.out_len(), i as u64 + 13);
        let layer = Conv {
            geom: g,
            algo: ConvAlgo::Direct,
            act: Act::Relu,
            pool: None,
            bias: true,
            groups: 1,
        };
        against_scalar(&format!("direct conv {g:?}"), 1e-4, || {
            forward_backward(&layer, &x, &w, &b, &dy, n, 0)
        });
    }
}

/// The layer's output and its input, weight and bias gradients for `n`
/// samples, at the current level (the forward pass keeps what the backward
/// pass needs).
fn forward_backward(
    layer: &Conv,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    dy: &[f32],
    n: usize,
    scratch_len: usize,
) -> Vec<Vec<f32>> {
    let g = layer.geom;
    let out_len = layer.pool.map_or(g.out_len(), |p| p.out_len());
    let mut scratch = vec![0.0; scratch_len];
    let mut y = vec![0.0; n * out_len];
    let mut aux = vec![0u8; y.len()];
    ops::conv::forward(
        layer,
        Params {
            weight: w,
            bias: Some(b),
        },
        Forward {
            x,
            y: &mut y,
            aux: Some(&mut aux),
            n,
        },
        &mut scratch,
    );
    let mut d = dy.to_vec();
    let (mut dx, mut dw, mut db) = (
        vec![0.0; n * g.in_len()],
        vec![0.0; g.weight_len()],
        vec![0.0; g.k],
    );
    ops::conv::backward(
        layer,
        w,
        Backward {
            x,
            y: None,
            aux: Some(&aux),
            dy: &mut d,
            dx: Some(&mut dx),
            n,
        },
        Grads {
            weight: Some(&mut dw),
            bias: Some(&mut db),
        },
        &mut scratch,
    );
    vec![y, dx, dw, db]
}

#[test]
fn fused_convolution_pooling() {
    for (i, g) in conv_shapes().into_iter().enumerate() {
        for &(size, stride, pad) in &[(2, 2, 0), (3, 2, 1), (3, 3, 0)] {
            if g.oh + 2 * pad < size || g.ow + 2 * pad < size {
                continue;
            }
            let p = PoolGeom::new(g.k, g.oh, g.ow, (size, size), (stride, stride), (pad, pad));
            let layer = Conv {
                geom: g,
                algo: ConvAlgo::Direct,
                act: Act::Relu,
                pool: Some(p),
                bias: true,
                groups: 1,
            };
            let n = 2;
            let x = rand_vec(n * g.in_len(), i as u64 + 20);
            let w = rand_vec(g.weight_len(), i as u64 + 21);
            let b = rand_vec(g.k, i as u64 + 22);
            let dy = rand_vec(n * p.out_len(), i as u64 + 23);
            let fs = ops::conv::forward_scratch(&layer).max(ops::conv::backward_scratch(&layer));
            against_scalar(&format!("fused {g:?} {p:?}"), 1e-4, || {
                forward_backward(&layer, &x, &w, &b, &dy, n, fs)
            });
        }
    }
}

#[test]
fn dense_and_relu() {
    for &(i, o, n) in &[
        (1, 1, 1),
        (7, 3, 4),
        (16, 8, 2),
        (17, 9, 3),
        (400, 120, 5),
        (33, 65, 1),
        (120, 84, 64),
    ] {
        let x = rand_vec(n * i, (i * o) as u64);
        let w = rand_vec(i * o, (i + o) as u64);
        let b = rand_vec(o, 3);
        let layer = Dense {
            inputs: i,
            outputs: o,
            act: Act::Relu,
            bias: true,
        };
        against_scalar(&format!("dense {i}x{o} batch {n}"), 1e-4, || {
            let mut y = vec![0.0; n * o];
            let p = Params {
                weight: &w,
                bias: Some(&b),
            };
            let io = Forward {
                x: &x,
                y: &mut y,
                aux: None,
                n,
            };
            ops::dense::forward(&layer, p, io);
            vec![y]
        });
    }
    for len in [0, 1, 7, 8, 15, 16, 17, 100] {
        let mut x = rand_vec(len, len as u64);
        if len > 3 {
            x[3] = f32::NAN;
        }
        against_scalar(&format!("relu {len}"), 0.0, || {
            let mut y = x.clone();
            ops::activation::forward_in_place(Act::Relu, &mut y, None);
            vec![y]
        });
    }
}

/// Max pooling without argmax (the row-wise path inference takes): every
/// level against the scalar level and against the window-by-window path,
/// strides 1 to 3, padding, ceil mode, widths under, at and over a vector
/// (and at two vectors), windows up to 7 wide, NaN in some windows.
#[test]
fn max_pool_rows() {
    use cnn_runtime::ops::pool::max_forward;
    use cnn_runtime::ops::PoolGeom;
    for &(c, h, w) in &[
        (3, 28, 28),
        (2, 14, 14),
        (2, 7, 7),
        (1, 9, 33),
        (1, 5, 32),
        (2, 112, 112),
    ] {
        for &(k, st, p) in &[
            (3, 1, 1),
            (3, 2, 0),
            (2, 2, 0),
            (3, 2, 1),
            (5, 1, 2),
            (1, 1, 0),
            (7, 2, 3),
            (3, 3, 1),
        ] {
            for ceil in [false, true] {
                let g = if ceil {
                    PoolGeom::new_ceil(c, h, w, (k, k), (st, st), (p, p))
                } else {
                    PoolGeom::new(c, h, w, (k, k), (st, st), (p, p))
                };
                let mut x = rand_vec(2 * g.in_len(), (h * 31 + k * 7 + st) as u64);
                x[5] = f32::NAN;
                against_scalar(&format!("max_pool {g:?}"), 0.0, || {
                    let mut y = vec![0.0; 2 * g.out_len()];
                    max_forward(&g, &x, &mut y, None, 2);
                    vec![y]
                });
                // The row-wise path against the window-by-window one that
                // training takes (argmax recorded), at the current level.
                let mut rows = vec![0.0; 2 * g.out_len()];
                max_forward(&g, &x, &mut rows, None, 2);
                let mut windows = vec![0.0; 2 * g.out_len()];
                let mut argmax = vec![0; 2 * g.out_len()];
                max_forward(&g, &x, &mut windows, Some(&mut argmax), 2);
                for (i, (a, b)) in rows.iter().zip(&windows).enumerate() {
                    assert!(
                        a == b || (a.is_nan() && b.is_nan()),
                        "max_pool {g:?}: output {i} is {a} by rows, {b} by windows"
                    );
                }
            }
        }
    }
}

/// `b` (`k x n`, row-major) in the GEMM's panel layout, by the documented
/// index, padding included.
fn pack_by_index(b: &[f32], k: usize, n: usize, nr: usize) -> Vec<f32> {
    let mut packed = vec![f32::NAN; simd::packed_b_len(k, n, nr)];
    for p in 0..k {
        for j in 0..n.next_multiple_of(nr) {
            let v = if j < n { b[p * n + j] } else { 0.0 };
            packed[simd::packed_b_index(k, n, nr, p, j)] = v;
        }
    }
    packed
}

#[test]
fn gemm_with_packed_b_matches_naive() {
    use cnn_runtime::ops::gemm::{sgemm_packed, PackedB};
    // k spans several GEMM_KC blocks and a partial one; n partial panels.
    let sizes = [
        (1, 1, 1),
        (9, 257, 49),
        (41, 600, 431),
        (8, 256, 48),
        (130, 40, 3),
    ];
    each_level(|level| {
        let nr = simd::gemm_panel_width();
        for (si, &(m, k, n)) in sizes.iter().enumerate() {
            let a = rand_vec(m * k, si as u64 * 5 + 1);
            let b = rand_vec(k * n, si as u64 * 5 + 2);
            let c0 = rand_vec(m * n, si as u64 * 5 + 3);
            let packed = pack_by_index(&b, k, n, nr);
            assert!(
                packed.iter().all(|v| !v.is_nan()),
                "the index covers the buffer"
            );
            for beta in [0.0f32, 1.0] {
                let mut c = c0.clone();
                let pb = PackedB {
                    data: &packed,
                    k,
                    n,
                    nr,
                };
                let (la, lc) = (Layout::row_major(m, k), Layout::row_major(m, n));
                sgemm_packed(&a, la, pb, beta, &mut c, lc);
                for i in 0..m {
                    for j in 0..n {
                        let mut want = beta as f64 * c0[i * n + j] as f64;
                        for p in 0..k {
                            want += a[i * k + p] as f64 * b[p * n + j] as f64;
                        }
                        let got = c[i * n + j] as f64;
                        assert!(
                            (got - want).abs() <= 1e-4 * (k as f64).sqrt() + 1e-5 * want.abs(),
                            "{level:?} {m}x{k}x{n} beta={beta}: [{i},{j}] {got} vs {want}"
                        );
                    }
                }
            }
        }
    });
}

#[test]
fn im2col_whole_and_packed_match_the_definition() {
    // Strides 1, 2 and 4, padding, 11x11 kernels, and patch lengths past
    // one GEMM_KC block (30 * 9 = 270, 3 * 121 = 363).
    let geoms = [
        ConvGeom::new(3, 9, 11, 4, (3, 3), (1, 1), (1, 1)),
        ConvGeom::new(30, 7, 7, 4, (3, 3), (1, 1), (1, 1)),
        ConvGeom::new(2, 13, 12, 4, (5, 5), (2, 2), (2, 2)),
        ConvGeom::new(3, 31, 31, 4, (11, 11), (4, 4), (2, 2)),
        ConvGeom::new(5, 6, 6, 4, (1, 1), (2, 1), (0, 0)),
    ];
    for g in &geoms {
        let xs = rand_vec(g.in_len(), 7);
        let (k, n) = (g.patch_len(), g.out_pixels());
        // The columns by definition, each value looked up on its own.
        let mut cols = vec![0.0f32; k * n];
        for c in 0..g.c {
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let p = (c * g.kh + ky) * g.kw + kx;
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let iy = (oy * g.sh + ky) as isize - g.ph as isize;
                            let ix = (ox * g.sw + kx) as isize - g.pw as isize;
                            let inside =
                                (0..g.h as isize).contains(&iy) && (0..g.w as isize).contains(&ix);
                            if inside {
                                cols[p * n + oy * g.ow + ox] =
                                    xs[(c * g.h + iy as usize) * g.w + ix as usize];
                            }
                        }
                    }
                }
            }
        }
        let mut plain = vec![f32::NAN; k * n];
        ops::conv::im2col(g, &xs, &mut plain);
        assert_eq!(plain, cols, "{g:?}, row-major");
        // All output rows, and a band of them (what a fused layer packs).
        for (r0, r1) in [(0, g.oh), (1, g.oh.min(3))] {
            let width = (r1 - r0) * g.ow;
            let band: Vec<f32> = (0..k)
                .flat_map(|p| cols[p * n + r0 * g.ow..][..width].to_vec())
                .collect();
            for nr in [2, 8, 16, 48] {
                let want = pack_by_index(&band, k, width, nr);
                let mut got = vec![f32::NAN; want.len()];
                ops::conv::im2col_packed(g, &xs, (r0, r1), &mut got, nr);
                assert_eq!(got, want, "{g:?}, rows {r0}..{r1}, panels of {nr}");
            }
        }
    }
}

/// Winograd's F(4x4, 3x3) at every level against the direct convolution
/// (summed in f64), through the layer's entry point with a ReLU and the
/// training mask: partial tiles, a partial vector of tiles, tile rows
/// split between chunks, padding 0 to 2, odd channel counts. Its backward
/// pass (im2col's) gives the im2col layer's gradients.
#[test]
fn winograd_convolution() {
    for (i, &(c, h, w, k, pad)) in [
        (9usize, 9usize, 11usize, 16usize, 1usize),
        (16, 30, 70, 32, 1),
        (20, 17, 13, 17, 0),
        (12, 6, 6, 16, 1),
        (10, 41, 5, 24, 1),
        (9, 8, 8, 16, 2),
    ]
    .iter()
    .enumerate()
    {
        let g = ConvGeom::new(c, h, w, k, (3, 3), (1, 1), (pad, pad));
        let n = 2;
        let x = rand_vec(n * g.in_len(), i as u64 + 40);
        let wt = rand_vec(g.weight_len(), i as u64 + 41);
        let b = rand_vec(g.k, i as u64 + 42);
        let dy = rand_vec(n * g.out_len(), i as u64 + 43);
        let mut want = vec![0.0f32; n * g.out_len()];
        for s in 0..n {
            for kk in 0..k {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut acc = f64::from(b[kk]);
                        for ci in 0..c {
                            for (ky, kx) in (0..3).flat_map(|ky| (0..3).map(move |kx| (ky, kx))) {
                                let (iy, ix) = (
                                    (oy + ky) as isize - pad as isize,
                                    (ox + kx) as isize - pad as isize,
                                );
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let xv =
                                    x[s * g.in_len() + (ci * h + iy as usize) * w + ix as usize];
                                acc += f64::from(wt[((kk * c + ci) * 3 + ky) * 3 + kx])
                                    * f64::from(xv);
                            }
                        }
                        want[s * g.out_len() + (kk * g.oh + oy) * g.ow + ox] = acc.max(0.0) as f32;
                    }
                }
            }
        }
        let layer = |algo| Conv {
            geom: g,
            algo,
            act: Act::Relu,
            pool: None,
            bias: true,
            groups: 1,
        };
        let (wino, im2col) = (layer(ConvAlgo::Winograd), layer(ConvAlgo::Im2col));
        let scratch = |l: &Conv| ops::conv::forward_scratch(l).max(ops::conv::backward_scratch(l));
        let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        each_level(|level| {
            let got = forward_backward(&wino, &x, &wt, &b, &dy, n, scratch(&wino));
            let reference = forward_backward(&im2col, &x, &wt, &b, &dy, n, scratch(&im2col));
            let err = got[0]
                .iter()
                .zip(&want)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err <= 1e-5 * scale,
                "{g:?} at {level:?}: error {err}, outputs up to {scale}"
            );
            // Gradients go through the same ReLU mask, bar outputs within
            // rounding of zero.
            for (j, (a, r)) in got[1..].iter().zip(&reference[1..]).enumerate() {
                let e = a
                    .iter()
                    .zip(r)
                    .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                let s = r.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                assert!(
                    e <= 1e-3 * s,
                    "{g:?} at {level:?}: gradient {j} differs by {e} (scale {s})"
                );
            }
        });
    }
}
