//! Local response normalisation (`cnn::ops::lrn`) against PyTorch's
//! `LocalResponseNorm` reference vectors, a float64 implementation of the
//! formulas checked by central differences, NaN propagation and batches.

mod common;

use cnn::ops::lrn::{self, Lrn};
use common::{assert_close, random_vec, Case};

/// The layer a reference case describes (`x` is `[n, c, h, w]`), and `n`.
fn case_layer(case: &Case) -> (Lrn, usize) {
    let xs = case.shape("x");
    let attr = |key: &str| {
        case.attrs[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{}: attr {key}", case.name))
    };
    let l = Lrn::new(
        xs[1],
        xs[2],
        xs[3],
        attr("size") as usize,
        attr("alpha") as f32,
        attr("beta") as f32,
        attr("k") as f32,
    );
    (l, xs[0])
}

/// The largest absolute error, and the largest relative one where `|want| > 1e-3`.
fn errors(got: &[f32], want: &[f32]) -> (f32, f32) {
    got.iter()
        .zip(want)
        .fold((0.0f32, 0.0f32), |(a, r), (&g, &w)| {
            let e = (g - w).abs();
            let rel = if w.abs() > 1e-3 { e / w.abs() } else { 0.0 };
            (a.max(e), r.max(rel))
        })
}

fn reference_case(name: &str) {
    let case = Case::load(name);
    let (l, n) = case_layer(&case);
    let x = case.get("x");
    // Inference (no scale kept) and training give the same output.
    let mut y_eval = vec![f32::NAN; n * l.len()];
    lrn::forward(&l, x, &mut y_eval, None, n);
    case.check_in("y", "inference", &y_eval);
    let mut y = vec![f32::NAN; n * l.len()];
    let mut scale = vec![f32::NAN; n * l.len()];
    lrn::forward(&l, x, &mut y, Some(&mut scale), n);
    assert_eq!(y, y_eval, "{name}: y with and without scale");
    case.check("y", &y);
    let mut dx = vec![f32::NAN; n * l.len()];
    lrn::backward(&l, x, &scale, case.get("dy"), &mut dx, n);
    case.check("dx", &dx);
    let (ya, yr) = errors(&y, case.get("y"));
    let (da, dr) = errors(&dx, case.get("dx"));
    eprintln!("{name}: y max abs {ya:.2e} rel {yr:.2e}; dx max abs {da:.2e} rel {dr:.2e}");
}

#[test]
fn lrn_size5_alexnet() {
    reference_case("lrn_size5_alexnet");
}

#[test]
fn lrn_size4_even() {
    reference_case("lrn_size4_even");
}

#[test]
fn lrn_size3_default() {
    reference_case("lrn_size3_default");
}

/// The reference cases normalise for real: `s^-beta` is far from `k^-beta`
/// somewhere, so a kernel that ignored the sum would fail them.
#[test]
fn reference_cases_exercise_the_window_sum() {
    for name in ["lrn_size5_alexnet", "lrn_size4_even", "lrn_size3_default"] {
        let case = Case::load(name);
        let (l, _) = case_layer(&case);
        let plain = l.k.powf(-l.beta);
        let strongest = case
            .get("x")
            .iter()
            .zip(case.get("y"))
            .filter(|(x, _)| x.abs() > 1.0)
            .map(|(x, y)| y / x / plain)
            .fold(1.0f32, f32::min);
        assert!(strongest < 0.9, "{name}: s^-beta / k^-beta >= {strongest}");
    }
}

/// Forward in float64, straight from the formula: `(y, s)` for `n` samples.
fn ref_forward(l: &Lrn, x: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let hw = l.h * l.w;
    let a = f64::from(l.alpha) / l.size as f64;
    let (before, after) = (l.size / 2, (l.size - 1) / 2);
    let mut y = vec![0.0; x.len()];
    let mut s = vec![0.0; x.len()];
    for i in 0..n {
        for c in 0..l.c {
            for q in 0..hw {
                let at = |c: usize| (i * l.c + c) * hw + q;
                let lo = c.saturating_sub(before);
                let hi = (c + after).min(l.c - 1);
                let sum: f64 = (lo..=hi).map(|j| x[at(j)] * x[at(j)]).sum();
                s[at(c)] = f64::from(l.k) + a * sum;
                y[at(c)] = x[at(c)] * s[at(c)].powf(-f64::from(l.beta));
            }
        }
    }
    (y, s)
}

/// Backward in float64, straight from the formula in the module docs.
fn ref_backward(l: &Lrn, x: &[f64], dy: &[f64], n: usize) -> Vec<f64> {
    let hw = l.h * l.w;
    let (_, s) = ref_forward(l, x, n);
    let beta = f64::from(l.beta);
    let coef = 2.0 * f64::from(l.alpha) * beta / l.size as f64;
    let (before, after) = (l.size / 2, (l.size - 1) / 2);
    let mut dx = vec![0.0; x.len()];
    for i in 0..n {
        for c in 0..l.c {
            for q in 0..hw {
                let at = |c: usize| (i * l.c + c) * hw + q;
                // j such that c lies in W(j) = [j - before, j + after].
                let lo = c.saturating_sub(after);
                let hi = (c + before).min(l.c - 1);
                let sum: f64 = (lo..=hi)
                    .map(|j| dy[at(j)] * x[at(j)] * s[at(j)].powf(-beta - 1.0))
                    .sum();
                dx[at(c)] = dy[at(c)] * s[at(c)].powf(-beta) - coef * x[at(c)] * sum;
            }
        }
    }
    dx
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&v| f64::from(v)).collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&v| v as f32).collect()
}

