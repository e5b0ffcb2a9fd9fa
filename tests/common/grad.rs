//! Gradients of whole networks: analytic (generated backward pass) and
//! numeric (central differences), for the gradient-check tests.

use cnn::network::{Network, StepContext, TrainBuffers};
use cnn::train::{LogitsRef, Loss, TargetRef};

/// The mean loss over the batch and its gradient with respect to every
/// parameter, through the generated training passes.
pub fn analytic<N: Network>(
    net: &N,
    x: &[f32],
    labels: &[usize],
    loss: Loss,
    seed: u64,
) -> (f64, Vec<f32>) {
    let n = labels.len();
    let len = N::logits_len();
    let mut buffers = TrainBuffers::new::<N>(n);
    let trainable = vec![true; N::LAYERS.len()];
    let ctx = StepContext::new(&trainable, N::LAYERS, seed);
    let mut logits = vec![0.0; n * len];
    let mut dlogits = vec![0.0; n * len];
    N::forward_train(
        net.weights(),
        x,
        &mut logits,
        n,
        buffers.arena::<N>(n),
        &ctx,
    );
    let sum = loss.forward_backward(
        N::HEAD,
        LogitsRef { z: &logits, n, len },
        TargetRef::Classes(labels),
        1.0 / n as f32,
        &mut dlogits,
    );
    let mut grads = vec![0.0; N::PARAM_COUNT];
    N::backward(
        net.weights(),
        x,
        &mut dlogits,
        n,
        buffers.arena::<N>(n),
        &mut grads,
        &ctx,
    );
    (sum.loss / n as f64, grads)
}

/// The mean loss of the training forward pass with parameters `w`.
pub fn loss_at<N: Network>(w: &[f32], x: &[f32], labels: &[usize], loss: Loss, seed: u64) -> f64 {
    let n = labels.len();
    let len = N::logits_len();
    let mut buffers = TrainBuffers::new::<N>(n);
    let trainable = vec![true; N::LAYERS.len()];
    let ctx = StepContext::new(&trainable, N::LAYERS, seed);
    let mut logits = vec![0.0; n * len];
    let mut scratch = vec![0.0; n * len];
    N::forward_train(w, x, &mut logits, n, buffers.arena::<N>(n), &ctx);
    loss.forward_backward(
        N::HEAD,
        LogitsRef { z: &logits, n, len },
        TargetRef::Classes(labels),
        1.0,
        &mut scratch,
    )
    .loss
        / n as f64
}

/// Checks the analytic gradient of every parameter tensor against central
/// differences (step `rel_step * max(|w|, 0.1)`) at up to `per_tensor`
/// positions each. Returns the number of positions checked.
pub fn check<N: Network>(
    net: &N,
    x: &[f32],
    labels: &[usize],
    loss: Loss,
    per_tensor: usize,
    rel_step: f32,
) -> usize {
    let seed = 99;
    let (_, grads) = analytic(net, x, labels, loss, seed);
    let mut w = net.weights().to_vec();
    let mut checked = 0;
    for p in N::PARAMS {
        let step = (p.len / per_tensor).max(1);
        for i in (p.offset..p.offset + p.len).step_by(step).take(per_tensor) {
            let orig = w[i];
            let h = rel_step * orig.abs().max(0.1);
            let at = |w: &mut Vec<f32>, v: f32| {
                w[i] = v;
                loss_at::<N>(w, x, labels, loss, seed)
            };
            let up = at(&mut w, orig + h);
            let down = at(&mut w, orig - h);
            let mid = at(&mut w, orig);
            let h = h as f64;
            // The f32 forward pass rounds the loss to a few ulp.
            let noise = 8.0 * f32::EPSILON as f64 * mid.abs() / h;
            // Central difference; where a ReLU or max-pool kink lies within
            // ±h, one of the one-sided differences still sees a straight line.
            let estimates = [(up - down) / (2.0 * h), (up - mid) / h, (mid - down) / h];
            let analytic = grads[i] as f64;
            let ok = estimates.iter().any(|&e| {
                (e - analytic).abs() <= 2e-4 + noise + 1e-2 * e.abs().max(analytic.abs())
            });
            assert!(
                ok,
                "{}: {} [{}]: analytic {analytic:.6e}, numeric (central, forward, backward) {estimates:?}",
                N::NAME,
                p.name,
                i - p.offset
            );
            checked += 1;
        }
    }
    checked
}

/// Central differences of the f32 loss with h = 1e-2 against `analytic`
/// (2e-4 absolute plus 1% relative, the error budget of
/// `input_gradients.rs`); one-sided ones where a ReLU or max-pool kink lies within
/// ±h. `loss(h)` is the loss with the value moved by `h`, `mid` the
/// loss unmoved. Returns whether `analytic` is clearly non-zero (above
/// 1e-3), so that a caller can check that its cases were not all zero.
pub fn check_difference(what: &str, analytic: f32, mid: f64, loss: impl Fn(f32) -> f64) -> bool {
    let h = 1e-2;
    let (up, down) = (loss(h), loss(-h));
    let h = f64::from(h);
    let estimates = [(up - down) / (2.0 * h), (up - mid) / h, (mid - down) / h];
    let analytic = f64::from(analytic);
    let close = |e: f64| (e - analytic).abs() <= 2e-4 + 1e-2 * e.abs().max(analytic.abs());
    assert!(
        estimates.iter().any(|&e| close(e)),
        "{what}: analytic {analytic:.6e}, numeric (central, forward, backward) {estimates:?}"
    );
    analytic.abs() > 1e-3
}
