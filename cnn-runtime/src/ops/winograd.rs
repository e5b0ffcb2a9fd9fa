//! 3x3 stride-1 convolution by Winograd's F(4x4, 3x3) algorithm
//! ([`ConvAlgo::Winograd`](cnn_spec::ConvAlgo::Winograd)).
//!
//! Each 4x4 tile of outputs takes 36 multiplications per pair of input
//! and output channels where the direct convolution takes 144, at the cost
//! of transforming the weights (36 floats per filter: once for the
//! layer's lifetime at inference, [`forward_prepared`], kept in the
//! network's inference parameters; once per call in training,
//! [`forward`], in the scratch), the inputs (once per tile and input channel) and the
//! products (once per tile and output channel). Per chunk of tiles
//! (`cnn_spec::winograd`): the input transform, split over the six rows of
//! the transformed tile between the threads of the current pool; 36 GEMMs
//! `M[ξ] = U[ξ] V[ξ]` of the transformed weights `U[ξ]` (`k x c`) and
//! inputs `V[ξ]` (`c x n`, written in the GEMM's panel layout); the output
//! transform. The GEMMs and the output transform are split over output
//! channels. Every output is computed by the same operations whatever the
//! split.
//!
//! The transforms' constants (up to 8 in `Aᵀ`, 1/24 in `G`) make the
//! rounding error larger than the direct convolution's: up to 7e-6 of the
//! largest output on this module's random layers of 8 to 20 input
//! channels (the tests allow 1e-5); through torchvision's VGG-16 the
//! logits stay within 6e-7 of PyTorch's (`examples/torchvision.rs`).

use cnn_spec::tuning::GEMM_NR_MAX;
use cnn_spec::winograd::{chunk_tiles, phases_len, tiles, weights_len, G, POSITIONS, SPAN};
use cnn_spec::{ConvGeom, MAX_LANES};

use core::ops::Range;

use super::args::{check_len, Params};
use super::gemm::{sgemm_packed, sgemm_rows, Layout, PackedB};
use super::threads::{self, Split};
use crate::simd::{self, packed_b_len};

pub use cnn_spec::winograd::{prepared_scratch_len, scratch_len};

/// `G ⊗ G`: row `ξ = 6 i + j`, column `3 a + b` is `G[i][a] G[j][b]`, so
/// that `(G g Gᵀ)[ξ] = Σ (G ⊗ G)[ξ][t] g[t]` over the 9 taps `t`.
fn kron() -> [f32; POSITIONS * 9] {
    core::array::from_fn(|e| {
        let (xi, t) = (e / 9, e % 9);
        (G[xi / 6][t / 3] * G[xi % 6][t % 3]) as f32
    })
}

/// `u[ξ][k][c] = (G g Gᵀ)[ξ]` for the 3x3 filters `g = w[k, c]` (`w` is
/// `[k, c, 3, 3]`, `u` `[36][k][c]`): one GEMM of `G ⊗ G` (36 x 9) by the
/// filters (9 x `k c`), its rows split between threads.
pub fn transform_weights(w: &[f32], u: &mut [f32]) {
    let filters = w.len() / 9;
    let t = kron();
    let wt = Layout {
        rows: 9,
        cols: filters,
        rs: 1,
        cs: 9,
    };
    let lc = Layout::row_major(POSITIONS, filters);
    sgemm_rows(&t, Layout::row_major(POSITIONS, 9), w, wt, 0.0, u, lc);
}

/// `y = conv(x) + b` for `n` samples of a 3x3 stride-1 convolution
/// (`x` `[n, c, h, w]`, `y` `[n, k, oh, ow]`), by F(4x4, 3x3), the
/// weights transformed for this call; `scratch` holds [`scratch_len`]
/// floats.
pub fn forward(g: &ConvGeom, p: Params, x: &[f32], y: &mut [f32], scratch: &mut [f32], n: usize) {
    check(g, p, x, y, n);
    check_len("conv scratch", scratch.len(), scratch_len(g));
    let (u, rest) = scratch[..scratch_len(g)].split_at_mut(weights_len(g));
    transform_weights(p.weight, u);
    samples(g, (u, p.bias), x, y, rest, n);
}

/// [`forward`] with the weights already transformed, once for the
/// layer's lifetime: `u` is `cnn_spec::winograd::transform_weights` of
/// `p.weight` (`[36][k][c]`), read in place of it. `scratch` holds
/// [`prepared_scratch_len`] floats.
pub fn forward_prepared(
    g: &ConvGeom,
    (p, u): (Params, &[f32]),
    x: &[f32],
    y: &mut [f32],
    scratch: &mut [f32],
    n: usize,
) {
    check(g, p, x, y, n);
    check_len("conv transformed weight", u.len(), weights_len(g));
    check_len("conv scratch", scratch.len(), prepared_scratch_len(g));
    samples(
        g,
        (u, p.bias),
        x,
        y,
        &mut scratch[..prepared_scratch_len(g)],
        n,
    );
}

fn check(g: &ConvGeom, p: Params, x: &[f32], y: &[f32], n: usize) {
    assert!(
        (g.kh, g.kw, g.sh, g.sw) == (3, 3, 1, 1),
        "winograd: a {}x{} stride-{}x{} convolution is not 3x3 stride 1",
        g.kh,
        g.kw,
        g.sh,
        g.sw
    );
    check_len("conv input", x.len(), n * g.in_len());
    check_len("conv output", y.len(), n * g.out_len());
    check_len("conv weight", p.weight.len(), g.weight_len());
}

