//! The threads of a training session.
//!
//! A session with `t` threads owns `t - 1` helper threads, started once and
//! kept until it is dropped. The helpers share one value `S` with the
//! session (the buffers a step reads and writes, preallocated, behind
//! locks). [`Team::run`] hands every helper a plain function, which it calls
//! with `&S` and its part index (`1..t`), runs part 0 on the calling
//! thread and waits for all of them. Nothing borrowed from the caller
//! crosses to a helper: whatever a step needs is first copied into `S`.
//! Only a mutex and two condition variables change hands, so a step
//! allocates nothing; a shared thread pool could not promise that (rayon's
//! job queue for threads outside the pool allocates a new block every 63
//! jobs).

use std::boxed::Box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{Builder, JoinHandle};
use std::time::Instant;

use cnn_spec::tuning::{TEAM_POLL, TEAM_POLL_SPINS};
use std::vec::Vec;

use crate::error::Error;

/// A helper's part of a job: called with the shared value and the part index.
pub(super) type Job<S> = fn(&S, usize);

struct State<S> {
    /// Incremented for every job.
    generation: u64,
    job: Option<Job<S>>,
    /// Helpers that have not finished the current job.
    pending: usize,
    /// Whether a helper's part panicked.
    panicked: bool,
    exit: bool,
}

struct Shared<S> {
    state: Mutex<State<S>>,
    start: Condvar,
    done: Condvar,
    /// Copies of `generation` and `pending` (written under the lock), which
    /// a waiting thread polls for a moment before it sleeps on a condition
    /// variable: between the steps of a training loop, the next job comes
    /// sooner than a sleeping thread could be woken.
    generation: AtomicU64,
    pending: AtomicUsize,
    data: S,
}

/// Polls `ready` for up to [`TEAM_POLL`].
fn spin_until(ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > TEAM_POLL {
            return;
        }
        for _ in 0..TEAM_POLL_SPINS {
            std::hint::spin_loop();
        }
    }
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, State<S>> {
        // A poisoned lock only means a job panicked, which `panicked` reports.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Helper threads for parts `1..=helpers` of each job, sharing an `S`.
pub(super) struct Team<S: Send + Sync + 'static> {
    shared: Arc<Shared<S>>,
    handles: Vec<JoinHandle<()>>,
}

impl<S: Send + Sync + 'static> Team<S> {
    /// Starts `helpers` threads sharing `data` and waits until each is
    /// ready, so that nothing of their start-up (which allocates) overlaps
    /// a later job. If a thread cannot be started, those already started
    /// are stopped and joined, and the error says how many started.
    pub(super) fn new(helpers: usize, data: S) -> Result<Team<S>, Error> {
        Self::start(helpers, data, |builder, f| builder.spawn(f))
    }

    /// As [`Team::new`], starting each thread with `spawn`.
    fn start(
        helpers: usize,
        data: S,
        mut spawn: impl FnMut(Builder, Box<dyn FnOnce() + Send>) -> std::io::Result<JoinHandle<()>>,
    ) -> Result<Team<S>, Error> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                generation: 0,
                job: None,
                pending: 0,
                panicked: false,
                exit: false,
            }),
            start: Condvar::new(),
            done: Condvar::new(),
            generation: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            data,
        });
        let mut team = Team {
            shared,
            handles: Vec::with_capacity(helpers),
        };
        for part in 1..=helpers {
            let shared = team.shared.clone();
            let builder = Builder::new().name(format!("cnn-train-{part}"));
            match spawn(builder, Box::new(move || helper(&shared, part))) {
                Ok(handle) => team.handles.push(handle),
                Err(e) => {
                    // Dropping the team stops and joins the threads started.
                    let started = team.handles.len();
                    drop(team);
                    return Err(Error::Threads {
                        threads: helpers + 1,
                        message: format!(
                            "the training thread {} of {} did not start ({started} helpers \
                             had started): {e}",
                            part + 1,
                            helpers + 1
                        ),
                    });
                }
            }
        }
        team.run(|_, _| {}, || {});
        Ok(team)
    }

    /// The value shared with the helpers.
    pub(super) fn data(&self) -> &S {
        &self.shared.data
    }

    /// Runs `job(data, 1)`..`job(data, helpers)` on the helpers and `here`
    /// on the calling thread (as part 0), in parallel, and returns when all
    /// have finished. A panic in any part is re-raised here once every part
    /// has stopped.
    pub(super) fn run<R>(&self, job: Job<S>, here: impl FnOnce() -> R) -> R {
        if self.handles.is_empty() {
            return here();
        }
        {
            let mut s = self.shared.lock();
            s.generation += 1;
            s.job = Some(job);
            s.pending = self.handles.len();
            self.shared.pending.store(s.pending, Ordering::Release);
            self.shared
                .generation
                .store(s.generation, Ordering::Release);
        }
        self.shared.start.notify_all();

        /// Blocks until every helper has finished, even while part 0
        /// unwinds: a helper still running must not see the next job's
        /// state.
        struct Wait<'a, S>(&'a Shared<S>);
        impl<S> Drop for Wait<'_, S> {
            fn drop(&mut self) {
                spin_until(|| self.0.pending.load(Ordering::Acquire) == 0);
                let mut s = self.0.lock();
                while s.pending > 0 {
                    s = self.0.done.wait(s).unwrap_or_else(|e| e.into_inner());
                }
                s.job = None;
            }
        }
        let wait = Wait(&self.shared);
        let r = here();
        drop(wait);
        let panicked = std::mem::take(&mut self.shared.lock().panicked);
        if panicked {
            panic!("a training thread panicked");
        }
        r
    }
}

