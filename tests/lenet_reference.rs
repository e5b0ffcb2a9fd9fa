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
