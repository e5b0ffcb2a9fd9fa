//! Batch normalisation in `network!` networks, against PyTorch
//! (`tests/data/reference/bn_net_train_step.json`, made by
//! `tests/data/pytorch/make_reference_bn_net.py`): a training step with the
//! batch's statistics over every thread's part, the running statistics it
//! leaves, inference with them, frozen layers; gradients against central
//! differences.

mod common;

use cnn::network::Network;
use cnn::train::{Loss, Optimizer, TargetRef, TrainConfig, Trainer};
use common::{grad, random_vec, Case};

cnn::network! {
    /// The reference network: batch norm over the channels of a conv
    /// without bias, and over the features of a dense layer.
    struct BnNet {
        input: [2, 6, 6],
        conv1: conv(4, kernel = 3, bias = false), bn1: batch_norm, relu, max_pool(2),
        flatten,
        fc1: dense(6), bn2: batch_norm(eps = 1e-3, momentum = 0.2), relu,
        fc2: dense(3),
    }

    #[cnn(fuse = false)]
    struct BnNetUnfused {
        input: [2, 6, 6],
        conv1: conv(4, kernel = 3, bias = false), bn1: batch_norm, relu, max_pool(2),
        flatten,
        fc1: dense(6), bn2: batch_norm(eps = 1e-3, momentum = 0.2), relu,
        fc2: dense(3),
    }

    /// Smooth activations around the batch norms: no kinks for the finite
    /// differences to straddle.
    struct SmoothBn {
        input: [3, 5, 5],
        conv1: conv(4, kernel = 3, pad = 1), bn1: batch_norm, tanh,
        conv2: conv(5, kernel = 3, stride = 2), bn2: batch_norm(momentum = 0.5), sigmoid,
        flatten,
        fc1: dense(7), bn3: batch_norm, tanh,
        fc2: dense(4),
        softmax,
    }
}

/// The reference's tensors (prefix `""`, `"after_step."`, ...) in the
/// network's layout, by `state_dict` name.
fn reference_weights<N: Network>(case: &Case, prefix: &str) -> Vec<f32> {
    let mut w = vec![0.0; N::PARAM_COUNT];
    for p in N::PARAMS {
        let name = format!("{prefix}{}", p.name);
        assert_eq!(case.shape(&name), p.shape, "{name}");
        w[p.range()].copy_from_slice(case.get(&name));
    }
    w
}

fn labels(case: &Case) -> Vec<usize> {
    case.get("labels").iter().map(|&l| l as usize).collect()
}

fn sgd(case: &Case) -> Optimizer {
    let lr = case.attrs["sgd"]["lr"].as_f64().unwrap() as f32;
    Optimizer::sgd(lr, 0.0)
}

#[test]
fn tensors_follow_pytorch_names_and_roles() {
    let names: Vec<_> = BnNet::PARAMS.iter().map(|p| (p.name, p.shape)).collect();
    let want: [(&str, &[usize]); 13] = [
        ("conv1.weight", &[4, 2, 3, 3]),
        ("bn1.weight", &[4]),
        ("bn1.bias", &[4]),
        ("bn1.running_mean", &[4]),
        ("bn1.running_var", &[4]),
        ("bn1.num_batches_tracked", &[]),
        ("fc1.weight", &[6, 16]),
        ("fc1.bias", &[6]),
        ("bn2.weight", &[6]),
        ("bn2.bias", &[6]),
        ("bn2.running_mean", &[6]),
        ("bn2.running_var", &[6]),
        ("bn2.num_batches_tracked", &[]),
    ];
    for (name, shape) in want {
        assert!(
            names.contains(&(name, shape)),
            "{name} {shape:?} not in {names:?}"
        );
    }
    // Freshly made, the buffers hold PyTorch's initial values.
    let net = BnNet::new(cnn::Init::He, 1);
    let tensor = |name: &str| {
        let p = BnNet::PARAMS.iter().find(|p| p.name == name).unwrap();
        net.weights()[p.range()].to_vec()
    };
    assert_eq!(tensor("bn1.weight"), [1.0; 4]);
    assert_eq!(tensor("bn1.bias"), [0.0; 4]);
    assert_eq!(tensor("bn1.running_mean"), [0.0; 4]);
    assert_eq!(tensor("bn1.running_var"), [1.0; 4]);
    assert_eq!(tensor("bn1.num_batches_tracked"), [0.0]);
    let text = BnNet::summary().to_string();
    assert!(text.contains("bn1 (BatchNormalization)"), "{text}");
}

