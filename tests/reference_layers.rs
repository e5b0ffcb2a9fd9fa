//! Every layer kernel against the PyTorch reference vectors in
//! `tests/data/reference`, forward and backward, on every SIMD level this
//! machine runs and with every convolution algorithm that applies.

mod common;

use cnn::ops::{
    self, Act, Backward, Conv, ConvAlgo, ConvGeom, Dense, Forward, Grads, Params, PoolGeom,
};
use cnn::simd::{self, Level};
use common::Case;
use std::sync::Mutex;

/// Tests that force a SIMD level take this lock so they do not race.
static LEVEL: Mutex<()> = Mutex::new(());

fn each_level(mut f: impl FnMut(Level)) {
    let _guard = LEVEL.lock().unwrap_or_else(|e| e.into_inner());
    for level in simd::available_levels() {
        simd::force(level).unwrap();
        f(level);
    }
    simd::force(simd::best_available()).unwrap();
}

fn conv_case(name: &str) {
    let case = Case::load(name);
    let xs = case.shape("x");
    let ws = case.shape("weight");
    let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let (k, kh, kw) = (ws[0], ws[2], ws[3]);
    let stride = case.attr_pair("stride");
    let pad = case.attr_pair("padding");
    // Grouped cases: the geometry is one group's.
    let groups = case.attrs["groups"].as_u64().unwrap_or(1) as usize;
    let geom = ConvGeom::new(c / groups, h, w, k / groups, (kh, kw), stride, pad);
    let mut algos = vec![ConvAlgo::Direct, ConvAlgo::Im2col];
    if kh == 1 && kw == 1 && stride == (1, 1) && pad == (0, 0) {
        algos.push(ConvAlgo::Pointwise);
    }
    each_level(|level| {
        for &algo in &algos {
            let layer = Conv {
                geom,
                algo,
                act: Act::Identity,
                pool: None,
                bias: true,
                groups,
            };
            let what = format!("{level:?} {algo:?}");
            let mut scratch = vec![
                0.0;
                ops::conv::forward_scratch(&layer)
                    .max(ops::conv::backward_scratch(&layer))
            ];
            let mut y = vec![0.0; n * layer.out_len()];
            ops::conv::forward(
                &layer,
                Params {
                    weight: case.get("weight"),
                    bias: Some(case.get("bias")),
                },
                Forward {
                    x: case.get("x"),
                    y: &mut y,
                    aux: None,
                    n,
                },
                &mut scratch,
            );
            case.check_in("y", &what, &y);
            let mut dy = case.get("dy").to_vec();
            let mut dx = vec![f32::NAN; n * layer.in_len()];
            let mut dw = vec![0.0; layer.weight_len()];
            let mut db = vec![0.0; k];
            ops::conv::backward(
                &layer,
                case.get("weight"),
                Backward {
                    x: case.get("x"),
                    y: None,
                    aux: None,
                    dy: &mut dy,
                    dx: Some(&mut dx),
                    n,
                },
                Grads {
                    weight: Some(&mut dw),
                    bias: Some(&mut db),
                },
                &mut scratch,
            );
            case.check_in("dx", &what, &dx);
            case.check_in("dweight", &what, &dw);
            case.check_in("dbias", &what, &db);
        }
    });
}

#[test]
fn conv2d_groups2() {
    conv_case("conv2d_groups2");
}

#[test]
fn conv2d_groups2_alexnet_s2() {
    conv_case("conv2d_groups2_alexnet_s2");
}

#[test]
fn conv2d_3x3_s1_p1() {
    conv_case("conv2d_3x3_s1_p1");
}

#[test]
fn conv2d_3x3_s2_p0() {
    conv_case("conv2d_3x3_s2_p0");
}

#[test]
fn conv2d_1x1() {
    conv_case("conv2d_1x1");
}

#[test]
fn conv2d_5x5_s1_p2_lenet() {
    conv_case("conv2d_5x5_s1_p2_lenet");
}

#[test]
fn conv2d_11x11_s4_alexnet() {
    conv_case("conv2d_11x11_s4_alexnet");
}

