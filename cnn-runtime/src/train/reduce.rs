//! Sums over the parts of a training step (batch normalisation's batch
//! statistics): each thread adds its part's values into its own slot,
//! waits for the others, then every thread adds the slots up in the parts'
//! order, so all get the same bits. Nothing is allocated after the
//! session starts.

use std::sync::{Condvar, Mutex, RwLock};
use std::vec::Vec;

use crate::layout::Reduce;

/// The slots and the meeting point of a session's parts.
pub(super) struct Parts {
    /// One slot per thread, the step's statistics layout long.
    slots: Vec<RwLock<Vec<f64>>>,
    /// Parts that have arrived, the meeting's generation, and whether a
    /// part failed (then nobody waits any more).
    meeting: Mutex<Meeting>,
    arrived: Condvar,
}

struct Meeting {
    parts: usize,
    waiting: usize,
    generation: u64,
    broken: bool,
}

impl Parts {
    /// Slots for up to `threads` parts of `len` statistics each.
    pub(super) fn new(threads: usize, len: usize) -> Parts {
        Parts {
            slots: (0..threads).map(|_| RwLock::new(vec![0.0; len])).collect(),
            meeting: Mutex::new(Meeting {
                parts: 1,
                waiting: 0,
                generation: 0,
                broken: false,
            }),
            arrived: Condvar::new(),
        }
    }

    /// Sets the number of parts of the next step (helpers are idle).
    pub(super) fn start_step(&self, parts: usize) {
        let mut m = self.meeting.lock().unwrap_or_else(|e| e.into_inner());
        *m = Meeting {
            parts,
            waiting: 0,
            generation: m.generation + 1,
            broken: false,
        };
    }

    /// The reduction as part `part` uses it.
    pub(super) fn part(&self, part: usize) -> Part<'_> {
        Part { parts: self, part }
    }

    /// Marks the step failed (a part panicked), waking every waiting part.
    fn fail(&self) {
        let mut m = self.meeting.lock().unwrap_or_else(|e| e.into_inner());
        m.broken = true;
        self.arrived.notify_all();
    }

    /// Waits until every part of the step has arrived.
    fn meet(&self) {
        let mut m = self.meeting.lock().unwrap_or_else(|e| e.into_inner());
        let generation = m.generation;
        m.waiting += 1;
        if m.waiting == m.parts {
            m.waiting = 0;
            m.generation += 1;
            self.arrived.notify_all();
            return;
        }
        while m.generation == generation && !m.broken {
            m = self.arrived.wait(m).unwrap_or_else(|e| e.into_inner());
        }
        assert!(!m.broken, "another part of this training step failed");
    }
}

/// One part's view of the reduction.
pub(super) struct Part<'a> {
    parts: &'a Parts,
    part: usize,
}

impl Reduce for Part<'_> {
    fn all_reduce(&self, at: usize, values: &mut [f64]) {
        let parts = {
            let m = self.parts.meeting.lock().unwrap_or_else(|e| e.into_inner());
            m.parts
        };
        if parts <= 1 {
            return;
        }
        let range = at..at + values.len();
        self.parts.slots[self.part]
            .write()
            .unwrap_or_else(|e| e.into_inner())[range.clone()]
        .copy_from_slice(values);
        self.parts.meet();
        values.fill(0.0);
        for slot in &self.parts.slots[..parts] {
            let slot = slot.read().unwrap_or_else(|e| e.into_inner());
            for (v, &s) in values.iter_mut().zip(&slot[range.clone()]) {
                *v += s;
            }
        }
    }
}

impl Drop for Part<'_> {
    fn drop(&mut self) {
        // A part unwinding from a panic must not leave the others waiting.
        if std::thread::panicking() {
            self.parts.fail();
        }
    }
}
