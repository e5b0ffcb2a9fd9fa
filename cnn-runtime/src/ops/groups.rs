//! Grouped convolution: each sample's groups run one at a time through the
//! kernel of one group, on contiguous sub-slices of every buffer (input and
//! output channels, auxiliary bytes, weight, bias and gradient blocks).

use cnn_spec::Conv;

use super::args::{check_len, Backward, Forward, Grads, Params};

/// A forward entry point for one group (`groups == 1`).
pub(crate) type ForwardFn = fn(&Conv, Params, Forward, &mut [f32]);

/// The inference instantiation of a forward entry point for one group: no
/// auxiliary bytes, and every buffer its own argument, `(layer, x, weight,
/// bias, y, scratch, n)`, so the compiler knows they do not overlap.
pub(crate) type InferFn = fn(&Conv, &[f32], &[f32], Option<&[f32]>, &mut [f32], &mut [f32], usize);

/// A backward entry point for one group (`groups == 1`).
pub(crate) type BackwardFn = fn(&Conv, &[f32], Backward, Grads, &mut [f32]);

/// Runs a conv layer's forward kernel: `infer` when the layer has one
/// group and the call keeps no auxiliary bytes (inference), `train` when
/// it has one group, `train` once per group otherwise. Inference code thus
/// never links the training paths.
#[inline(always)]
pub(crate) fn dispatch_forward(
    l: &Conv,
    p: Params,
    io: Forward,
    scratch: &mut [f32],
    (infer, train): (InferFn, ForwardFn),
) {
    match (l.groups, io.aux.is_some()) {
        (1, false) => infer(l, io.x, p.weight, p.bias, io.y, scratch, io.n),
        (1, true) => train(l, p, io, scratch),
        _ => forward(l, p, io, scratch, train),
    }
}

/// The layer `l` with one group: the kernel every group runs.
const fn one_group(l: &Conv) -> Conv {
    Conv { groups: 1, ..*l }
}

/// Checks the whole layer's parameter buffers.
fn check_params(l: &Conv, w: &[f32], bias: Option<usize>) {
    check_len("conv weight", w.len(), l.weight_len());
    if let Some(len) = bias {
        check_len("conv bias", len, l.out_channels());
    }
}

/// Runs `one` on every group of every sample of a forward call.
pub(crate) fn forward(l: &Conv, p: Params, io: Forward, scratch: &mut [f32], one: ForwardFn) {
    let group = one_group(l);
    let (il, ol, wl, k) = (
        l.geom.in_len(),
        group.out_len(),
        l.geom.weight_len(),
        l.geom.k,
    );
    let Forward { x, y, mut aux, n } = io;
    check_len("conv input", x.len(), n * l.in_len());
    check_len("conv output", y.len(), n * l.out_len());
    if let Some(a) = &aux {
        check_len("conv aux", a.len(), n * l.out_len());
    }
    check_params(l, p.weight, p.bias.map(<[f32]>::len));
    for s in 0..n {
        for gi in 0..l.groups {
            let (at_x, at_y) = ((s * l.groups + gi) * il, (s * l.groups + gi) * ol);
            let params = Params {
                weight: &p.weight[gi * wl..][..wl],
                bias: p.bias.map(|b| &b[gi * k..][..k]),
            };
            let io = Forward {
                x: &x[at_x..][..il],
                y: &mut y[at_y..][..ol],
                aux: aux.as_deref_mut().map(|a| &mut a[at_y..][..ol]),
                n: 1,
            };
            one(&group, params, io, scratch);
        }
    }
}

/// Runs `one` on every group of every sample of a backward call.
pub(crate) fn backward(
    l: &Conv,
    w: &[f32],
    io: Backward,
    grads: Grads,
    scratch: &mut [f32],
    one: BackwardFn,
) {
    let group = one_group(l);
    let (il, ol, wl, k) = (
        l.geom.in_len(),
        group.out_len(),
        l.geom.weight_len(),
        l.geom.k,
    );
    let Backward {
        x,
        y,
        aux,
        dy,
        mut dx,
        n,
    } = io;
    let Grads {
        weight: mut dw,
        bias: mut db,
    } = grads;
    check_len("conv input", x.len(), n * l.in_len());
    check_len("conv output gradient", dy.len(), n * l.out_len());
    if let Some(dx) = &dx {
        check_len("conv input gradient", dx.len(), n * l.in_len());
    }
    if let Some(dw) = &dw {
        check_len("conv weight gradient", dw.len(), l.weight_len());
    }
    check_params(l, w, db.as_deref().map(<[f32]>::len));
    for s in 0..n {
        for gi in 0..l.groups {
            let (at_x, at_y) = ((s * l.groups + gi) * il, (s * l.groups + gi) * ol);
            let io = Backward {
                x: &x[at_x..][..il],
                y: y.map(|y| &y[at_y..][..ol]),
                aux: aux.map(|a| &a[at_y..][..ol]),
                dy: &mut dy[at_y..][..ol],
                dx: dx.as_deref_mut().map(|d| &mut d[at_x..][..il]),
                n: 1,
            };
            let grads = Grads {
                weight: dw.as_deref_mut().map(|d| &mut d[gi * wl..][..wl]),
                bias: db.as_deref_mut().map(|d| &mut d[gi * k..][..k]),
            };
            one(&group, &w[gi * wl..][..wl], io, grads, scratch);
        }
    }
}
