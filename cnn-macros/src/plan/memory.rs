//! Memory plans: where every value lives, per sample.
//!
//! - **inference**: one `f32` arena per sample holding the input and every
//!   activation. A buffer is live from the step that writes it to the last
//!   step that reads it, and buffers whose lives do not overlap share
//!   memory (first fit, largest first). Element-wise steps overwrite their
//!   input when nothing reads it later; views (`flatten`, inference-time
//!   `dropout`) are free.
//! - **concatenation** is free too: the branches' last steps write their
//!   outputs into adjacent slots of the concatenated value (per sample, the
//!   slot of a branch is its channels), so no copy is made. A step writing
//!   a slot works sample by sample. A branch output that cannot be placed
//!   in its slot (the network's input, a view, a value read elsewhere too)
//!   is copied there.
//! - **training**: the same placement over a timeline of the forward steps
//!   then the backward steps (step `t`'s backward pass runs at `2S - 1 - t`),
//!   so that what a backward pass reads (a conv's input, a sigmoid's
//!   output, a ReLU mask, a max-pool argmax) stays live until then and
//!   nothing else does. Byte buffers (masks, argmaxes) live in a second
//!   arena. Gradients are values too: a step's input gradient is written
//!   in place of its output gradient where the kernel allows; a slot's
//!   gradient is its slot of the concatenation's gradient; a sum passes
//!   its gradient to its first input and copies it to the others; where a
//!   value has several consumers, the first backward pass to run writes
//!   its gradient and the others add theirs to it.
//!
//! Kernel scratch is not per sample: it is the largest any step needs.

use super::step::Step;
use crate::graph::{Network, ValueId, INPUT};
use crate::layers::{Exec, GradFlow, Head};

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
    /// A slot of a concatenated value in the `f32` arena: the value's
    /// region and, within each sample's copy of it, the slot's.
    Slot { concat: Region, slot: Region },
}

impl Loc {
    /// Whether the samples of this tensor are not side by side (a slot).
    pub fn is_slot(&self) -> bool {
        matches!(self, Loc::Slot { .. })
    }
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

/// Buffers and their lives.
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

/// Where a value is kept: the caller's buffer, a buffer of its own (shared
/// with the values it aliases), or a slot of a concatenation's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Store {
    Caller,
    Whole(usize),
    /// The concatenation's buffer and the slot's offset in a sample.
    Slot(usize, usize),
}

impl Store {
    fn buffer(self) -> Option<usize> {
        match self {
            Store::Whole(b) | Store::Slot(b, _) => Some(b),
            Store::Caller => None,
        }
    }

    fn whole(self) -> Option<usize> {
        match self {
            Store::Whole(b) => Some(b),
            _ => None,
        }
    }
}

/// The concatenations of a plan: for each value that can be written
/// straight into its concatenation's slot, that concatenation's output
/// value and the slot's offset.
fn slots(net: &Network, steps: &[Step], training: bool) -> Vec<Option<(ValueId, usize)>> {
    let mut slot = vec![None; net.values.len()];
    let producer: Vec<Option<&Step>> = {
        let mut p = vec![None; net.values.len()];
        for s in steps {
            p[s.output] = Some(s);
        }
        p
    };
    for step in steps.iter().filter(|s| s.exec(training) == Exec::Concat) {
        let mut offset = 0;
        for &u in &step.inputs {
            // A step writing a slot runs sample by sample, which a step
            // computing batch statistics cannot.
            let placeable = u != INPUT
                && net.values[u].consumers.len() == 1
                && producer[u].is_some_and(|p| {
                    let sample_wise = !(training && p.layer.batch_wide());
                    sample_wise && !matches!(p.exec(training), Exec::View | Exec::Concat)
                });
            if placeable {
                slot[u] = Some((step.output, offset));
            }
            offset += net.values[u].shape.len();
        }
    }
    slot
}

/// The last step (by index in `steps`) that reads each value.
fn last_reads(net: &Network, steps: &[Step]) -> Vec<Option<usize>> {
    let mut last = vec![None; net.values.len()];
    for (t, s) in steps.iter().enumerate() {
        for &v in &s.inputs {
            last[v] = Some(t);
        }
    }
    last
}

/// Whether step `t` may overwrite buffer `b`: no value kept in it is read
/// after `t`.
fn free_after(store: &[Option<Store>], last: &[Option<usize>], b: usize, t: usize) -> bool {
    store
        .iter()
        .zip(last)
        .all(|(s, l)| s.and_then(Store::buffer) != Some(b) || l.is_none_or(|l| l <= t))
}

