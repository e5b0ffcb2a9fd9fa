//! PCA and ZCA whitening of 50,000 random 32x32x3 patches of two
//! photographs (`data/photos/`, CC BY 2.0): 3,072 values per patch, like a
//! CIFAR-10 image, so the covariance is 3,072 x 3,072.
//!
//! ```text
//! cargo run --release --example whitening
//! cargo run --release --example whitening -- --samples 50000 --threads 2 --zca-eps 0.1 \
//!     --out runs/whitening --dump runs/whitening/patches.f32
//! cargo run --release --example whitening -- --bench    # the fit only, for BENCHMARKS.md
//! cargo run --release --example whitening -- --no-check # the pictures without the check
//! ```
//!
//! It prints the fit time (mean + covariance, eigendecomposition, the
//! whitening matrices), checks that the whitened covariance of the 50,000
//! fitted patches is the identity along the kept components (PCA and ZCA,
//! `eps = 0`, components holding 99% of the variance), and writes to
//! `runs/whitening/`:
//!
//! - `pca_components.png`: the 64 leading principal components as 32x32
//!   colour tiles, row by row (each tile min-max scaled);
//! - `zca_patches.png`: 32 patches, each followed by its ZCA-whitened
//!   version (`eps = --zca-eps`, each tile min-max scaled);
//! - `zca.safetensors`: the display ZCA, saved and loaded back.
//!
//! `--dump FILE` writes the patch matrix as raw little-endian f32
//! (`[n, 3072]`) for `benches/whitening_numpy.py`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cnn::data::whiten::Spectrum;
use cnn::data::{image, patches, Image, Keep, Moments, Whitening};
use cnn::ops::gemm::{sgemm, Layout};

const SIDE: usize = 32;
const DIM: usize = 3 * SIDE * SIDE;

