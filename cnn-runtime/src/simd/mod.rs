//! SIMD kernels, one module per instruction set, chosen at run time.
//!
//! | level | module | chosen when |
//! | --- | --- | --- |
//! | [`Level::Avx512`] | `avx512` | x86-64 with AVX-512F, BW, DQ and VL, AVX2 and FMA (detected at run time with `std`) |
//! | [`Level::Avx2`] | `avx2` | x86-64 with AVX2 and FMA |
//! | [`Level::Neon`] | `neon` | aarch64 (NEON is part of the baseline) |
//! | [`Level::Scalar`] | [`scalar`] | everywhere; the reference the others are tested against |
//!
//! The best level the machine has is used unless one is forced with
//! [`force`] or, with `std`, the `CNN_SIMD` environment variable
//! (`scalar`, `avx2`, `avx512`, `neon`), read once at first use. Without
//! `std` there is no run-time detection: the levels the build targets
//! (`-C target-feature`) are used.
//!
//! All `unsafe` code of the crate lives in this module and in the GEMM
//! wrapper, each block with a `// SAFETY:` comment.

use core::sync::atomic::{AtomicU8, Ordering};

use cnn_spec::{Conv, ConvGeom};

mod args;
#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
mod conv;
mod dense;
mod gemm;
pub mod int8;
#[cfg(target_arch = "aarch64")]
pub mod neon;
mod pool;
mod reduce;
pub mod scalar;
mod vector;

pub use args::{ConvGrads, ConvWeights, Filter, FusedPool, Layout, Matrix, PooledGrad};
pub use cnn_spec::tuning::CV_MAX_WEIGHTS;
pub use cnn_spec::variants::sparse_dw_suits;
pub use conv::{add_channels_last_dw, pack_channels_last};
pub use gemm::{packed_b_index, packed_b_len, PackedB};
pub use scalar::Scalar;

/// An instruction-set level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Portable Rust, no intrinsics.
    Scalar = 1,
    /// 128-bit NEON on aarch64.
    Neon = 2,
    /// 256-bit AVX2 with FMA on x86-64.
    Avx2 = 3,
    /// 512-bit AVX-512F on x86-64.
    Avx512 = 4,
}

impl Level {
    fn from_u8(v: u8) -> Option<Level> {
        match v {
            1 => Some(Level::Scalar),
            2 => Some(Level::Neon),
            3 => Some(Level::Avx2),
            4 => Some(Level::Avx512),
            _ => None,
        }
    }

    /// The level's name as `CNN_SIMD` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Neon => "neon",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// Parses a name as `CNN_SIMD` spells it.
    pub fn parse(name: &str) -> Option<Level> {
        [Level::Scalar, Level::Neon, Level::Avx2, Level::Avx512]
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The CPU features this level's kernels are compiled for (the
    /// `#[target_feature(enable = ...)]` of its functions), every one of
    /// which the CPU must have for the level to run.
    pub const fn features(self) -> &'static [&'static str] {
        match self {
            Level::Scalar => &[],
            Level::Neon => &["neon"],
            Level::Avx2 => &["avx2", "fma"],
            Level::Avx512 => &["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"],
        }
    }

    /// The architecture the level exists on, if not every one.
    const fn arch(self) -> Option<&'static str> {
        match self {
            Level::Scalar => None,
            Level::Neon => Some("aarch64"),
            Level::Avx2 | Level::Avx512 => Some("x86_64"),
        }
    }

    /// Whether this machine can run the level: the architecture is the
    /// level's and the CPU has every one of its [`features`](Level::features).
    pub fn is_available(self) -> bool {
        runs(self, cpu_has)
    }

    /// The features of the level this machine lacks (all of them on
    /// another architecture).
    pub fn missing_features(self) -> impl Iterator<Item = &'static str> {
        missing(self, cpu_has)
    }
}

/// Whether `level` runs on this architecture with the features `has` reports.
fn runs(level: Level, has: impl Fn(&str) -> bool) -> bool {
    level.arch().is_none_or(|a| a == ARCH) && level.features().iter().all(|f| has(f))
}

