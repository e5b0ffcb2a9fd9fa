//! Winograd convolutions at inference read their weights transformed once
//! (`G g Gᵀ`, 36 values per 3x3 filter), kept after the folded batch
//! normalisations in the inference parameters: computed on first use
//! after the parameters change, or at compile time for compiled-in
//! weights, never by an inference call.

cnn::network! {
    /// A Winograd layer (12 → 16, 3x3, pad 1, 28x28: 49 tiles of 4x4)
    /// with a batch normalisation folded into it.
    struct Win {
        input: [12, 28, 28],
        conv1: conv(16, kernel = 3, pad = 1, bias = false), bn1: batch_norm, relu,
        max_pool(4),
        flatten,
        fc: dense(4),
    }

    /// The same, its parameters compiled in (`make_the_weights_file`).
    #[cnn(weights = "tests/data/winograd_net.safetensors")]
    struct WinEmbedded {
        input: [12, 28, 28],
        conv1: conv(16, kernel = 3, pad = 1, bias = false), bn1: batch_norm, relu,
        max_pool(4),
        flatten,
        fc: dense(4),
    }
}

const FILE: &str = "tests/data/winograd_net.safetensors";
const FOLDED: usize = 16 * 12 * 9 + 16;
const PREPARED: usize = 36 * 16 * 12;

fn range(name: &str) -> std::ops::Range<usize> {
    Win::PARAMS
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
        .range()
}

/// A network with non-trivial running statistics and batch-norm
/// parameters.
fn network(seed: u64) -> Win {
    let mut net = Win::new(cnn::Init::He, seed);
    let w = net.weights_mut();
    for (i, name) in [
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
    ]
    .into_iter()
    .enumerate()
    {
        for (j, v) in w[range(name)].iter_mut().enumerate() {
            *v = 0.5 + 0.1 * ((i * 16 + j) % 7) as f32 - if i == 1 { 0.4 } else { 0.0 };
        }
    }
    net
}

fn input(n: usize) -> Vec<f32> {
    (0..n * Win::INPUT_LEN)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect()
}

const G: [[f64; 3]; 6] = [
    [0.25, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// The network by plain loops in `f64`: the convolution, batch norm with
/// the running statistics, ReLU, 4x4 max-pool, dense.
fn reference(w: &[f32], x: &[f32]) -> Vec<f64> {
    let t = |name: &str| -> Vec<f64> { w[range(name)].iter().map(|&v| f64::from(v)).collect() };
    let (cw, gamma, beta, mean, var) = (
        t("conv1.weight"),
        t("bn1.weight"),
        t("bn1.bias"),
        t("bn1.running_mean"),
        t("bn1.running_var"),
    );
    let (fw, fb) = (t("fc.weight"), t("fc.bias"));
    let mut out = Vec::new();
    for xs in x.chunks_exact(Win::INPUT_LEN) {
        let mut pooled = vec![f64::MIN; 16 * 7 * 7];
        for k in 0..16 {
            for oy in 0..28 {
                for ox in 0..28 {
                    let mut acc = 0.0;
                    for c in 0..12 {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (iy, ix) = (oy + ky, ox + kx);
                                if iy < 1 || ix < 1 || iy > 28 || ix > 28 {
                                    continue;
                                }
                                let xv = f64::from(xs[(c * 28 + iy - 1) * 28 + ix - 1]);
                                acc += cw[((k * 12 + c) * 3 + ky) * 3 + kx] * xv;
                            }
                        }
                    }
                    let y = (acc - mean[k]) / (var[k] + 1e-5).sqrt() * gamma[k] + beta[k];
                    let p = &mut pooled[(k * 7 + oy / 4) * 7 + ox / 4];
                    *p = p.max(y.max(0.0));
                }
            }
        }
        for o in 0..4 {
            let dot: f64 = (0..pooled.len())
                .map(|i| fw[o * pooled.len() + i] * pooled[i])
                .sum();
            out.push(dot + fb[o]);
        }
    }
    out
}

fn assert_close(got: &[f32], want: &[f64]) {
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(g) - w).abs() <= 1e-5 * scale,
            "logit {i}: {g} against {w} (largest {scale})"
        );
    }
}

#[test]
fn the_inference_parameters_hold_the_transformed_folded_weights() {
    let kernels: Vec<&str> = Win::PLAN.iter().map(|s| s.kernel).collect();
    assert!(
        kernels[0].starts_with("conv+batch-norm→ReLU (Winograd"),
        "{kernels:?}"
    );
    assert_eq!(Win::INFER_PARAM_COUNT, Win::PARAM_COUNT + FOLDED + PREPARED);
    let net = network(3);
    let iw = net.inference_weights();
    let folded = &iw[Win::PARAM_COUNT..][..16 * 12 * 9];
    let u = &iw[Win::PARAM_COUNT + FOLDED..];
    assert_eq!(u.len(), PREPARED);
    for f in 0..16 * 12 {
        let g = &folded[f * 9..][..9];
        for i in 0..6 {
            for j in 0..6 {
                let mut want = 0.0;
                for a in 0..3 {
                    for b in 0..3 {
                        want += G[i][a] * f64::from(g[3 * a + b]) * G[j][b];
                    }
                }
                let got = u[(i * 6 + j) * 16 * 12 + f];
                assert!(
                    (f64::from(got) - want).abs() <= 1e-6 * want.abs().max(1e-3),
                    "filter {f}, position ({i}, {j}): {got} against {want}"
                );
            }
        }
    }
}

#[test]
fn prepared_weights_give_the_convolution_and_follow_changed_parameters() {
    cnn::set_threads(1).unwrap();
    let mut net = network(3);
    let x = input(2);
    let before = net.predict_batch(&x).unwrap();
    assert_close(&before, &reference(net.weights(), &x));
    // New convolution weights: inference transforms them again.
    for v in &mut net.weights_mut()[range("conv1.weight")] {
        *v *= -0.5;
    }
    let after = net.predict_batch(&x).unwrap();
    assert_close(&after, &reference(net.weights(), &x));
    assert_ne!(before, after);
    // So does loading.
    let other = network(4);
    let path = std::env::temp_dir().join(format!("winograd_prepared_{}.st", std::process::id()));
    other.save_safetensors(&path).unwrap();
    net.load_safetensors(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(net.inference_weights(), other.inference_weights());
    assert_close(
        &net.predict_batch(&x).unwrap(),
        &reference(other.weights(), &x),
    );
}

#[test]
fn compiled_in_weights_are_prepared_at_compile_time_with_the_same_bits() {
    let embedded = WinEmbedded::embedded();
    let loaded = Win::from_safetensors(FILE).unwrap();
    assert_eq!(embedded.weights(), loaded.weights());
    let bits = |w: &[f32]| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(embedded.inference_weights()),
        bits(loaded.inference_weights())
    );
    let x = input(1);
    let arr: &[f32; Win::INPUT_LEN] = x.as_slice().try_into().unwrap();
    assert_eq!(bits(&embedded.predict(arr)), bits(&loaded.predict(arr)));
    assert_close(&embedded.predict(arr), &reference(loaded.weights(), &x));
}

/// Writes `FILE`: `network(7)`'s parameters.
#[test]
#[ignore = "writes tests/data/winograd_net.safetensors"]
fn make_the_weights_file() {
    network(7).save_safetensors(FILE).unwrap();
}
