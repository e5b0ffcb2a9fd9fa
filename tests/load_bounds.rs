//! Small files cannot make the loaders allocate much: a file whose header
//! declares a huge array or a huge header is refused after allocating a
//! few kilobytes, measured by a global allocator that tracks the peak of
//! live bytes. (A global allocator is per binary, and the figures must
//! count only the loader, hence this separate test without the test
//! harness: the process's only thread is this one.)
//!
//! The figures are printed (`cargo test --test load_bounds`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use cnn::{Error, Init};

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

/// Runs `f` and returns its result and the most bytes it had allocated at
/// once, beyond what was live before.
fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let r = f();
    (r, PEAK.load(Ordering::SeqCst) - before)
}

cnn::network! {
    struct LeNet5 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
    }
}

const MIB: usize = 1 << 20;
const GIB: u64 = 1 << 30;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An IDX file (u8, `[1024, 1024, 1024]`: 1 GiB declared) as gzip members:
/// the header, then `mib` members of 1 MiB of zeros each.
fn idx_bomb(path: &Path, mib: usize) -> usize {
    let mut header = vec![0, 0, 8, 3];
    for _ in 0..3 {
        header.extend_from_slice(&1024u32.to_be_bytes());
    }
    let zeros = gzip(&vec![0u8; MIB]);
    let mut file = gzip(&header);
    for _ in 0..mib {
        file.extend_from_slice(&zeros);
    }
    std::fs::write(path, &file).unwrap();
    file.len()
}