/// Every sample, with the weights transformed (`u`); `rest` is the
/// scratch after the transformed weights' share.
fn samples(
    g: &ConvGeom,
    (u, bias): (&[f32], Option<&[f32]>),
    x: &[f32],
    y: &mut [f32],
    rest: &mut [f32],
    n: usize,
) {
    let inputs = POSITIONS * g.c * chunk_tiles(g).next_multiple_of(GEMM_NR_MAX);
    let (v, shared) = rest.split_at_mut(inputs);
    for s in 0..n {
        let xs = &x[s * g.in_len()..][..g.in_len()];
        let ys = &mut y[s * g.out_len()..][..g.out_len()];
        sample(g, (u, bias), xs, ys, (&mut *v, &mut *shared));
    }
}

/// [`forward`] of one sample, with the weights transformed (`u`).
fn sample(
    g: &ConvGeom,
    (u, bias): (&[f32], Option<&[f32]>),
    xs: &[f32],
    ys: &mut [f32],
    (v, shared): (&mut [f32], &mut [f32]),
) {
    let (th, tw) = tiles(g);
    let chunk = chunk_tiles(g);
    let nr = simd::gemm_panel_width();
    let macs = (g.weight_len() * g.out_pixels()) as u64;
    for p0 in (0..th * tw).step_by(chunk) {
        let p1 = (p0 + chunk).min(th * tw);
        let nt = p1 - p0;
        // The input transform, its six rows of positions split between
        // threads; each part's row buffers lie in the products' space,
        // unused until the GEMMs.
        let vlen = packed_b_len(g.c, nt, nr);
        let v = &mut v[..POSITIONS * vlen];
        let split = Split {
            parts: threads::parts(macs / 8, SPAN),
            align: 1,
        };
        let row_buffers = (&mut *shared, phases_len(g, MAX_LANES));
        let input = |is: Range<usize>, vi: &mut [f32], phases: &mut [f32]| {
            simd::winograd_input(g, xs, (p0, p1), (is.start, is.end), vi, phases)
        };
        threads::for_row_parts_with((v, SPAN * vlen), row_buffers, SPAN, split, &input);
        // The products and the output transform, split over output channels.
        let v = &*v;
        let split = Split {
            parts: threads::parts(macs, g.k / MAX_LANES),
            align: MAX_LANES,
        };
        let products = (&mut *shared, POSITIONS * nt);
        let output = |ks: Range<usize>, yk: &mut [f32], m: &mut [f32]| {
            let kp = ks.len();
            let m = &mut m[..kp * POSITIONS * nt];
            let la = Layout::row_major(kp, g.c);
            let lc = Layout {
                rows: kp,
                cols: nt,
                rs: POSITIONS * nt,
                cs: 1,
            };
            for xi in 0..POSITIONS {
                let uk = &u[(xi * g.k + ks.start) * g.c..];
                let b = PackedB {
                    data: &v[xi * vlen..][..vlen],
                    k: g.c,
                    n: nt,
                    nr,
                };
                sgemm_packed(uk, la, b, 0.0, &mut m[xi * nt..], lc);
            }
            simd::winograd_output(g, m, bias.map(|b| &b[ks]), (p0, p1), yk);
        };
        threads::for_row_parts_with((&mut *ys, g.out_pixels()), products, g.k, split, &output);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * seed).sin() * 1.7).fract())
            .collect()
    }

    /// The direct convolution by plain loops.
    fn reference(g: &ConvGeom, w: &[f32], b: &[f32], x: &[f32]) -> Vec<f32> {
        let mut y = vec![0.0f32; g.out_len()];
        for k in 0..g.k {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut acc = f64::from(b[k]);
                    for c in 0..g.c {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let iy = (oy + ky) as isize - g.ph as isize;
                                let ix = (ox + kx) as isize - g.pw as isize;
                                if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                    continue;
                                }
                                let xv = x[(c * g.h + iy as usize) * g.w + ix as usize];
                                acc += f64::from(w[((k * g.c + c) * 3 + ky) * 3 + kx] * xv);
                            }
                        }
                    }
                    y[(k * g.oh + oy) * g.ow + ox] = acc as f32;
                }
            }
        }
        y
    }

    #[test]
    fn matches_the_direct_convolution() {
        // Odd sizes (partial tiles, a partial vector of tiles), padding 0
        // and 1, several chunks, channel counts that split unevenly.
        for (c, h, w, k, pad) in [
            (3, 9, 11, 5, 1),
            (16, 30, 70, 32, 1),
            (20, 17, 13, 17, 0),
            (8, 6, 6, 16, 1),
        ] {
            let g = ConvGeom::new(c, h, w, k, (3, 3), (1, 1), (pad, pad));
            let (wt, b, x) = (
                values(g.weight_len(), 0.37),
                values(k, 0.11),
                values(2 * g.in_len(), 0.23),
            );
            let want: Vec<f32> = x
                .chunks(g.in_len())
                .flat_map(|xs| reference(&g, &wt, &b, xs))
                .collect();
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            {
                let mut y = vec![f32::NAN; 2 * g.out_len()];
                let mut scratch = vec![f32::NAN; scratch_len(&g)];
                let p = Params {
                    weight: &wt,
                    bias: Some(&b),
                };
                forward(&g, p, &x, &mut y, &mut scratch, 2);
                let err = y
                    .iter()
                    .zip(&want)
                    .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(err <= 1e-5 * scale, "{g:?}: error {err} at scale {scale}");
            }
        }
    }
}
