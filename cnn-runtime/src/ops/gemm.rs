//! Single-precision matrix multiply, `C = A B + beta C`, on strided slices.
//!
//! The implementation is the crate's own (`simd::gemm`): register-tiled
//! micro-kernels per instruction set, packing buffers on the stack. It
//! allocates nothing, which inference and training steps require (a
//! general-purpose BLAS such as `matrixmultiply` allocates its packing
//! buffers on every call).

pub use crate::simd::{Layout, PackedB};

use crate::simd::{self, Matrix};

use super::threads::{self, Split};
use cnn_spec::tuning::GEMM_ROW_ALIGN;

/// `c = a b + beta c`, where `a` is `m x k`, `b` is `k x n`, `c` is `m x n`.
///
/// Panics if the layouts disagree or a slice is too short for its layout.
pub fn sgemm(a: &[f32], la: Layout, b: &[f32], lb: Layout, beta: f32, c: &mut [f32], lc: Layout) {
    assert!(
        la.cols == lb.rows && la.rows == lc.rows && lb.cols == lc.cols,
        "gemm: shapes {}x{} * {}x{} -> {}x{} disagree",
        la.rows,
        la.cols,
        lb.rows,
        lb.cols,
        lc.rows,
        lc.cols
    );
    assert!(a.len() >= la.extent() && b.len() >= lb.extent() && c.len() >= lc.extent());
    if la.rows == 0 || lb.cols == 0 {
        return;
    }
    simd::gemm(
        Matrix {
            data: a,
            layout: la,
        },
        Matrix {
            data: b,
            layout: lb,
        },
        beta,
        c,
        lc,
    );
}

/// `c = a b + beta c` with `b` already in the GEMM's panel layout
/// ([`PackedB`]; a convolution's forward im2col writes it), so the GEMM
/// packs nothing. `a` is `m x k`, `b` `k x n`, `c` `m x n`.
///
/// Panics if the shapes disagree, a slice is too short, or `b`'s panels
/// are not [`crate::simd::gemm_panel_width`] wide.
///
/// ```
/// use cnn_runtime::ops::gemm::{sgemm_packed, Layout, PackedB};
/// use cnn_runtime::simd::{gemm_panel_width, packed_b_index, packed_b_len};
///
/// // B = [[1, 2, 3], [4, 5, 6]] in the panels of the running level.
/// let (k, n, nr) = (2, 3, gemm_panel_width());
/// let mut data = vec![0.0; packed_b_len(k, n, nr)];
/// for p in 0..k {
///     for j in 0..n {
///         data[packed_b_index(k, n, nr, p, j)] = (p * n + j + 1) as f32;
///     }
/// }
/// let b = PackedB { data: &data, k, n, nr };
/// let a = [1.0, 10.0]; // 1 x 2
/// let mut c = [0.0; 3];
/// sgemm_packed(&a, Layout::row_major(1, 2), b, 0.0, &mut c, Layout::row_major(1, 3));
/// assert_eq!(c, [41.0, 52.0, 63.0]);
/// ```
pub fn sgemm_packed(a: &[f32], la: Layout, b: PackedB, beta: f32, c: &mut [f32], lc: Layout) {
    assert!(
        la.cols == b.k && la.rows == lc.rows && b.n == lc.cols,
        "gemm: shapes {}x{} * {}x{} (packed) -> {}x{} disagree",
        la.rows,
        la.cols,
        b.k,
        b.n,
        lc.rows,
        lc.cols
    );
    assert!(a.len() >= la.extent() && c.len() >= lc.extent());
    if la.rows == 0 || b.n == 0 {
        return;
    }
    let a = Matrix {
        data: a,
        layout: la,
    };
    simd::gemm_packed(a, b, beta, c, lc);
}

/// [`sgemm`] with the rows of `a` and `c` split between the threads of
/// the current pool when the product is large enough (see
/// `super::threads`); each row of `c` gets exactly the values [`sgemm`]
/// gives it. `c`'s rows must be contiguous (`lc.cs == 1`) and `c` hold
/// `lc.rows * lc.rs` floats; otherwise this is [`sgemm`].
pub(crate) fn sgemm_rows(
    a: &[f32],
    la: Layout,
    b: &[f32],
    lb: Layout,
    beta: f32,
    c: &mut [f32],
    lc: Layout,
) {
    by_rows(a, la, lb.cols, c, lc, &|a, la, c, lc| {
        sgemm(a, la, b, lb, beta, c, lc)
    });
}

/// [`sgemm_packed`] with rows split between threads as [`sgemm_rows`]
/// splits them.
pub(crate) fn sgemm_packed_rows(
    a: &[f32],
    la: Layout,
    b: PackedB,
    beta: f32,
    c: &mut [f32],
    lc: Layout,
) {
    by_rows(a, la, b.n, c, lc, &|a, la, c, lc| {
        sgemm_packed(a, la, b, beta, c, lc)
    });
}

/// A product on some rows: `f(a, la, c, lc)`.
type RowsFn<'a> = dyn Fn(&[f32], Layout, &mut [f32], Layout) + Sync + 'a;

/// Runs `f(a, la, c, lc)` on the whole product or, when it is large
/// enough and `c`'s rows are contiguous, on parts of the rows of `a` and
/// `c` in the threads of the current pool.
fn by_rows(a: &[f32], la: Layout, n: usize, c: &mut [f32], lc: Layout, f: &RowsFn) {
    let macs = (la.rows * la.cols) as u64 * n as u64;
    let parts = threads::parts(macs, lc.rows);
    if parts <= 1 || lc.cs != 1 || c.len() < lc.rows * lc.rs {
        return f(a, la, c, lc);
    }
    let split = Split {
        parts,
        align: GEMM_ROW_ALIGN,
    };
    let c = &mut c[..lc.rows * lc.rs];
    threads::for_row_parts(c, lc.rs, lc.rows, split, &|rows, part: &mut [f32]| {
        let a_rows = Layout {
            rows: rows.len(),
            ..la
        };
        let c_rows = Layout {
            rows: rows.len(),
            ..lc
        };
        f(&a[rows.start * la.rs..], a_rows, part, c_rows)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_with_transposes() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let bt: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect(); // n x k
        let mut c = vec![1.0f32; m * n];
        sgemm(
            &a,
            Layout::row_major(m, k),
            &bt,
            Layout::transposed(k, n),
            0.5,
            &mut c,
            Layout::row_major(m, n),
        );
        for i in 0..m {
            for j in 0..n {
                let want: f32 = 0.5 + (0..k).map(|p| a[i * k + p] * bt[j * k + p]).sum::<f32>();
                assert!((c[i * n + j] - want).abs() < 1e-5);
            }
        }
    }
}
