//! Memory plans: where every value lives, per sample.
//!
//! - **inference**: one `f32` arena per sample holding the input and every
//!   activation. A buffer is live from the step that writes it to the last
//!   step that reads it, and buffers whose lives do not overlap share
//!   memory (first fit, largest first). Element-wise steps overwrite their
//!   input when nothing reads it later; views (`flatten`, inference-time
//!   `dropout`) are free.
//! - **training**: the same placement over a timeline of the forward steps
//!   then the backward steps (step `t`'s backward pass runs at `2S - 1 - t`),
//!   so that what a backward pass reads (a conv's input, a sigmoid's
//!   output, a ReLU mask, a max-pool argmax) stays live until then and
//!   nothing else does. Byte buffers (masks, argmaxes) live in a second
//!   arena. Gradients are values too: a step's input gradient is written
//!   in place of its output gradient where the kernel allows; where a
//!   value has several consumers, the first backward pass to run writes its
//!   gradient and the others write a temporary that is then added to it.
//!
//! Kernel scratch is not per sample: it is the largest any step needs.

use super::step::Step;
use crate::graph::{Network, ValueId, INPUT};
use crate::layers::{Exec, Head};

/// A region `[start, end)` of a per-sample arena.
pub type Region = (usize, usize);

/// Where a tensor lives in the generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// The caller's input batch.
    Input,
    /// The caller's output (training logits and their gradient).
    Output,
    /// A region of the `f32` arena.
    Arena(Region),
}

/// A buffer to place: per-sample size and inclusive live interval.
#[derive(Clone, Copy, Debug)]
struct Life {
    size: usize,
    first: usize,
    last: usize,
}

/// First-fit placement, largest buffer first: returns offsets and total.
fn place(lives: &[Life]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..lives.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(lives[i].size), lives[i].first, i));
    let mut offsets = vec![0; lives.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut total = 0;
    for i in order {
        let l = lives[i];
        if l.size == 0 {
            continue;
        }
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| lives[j].first <= l.last && l.first <= lives[j].last)
            .map(|&j| (offsets[j], offsets[j] + lives[j].size))
            .collect();
        busy.sort();
        let mut at = 0;
        for (s, e) in busy {
            if at + l.size <= s {
                break;
            }
            at = at.max(e);
        }
        offsets[i] = at;
        total = total.max(at + l.size);
        placed.push(i);
    }
    (offsets, total)
}

/// Buffers and their lives; values map to buffers (several values share
/// one when a step works in place or is a view).
#[derive(Default)]
struct Buffers {
    lives: Vec<Life>,
}

impl Buffers {
    fn add(&mut self, size: usize, at: usize) -> usize {
        self.lives.push(Life {
            size,
            first: at,
            last: at,
        });
        self.lives.len() - 1
    }

    fn touch(&mut self, b: usize, at: usize) {
        let l = &mut self.lives[b];
        l.first = l.first.min(at);
        l.last = l.last.max(at);
    }
}

/// The last step (by index in `steps`) that reads each value.
fn last_reads(net: &Network, steps: &[Step]) -> Vec<Option<usize>> {
    let mut last = vec![None; net.values.len()];
    for (t, s) in steps.iter().enumerate() {
        last[s.input] = Some(t);
    }
    last
}

/// Whether step `t` may overwrite buffer `b`: no value kept in it is read
/// after `t`.
fn free_after(storage: &[Option<usize>], last: &[Option<usize>], b: usize, t: usize) -> bool {
    storage
        .iter()
        .zip(last)
        .all(|(s, l)| *s != Some(b) || l.is_none_or(|l| l <= t))
}

/// The inference plan: steps and the arena region of every value.
pub struct InferPlan {
    pub steps: Vec<Step>,
    /// The region of each value the plan computes (indexed by value).
    pub regions: Vec<Option<Region>>,
    /// Per-sample `f32` arena length (input included, scratch excluded).
    pub arena_len: usize,
    /// Scratch floats of the largest kernel call.
    pub scratch: usize,
}

impl InferPlan {
    /// The region of value `v`.
    pub fn region(&self, v: ValueId) -> Region {
        self.regions[v].expect("every value of the plan has a region")
    }
}

