//! Batched inference over NCHW batches of any size.

use std::vec::Vec;

use crate::error::Error;
use crate::layer_output::{LayerOutput, LayerOutputError};
use crate::network::{BatchTail, Network};
use crate::parallel;

use cnn_spec::tuning::{
    BATCH_TAIL_MIN_PARAMS, CHUNK_FLOATS, MAX_CHUNK_SAMPLES, MIN_MACS_PER_THREAD, TAIL_GROUP_FLOATS,
};

/// Runs `net` on every sample of `inputs` (`[n, INPUT_SHAPE...]`), writing
/// `outputs` (`[n, OUTPUT_SHAPE...]`).
///
/// Errors, without touching `outputs`, when `inputs` is not a whole number
/// of samples or `outputs` does not have room for exactly their results.
pub fn forward<N: Network>(net: &N, inputs: &[f32], outputs: &mut [f32]) -> Result<(), Error> {
    let n = check_batch::<N>(inputs)?;
    if outputs.len() != n * N::OUTPUT_LEN {
        return Err(Error::BatchLength {
            network: N::NAME,
            what: "output",
            len: outputs.len(),
            sample_len: N::OUTPUT_LEN,
            message: format!("does not hold the {n} outputs of the input batch"),
        });
    }
    let threads = if N::MACS.saturating_mul(n as u64) >= 2 * MIN_MACS_PER_THREAD {
        parallel::threads().min((N::MACS.saturating_mul(n as u64) / MIN_MACS_PER_THREAD) as usize)
    } else {
        1
    };
    let stop = Stop {
        last: usize::MAX,
        region: N::INFER.output,
        within: N::INFER.output,
        inner: None,
    };
    run_split::<N>(net.inference_weights(), inputs, outputs, n, threads, stop)
}

/// The outputs of the layer called `layer` for every sample of `inputs`
/// (`[n, INPUT_SHAPE...]`): `[n, the layer's output shape...]`, from the
/// inference plan run up to the step that computes the layer.
///
/// Any layer can be read. A layer inside a fused step (the conv or ReLU of
/// a fused conv→ReLU→max-pool, the dense layer of a fused dense→ReLU, a
/// batch normalisation folded into the layer before it), whose output
/// inference never stores, is computed from the step's input by the
/// unfused kernel, with the layer's own parameters: the values the same
/// network declared with `#[cnn(fuse = false)]` gives.
///
/// Errors if the batch is not whole or if the network has no such layer
/// ([`Error::UnknownLayer`], listing its layers).
pub fn activations<N: Network>(net: &N, layer: &str, inputs: &[f32]) -> Result<Vec<f32>, Error> {
    let n = check_batch::<N>(inputs)?;
    let stop = match locate::<N>(layer) {
        Ok(at) => Stop {
            last: at.step,
            region: at.region,
            within: at.within,
            inner: None,
        },
        Err(e @ Error::LayerNotStored { .. }) => {
            let i = N::layer_index(layer)?;
            let info = &N::LAYERS[i];
            // Computed from the step's input, when the step can.
            if !N::forward_inner(&[], &mut [], 0, i, &mut []) {
                return Err(e);
            }
            let len = info.output_shape.iter().product();
            Stop {
                last: info.step,
                region: (0, len),
                within: (0, len),
                inner: Some(i),
            }
        }
        Err(e) => return Err(e),
    };
    let mut out = vec![0.0; n * (stop.region.1 - stop.region.0)];
    let threads = if N::MACS.saturating_mul(n as u64) >= 2 * MIN_MACS_PER_THREAD {
        parallel::threads().min((N::MACS.saturating_mul(n as u64) / MIN_MACS_PER_THREAD) as usize)
    } else {
        1
    };
    run_split::<N>(net.inference_weights(), inputs, &mut out, n, threads, stop)?;
    Ok(out)
}