/// The features of `level` that `has` does not report (all of them on
/// another architecture).
fn missing(level: Level, has: impl Fn(&str) -> bool) -> impl Iterator<Item = &'static str> {
    let other_arch = level.arch().is_some_and(|a| a != ARCH);
    level
        .features()
        .iter()
        .copied()
        .filter(move |f| other_arch || !has(f))
}

const ARCH: &str = if cfg!(target_arch = "x86_64") {
    "x86_64"
} else if cfg!(target_arch = "aarch64") {
    "aarch64"
} else {
    "other"
};

/// Whether the CPU has `feature` (one of the names of [`Level::features`]):
/// detected at run time with `std`, the build's target features without.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn cpu_has(feature: &str) -> bool {
    match feature {
        "avx2" => std::is_x86_feature_detected!("avx2"),
        "fma" => std::is_x86_feature_detected!("fma"),
        "avx512f" => std::is_x86_feature_detected!("avx512f"),
        "avx512bw" => std::is_x86_feature_detected!("avx512bw"),
        "avx512dq" => std::is_x86_feature_detected!("avx512dq"),
        "avx512vl" => std::is_x86_feature_detected!("avx512vl"),
        _ => false,
    }
}

/// See the `std` version.
#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
fn cpu_has(feature: &str) -> bool {
    match feature {
        "avx2" => cfg!(target_feature = "avx2"),
        "fma" => cfg!(target_feature = "fma"),
        "avx512f" => cfg!(target_feature = "avx512f"),
        "avx512bw" => cfg!(target_feature = "avx512bw"),
        "avx512dq" => cfg!(target_feature = "avx512dq"),
        "avx512vl" => cfg!(target_feature = "avx512vl"),
        _ => false,
    }
}

/// See the x86-64 version; NEON is part of the aarch64 baseline.
#[cfg(target_arch = "aarch64")]
fn cpu_has(feature: &str) -> bool {
    feature == "neon" && cfg!(target_feature = "neon")
}

/// No SIMD level but the scalar one exists elsewhere.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn cpu_has(_: &str) -> bool {
    false
}

/// The error of [`force`]: the machine cannot run the level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable {
    /// The level asked for.
    pub level: Level,
}

impl core::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let level = self.level;
        write!(f, "the SIMD level {} cannot run here: ", level.name())?;
        match level.arch() {
            Some(arch) if arch != ARCH => {
                write!(f, "it exists on {arch}, this is {ARCH}")
            }
            _ => {
                write!(f, "it needs the CPU features ")?;
                list(f, level.features().iter().copied())?;
                write!(f, "; this CPU lacks ")?;
                list(f, level.missing_features())
            }
        }
    }
}

fn list<'a>(
    f: &mut core::fmt::Formatter<'_>,
    items: impl Iterator<Item = &'a str>,
) -> core::fmt::Result {
    for (i, item) in items.enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(item)?;
    }
    Ok(())
}

#[cfg(feature = "std")]
impl std::error::Error for Unavailable {}

/// 0 = not chosen yet.
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// The level the kernels use.
#[inline]
pub fn level() -> Level {
    match Level::from_u8(LEVEL.load(Ordering::Relaxed)) {
        Some(l) => l,
        None => {
            let l = initial_level();
            LEVEL.store(l as u8, Ordering::Relaxed);
            l
        }
    }
}

/// The best available level, or the one `CNN_SIMD` asks for.
fn initial_level() -> Level {
    #[cfg(feature = "std")]
    if let Ok(name) = std::env::var("CNN_SIMD") {
        match Level::parse(&name) {
            Some(l) if l.is_available() => return l,
            _ => {
                // An unknown or unavailable level falls back to the best one;
                // say so once rather than silently.
                std::eprintln!(
                    "cnn: CNN_SIMD={name:?} is not a level this machine runs \
                     (scalar, neon, avx2, avx512); using the best available"
                );
            }
        }
    }
    best_available()
}

/// The best level this machine runs.
pub fn best_available() -> Level {
    [Level::Avx512, Level::Avx2, Level::Neon]
        .into_iter()
        .find(|l| l.is_available())
        .unwrap_or(Level::Scalar)
}

/// Lanes of a vector at the current level (1 for scalar).
pub fn lanes() -> usize {
    match level() {
        Level::Scalar => 1,
        Level::Neon => 4,
        Level::Avx2 => 8,
        Level::Avx512 => 16,
    }
}

