//! Checkpoints: a network's weights, and with them everything a run needs
//! to go on, in one safetensors file.
//!
//! A checkpoint is a weights file (the network's tensors under their
//! PyTorch names, loadable by `load_safetensors` and by PyTorch's
//! `safetensors.torch.load_file`) with the training state added, format
//! version 1:
//!
//! | tensor | dtype | shape | |
//! | --- | --- | --- | --- |
//! | `__training__.optimizer.m` | F32 | `[params]` | SGD's momentum buffer, or Adam's first moment |
//! | `__training__.optimizer.v` | F32 | `[params]` | Adam's second moment (Adam only) |
//! | `__training__.order` | I64 | `[samples]` | the training set's shuffled order after the epoch |
//! | `__training__.history` | F64 | `[epochs, 7]` | the learning curves: epoch, training loss and accuracy, validation loss and accuracy, learning rate, seconds (NaN where a figure is absent) |
//! | `__training__.best_weights` | F32 | `[params]` | early stopping's best weights, once there are some |
//!
//! and the metadata `cnn.training = "1"`, `cnn.network`, `cnn.params`,
//! `cnn.epoch` (epochs done), `cnn.steps` (the session's steps, which seed
//! dropout), `cnn.optimizer` (`SGD` or `Adam`), `cnn.optimizer.steps`, the
//! schedule's `cnn.schedule.lr`, `.best`, `.bad_epochs`, `.epochs`, early
//! stopping's `cnn.best.loss`, `cnn.best.epoch`, `cnn.best.since`, and
//! `cnn.stopped_early`. Numbers are written with Rust's shortest
//! round-trip formatting, so reading gives back the very bits.
//!
//! PyTorch's `load_state_dict` (strict) wants the network's tensors only:
//! drop the keys starting with `__training__.` first.

use std::collections::HashMap;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use safetensors::tensor::Dtype;

use super::history::{EpochStats, History};
use super::optim::{OptimizerState, ScheduleState};
use crate::error::Error;
use crate::io::safetensors::{
    load_network_from, to_bytes_with, RawTensor, SafetensorsFile, TRAINING_PREFIX,
};
use crate::io::write_atomic;
use crate::network::Network;
use crate::LoadOptions;

/// Writes `net`'s weights to `path` atomically (a crash leaves the old file).
pub fn save_checkpoint<N: Network>(net: &N, path: &Path) -> Result<(), Error> {
    crate::io::safetensors::save(path, N::PARAMS, net.weights())
}

/// The format version written, and the newest read.
const VERSION: u32 = 1;

/// Early stopping's best epoch so far.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Best {
    /// The monitored loss.
    pub loss: f64,
    pub epoch: usize,
    pub weights: Vec<f32>,
}

/// Where a run is, beyond the session's own state.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct RunState {
    /// Epochs done.
    pub epoch: usize,
    /// The training set's order (shuffled every epoch, from the last one).
    pub order: Vec<usize>,
    pub best: Option<Best>,
    /// Epochs since the best.
    pub since_best: usize,
    pub history: History,
}

impl RunState {
    /// A run that has not started, on `samples` training samples.
    pub fn new(samples: usize) -> Self {
        RunState {
            epoch: 0,
            order: (0..samples).collect(),
            best: None,
            since_best: 0,
            history: History::default(),
        }
    }
}

/// What a checkpoint holds besides the weights: the session's part.
pub(super) struct SessionState {
    pub optimizer: OptimizerState,
    pub schedule: ScheduleState,
    pub steps: u64,
}

