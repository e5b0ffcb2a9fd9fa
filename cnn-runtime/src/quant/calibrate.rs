//! Post-training calibration: the ranges of a network's activations over a
//! calibration set, and the int8 parameters they give.
//!
//! The calibrator does not care how the activations are obtained: feed it
//! `(tensor name, values)` for every batch (any number of calls per name,
//! in any order), then [`Calibrator::finish`] with a [`Method`].

use std::string::{String, ToString};
use std::vec::Vec;

use cnn_spec::quant::QParams;

use crate::error::Error;

/// How a tensor's range is chosen from what was observed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// The smallest and largest values seen (ONNX Runtime's and TFLite's
    /// default).
    MinMax,
    /// The `p`-th percentile of the values at the top and the `(100 -
    /// p)`-th at the bottom (e.g. `99.99`): clips rare outliers, for a
    /// finer scale. `p` in `(50, 100]`; 100 is [`Method::MinMax`].
    Percentile(f64),
}

/// Bins of each tensor's histogram (for [`Method::Percentile`]).
const BINS: usize = 4096;

/// What was seen of one tensor.
#[derive(Clone, Debug)]
struct Observer {
    min: f32,
    max: f32,
    count: u64,
    /// Counts over `[-radius, radius)`, `BINS` bins; `radius` doubles (and
    /// pairs of bins merge) when a value falls outside.
    radius: f32,
    bins: Vec<u64>,
}

impl Observer {
    fn new() -> Self {
        Observer {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            count: 0,
            radius: 0.0,
            bins: vec![0; BINS],
        }
    }

    fn observe(&mut self, values: &[f32]) {
        let mut peak = 0.0f32;
        for &v in values.iter().filter(|v| v.is_finite()) {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            peak = peak.max(v.abs());
        }
        if peak == 0.0 && self.radius == 0.0 {
            self.radius = 1.0;
        }
        if self.radius == 0.0 {
            self.radius = peak.max(f32::MIN_POSITIVE);
        }
        while peak >= self.radius {
            self.grow();
        }
        let width = 2.0 * self.radius / BINS as f32;
        for &v in values.iter().filter(|v| v.is_finite()) {
            let b = ((v + self.radius) / width) as usize;
            self.bins[b.min(BINS - 1)] += 1;
            self.count += 1;
        }
    }

    /// Doubles the radius: old bin `j` joins new bin `BINS / 4 + j / 2`.
    fn grow(&mut self) {
        let mut bins = vec![0u64; BINS];
        for (j, &c) in self.bins.iter().enumerate() {
            bins[BINS / 4 + j / 2] += c;
        }
        self.bins = bins;
        self.radius *= 2.0;
    }

    /// The range by `method` (`None` if nothing finite was seen).
    fn range(&self, method: Method) -> Option<(f32, f32)> {
        if self.count == 0 {
            return None;
        }
        let p = match method {
            Method::MinMax => return Some((self.min, self.max)),
            Method::Percentile(p) if p >= 100.0 => return Some((self.min, self.max)),
            Method::Percentile(p) => p,
        };
        let width = 2.0 * self.radius / BINS as f32;
        let tail = ((100.0 - p) / 100.0 * self.count as f64).floor() as u64;
        // The lowest bin whose cumulative count passes the tail, by its
        // lower edge; the highest likewise, by its upper edge.
        let mut seen = 0;
        let mut lo = self.min;
        for (b, &c) in self.bins.iter().enumerate() {
            seen += c;
            if seen > tail {
                lo = -self.radius + b as f32 * width;
                break;
            }
        }
        let mut seen = 0;
        let mut hi = self.max;
        for (b, &c) in self.bins.iter().enumerate().rev() {
            seen += c;
            if seen > tail {
                hi = -self.radius + (b + 1) as f32 * width;
                break;
            }
        }
        Some((lo.max(self.min), hi.min(self.max)))
    }
}

/// Collects the ranges of named activation tensors.
///
/// ```
/// use cnn_runtime::quant::{Calibrator, Method};
/// let mut cal = Calibrator::new();
/// cal.observe("input", &[-0.42, 2.8, 0.0]);
/// cal.observe("conv1", &[0.0, 3.5]);
/// cal.observe("conv1", &[1.0, 5.1]);
/// let ranges = cal.finish(Method::MinMax).unwrap();
/// assert_eq!(ranges.get("conv1").unwrap().zero_point, -128);
/// assert_eq!(cal.range("conv1", Method::MinMax), Some((0.0, 5.1)));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Calibrator {
    tensors: Vec<(String, Observer)>,
}

impl Calibrator {
    /// A calibrator that has seen nothing.
    pub fn new() -> Self {
        Calibrator::default()
    }

    /// Records `values` (one batch of tensor `name`; NaN and infinities
    /// are skipped).
    pub fn observe(&mut self, name: &str, values: &[f32]) {
        let i = match self.tensors.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.tensors.push((name.to_string(), Observer::new()));
                self.tensors.len() - 1
            }
        };
        self.tensors[i].1.observe(values);
    }

    /// The tensors observed, in the order first seen.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|(n, _)| n.as_str())
    }

    /// The range of tensor `name` by `method`.
    pub fn range(&self, name: &str, method: Method) -> Option<(f32, f32)> {
        let (_, o) = self.tensors.iter().find(|(n, _)| n == name)?;
        o.range(method)
    }

    /// Every tensor's int8 parameters ([`QParams::from_range`] of its
    /// range by `method`). Errors on a percentile outside `(50, 100]` or a
    /// tensor that never had a finite value.
    pub fn finish(&self, method: Method) -> Result<Ranges, Error> {
        if let Method::Percentile(p) = method {
            if !(p > 50.0 && p <= 100.0) {
                return Err(Error::Config {
                    message: format!("calibration percentile {p} is outside (50, 100]"),
                });
            }
        }
        let mut out = Vec::new();
        for (name, o) in &self.tensors {
            let (lo, hi) = o.range(method).ok_or_else(|| Error::Config {
                message: format!("calibration saw no finite value of `{name}`"),
            })?;
            out.push((name.clone(), QParams::from_range(lo, hi)));
        }
        Ok(Ranges(out))
    }
}

/// The int8 parameters of named activation tensors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ranges(pub Vec<(String, QParams)>);

impl Ranges {
    /// The parameters of tensor `name`.
    pub fn get(&self, name: &str) -> Option<QParams> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, q)| *q)
    }

    /// Sets (or adds) tensor `name`'s parameters.
    pub fn set(&mut self, name: &str, q: QParams) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(e) => e.1 = q,
            None => self.0.push((name.to_string(), q)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_clip_outliers() {
        let mut cal = Calibrator::new();
        let mut v: Vec<f32> = (0..10_000).map(|i| i as f32 / 10_000.0).collect();
        v.push(100.0);
        v.push(-50.0);
        cal.observe("t", &v[..5000]);
        cal.observe("t", &v[5000..]);
        assert_eq!(cal.range("t", Method::MinMax), Some((-50.0, 100.0)));
        let (lo, hi) = cal.range("t", Method::Percentile(99.9)).unwrap();
        assert!((-0.1..=0.05).contains(&lo), "{lo}");
        assert!((0.95..=1.1).contains(&hi), "{hi}");
        assert!(cal.finish(Method::Percentile(30.0)).is_err());
        cal.observe("empty", &[f32::NAN]);
        assert!(cal.finish(Method::MinMax).is_err());
    }
}
