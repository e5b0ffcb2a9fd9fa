//! Threads: the pool of batched inference, and the split of a batch into
//! contiguous per-thread chunks (used by batched inference and training).
//!
//! Training does not use the pool: a training session keeps its own
//! threads (see `train::team`), so that its steps allocate nothing.

use std::sync::{Arc, Mutex, OnceLock};

use crate::error::Error;

/// 0 = not set: use every core.
static THREADS: Mutex<usize> = Mutex::new(0);

/// Thread counts may ask for up to this many threads per core (see
/// [`max_threads`]).
pub const THREADS_PER_CORE: usize = 4;

/// Thread counts may ask for at least this many threads, whatever the
/// number of cores (see [`max_threads`]).
pub const MIN_THREAD_LIMIT: usize = 16;

/// The most threads a thread count may ask for:
/// [`THREADS_PER_CORE`] per core, and at least [`MIN_THREAD_LIMIT`]. More
/// threads than cores only share them; far more than that is a mistake
/// (and may fail to start under a memory limit).
pub fn max_threads() -> usize {
    available()
        .saturating_mul(THREADS_PER_CORE)
        .max(MIN_THREAD_LIMIT)
}

/// Checks a thread count (0 = one per core) against [`max_threads`]; the
/// message names `what` and the allowed range.
pub fn check_threads(what: &str, threads: usize) -> Result<(), Error> {
    let max = max_threads();
    if threads <= max {
        return Ok(());
    }
    Err(Error::Config {
        message: format!(
            "{what} must be in [0, {max}], found {threads} (0 means one per core; the limit is \
             {THREADS_PER_CORE} per core, at least {MIN_THREAD_LIMIT}, and this machine has {} \
             core{})",
            available(),
            if available() == 1 { "" } else { "s" }
        ),
    })
}

/// The pool last built, and its thread count.
type Pool = Option<(usize, Arc<rayon::ThreadPool>)>;
static POOL: OnceLock<Mutex<Pool>> = OnceLock::new();

/// Sets the number of threads batched inference uses (0 = one per core).
/// Training takes its own count from its configuration.
///
/// Errors ([`Error::Config`]), changing nothing, if `n` is above
/// [`max_threads`].
pub fn set_threads(n: usize) -> Result<(), Error> {
    check_threads("the number of inference threads", n)?;
    *THREADS.lock().unwrap_or_else(|e| e.into_inner()) = n;
    Ok(())
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
///
/// Errors if `n` is above [`max_threads`] ([`Error::Config`]) or the
/// threads cannot be started ([`Error::Threads`]).
pub fn pool(n: usize) -> Result<Arc<rayon::ThreadPool>, Error> {
    check_threads("the number of threads", n)?;
    let cell = POOL.get_or_init(|| Mutex::new(None));
    let mut guard = cell.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((count, pool)) = guard.as_ref() {
        if *count == n {
            return Ok(pool.clone());
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n.max(1))
        .thread_name(|i| format!("cnn-{i}"))
        .build()
        .map_err(|e| Error::Threads {
            threads: n,
            message: e.to_string(),
        })?;
    let pool = Arc::new(pool);
    *guard = Some((n, pool.clone()));
    Ok(pool)
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
    fn thread_counts_above_the_limit_are_errors() {
        let max = crate::parallel::max_threads();
        assert!(max >= crate::parallel::MIN_THREAD_LIMIT);
        let m = crate::parallel::check_threads("the number of threads", 10_000)
            .unwrap_err()
            .to_string();
        assert!(
            m.contains(&format!("must be in [0, {max}], found 10000")),
            "{m}"
        );
        assert!(crate::parallel::check_threads("threads", max).is_ok());
        assert!(crate::parallel::pool(max + 1).is_err());
    }

    #[test]
    fn split_covers_everything_once() {
        let ranges: Vec<_> = crate::parallel::split(10, 3).collect();
        assert_eq!(ranges, [0..4, 4..7, 7..10]);
        assert_eq!(crate::parallel::split(2, 4).count(), 2);
        assert_eq!(crate::parallel::split(0, 2).collect::<Vec<_>>(), vec![0..0]);
    }
}
