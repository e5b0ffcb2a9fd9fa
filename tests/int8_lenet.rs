//! The int8 LeNet-5 end to end: accuracy of the quantized network, the
//! quantized weights file (round trip and bad files), and the comparison
//! with ONNX Runtime's own quantized model (`tests/data/int8`, made by
//! `benches/lenet_int8_ort.py`).

#[path = "../examples/nets/classic.rs"]
mod classic;
#[path = "../examples/nets/lenet_int8.rs"]
mod lenet_int8;

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use cnn::quant::file::FileDtype;
use cnn::quant::{multiply_by_quantized_multiplier, quantize_multiplier, QParams};
use cnn::quant::{Method, QNetwork, QTensor, QuantizedModel};
use cnn::simd::int8::{self as simd8, QLevel};
use lenet_int8::{correct, F32Lenet, Int8Lenet, CALIBRATION_DIGITS, PLAN};

static LEVEL: Mutex<()> = Mutex::new(());

struct Fixture {
    x: Vec<f32>,
    labels: Vec<usize>,
    f32_logits: Vec<f32>,
    model: QuantizedModel,
}

/// The held-out digits, the f32 network's logits and our quantized model
/// (min/max calibration on the first 512 training digits), made once.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let net = F32Lenet::load();
        let (x, labels) = lenet_int8::test_digits();
        let f32_logits = net.forward(&x, labels.len()).pop().unwrap().1;
        let cal = lenet_int8::calibration_digits(CALIBRATION_DIGITS);
        let model = net.quantize(&cal, CALIBRATION_DIGITS, Method::MinMax);
        Fixture {
            x,
            labels,
            f32_logits,
            model,
        }
    })
}

fn int8_logits(net: &Int8Lenet, x: &[f32], n: usize) -> Vec<i8> {
    let mut arena = net.arena(n);
    cnn::ops::int8::quantize(net.net.input, &x[..n * 784], &mut arena[..n * 784]);
    net.forward_int8(&mut arena, n);
    net.logits_int8(&arena, n).to_vec()
}

#[test]
fn quantized_lenet_is_within_half_a_point_of_f32() {
    let f = fixture();
    let n = f.labels.len();
    let f32_correct = correct(&f.f32_logits, &f.labels);
    let net = Int8Lenet::new(&f.model);
    let mut logits = vec![0.0; n * 10];
    let mut arena = net.arena(n);
    net.infer(&f.x, &mut arena, &mut logits, n);
    let int8_correct = correct(&logits, &f.labels);
    println!("f32 {f32_correct}/{n}, int8 {int8_correct}/{n}");
    assert_eq!(f32_correct, 1964, "the f32 network scores 98.20%");
    // 0.5 points of 2,000 digits are 10 digits.
    assert!(
        int8_correct + 10 >= f32_correct,
        "int8 {int8_correct} vs f32 {f32_correct}"
    );
    // Percentile calibration is within the limit too.
    let cal = lenet_int8::calibration_digits(CALIBRATION_DIGITS);
    let p = F32Lenet::load().quantize(&cal, CALIBRATION_DIGITS, Method::Percentile(99.999));
    let net = Int8Lenet::new(&p);
    net.infer(&f.x, &mut arena, &mut logits, n);
    let pct_correct = correct(&logits, &f.labels);
    println!("int8 with 99.999th-percentile ranges: {pct_correct}/{n}");
    assert!(pct_correct + 10 >= f32_correct);
}

#[test]
fn every_level_gives_the_same_logits_alone_and_in_batches() {
    let f = fixture();
    let net = Int8Lenet::new(&f.model);
    let n = 64;
    let _g = LEVEL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(simd8::force(QLevel::Scalar));
    let want = int8_logits(&net, &f.x, n);
    for level in simd8::available_levels() {
        assert!(simd8::force(level));
        assert_eq!(int8_logits(&net, &f.x, n), want, "{level:?} batch");
        for i in [0, 1, 17, 63] {
            let one = int8_logits(&net, &f.x[i * 784..], 1);
            assert_eq!(one[..], want[i * 10..(i + 1) * 10], "{level:?} sample {i}");
        }
    }
    simd8::unforce();
}

