//! Threads: the pool of batched inference, and the split of a batch into
//! contiguous per-thread chunks (used by batched inference and training).
//!
//! Training does not use the pool: a training session keeps its own
//! threads (see `train::team`), so that its steps allocate nothing.

use std::sync::{Arc, Mutex, OnceLock};

/// 0 = not set: use every core.
static THREADS: Mutex<usize> = Mutex::new(0);

/// The pool last built, and its thread count.
type Pool = Option<(usize, Arc<rayon::ThreadPool>)>;
static POOL: OnceLock<Mutex<Pool>> = OnceLock::new();

/// Sets the number of threads batched inference uses (0 = one per core).
/// Training takes its own count from its configuration.
pub fn set_threads(n: usize) {
    *THREADS.lock().unwrap_or_else(|e| e.into_inner()) = n;
}

/// The number of threads batched inference uses.
pub fn threads() -> usize {
    match *THREADS.lock().unwrap_or_else(|e| e.into_inner()) {
        0 => available(),
        n => n,
    }
}

/// Cores available to this process.
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A pool of `n` threads (built once per distinct count and kept).
pub fn pool(n: usize) -> Arc<rayon::ThreadPool> {
    let cell = POOL.get_or_init(|| Mutex::new(None));
    let mut guard = cell.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((count, pool)) = guard.as_ref() {
        if *count == n {
            return pool.clone();
        }
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .thread_name(|i| format!("cnn-{i}"))
            .build()
            .expect("building a thread pool"),
    );
    *guard = Some((n, pool.clone()));
    pool
}

/// Splits `n` items into at most `parts` contiguous, nearly equal ranges.
pub fn split(n: usize, parts: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    let base = n / parts;
    let extra = n % parts;
    (0..parts).map(move |i| {
        let start = i * base + i.min(extra);
        start..start + base + usize::from(i < extra)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn split_covers_everything_once() {
        let ranges: Vec<_> = super::split(10, 3).collect();
        assert_eq!(ranges, [0..4, 4..7, 7..10]);
        assert_eq!(super::split(2, 4).count(), 2);
        assert_eq!(super::split(0, 2).collect::<Vec<_>>(), vec![0..0]);
    }
}
