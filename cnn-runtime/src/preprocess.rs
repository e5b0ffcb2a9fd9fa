//! Input preprocessing applied at inference: the `no_std`, allocation-free
//! kernels that turn a raw sample into what a network's first layer takes.
//!
//! A model file can carry its preprocessing next to its weights (see
//! `data::Preprocessing` with `std`, and `Model`). A network compiled in
//! with `#[cnn(weights = "...")]` from such a file gets it as the constant
//! `PREPROCESSING` (a [`Preprocess`]) and an `infer_raw` method that
//! applies it; a network loaded at run time applies the same kernels, so
//! both give bit-identical inputs to the network.
//!
//! | kind | what it does to one sample |
//! | --- | --- |
//! | [`Preprocess::PerSample`] | `x = (x - mean) / (std + 1e-8)`, the sample's own mean and population standard deviation (sums in `f64`) |
//! | [`Preprocess::PerChannel`] | `x = (x - mean[c]) / (std[c] + 1e-8)` in `f32`, `c` the channel (the first of `[C, H, W]`; one global value for other ranks) |
//! | [`Preprocess::Whitening`] | `y = (x - mean) W` in `f32` ([`Whiten`]): `dim` raw values in, `out` values out (`out < dim` for PCA keeping fewer components) |
//!
//! The standardisations work in place ([`Preprocess::apply`]); whitening
//! reads every raw value for each output value, so it writes into a
//! separate buffer ([`Preprocess::apply_into`]). [`Preprocess::map`] hands
//! the preprocessed values out one at a time, from raw values given one at
//! a time, with no buffer at all (how an int8 network quantizes its input).
//! All three give the same bits.
//!
//! ```
//! use cnn_runtime::preprocess::{Floats, Preprocess, Whiten};
//!
//! let mnist = Preprocess::PerChannel { mean: &[0.5], std: &[0.25] };
//! let mut x = [0.5, 0.75, 0.0];
//! mnist.apply(&mut x);
//! assert_eq!(x, [0.0, 1.0, -2.0]);
//!
//! let mut y = [1.0, 3.0];
//! Preprocess::PerSample.apply(&mut y);
//! assert_eq!(y, [-1.0, 1.0]);
//!
//! // A whitening of 3 values into 2: `y = (x - mean) W`, W `[3, 2]`.
//! let pca = Preprocess::Whitening(Whiten {
//!     mean: Floats::F32(&[1.0, 1.0, 1.0]),
//!     matrix: Floats::F32(&[1.0, 0.0, 0.0, 2.0, 1.0, 1.0]),
//!     dim: 3,
//!     out: 2,
//!     stride: 2,
//! });
//! let mut white = [0.0; 2];
//! pca.apply_into(&[2.0, 3.0, 5.0], &mut white);
//! assert_eq!(white, [5.0, 8.0]);
//! ```

/// Added to every standard deviation before dividing.
pub const EPSILON: f64 = 1e-8;

/// [`EPSILON`] in `f32`, as [`Preprocess::PerChannel`] adds it.
const EPSILON_F32: f32 = 1e-8;

/// A preprocessing step, borrowing its statistics (`&'static` when compiled
/// in). Its statistics were checked against the network's input shape when
/// the file was read (at compile time for compiled-in weights).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Preprocess<'a> {
    /// The input is used as it is.
    None,
    /// Each sample standardised with its own mean and standard deviation
    /// (as `data::scale_each_sample` does to a training set).
    PerSample,
    /// Standardised with a training set's statistics, one per channel (as
    /// `data::Standardizer` does).
    PerChannel {
        /// Mean per channel, `[C]`.
        mean: &'a [f32],
        /// Population standard deviation per channel, `[C]`.
        std: &'a [f32],
    },
    /// PCA or ZCA whitening (as `data::Whitening` fits it): `dim` raw
    /// values in, `out` values out.
    Whitening(Whiten<'a>),
}