#[test]
fn the_quantized_file_round_trips() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lenet5_int8.safetensors");
    f.model.save(&path).unwrap();
    let back = QuantizedModel::load(&path).unwrap();
    let sorted = |m: &QuantizedModel| {
        let mut t = m.tensors.clone();
        t.sort_by(|a, b| a.name.cmp(&b.name));
        t
    };
    assert_eq!(sorted(&back), sorted(&f.model));
    let a = QNetwork::build(&PLAN, &f.model, &path).unwrap();
    let b = QNetwork::build(&PLAN, &back, &path).unwrap();
    assert_eq!(a, b);
    // The names and types the format promises.
    let t = back.get("conv1.weight").unwrap();
    assert_eq!((t.dtype, &t.shape[..]), (FileDtype::I8, &[6, 1, 5, 5][..]));
    assert_eq!(back.get("fc3.bias").unwrap().dtype, FileDtype::I32);
    assert_eq!(back.get("quant.scale").unwrap().shape, Vec::<usize>::new());
    assert!(back
        .metadata
        .contains(&("format".into(), "cnn-int8".into())));
}

/// `f.model` with one change, written and read back: the error `build`
/// (or `load`) reports.
fn broken(change: impl FnOnce(&mut QuantizedModel)) -> String {
    let mut m = fixture().model.clone();
    change(&mut m);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.safetensors");
    m.save(&path).unwrap();
    match QuantizedModel::load(&path) {
        Err(e) => e.to_string(),
        Ok(m) => QNetwork::build(&PLAN, &m, &path).unwrap_err().to_string(),
    }
}

#[test]
fn bad_files_give_clear_errors() {
    let e = broken(|m| {
        let t = m
            .tensors
            .iter_mut()
            .find(|t| t.name == "conv2.weight")
            .unwrap();
        *t = QTensor::f32("conv2.weight", &[16, 6, 5, 5], &vec![0.0; 2400]);
    });
    assert!(
        e.contains("broken.safetensors")
            && e.contains("tensor `conv2.weight` is F32 [16, 6, 5, 5], expected I8 [16, 6, 5, 5]"),
        "{e}"
    );
    let e = broken(|m| m.tensors.retain(|t| t.name != "fc2.scale"));
    assert!(e.contains("tensor `fc2.scale` is missing"), "{e}");
    let e = broken(|m| m.tensors.retain(|t| t.name != "quant.zero_point"));
    assert!(e.contains("tensor `quant.zero_point` is missing"), "{e}");
    let e = broken(|m| {
        let t = m
            .tensors
            .iter_mut()
            .find(|t| t.name == "fc1.weight")
            .unwrap();
        *t = QTensor::i8("fc1.weight", &[120, 401], &vec![0; 120 * 401]);
    });
    assert!(
        e.contains("tensor `fc1.weight` is I8 [120, 401], expected I8 [120, 400]"),
        "{e}"
    );
    let e = broken(|m| {
        let t = m
            .tensors
            .iter_mut()
            .find(|t| t.name == "conv1.weight_scale")
            .unwrap();
        *t = QTensor::f32("conv1.weight_scale", &[6], &[0.1, 0.1, -1.0, 0.1, 0.1, 0.1]);
    });
    assert!(
        e.contains("tensor `conv1.weight_scale` is -1 (scales are positive and finite)"),
        "{e}"
    );
    let e = broken(|m| {
        let t = m.tensors.iter_mut().find(|t| t.name == "fc3.bias").unwrap();
        *t = QTensor::f32("fc3.bias", &[10], &[0.0; 10]);
    });
    assert!(
        e.contains("`fc3.bias` is F32 [10], expected I32 [10]"),
        "{e}"
    );
    let e = broken(|m| {
        let t = m
            .tensors
            .iter_mut()
            .find(|t| t.name == "conv1.weight")
            .unwrap();
        t.data[7] = 0x80;
    });
    assert!(
        e.contains("layer `conv1`: output channel 0 has a weight of -128"),
        "{e}"
    );
    // Not a quantized model at all: the f32 weights file.
    let f32_file = lenet_int8::root().join("examples/firmware/lenet5.safetensors");
    let e = QuantizedModel::load(&f32_file).unwrap_err().to_string();
    assert!(e.contains("not a quantized model"), "{e}");
}

// ---- ONNX Runtime ---------------------------------------------------------------

/// How the forward pass below rounds: TFLite's rules (ours) or ONNX
/// Runtime's (MLAS) rules, one at a time.
#[derive(Clone, Copy, Debug)]
struct Rules {
    /// Requantize with an f32 multiplier `(s_in * s_w) / s_out` (in f32),
    /// `f32(acc) * m` rounded half to even (MLAS), instead of the
    /// fixed-point multiplier with TFLite's double rounding.
    float_requant: bool,
    /// Quantize the input with ties to even (ONNX `QuantizeLinear`)
    /// instead of away from zero (TFLite).
    ties_to_even_input: bool,
}

