//! Whole-slice kernels: the sum (bias gradients) and ReLU in place.

use super::vector::Simd;

/// The sum of `v`, in vector-wide partial sums (four independent chains,
/// then the tail).
#[inline(always)]
pub fn sum<S: Simd>(s: S, v: &[f32]) -> f32 {
    let l = S::LANES;
    let mut acc = [s.zero(); 4];
    let mut chunks = v.chunks_exact(4 * l);
    for c in &mut chunks {
        for (j, a) in acc.iter_mut().enumerate() {
            *a = s.add(*a, s.load(&c[j * l..]));
        }
    }
    let mut rest = chunks.remainder();
    let mut tail = s.zero();
    while !rest.is_empty() {
        let n = rest.len().min(l);
        tail = s.add(tail, s.load_part(rest, n));
        rest = &rest[n..];
    }
    s.sum(s.add(s.add(acc[0], acc[1]), s.add(s.add(acc[2], acc[3]), tail)))
}

/// `y = relu(y)` in place, NaN kept.
#[inline(always)]
pub fn relu_in_place<S: Simd>(s: S, y: &mut [f32]) {
    let l = S::LANES;
    let mut i = 0;
    while i < y.len() {
        let n = (y.len() - i).min(l);
        let v = s.load_part(&y[i..], n);
        s.store_part(&mut y[i..], n, s.relu(v));
        i += l;
    }
}