impl Preprocess<'_> {
    /// Preprocesses one sample in place. Allocates nothing and cannot
    /// panic: NaN in gives NaN out. For [`Preprocess::PerChannel`] the
    /// sample is split into `mean.len()` equal channels (values past the
    /// last whole channel are left as they are; the loaders make that
    /// impossible by checking the shapes).
    ///
    /// Whitening cannot work in place (every output value reads every
    /// input value, and the lengths may differ): it fills `x` with NaN,
    /// so that the mistake shows. Use [`Preprocess::apply_into`].
    pub fn apply(&self, x: &mut [f32]) {
        match *self {
            Preprocess::None => {}
            Preprocess::PerSample => standardize_sample(x),
            Preprocess::PerChannel { mean, std } => standardize_channels(x, mean, std),
            Preprocess::Whitening(_) => x.fill(f32::NAN),
        }
    }

    /// Preprocesses the raw sample `raw` (of [`Preprocess::raw_len`]
    /// values) into `out` (the network's input). Allocates nothing and
    /// cannot panic: if the lengths do not fit, `out` is filled with NaN.
    pub fn apply_into(&self, raw: &[f32], out: &mut [f32]) {
        match self {
            Preprocess::Whitening(w) => w.apply(raw, out),
            _ if raw.len() == out.len() => {
                out.copy_from_slice(raw);
                self.apply(out);
            }
            _ => out.fill(f32::NAN),
        }
    }

    /// Preprocesses a raw sample of `raw_len` values given one at a time
    /// (`raw(i)`, which may be called more than once for the same `i`) and
    /// hands the results out one at a time, in order (`emit(i, value)`),
    /// with no buffer: the same values, bit for bit, as
    /// [`Preprocess::apply_into`]. For whitening, `raw_len` must be its
    /// `dim` (else every output is NaN).
    ///
    /// ```
    /// use cnn_runtime::preprocess::Preprocess;
    ///
    /// let pixels = [0u8, 51, 255];
    /// let p = Preprocess::PerChannel { mean: &[0.2], std: &[0.5] };
    /// let mut quantized = [0i8; 3];
    /// p.map(3, |i| f32::from(pixels[i]) / 255.0, |i, v| quantized[i] = (v * 50.0) as i8);
    /// assert_eq!(quantized, [-20, 0, 80]);
    /// ```
    pub fn map(
        &self,
        raw_len: usize,
        raw: impl Fn(usize) -> f32,
        mut emit: impl FnMut(usize, f32),
    ) {
        match *self {
            Preprocess::None => (0..raw_len).for_each(|i| emit(i, raw(i))),
            Preprocess::PerSample => {
                let (mean, scale) = sample_statistics(raw_len, &raw);
                for i in 0..raw_len {
                    emit(i, ((f64::from(raw(i)) - mean) * scale) as f32);
                }
            }
            Preprocess::PerChannel { mean, std } => {
                let per_channel = raw_len.checked_div(mean.len()).unwrap_or(0);
                for i in 0..raw_len {
                    let v = raw(i);
                    let c = i.checked_div(per_channel).unwrap_or(usize::MAX);
                    emit(
                        i,
                        match (mean.get(c), std.get(c)) {
                            (Some(&m), Some(&s)) => (v - m) / (s + EPSILON_F32),
                            _ => v,
                        },
                    );
                }
            }
            Preprocess::Whitening(w) => {
                let fits = w.fits(raw_len, w.out);
                for o in 0..w.out {
                    emit(o, if fits { w.value(o, &raw) } else { f32::NAN });
                }
            }
        }
    }

    /// Raw values per sample for a network whose input has `input_len`
    /// values: the whitening's `dim`, or `input_len`.
    pub const fn raw_len(&self, input_len: usize) -> usize {
        match self {
            Preprocess::Whitening(w) => w.dim,
            _ => input_len,
        }
    }

    /// The name stored in a file's metadata: `none`, `per_sample`,
    /// `per_channel` or `whitening`.
    pub const fn name(&self) -> &'static str {
        match self {
            Preprocess::None => "none",
            Preprocess::PerSample => "per_sample",
            Preprocess::PerChannel { .. } => "per_channel",
            Preprocess::Whitening(_) => "whitening",
        }
    }
}