fn helper<S>(shared: &Shared<S>, part: usize) {
    let mut seen = 0;
    loop {
        spin_until(|| shared.generation.load(Ordering::Acquire) != seen);
        let job = {
            let mut s = shared.lock();
            while s.generation == seen && !s.exit {
                s = shared.start.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            if s.exit {
                return;
            }
            seen = s.generation;
            s.job
        };
        let ok = match job {
            Some(f) => catch_unwind(AssertUnwindSafe(|| f(&shared.data, part))).is_ok(),
            None => true,
        };
        let mut s = shared.lock();
        s.panicked |= !ok;
        s.pending -= 1;
        shared.pending.store(s.pending, Ordering::Release);
        if s.pending == 0 {
            shared.done.notify_one();
        }
    }
}

impl<S: Send + Sync + 'static> Drop for Team<S> {
    fn drop(&mut self) {
        self.shared.lock().exit = true;
        self.shared.start.notify_all();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    type Hits = Vec<AtomicUsize>;

    fn hits(n: usize) -> Hits {
        (0..n).map(|_| AtomicUsize::new(0)).collect()
    }

    fn hit(h: &Hits, part: usize) {
        h[part].fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn every_part_runs_once_per_job() {
        let team = Team::new(3, hits(4)).unwrap();
        for _ in 0..100 {
            team.run(hit, || hit(team.data(), 0));
        }
        for h in team.data() {
            assert_eq!(h.load(Ordering::SeqCst), 100);
        }
    }

    #[test]
    fn parts_see_what_the_caller_put_in_the_shared_value() {
        let team = Team::new(2, (Mutex::new(0usize), hits(3))).unwrap();
        for round in 1..=50 {
            *team.data().0.lock().unwrap() = round;
            team.run(
                |(value, seen), part| {
                    let v = *value.lock().unwrap();
                    seen[part].fetch_add(v, Ordering::SeqCst);
                },
                || (),
            );
        }
        let (_, seen) = team.data();
        assert_eq!(seen[0].load(Ordering::SeqCst), 0);
        for s in &seen[1..] {
            assert_eq!(s.load(Ordering::SeqCst), 50 * 51 / 2);
        }
    }

    #[test]
    fn run_returns_what_part_zero_returns() {
        let team = Team::new(1, ()).unwrap();
        assert_eq!(team.run(|_, _| {}, || 7), 7);
    }

    #[test]
    fn a_panicking_helper_is_reported_and_the_team_survives() {
        let team = Team::new(2, hits(3)).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| {
            team.run(|_, part| assert_ne!(part, 2, "part 2 fails"), || ());
        }));
        assert!(r.is_err());
        team.run(hit, || hit(team.data(), 0));
        for h in team.data() {
            assert_eq!(h.load(Ordering::SeqCst), 1);
        }
    }

    #[test]
    fn a_panicking_part_zero_waits_for_the_helpers() {
        let team = Team::new(1, hits(2)).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| {
            team.run(
                |h, part| {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    hit(h, part);
                },
                || panic!("part 0 fails"),
            );
        }));
        assert!(r.is_err());
        // The helper had finished before the panic left `run`.
        assert_eq!(team.data()[1].load(Ordering::SeqCst), 1);
    }

    #[test]
    fn dropping_the_team_joins_its_threads() {
        let data = Arc::new(());
        let team = Team::new(3, data.clone()).unwrap();
        team.run(|_, _| {}, || ());
        drop(team);
        // Every helper's reference to the shared value is gone.
        assert_eq!(Arc::strong_count(&data), 1);
    }

    #[test]
    fn a_thread_that_cannot_start_is_an_error_and_the_others_stop() {
        let data = Arc::new(());
        let mut started = 0;
        let r = Team::start(3, data.clone(), |builder, f| {
            started += 1;
            if started == 3 {
                Err(std::io::Error::other("out of memory (simulated)"))
            } else {
                builder.spawn(f)
            }
        });
        let Err(e) = r else {
            panic!("the third helper could not start")
        };
        let m = e.to_string();
        assert!(
            m.contains("could not start 4 threads")
                && m.contains("thread 4 of 4 did not start (2 helpers had started)")
                && m.contains("simulated"),
            "{m}"
        );
        // The two helpers that started have stopped and dropped their
        // reference to the shared value.
        assert_eq!(Arc::strong_count(&data), 1);
    }

    #[test]
    fn no_helpers_runs_part_zero_inline() {
        let team = Team::new(0, hits(1)).unwrap();
        team.run(|_, _| panic!("no helper exists"), || hit(team.data(), 0));
        assert_eq!(team.data()[0].load(Ordering::SeqCst), 1);
    }
}
