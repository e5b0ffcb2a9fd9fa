//! The int8 kernels: the scalar reference against TFLite's formulas written
//! out on PyTorch-layout tensors, every SIMD level against the scalar
//! reference bit for bit on many shapes (odd sizes, remainders, padding,
//! strides, channel counts that fill no vector, overlapping and padded
//! pools), and the fused convolution → ReLU → max-pool against the unfused
//! int8 layers.

use std::sync::Mutex;

use cnn_runtime::ops::int8::{self, QForward};
use cnn_runtime::simd::int8::{self as simd8, QLevel};
use cnn_spec::quant::{
    multiply_by_quantized_multiplier, pack_conv, pack_dense, quantize_multiplier, QConv,
    QConvKernel, QDense, QParams, RawLayer, Requant,
};
use cnn_spec::{ConvGeom, PoolGeom};

static LEVEL: Mutex<()> = Mutex::new(());

/// Runs `f` at every int8 level this machine has (scalar first), then
/// lets the level follow the f32 one again.
fn each_level(mut f: impl FnMut(QLevel)) {
    let _g = LEVEL.lock().unwrap_or_else(|e| e.into_inner());
    for level in simd8::available_levels() {
        assert!(simd8::force(level));
        f(level);
    }
    simd8::unforce();
}

/// The vector level of the architecture the tests run on is among the
/// levels `each_level` runs (NEON is the aarch64 baseline).
#[test]
fn the_vector_level_is_tested() {
    let levels: Vec<QLevel> = simd8::available_levels().collect();
    assert_eq!(levels[0], QLevel::Scalar);
    if cfg!(target_arch = "aarch64") {
        assert!(levels.contains(&QLevel::Neon), "{levels:?}");
        assert_eq!(QLevel::Neon.lanes(), 4);
    } else {
        assert!(!levels.contains(&QLevel::Neon), "{levels:?}");
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn i8s(&mut self, n: usize, lo: i64, hi: i64) -> Vec<i8> {
        (0..n).map(|_| self.range(lo, hi) as i8).collect()
    }
}

/// Random quantized tensors of a layer with `k` channels of `patch`
/// weights: weights, bias, weight scales, and input/output parameters
/// whose multipliers run from about 1e-4 to above 1 (positive shifts).
struct Layer {
    w: Vec<i8>,
    b: Vec<i32>,
    sw: Vec<f32>,
    input: QParams,
    output: QParams,
}

fn random_layer(rng: &mut Rng, k: usize, patch: usize, wide: bool) -> Layer {
    let w = rng.i8s(k * patch, -127, 127);
    let b = (0..k).map(|_| rng.range(-40_000, 40_000) as i32).collect();
    let sw: Vec<f32> = (0..k).map(|_| 1e-3 + rng.unit() * 1e-2).collect();
    let input = QParams::new(0.01 + rng.unit() * 0.1, rng.range(-128, 127) as i8);
    // Typical accumulators are about 127 * 64 * sqrt(patch); the output
    // scale maps them to a few dozen steps, or (`wide`) to far fewer or
    // far more.
    let typical = 127.0 * 64.0 * (patch as f32).sqrt() * input.scale * 5e-3;
    let spread = if wide {
        10f32.powf(rng.unit() * 6.0 - 3.5)
    } else {
        1.0
    };
    let output = QParams::new(typical / 40.0 * spread, rng.range(-128, 127) as i8);
    Layer {
        w,
        b,
        sw,
        input,
        output,
    }
}

fn bytes_i32(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn raw<'a>(l: &'a Layer, w: &'a [u8], b: &'a [u8], s: &'a [u8], bias: bool) -> RawLayer<'a> {
    let _ = l;
    RawLayer {
        weight: w,
        bias: bias.then_some(b),
        weight_scale: s,
    }
}

/// TFLite's requantization of channel `k`.
fn tflite_requant(l: &Layer, k: usize, acc: i32, relu: bool) -> i8 {
    let m = l.input.scale as f64 * l.sw[k] as f64 / l.output.scale as f64;
    let (q, shift) = quantize_multiplier(m).unwrap();
    let zp = l.output.zero_point as i32;
    let lo = if relu { zp } else { -128 };
    (zp + multiply_by_quantized_multiplier(acc, q, shift)).clamp(lo, 127) as i8
}

/// TFLite's convolution on PyTorch-layout tensors, then the max-pool on
/// the int8 outputs: `acc = b + sum (x - zp_in) w` over taps inside the
/// input.
fn textbook_conv(d: &QConv, l: &Layer, x: &[i8], n: usize) -> Vec<i8> {
    let g = &d.geom;
    let mut z = vec![0i8; n * g.out_len()];
    for s in 0..n {
        for k in 0..g.k {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut acc = if d.bias { l.b[k] } else { 0 };
                    for c in 0..g.c {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let iy = (oy * g.sh + ky) as isize - g.ph as isize;
                                let ix = (ox * g.sw + kx) as isize - g.pw as isize;
                                if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                    continue;
                                }
                                let xv =
                                    x[s * g.in_len() + (c * g.h + iy as usize) * g.w + ix as usize];
                                let wv = l.w[((k * g.c + c) * g.kh + ky) * g.kw + kx];
                                acc += (xv as i32 - l.input.zero_point as i32) * wv as i32;
                            }
                        }
                    }
                    z[s * g.out_len() + (k * g.oh + oy) * g.ow + ox] =
                        tflite_requant(l, k, acc, d.relu);
                }
            }
        }
    }
    match &d.pool {
        None => z,
        Some(p) => textbook_max_pool(p, &z, n),
    }
}

