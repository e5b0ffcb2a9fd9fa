//! LeNet-5 against the whole-network PyTorch reference
//! (`tests/data/reference/lenet5_forward_backward_sgd.json`).

mod common;

use common::Case;

cnn::network! {
    /// LeNet-5 returning logits, as the reference computes them.
    struct LeNet5 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
    }

    #[cnn(fuse = false)]
    struct LeNet5Unfused {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
    }
}

/// The reference's parameters in the network's layout (by `state_dict` name).
pub fn reference_weights(case: &Case, params: &[cnn::ParamInfo], total: usize) -> Vec<f32> {
    let mut w = vec![0.0; total];
    for p in params {
        assert_eq!(case.shape(p.name), p.shape, "{}", p.name);
        w[p.range()].copy_from_slice(case.get(p.name));
    }
    w
}

#[test]
fn forward_matches_pytorch() {
    let case = Case::load("lenet5_forward_backward_sgd");
    let w = reference_weights(&case, LeNet5::PARAMS, LeNet5::PARAM_COUNT);
    let fused = LeNet5::from_weights(w.clone()).unwrap();
    let unfused = LeNet5Unfused::from_weights(w).unwrap();
    case.check_in(
        "logits",
        "(fused, batch)",
        &fused.predict_batch(case.get("x")).unwrap(),
    );
    case.check_in(
        "logits",
        "(unfused, batch)",
        &unfused.predict_batch(case.get("x")).unwrap(),
    );
    for s in 0..4 {
        let x: &[f32; 784] = case.get("x")[s * 784..][..784].try_into().unwrap();
        let want = &case.get("logits")[s * 10..][..10];
        common::assert_close(
            "fused, one sample",
            &fused.predict(x),
            want,
            case.abs,
            case.rel,
        );
    }
}

#[test]
fn gradients_and_two_sgd_steps_match_pytorch() {
    use cnn::train::{Loss, Optimizer, TargetRef, TrainConfig, Trainer};
    let case = Case::load("lenet5_forward_backward_sgd");
    let sgd = &case.attrs["sgd"];
    let (lr, momentum, wd) = (
        sgd["lr"].as_f64().unwrap() as f32,
        sgd["momentum"].as_f64().unwrap() as f32,
        sgd["weight_decay"].as_f64().unwrap() as f32,
    );
    let labels: Vec<usize> = case.get("labels").iter().map(|&l| l as usize).collect();
    let n = labels.len();
    for fuse in [true, false] {
        let w = reference_weights(&case, LeNet5::PARAMS, LeNet5::PARAM_COUNT);
        let optimizer = Optimizer::Sgd {
            lr,
            momentum,
            weight_decay: wd,
            dampening: 0.0,
            nesterov: false,
        };
        for threads in [1, 2] {
            let config = TrainConfig::default()
                .optimizer(optimizer)
                .threads(threads)
                .loss(Loss::CrossEntropy);
            let what = format!("(fused {fuse}, {threads} threads)");
            if fuse {
                let mut net = LeNet5::from_weights(w.clone()).unwrap();
                let mut session = Trainer::new(config).session::<LeNet5>(n).unwrap();
                let sum = session
                    .compute_gradients(&net, case.get("x"), TargetRef::Classes(&labels), n)
                    .unwrap();
                case.check_in("loss", &what, &[(sum.loss / n as f64) as f32]);
                for p in LeNet5::PARAMS {
                    case.check_in(
                        &format!("grad.{}", p.name),
                        &what,
                        &session.gradients()[p.range()],
                    );
                }
                // The reference applies the same gradient twice.
                let grads = session.gradients().to_vec();
                let mut state = cnn::train::OptimizerState::new(optimizer, LeNet5::PARAM_COUNT);
                for _ in 0..2 {
                    state.step(
                        net.weights_mut(),
                        &grads,
                        lr,
                        std::slice::from_ref(&(0..LeNet5::PARAM_COUNT)),
                    );
                }
                for p in LeNet5::PARAMS {
                    case.check_in(
                        &format!("after_2_sgd_steps.{}", p.name),
                        &what,
                        &net.weights()[p.range()],
                    );
                }
                // A real step through the session moves the weights the
                // way one optimizer step on the same gradient does.
                let mut stepped = LeNet5::from_weights(w.clone()).unwrap();
                session
                    .step(&mut stepped, case.get("x"), TargetRef::Classes(&labels), n)
                    .unwrap();
                let mut once = LeNet5::from_weights(w.clone()).unwrap();
                cnn::train::OptimizerState::new(optimizer, LeNet5::PARAM_COUNT).step(
                    once.weights_mut(),
                    session.gradients(),
                    lr,
                    std::slice::from_ref(&(0..LeNet5::PARAM_COUNT)),
                );
                assert_eq!(stepped.weights(), once.weights(), "{what}");
            } else {
                let net = LeNet5Unfused::from_weights(w.clone()).unwrap();
                let mut session = Trainer::new(config).session::<LeNet5Unfused>(n).unwrap();
                session
                    .compute_gradients(&net, case.get("x"), TargetRef::Classes(&labels), n)
                    .unwrap();
                for p in LeNet5Unfused::PARAMS {
                    case.check_in(
                        &format!("grad.{}", p.name),
                        &what,
                        &session.gradients()[p.range()],
                    );
                }
            }
        }
    }
}