/// Where the output of `layer` is, as an [`Error`] naming the network if
/// it cannot be read.
pub fn locate<N: Network>(layer: &str) -> Result<LayerOutput, Error> {
    crate::layer_output::locate(N::LAYERS, N::PLAN, layer).map_err(|e| match e {
        LayerOutputError::Unknown => Error::UnknownLayer {
            network: N::NAME,
            name: layer.into(),
            layers: N::LAYERS.iter().map(|l| l.name).collect(),
        },
        LayerOutputError::InsideFusedStep { step } => Error::LayerNotStored {
            network: N::NAME,
            layer: layer.into(),
            step,
        },
    })
}

/// Where a pass stops: after step `last`, reading `region` (per sample)
/// of the per-sample copies of `within` (see [`LayerOutput::start`]); or,
/// with `inner`, before step `last`, computing that layer inside it
/// ([`Network::forward_inner`]; `region` is then `(0, its length)`).
#[derive(Clone, Copy)]
struct Stop {
    last: usize,
    region: (usize, usize),
    within: (usize, usize),
    inner: Option<usize>,
}

/// Runs the `n` samples of `inputs` on `threads` threads, each sample's
/// `stop.region` into `outputs`.
fn run_split<N: Network>(
    weights: &[f32],
    inputs: &[f32],
    outputs: &mut [f32],
    n: usize,
    threads: usize,
    stop: Stop,
) -> Result<(), Error> {
    let out_len = stop.region.1 - stop.region.0;
    if threads <= 1 {
        run_chunk::<N>(weights, inputs, outputs, n, stop);
        return Ok(());
    }
    let pool = parallel::pool(threads)?;
    pool.scope(|scope| {
        let mut rest_in = inputs;
        let mut rest_out = &mut *outputs;
        for range in parallel::split(n, threads) {
            let (xi, xr) = rest_in.split_at(range.len() * N::INPUT_LEN);
            let (yi, yr) = std::mem::take(&mut rest_out).split_at_mut(range.len() * out_len);
            rest_in = xr;
            rest_out = yr;
            scope.spawn(move |_| run_chunk::<N>(weights, xi, yi, range.len(), stop));
        }
    });
    Ok(())
}

/// Runs `net` on every sample of `inputs`, returning the outputs.
pub fn predict<N: Network>(net: &N, inputs: &[f32]) -> Result<Vec<f32>, Error> {
    let n = check_batch::<N>(inputs)?;
    let mut out = vec![0.0; n * N::OUTPUT_LEN];
    forward(net, inputs, &mut out)?;
    Ok(out)
}

/// The number of samples in `inputs`, or an error if it is not whole.
pub fn check_batch<N: Network>(inputs: &[f32]) -> Result<usize, Error> {
    if N::INPUT_LEN == 0 || !inputs.len().is_multiple_of(N::INPUT_LEN) {
        return Err(Error::BatchLength {
            network: N::NAME,
            what: "input",
            len: inputs.len(),
            sample_len: N::INPUT_LEN,
            message: format!(
                "is not a whole number of samples of shape {:?}",
                N::INPUT_SHAPE
            ),
        });
    }
    Ok(inputs.len() / N::INPUT_LEN)
}