struct Args {
    samples: usize,
    threads: usize,
    zca_eps: f64,
    variance: f64,
    out: PathBuf,
    dump: Option<PathBuf>,
    bench: bool,
    check: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        samples: 50_000,
        threads: 0,
        zca_eps: 0.1,
        variance: 0.99,
        out: PathBuf::from("runs/whitening"),
        dump: None,
        bench: false,
        check: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" || flag == "--no-check" {
            a.bench |= flag == "--bench";
            a.check = false;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = || format!("bad value `{value}` for {flag}");
        match flag.as_str() {
            "--samples" => a.samples = value.parse().map_err(|_| bad())?,
            "--threads" => a.threads = value.parse().map_err(|_| bad())?,
            "--zca-eps" => a.zca_eps = value.parse().map_err(|_| bad())?,
            "--variance" => a.variance = value.parse().map_err(|_| bad())?,
            "--out" => a.out = value.into(),
            "--dump" => a.dump = Some(value.into()),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    if args.threads > 0 {
        cnn::set_threads(args.threads)?;
    }
    let threads = cnn::parallel::threads();
    let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/photos");

    // 1. Patches: half from each photo.
    let mut data = Vec::with_capacity(args.samples * DIM);
    for (i, name) in ["china.jpg", "flower.jpg"].iter().enumerate() {
        let photo = Image::open(photos.join(name), 3)?;
        let count = args.samples / 2 + (i * (args.samples % 2));
        data.extend(patches(&photo, SIDE, SIDE, count, 1 + i as u64)?);
        let [c, h, w] = photo.shape();
        println!("{name}: {c}x{h}x{w}, {count} patches of 3x{SIDE}x{SIDE}");
    }
    let n = data.len() / DIM;
    if let Some(path) = &args.dump {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(path, bytes)?;
        println!(
            "wrote the {n} x {DIM} patch matrix (f32, little-endian) to {}",
            path.display()
        );
    }

    // 2. The fit, timed step by step.
    let t = Instant::now();
    let moments = Moments::compute(&data, DIM)?;
    let t_cov = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let spectrum = Spectrum::compute(&moments)?;
    let t_eig = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let pca = Whitening::pca()
        .eps(0.0)
        .keep(Keep::Variance(args.variance))
        .fit_spectrum(&spectrum)?;
    let t_pca = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let zca_show = Whitening::zca().eps(args.zca_eps).fit_spectrum(&spectrum)?;
    let t_zca = t.elapsed().as_secs_f64();
    let (nf, df) = (n as f64, DIM as f64);
    // Executed: the blocks on and above the diagonal; effective: the whole product.
    let executed: f64 = (0..DIM)
        .step_by(cnn::data::covariance::ROW_BLOCK)
        .map(|i0| (cnn::data::covariance::ROW_BLOCK.min(DIM - i0) * (DIM - i0)) as f64)
        .sum::<f64>()
        * 2.0
        * nf;
    println!("fit on {n} patches of {DIM} values, {threads} threads:");
    println!(
        "  mean + covariance   {t_cov:7.3} s  ({:.1} GFLOP/s executed: 2·n·Σ rows·cols over the \
         upper blocks = {:.0} GFLOP; {:.1} GFLOP/s effective: 2·n·d² = {:.0} GFLOP)",
        executed / t_cov / 1e9,
        executed / 1e9,
        2.0 * nf * df * df / t_cov / 1e9,
        2.0 * nf * df * df / 1e9
    );
    println!("  eigendecomposition  {t_eig:7.3} s  (faer, f64)");
    println!(
        "  covariance + eigen  {:7.3} s  (what np.cov + np.linalg.eigh do)",
        t_cov + t_eig
    );
    println!("  PCA matrices        {t_pca:7.3} s  (k = {})", pca.kept());
    println!("  ZCA matrices        {t_zca:7.3} s  (two 3072x3072 Gram matrices, our GEMM)");
    println!(
        "  total               {:7.3} s",
        t_cov + t_eig + t_pca + t_zca
    );
    if args.bench {
        return Ok(());
    }

    let var = spectrum.variance();
    let total = spectrum.total_variance();
    println!(
        "eigenvalues: largest {:.4}, 10th {:.4}, 100th {:.3e}, 1000th {:.3e}, smallest {:.3e}; total {:.3}",
        var[0], var[9], var[99], var[999], var[DIM - 1], total
    );
    for f in [0.9, 0.99, 0.999] {
        let k = Whitening::pca()
            .keep(Keep::Variance(f))
            .fit_spectrum(&spectrum)?
            .kept();
        println!(
            "  {:.1}% of the variance in the first {k} components",
            100.0 * f
        );
    }

    // 3. Whitened covariance on the 50,000 fitted patches, kept components.
    if args.check {
        check_identity(&data, &pca, &spectrum)?;
    }

    // 4. Pictures.
    std::fs::create_dir_all(&args.out)?;
    let tiles: Vec<Vec<f32>> = (0..64)
        .map(|c| {
            let v: Vec<f32> = spectrum.vectors()[c * DIM..(c + 1) * DIM]
                .iter()
                .map(|&x| x as f32)
                .collect();
            min_max(&v)
        })
        .collect();
    let path = args.out.join("pca_components.png");
    save_grid(&path, &tiles, 8)?;
    println!(
        "wrote {} (the 64 leading components, row by row)",
        path.display()
    );

    let shown = 32;
    let originals: Vec<f32> = (0..shown)
        .flat_map(|i| {
            let s = i * (n / shown);
            data[s * DIM..(s + 1) * DIM].to_vec()
        })
        .collect();
    let whitened = zca_show.transform(&originals)?;
    let mut pairs = Vec::new();
    for (x, y) in originals.chunks_exact(DIM).zip(whitened.chunks_exact(DIM)) {
        pairs.push(x.to_vec());
        pairs.push(min_max(y));
    }
    let path = args.out.join("zca_patches.png");
    save_grid(&path, &pairs, 8)?;
    println!(
        "wrote {} ({shown} patches, each followed by its ZCA-whitened version, eps = {})",
        path.display(),
        args.zca_eps
    );

    // 5. Save and load.
    let path = args.out.join("zca.safetensors");
    zca_show.save(&path)?;
    let loaded = Whitening::load(&path)?;
    assert!(loaded == zca_show, "the loaded whitening differs");
    println!("saved and loaded {} unchanged", path.display());
    Ok(())
}

/// Checks the whitened covariance of the fitted patches along the kept
/// components, for PCA and for ZCA (`eps = 0`).
fn check_identity(
    data: &[f32],
    pca: &Whitening,
    spectrum: &Spectrum,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = data.len() / DIM;
    let k = pca.kept();
    let t = Instant::now();
    let white = pca.transform(data)?;
    let err_pca = max_identity_error(&white, k)?;
    println!(
        "PCA, eps = 0, k = {k}: max |cov(whitened) - I| = {err_pca:.2e} over the {k}x{k} \
         kept components, on the {n} fitted patches ({:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let zca = Whitening::zca()
        .eps(0.0)
        .keep(Keep::Components(k))
        .fit_spectrum(spectrum)?;
    let white = zca.transform(data)?;
    // Along the kept components: (whitened) U_kᵀ, [n, k].
    let basis: Vec<f32> = zca.components().iter().map(|&v| v as f32).collect();
    let mut along = vec![0.0f32; n * k];
    for (y, z) in white.chunks(4096 * DIM).zip(along.chunks_mut(4096 * k)) {
        let rows = y.len() / DIM;
        sgemm(
            y,
            Layout::row_major(rows, DIM),
            &basis,
            Layout::transposed(DIM, k),
            0.0,
            z,
            Layout::row_major(rows, k),
        );
    }
    drop(white);
    let err_zca = max_identity_error(&along, k)?;
    println!(
        "ZCA, eps = 0, k = {k}: max |cov(whitened) - I| = {err_zca:.2e} along the kept \
         components, on the {n} fitted patches ({:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let limit = 1e-3;
    if err_pca > limit || err_zca > limit {
        return Err(
            format!("the whitened covariance is not within {limit} of the identity").into(),
        );
    }

    Ok(())
}

/// max |cov(y) - I| for `y` of `k` values per sample.
fn max_identity_error(y: &[f32], k: usize) -> Result<f64, cnn::Error> {
    let cov = Moments::compute(y, k)?;
    Ok(cov
        .covariance()
        .iter()
        .enumerate()
        .map(|(i, &c)| (c - if i / k == i % k { 1.0 } else { 0.0 }).abs())
        .fold(0.0, f64::max))
}

/// Values scaled to `[0, 1]`.
fn min_max(v: &[f32]) -> Vec<f32> {
    let (lo, hi) = v
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let span = (hi - lo).max(f32::MIN_POSITIVE);
    v.iter().map(|&x| (x - lo) / span).collect()
}

/// Tiles of `[3, 32, 32]` in a grid `per_row` wide, each drawn at twice
/// its size with a 2-pixel white border.
fn save_grid(path: &Path, tiles: &[Vec<f32>], per_row: usize) -> Result<(), cnn::Error> {
    let (scale, gap) = (2, 2);
    let cell = SIDE * scale + gap;
    let rows = tiles.len().div_ceil(per_row);
    let (h, w) = (rows * cell + gap, per_row * cell + gap);
    let mut out = vec![1.0f32; 3 * h * w];
    for (t, tile) in tiles.iter().enumerate() {
        let (y0, x0) = (gap + (t / per_row) * cell, gap + (t % per_row) * cell);
        for c in 0..3 {
            for y in 0..SIDE * scale {
                for x in 0..SIDE * scale {
                    out[c * h * w + (y0 + y) * w + x0 + x] =
                        tile[c * SIDE * SIDE + (y / scale) * SIDE + x / scale];
                }
            }
        }
    }
    image::save_png(path, &out, &[3, h, w])
}
