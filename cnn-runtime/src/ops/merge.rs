//! Merges of branches: the element-wise sum of a residual connection.
//! (Concatenation needs no kernel: the branches write their outputs side
//! by side.)
//!
//! Forward: `y = a + b` over `n` samples of `len` values. Backward: the
//! gradient of the sum is the output's gradient for both inputs, which
//! the generated code passes on without a kernel.

use super::args::check_len;

/// `y = a + b`, each `[n, len]`.
pub fn add(len: usize, a: &[f32], b: &[f32], y: &mut [f32], n: usize) {
    let total = n * len;
    check_len("add input", a.len(), total);
    check_len("add input", b.len(), total);
    check_len("add output", y.len(), total);
    for ((y, &a), &b) in y[..total].iter_mut().zip(&a[..total]).zip(&b[..total]) {
        *y = a + b;
    }
}

/// `a += b`, each `[n, len]`.
pub fn add_in_place(len: usize, a: &mut [f32], b: &[f32], n: usize) {
    let total = n * len;
    check_len("add input", a.len(), total);
    check_len("add input", b.len(), total);
    for (a, &b) in a[..total].iter_mut().zip(&b[..total]) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums() {
        let (a, b) = ([1.0, 2.0, 3.0, 4.0], [0.5, -2.0, f32::NAN, 1.0]);
        let mut y = [0.0; 4];
        add(2, &a, &b, &mut y, 2);
        assert_eq!(y[..2], [1.5, 0.0]);
        assert!(y[2].is_nan());
        let mut a2 = a;
        add_in_place(2, &mut a2, &b, 2);
        assert_eq!(a2[3], 5.0);
    }
}