fn textbook_max_pool(p: &PoolGeom, x: &[i8], n: usize) -> Vec<i8> {
    let mut y = vec![0i8; n * p.out_len()];
    for plane in 0..n * p.c {
        for py in 0..p.oh {
            for px in 0..p.ow {
                let mut best = i8::MIN;
                for dy in 0..p.kh {
                    for dx in 0..p.kw {
                        let iy = (py * p.sh + dy) as isize - p.ph as isize;
                        let ix = (px * p.sw + dx) as isize - p.pw as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < p.h && (ix as usize) < p.w {
                            best = best.max(x[(plane * p.h + iy as usize) * p.w + ix as usize]);
                        }
                    }
                }
                y[(plane * p.oh + py) * p.ow + px] = best;
            }
        }
    }
    y
}

/// The int8 kernel a layer of geometry `g` and pool `pool` runs on.
fn kernel_of(g: ConvGeom, pool: Option<PoolGeom>) -> QConvKernel {
    QConv {
        geom: g,
        pool,
        relu: true,
        bias: true,
        input: QParams::new(1.0, 0),
        output: QParams::new(1.0, 0),
    }
    .kernel()
}

/// Random conv geometries, with a pool for about two thirds of them.
fn conv_cases(rng: &mut Rng, count: usize) -> Vec<(ConvGeom, Option<PoolGeom>)> {
    let mut cases = vec![
        // LeNet-5's two layers.
        (
            ConvGeom::new(1, 28, 28, 6, (5, 5), (1, 1), (2, 2)),
            Some(PoolGeom::new(6, 28, 28, (2, 2), (2, 2), (0, 0))),
        ),
        (
            ConvGeom::new(6, 14, 14, 16, (5, 5), (1, 1), (0, 0)),
            Some(PoolGeom::new(16, 10, 10, (2, 2), (2, 2), (0, 0))),
        ),
        // Channels that fill no vector, wide layers, 1x1.
        (ConvGeom::new(3, 9, 11, 17, (3, 3), (1, 1), (1, 1)), None),
        (ConvGeom::new(5, 7, 6, 70, (3, 2), (2, 1), (1, 0)), None),
        (ConvGeom::new(9, 5, 5, 33, (1, 1), (1, 1), (0, 0)), None),
        (
            ConvGeom::new(2, 13, 13, 40, (3, 3), (1, 1), (1, 1)),
            Some(PoolGeom::new(40, 13, 13, (3, 3), (2, 2), (1, 1))),
        ),
    ];
    // The pixel-row kernel: few channels, horizontal stride 1, wide rows;
    // kernels of 1 to 7 columns (groups along rows and down columns), odd
    // widths, padding, vertical strides, with and without the 2x2 pool.
    for (c, h, w, k, kh, kw, sh, ph, pw, pool) in [
        (3, 12, 30, 5, 3, 3, 2, 1, 1, false),
        (2, 9, 21, 9, 4, 7, 1, 0, 2, true),
        (1, 17, 40, 15, 5, 5, 1, 2, 2, true),
        (4, 6, 8, 3, 1, 1, 1, 0, 0, false),
        (1, 11, 27, 7, 2, 6, 3, 1, 3, false),
        (2, 13, 19, 1, 6, 4, 1, 3, 0, true),
    ] {
        let g = ConvGeom::new(c, h, w, k, (kh, kw), (sh, 1), (ph, pw));
        let p = pool.then(|| PoolGeom::new(k, g.oh, g.ow, (2, 2), (2, 2), (0, 0)));
        assert_eq!(kernel_of(g, p), QConvKernel::PixelRows, "{g:?}");
        cases.push((g, p));
    }
    // The channel-span kernel on rows wider than the 16-pixel blocks its
    // channels-last layout is written in (horizontal stride 2 keeps these
    // off the pixel-row kernel): every channel count with a block path
    // (2, 3, 4, 6, 8) and one without (5), remainders of 1 to 15 pixels.
    for (c, w, k) in [
        (6, 37, 20),
        (3, 20, 12),
        (8, 33, 16),
        (2, 17, 9),
        (4, 31, 5),
        (5, 18, 7),
    ] {
        let g = ConvGeom::new(c, 5, w, k, (3, 3), (1, 2), (1, 1));
        assert_eq!(kernel_of(g, None), QConvKernel::ChannelSpans, "{g:?}");
        cases.push((g, None));
    }
    // The channel-span kernel's whole-window blocks (2x2 stride-2 pools
    // inside the conv output): two windows per block with the last block
    // half full (21 windows), one per block (blocks of three channel
    // vectors), a horizontal stride of 2, an odd conv output whose last
    // row and column no window reads.
    for (c, h, w, k, s) in [(3, 14, 7, 16, 1), (5, 11, 13, 40, 1), (4, 9, 17, 33, 2)] {
        let g = ConvGeom::new(c, h, w, k, (3, 3), (1, s), (1, 1));
        let p = PoolGeom::new(k, g.oh, g.ow, (2, 2), (2, 2), (0, 0));
        assert_eq!(kernel_of(g, Some(p)), QConvKernel::ChannelSpans, "{g:?}");
        cases.push((g, Some(p)));
    }
    while cases.len() < count {
        let (kh, kw) = (1 + rng.below(5), 1 + rng.below(5));
        let (sh, sw) = (1 + rng.below(3), 1 + rng.below(3));
        let (ph, pw) = (rng.below(kh / 2 + 1), rng.below(kw / 2 + 1));
        let h = kh.saturating_sub(2 * ph).max(1) + rng.below(12);
        let w = kw.saturating_sub(2 * pw).max(1) + rng.below(12);
        let (c, k) = (1 + rng.below(9), 1 + rng.below(37));
        let g = ConvGeom::new(c, h, w, k, (kh, kw), (sh, sw), (ph, pw));
        let pool = match rng.below(3) {
            0 => None,
            _ => {
                let (pk, ps) = (1 + rng.below(3.min(g.oh.min(g.ow))), 1 + rng.below(3));
                let pp = rng.below(pk / 2 + 1);
                Some(PoolGeom::new(k, g.oh, g.ow, (pk, pk), (ps, ps), (pp, pp)))
            }
        };
        cases.push((g, pool));
    }
    cases
}

