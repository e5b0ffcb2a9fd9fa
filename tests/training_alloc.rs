//! Training allocates nothing per step after the first: a counting global
//! allocator sees zero allocations across `Session::step` calls 2..N, with
//! one and two threads, SGD and Adam, dropout, frozen layers and partial
//! batches. (A global allocator is per binary, hence this separate test.)
//!
//! The allocator counts every thread, since a session's helper threads
//! must not allocate either, so this test runs without the test harness
//! (`harness = false`): the process's only threads are this one and the
//! session's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cnn::train::{Optimizer, TargetRef, TrainConfig, Trainer};
use cnn::Init;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

cnn::network! {
    struct LeNet5 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        dropout(0.25),
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
    }

    #[cnn(fuse = false)]
    struct Mixed {
        input: [3, 12, 12],
        conv1: conv(8, kernel = 3, pad = 1), relu, avg_pool(2),
        conv2: conv(8, kernel = 3, stride = 2), sigmoid,
        flatten,
        fc1: dense(16), tanh,
        fc2: dense(4),
        sigmoid,
    }
}

/// Deterministic pseudo-random values in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Runs `steps` steps after a first one and returns the allocations seen
/// during steps 2..=steps.
fn count<N: cnn::Network>(
    net: &mut N,
    config: TrainConfig,
    batch: usize,
    targets: &dyn Fn(usize) -> Vec<TargetRefOwned>,
    steps: usize,
) -> usize {
    let x = values(batch * N::INPUT_LEN, 3);
    let t = targets(batch);
    let mut session = Trainer::new(config).session::<N>(batch).unwrap();
    let step = |session: &mut cnn::train::Session<N>, net: &mut N, i: usize| {
        // Alternate full and partial batches.
        let n = if i % 3 == 2 { batch - 1 } else { batch };
        let target = match &t[0] {
            TargetRefOwned::Classes(l) => TargetRef::Classes(&l[..n]),
            TargetRefOwned::Values(v, len) => TargetRef::Values(&v[..n * len]),
        };
        session
            .step(net, &x[..n * N::INPUT_LEN], target, n)
            .unwrap()
            .loss
    };
    let mut sum = step(&mut session, net, 0);
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for i in 1..steps {
        sum += step(&mut session, net, i);
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert!(sum.is_finite());
    after - before
}

enum TargetRefOwned {
    Classes(Vec<usize>),
    Values(Vec<f32>, usize),
}

fn main() {
    // The counter counts (so that the check below can fail).
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let v: Vec<u64> = std::hint::black_box(vec![1, 2, 3]);
    assert_eq!(v.len(), 3);
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst) - before, 1);
    drop(v);
    training_steps_allocate_nothing_after_the_first();
    println!("training steps allocate nothing after the first: ok");
}

fn training_steps_allocate_nothing_after_the_first() {
    let classes = |n: usize| vec![TargetRefOwned::Classes((0..n).map(|i| i % 10).collect())];
    let multi = |n: usize| {
        let v = values(n * 4, 9)
            .iter()
            .map(|&v| f32::from(v > 0.0))
            .collect();
        vec![TargetRefOwned::Values(v, 4)]
    };
    // More steps than rayon's injector holds per block (63), so a queue
    // that allocates now and then would be caught.
    let steps = 130;
    let mut failures = Vec::new();
    for threads in [1, 2] {
        for (name, opt) in [
            ("SGD", Optimizer::sgd(0.01, 0.9).with_weight_decay(1e-4)),
            ("Adam", Optimizer::adam(1e-3)),
        ] {
            let config = TrainConfig::default()
                .optimizer(opt)
                .threads(threads)
                .seed(1)
                .quiet();
            let mut lenet = LeNet5::new(Init::He, 1);
            let n = count(&mut lenet, config.clone(), 8, &classes, steps);
            if n > 0 {
                failures.push(format!("LeNet5, {name}, {threads} threads: {n}"));
            }
            let mut frozen = LeNet5::new(Init::He, 1);
            let n = count(
                &mut frozen,
                config.clone().freeze_first_convs(1),
                8,
                &classes,
                steps,
            );
            if n > 0 {
                failures.push(format!(
                    "LeNet5 (conv1 frozen), {name}, {threads} threads: {n}"
                ));
            }
            let mut mixed = Mixed::new(Init::Xavier, 2);
            let n = count(
                &mut mixed,
                config.loss(cnn::train::Loss::BinaryCrossEntropy),
                6,
                &multi,
                steps,
            );
            if n > 0 {
                failures.push(format!("Mixed, {name}, {threads} threads: {n}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "allocations in steps 2..={steps}: {failures:?}"
    );
}