fn name(s: &str) -> String {
    format!("{TRAINING_PREFIX}{s}")
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes `net`'s weights and the training state to `path`, atomically.
pub(super) fn save<N: Network>(
    path: &Path,
    net: &N,
    session: &SessionState,
    run: &RunState,
) -> Result<(), Error> {
    let params = N::PARAM_COUNT;
    let opt = &session.optimizer;
    let mut tensors: Vec<RawTensor> = vec![(
        name("optimizer.m"),
        Dtype::F32,
        vec![params],
        f32_bytes(&opt.m),
    )];
    if !opt.v.is_empty() {
        tensors.push((
            name("optimizer.v"),
            Dtype::F32,
            vec![params],
            f32_bytes(&opt.v),
        ));
    }
    tensors.push((
        name("order"),
        Dtype::I64,
        vec![run.order.len()],
        run.order
            .iter()
            .flat_map(|&i| (i as i64).to_le_bytes())
            .collect(),
    ));
    let rows: Vec<f64> = run.history.epochs.iter().flat_map(history_row).collect();
    tensors.push((
        name("history"),
        Dtype::F64,
        vec![run.history.epochs.len(), HISTORY_COLUMNS],
        rows.iter().flat_map(|x| x.to_le_bytes()).collect(),
    ));
    let mut meta: Vec<(&str, String)> = vec![
        ("cnn.training", VERSION.to_string()),
        ("cnn.network", N::NAME.to_string()),
        ("cnn.params", params.to_string()),
        ("cnn.epoch", run.epoch.to_string()),
        ("cnn.steps", session.steps.to_string()),
        ("cnn.optimizer", opt.optimizer.name().to_string()),
        ("cnn.optimizer.steps", opt.t.to_string()),
        ("cnn.schedule.lr", session.schedule.lr.to_string()),
        ("cnn.schedule.best", session.schedule.best.to_string()),
        (
            "cnn.schedule.bad_epochs",
            session.schedule.bad_epochs.to_string(),
        ),
        ("cnn.schedule.epochs", session.schedule.epochs.to_string()),
        ("cnn.best.since", run.since_best.to_string()),
        ("cnn.stopped_early", run.history.stopped_early.to_string()),
    ];
    if let Some(best) = &run.best {
        tensors.push((
            name("best_weights"),
            Dtype::F32,
            vec![params],
            f32_bytes(&best.weights),
        ));
        meta.push(("cnn.best.loss", best.loss.to_string()));
        meta.push(("cnn.best.epoch", best.epoch.to_string()));
    }
    let metadata: HashMap<String, String> =
        meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let bytes = to_bytes_with(path, N::PARAMS, net.weights(), &tensors, metadata)?;
    write_atomic(path, &bytes)
}

const HISTORY_COLUMNS: usize = 7;

fn history_row(e: &EpochStats) -> [f64; HISTORY_COLUMNS] {
    let or_nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
    [
        e.epoch as f64,
        e.train_loss,
        or_nan(e.train_accuracy),
        or_nan(e.val_loss),
        or_nan(e.val_accuracy),
        f64::from(e.lr),
        e.seconds,
    ]
}

fn history_stats(r: &[f64]) -> EpochStats {
    let some = |v: f64| (!v.is_nan()).then_some(v);
    EpochStats {
        epoch: r[0] as usize,
        train_loss: r[1],
        train_accuracy: some(r[2]),
        val_loss: some(r[3]),
        val_accuracy: some(r[4]),
        lr: r[5] as f32,
        seconds: r[6],
    }
}

/// A checkpoint read back: the weights, the session's state and the run's.
pub(super) struct Resumed {
    pub weights: Vec<f32>,
    pub session: SessionState,
    pub run: RunState,
}

/// Reads the checkpoint `path` of a run of network `N` with `optimizer`
/// on `samples` training samples. Everything is checked before anything is
/// returned; every buffer's size is checked against the network and the
/// data set before it is allocated.
pub(super) fn load<N: Network>(
    path: &Path,
    fresh: SessionState,
    samples: usize,
) -> Result<Resumed, Error> {
    let limit = crate::io::safetensors::header_limit(N::PARAMS.len() + 8);
    let mut file = SafetensorsFile::open(path, limit)?;
    let fail = |message: String| Error::Data {
        path: Some(path.to_path_buf()),
        message,
    };
    let meta = file.metadata().cloned().unwrap_or_default();
    let Some(version) = meta.get("cnn.training") else {
        return Err(fail(
            "it holds weights but no training state, so it cannot be resumed (load its \
             weights with `load_safetensors` to start a new run from them)"
                .into(),
        ));
    };
    if version
        .parse::<u32>()
        .ok()
        .is_none_or(|v| v == 0 || v > VERSION)
    {
        return Err(fail(format!(
            "training state format version `{version}`; this build reads versions 1 to {VERSION}"
        )));
    }
    let field = |key: &str| -> Result<&str, Error> {
        meta.get(key)
            .map(String::as_str)
            .ok_or_else(|| fail(format!("the training state has no `{key}`")))
    };
    fn parse<T: std::str::FromStr>(
        key: &str,
        text: &str,
        fail: &dyn Fn(String) -> Error,
    ) -> Result<T, Error> {
        text.parse().map_err(|_| {
            fail(format!(
                "the training state's `{key}` is `{text}`, not a number"
            ))
        })
    }
    let number = |key: &str| -> Result<u64, Error> { parse(key, field(key)?, &fail) };
    let network = field("cnn.network")?;
    let params = number("cnn.params")?;
    if network != N::NAME || params != N::PARAM_COUNT as u64 {
        return Err(fail(format!(
            "it is a checkpoint of {network} ({params} parameters), not of {} ({} parameters)",
            N::NAME,
            N::PARAM_COUNT
        )));
    }
    let mut session = fresh;
    let kind = field("cnn.optimizer")?;
    if kind != session.optimizer.optimizer.name() {
        return Err(fail(format!(
            "the run used {kind}; it cannot go on with {} (its state does not carry over)",
            session.optimizer.optimizer.name()
        )));
    }
    let weights = load_network_from::<N, _>(&mut file, LoadOptions::default())?;
    let p = N::PARAM_COUNT;
    let tensor = |file: &mut SafetensorsFile<_>, key: &str| -> Result<Vec<f32>, Error> {
        file.f32_vec(&name(key), p)
            .unwrap_or_else(|| Err(fail(format!("the training state has no `{}`", name(key)))))
    };
    session.optimizer.m = tensor(&mut file, "optimizer.m")?;
    if !session.optimizer.v.is_empty() {
        session.optimizer.v = tensor(&mut file, "optimizer.v")?;
    }
    session.optimizer.t = number("cnn.optimizer.steps")?;
    session.steps = number("cnn.steps")?;
    session.schedule.lr = parse("cnn.schedule.lr", field("cnn.schedule.lr")?, &fail)?;
    session.schedule.best = parse("cnn.schedule.best", field("cnn.schedule.best")?, &fail)?;
    session.schedule.bad_epochs = number("cnn.schedule.bad_epochs")? as usize;
    session.schedule.epochs = number("cnn.schedule.epochs")? as usize;

    let epoch = number("cnn.epoch")? as usize;
    let order = read_order(&mut file, samples, &fail)?;
    let history = read_history(&mut file, epoch, &fail)?;
    let best = match meta.get("cnn.best.epoch") {
        None => None,
        Some(text) => Some(Best {
            loss: parse("cnn.best.loss", field("cnn.best.loss")?, &fail)?,
            epoch: parse("cnn.best.epoch", text, &fail)?,
            weights: tensor(&mut file, "best_weights")?,
        }),
    };
    let stopped_early = field("cnn.stopped_early")? == "true";
    let run = RunState {
        epoch,
        order,
        best,
        since_best: number("cnn.best.since")? as usize,
        history: History {
            epochs: history,
            restored_epoch: None,
            stopped_early,
            interrupted: false,
            warnings: Vec::new(),
        },
    };
    Ok(Resumed {
        weights,
        session,
        run,
    })
}

/// The shuffled order, a permutation of `0..samples`.
fn read_order<R: std::io::Read + std::io::Seek>(
    file: &mut SafetensorsFile<R>,
    samples: usize,
    fail: &dyn Fn(String) -> Error,
) -> Result<Vec<usize>, Error> {
    let key = name("order");
    let Some(info) = file.info(&key) else {
        return Err(fail(format!("the training state has no `{key}`")));
    };
    if info.dtype != Dtype::I64 || info.shape != [samples] {
        return Err(fail(format!(
            "`{key}` is {:?} {:?}: the run was on {} training samples, this training set has \
             {samples}",
            info.dtype,
            info.shape,
            info.shape.iter().product::<usize>()
        )));
    }
    let bytes = file
        .bytes(&key)
        .unwrap_or_else(|| Err(fail(format!("the training state has no `{key}`"))))?;
    let mut seen = vec![false; samples];
    let mut order = Vec::with_capacity(samples);
    for b in bytes.chunks_exact(8) {
        let i = i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        match usize::try_from(i) {
            Ok(i) if i < samples && !seen[i] => {
                seen[i] = true;
                order.push(i);
            }
            _ => {
                return Err(fail(format!(
                    "`{key}` is not an order of {samples} samples (it holds {i})"
                )))
            }
        }
    }
    Ok(order)
}

/// The learning curves of the `epochs` epochs done.
fn read_history<R: std::io::Read + std::io::Seek>(
    file: &mut SafetensorsFile<R>,
    epochs: usize,
    fail: &dyn Fn(String) -> Error,
) -> Result<Vec<EpochStats>, Error> {
    let key = name("history");
    let Some(info) = file.info(&key) else {
        return Err(fail(format!("the training state has no `{key}`")));
    };
    if info.dtype != Dtype::F64 || info.shape != [epochs, HISTORY_COLUMNS] {
        return Err(fail(format!(
            "`{key}` is {:?} {:?}, expected F64 [{epochs}, {HISTORY_COLUMNS}] for {epochs} epochs",
            info.dtype, info.shape
        )));
    }
    let bytes = file
        .bytes(&key)
        .unwrap_or_else(|| Err(fail(format!("the training state has no `{key}`"))))?;
    let values: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect();
    Ok(values
        .chunks_exact(HISTORY_COLUMNS)
        .map(history_stats)
        .collect())
}