fn pool_case(name: &str, max: bool) {
    let case = Case::load(name);
    let xs = case.shape("x");
    let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let ceil = case.attrs["ceil_mode"].as_bool().unwrap_or(false);
    let new = if ceil {
        PoolGeom::new_ceil
    } else {
        PoolGeom::new
    };
    let g = new(
        c,
        h,
        w,
        case.attr_pair("size"),
        case.attr_pair("stride"),
        case.attr_pair("padding"),
    );
    each_level(|level| {
        let mut y = vec![0.0; n * g.out_len()];
        let mut dx = vec![f32::NAN; n * g.in_len()];
        let dy = case.get("dy");
        if max {
            let mut argmax = vec![0u8; n * g.out_len()];
            ops::pool::max_forward(&g, case.get("x"), &mut y, Some(&mut argmax), n);
            ops::pool::max_backward(&g, &argmax, dy, &mut dx, n);
        } else {
            ops::pool::avg_forward(&g, case.get("x"), &mut y, n);
            ops::pool::avg_backward(&g, dy, &mut dx, n);
        }
        case.check_in("y", &format!("{level:?}"), &y);
        case.check_in("dx", &format!("{level:?}"), &dx);
    });
}

#[test]
fn max_pool_3x3_s2_ceil() {
    pool_case("max_pool_3x3_s2_ceil", true);
}

#[test]
fn avg_pool_3x3_s2_p1_ceil() {
    pool_case("avg_pool_3x3_s2_p1_ceil", false);
}

#[test]
fn max_pool_2x2_s2() {
    pool_case("max_pool_2x2_s2", true);
}

#[test]
fn max_pool_3x3_s1_p1() {
    pool_case("max_pool_3x3_s1_p1", true);
}

#[test]
fn max_pool_3x3_s2_overlap() {
    pool_case("max_pool_3x3_s2_overlap", true);
}

#[test]
fn avg_pool_2x2_s2() {
    pool_case("avg_pool_2x2_s2", false);
}

#[test]
fn global_avg_pool_7x7() {
    pool_case("global_avg_pool_7x7", false);
}

fn activation_case(name: &str, act: Act) {
    let case = Case::load(name);
    each_level(|level| {
        let x = case.get("x");
        let mut y = vec![0.0; x.len()];
        let mut mask = vec![0u8; x.len()];
        ops::activation::forward(act, x, &mut y, Some(&mut mask));
        case.check_in("y", &format!("{level:?}"), &y);
        let mut dx = vec![0.0; x.len()];
        ops::activation::backward(act, Some(&y), Some(&mask), case.get("dy"), &mut dx);
        case.check_in("dx", &format!("{level:?}"), &dx);
    });
}

#[test]
fn relu() {
    activation_case("relu", Act::Relu);
}

#[test]
fn sigmoid() {
    activation_case("sigmoid", Act::Sigmoid);
}

#[test]
fn tanh() {
    activation_case("tanh", Act::Tanh);
}

fn dense_case(name: &str) {
    let case = Case::load(name);
    let ws = case.shape("weight");
    let (o, i) = (ws[0], ws[1]);
    let n = case.shape("x")[0];
    let layer = Dense {
        inputs: i,
        outputs: o,
        act: Act::Identity,
        bias: true,
    };
    each_level(|level| {
        let mut y = vec![0.0; n * o];
        ops::dense::forward(
            &layer,
            Params {
                weight: case.get("weight"),
                bias: Some(case.get("bias")),
            },
            Forward {
                x: case.get("x"),
                y: &mut y,
                aux: None,
                n,
            },
        );
        case.check_in("y", &format!("{level:?}"), &y);
        let mut dy = case.get("dy").to_vec();
        let (mut dx, mut dw, mut db) = (vec![f32::NAN; n * i], vec![0.0; o * i], vec![0.0; o]);
        ops::dense::backward(
            &layer,
            case.get("weight"),
            Backward {
                x: case.get("x"),
                y: None,
                aux: None,
                dy: &mut dy,
                dx: Some(&mut dx),
                n,
            },
            Grads {
                weight: Some(&mut dw),
                bias: Some(&mut db),
            },
        );
        case.check_in("dx", &format!("{level:?}"), &dx);
        case.check_in("dweight", &format!("{level:?}"), &dw);
        case.check_in("dbias", &format!("{level:?}"), &db);
    });
}