/// Layers covering odd and even windows, a window wider than the channels,
/// `size = 1`, every special-cased `beta` and a general one, more pixels
/// than one chunk, and values large enough to normalise.
fn layers() -> Vec<(Lrn, usize, f32)> {
    vec![
        (Lrn::new(7, 3, 5, 5, 1e-4, 0.75, 2.0), 2, 100.0),
        (Lrn::new(6, 4, 3, 4, 0.01, 0.5, 1.0), 2, 10.0),
        (Lrn::new(5, 2, 3, 3, 0.3, 1.0, 0.5), 1, 3.0),
        (Lrn::new(4, 3, 3, 2, 0.5, 0.6, 1.5), 2, 2.0),
        (Lrn::new(3, 2, 2, 7, 0.2, 0.75, 1.0), 2, 3.0),
        (Lrn::new(4, 2, 2, 1, 0.4, 1.3, 1.0), 1, 2.0),
        (Lrn::new(9, 17, 19, 5, 0.05, 0.75, 1.0), 1, 3.0),
    ]
}

/// The float64 reference's backward pass is the derivative of its forward
/// pass (central differences of `sum(y * dy)`), and the f32 kernel matches
/// both passes of the reference.
#[test]
fn kernel_matches_float64_reference_checked_by_central_differences() {
    for (seed, (l, n, mag)) in layers().into_iter().enumerate() {
        let seed = seed as u64;
        let len = n * l.len();
        let x: Vec<f32> = random_vec(len, 10 + seed).iter().map(|v| v * mag).collect();
        let dy = random_vec(len, 20 + seed);
        let (x64, dy64) = (to_f64(&x), to_f64(&dy));
        let loss = |x: &[f64]| -> f64 {
            let (y, _) = ref_forward(&l, x, n);
            y.iter().zip(&dy64).map(|(y, d)| y * d).sum()
        };
        let dx_ref = ref_backward(&l, &x64, &dy64, n);
        let mut xp = x64.clone();
        for i in (0..len).step_by(1 + len / 60) {
            let h = 1e-5 * x64[i].abs().max(1.0);
            xp[i] = x64[i] + h;
            let up = loss(&xp);
            xp[i] = x64[i] - h;
            let down = loss(&xp);
            xp[i] = x64[i];
            let numeric = (up - down) / (2.0 * h);
            assert!(
                (numeric - dx_ref[i]).abs() <= 1e-6 * (1.0 + numeric.abs()),
                "{l:?}: reference dx[{i}] = {}, central differences {numeric}",
                dx_ref[i]
            );
        }
        let what = format!("{l:?} n={n}");
        let (y_ref, _) = ref_forward(&l, &x64, n);
        let mut y = vec![f32::NAN; len];
        let mut scale = vec![f32::NAN; len];
        lrn::forward(&l, &x, &mut y, Some(&mut scale), n);
        assert_close(&format!("{what}: y"), &y, &to_f32(&y_ref), 1e-5, 1e-5);
        let mut dx = vec![f32::NAN; len];
        lrn::backward(&l, &x, &scale, &dy, &mut dx, n);
        assert_close(&format!("{what}: dx"), &dx, &to_f32(&dx_ref), 1e-5, 1e-4);
    }
}