#[test]
fn a_training_step_matches_pytorch() {
    let case = Case::load("bn_net_train_step");
    let labels = labels(&case);
    let n = labels.len();
    let x = case.get("x");
    for threads in [1, 2, 3] {
        let config = TrainConfig::default()
            .optimizer(sgd(&case))
            .threads(threads)
            .loss(Loss::CrossEntropy);
        let what = format!("({threads} threads)");

        let mut net = BnNet::from_weights(reference_weights::<BnNet>(&case, "")).unwrap();
        let mut session = Trainer::new(config.clone()).session::<BnNet>(n).unwrap();
        let sum = session
            .compute_gradients(&net, x, TargetRef::Classes(&labels), n)
            .unwrap();
        case.check_in("loss", &what, &[(sum.loss / n as f64) as f32]);
        for p in BnNet::PARAMS.iter().filter(|p| p.role.is_trained()) {
            case.check_in(
                &format!("grad.{}", p.name),
                &what,
                &session.gradients()[p.range()],
            );
        }
        session
            .step(&mut net, x, TargetRef::Classes(&labels), n)
            .unwrap();
        // Trained tensors moved by the gradient; running mean and unbiased
        // running variance moved by the momentum; one more batch counted.
        for p in BnNet::PARAMS {
            case.check_in(
                &format!("after_step.{}", p.name),
                &what,
                &net.weights()[p.range()],
            );
        }
        // Inference uses the running statistics.
        case.check_in("eval_logits", &what, &net.predict_batch(x).unwrap());

        let mut unfused =
            BnNetUnfused::from_weights(reference_weights::<BnNetUnfused>(&case, "")).unwrap();
        let mut session = Trainer::new(config).session::<BnNetUnfused>(n).unwrap();
        session
            .step(&mut unfused, x, TargetRef::Classes(&labels), n)
            .unwrap();
        for p in BnNetUnfused::PARAMS {
            case.check_in(
                &format!("after_step.{}", p.name),
                &format!("(unfused, {threads} threads)"),
                &unfused.weights()[p.range()],
            );
        }
        case.check_in(
            "eval_logits",
            &format!("(unfused, {threads} threads)"),
            &unfused.predict_batch(x).unwrap(),
        );
    }
}

