//! Int8 kernels, one level per instruction set, chosen at run time.
//!
//! | level | token | compiled with (and detected at run time) |
//! | --- | --- | --- |
//! | [`QLevel::Avx512Vnni`] | [`x86::Avx512Vnni`] | `avx512f, avx512bw, avx512vl, avx512vnni` (16 int32 lanes, `vpdpbusd` on zmm) |
//! | [`QLevel::Avx2Vnni`] | [`x86::Avx2I8<true>`](x86::Avx2I8) | `avx2, avxvnni` (8 lanes, VEX `vpdpbusd`) |
//! | [`QLevel::Avx2`] | [`x86::Avx2I8<false>`](x86::Avx2I8) | `avx2` (8 lanes, `vpdpbusd` emulated exactly with two `vpmaddwd`) |
//! | [`QLevel::Neon`] | `neon::NeonI8` (aarch64) | the aarch64 baseline (4 lanes, the byte dot product widened to 16 bits) |
//! | [`QLevel::Scalar`] | — | everywhere: the plain loops of [`scalar`], the reference |
//!
//! The level follows the f32 kernels' ([`super::level`], so `CNN_SIMD`
//! and [`super::force`] apply): the f32 AVX-512 level runs the best int8
//! x86 level the CPU has, the f32 AVX2 level AVX2 with VNNI where present,
//! the NEON level the NEON int8 kernels and the scalar level the scalar
//! int8 kernels. [`force`]
//! overrides it for the int8 kernels alone (tests, comparisons).
//!
//! Every level computes bit-identical results (integer arithmetic, the
//! same requantization; `quantize` divides and rounds like the scalar
//! path). Inputs are `i8` activations and the layer's region of the
//! parameter blob (`cnn_spec::quant::layer`).

use core::sync::atomic::{AtomicU8, Ordering};

use cnn_spec::quant::{quantize_multiplier, QConv, QDense, QParams, Requant};
use cnn_spec::PoolGeom;

// The generic vector kernels, instantiated by the x86 and aarch64 levels
// (the scalar reference serves every other target).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod conv;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod dense;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod elementwise;
#[cfg(target_arch = "aarch64")]
pub mod neon;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod rows;
pub mod scalar;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod vector;
#[cfg(target_arch = "x86_64")]
pub mod x86;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub use conv::pad_channels_last;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub use vector::{quad, QSimd};

use super::Level;

/// An int8 instruction-set level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QLevel {
    /// Plain Rust: the reference.
    Scalar = 1,
    /// AVX2, `vpdpbusd` emulated.
    Avx2 = 2,
    /// AVX2 with AVX-VNNI.
    Avx2Vnni = 3,
    /// AVX-512 with VNNI.
    Avx512Vnni = 4,
    /// NEON (aarch64).
    Neon = 5,
}

impl QLevel {
    const ALL: [QLevel; 5] = [
        QLevel::Scalar,
        QLevel::Avx2,
        QLevel::Avx2Vnni,
        QLevel::Avx512Vnni,
        QLevel::Neon,
    ];

    fn from_u8(v: u8) -> Option<QLevel> {
        QLevel::ALL.into_iter().find(|l| *l as u8 == v)
    }

    /// The level's name: `scalar`, `avx2`, `avx2-vnni`, `avx512-vnni`,
    /// `neon`.
    pub fn name(self) -> &'static str {
        match self {
            QLevel::Scalar => "scalar",
            QLevel::Avx2 => "avx2",
            QLevel::Avx2Vnni => "avx2-vnni",
            QLevel::Avx512Vnni => "avx512-vnni",
            QLevel::Neon => "neon",
        }
    }

    /// Int32 lanes of the level's vectors.
    pub fn lanes(self) -> usize {
        match self {
            QLevel::Scalar => 1,
            QLevel::Neon => 4,
            QLevel::Avx2 | QLevel::Avx2Vnni => 8,
            QLevel::Avx512Vnni => 16,
        }
    }

    /// Whether this machine runs the level: exactly the features its
    /// functions are compiled with.
    pub fn is_available(self) -> bool {
        match self {
            QLevel::Scalar => true,
            QLevel::Neon => cfg!(target_arch = "aarch64"),
            _ => x86_has(self),
        }
    }
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn x86_has(l: QLevel) -> bool {
    use std::is_x86_feature_detected as has;
    match l {
        QLevel::Avx512Vnni => {
            has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512vnni")
        }
        QLevel::Avx2Vnni => has!("avx2") && has!("avxvnni"),
        QLevel::Avx2 => has!("avx2"),
        QLevel::Scalar => true,
        QLevel::Neon => false,
    }
}