fn round_half_even(v: f32) -> i32 {
    let r = v.round();
    if (v - v.trunc()).abs() == 0.5 && r as i32 % 2 != 0 {
        (r - v.signum()) as i32
    } else {
        r as i32
    }
}

/// A plain forward pass of the int8 LeNet-5 from a model's tensors in
/// PyTorch layout (no blob, no kernels), with the rounding `rules`.
fn textbook_lenet(m: &QuantizedModel, x: &[f32], rules: Rules) -> [i8; 10] {
    let q = |name: &str| {
        let s = m.get(&format!("{name}.scale")).unwrap().as_f32()[0];
        let z = m.get(&format!("{name}.zero_point")).unwrap().as_i8()[0];
        QParams::new(s, z)
    };
    let input = q("quant");
    let mut h: Vec<i8> = x[..784]
        .iter()
        .map(|&v| {
            if rules.ties_to_even_input {
                (round_half_even(v / input.scale) + input.zero_point as i32).clamp(-128, 127) as i8
            } else {
                input.quantize(v)
            }
        })
        .collect();
    let mut qin = input;
    let requant = |acc: i32, s_in: f32, s_w: f32, out: QParams, relu: bool| -> i8 {
        let zp = out.zero_point as i32;
        let lo = if relu { zp } else { -128 };
        let v = if rules.float_requant {
            let m = s_in * s_w / out.scale;
            let f = (acc as f32 * m).clamp((-128 - zp) as f32, (127 - zp) as f32);
            round_half_even(f) + zp
        } else {
            let (qm, shift) =
                quantize_multiplier(s_in as f64 * s_w as f64 / out.scale as f64).unwrap();
            zp + multiply_by_quantized_multiplier(acc, qm, shift)
        };
        v.clamp(lo, 127) as i8
    };
    // Convolutions (stride 1) with ReLU and a 2x2 max-pool.
    for (name, c, hw, k, pad) in [("conv1", 1, 28, 6, 2), ("conv2", 6, 14, 16, 0)] {
        let w = m.get(&format!("{name}.weight")).unwrap().as_i8();
        let b = m.get(&format!("{name}.bias")).unwrap().as_i32();
        let sw = m.get(&format!("{name}.weight_scale")).unwrap().as_f32();
        let out = q(name);
        let o = hw + 2 * pad - 4;
        let mut z = vec![0i8; k * o * o];
        for ch in 0..k {
            for oy in 0..o {
                for ox in 0..o {
                    let mut acc = b[ch];
                    for ci in 0..c {
                        for ky in 0..5 {
                            for kx in 0..5 {
                                let (iy, ix) = (
                                    (oy + ky) as isize - pad as isize,
                                    (ox + kx) as isize - pad as isize,
                                );
                                if iy < 0 || ix < 0 || iy >= hw as isize || ix >= hw as isize {
                                    continue;
                                }
                                let xv = h[(ci * hw + iy as usize) * hw + ix as usize] as i32;
                                acc += (xv - qin.zero_point as i32)
                                    * w[((ch * c + ci) * 5 + ky) * 5 + kx] as i32;
                            }
                        }
                    }
                    z[(ch * o + oy) * o + ox] = requant(acc, qin.scale, sw[ch], out, true);
                }
            }
        }
        let p = o / 2;
        h = (0..k * p * p)
            .map(|i| {
                let (ch, py, px) = (i / (p * p), i / p % p, i % p);
                let at = |dy, dx| z[(ch * o + 2 * py + dy) * o + 2 * px + dx];
                at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1))
            })
            .collect();
        qin = out;
    }
    for (name, relu) in [("fc1", true), ("fc2", true), ("fc3", false)] {
        let w = m.get(&format!("{name}.weight")).unwrap().as_i8();
        let b = m.get(&format!("{name}.bias")).unwrap().as_i32();
        let sw = m.get(&format!("{name}.weight_scale")).unwrap().as_f32();
        let out = q(name);
        let inputs = h.len();
        h = (0..b.len())
            .map(|o| {
                let acc = b[o]
                    + (0..inputs)
                        .map(|i| (h[i] as i32 - qin.zero_point as i32) * w[o * inputs + i] as i32)
                        .sum::<i32>();
                requant(acc, qin.scale, sw[o], out, relu)
            })
            .collect();
        qin = out;
    }
    h.try_into().unwrap()
}

struct Ort {
    model: QuantizedModel,
    logits: Vec<i8>,
}