/// Places value `out` of step `t`: in a slot (allocating the
/// concatenation's buffer on first use), or in a new buffer.
fn new_store(
    bufs: &mut Buffers,
    store: &mut [Option<Store>],
    slot: Option<(ValueId, usize)>,
    len: usize,
    concat_len: impl Fn(ValueId) -> usize,
    t: usize,
) -> Store {
    match slot {
        Some((c, offset)) => {
            let b = match store[c] {
                Some(Store::Whole(b)) => b,
                _ => {
                    let b = bufs.add(concat_len(c), t);
                    store[c] = Some(Store::Whole(b));
                    b
                }
            };
            bufs.touch(b, t);
            Store::Slot(b, offset)
        }
        None => Store::Whole(bufs.add(len, t)),
    }
}

/// The `Loc` of a value kept in `store`, its length `len`.
fn locate(store: Store, len: usize, concat_len: usize, offsets: &[usize], caller: Loc) -> Loc {
    match store {
        Store::Caller => caller,
        Store::Whole(b) => Loc::Arena((offsets[b], offsets[b] + len)),
        Store::Slot(b, offset) => Loc::Slot {
            concat: (offsets[b], offsets[b] + concat_len),
            slot: (offsets[b] + offset, offsets[b] + offset + len),
        },
    }
}

/// An input gradient's store, how it is delivered, and the buffer of a
/// partial gradient.
type Planned = (Store, GradHow, Option<usize>);

/// The inference plan: steps and where every value is.
pub struct InferPlan {
    pub steps: Vec<Step>,
    /// Where each value the plan computes is (indexed by value).
    pub places: Vec<Option<Loc>>,
    /// Per-sample `f32` arena length (input included, scratch excluded).
    pub arena_len: usize,
    /// Scratch floats of the largest kernel call.
    pub scratch: usize,
}

impl InferPlan {
    /// Where value `v` is.
    pub fn place(&self, v: ValueId) -> Loc {
        self.places[v].expect("every value of the plan has a place")
    }

    /// The region of value `v` in a one-sample arena.
    pub fn region(&self, v: ValueId) -> Region {
        match self.place(v) {
            Loc::Arena(r) | Loc::Slot { slot: r, .. } => r,
            Loc::Input | Loc::Output => unreachable!("inference keeps everything in the arena"),
        }
    }
}

pub fn plan_inference(net: &Network, steps: Vec<Step>) -> InferPlan {
    let mut bufs = Buffers::default();
    let mut store: Vec<Option<Store>> = vec![None; net.values.len()];
    store[INPUT] = Some(Store::Whole(bufs.add(net.input().len(), 0)));
    let last = last_reads(net, &steps);
    let slot = slots(net, &steps, false);
    let len = |v: ValueId| net.values[v].shape.len();
    for (t, step) in steps.iter().enumerate() {
        for &v in &step.inputs {
            let b = store[v]
                .and_then(Store::buffer)
                .expect("steps run in order");
            bufs.touch(b, t);
        }
        let b = store[step.input()].expect("steps run in order");
        let exec = step.exec(false);
        let out = match (exec, slot[step.output]) {
            (Exec::View, _) => b,
            (Exec::Concat, _) => {
                // Inputs not in their slots are copied there now.
                let s = new_store(&mut bufs, &mut store, Some((step.output, 0)), 0, len, t);
                Store::Whole(s.buffer().expect("a concatenation has a buffer"))
            }
            (Exec::InPlace, None) if b.whole().is_some_and(|b| free_after(&store, &last, b, t)) => {
                b
            }
            (_, slot) => new_store(&mut bufs, &mut store, slot, step.out_len(), len, t),
        };
        store[step.output] = Some(out);
    }
    // The output stays live after the last step.
    let out = store[net.output]
        .and_then(Store::buffer)
        .expect("the output is computed");
    bufs.touch(out, steps.len());
    let (offsets, total) = place(&bufs.lives);
    let places = store
        .iter()
        .enumerate()
        .map(|(v, s)| {
            let concat = slot[v].map_or(0, |(c, _)| len(c));
            s.map(|s| locate(s, len(v), concat, &offsets, Loc::Input))
        })
        .collect();
    let scratch = steps
        .iter()
        .map(|s| {
            // A weight prepared once is read from the parameters, not
            // made in the scratch.
            let (fwd, _) = s.layer.scratch(s.shapes);
            fwd - s.layer.prepared_len(s.shapes).unwrap_or(0)
        })
        .max()
        .unwrap_or(0);
    InferPlan {
        steps,
        places,
        arena_len: total,
        scratch,
    }
}

