//! Seeded mutation fuzzing of the file loaders: the IDX loader
//! (`IdxArray::from_bytes`, `read_idx`, `load_idx`) and the safetensors
//! loaders (weights from bytes and from files, checkpoints resumed by the
//! trainer), on mutations of the corpus in `tests/data/fuzz/`. Every input
//! must give `Ok` or an `Err`: no panic, no hang, and no allocation
//! larger than a bound (measured by a global allocator, hence no test
//! harness: the process's only thread is this one). A few thousand inputs
//! per loader run in seconds; the seed is fixed, so a failure reproduces.
//!
//! `CNN_FUZZ_BLESS=1 cargo test --test fuzz_loaders` rewrites the corpus
//! from the library's own writers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use cnn::data::IdxArray;
use cnn::train::{Optimizer, TrainConfig, Trainer};
use cnn::{Dataset, Init, LoadOptions};

struct Peak;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::SeqCst) + bytes;
    PEAK.fetch_max(live, Ordering::SeqCst);
}

// SAFETY: forwards to the system allocator unchanged, only counting bytes.
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            grew(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
        }
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;

/// The most a loader may allocate at once on any input of the corpus's
/// size (a few kilobytes each).
const BOUND: usize = 8 << 20;

cnn::network! {
    /// A small network whose weights and checkpoints make the corpus.
    struct Small {
        input: [1, 4, 4],
        conv1: conv(2, kernel = 3, pad = 1), relu, max_pool(2),
        flatten,
        fc1: dense(3),
        softmax,
    }
}

/// xorshift64*: the mutations' randomness, from a fixed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four random edits of `input`: bit flips, boundary bytes, a
/// 32- or 64-bit field set to a boundary value (little- or big-endian, as
/// safetensors and IDX store them), insertions, deletions, truncation,
/// duplication, and splices from `other`.
fn mutate(input: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(9) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] = [0, 1, 0x7f, 0x80, 0xff, b'"', b'{', b'9'][rng.below(8)];
            }
            2 => {
                let values: [u64; 7] = [0, 1, 0xff, 0xffff_ffff, u64::MAX, 1 << 31, 1 << 40];
                let v = values[rng.below(values.len())];
                let bytes = match rng.below(3) {
                    0 => (v as u32).to_be_bytes().to_vec(),
                    1 => (v as u32).to_le_bytes().to_vec(),
                    _ => v.to_le_bytes().to_vec(),
                };
                for (k, x) in bytes.into_iter().enumerate() {
                    if let Some(slot) = b.get_mut(at + k) {
                        *slot = x;
                    }
                }
            }
            3 => {
                let n = 1 + rng.below(16);
                let fill = rng.next() as u8;
                b.splice(at..at, std::iter::repeat_n(fill, n));
            }
            4 if at < b.len() => {
                let n = (1 + rng.below(16)).min(b.len() - at);
                b.drain(at..at + n);
            }
            5 => b.truncate(at),
            6 if at < b.len() => {
                let n = (1 + rng.below(64)).min(b.len() - at);
                let piece = b[at..at + n].to_vec();
                b.splice(at..at, piece);
            }
            7 if !other.is_empty() => {
                let from = rng.below(other.len());
                let n = (1 + rng.below(64)).min(other.len() - from);
                let end = (at + n).min(b.len());
                b.splice(at..end, other[from..from + n].iter().copied());
            }
            _ => {}
        }
    }
    b
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz")
}