pub fn plan_inference(net: &Network, steps: Vec<Step>) -> InferPlan {
    let mut bufs = Buffers::default();
    let mut storage: Vec<Option<usize>> = vec![None; net.values.len()];
    storage[INPUT] = Some(bufs.add(net.input().len(), 0));
    let last = last_reads(net, &steps);
    for (t, step) in steps.iter().enumerate() {
        let b = storage[step.input].expect("steps run in order");
        bufs.touch(b, t);
        storage[step.output] = Some(match step.exec(false) {
            Exec::View => b,
            Exec::InPlace if free_after(&storage, &last, b, t) => b,
            _ => bufs.add(step.out_len(), t),
        });
    }
    // The output stays live after the last step.
    let out = storage[net.output].expect("the output is computed");
    bufs.touch(out, steps.len());
    let (offsets, total) = place(&bufs.lives);
    let regions = storage
        .iter()
        .zip(&net.values)
        .map(|(b, v)| b.map(|b| (offsets[b], offsets[b] + v.shape.len())))
        .collect();
    let scratch = steps
        .iter()
        .map(|s| s.layer.scratch(s.shapes).0)
        .max()
        .unwrap_or(0);
    InferPlan {
        steps,
        regions,
        arena_len: total,
        scratch,
    }
}

/// Storage of one training step.
#[derive(Clone, Debug)]
pub struct TrainStepIo {
    pub input: Loc,
    pub output: Loc,
    /// Byte region of what [`crate::layers::Saves::aux`] keeps.
    pub aux: Option<Region>,
    /// `f32` region of what [`crate::layers::Saves::side`] keeps.
    pub side: Option<Region>,
    /// Gradient of the output (read by this step's backward pass).
    pub d_output: Loc,
    /// Gradient of the input (written by this step's backward pass), if
    /// anything upstream needs it.
    pub d_input: Option<Loc>,
    /// When the input has several consumers and another one's backward pass
    /// wrote its gradient first: this step writes its input gradient here
    /// and it is then added into `d_input`.
    pub d_input_partial: Option<Region>,
}

/// The training plan.
pub struct TrainPlan {
    pub steps: Vec<Step>,
    pub io: Vec<TrainStepIo>,
    /// Per-sample floats and bytes of the two arenas.
    pub f32_len: usize,
    pub u8_len: usize,
    /// Scratch floats of the largest forward or backward kernel call.
    pub scratch: usize,
    /// The loss head the training forward pass stops before.
    pub head: Option<Head>,
    /// Where the training forward pass's result (the logits) is.
    pub output: Loc,
    /// Per-sample length of the logits.
    pub logits_len: usize,
}

/// A training buffer: the caller's (input batch or logits gradient) or
/// one of the arena's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Buf {
    Caller,
    Arena(usize),
}

impl Buf {
    fn arena(self) -> Option<usize> {
        match self {
            Buf::Arena(b) => Some(b),
            Buf::Caller => None,
        }
    }
}

