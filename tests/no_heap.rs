//! Single-sample inference allocates nothing: a counting global allocator
//! sees zero allocations across `predict` and `infer` calls.
//!
//! Only the allocations of the thread that runs the inference are counted:
//! the test harness's own threads allocate when they please (reporting,
//! timing out slow tests), and a loaded machine changes when that is.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Allocations of this thread while `COUNTING` is set. Both are
    /// const-initialised without destructors, so reading them inside the
    /// allocator allocates nothing.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count_one() {
    // `try_with`: during thread teardown the slots may be gone.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn allocations_of(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(|n| n.get())
}

// SAFETY: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
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
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
    }

    #[cnn(fuse = false)]
    struct Wide {
        input: [12, 16, 16],
        conv(16, kernel = 3, pad = 1), relu, max_pool(2),
        conv(8, kernel = 1), sigmoid,
        global_avg_pool, flatten, dense(4), softmax,
    }

    /// LeNet-5 int8, the quantized weights compiled in.
    #[cnn(weights = "examples/firmware/lenet5_int8.safetensors", dtype = "int8")]
    struct LeNet5Int8 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
    }
}

#[test]
fn inference_allocates_nothing() {
    let net = LeNet5::new(cnn::Init::He, 5);
    let wide = Wide::new(cnn::Init::He, 5);
    let x = [0.25f32; 784];
    let xw = [0.5f32; 12 * 16 * 16];
    let mut arena = LeNet5Arena::new();
    let mut wide_arena = WideArena::new();
    // Warm up anything lazily initialised (SIMD level detection).
    let _ = net.predict(&x);
    let _ = wide.predict(&xw);
    let weights: &[f32; LeNet5::PARAM_COUNT] = net.weights().try_into().unwrap();
    let mut sum = 0.0;
    let allocations = allocations_of(|| {
        for _ in 0..100 {
            sum += net.predict(&x)[3];
            sum += net.infer(&x, &mut arena)[7];
            sum += LeNet5::infer_with(weights, &x, &mut arena)[1];
            sum += wide.infer(&xw, &mut wide_arena)[0];
            sum += wide.predict(&xw)[2];
            sum += net.infer_layer(&x, "max_pool2", &mut arena).unwrap()[5];
            sum += net.infer_layer(&x, "relu4", &mut arena).unwrap()[0];
        }
    });
    assert!(sum.is_finite());
    assert_eq!(allocations, 0, "inference allocated {allocations} times");
}

#[test]
fn int8_inference_allocates_nothing() {
    let net = LeNet5Int8::embedded();
    let x = [0.25f32; 784];
    let mut arena = LeNet5Int8Arena::new();
    let _ = net.predict(&x);
    let mut sum = 0.0;
    let allocations = allocations_of(|| {
        for _ in 0..100 {
            sum += net.predict(&x)[3];
            sum += net.infer(&x, &mut arena)[7];
            *LeNet5Int8::input_mut(&mut arena) = [-3; 784];
            sum += f32::from(net.infer_int8(&mut arena)[2]);
        }
    });
    assert!(sum.is_finite());
    assert_eq!(
        allocations, 0,
        "int8 inference allocated {allocations} times"
    );
}

/// The counter sees this thread's allocations (so the test above can fail).
#[test]
fn the_counter_counts() {
    let n = allocations_of(|| {
        let v: Vec<u64> = std::hint::black_box(vec![1, 2, 3]);
        assert_eq!(v.len(), 3);
    });
    assert_eq!(n, 1);
}