/// How a backward step delivers an input's gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradHow {
    /// The kernel writes it (the input's first gradient).
    Write,
    /// The kernel writes it to this region, which is then added to the
    /// input's gradient (a value with several consumers).
    Partial(Region),
    /// It is the output gradient itself (or its slot): nothing to do.
    Alias,
    /// The output gradient (or its slot) is copied to it.
    Copy,
    /// The output gradient (or its slot) is added to it.
    Accumulate,
}

/// Where one input's gradient goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GradDest {
    pub loc: Loc,
    pub how: GradHow,
}

/// Storage of one training step.
#[derive(Clone, Debug)]
pub struct TrainStepIo {
    /// The first input, and the others (a merge's).
    pub input: Loc,
    pub others: Vec<Loc>,
    pub output: Loc,
    /// Byte region of what [`crate::layers::Saves::aux`] keeps.
    pub aux: Option<Region>,
    /// `f32` region of what [`crate::layers::Saves::side`] keeps.
    pub side: Option<Region>,
    /// Gradient of the output (read by this step's backward pass).
    pub d_output: Loc,
    /// Per input: where its gradient goes, if anything upstream needs it.
    pub d_inputs: Vec<Option<GradDest>>,
    /// Where the step's statistics start in the step's `f64` statistics
    /// ([`crate::layers::Layer::stats`]), if it keeps any.
    pub stats: Option<usize>,
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
    /// `f64` statistics of a step (per thread).
    pub stats_len: usize,
    /// The loss head the training forward pass stops before.
    pub head: Option<Head>,
    /// Where the training forward pass's result (the logits) is.
    pub output: Loc,
    /// Per-sample length of the logits.
    pub logits_len: usize,
    /// Where the backward pass leaves the gradient of the network's input
    /// (when the context asks for it); `None` when it is not a region of
    /// its own (a network whose input gradient is the caller's).
    pub input_grad: Option<Region>,
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
    let slot = slots(net, &steps, true);
    let len = |v: ValueId| net.values[v].shape.len();

