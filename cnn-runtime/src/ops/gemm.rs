//! Single-precision matrix multiply, `C = A B + beta C`, on strided slices.
//!
//! With the `std` feature this is `matrixmultiply::sgemm` (packed,
//! cache-blocked, with AVX2/FMA and AVX-512 kernels chosen at run time);
//! without it, a plain loop nest that needs no allocation.

/// A matrix view: `rows x cols` with element `(i, j)` at `i * rs + j * cs`.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Distance between rows.
    pub rs: usize,
    /// Distance between columns.
    pub cs: usize,
}

impl Layout {
    /// Row-major, contiguous.
    pub const fn row_major(rows: usize, cols: usize) -> Self {
        Layout {
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major `cols x rows` matrix.
    pub const fn transposed(rows: usize, cols: usize) -> Self {
        Layout {
            rows,
            cols,
            rs: 1,
            cs: rows,
        }
    }
    /// One past the largest index the view touches (0 when empty).
    const fn extent(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
        }
    }
}

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
    let (m, k, n) = (la.rows, la.cols, lb.cols);
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(feature = "std")]
    {
        // SAFETY: the assertions above check that every index the views
        // touch, (rows-1)*rs + (cols-1)*cs, lies inside its slice, and `c` is
        // a unique borrow that cannot alias `a` or `b`.
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                la.rs as isize,
                la.cs as isize,
                b.as_ptr(),
                lb.rs as isize,
                lb.cs as isize,
                beta,
                c.as_mut_ptr(),
                lc.rs as isize,
                lc.cs as isize,
            );
        }
    }
    #[cfg(not(feature = "std"))]
    {
        for i in 0..m {
            for j in 0..n {
                let ci = i * lc.rs + j * lc.cs;
                c[ci] = if beta == 0.0 { 0.0 } else { beta * c[ci] };
            }
            for p in 0..k {
                let av = a[i * la.rs + p * la.cs];
                for j in 0..n {
                    c[i * lc.rs + j * lc.cs] += av * b[p * lb.rs + j * lb.cs];
                }
            }
        }
    }
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
