//! Batched inference over NCHW batches of any size.

use std::vec::Vec;

use crate::error::Error;
use crate::network::Network;
use crate::parallel;

use cnn_spec::tuning::{CHUNK_FLOATS, MAX_CHUNK_SAMPLES, MIN_MACS_PER_THREAD};

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
    let weights = net.weights();
    if threads <= 1 {
        run_chunk::<N>(weights, inputs, outputs, n);
        return Ok(());
    }
    let pool = parallel::pool(threads)?;
    pool.scope(|scope| {
        let mut rest_in = inputs;
        let mut rest_out = &mut *outputs;
        for range in parallel::split(n, threads) {
            let (xi, xr) = rest_in.split_at(range.len() * N::INPUT_LEN);
            let (yi, yr) = std::mem::take(&mut rest_out).split_at_mut(range.len() * N::OUTPUT_LEN);
            rest_in = xr;
            rest_out = yr;
            scope.spawn(move |_| run_chunk::<N>(weights, xi, yi, range.len()));
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
fn run_chunk<N: Network>(weights: &[f32], inputs: &[f32], outputs: &mut [f32], n: usize) {
    ARENA.with(|cell| match cell.try_borrow_mut() {
        Ok(mut arena) => run_chunk_in::<N>(weights, inputs, outputs, n, &mut arena),
        // Re-entered on this thread: use a fresh arena.
        Err(_) => run_chunk_in::<N>(weights, inputs, outputs, n, &mut Vec::new()),
    })
}

fn run_chunk_in<N: Network>(
    weights: &[f32],
    inputs: &[f32],
    outputs: &mut [f32],
    n: usize,
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
    let (i0, i1) = layout.input;
    let (o0, o1) = layout.output;
    let mut start = 0;
    while start < n {
        let m = per.min(n - start);
        arena[m * i0..m * i1]
            .copy_from_slice(&inputs[start * N::INPUT_LEN..(start + m) * N::INPUT_LEN]);
        // Offsets scale with the number of samples; the scratch is whatever
        // follows the first `m * act_len` floats.
        N::forward_arena(weights, arena, m);
        outputs[start * N::OUTPUT_LEN..(start + m) * N::OUTPUT_LEN]
            .copy_from_slice(&arena[m * o0..m * o1]);
        start += m;
    }
}