struct ConvCase {
    d: QConv,
    layer: Layer,
    blob: Vec<u8>,
    x: Vec<i8>,
    n: usize,
}

fn conv_case(rng: &mut Rng, g: ConvGeom, pool: Option<PoolGeom>) -> ConvCase {
    let wide = rng.below(4) == 0;
    let layer = random_layer(rng, g.k, g.c * g.kh * g.kw, wide);
    let d = QConv {
        geom: g,
        pool,
        relu: rng.below(2) == 0,
        bias: rng.below(5) != 0,
        input: layer.input,
        output: layer.output,
    };
    let (w, b, s) = (
        layer.w.iter().map(|&v| v as u8).collect::<Vec<u8>>(),
        bytes_i32(&layer.b),
        bytes_f32(&layer.sw),
    );
    let mut blob = vec![0u8; d.layout().len];
    pack_conv(&d, raw(&layer, &w, &b, &s, d.bias), &mut blob).unwrap();
    let n = 1 + rng.below(3);
    let x = rng.i8s(n * g.in_len(), -128, 127);
    ConvCase {
        d,
        layer,
        blob,
        x,
        n,
    }
}

fn run_conv(c: &ConvCase) -> Vec<i8> {
    let mut y = vec![0i8; c.n * c.d.out_len()];
    let mut scratch = vec![0i8; c.d.scratch_len()];
    let io = QForward {
        x: &c.x,
        y: &mut y,
        n: c.n,
    };
    int8::conv_forward(&c.d, &c.blob, io, &mut scratch);
    y
}