#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
fn x86_has(l: QLevel) -> bool {
    match l {
        QLevel::Avx512Vnni => cfg!(all(
            target_feature = "avx512f",
            target_feature = "avx512bw",
            target_feature = "avx512vl",
            target_feature = "avx512vnni"
        )),
        QLevel::Avx2Vnni => cfg!(all(target_feature = "avx2", target_feature = "avxvnni")),
        QLevel::Avx2 => cfg!(target_feature = "avx2"),
        QLevel::Scalar => true,
        QLevel::Neon => false,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn x86_has(_: QLevel) -> bool {
    false
}

/// 0: follow the f32 level; else a forced `QLevel`.
static FORCED: AtomicU8 = AtomicU8::new(0);

/// The int8 level the kernels use (see the module docs).
#[inline]
pub fn level() -> QLevel {
    if let Some(l) = QLevel::from_u8(FORCED.load(Ordering::Relaxed)) {
        return l;
    }
    let candidates: &[QLevel] = match super::level() {
        Level::Avx512 => &[QLevel::Avx512Vnni, QLevel::Avx2Vnni, QLevel::Avx2],
        Level::Avx2 => &[QLevel::Avx2Vnni, QLevel::Avx2],
        Level::Neon => &[QLevel::Neon],
        Level::Scalar => &[],
    };
    best_of(candidates)
}

fn best_of(candidates: &[QLevel]) -> QLevel {
    // Cached: bit `l` set once level `l` was found available, bit 7 once
    // the detection ran.
    static FOUND: AtomicU8 = AtomicU8::new(0);
    let mut found = FOUND.load(Ordering::Relaxed);
    if found == 0 {
        found = QLevel::ALL
            .into_iter()
            .filter(|l| l.is_available())
            .fold(0x80, |acc, l| acc | 1 << (l as u8));
        FOUND.store(found, Ordering::Relaxed);
    }
    candidates
        .iter()
        .copied()
        .find(|&l| found & (1 << (l as u8)) != 0)
        .unwrap_or(QLevel::Scalar)
}

/// Forces the int8 kernels onto `level`; returns `false`, changing
/// nothing, if the machine cannot run it.
pub fn force(level: QLevel) -> bool {
    if !level.is_available() {
        return false;
    }
    FORCED.store(level as u8, Ordering::Relaxed);
    true
}

/// Lets the int8 level follow the f32 level again (undoes [`force`]).
pub fn unforce() {
    FORCED.store(0, Ordering::Relaxed);
}

/// Every int8 level this machine runs, scalar first.
pub fn available_levels() -> impl Iterator<Item = QLevel> {
    QLevel::ALL.into_iter().filter(|l| l.is_available())
}

// ---- helpers the generic kernels share -----------------------------------------

// ---- dispatch ------------------------------------------------------------------------

/// Defines a public function that runs `$kernel(token, args..)` at the
/// current int8 [`level`], each x86 level's instantiation inside a
/// `#[target_feature]` function with exactly the features
/// [`QLevel::is_available`] detects, the NEON level's directly (NEON is the
/// aarch64 baseline), and `$scalar(args..)` at the scalar level.
macro_rules! qkernel {
    ($(#[$meta:meta])* pub fn $name:ident($($arg:ident : $ty:ty),* $(,)?) => $kernel:path, $scalar:expr;) => {
        $(#[$meta])*
        pub fn $name($($arg: $ty),*) {
            match level() {
                #[cfg(target_arch = "x86_64")]
                QLevel::Avx512Vnni => {
                    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
                    fn imp($($arg: $ty),*) {
                        // SAFETY: compiled for, and only called on, CPUs with
                        // AVX-512F/BW/VL and VNNI.
                        let s = unsafe { x86::Avx512Vnni::new_unchecked() };
                        $kernel(s, $($arg),*)
                    }
                    // SAFETY: `level()` reports Avx512Vnni only when the CPU
                    // has every feature `imp` is compiled for.
                    unsafe { imp($($arg),*) }
                }
                #[cfg(target_arch = "x86_64")]
                QLevel::Avx2Vnni => {
                    #[target_feature(enable = "avx2,avxvnni")]
                    fn imp($($arg: $ty),*) {
                        // SAFETY: compiled for, and only called on, CPUs with
                        // AVX2 and AVX-VNNI.
                        let s = unsafe { x86::Avx2I8::<true>::new_unchecked() };
                        $kernel(s, $($arg),*)
                    }
                    // SAFETY: `level()` reports Avx2Vnni only when the CPU has
                    // AVX2 and AVX-VNNI.
                    unsafe { imp($($arg),*) }
                }
                #[cfg(target_arch = "x86_64")]
                QLevel::Avx2 => {
                    #[target_feature(enable = "avx2")]
                    fn imp($($arg: $ty),*) {
                        // SAFETY: compiled for, and only called on, CPUs with AVX2.
                        let s = unsafe { x86::Avx2I8::<false>::new_unchecked() };
                        $kernel(s, $($arg),*)
                    }
                    // SAFETY: `level()` reports Avx2 only when the CPU has AVX2.
                    unsafe { imp($($arg),*) }
                }
                #[cfg(target_arch = "aarch64")]
                QLevel::Neon => $kernel(neon::NeonI8::new(), $($arg),*),
                _ => ($scalar)($($arg),*),
            }
        }
    };
}

qkernel! {
    /// Int8 convolution (→ ReLU → max-pool) of the samples of `x`
    /// (exactly `[n, C, H, W]`) into `y` (`[n, K, OH, OW]` or pooled);
    /// `blob` is the layer's region, `scratch` `l.scratch_len()` bytes.
    pub fn conv(l: &QConv, blob: &[u8], x: &[i8], y: &mut [i8], scratch: &mut [i8])
        => conv::conv, |l, blob, x, y, _scratch| scalar::conv(l, blob, x, y);
}

qkernel! {
    /// Int8 dense layer (→ ReLU) of the samples of `x` (exactly `[n, I]`)
    /// into `y` (`[n, O]`); `blob` is the layer's region.
    pub fn dense(l: &QDense, blob: &[u8], x: &[i8], y: &mut [i8])
        => dense::dense, scalar::dense;
}

qkernel! {
    /// Int8 max-pool of the samples of `x` (exactly `[n, C, H, W]`) into `y`.
    pub fn max_pool(g: &PoolGeom, x: &[i8], y: &mut [i8])
        => elementwise::max_pool, scalar::max_pool;
}

qkernel! {
    /// `y = quantize(x)` element-wise (see `QParams::quantize`).
    pub fn quantize(q: QParams, x: &[f32], y: &mut [i8])
        => elementwise::quantize, |q: QParams, x: &[f32], y: &mut [i8]| {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = q.quantize(v);
            }
        };
}

qkernel! {
    /// `y = dequantize(x)` element-wise (see `QParams::dequantize`).
    pub fn dequantize(q: QParams, x: &[i8], y: &mut [f32])
        => elementwise::dequantize, |q: QParams, x: &[i8], y: &mut [f32]| {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = q.dequantize(v);
            }
        };
}

qkernel! {
    /// Requantizes int32 accumulators `[n, K, pixels]` (bias added) with
    /// per-channel multipliers and shifts `table = (q, shift)`, `K =
    /// q.len()`, into `y`.
    pub fn requantize(acc: &[i32], table: (&[i32], &[i32]), r: Requant, pixels: usize, y: &mut [i8])
        => elementwise::requantize, |acc, table: (&[i32], &[i32]), r, pixels, y| {
            scalar::requantize(acc, table.0, table.1, r, pixels, y)
        };
}

qkernel! {
    /// TFLite's int8 → int8 `Requantize` with the fixed-point form `m =
    /// (q, shift)` of `from.scale / to.scale` (see [`rescale`]).
    pub fn rescale_fixed(x: &[i8], from_zp: i32, m: (i32, i32), to_zp: i32, y: &mut [i8])
        => elementwise::rescale, |x, from_zp, m: (i32, i32), to_zp, y| {
            scalar::rescale(x, from_zp, m.0, m.1, to_zp, y)
        };
}

/// TFLite's int8 → int8 `Requantize`: `y = clamp(to.zp +
/// MultiplyByQuantizedMultiplier(x - from.zp, M), -128, 127)` with `M =
/// from.scale / to.scale`. Returns `false`, writing nothing, if `M` has no
/// fixed-point form (`2^31` or more, or not finite).
pub fn rescale(from: QParams, to: QParams, x: &[i8], y: &mut [i8]) -> bool {
    match quantize_multiplier(from.scale as f64 / to.scale as f64) {
        Some(m) if m.1 <= 30 => {
            let (fz, tz) = (from.zero_point as i32, to.zero_point as i32);
            rescale_fixed(x, fz, m, tz, y);
            true
        }
        _ => false,
    }
}

/// Int8 average pool (scalar at every level; see [`scalar::avg_pool`]).
pub fn avg_pool(g: &PoolGeom, zero_point: i8, x: &[i8], y: &mut [i8]) {
    scalar::avg_pool(g, zero_point, x, y)
}
