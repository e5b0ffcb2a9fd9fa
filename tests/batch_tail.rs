//! Batched inference through a batch tail: a network whose activations are
//! too large for several samples per sub-batch, and whose dense layers
//! read more than `BATCH_TAIL_MIN_PARAMS` weights, runs its dense layers
//! on groups of samples. The outputs are the same bits as one sample at a
//! time, on any number of threads and at any batch size.
//!
//! One test function: the thread count is global to the process.

use cnn::network::Network;
use cnn_spec::tuning::{BATCH_TAIL_MIN_PARAMS, CHUNK_FLOATS};

cnn::network! {
    /// 67,500 input floats (more than a sub-batch's budget: one sample per
    /// sub-batch), and a tail of 1,093,210 weights.
    struct Big {
        input: [3, 150, 150],
        conv1: conv(4, kernel = 5, stride = 5), relu, max_pool(2),
        flatten,
        fc1: dense(1200), relu,
        fc2: dense(10),
        softmax,
    }
}

// One sample per sub-batch.
const _: () = assert!(Big::ACTIVATION_LEN > CHUNK_FLOATS / 2);

fn input(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn a_batch_tail_gives_the_same_bits_as_one_sample_at_a_time() {
    let tail = Big::INFER.tail.expect("the network ends with dense layers");
    assert_eq!(Big::PLAN[tail.step].layers, "flatten1");
    assert_eq!(tail.params, 900 * 1200 + 1200 + 1200 * 10 + 10);
    assert!(tail.params >= BATCH_TAIL_MIN_PARAMS);

    let net = Big::new(cnn::Init::He, 3);
    let n = 7;
    let x = input(n * Big::INPUT_LEN);
    // One sample at a time, through the generated single-sample path.
    let alone: Vec<f32> = x
        .chunks(Big::INPUT_LEN)
        .flat_map(|s| net.predict(s.try_into().unwrap()))
        .collect();
    for threads in [1, 2, 3] {
        cnn::set_threads(threads).unwrap();
        for m in [1, 2, n] {
            let out = cnn::batch::predict(&net, &x[..m * Big::INPUT_LEN]).unwrap();
            assert_eq!(
                bits(&out),
                bits(&alone[..m * Big::OUTPUT_LEN]),
                "batch of {m} on {threads} threads"
            );
        }
    }
    cnn::set_threads(0).unwrap();
}
