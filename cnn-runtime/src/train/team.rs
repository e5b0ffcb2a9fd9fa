//! The threads of a training session.
//!
//! A session with `t` threads owns `t - 1` helper threads, started once and
//! kept until it is dropped. [`Team::run`] hands the same job to every
//! helper (part `1..t`), runs part 0 on the calling thread and waits for
//! all of them. Only a mutex and two condition variables change hands, so
//! a step allocates nothing; a shared thread pool could not promise that
//! (rayon's job queue for threads outside the pool allocates a new block
//! every 63 jobs).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::vec::Vec;

/// A job: called once with each part index.
type JobFn<'a> = dyn Fn(usize) + Sync + 'a;

/// A job whose lifetime has been erased; see [`Team::run`] for why it
/// stays valid while helpers hold it.
#[derive(Clone, Copy)]
struct JobPtr(*const JobFn<'static>);

// SAFETY: the pointee is `Sync` (`JobFn` requires it), so calling it from
// another thread is sound; the pointer itself is only dereferenced while
// `Team::run` keeps the job alive.
unsafe impl Send for JobPtr {}

struct State {
    /// Incremented for every job.
    generation: u64,
    job: Option<JobPtr>,
    /// Helpers that have not finished the current job.
    pending: usize,
    /// Whether a helper's part panicked.
    panicked: bool,
    exit: bool,
}

struct Shared {
    state: Mutex<State>,
    start: Condvar,
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a job panicked, which `panicked` reports.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Helper threads for parts `1..=helpers` of each job.
pub(super) struct Team {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl Team {
    /// Starts `helpers` threads and waits until each is ready, so that
    /// nothing of their start-up (which allocates) overlaps a later job.
    pub(super) fn new(helpers: usize) -> Team {
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
        });
        let handles = (1..=helpers)
            .map(|part| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("cnn-train-{part}"))
                    .spawn(move || helper(&shared, part))
                    .expect("starting a training thread")
            })
            .collect();
        let team = Team { shared, handles };
        team.run(&|_| {});
        team
    }

    /// Runs `job(0)` here and `job(1)`..`job(helpers)` on the helpers, in
    /// parallel, and returns when all have finished. A panic in any part
    /// is re-raised here once every part has stopped.
    pub(super) fn run(&self, job: &JobFn<'_>) {
        if self.handles.is_empty() {
            job(0);
            return;
        }
        // SAFETY: only the lifetime changes. The helpers dereference the
        // pointer only between being woken for this generation and
        // decrementing `pending`, and `run` does not return, nor unwind,
        // before `pending` is 0 (the `Wait` guard below blocks until then
        // even while part 0 panics), so `job` outlives every use.
        let erased: *const JobFn<'static> =
            unsafe { std::mem::transmute::<&JobFn<'_>, &'static JobFn<'static>>(job) };
        {
            let mut s = self.shared.lock();
            s.generation += 1;
            s.job = Some(JobPtr(erased));
            s.pending = self.handles.len();
        }
        self.shared.start.notify_all();

        struct Wait<'a>(&'a Shared);
        impl Drop for Wait<'_> {
            fn drop(&mut self) {
                let mut s = self.0.lock();
                while s.pending > 0 {
                    s = self.0.done.wait(s).unwrap_or_else(|e| e.into_inner());
                }
                s.job = None;
            }
        }
        let wait = Wait(&self.shared);
        job(0);
        drop(wait);
        let panicked = std::mem::take(&mut self.shared.lock().panicked);
        if panicked {
            panic!("a training thread panicked");
        }
    }
}

fn helper(shared: &Shared, part: usize) {
    let mut seen = 0;
    loop {
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
            // SAFETY: see `Team::run`: the job is alive until this part
            // decrements `pending` below.
            Some(JobPtr(f)) => catch_unwind(AssertUnwindSafe(|| unsafe { (*f)(part) })).is_ok(),
            None => true,
        };
        let mut s = shared.lock();
        s.panicked |= !ok;
        s.pending -= 1;
        if s.pending == 0 {
            shared.done.notify_one();
        }
    }
}

impl Drop for Team {
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

    #[test]
    fn every_part_runs_once_per_job() {
        let team = Team::new(3);
        let hits: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..100 {
            team.run(&|part| {
                hits[part].fetch_add(1, Ordering::SeqCst);
            });
        }
        for h in &hits {
            assert_eq!(h.load(Ordering::SeqCst), 100);
        }
    }

    #[test]
    fn parts_borrow_the_callers_data() {
        let team = Team::new(1);
        let data: Vec<Mutex<Vec<usize>>> = (0..2).map(|_| Mutex::new(Vec::new())).collect();
        team.run(&|part| data[part].lock().unwrap().push(part * 10));
        assert_eq!(*data[0].lock().unwrap(), [0]);
        assert_eq!(*data[1].lock().unwrap(), [10]);
    }

    #[test]
    fn a_panicking_helper_is_reported_and_the_team_survives() {
        let team = Team::new(2);
        let r = catch_unwind(AssertUnwindSafe(|| {
            team.run(&|part| assert_ne!(part, 2, "part 2 fails"));
        }));
        assert!(r.is_err());
        let count = AtomicUsize::new(0);
        team.run(&|_| {
            count.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn no_helpers_runs_part_zero_inline() {
        let team = Team::new(0);
        let count = AtomicUsize::new(0);
        team.run(&|part| {
            assert_eq!(part, 0);
            count.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }
}