#[test]
fn dense_7_3() {
    dense_case("dense_7_3");
}

#[test]
fn dense_400_120() {
    dense_case("dense_400_120");
}

#[test]
fn softmax_probabilities() {
    let case = Case::load("softmax_ce_10");
    let n = case.shape("logits")[0];
    let mut p = vec![0.0; n * 10];
    ops::softmax::forward(10, case.get("logits"), &mut p, n);
    case.check("probs", &p);
}

#[test]
fn batch_norm2d() {
    use ops::batch_norm::{
        self, Affine, BackwardIo, BatchNorm, Running, RunningMut, Stats, TrainIo,
    };
    use ops::Grads;
    let case = Case::load("batch_norm2d");
    let xs = case.shape("x");
    let (n, c, hw) = (xs[0], xs[1], xs[2] * xs[3]);
    let momentum = case.attrs["momentum"].as_f64().unwrap() as f32;
    let eps = case.attrs["eps"].as_f64().unwrap() as f32;
    let (gamma, beta) = (case.get("gamma"), case.get("beta"));
    let mut y = vec![0.0; n * c * hw];
    let mut xhat = vec![0.0; n * c * hw];
    let mut stats = vec![0.0; batch_norm::stats_len(c)];
    let mut rm = case.get("running_mean").to_vec();
    let mut rv = case.get("running_var").to_vec();
    let mut batches = [0.0f32];
    let layer = BatchNorm {
        channels: c,
        hw,
        eps,
        momentum,
    };
    batch_norm::forward_train_alone(
        &layer,
        Affine { gamma, beta },
        TrainIo {
            x: case.get("x"),
            y: &mut y,
            xhat: &mut xhat,
            n,
        },
        &mut stats,
        RunningMut {
            mean: &mut rm,
            var: &mut rv,
            batches: &mut batches,
        },
    );
    case.check("y_train", &y);
    case.check("running_mean_after", &rm);
    case.check("running_var_after", &rv);
    assert_eq!(batches, [1.0]);
    let (mut dx, mut dg, mut db) = (vec![0.0; n * c * hw], vec![0.0; c], vec![0.0; c]);
    batch_norm::backward(
        &layer,
        gamma,
        BackwardIo {
            xhat: &xhat,
            dy: case.get("dy"),
            dx: Some(&mut dx),
            n,
        },
        Grads {
            weight: Some(&mut dg),
            bias: Some(&mut db),
        },
        Stats {
            values: &mut stats,
            reduce: &cnn::layout::OnePart,
            at: 0,
        },
    );
    case.check("dx", &dx);
    case.check("dgamma", &dg);
    case.check("dbeta", &db);
    // Inference with the running statistics given as inputs.
    batch_norm::forward_eval(
        &layer,
        Affine { gamma, beta },
        Running {
            mean: case.get("running_mean"),
            var: case.get("running_var"),
        },
        case.get("x"),
        &mut y,
        n,
    );
    case.check("y_eval", &y);
}

cnn::network! {
    /// The ceil-mode cases as layers of networks: the generated code must
    /// keep the partial last window (8x8 -> 4x4, and 6x6 -> 4x4 with
    /// padding 1), fused with nothing and in the training pass too.
    struct CeilMax {
        input: [3, 8, 8],
        max_pool(3, stride = 2, ceil_mode = true), flatten,
    }
    struct CeilAvg {
        input: [2, 6, 6],
        avg_pool(3, stride = 2, pad = 1, ceil_mode = true), flatten,
    }
}

#[test]
fn ceil_mode_pools_in_networks() {
    use cnn::network::Network;
    fn check<N: Network>(name: &str, net: &N) {
        let case = Case::load(name);
        let y = cnn::batch::predict(net, case.get("x")).unwrap();
        case.check_in("y", "(network)", &y);
    }
    check("max_pool_3x3_s2_ceil", &CeilMax::new(cnn::Init::He, 1));
    check("avg_pool_3x3_s2_p1_ceil", &CeilAvg::new(cnn::Init::He, 1));
}