/// `f32` values, as a slice or as little-endian bytes: how a compiled-in
/// network embeds them (read with `f32::from_le_bytes`, so the bytes need
/// no alignment).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Floats<'a> {
    /// The values.
    F32(&'a [f32]),
    /// The values as little-endian bytes, 4 per value.
    Le(&'a [u8]),
}

impl Floats<'_> {
    /// The number of values.
    pub const fn len(&self) -> usize {
        match self {
            Floats::F32(v) => v.len(),
            Floats::Le(b) => b.len() / 4,
        }
    }

    /// Whether there are none.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` (NaN past the end).
    #[inline]
    pub fn get(&self, i: usize) -> f32 {
        match self {
            Floats::F32(v) => v.get(i).copied().unwrap_or(f32::NAN),
            Floats::Le(b) => match b.get(4 * i..4 * i + 4) {
                Some(&[a, b, c, d]) => f32::from_le_bytes([a, b, c, d]),
                _ => f32::NAN,
            },
        }
    }
}

/// A whitening as inference applies it: `y = (x - mean) W` for one sample
/// `x` of `dim` values, `W` being `[dim, out]` with its rows `stride`
/// values apart. Each output value is summed over `j = 0, 1, …, dim - 1`
/// in that order, in `f32`, as `acc + (x[j] - mean[j]) * W[j, o]`: every
/// method gives the same bits, on every target.
///
/// `data::Whitening` fits one (PCA: `out` is the components kept; ZCA:
/// `out = dim`); a model file stores `W` as `preprocess.whitening.matrix`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Whiten<'a> {
    /// The training set's mean, `[dim]`.
    pub mean: Floats<'a>,
    /// The whitening matrix, `[dim, out]`, rows `stride` values apart.
    pub matrix: Floats<'a>,
    /// Values per raw sample.
    pub dim: usize,
    /// Values per whitened sample.
    pub out: usize,
    /// Values from one row of `matrix` to the next, `>= out`.
    pub stride: usize,
}

/// Samples whitened together by [`Whiten::apply_batch`], so that each row of
/// the matrix is read once per block.
const WHITEN_BLOCK: usize = 32;