#[test]
fn conv_matches_tflite_at_every_level() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let cases = conv_cases(&mut rng, 70);
    let cases: Vec<ConvCase> = cases
        .into_iter()
        .map(|(g, p)| conv_case(&mut rng, g, p))
        .collect();
    let want: Vec<Vec<i8>> = cases
        .iter()
        .map(|c| textbook_conv(&c.d, &c.layer, &c.x, c.n))
        .collect();
    let mut distinct = 0;
    each_level(|level| {
        for (c, want) in cases.iter().zip(&want) {
            let got = run_conv(c);
            assert_eq!(&got, want, "{level:?}: {:?} pool {:?}", c.d.geom, c.d.pool);
            distinct += usize::from(got.iter().any(|&v| v != got[0]));
        }
    });
    // The outputs are not all saturated or constant.
    assert!(distinct >= cases.len() * 3 / 4, "{distinct}");
}

#[test]
fn fused_conv_relu_pool_equals_the_unfused_int8_layers() {
    let mut rng = Rng(0xfeed_beef_1234_0001);
    let cases = conv_cases(&mut rng, 60);
    each_level(|level| {
        for (g, pool) in cases.iter().filter_map(|(g, p)| p.map(|p| (*g, p))) {
            let c = conv_case(&mut Rng(g.k as u64 * 7919 + g.h as u64), g, Some(pool));
            let fused = run_conv(&c);
            let unfused = ConvCase {
                d: QConv { pool: None, ..c.d },
                ..c
            };
            let z = run_conv(&unfused);
            let mut y = vec![0i8; unfused.n * pool.out_len()];
            let io = QForward {
                x: &z,
                y: &mut y,
                n: unfused.n,
            };
            int8::max_pool_forward(&pool, io);
            assert_eq!(fused, y, "{level:?}: {g:?} {pool:?}");
        }
    });
    let _ = &mut rng;
}

