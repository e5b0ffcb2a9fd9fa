//! Reading a layer's output: every layer of an unfused network, and every
//! layer of a fused one (stored, or computed inside its fused step), merges,
//! block outputs and folded batch norms included, equal to the unfused
//! network's; single samples in an arena agree with batches; layers inside
//! fused steps (for the heap-free read) and unknown names are errors.

mod common;

use cnn::{Init, Network, ParamRole};
use common::random_vec;

cnn::network! {
    struct LeNet5 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
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
        softmax,
    }

    block inception(c1, c3r, c3, pp) = concat(
        branch1: [conv(c1, kernel = 1), relu],
        branch2: [conv(c3r, kernel = 1), relu, conv(c3, kernel = 3, pad = 1), relu],
        branch3: [max_pool(3, stride = 1, pad = 1), conv(pp, kernel = 1), relu],
    );

    block basic(planes) = [
        add([conv1: conv(planes, kernel = 3, pad = 1), relu, conv2: conv(planes, kernel = 3, pad = 1)], identity),
        relu,
    ];

    struct Branchy {
        input: [3, 10, 10],
        stem: conv(8, kernel = 3, pad = 1), relu, max_pool(2),
        inception3a: inception(4, 4, 6, 2),
        layer1: basic(12),
        global_avg_pool, flatten,
        fc: dense(5),
    }

    #[cnn(fuse = false)]
    struct BranchyUnfused {
        input: [3, 10, 10],
        stem: conv(8, kernel = 3, pad = 1), relu, max_pool(2),
        inception3a: inception(4, 4, 6, 2),
        layer1: basic(12),
        global_avg_pool, flatten,
        fc: dense(5),
    }
}

cnn::network! {
    struct Normed {
        input: [2, 9, 9],
        conv1: conv(5, kernel = 3, bias = false), batch_norm, relu, max_pool(2),
        conv2: conv(4, kernel = 3, pad = 1), batch_norm, relu,
        flatten,
        fc1: dense(7), batch_norm, relu,
        fc2: dense(3),
    }

    #[cnn(fuse = false)]
    struct NormedUnfused {
        input: [2, 9, 9],
        conv1: conv(5, kernel = 3, bias = false), batch_norm, relu, max_pool(2),
        conv2: conv(4, kernel = 3, pad = 1), batch_norm, relu,
        flatten,
        fc1: dense(7), batch_norm, relu,
        fc2: dense(3),
    }
}