impl Whiten<'_> {
    /// Whether it turns `raw_len` values into `out_len` and its mean and
    /// matrix hold the values its sizes say.
    pub fn fits(&self, raw_len: usize, out_len: usize) -> bool {
        let Some(last_row) = self.dim.checked_sub(1) else {
            return false;
        };
        raw_len == self.dim
            && out_len == self.out
            && self.stride >= self.out
            && self.mean.len() >= self.dim
            && last_row
                .checked_mul(self.stride)
                .and_then(|r| r.checked_add(self.out))
                .is_some_and(|end| end <= self.matrix.len())
    }

    /// Whitens one sample, `raw` (`[dim]`) into `out` (`[out]`).
    /// Allocates nothing and cannot panic: if the lengths do not fit,
    /// `out` is filled with NaN.
    pub fn apply(&self, raw: &[f32], out: &mut [f32]) {
        self.apply_batch(raw, out);
    }

    /// Whitens `n` samples, `raw` (`[n, dim]`) into `out` (`[n, out]`),
    /// each exactly as [`Whiten::apply`] would: blocks of samples share
    /// each read of a matrix row. If the lengths do not fit, `out` is
    /// filled with NaN.
    pub fn apply_batch(&self, raw: &[f32], out: &mut [f32]) {
        let (dim, k) = (self.dim, self.out);
        let n = raw.len().checked_div(dim).unwrap_or(0);
        if !self.fits(dim, k) || raw.len() != n * dim || out.len() != n * k || k == 0 {
            out.fill(f32::NAN);
            return;
        }
        out.fill(0.0);
        for (xs, ys) in raw
            .chunks(WHITEN_BLOCK * dim)
            .zip(out.chunks_mut(WHITEN_BLOCK * k))
        {
            for j in 0..dim {
                let m = self.mean.get(j);
                let start = j * self.stride;
                for (x, y) in xs.chunks_exact(dim).zip(ys.chunks_exact_mut(k)) {
                    let d = x[j] - m;
                    match self.matrix {
                        Floats::F32(w) => {
                            for (acc, &w) in y.iter_mut().zip(&w[start..start + k]) {
                                *acc += d * w;
                            }
                        }
                        Floats::Le(b) => {
                            let row = &b[4 * start..4 * (start + k)];
                            for (acc, w) in y.iter_mut().zip(row.chunks_exact(4)) {
                                *acc += d * f32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Output value `o` of the sample `raw(j)`, `j < dim` (the caller
    /// checked the sizes).
    fn value(&self, o: usize, raw: impl Fn(usize) -> f32) -> f32 {
        let mut acc = 0.0f32;
        for j in 0..self.dim {
            acc += (raw(j) - self.mean.get(j)) * self.matrix.get(j * self.stride + o);
        }
        acc
    }
}

/// `x = (x - mean[c]) / (std[c] + 1e-8)` in `f32`, channel `c` being the
/// `c`-th of `mean.len()` equal slices of `x`.
pub fn standardize_channels(x: &mut [f32], mean: &[f32], std: &[f32]) {
    if mean.is_empty() {
        return;
    }
    let per_channel = x.len() / mean.len();
    if per_channel == 0 {
        return;
    }
    for ((values, &m), &s) in x.chunks_exact_mut(per_channel).zip(mean).zip(std) {
        let d = s + EPSILON_F32;
        for v in values {
            *v = (*v - m) / d;
        }
    }
}

/// `x = (x - mean) / (std + 1e-8)` with the mean and population standard
/// deviation of `x` itself, summed in `f64`; the result is rounded to
/// `f32` once. A constant sample becomes zeros.
pub fn standardize_sample(x: &mut [f32]) {
    let (mean, scale) = sample_statistics(x.len(), |i| x[i]);
    for v in x {
        *v = ((f64::from(*v) - mean) * scale) as f32;
    }
}

/// The mean of the `len` values `get(i)` and `1 / (std + 1e-8)`, summed in
/// `f64` in order.
fn sample_statistics(len: usize, get: impl Fn(usize) -> f32) -> (f64, f64) {
    if len == 0 {
        return (0.0, 1.0);
    }
    let n = len as f64;
    let mut sum = 0.0f64;
    for i in 0..len {
        sum += f64::from(get(i));
    }
    let mean = sum / n;
    let mut squares = 0.0f64;
    for i in 0..len {
        let d = f64::from(get(i)) - mean;
        squares += d * d;
    }
    (mean, 1.0 / (sqrt_f64(squares / n) + EPSILON))
}

/// Square root in `f64` without `std`: Newton's method from a bit-level
/// estimate (halving the exponent), which leaves it within an ulp or so
/// of the exact value.
fn sqrt_f64(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 || x.is_infinite() {
        return x;
    }
    // Subnormals: scale into the normal range, exactly (by 2^128).
    let (x, unscale) = if x < f64::MIN_POSITIVE {
        (
            x * f64::from_bits(0x47f0_0000_0000_0000),
            f64::from_bits(0x3bf0_0000_0000_0000),
        )
    } else {
        (x, 1.0)
    };
    let mut y = f64::from_bits((x.to_bits() >> 1) + 0x1ff7_a3be_a91d_9b1b);
    for _ in 0..6 {
        y = 0.5 * (y + x / y);
    }
    y * unscale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_matches_the_f32_formula() {
        let mean = [0.131_074_28f32];
        let std = [0.308_688_52f32];
        let mut x: [f32; 256] = core::array::from_fn(|p| p as f32 / 255.0);
        let expected: [f32; 256] =
            core::array::from_fn(|p| (p as f32 / 255.0 - mean[0]) / (std[0] + 1e-8));
        Preprocess::PerChannel {
            mean: &mean,
            std: &std,
        }
        .apply(&mut x);
        assert_eq!(x.map(f32::to_bits), expected.map(f32::to_bits));
    }

    #[test]
    fn per_channel_splits_channels() {
        let mut x = [1.0, 1.0, 10.0, 12.0];
        standardize_channels(&mut x, &[1.0, 11.0], &[1.0, 1.0]);
        assert_eq!(x, [0.0, 0.0, -1.0, 1.0]);
        // A zero standard deviation gives zeros for the mean, not NaN.
        let mut c = [3.0, 3.0];
        standardize_channels(&mut c, &[3.0], &[0.0]);
        assert_eq!(c, [0.0, 0.0]);
    }

    #[test]
    fn per_sample_agrees_with_f64_statistics() {
        let mut x: [f32; 50] = core::array::from_fn(|i| ((i * 37 % 11) as f32).sin() * 3.0 + 1.0);
        standardize_sample(&mut x);
        let n = x.len() as f64;
        let m = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let s = (x.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n).sqrt();
        assert!(m.abs() < 1e-6 && (s - 1.0).abs() < 1e-6, "{m} {s}");
        let mut constant = [0.5f32; 4];
        standardize_sample(&mut constant);
        assert_eq!(constant, [0.0; 4]);
        let mut nan = [1.0, f32::NAN];
        standardize_sample(&mut nan);
        assert!(nan.iter().all(|v| v.is_nan()));
    }

    /// A ZCA-like whitening of 5 values (`stride` 7, padded rows) and the
    /// same as little-endian bytes.
    fn matrix() -> ([f32; 35], [u8; 140]) {
        let mut storage = ([0.0; 35], [0; 140]);
        for (i, w) in storage.0.iter_mut().enumerate() {
            *w = if i % 7 < 5 {
                ((i * 13 % 17) as f32 * 0.37).sin() / 3.0
            } else {
                0.0
            };
        }
        for (b, w) in storage.1.chunks_exact_mut(4).zip(&storage.0) {
            b.copy_from_slice(&w.to_le_bytes());
        }
        storage
    }

    fn whitening(storage: &([f32; 35], [u8; 140])) -> [Whiten<'_>; 2] {
        const MEAN: [f32; 5] = [0.1, -0.2, 0.3, 0.0, 1.5];
        let f32s = Whiten {
            mean: Floats::F32(&MEAN),
            matrix: Floats::F32(&storage.0),
            dim: 5,
            out: 5,
            stride: 7,
        };
        let bytes = Whiten {
            matrix: Floats::Le(&storage.1),
            ..f32s
        };
        [f32s, bytes]
    }

    #[test]
    fn whitening_by_every_method_gives_the_same_bits() {
        let storage = matrix();
        let [f32s, bytes] = whitening(&storage);
        let raw: [f32; 15] = core::array::from_fn(|i| ((i * 7 % 11) as f32 * 0.71).cos() * 2.0);
        let mut batch = [0.0f32; 15];
        f32s.apply_batch(&raw, &mut batch);
        for (x, y) in raw.chunks_exact(5).zip(batch.chunks_exact(5)) {
            // The formula, summed in order.
            let expected: [f32; 5] = core::array::from_fn(|o| {
                let mut acc = 0.0f32;
                for (j, &v) in x.iter().enumerate() {
                    acc += (v - f32s.mean.get(j)) * storage.0[j * 7 + o];
                }
                acc
            });
            for w in [f32s, bytes] {
                let mut one = [0.0f32; 5];
                Preprocess::Whitening(w).apply_into(x, &mut one);
                assert_eq!(one.map(f32::to_bits), expected.map(f32::to_bits));
                let mut streamed = [0.0f32; 5];
                Preprocess::Whitening(w).map(5, |j| x[j], |o, v| streamed[o] = v);
                assert_eq!(streamed.map(f32::to_bits), expected.map(f32::to_bits));
            }
            assert_eq!(bits(y), expected.map(f32::to_bits));
        }
        // Lengths that do not fit give NaN, in place too.
        let mut out = [0.0f32; 4];
        f32s.apply(&raw[..5], &mut out);
        assert!(out.iter().all(|v| v.is_nan()));
        let mut x = [1.0f32; 5];
        Preprocess::Whitening(f32s).apply(&mut x);
        assert!(x.iter().all(|v| v.is_nan()));
        let mut streamed = [0.0f32; 5];
        Preprocess::Whitening(f32s).map(4, |_| 0.0, |o, v| streamed[o] = v);
        assert!(streamed.iter().all(|v| v.is_nan()));
        let short = Whiten {
            matrix: Floats::F32(&storage.0[..30]),
            ..f32s
        };
        assert!(!short.fits(5, 5) && f32s.fits(5, 5) && !f32s.fits(5, 4));
        assert_eq!(Preprocess::Whitening(f32s).raw_len(3), 5);
    }

    fn bits(v: &[f32]) -> [u32; 5] {
        core::array::from_fn(|i| v[i].to_bits())
    }

    #[test]
    fn map_gives_the_bits_of_apply() {
        let raw: [f32; 12] = core::array::from_fn(|i| ((i * 5 % 7) as f32 * 0.9).sin() + 2.0);
        let kinds = [
            Preprocess::None,
            Preprocess::PerSample,
            Preprocess::PerChannel {
                mean: &[1.0, 2.0, 3.0],
                std: &[0.5, 0.25, 0.0],
            },
            // Values past the last whole channel stay as they are.
            Preprocess::PerChannel {
                mean: &[1.0; 5],
                std: &[2.0; 5],
            },
        ];
        for p in kinds {
            let mut applied = raw;
            p.apply(&mut applied);
            let mut into = [0.0f32; 12];
            p.apply_into(&raw, &mut into);
            let mut streamed = [0.0f32; 12];
            p.map(12, |i| raw[i], |i, v| streamed[i] = v);
            assert_eq!(applied.map(f32::to_bits), into.map(f32::to_bits), "{p:?}");
            assert_eq!(
                applied.map(f32::to_bits),
                streamed.map(f32::to_bits),
                "{p:?}"
            );
        }
        let mut wrong = [0.0f32; 3];
        Preprocess::PerSample.apply_into(&raw, &mut wrong);
        assert!(wrong.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn floats_read_little_endian_bytes() {
        let bytes = [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 1];
        let f = Floats::Le(&bytes);
        assert_eq!((f.len(), f.get(0), f.get(1)), (2, 1.0, -2.0));
        assert!(f.get(2).is_nan() && Floats::F32(&[]).get(0).is_nan());
        assert!(Floats::F32(&[]).is_empty());
    }

    #[test]
    fn sqrt_f64_is_close_to_std() {
        for x in [
            1e-310,
            1e-300,
            1e-20,
            0.1,
            2.0,
            12345.678,
            1e50,
            1e300,
            f64::MAX,
        ] {
            let (a, b) = (sqrt_f64(x), x.sqrt());
            assert!((a - b).abs() <= 2.0 * f64::EPSILON * b, "{x}: {a} {b}");
        }
        assert!(sqrt_f64(-1.0).is_nan());
        assert_eq!(sqrt_f64(0.0), 0.0);
    }
}