fn textbook_dense(d: &QDense, l: &Layer, x: &[i8], n: usize) -> Vec<i8> {
    let mut y = vec![0i8; n * d.outputs];
    for s in 0..n {
        for o in 0..d.outputs {
            let mut acc = if d.bias { l.b[o] } else { 0 };
            for i in 0..d.inputs {
                let xv = x[s * d.inputs + i] as i32 - l.input.zero_point as i32;
                acc += xv * l.w[o * d.inputs + i] as i32;
            }
            y[s * d.outputs + o] = tflite_requant(l, o, acc, d.relu);
        }
    }
    y
}

#[test]
fn dense_matches_tflite_at_every_level() {
    let mut rng = Rng(0xdead_0000_beef_0007);
    let mut cases = Vec::new();
    for (inputs, outputs) in [
        (400, 120),
        (120, 84),
        (84, 10),
        (1, 1),
        (3, 5),
        (5, 17),
        (7, 33),
        (64, 64),
        (65, 129),
        (130, 7),
        (255, 200),
        (16, 16),
        (33, 8),
    ] {
        for n in [1, 2, 3, 4, 5, 7, 9] {
            let wide = rng.below(4) == 0;
            let layer = random_layer(&mut rng, outputs, inputs, wide);
            let d = QDense {
                inputs,
                outputs,
                relu: rng.below(2) == 0,
                bias: rng.below(5) != 0,
                input: layer.input,
                output: layer.output,
            };
            let w: Vec<u8> = layer.w.iter().map(|&v| v as u8).collect();
            let (b, s) = (bytes_i32(&layer.b), bytes_f32(&layer.sw));
            let mut blob = vec![0u8; d.layout().len];
            pack_dense(&d, raw(&layer, &w, &b, &s, d.bias), &mut blob).unwrap();
            let x = rng.i8s(n * inputs, -128, 127);
            let want = textbook_dense(&d, &layer, &x, n);
            cases.push((d, blob, x, n, want));
        }
    }
    each_level(|level| {
        for (d, blob, x, n, want) in &cases {
            let mut y = vec![0i8; n * d.outputs];
            let io = QForward {
                x,
                y: &mut y,
                n: *n,
            };
            int8::dense_forward(d, blob, io);
            assert_eq!(&y, want, "{level:?}: {}->{} n={n}", d.inputs, d.outputs);
            // One sample at a time gives the same bytes.
            let mut one = vec![0i8; d.outputs];
            let io = QForward {
                x: &x[..d.inputs],
                y: &mut one,
                n: 1,
            };
            int8::dense_forward(d, blob, io);
            assert_eq!(&one[..], &want[..d.outputs]);
        }
    });
}

#[test]
fn pools_match_at_every_level() {
    let mut rng = Rng(0x0bad_cafe_0000_0003);
    let mut cases = Vec::new();
    for _ in 0..60 {
        let (k, s) = (1 + rng.below(4), 1 + rng.below(3));
        let p = rng.below(k / 2 + 1);
        let (h, w) = (
            k.saturating_sub(2 * p).max(1) + rng.below(20),
            k.saturating_sub(2 * p).max(1) + rng.below(40),
        );
        let c = 1 + rng.below(5);
        let g = PoolGeom::new(c, h, w, (k, k), (s, s), (p, p));
        let n = 1 + rng.below(3);
        cases.push((
            g,
            n,
            rng.i8s(n * g.in_len(), -128, 127),
            rng.range(-128, 127) as i8,
        ));
    }
    each_level(|level| {
        for (g, n, x, zp) in &cases {
            let mut y = vec![0i8; n * g.out_len()];
            int8::max_pool_forward(
                g,
                QForward {
                    x,
                    y: &mut y,
                    n: *n,
                },
            );
            assert_eq!(y, textbook_max_pool(g, x, *n), "{level:?}: {g:?}");
            let mut a = vec![0i8; n * g.out_len()];
            int8::avg_pool_forward(
                g,
                *zp,
                QForward {
                    x,
                    y: &mut a,
                    n: *n,
                },
            );
            // The mean of the window (padding read as the zero point),
            // rounded half away from zero.
            for plane in 0..n * g.c {
                for py in 0..g.oh {
                    for px in 0..g.ow {
                        let mut sum = 0i32;
                        for dy in 0..g.kh {
                            for dx in 0..g.kw {
                                let iy = (py * g.sh + dy) as isize - g.ph as isize;
                                let ix = (px * g.sw + dx) as isize - g.pw as isize;
                                let inside = iy >= 0
                                    && ix >= 0
                                    && (iy as usize) < g.h
                                    && (ix as usize) < g.w;
                                sum += if inside {
                                    x[(plane * g.h + iy as usize) * g.w + ix as usize] as i32
                                } else {
                                    *zp as i32
                                };
                            }
                        }
                        let mean = sum as f64 / (g.kh * g.kw) as f64;
                        let want = (mean.abs() + 0.5).floor().copysign(mean) as i8;
                        assert_eq!(a[(plane * g.oh + py) * g.ow + px], want, "{g:?} {sum}");
                    }
                }
            }
        }
    });
}

