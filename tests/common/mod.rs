//! Shared helpers for the integration tests: the reference-vector loader
//! and tolerance checks.
#![allow(dead_code)]

pub mod grad;

use std::collections::HashMap;
use std::path::PathBuf;

/// One reference case from `tests/data/reference/*.json`.
pub struct Case {
    pub name: String,
    pub attrs: serde_json::Value,
    pub abs: f32,
    pub rel: f32,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Case {
    pub fn load(name: &str) -> Case {
        let path = data_dir().join("reference").join(format!("{name}.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let mut tensors = HashMap::new();
        for (k, v) in json["tensors"].as_object().expect("tensors") {
            let shape = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let data = v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_f64().unwrap() as f32)
                .collect();
            tensors.insert(k.clone(), (shape, data));
        }
        Case {
            name: name.into(),
            attrs: json["attrs"].clone(),
            abs: json["tolerance"]["abs"].as_f64().unwrap() as f32,
            rel: json["tolerance"]["rel"].as_f64().unwrap() as f32,
            tensors,
        }
    }

    pub fn get(&self, name: &str) -> &[f32] {
        &self
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("{}: no tensor {name}", self.name))
            .1
    }

    pub fn shape(&self, name: &str) -> &[usize] {
        &self.tensors[name].0
    }

    pub fn attr_pair(&self, key: &str) -> (usize, usize) {
        let a = self.attrs[key]
            .as_array()
            .unwrap_or_else(|| panic!("{}: attr {key}", self.name));
        (
            a[0].as_u64().unwrap() as usize,
            a[1].as_u64().unwrap() as usize,
        )
    }

    /// Checks `got` against tensor `tensor` with the case's tolerance.
    pub fn check(&self, tensor: &str, got: &[f32]) {
        self.check_in(tensor, "", got);
    }

    /// As [`Case::check`], with a context (SIMD level, algorithm) in the message.
    pub fn check_in(&self, tensor: &str, context: &str, got: &[f32]) {
        let what = format!("{}: {tensor} {context}", self.name);
        assert_close(&what, got, self.get(tensor), self.abs, self.rel);
    }
}

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

/// `|got - want| <= abs + rel * |want|` element-wise, with the worst offender in the message.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], abs: f32, rel: f32) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs {}",
        got.len(),
        want.len()
    );
    let mut worst = (0usize, 0.0f32);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        let excess = err - (abs + rel * w.abs());
        // NaN anywhere fails too.
        let fails = excess > 0.0 || excess.is_nan();
        if fails && (excess > worst.1 || worst.1 == 0.0) {
            worst = (i, excess.max(f32::MIN_POSITIVE));
        }
    }
    if worst.1 > 0.0 {
        let i = worst.0;
        panic!(
            "{what}: element {i} is {}, expected {} (abs {abs}, rel {rel})",
            got[i], want[i]
        );
    }
}

/// A deterministic pseudo-random vector in [-1, 1).
pub fn random_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}