fn ort() -> Ort {
    let dir = lenet_int8::root().join("tests/data/int8");
    let model = QuantizedModel::load(dir.join("ort_lenet5_int8.safetensors")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ort_logits.json")).unwrap())
            .unwrap();
    let logits = json["int8_logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap() as i8)
        })
        .collect();
    Ort { model, logits }
}

/// Digits whose 10 int8 logits are all equal, and the largest difference.
fn agreement(a: &[i8], b: &[i8]) -> (usize, i32) {
    let same = a
        .chunks(10)
        .zip(b.chunks(10))
        .filter(|(x, y)| x == y)
        .count();
    let most = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as i32 - y as i32).abs())
        .max()
        .unwrap();
    (same, most)
}

#[test]
fn onnx_runtime_differs_from_us_only_by_its_rounding_rules() {
    let f = fixture();
    let o = ort();
    let n = f.labels.len();
    let digits: Vec<usize> = (0..n).collect();
    let run = |m: &QuantizedModel, rules| -> Vec<i8> {
        digits
            .iter()
            .flat_map(|&i| textbook_lenet(m, &f.x[i * 784..], rules))
            .collect()
    };
    let tflite = Rules {
        float_requant: false,
        ties_to_even_input: false,
    };
    let mlas = Rules {
        float_requant: true,
        ties_to_even_input: true,
    };

    // 1. Our scalar kernels on ORT's own quantized parameters are the
    //    textbook TFLite forward pass on them.
    let ort_net = Int8Lenet::new(&o.model);
    let ours_on_ort = {
        let _g = LEVEL.lock().unwrap_or_else(|e| e.into_inner());
        assert!(simd8::force(QLevel::Scalar));
        let l = int8_logits(&ort_net, &f.x, n);
        simd8::unforce();
        l
    };
    assert_eq!(
        ours_on_ort,
        run(&o.model, tflite),
        "kernels = textbook TFLite"
    );

    // 2. With ORT's rounding rules, the textbook pass reproduces ORT's
    //    logits exactly.
    assert_eq!(
        run(&o.model, mlas),
        o.logits,
        "MLAS's rules reproduce ONNX Runtime"
    );

    // 3. Each rule alone.
    let (same, most) = agreement(&ours_on_ort, &o.logits);
    let (same_req, _) = agreement(
        &run(
            &o.model,
            Rules {
                float_requant: true,
                ..tflite
            },
        ),
        &o.logits,
    );
    let (same_in, _) = agreement(
        &run(
            &o.model,
            Rules {
                ties_to_even_input: true,
                ..tflite
            },
        ),
        &o.logits,
    );
    println!(
        "ORT's parameters: {same}/{n} digits identical to ONNX Runtime (max {most} steps); \
         with MLAS's float requantization alone {same_req}/{n}, with ties-to-even input alone {same_in}/{n}"
    );

    // 4. Our own quantization against ORT's.
    let mut differing = Vec::new();
    for t in &o.model.tensors {
        let ours = f.model.get(&t.name).unwrap_or_else(|| panic!("{}", t.name));
        assert_eq!((ours.dtype, &ours.shape), (t.dtype, &t.shape), "{}", t.name);
        let count = match t.dtype {
            FileDtype::I8 => ours
                .as_i8()
                .iter()
                .zip(t.as_i8())
                .filter(|(a, b)| **a != *b)
                .count(),
            FileDtype::I32 => ours
                .as_i32()
                .iter()
                .zip(t.as_i32())
                .filter(|(a, b)| **a != *b)
                .count(),
            _ => ours
                .as_f32()
                .iter()
                .zip(t.as_f32())
                .filter(|(a, b)| **a != *b)
                .count(),
        };
        if count > 0 {
            differing.push(format!("{} ({count})", t.name));
        }
    }
    println!("tensors where our quantization differs from ORT's: {differing:?}");
    let ours = int8_logits(&Int8Lenet::new(&f.model), &f.x, n);
    let (same_own, most_own) = agreement(&ours, &o.logits);
    let classes = |l: &[i8]| {
        l.chunks(10)
            .map(|r| (0..10).fold(0, |b, j| if r[j] > r[b] { j } else { b }))
            .collect::<Vec<_>>()
    };
    let same_class = classes(&ours)
        .iter()
        .zip(classes(&o.logits))
        .filter(|(a, b)| **a == *b)
        .count();
    println!("our quantization and kernels: {same_own}/{n} digits identical to ONNX Runtime (max {most_own} steps), same class on {same_class}/{n}");
    assert!(most <= 2 && most_own <= 3, "{most} {most_own}");
    assert!(same_class + 5 >= n, "{same_class}");
    let _ = Path::new("");
}