fn read_corpus(kind: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir().join(kind))
        .unwrap_or_else(|e| panic!("tests/data/fuzz/{kind}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// Runs `load` on `input` and checks the bound on its allocations.
fn bounded<T>(what: &str, input: &[u8], load: impl FnOnce() -> T) -> T {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let r = load();
    let peak = PEAK.load(Ordering::SeqCst) - before;
    assert!(
        peak <= BOUND,
        "{what}: {peak} bytes allocated for an input of {} bytes: {:?}",
        input.len(),
        &input[..input.len().min(64)]
    );
    r
}

fn training_set() -> Dataset {
    let inputs: Vec<f32> = (0..12 * 16).map(|i| ((i * 5 % 11) as f32) / 11.0).collect();
    Dataset::classification(inputs, &[1, 4, 4], (0..12).map(|i| i % 3).collect(), 3).unwrap()
}

fn config() -> TrainConfig {
    TrainConfig::default()
        .epochs(2)
        .batch_size(4)
        .optimizer(Optimizer::adam(0.01))
        .seed(1)
        .threads(1)
        .quiet()
}

/// Writes the corpus from the library's writers.
fn bless() {
    let dir = corpus_dir();
    let st = dir.join("safetensors");
    let idx = dir.join("idx");
    std::fs::create_dir_all(&st).unwrap();
    std::fs::create_dir_all(&idx).unwrap();
    let mut net = Small::new(Init::He, 1);
    net.save_safetensors(st.join("weights.safetensors"))
        .unwrap();
    Trainer::new(
        config()
            .early_stopping(3, 0.0)
            .checkpoint(st.join("checkpoint.safetensors")),
    )
    .fit(&mut net, &training_set(), None)
    .unwrap();
    let gzip = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let header = |code: u8, dims: &[u32]| {
        let mut h = vec![0, 0, code, dims.len() as u8];
        for d in dims {
            h.extend_from_slice(&d.to_be_bytes());
        }
        h
    };
    let mut images = header(0x08, &[3, 4, 4]);
    images.extend((0..48).map(|i| (i * 37 % 256) as u8));
    let mut labels = header(0x08, &[3]);
    labels.extend([2, 0, 1]);
    let mut floats = header(0x0D, &[2, 2]);
    for v in [1.5f32, -0.25, 3.0, 1e30] {
        floats.extend_from_slice(&v.to_be_bytes());
    }
    let mut wide = header(0x0E, &[2]);
    for v in [1e300f64, -3.0] {
        wide.extend_from_slice(&v.to_be_bytes());
    }
    let mut shorts = header(0x0B, &[3]);
    for v in [1i16, -2, 300] {
        shorts.extend_from_slice(&v.to_be_bytes());
    }
    let mut two_members = gzip(&images[..20]);
    two_members.extend(gzip(&images[20..]));
    for (name, bytes) in [
        ("images-idx3-ubyte", images.clone()),
        ("images-idx3-ubyte.gz", gzip(&images)),
        ("images-two-members-idx3-ubyte.gz", two_members),
        ("labels-idx1-ubyte", labels.clone()),
        ("labels-idx1-ubyte.gz", gzip(&labels)),
        ("floats-idx2", floats),
        ("doubles-idx1", wide),
        ("shorts-idx1", shorts),
    ] {
        std::fs::write(idx.join(name), bytes).unwrap();
    }
}

fn main() {
    if std::env::var_os("CNN_FUZZ_BLESS").is_some() {
        bless();
    }
    let rounds: usize = std::env::var("CNN_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input");
    let mut rng = Rng(0x5EED_F00D_CAFE_F00D);

    // IDX.
    let idx = read_corpus("idx");
    assert!(idx.len() >= 8);
    let labels_file = dir.path().join("labels");
    std::fs::write(
        &labels_file,
        &idx.iter().find(|f| f.0 == "labels-idx1-ubyte").unwrap().1,
    )
    .unwrap();
    let (mut ok, mut err) = (0, 0);
    for round in 0..rounds {
        let (name, seed) = &idx[rng.below(idx.len())];
        let other = &idx[rng.below(idx.len())].1;
        let input = mutate(seed, other, &mut rng);
        let what = format!("IDX round {round} from {name}");
        match bounded(&what, &input, || IdxArray::from_bytes(&input)) {
            Ok(a) => {
                assert_eq!(a.data.len(), a.dims.iter().product::<usize>(), "{what}");
                ok += 1;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                err += 1;
            }
        }
        if round % 10 == 0 {
            std::fs::write(&file, &input).unwrap();
            let _ = bounded(&what, &input, || cnn::data::read_idx(&file));
            let _ = bounded(&what, &input, || {
                cnn::data::load_idx(&file, &labels_file, 10)
            });
        }
    }
    println!("IDX: {rounds} mutated inputs, {ok} read, {err} refused");

    // safetensors: weights from bytes and files, checkpoints resumed.
    let st = read_corpus("safetensors");
    assert!(st.len() >= 2);
    let train = training_set();
    let (mut ok, mut err) = (0, 0);
    for round in 0..rounds {
        let (name, seed) = &st[rng.below(st.len())];
        let other = &st[rng.below(st.len())].1;
        let input = mutate(seed, other, &mut rng);
        let what = format!("safetensors round {round} from {name}");
        let options = if round % 2 == 0 {
            LoadOptions::default()
        } else {
            LoadOptions::ignore_unknown()
        };
        let r = bounded(&what, &input, || {
            cnn::io::safetensors::read(&file, &input, Small::PARAMS, Small::PARAM_COUNT, options)
        });
        match r {
            Ok(w) => {
                assert_eq!(w.len(), Small::PARAM_COUNT, "{what}");
                ok += 1;
            }
            Err(_) => err += 1,
        }
        if round % 10 == 0 {
            std::fs::write(&file, &input).unwrap();
            let _ = bounded(&what, &input, || Small::from_safetensors(&file));
            let mut net = Small::new(Init::He, 2);
            let before = net.weights().to_vec();
            let r = bounded(&what, &input, || {
                Trainer::new(config().resume(&file)).fit(&mut net, &train, None)
            });
            // A file refused leaves the network as it was (an error of
            // the training that a file accepted may follow is not that).
            if let Err(cnn::Error::Safetensors { .. } | cnn::Error::Data { .. }) = r {
                assert_eq!(
                    net.weights(),
                    &before[..],
                    "{what}: a refused checkpoint changed the network"
                );
            }
        }
    }
    println!("safetensors: {rounds} mutated inputs, {ok} loaded, {err} refused");
    println!("fuzzing the loaders: ok");
}