std::thread_local! {
    /// Each thread's inference arena, kept between calls.
    static ARENA: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One thread's share: sub-batches through one arena (the thread's own,
/// kept between calls).
fn run_chunk<N: Network>(
    weights: &[f32],
    inputs: &[f32],
    outputs: &mut [f32],
    n: usize,
    stop: Stop,
) {
    ARENA.with(|cell| match cell.try_borrow_mut() {
        Ok(mut arena) => run_chunk_in::<N>(weights, inputs, outputs, n, stop, &mut arena),
        // Re-entered on this thread: use a fresh arena.
        Err(_) => run_chunk_in::<N>(weights, inputs, outputs, n, stop, &mut Vec::new()),
    })
}

fn run_chunk_in<N: Network>(
    weights: &[f32],
    inputs: &[f32],
    outputs: &mut [f32],
    n: usize,
    stop: Stop,
    arena: &mut Vec<f32>,
) {
    let layout = N::INFER;
    let per = (CHUNK_FLOATS / layout.act_len.max(1))
        .clamp(1, MAX_CHUNK_SAMPLES)
        .min(n.max(1));
    let need = per * layout.act_len + layout.scratch_len;
    if arena.len() < need {
        arena.resize(need, 0.0);
    }
    let arena = &mut arena[..need];
    if stop.last == usize::MAX && stop.inner.is_none() {
        if let Some(tail) = layout.tail.filter(|t| t.params >= BATCH_TAIL_MIN_PARAMS) {
            let group = (TAIL_GROUP_FLOATS / layout.act_len.max(1))
                .clamp(1, MAX_CHUNK_SAMPLES)
                .min(n);
            if group > per {
                run_with_tail::<N>(weights, inputs, outputs, n, (per, group), tail, arena);
                return;
            }
        }
    }
    let (i0, i1) = layout.input;
    let (o0, o1) = stop.region;
    let out_len = o1 - o0;
    let mut start = 0;
    while start < n {
        let m = per.min(n - start);
        arena[m * i0..m * i1]
            .copy_from_slice(&inputs[start * N::INPUT_LEN..(start + m) * N::INPUT_LEN]);
        // Offsets scale with the number of samples; the scratch is whatever
        // follows the first `m * act_len` floats.
        if let Some(layer) = stop.inner {
            if stop.last > 0 {
                N::forward_until(weights, arena, m, stop.last - 1);
            }
            let out = &mut outputs[start * out_len..(start + m) * out_len];
            let computed = N::forward_inner(weights, arena, m, layer, out);
            debug_assert!(computed, "checked by `activations`");
            start += m;
            continue;
        }
        if stop.last == usize::MAX {
            N::forward_arena(weights, arena, m);
        } else {
            N::forward_until(weights, arena, m, stop.last);
        }
        let out = &mut outputs[start * out_len..(start + m) * out_len];
        if stop.within == stop.region {
            out.copy_from_slice(&arena[m * o0..m * o1]);
        } else {
            // A slot of a concatenation: each sample's slot sits in its
            // copy of the concatenated value.
            let at = LayerOutput {
                layer: 0,
                step: stop.last,
                region: stop.region,
                within: stop.within,
            };
            for (s, sample) in out.chunks_exact_mut(out_len).enumerate() {
                let from = at.start(s, m);
                sample.copy_from_slice(&arena[from..from + out_len]);
            }
        }
        start += m;
    }
}

/// [`run_chunk_in`] for a network with a [`BatchTail`]: the steps before
/// the tail run `per` samples at a time in `arena` (sized for them);
/// their results are gathered `group` samples at a time into a group
/// arena, where the tail runs on the whole group. Every value is the same as with the plain
/// path: each kernel computes each sample alone, in the same order,
/// whatever the number of samples it is given.
fn run_with_tail<N: Network>(
    weights: &[f32],
    inputs: &[f32],
    outputs: &mut [f32],
    n: usize,
    (per, group): (usize, usize),
    tail: BatchTail,
    arena: &mut [f32],
) {
    let layout = N::INFER;
    // Zeroed, so that the pages the tail never touches are never mapped.
    let mut joint = vec![0.0f32; group * layout.act_len + layout.scratch_len];
    let (i0, i1) = layout.input;
    let (t0, t1) = tail.input;
    let (o0, o1) = layout.output;
    let (t_len, out_len) = (t1 - t0, o1 - o0);
    let mut start = 0;
    while start < n {
        let g = group.min(n - start);
        let mut at = 0;
        while at < g {
            let m = per.min(g - at);
            let first = start + at;
            arena[m * i0..m * i1]
                .copy_from_slice(&inputs[first * N::INPUT_LEN..(first + m) * N::INPUT_LEN]);
            if tail.step > 0 {
                N::forward_until(weights, arena, m, tail.step - 1);
            }
            joint[g * t0 + at * t_len..g * t0 + (at + m) * t_len]
                .copy_from_slice(&arena[m * t0..m * t1]);
            at += m;
        }
        N::forward_steps(weights, &mut joint, g, tail.step, usize::MAX);
        outputs[start * out_len..(start + g) * out_len].copy_from_slice(&joint[g * o0..g * o1]);
        start += g;
    }
}