    // Forward: values. The network input is the caller's batch.
    let mut value: Vec<Option<Store>> = vec![None; net.values.len()];
    value[INPUT] = Some(Store::Caller);
    let mut aux = Vec::new();
    let mut side = Vec::new();
    for (t, step) in steps.iter().enumerate() {
        let saves = step.saves();
        for &v in &step.inputs {
            if let Some(b) = value[v].expect("steps run in order").buffer() {
                f.touch(b, t);
                if saves.input {
                    f.touch(b, back(t));
                }
            }
        }
        let cur = value[step.input()].expect("steps run in order");
        let in_place_ok = cur
            .whole()
            .is_some_and(|b| f.lives[b].last <= t && free_after(&value, &last, b, t));
        let out = match (step.exec(true), slot[step.output]) {
            (Exec::View, _) => cur,
            (Exec::Concat, _) => {
                let s = new_store(&mut f, &mut value, Some((step.output, 0)), 0, len, t);
                Store::Whole(s.buffer().expect("a concatenation has a buffer"))
            }
            (Exec::InPlace, None) if in_place_ok => cur,
            (_, slot) => new_store(&mut f, &mut value, slot, step.out_len(), len, t),
        };
        if let (true, Some(b)) = (saves.output, out.buffer()) {
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
    if let Some(b) = result.buffer() {
        f.touch(b, count);
    }

    // Backward: gradients, from the last step back. The result's gradient
    // is the caller's.
    let mut grad: Vec<Option<Store>> = vec![None; net.values.len()];
    grad[output] = Some(Store::Caller);
    // Per step and input: the gradient's store and how it is delivered.
    let mut dests: Vec<Vec<Option<Planned>>> =
        steps.iter().map(|s| vec![None; s.inputs.len()]).collect();
    for (s, step) in steps.iter().enumerate().rev() {
        let t = back(s);
        let dcur = grad[step.output].expect("a step's output feeds the result");
        if let Some(b) = dcur.buffer() {
            f.touch(b, t);
        }
        let flow = step.layer.gradient();
        let mut offset = 0;
        for (i, &v) in step.inputs.iter().enumerate() {
            let this_offset = offset;
            offset += len(v);
            // The network input's gradient is planned too: the generated
            // code computes it only when asked (`StepContext::input_grad`).
            let dest = match (flow, grad[v]) {
                // Another consumer's backward pass wrote it first.
                (GradFlow::Computed, Some(g)) => {
                    let p = f.add(len(v), t);
                    (g, GradHow::Partial((0, 0)), Some(p))
                }
                (_, Some(g)) => (g, GradHow::Accumulate, None),
                (GradFlow::Computed, None) => {
                    let g = match step.exec(true) {
                        Exec::View => dcur,
                        Exec::InPlace if dcur.whole().is_some() => dcur,
                        _ => Store::Whole(f.add(len(v), t)),
                    };
                    (g, GradHow::Write, None)
                }
                (GradFlow::Passed, None) if i == 0 => (dcur, GradHow::Alias, None),
                (GradFlow::Passed, None) => (Store::Whole(f.add(len(v), t)), GradHow::Copy, None),
                (GradFlow::Sliced, None) => match (dcur, slot[v]) {
                    (Store::Whole(b), Some(_)) => {
                        (Store::Slot(b, this_offset), GradHow::Alias, None)
                    }
                    _ => (Store::Whole(f.add(len(v), t)), GradHow::Copy, None),
                },
            };
            if let Some(b) = dest.0.buffer() {
                f.touch(b, t);
            }
            if dest.1 != GradHow::Alias && dest.1 != GradHow::Accumulate || grad[v].is_none() {
                grad[v] = Some(dest.0);
            }
            dests[s][i] = Some(dest);
        }
    }

    // The input's gradient stays until the backward pass returns, for the
    // caller to read.
    if let Some(b) = grad[INPUT].and_then(|g| g.whole()) {
        f.touch(b, 2 * count);
    }

    // Statistics of the whole step, one after another.
    let mut stats_len = 0;
    let stats: Vec<Option<usize>> = steps
        .iter()
        .map(|s| {
            let k = s.layer.stats(s.shapes);
            (k > 0).then(|| {
                stats_len += k;
                stats_len - k
            })
        })
        .collect();

    let (f_off, f_len) = place(&f.lives);
    let (u_off, u_len) = place(&u.lives);
    let region = |b: usize, len: usize| (f_off[b], f_off[b] + len);
    // A slot's concatenation length: the value it is a slot of.
    let concat_of = |v: ValueId| slot[v].map_or(0, |(c, _)| len(c));
    let loc = |store: Store, v: ValueId, caller: Loc| {
        let concat = match store {
            // A gradient slot sits in the concatenation's gradient.
            Store::Slot(..) => concat_of(v),
            _ => 0,
        };
        locate(store, len(v), concat, &f_off, caller)
    };
    let io = steps
        .iter()
        .enumerate()
        .map(|(s, step)| {
            let input_loc = |v: ValueId| loc(value[v].expect("computed"), v, Loc::Input);
            TrainStepIo {
                input: input_loc(step.input()),
                others: step.inputs[1..].iter().map(|&v| input_loc(v)).collect(),
                output: loc(
                    value[step.output].expect("computed"),
                    step.output,
                    Loc::Input,
                ),
                aux: aux[s].map(|b| (u_off[b], u_off[b] + step.out_len())),
                side: side[s].map(|b| region(b, step.out_len())),
                d_output: loc(
                    grad[step.output].expect("computed"),
                    step.output,
                    Loc::Output,
                ),
                d_inputs: dests[s]
                    .iter()
                    .zip(&step.inputs)
                    .map(|(d, &v)| {
                        d.map(|(store, how, partial)| GradDest {
                            loc: loc(store, v, Loc::Output),
                            how: match (how, partial) {
                                (GradHow::Partial(_), Some(p)) => {
                                    GradHow::Partial(region(p, len(v)))
                                }
                                (how, _) => how,
                            },
                        })
                    })
                    .collect(),
                stats: stats[s],
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
    let input_grad = grad[INPUT]
        .and_then(|g| g.whole())
        .map(|b| region(b, len(INPUT)));
    TrainPlan {
        input_grad,
        io,
        f32_len: f_len,
        u8_len: u_len,
        scratch,
        stats_len,
        head,
        output: loc(result, output, Loc::Input),
        logits_len: len(output),
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