#[test]
fn quantize_dequantize_and_rescale_match_at_every_level() {
    let mut rng = Rng(0x5eed_5eed_5eed_0005);
    let mut x: Vec<f32> = (0..1000).map(|_| (rng.unit() - 0.5) * 8.0).collect();
    // Ties, saturation and non-finite values.
    x.extend([
        0.25,
        -0.25,
        0.75,
        -0.75,
        1e9,
        -1e9,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
    ]);
    let q = QParams::new(0.5, -3);
    let want: Vec<i8> = x.iter().map(|&v| q.quantize(v)).collect();
    let codes: Vec<i8> = (-128..=127).collect();
    let want_f: Vec<u32> = codes.iter().map(|&c| q.dequantize(c).to_bits()).collect();
    let to = QParams::new(0.37, 20);
    let m = quantize_multiplier(0.5f64 / 0.37f32 as f64).unwrap();
    let want_r: Vec<i8> = codes
        .iter()
        .map(|&c| {
            (20 + multiply_by_quantized_multiplier(c as i32 + 3, m.0, m.1)).clamp(-128, 127) as i8
        })
        .collect();
    each_level(|level| {
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 31, x.len()] {
            let mut y = vec![0i8; len];
            int8::quantize(q, &x[x.len() - len..], &mut y);
            assert_eq!(y, want[x.len() - len..], "{level:?} quantize {len}");
        }
        let mut f = vec![0.0f32; codes.len()];
        int8::dequantize(q, &codes, &mut f);
        assert_eq!(
            f.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want_f,
            "{level:?}"
        );
        let mut r = vec![0i8; codes.len()];
        int8::rescale(q, to, &codes, &mut r);
        assert_eq!(r, want_r, "{level:?} rescale");
    });
}

#[test]
fn requantize_matches_at_every_level() {
    let mut rng = Rng(0x7777_1111_2222_3333);
    let k = 5;
    let pixels = 37;
    let mut acc: Vec<i32> = (0..2 * k * pixels)
        .map(|_| rng.range(-3_000_000, 3_000_000) as i32)
        .collect();
    acc[0] = i32::MIN;
    acc[1] = i32::MAX;
    let ms = [0.0001, 0.003, 0.25, 0.9999, 3.5];
    let (q, shift): (Vec<i32>, Vec<i32>) =
        ms.iter().map(|&m| quantize_multiplier(m).unwrap()).unzip();
    let r = Requant {
        zero_point: -7,
        min: -7,
        max: 127,
    };
    let want: Vec<i8> = acc
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let ch = (i / pixels) % k;
            (-7 + multiply_by_quantized_multiplier(a, q[ch], shift[ch])).clamp(-7, 127) as i8
        })
        .collect();
    each_level(|level| {
        let mut y = vec![0i8; acc.len()];
        int8::requantize(&acc, &q, &shift, r, pixels, &mut y);
        assert_eq!(y, want, "{level:?}");
    });
}