fn main() {
    // The counter counts (so that the checks below can fail).
    let (v, bytes) = peak(|| std::hint::black_box(vec![0u8; 3 * MIB]));
    assert!(bytes >= 3 * MIB);
    drop(v);

    let dir = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    let mut check = |what: &str, bytes: usize, bound: usize| {
        report.push(format!("{what}: peak {bytes} bytes"));
        assert!(bytes <= bound, "{what}: peak {bytes} bytes, bound {bound}");
    };

    // 1. A 1 MB gzip IDX file declaring 1 GiB of pixels and holding 1 GiB
    //    and 1 MiB of them: refused as too long.
    let long = dir.path().join("long-idx3-ubyte.gz");
    let size = idx_bomb(&long, 1025);
    assert!(size < 2 * MIB, "{size}");
    let (r, bytes) = peak(|| cnn::data::read_idx(&long));
    let m = r.unwrap_err().to_string();
    assert!(
        m.contains("need 1073741824 bytes") && m.contains("too many"),
        "{m}"
    );
    check(
        &format!("refusing a {size}-byte gzip IDX file declaring 1 GiB, holding more"),
        bytes,
        MIB,
    );
    let (r, bytes) = peak(|| cnn::data::load_idx(&long, &long, 10));
    assert!(r.is_err());
    check("load_idx on the same file", bytes, MIB);

    // 2. The same header with 8 MiB of pixels: truncated.
    let short = dir.path().join("short-idx3-ubyte.gz");
    idx_bomb(&short, 8);
    let (r, bytes) = peak(|| cnn::data::read_idx(&short));
    let m = r.unwrap_err().to_string();
    assert!(m.contains("truncated data"), "{m}");
    check(
        "refusing a gzip IDX file declaring 1 GiB, holding 8 MiB",
        bytes,
        MIB,
    );

    // 3. A plain IDX file declaring 1 GiB in 1 KiB.
    let plain = dir.path().join("plain-idx3-ubyte");
    let mut bytes_of = vec![0, 0, 8, 3];
    for _ in 0..3 {
        bytes_of.extend_from_slice(&1024u32.to_be_bytes());
    }
    bytes_of.resize(1024, 7);
    std::fs::write(&plain, &bytes_of).unwrap();
    let (r, bytes) = peak(|| cnn::data::read_idx(&plain));
    assert!(r.unwrap_err().to_string().contains("truncated data"));
    check(
        "refusing a 1 KiB IDX file declaring 1 GiB",
        bytes,
        64 * 1024,
    );

    // 4. safetensors whose header length claims 90 MB in a 1 KiB file.
    let claim = dir.path().join("claim.safetensors");
    let mut file = 90_000_000u64.to_le_bytes().to_vec();
    file.resize(1024, b' ');
    std::fs::write(&claim, &file).unwrap();
    let (r, bytes) = peak(|| LeNet5::from_safetensors(&claim));
    let err = r.unwrap_err();
    assert!(matches!(err, Error::Safetensors { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("the header length says 90000000 bytes, but the file holds only 1016"),
        "{err}"
    );
    check(
        "refusing a 1 KiB safetensors file whose header claims 90 MB",
        bytes,
        64 * 1024,
    );

    // 5. A 90 MB safetensors file with a legal header: 1.5 million empty
    //    tensors.
    let bomb = dir.path().join("bomb.safetensors");
    let mut header = String::from("{");
    let mut i = 0;
    while header.len() < 90_000_000 {
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            "\"t{i}\":{{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}"
        ));
        i += 1;
    }
    header.push('}');
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    drop(header);
    std::fs::write(&bomb, &file).unwrap();
    let size = file.len();
    drop(file);
    let (r, bytes) = peak(|| LeNet5::from_safetensors(&bomb));
    let m = r.unwrap_err().to_string();
    assert!(m.contains("more than the 1048576 bytes allowed"), "{m}");
    check(
        &format!("refusing a {size}-byte safetensors file with a legal {i}-tensor header"),
        bytes,
        64 * 1024,
    );

    // 6. A tensor whose declared size is far beyond the file.
    let huge = dir.path().join("huge.safetensors");
    let header =
        r#"{"fc1.weight":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&[0; 64]);
    std::fs::write(&huge, &file).unwrap();
    let (r, bytes) = peak(|| LeNet5::from_safetensors(&huge));
    let m = r.unwrap_err().to_string();
    assert!(
        m.contains("take 4000000000 bytes of data, the file holds 64"),
        "{m}"
    );
    check(
        "refusing a tensor of 4 GB declared in a 150-byte file",
        bytes,
        64 * 1024,
    );

    // 7. Loading real weights next to a 64 MiB tensor the network does not
    //    have: only the network's tensors are read.
    let weights = LeNet5::PARAM_COUNT * 4;
    let big = dir.path().join("big.safetensors");
    let net = LeNet5::new(Init::He, 1);
    let extra = vec![0u8; 64 * MIB];
    let data: Vec<Vec<u8>> = LeNet5::PARAMS
        .iter()
        .map(|p| {
            net.weights()[p.range()]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect()
        })
        .collect();
    let mut tensors: Vec<(String, safetensors::tensor::TensorView)> = LeNet5::PARAMS
        .iter()
        .zip(&data)
        .map(|(p, bytes)| {
            (
                p.name.to_string(),
                safetensors::tensor::TensorView::new(
                    safetensors::tensor::Dtype::F32,
                    p.shape.to_vec(),
                    bytes,
                )
                .unwrap(),
            )
        })
        .collect();
    tensors.push((
        "other.weight".into(),
        safetensors::tensor::TensorView::new(
            safetensors::tensor::Dtype::U8,
            vec![extra.len()],
            &extra,
        )
        .unwrap(),
    ));
    safetensors::tensor::serialize_to_file(tensors, None, &big).unwrap();
    drop((extra, data));
    let (r, bytes) = peak(|| {
        let mut n = LeNet5::zeros();
        n.load_safetensors_with(&big, cnn::LoadOptions::ignore_unknown())
            .map(|()| n)
    });
    assert_eq!(r.unwrap().weights(), net.weights());
    check(
        &format!(
            "loading {weights} bytes of weights from a {}-byte file",
            std::fs::metadata(&big).unwrap().len()
        ),
        bytes,
        2 * weights + 64 * 1024,
    );

    for line in &report {
        println!("{line}");
    }
    // 8. All of the above again in a process whose address space is
    //    limited to 1 GiB (setrlimit through `prlimit`), if the tool is
    //    there: the loaders end with errors instead of the process aborting.
    if std::env::var_os("CNN_LOAD_BOUNDS_CHILD").is_none() {
        match limited_child() {
            Some(output) => println!("{output}"),
            None => println!("prlimit unavailable: the address-space check was skipped"),
        }
    }
    println!("the loaders' memory bounds: ok");
}

/// Runs this test again in a child process limited to 1 GiB of address
/// space; `None` without `prlimit`.
fn limited_child() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new("prlimit")
        .arg(format!("--as={GIB}"))
        .arg(&exe)
        .env("CNN_LOAD_BOUNDS_CHILD", "1")
        .output()
        .ok()?;
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("prlimit") {
        return None;
    }
    assert!(
        out.status.success(),
        "the child failed under the limit: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    Some(format!(
        "under a 1 GiB address-space limit (prlimit --as): {last}"
    ))
}