/// Forces the kernels onto `level` (for tests and comparisons).
///
/// Errors, and changes nothing, if the machine cannot run it (see
/// [`Level::is_available`]): the kernels of a level run only on a CPU with
/// every feature they are compiled for.
pub fn force(level: Level) -> Result<(), Unavailable> {
    if !level.is_available() {
        return Err(Unavailable { level });
    }
    LEVEL.store(level as u8, Ordering::Relaxed);
    Ok(())
}

/// Every level this machine runs, scalar first.
pub fn available_levels() -> impl Iterator<Item = Level> {
    [Level::Scalar, Level::Neon, Level::Avx2, Level::Avx512]
        .into_iter()
        .filter(|l| l.is_available())
}

// ---- dispatch ---------------------------------------------------------------

/// Defines a public function that runs a generic kernel `$kernel(s, args..)`
/// at the current [`level`]: each level's instantiation sits inside a
/// `#[target_feature]` function, so the kernel and the vector methods it
/// calls (all `#[inline(always)]`) compile to that instruction set.
macro_rules! simd_kernel {
    ($(#[$meta:meta])* pub fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? => $kernel:path;) => {
        $(#[$meta])*
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            match level() {
                #[cfg(target_arch = "x86_64")]
                Level::Avx512 => {
                    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                    fn imp($($arg: $ty),*) $(-> $ret)? {
                        // SAFETY: this function is compiled for, and only
                        // called on, CPUs with AVX-512F/BW/DQ/VL.
                        let s = unsafe { avx512::Avx512::new_unchecked() };
                        $kernel(s, $($arg),*)
                    }
                    // SAFETY: `level()` reports Avx512 only when the CPU has
                    // every feature `imp` is compiled for.
                    unsafe { imp($($arg),*) }
                }
                #[cfg(target_arch = "x86_64")]
                Level::Avx2 => {
                    #[target_feature(enable = "avx2,fma")]
                    fn imp($($arg: $ty),*) $(-> $ret)? {
                        // SAFETY: compiled for, and only called on, CPUs with AVX2 and FMA.
                        let s = unsafe { avx2::Avx2::new_unchecked() };
                        $kernel(s, $($arg),*)
                    }
                    // SAFETY: `level()` reports Avx2 only when the CPU has AVX2 and FMA.
                    unsafe { imp($($arg),*) }
                }
                #[cfg(target_arch = "aarch64")]
                Level::Neon => {
                    // NEON is part of the aarch64 baseline.
                    $kernel(neon::Neon::new(), $($arg),*)
                }
                _ => $kernel(Scalar, $($arg),*),
            }
        }
    };
}

simd_kernel! {
    /// `c = a b + beta c`: `a` is `m x k`, `b` is `k x n`, `c` (laid out
    /// as `lc`) is `m x n` (see `ops::gemm::sgemm`, which checks them).
    pub fn gemm(a: Matrix, b: Matrix, beta: f32, c: &mut [f32], lc: Layout) => gemm::gemm;
}

simd_kernel! {
    /// [`gemm`] with `B` already in the GEMM's panel layout ([`PackedB`],
    /// panels [`gemm_panel_width`] wide).
    pub fn gemm_packed(a: Matrix, b: PackedB, beta: f32, c: &mut [f32], lc: Layout) => gemm::gemm_packed;
}

/// The panel width, in columns, of a [`PackedB`] that [`gemm_packed`] reads
/// at the current [`level`].
pub fn gemm_panel_width() -> usize {
    gemm::panel_width(lanes())
}

simd_kernel! {
    /// `y = conv(x) + b` for `n` samples by direct convolution: `x` is
    /// `[n, c, h, w]`, `y` `[n, k, oh, ow]`. `scratch` holds the packed
    /// weights of layers too large for the stack
    /// (`cnn_spec::scratch::direct_pack_len`).
    pub fn conv_direct(
        g: &ConvGeom,
        p: ConvWeights,
        x: &[f32],
        y: &mut [f32],
        scratch: &mut [f32],
        n: usize,
    ) => conv::direct_forward;
}

simd_kernel! {
    /// `dw += dz (*) xs` for the direct convolution of one sample: `xs` is
    /// `[c, h, w]`, `dz` `[k, oh, ow]`, `dw` `[k, c, kh, kw]`.
    pub fn conv_direct_dw(g: &ConvGeom, xs: &[f32], dz: &[f32], dw: &mut [f32]) => conv::conv_dw;
}

simd_kernel! {
    /// `dx = w^T (*) dz` for the direct convolution of one sample: `w` is
    /// `[k, c, kh, kw]`, `dz` `[k, oh, ow]`, `dx` `[c, h, w]` (written).
    pub fn conv_direct_dx(g: &ConvGeom, w: &[f32], dz: &[f32], dx: &mut [f32]) => conv::conv_dx;
}

simd_kernel! {
    /// Fused conv → act → max-pool of layer `l` (one group; disjoint
    /// windows) of the samples of `x` (exactly `[n, c, h, w]`) into `y`
    /// (`[n, k, p.oh, p.ow]`) and, when given, their argmax bytes (same
    /// shape: the winning cell of each window, or `cnn_spec::INACTIVE`);
    /// `scratch` as for [`conv_direct`].
    pub fn conv_relu_pool_direct(
        l: &Conv,
        p: ConvWeights,
        x: &[f32],
        y: &mut [f32],
        argmax: Option<&mut [u8]>,
        scratch: &mut [f32],
    ) => conv::direct_pool;
}

simd_kernel! {
    /// The input gradient `dx` (`[c, h, w]`, written) of one sample of a
    /// fused direct conv → ReLU → max-pool layer from its winners only;
    /// `wc` packed by [`pack_channels_last`] with the input channels
    /// rounded up to the current level's [`lanes`], `dxc` scratch of
    /// `h * w * cpad` floats.
    pub fn sparse_dx(
        l: &Conv,
        grad: PooledGrad,
        wc: &[f32],
        dx: &mut [f32],
        dxc: &mut [f32],
    ) => conv::sparse_dx;
}

simd_kernel! {
    /// The weight and bias gradients of one sample of a fused direct conv →
    /// ReLU → max-pool layer from its winners only, for layers where
    /// [`sparse_dw_suits`] at the current level's [`lanes`]; the weight
    /// gradient accumulates channels-last in `dwc`
    /// (see [`add_channels_last_dw`]), `xpad` is scratch.
    pub fn sparse_dw(
        l: &Conv,
        grad: PooledGrad,
        xs: &[f32],
        dwc: &mut [f32],
        db: Option<&mut [f32]>,
        xpad: &mut [f32],
    ) => conv::sparse_dw;
}

pub use pool::ROW_MAX as POOL_ROW_MAX;

simd_kernel! {
    /// The input transform of Winograd's F(4x4, 3x3) convolution: rows
    /// `is.0..is.1` of the transformed tiles `range.0..range.1` of one
    /// sample `xs` (`[c, h, w]`) into `v`, one [`PackedB`] (panels
    /// [`gemm_panel_width`] wide) per position; `phases` is scratch
    /// (`4 * (is.1 - is.0) * cnn_spec::winograd::phase_len`).
    pub fn winograd_input(
        g: &ConvGeom,
        xs: &[f32],
        range: (usize, usize),
        is: (usize, usize),
        v: &mut [f32],
        phases: &mut [f32],
    ) => conv::winograd::input;
}

simd_kernel! {
    /// The output transform of Winograd's F(4x4, 3x3) convolution: the
    /// outputs of tiles `range.0..range.1` in the channels of `ys`
    /// (`[kp, oh, ow]`) from their products `m` (`[kp][36][n]`), plus
    /// `bias`.
    pub fn winograd_output(
        g: &ConvGeom,
        m: &[f32],
        bias: Option<&[f32]>,
        range: (usize, usize),
        ys: &mut [f32],
    ) => conv::winograd::output;
}

simd_kernel! {
    /// Max-pools the planes of `x` (`[planes, h, w]`) into `y`
    /// (`[planes, oh, ow]`) without argmax; `g.ow <= POOL_ROW_MAX`.
    pub fn max_pool_planes(g: &cnn_spec::PoolGeom, x: &[f32], y: &mut [f32]) => pool::max_planes;
}

simd_kernel! {
    /// The sum of a slice (bias gradients).
    pub fn sum(v: &[f32]) -> f32 => reduce::sum;
}

simd_kernel! {
    /// `y = relu(y)` in place, NaN kept.
    pub fn relu_in_place(y: &mut [f32]) => reduce::relu_in_place;
}

simd_kernel! {
    /// `y[s, o] = b[o] + dot(w[o], x[s])` for every sample `s` in `x`
    /// (`[n, inputs]`); `w` is `[outputs, inputs]`, `y` `[n, outputs]`.
    pub fn dense_forward(
        inputs: usize,
        outputs: usize,
        x: &[f32],
        w: &[f32],
        b: Option<&[f32]>,
        y: &mut [f32],
    ) => dense::dense_forward;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The features a fake CPU reports.
    #[cfg(target_arch = "x86_64")]
    fn cpu(features: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |f| features.contains(&f)
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_needs_every_feature_its_kernels_are_compiled_for() {
        // AVX-512F alone (Knights Landing has F and CD, not BW, DQ, VL).
        let f_only = cpu(&["avx512f", "avx2", "fma"]);
        assert!(!runs(Level::Avx512, &f_only));
        assert!(runs(Level::Avx2, &f_only));
        assert_eq!(
            missing(Level::Avx512, &f_only).collect::<std::vec::Vec<_>>(),
            ["avx512bw", "avx512dq", "avx512vl"]
        );
        let full = cpu(&["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"]);
        assert!(runs(Level::Avx512, &full));
        // AVX-512 without AVX2 and FMA: the kernels use both.
        let no_fma = cpu(&["avx512f", "avx512bw", "avx512dq", "avx512vl"]);
        assert!(!runs(Level::Avx512, &no_fma));
        assert!(!runs(Level::Avx2, cpu(&["avx2"])));
        assert!(!runs(Level::Neon, cpu(&["neon"])), "NEON is not on x86-64");
        assert!(runs(Level::Scalar, cpu(&[])));
    }

    /// `features()` lists exactly what each level's functions are compiled
    /// for: the `#[target_feature(enable = "...")]` of its dispatch arm.
    #[test]
    fn features_match_the_target_feature_attributes() {
        let source = include_str!("mod.rs");
        for level in [Level::Avx2, Level::Avx512] {
            let arm = format!("Level::{level:?} => {{");
            let at = source.find(&arm).expect("the level's dispatch arm");
            let rest = &source[at..];
            let start = rest.find("enable = \"").expect("its target_feature") + 10;
            let enabled = &rest[start..start + rest[start..].find('"').unwrap()];
            assert_eq!(enabled, level.features().join(","), "{level:?}");
        }
    }

    #[test]
    fn partial_loads_stores_and_windows_match_their_definitions() {
        vector::check_partial_access(Scalar);
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            fn avx2_level() {
                // SAFETY: called below only when the CPU has AVX2 and FMA.
                vector::check_partial_access(unsafe { avx2::Avx2::new_unchecked() });
            }
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
            fn avx512_level() {
                // SAFETY: called below only when the CPU has every feature
                // the function is compiled for.
                vector::check_partial_access(unsafe { avx512::Avx512::new_unchecked() });
            }
            if Level::Avx2.is_available() {
                // SAFETY: the CPU has AVX2 and FMA.
                unsafe { avx2_level() }
            }
            if Level::Avx512.is_available() {
                // SAFETY: the CPU has AVX-512F/BW/DQ/VL, AVX2 and FMA.
                unsafe { avx512_level() }
            }
        }
        #[cfg(target_arch = "aarch64")]
        vector::check_partial_access(neon::Neon::new());
    }

    #[test]
    fn forcing_an_unavailable_level_is_an_error() {
        let absent = [Level::Neon, Level::Avx2, Level::Avx512]
            .into_iter()
            .find(|l| !l.is_available())
            .expect("no machine runs both NEON and AVX2");
        let before = level();
        let err = force(absent).unwrap_err();
        assert_eq!(err.level, absent);
        assert_eq!(level(), before, "nothing changed");
        let m = std::string::ToString::to_string(&err);
        assert!(
            m.contains(absent.name()) && m.contains("cannot run here"),
            "{m}"
        );
        assert!(force(Level::Scalar).is_ok());
        assert!(force(best_available()).is_ok());
        for l in available_levels() {
            assert_eq!(l.missing_features().count(), 0, "{l:?}");
        }
    }
}