cnn::network! {
    /// One of each fused kernel: a direct conv with an overlapping pool
    /// (a scratch plane), an im2col conv with a pool (a scratch band), a
    /// grouped conv fused with its ReLU, a dense layer fused with a sigmoid.
    #[cnn(fuse_overlapping = true)]
    struct Kinds {
        input: [3, 17, 17],
        conv1: conv(16, kernel = 3, pad = 1), relu, max_pool(3, stride = 2),
        conv2: conv(12, kernel = 3, pad = 1), relu, max_pool(2),
        conv3: conv(16, kernel = 3, pad = 1, groups = 4), relu,
        flatten,
        fc1: dense(10), sigmoid,
        fc2: dense(3),
    }

    #[cnn(fuse = false)]
    struct KindsUnfused {
        input: [3, 17, 17],
        conv1: conv(16, kernel = 3, pad = 1), relu, max_pool(3, stride = 2),
        conv2: conv(12, kernel = 3, pad = 1), relu, max_pool(2),
        conv3: conv(16, kernel = 3, pad = 1, groups = 4), relu,
        flatten,
        fc1: dense(10), sigmoid,
        fc2: dense(3),
    }
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

fn shape_len(n: &'static [usize]) -> usize {
    n.iter().product()
}

/// Every layer of the fused network, stored or inside a fused step,
/// agrees with the unfused network's output of that layer; returns how
/// many are inside fused steps.
fn fused_against_unfused<F: Network, U: Network>(fused: &F, unfused: &U, batch: usize) -> usize {
    assert_eq!(F::LAYERS.len(), U::LAYERS.len());
    let x = random_vec(batch * F::INPUT_LEN, 11);
    let mut inner = 0;
    for (l, u) in F::LAYERS.iter().zip(U::LAYERS) {
        assert_eq!(l.name, u.name);
        let want = cnn::batch::activations(unfused, u.name, &x).unwrap();
        assert_eq!(want.len(), batch * shape_len(u.output_shape), "{}", u.name);
        let got = cnn::batch::activations(fused, l.name, &x)
            .unwrap_or_else(|e| panic!("{}: {e}", l.name));
        close(&got, &want, l.name);
        if cnn::batch::locate::<F>(l.name).is_err() {
            inner += 1;
        }
    }
    // The last layer's output is the network's.
    let last = U::LAYERS.last().unwrap().name;
    close(
        &cnn::batch::activations(unfused, last, &x).unwrap(),
        &cnn::batch::predict(unfused, &x).unwrap(),
        "last layer",
    );
    inner
}

#[test]
fn lenet_layers_fused_and_unfused_agree() {
    let fused = LeNet5::new(Init::He, 3);
    let unfused = LeNet5Unfused::from_weights(fused.weights().to_vec()).unwrap();
    // 1 sample, and a batch large enough to be split across threads (and
    // into several arena chunks).
    for batch in [1, 3, 257] {
        // conv1, relu1, conv2, relu2, fc1, fc2 are inside fused steps.
        assert_eq!(fused_against_unfused(&fused, &unfused, batch), 6);
    }
    // conv1 is inside the fused conv1 + relu1 + max_pool1: computed, and
    // the conv's own output (negative values: before the ReLU).
    let x = random_vec(2 * 784, 12);
    let conv1 = fused.activations("conv1", &x).unwrap();
    let relu1 = fused.activations("relu1", &x).unwrap();
    assert_eq!(conv1.len(), 2 * 6 * 28 * 28);
    assert!(conv1.iter().any(|&v| v < 0.0));
    for (c, r) in conv1.iter().zip(&relu1) {
        assert_eq!(*r, c.max(0.0));
    }
    // Pooling relu1 gives max_pool1, as the fused kernel computes it.
    let pool = fused.activations("max_pool1", &x).unwrap();
    for s in 0..2 {
        for c in 0..6 {
            for (i, j) in (0..14).flat_map(|i| (0..14).map(move |j| (i, j))) {
                let at = |y: usize, x: usize| relu1[((s * 6 + c) * 28 + y) * 28 + x];
                let m = at(2 * i, 2 * j)
                    .max(at(2 * i, 2 * j + 1))
                    .max(at(2 * i + 1, 2 * j))
                    .max(at(2 * i + 1, 2 * j + 1));
                let got = pool[((s * 6 + c) * 14 + i) * 14 + j];
                assert!((got - m).abs() <= 1e-5 * (1.0 + m.abs()), "{got} vs {m}");
            }
        }
    }
}

#[test]
fn layers_inside_every_fused_kernel_match_the_unfused_network() {
    let kernels: Vec<&str> = Kinds::PLAN.iter().map(|s| s.kernel).collect();
    for k in ["(direct)", "(im2col+GEMM)", "4 groups", "max-pool"] {
        assert!(kernels.iter().any(|s| s.contains(k)), "{k} in {kernels:?}");
    }
    let fused = Kinds::new(Init::He, 5);
    let unfused = KindsUnfused::from_weights(fused.weights().to_vec()).unwrap();
    for batch in [1, 3] {
        // conv1, relu1, conv2, relu2, conv3, fc1.
        assert_eq!(fused_against_unfused(&fused, &unfused, batch), 6);
    }
}

/// Batch norms folded into the conv or dense layer before them, at
/// inference: every layer of the folded, fused network (the conv's own
/// output before the norm, the norm's, the ReLU's before the pool) equals
/// the unfused network's, which runs the norm on its running statistics.
#[test]
fn folded_batch_norm_layers_match_the_unfused_network() {
    let mut w = Normed::new(Init::He, 21).weights().to_vec();
    // Running statistics away from 0 and 1, so that folding matters.
    for (k, p) in Normed::PARAMS.iter().enumerate() {
        let r = random_vec(p.range().len(), 30 + k as u64);
        let v = &mut w[p.range()];
        let positive = p.role == ParamRole::Scale || p.name.ends_with("running_var");
        if positive {
            for (v, r) in v.iter_mut().zip(&r) {
                *v = 0.5 + r.abs();
            }
        } else if matches!(p.role, ParamRole::Shift | ParamRole::Bias)
            || p.name.ends_with("running_mean")
        {
            v.copy_from_slice(&r);
        }
    }
    let fused = Normed::from_weights(w.clone()).unwrap();
    let unfused = NormedUnfused::from_weights(w).unwrap();
    assert!(Normed::PLAN
        .iter()
        .any(|s| s.layers == "conv1 + batch_norm1 + relu1 + max_pool1"));
    for batch in [1, 5] {
        // conv1, batch_norm1, relu1, conv2, batch_norm2, fc1, batch_norm3.
        assert_eq!(fused_against_unfused(&fused, &unfused, batch), 7);
    }
}

#[test]
fn unfused_layers_compose_as_they_should() {
    let net = LeNet5Unfused::new(Init::He, 4);
    let x = random_vec(2 * 784, 5);
    let get = |name| net.activations(name, &x).unwrap();
    // relu1 = max(0, conv1); flatten1 = max_pool2; fc1's input is flatten1.
    let conv1 = get("conv1");
    let relu1 = get("relu1");
    assert!(conv1.iter().any(|&v| v < 0.0));
    for (c, r) in conv1.iter().zip(&relu1) {
        assert_eq!(*r, c.max(0.0));
    }
    assert_eq!(get("flatten1"), get("max_pool2"));
    // fc1 = W · flatten1 + b, by hand.
    let p = |name: &str| {
        let t = LeNet5Unfused::PARAMS
            .iter()
            .find(|p| p.name == name)
            .unwrap();
        &net.weights()[t.range()]
    };
    let (w, b, flat, fc1) = (p("fc1.weight"), p("fc1.bias"), get("flatten1"), get("fc1"));
    for s in 0..2 {
        for o in 0..120 {
            let dot: f32 = (0..400).map(|i| w[o * 400 + i] * flat[s * 400 + i]).sum();
            let want = dot + b[o];
            assert!((fc1[s * 120 + o] - want).abs() < 1e-4 * (1.0 + want.abs()));
        }
    }
}

#[test]
fn block_outputs_and_branches() {
    let fused = Branchy::new(Init::He, 7);
    let unfused = BranchyUnfused::from_weights(fused.weights().to_vec()).unwrap();
    for batch in [1, 4] {
        // The stem's conv and relu, and each branch conv's output.
        assert!(fused_against_unfused(&fused, &unfused, batch) >= 6);
    }
    let x = random_vec(2 * Branchy::INPUT_LEN, 8);
    let concat = fused.activations("inception3a.concat1", &x).unwrap();
    assert_eq!(concat.len(), 2 * 12 * 5 * 5);
    // The concatenation is branch1, branch2, branch3 along channels.
    let b2 = fused.activations("inception3a.branch2.3", &x).unwrap();
    assert_eq!(&concat[4 * 25..10 * 25], &b2[..6 * 25]);
    let block = fused.activations("layer1.relu2", &x).unwrap();
    assert!(block.iter().all(|&v| v >= 0.0));
}

#[test]
fn one_sample_in_an_arena_matches_the_batch() {
    let net = LeNet5::new(Init::He, 9);
    let x: [f32; 784] = random_vec(784, 10).try_into().unwrap();
    let mut arena = LeNet5Arena::new();
    for layer in LeNet5::LAYERS {
        let batch = net.activations(layer.name, &x);
        let one = net.infer_layer(&x, layer.name, &mut arena);
        match (batch, one) {
            (Ok(b), Ok(o)) => assert_eq!(b, o, "{}", layer.name),
            // Inside a fused step: computed for a batch, no room in the
            // arena for the heap-free read.
            (Ok(_), Err(cnn::layer_output::LayerOutputError::InsideFusedStep { step })) => {
                assert!(
                    step.contains(layer.name) && !step.ends_with(layer.name),
                    "{step}"
                );
            }
            (b, o) => panic!("{}: {b:?} / {o:?}", layer.name),
        }
    }
    let e = net.infer_layer(&x, "conv1", &mut arena).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the layer is computed inside the fused step `conv1 + relu1 + max_pool1`, which stores \
         only the output of its last layer; read that layer, use `activations` (which computes \
         it from the step's input), or declare the network with #[cnn(fuse = false)] to store \
         every layer's output"
    );
    // The arena still runs whole inferences afterwards.
    assert_eq!(net.infer(&x, &mut arena), net.predict(&x));
    assert_eq!(
        net.infer_layer(&x, "fc9", &mut arena),
        Err(cnn::layer_output::LayerOutputError::Unknown)
    );
}

#[test]
fn bad_names_and_batches_are_errors() {
    let net = LeNet5::new(Init::He, 1);
    let e = net.activations("fc9", &[0.0; 784]).unwrap_err().to_string();
    assert!(
        e.starts_with("LeNet5 has no layer `fc9` (its layers: conv1, relu1, max_pool1"),
        "{e}"
    );
    let e = net.activations("fc2", &[0.0; 700]).unwrap_err().to_string();
    assert!(
        e.contains("input of length 700 is not a whole number of samples"),
        "{e}"
    );
    assert_eq!(net.activations("relu4", &[]).unwrap(), Vec::<f32>::new());
}