#[test]
fn frozen_batch_norm_still_normalises_with_the_batch() {
    // PyTorch with `requires_grad` off on bn1 and fc1, in training mode:
    // the frozen layers keep their weights, use the batch's statistics,
    // update their running statistics, and pass the gradient down to conv1.
    let case = Case::load("bn_net_train_step");
    let labels = labels(&case);
    let n = labels.len();
    let x = case.get("x");
    for threads in [1, 2] {
        let config = TrainConfig::default()
            .optimizer(sgd(&case))
            .threads(threads)
            .freeze(["bn1", "fc1"]);
        let what = format!("(frozen, {threads} threads)");
        let mut net = BnNet::from_weights(reference_weights::<BnNet>(&case, "")).unwrap();
        let mut session = Trainer::new(config).session::<BnNet>(n).unwrap();
        session
            .step(&mut net, x, TargetRef::Classes(&labels), n)
            .unwrap();
        for p in BnNet::PARAMS {
            if p.role.is_trained()
                && !matches!(p.name, s if s.starts_with("bn1.") || s.starts_with("fc1."))
            {
                case.check_in(
                    &format!("frozen.grad.{}", p.name),
                    &what,
                    &session.gradients()[p.range()],
                );
            }
            case.check_in(
                &format!("frozen.after_step.{}", p.name),
                &what,
                &net.weights()[p.range()],
            );
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    // Every tensor of three batch norms (over channels, strided, over
    // features), the convolutions and dense layers around them.
    let x = random_vec(5 * SmoothBn::INPUT_LEN, 31);
    let net = SmoothBn::new(cnn::Init::He, 32);
    let checked = grad::check(&net, &x, &[0, 3, 1, 2, 1], Loss::CrossEntropy, 6, 1e-2);
    assert!(checked > 60, "{checked}");
    // With ReLU and max pooling, smaller steps.
    let case = Case::load("bn_net_train_step");
    let net = BnNetUnfused::from_weights(reference_weights::<BnNetUnfused>(&case, "")).unwrap();
    let checked = grad::check(
        &net,
        case.get("x"),
        &labels(&case),
        Loss::CrossEntropy,
        6,
        1e-3,
    );
    assert!(checked > 40, "{checked}");
}

#[test]
fn threads_see_the_whole_batch() {
    // A batch split over 1, 2 or 4 threads trains to the same weights and
    // running statistics: each part normalises with the whole batch's
    // statistics, not its own.
    let n = 16;
    let x = random_vec(n * SmoothBn::INPUT_LEN, 41);
    let labels: Vec<usize> = (0..n).map(|i| i % 4).collect();
    let data = cnn::Dataset::classification(x, &[3, 5, 5], labels, 4).unwrap();
    let train = |threads| {
        let mut net = SmoothBn::new(cnn::Init::He, 42);
        let config = TrainConfig::default()
            .epochs(3)
            .batch_size(8)
            .optimizer(Optimizer::sgd(0.05, 0.9))
            .threads(threads)
            .quiet();
        Trainer::new(config).fit(&mut net, &data, None).unwrap();
        net
    };
    let one = train(1);
    for threads in [2, 4] {
        let many = train(threads);
        common::assert_close(
            &format!("weights after 6 steps, 1 vs {threads} threads"),
            many.weights(),
            one.weights(),
            1e-5,
            1e-4,
        );
    }
    let p = SmoothBn::PARAMS
        .iter()
        .find(|p| p.name == "bn2.num_batches_tracked")
        .unwrap();
    assert_eq!(one.weights()[p.range()], [6.0]);
}

cnn::network! {
    /// The reference network after its step, as PyTorch saved it
    /// (`make_bn_net_file.py`), compiled in: both batch norms are folded
    /// into the layer before them at compile time.
    #[cnn(weights = "tests/data/pytorch/bn_net.safetensors")]
    struct BnNetEmbedded {
        input: [2, 6, 6],
        conv1: conv(4, kernel = 3, bias = false), bn1: batch_norm, relu, max_pool(2),
        flatten,
        fc1: dense(6), bn2: batch_norm(eps = 1e-3, momentum = 0.2), relu,
        fc2: dense(3),
    }
}

#[test]
fn inference_folds_batch_norm_into_the_layer_before() {
    // conv1 → bn1 runs as one convolution with a bias, fused with the ReLU
    // and the pooling; fc1 → bn2 as one dense layer.
    let kernels: Vec<_> = BnNet::PLAN.iter().map(|s| s.kernel).collect();
    assert!(
        kernels
            .iter()
            .any(|k| k.starts_with("conv+batch-norm→ReLU→max-pool")),
        "{kernels:?}"
    );
    assert!(
        kernels
            .iter()
            .any(|k| k.starts_with("dense+batch-norm→ReLU")),
        "{kernels:?}"
    );
    assert!(
        !BnNetUnfused::PLAN
            .iter()
            .any(|s| s.kernel.contains("+batch-norm")),
        "unfused networks keep their batch norm steps"
    );
    // The folded tensors follow the trained ones: conv1's weight [4, 2, 3, 3]
    // and a bias [4], fc1's weight [6, 16] and bias [6].
    assert_eq!(
        BnNet::INFER_PARAM_COUNT,
        BnNet::PARAM_COUNT + 72 + 4 + 96 + 6
    );
    assert_eq!(BnNetUnfused::INFER_PARAM_COUNT, BnNetUnfused::PARAM_COUNT);
}

#[test]
fn folded_inference_follows_changed_weights() {
    let case = Case::load("bn_net_train_step");
    let x = case.get("x");
    let mut net = BnNet::from_weights(reference_weights::<BnNet>(&case, "")).unwrap();
    let unfused =
        BnNetUnfused::from_weights(reference_weights::<BnNetUnfused>(&case, "after_step."))
            .unwrap();
    let before = net.predict_batch(x).unwrap();
    // Folded once, then the weights change under it: the next inference
    // folds again.
    net.weights_mut()
        .copy_from_slice(&reference_weights::<BnNet>(&case, "after_step."));
    let after = net.predict_batch(x).unwrap();
    assert_ne!(before, after);
    case.check_in("eval_logits", "(folded after weights_mut)", &after);
    common::assert_close(
        "folded vs unfused",
        &after,
        &unfused.predict_batch(x).unwrap(),
        1e-5,
        1e-5,
    );
    // So does a load.
    let mut loaded = BnNet::from_weights(reference_weights::<BnNet>(&case, "")).unwrap();
    loaded.predict_batch(x).unwrap();
    loaded
        .load_safetensors(common::data_dir().join("pytorch/bn_net.safetensors"))
        .unwrap();
    assert_eq!(loaded.predict_batch(x).unwrap(), after);
}

#[test]
fn compiled_in_batch_norm_is_folded_at_compile_time() {
    let case = Case::load("bn_net_train_step");
    let x = case.get("x");
    let embedded = BnNetEmbedded::embedded();
    let loaded =
        BnNet::from_safetensors(common::data_dir().join("pytorch/bn_net.safetensors")).unwrap();
    assert_eq!(embedded.weights(), loaded.weights());
    // The same folding at compile time and at run time.
    assert_eq!(embedded.inference_weights(), loaded.inference_weights());
    let logits = embedded.predict_batch(x).unwrap();
    case.check_in("eval_logits", "(compiled in)", &logits);
    let one: &[f32; BnNetEmbedded::INPUT_LEN] = x[..BnNetEmbedded::INPUT_LEN].try_into().unwrap();
    assert_eq!(embedded.predict(one), logits[..3]);
}

cnn::network! {
    /// Batch norm over the channels of 4x4 images only: a single image
    /// still gives it 16 values per channel.
    struct ConvBnOnly {
        input: [1, 4, 4],
        conv1: conv(2, kernel = 3, pad = 1), bn1: batch_norm, relu,
        flatten,
        fc: dense(2),
    }
}

fn bn_data(n: usize) -> cnn::Dataset {
    let x = random_vec(n * SmoothBn::INPUT_LEN, 5);
    cnn::Dataset::classification(x, &[3, 5, 5], (0..n).map(|i| i % 4).collect(), 4).unwrap()
}

fn fit_smooth(batch: usize, data: &cnn::Dataset) -> cnn::Result<cnn::train::History> {
    let config = TrainConfig::default()
        .epochs(2)
        .batch_size(batch)
        .optimizer(Optimizer::sgd(0.01, 0.0))
        .quiet();
    Trainer::new(config).fit(&mut SmoothBn::new(cnn::Init::He, 1), data, None)
}

#[test]
fn one_sample_per_batch_is_refused_before_training() {
    // bn3 normalises 7 features over the batch: one sample gives each a
    // single value, variance 0.
    let err = fit_smooth(1, &bn_data(8)).unwrap_err().to_string();
    assert!(
        err.contains("batch norm `bn3`") && err.contains("1 sample(s)"),
        "{err}"
    );
    let mut session = Trainer::new(TrainConfig::default())
        .session::<SmoothBn>(4)
        .unwrap();
    let x = random_vec(SmoothBn::INPUT_LEN, 6);
    let err = session
        .step(
            &mut SmoothBn::new(cnn::Init::He, 1),
            &x,
            TargetRef::Classes(&[0]),
            1,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch norm `bn3`"), "{err}");
    // Over the channels of 4x4 images, one image gives 16 values per
    // channel: allowed, with the small-batch warning.
    let data =
        cnn::Dataset::classification(random_vec(48, 7), &[1, 4, 4], vec![0, 1, 0], 2).unwrap();
    let config = TrainConfig::default().epochs(1).batch_size(1).quiet();
    let history = Trainer::new(config)
        .fit(&mut ConvBnOnly::new(cnn::Init::He, 1), &data, None)
        .unwrap();
    assert_eq!(history.warnings.len(), 1, "{:?}", history.warnings);
}

#[test]
fn small_batches_get_a_warning() {
    let threshold = cnn::train::BATCH_NORM_MIN_BATCH;
    let small = fit_smooth(threshold - 1, &bn_data(40)).unwrap();
    assert_eq!(small.warnings.len(), 1, "{:?}", small.warnings);
    assert!(
        small.warnings[0].contains(&format!("batches of {}", threshold - 1)),
        "{}",
        small.warnings[0]
    );
    let enough = fit_smooth(threshold, &bn_data(40)).unwrap();
    assert!(enough.warnings.is_empty(), "{:?}", enough.warnings);
    // A network without batch norm trains on any batch size, silently.
    let data =
        cnn::Dataset::classification(random_vec(48, 7), &[1, 4, 4], vec![0, 1, 0], 2).unwrap();
    cnn::network! { struct Plain { input: [1, 4, 4], flatten, fc: dense(2) } }
    let config = TrainConfig::default().epochs(1).batch_size(1).quiet();
    let history = Trainer::new(config)
        .fit(&mut Plain::new(cnn::Init::He, 1), &data, None)
        .unwrap();
    assert!(history.warnings.is_empty());
}

#[test]
fn a_last_minibatch_of_one_sample_sits_the_epoch_out() {
    // 33 samples in batches of 16: steps of 16, 16 and 1; the single
    // sample would give bn3 one value per feature, so it is left out.
    let history = fit_smooth(16, &bn_data(33)).unwrap();
    assert_eq!(history.epochs.len(), 2);
    assert!(history.epochs.iter().all(|e| e.train_loss.is_finite()));
}