/// Central differences through the f32 kernel itself agree with its
/// backward pass (loose: f32 rounding over a step of 1e-2).
#[test]
fn backward_is_the_derivative_of_the_f32_forward() {
    let l = Lrn::new(6, 3, 4, 5, 0.5, 0.75, 1.0);
    let n = 2;
    let len = n * l.len();
    let x: Vec<f32> = random_vec(len, 3).iter().map(|v| 2.0 * v).collect();
    let dy = random_vec(len, 4);
    let loss = |x: &[f32]| -> f64 {
        let mut y = vec![0.0; len];
        lrn::forward(&l, x, &mut y, None, n);
        y.iter()
            .zip(&dy)
            .map(|(&y, &d)| f64::from(y) * f64::from(d))
            .sum()
    };
    let mut y = vec![0.0; len];
    let mut scale = vec![0.0; len];
    lrn::forward(&l, &x, &mut y, Some(&mut scale), n);
    let mut dx = vec![0.0; len];
    lrn::backward(&l, &x, &scale, &dy, &mut dx, n);
    let h = 1e-2f32;
    let mut xp = x.clone();
    let numeric: Vec<f32> = (0..len)
        .map(|i| {
            xp[i] = x[i] + h;
            let up = loss(&xp);
            xp[i] = x[i] - h;
            let down = loss(&xp);
            xp[i] = x[i];
            ((up - down) / f64::from(2.0 * (x[i] + h - x[i]))) as f32
        })
        .collect();
    assert_close("f32 central differences", &dx, &numeric, 2e-3, 2e-3);
}