pub fn plan_training(
    net: &Network,
    steps: Vec<Step>,
    output: ValueId,
    head: Option<Head>,
) -> TrainPlan {
    let count = steps.len();
    let back = |t: usize| 2 * count - 1 - t;
    let mut f = Buffers::default();
    let mut u = Buffers::default();
    let last = last_reads(net, &steps);

    // Forward: values. The network input is the caller's batch.
    let mut value: Vec<Option<Buf>> = vec![None; net.values.len()];
    value[INPUT] = Some(Buf::Caller);
    let mut aux = Vec::new();
    let mut side = Vec::new();
    for (t, step) in steps.iter().enumerate() {
        let cur = value[step.input].expect("steps run in order");
        if let Some(b) = cur.arena() {
            f.touch(b, t);
        }
        let saves = step.saves();
        if let (true, Some(b)) = (saves.input, cur.arena()) {
            f.touch(b, back(t));
        }
        let arena_values: Vec<Option<usize>> =
            value.iter().map(|v| v.and_then(Buf::arena)).collect();
        let in_place_ok = cur
            .arena()
            .is_some_and(|b| f.lives[b].last <= t && free_after(&arena_values, &last, b, t));
        let out = match step.exec(true) {
            Exec::View => cur,
            Exec::InPlace if in_place_ok => cur,
            _ => Buf::Arena(f.add(step.out_len(), t)),
        };
        if let (true, Some(b)) = (saves.output, out.arena()) {
            f.touch(b, back(t));
        }
        aux.push(saves.aux.then(|| {
            let b = u.add(step.out_len(), t);
            u.touch(b, back(t));
            b
        }));
        side.push(saves.side.then(|| {
            let b = f.add(step.out_len(), t);
            f.touch(b, back(t));
            b
        }));
        value[step.output] = Some(out);
    }
    // The result is copied to the caller right after the last step.
    let result = value[output].expect("the training output is computed");
    if let Some(b) = result.arena() {
        f.touch(b, count);
    }

    // Backward: gradients, from the last step back. The result's gradient
    // is the caller's.
    let mut grad: Vec<Option<Buf>> = vec![None; net.values.len()];
    grad[output] = Some(Buf::Caller);
    let mut d_in: Vec<Option<Buf>> = vec![None; count];
    let mut partial: Vec<Option<usize>> = vec![None; count];
    for (s, step) in steps.iter().enumerate().rev() {
        let t = back(s);
        let dcur = grad[step.output].expect("a step's output feeds the result");
        if let Some(b) = dcur.arena() {
            f.touch(b, t);
        }
        if step.input == INPUT {
            // Nothing upstream of the network's input needs a gradient.
            continue;
        }
        if grad[step.input].is_some() {
            let p = f.add(step.in_len(), t);
            partial[s] = Some(p);
            d_in[s] = grad[step.input];
            continue;
        }
        let din = match step.exec(true) {
            Exec::View => dcur,
            Exec::InPlace if dcur.arena().is_some() => dcur,
            _ => Buf::Arena(f.add(step.in_len(), t)),
        };
        if let Some(b) = din.arena() {
            f.touch(b, t);
        }
        d_in[s] = Some(din);
        grad[step.input] = Some(din);
    }

    let (f_off, f_len) = place(&f.lives);
    let (u_off, u_len) = place(&u.lives);
    let region = |b: usize, len: usize| (f_off[b], f_off[b] + len);
    let loc = |buf: Buf, len: usize, caller: Loc| match buf {
        Buf::Arena(b) => Loc::Arena(region(b, len)),
        Buf::Caller => caller,
    };
    let io = steps
        .iter()
        .enumerate()
        .map(|(s, step)| {
            let (in_len, out_len) = (step.in_len(), step.out_len());
            let input = value[step.input].expect("computed");
            let output = value[step.output].expect("computed");
            TrainStepIo {
                input: loc(input, in_len, Loc::Input),
                output: loc(output, out_len, Loc::Input),
                aux: aux[s].map(|b| (u_off[b], u_off[b] + out_len)),
                side: side[s].map(|b| region(b, out_len)),
                d_output: loc(grad[step.output].expect("computed"), out_len, Loc::Output),
                d_input: d_in[s].map(|d| loc(d, in_len, Loc::Output)),
                d_input_partial: partial[s].map(|b| region(b, in_len)),
            }
        })
        .collect();
    let scratch = steps
        .iter()
        .map(|s| {
            let (fwd, bwd) = s.layer.scratch(s.shapes);
            fwd.max(bwd)
        })
        .max()
        .unwrap_or(0);
    TrainPlan {
        io,
        f32_len: f_len,
        u8_len: u_len,
        scratch,
        head,
        output: loc(result, net.values[output].shape.len(), Loc::Input),
        logits_len: net.values[output].shape.len(),
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::{place, Life};

    #[test]
    fn placement_never_overlaps_live_buffers() {
        let lives = [(4, 0, 1), (3, 1, 2), (5, 2, 3), (2, 0, 3)].map(|(size, first, last)| Life {
            size,
            first,
            last,
        });
        let (off, total) = place(&lives);
        for i in 0..lives.len() {
            for j in 0..i {
                let (a, b) = (lives[i], lives[j]);
                let overlap_time = a.first <= b.last && b.first <= a.last;
                let overlap_mem = off[i] < off[j] + b.size && off[j] < off[i] + a.size;
                assert!(!(overlap_time && overlap_mem), "{i} and {j} collide");
            }
        }
        // At time 2, buffers 1, 2 and 3 are live together.
        assert_eq!(total, 3 + 5 + 2);
    }
}