/// Multipliers no calibration produces but the fixed-point rule defines:
/// `i32::MIN` (whose product with `i32::MIN` saturates), and shifts from
/// 31 right to 30 left; vector levels skip the left shift and the
/// saturation when no lane needs them, and must still agree lane by lane.
#[test]
fn requantize_extreme_multipliers_match_at_every_level() {
    let mut rng = Rng(0x1234_5678_9abc_def0);
    let q = [i32::MIN, i32::MIN, i32::MAX, 1 << 30, i32::MAX, 1 << 30];
    let shift = [0, 3, 0, -31, 30, 1];
    let k = q.len();
    let pixels = 19;
    let mut acc: Vec<i32> = (0..k * pixels)
        .map(|_| rng.range(-3_000_000, 3_000_000) as i32)
        .collect();
    for ch in 0..k {
        acc[ch * pixels] = i32::MIN;
        acc[ch * pixels + 1] = i32::MAX;
        acc[ch * pixels + 2] = -1;
    }
    // Zero point 0: a saturated result plus an offset would overflow.
    let r = Requant {
        zero_point: 0,
        min: -128,
        max: 127,
    };
    let want: Vec<i8> = acc
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let ch = i / pixels;
            multiply_by_quantized_multiplier(a, q[ch], shift[ch]).clamp(-128, 127) as i8
        })
        .collect();
    each_level(|level| {
        let mut y = vec![0i8; acc.len()];
        int8::requantize(&acc, &q, &shift, r, pixels, &mut y);
        assert_eq!(y, want, "{level:?}");
    });
}

#[test]
fn bad_layers_are_refused_when_packed() {
    let g = ConvGeom::new(2, 5, 5, 3, (3, 3), (1, 1), (0, 0));
    let d = QConv {
        geom: g,
        pool: None,
        relu: false,
        bias: true,
        input: QParams::new(0.1, 0),
        output: QParams::new(0.2, 0),
    };
    let mut blob = vec![0u8; d.layout().len];
    let w = vec![1u8; g.weight_len()];
    let (b, s) = (bytes_i32(&[1, 2, 3]), bytes_f32(&[0.1, 0.1, 0.1]));
    let ok = RawLayer {
        weight: &w,
        bias: Some(&b),
        weight_scale: &s,
    };
    assert!(pack_conv(&d, ok, &mut blob).is_ok());
    let short = RawLayer {
        weight: &w[1..],
        ..ok
    };
    let e = pack_conv(&d, short, &mut blob).unwrap_err().to_string();
    assert!(
        e.contains("weight holds 53 bytes, the layer needs 54"),
        "{e}"
    );
    let e = pack_conv(&d, RawLayer { bias: None, ..ok }, &mut blob).unwrap_err();
    assert!(e.to_string().contains("has a bias"), "{e}");
    let zero = bytes_f32(&[0.1, 0.0, 0.1]);
    let e = pack_conv(
        &d,
        RawLayer {
            weight_scale: &zero,
            ..ok
        },
        &mut blob,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("weight scale of channel 1 is 0"),
        "{e}"
    );
    let mut w128 = w.clone();
    w128[20] = 0x80;
    let e = pack_conv(
        &d,
        RawLayer {
            weight: &w128,
            ..ok
        },
        &mut blob,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("channel 1 has a weight of -128"),
        "{e}"
    );
    let huge = QConv {
        output: QParams::new(1e-12, 0),
        ..d
    };
    let e = pack_conv(&huge, ok, &mut blob).unwrap_err();
    assert!(e.to_string().contains("not below 2^30"), "{e}");
    let bad_pool = QConv {
        pool: Some(PoolGeom::new(4, 3, 3, (2, 2), (2, 2), (0, 0))),
        ..d
    };
    assert!(bad_pool.check().is_err());
}