/// A NaN makes exactly the outputs whose window holds it NaN (in PyTorch
/// too), and leaves every other pixel, sample and channel as it was.
#[test]
fn nan_in_gives_nan_out_only_where_its_window_reaches() {
    let l = Lrn::new(8, 4, 5, 3, 0.2, 0.75, 1.0);
    let n = 2;
    let len = n * l.len();
    let hw = l.h * l.w;
    let x = random_vec(len, 5);
    let dy = random_vec(len, 6);
    let (c0, q0) = (4, 7);
    let at = l.len() + c0 * hw + q0; // sample 1
    let mut bad = x.clone();
    bad[at] = f32::NAN;
    let run = |x: &[f32]| {
        let mut y = vec![0.0; len];
        let mut scale = vec![0.0; len];
        lrn::forward(&l, x, &mut y, Some(&mut scale), n);
        let mut dx = vec![0.0; len];
        lrn::backward(&l, x, &scale, &dy, &mut dx, n);
        (y, dx)
    };
    let (y, dx) = run(&x);
    let (y_bad, dx_bad) = run(&bad);
    for i in 0..len {
        let (sample, c, q) = (i / l.len(), (i % l.len()) / hw, i % hw);
        // c0 in W(c) = [c - 1, c + 1].
        let reached = sample == 1 && q == q0 && c0.abs_diff(c) <= 1;
        if reached {
            assert!(y_bad[i].is_nan(), "y[{i}] = {} is not NaN", y_bad[i]);
            assert!(dx_bad[i].is_nan(), "dx[{i}] = {} is not NaN", dx_bad[i]);
        } else if sample != 1 || q != q0 {
            assert_eq!(y_bad[i], y[i], "y[{i}]");
            assert_eq!(dx_bad[i], dx[i], "dx[{i}]");
        } else {
            // The same pixel outside the NaN's reach: finite, as before.
            assert!(y_bad[i].is_finite(), "y[{i}] = {}", y_bad[i]);
            let want = y[i];
            assert!(
                (y_bad[i] - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "y[{i}]"
            );
            // dx_c sums over j = c - 1 ..= c + 1, whose windows reach c +- 2.
            if c0.abs_diff(c) > 2 {
                let want = dx[i];
                assert!(
                    (dx_bad[i] - want).abs() <= 1e-6 * (1.0 + want.abs()),
                    "dx[{i}]"
                );
            }
        }
    }
}

/// An infinite input: its own output is NaN (inf / inf), its neighbours' 0.
#[test]
fn infinity_saturates_its_neighbours() {
    let l = Lrn::new(5, 1, 3, 3, 1e-4, 0.75, 2.0);
    let mut x = random_vec(l.len(), 7);
    x[2 * 3 + 1] = f32::INFINITY;
    let mut y = vec![0.0; l.len()];
    lrn::forward(&l, &x, &mut y, None, 1);
    assert!(y[2 * 3 + 1].is_nan());
    assert_eq!((y[3 + 1], y[3 * 3 + 1]), (0.0, 0.0));
    assert!(y[1].is_finite() && y[4 * 3 + 1].is_finite() && y[1] != 0.0);
}

/// A batch of `n` samples gives, bit for bit, what `n` one-sample calls give,
/// with more pixels than one chunk.
#[test]
fn batch_equals_per_sample_calls() {
    let l = Lrn::new(7, 17, 19, 5, 1e-3, 0.75, 2.0);
    let n = 3;
    let len = l.len();
    let x: Vec<f32> = random_vec(n * len, 8).iter().map(|v| 40.0 * v).collect();
    let dy = random_vec(n * len, 9);
    let mut y = vec![0.0; n * len];
    let mut scale = vec![0.0; n * len];
    lrn::forward(&l, &x, &mut y, Some(&mut scale), n);
    let mut dx = vec![0.0; n * len];
    lrn::backward(&l, &x, &scale, &dy, &mut dx, n);
    for i in 0..n {
        let r = i * len..(i + 1) * len;
        let mut y1 = vec![0.0; len];
        let mut s1 = vec![0.0; len];
        lrn::forward(&l, &x[r.clone()], &mut y1, Some(&mut s1), 1);
        let mut dx1 = vec![0.0; len];
        lrn::backward(&l, &x[r.clone()], &s1, &dy[r.clone()], &mut dx1, 1);
        assert_eq!(&y[r.clone()], &y1[..], "y of sample {i}");
        assert_eq!(&scale[r.clone()], &s1[..], "scale of sample {i}");
        assert_eq!(&dx[r], &dx1[..], "dx of sample {i}");
    }
}

/// A window wider than the backward pass's ring takes the direct path.
#[test]
fn very_wide_window() {
    let l = Lrn::new(2100, 1, 2, 2101, 0.5, 0.75, 1.0);
    let len = l.len();
    let x = random_vec(len, 11);
    let dy = random_vec(len, 12);
    let (y_ref, _) = ref_forward(&l, &to_f64(&x), 1);
    let dx_ref = ref_backward(&l, &to_f64(&x), &to_f64(&dy), 1);
    let mut y = vec![0.0; len];
    let mut scale = vec![0.0; len];
    lrn::forward(&l, &x, &mut y, Some(&mut scale), 1);
    let mut dx = vec![0.0; len];
    lrn::backward(&l, &x, &scale, &dy, &mut dx, 1);
    assert_close("wide window: y", &y, &to_f32(&y_ref), 1e-5, 1e-5);
    assert_close("wide window: dx", &dx, &to_f32(&dx_ref), 1e-5, 1e-4);
}

#[test]
#[should_panic(expected = "LRN output")]
fn short_output_buffer_panics_with_its_name() {
    let l = Lrn::new(3, 2, 2, 3, 1e-4, 0.75, 1.0);
    let x = vec![0.0; l.len()];
    let mut y = vec![0.0; l.len() - 1];
    lrn::forward(&l, &x, &mut y, None, 1);
}
