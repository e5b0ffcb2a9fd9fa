//! Compile-time tables describing a network, and its printable summary.

use core::fmt;

/// One layer of a network, as `network!` declared it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's name (`conv1`, or an automatic one such as `relu2`).
    pub name: &'static str,
    /// The grammar's keyword: `conv`, `dense`, `max_pool`, ...
    pub kind: &'static str,
    /// The type name summaries show: `Conv2D`, `Dense`, `MaxPool2D`, ...
    pub type_name: &'static str,
    /// Shape of one sample's output: `[C, H, W]` or `[N]`.
    pub output_shape: &'static [usize],
    /// Number of parameters.
    pub params: usize,
    /// Multiply-accumulates of one forward pass for one sample.
    pub macs: u64,
    /// Index of the inference step (kernel call) that computes the layer.
    pub step: usize,
}

/// What a parameter tensor is for. Initialisation, freezing, the
/// optimizer and the weight files go by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamRole {
    /// Multiplies the input (conv and dense weights): initialised by the
    /// chosen [`Init`](crate::Init), trained.
    Weight,
    /// Added to the output: zero (or PyTorch's uniform with
    /// `Init::PyTorch`), trained.
    Bias,
    /// A learned per-channel scale (batch normalisation's weight): one,
    /// trained.
    Scale,
    /// A learned per-channel shift (batch normalisation's bias): zero,
    /// trained.
    Shift,
    /// State the forward pass keeps, saved and loaded with the weights but
    /// never trained (a running mean or variance), starting at `init`.
    Buffer(BufferInit),
}

/// The starting value of a [`ParamRole::Buffer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferInit {
    /// All zeros (a running mean).
    Zeros,
    /// All ones (a running variance).
    Ones,
}

impl ParamRole {
    /// Whether the optimizer updates tensors of this role.
    pub const fn is_trained(self) -> bool {
        !matches!(self, ParamRole::Buffer(_))
    }
}

/// How a tensor's values are stored in a weights file (in memory every
/// tensor is `f32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit floats.
    F32,
    /// 64-bit integers (PyTorch's `num_batches_tracked` counters).
    I64,
}

impl Dtype {
    /// The safetensors name of the type.
    pub const fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::I64 => "I64",
        }
    }
}

/// A tensor in the network's parameter buffer: a weight, a bias, or a
/// buffer such as a running mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    /// PyTorch `state_dict` name: `conv1.weight`, `fc1.bias`, ...
    pub name: &'static str,
    /// Index of the owning layer in the network's `LAYERS` table.
    pub layer: usize,
    /// What the tensor is for.
    pub role: ParamRole,
    /// How its values are stored.
    pub dtype: Dtype,
    /// PyTorch layout: conv `[out, in, kh, kw]`, dense `[out, in]`, bias `[out]`.
    pub shape: &'static [usize],
    /// Offset in the parameter buffer.
    pub offset: usize,
    /// Number of values.
    pub len: usize,
    /// Inputs feeding each output (`in * kh * kw` for conv, `in` for dense).
    pub fan_in: usize,
    /// Outputs each input feeds (`out * kh * kw` for conv, `out` for dense).
    pub fan_out: usize,
}

impl ParamInfo {
    /// Whether this is a bias vector.
    pub fn is_bias(&self) -> bool {
        self.role == ParamRole::Bias
    }
    /// The `offset..offset + len` range in the parameter buffer.
    pub fn range(&self) -> core::ops::Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// One kernel call of the inference plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanStep {
    /// The layers it computes, e.g. `conv1 + relu1 + max_pool1`.
    pub layers: &'static str,
    /// The kernel, e.g. `conv→ReLU→max-pool (direct)`.
    pub kernel: &'static str,
    /// Region of the arena it reads, in floats.
    pub input: (usize, usize),
    /// Region of the arena it writes, in floats (equal to `input` when in place).
    pub output: (usize, usize),
    /// The region whose per-sample copies a batch lays side by side: the
    /// output itself, or, for a branch that writes its slot of a
    /// concatenation, the concatenation's (then sample `s` of a batch of
    /// `n` has its output at `n·within.0 + s·len(within) + output.0 − within.0`).
    pub output_within: (usize, usize),
}

/// What `Network::summary()` prints: a per-layer table in the style of
/// Keras' `model.summary()`, the totals, and the inference memory plan.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// The network's type name.
    pub name: &'static str,
    /// Shape of one input sample.
    pub input_shape: &'static [usize],
    /// The layers.
    pub layers: &'static [LayerInfo],
    /// The parameter tensors.
    pub tensors: &'static [ParamInfo],
    /// The kernel calls of single-sample inference.
    pub plan: &'static [PlanStep],
    /// Total parameters.
    pub params: usize,
    /// Multiply-accumulates per sample.
    pub macs: u64,
    /// Whether conv→ReLU→max-pool and similar chains are fused.
    pub fused: bool,
    /// Floats of activations in the inference arena (input included).
    pub activation_floats: usize,
    /// Floats of kernel scratch in the inference arena.
    pub scratch_floats: usize,
}

impl Summary {
    /// Bytes of the inference arena (activations and scratch).
    pub fn arena_bytes(&self) -> usize {
        (self.activation_floats + self.scratch_floats) * 4
    }
}

/// Writes `n` with thousands separators: `61,706`.
pub(crate) struct Thousands(pub u64);

impl fmt::Display for Thousands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut digits = [0u8; 20];
        let mut n = self.0;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut buf = [0u8; 27];
        let mut out = 0;
        for i in (0..len).rev() {
            buf[out] = digits[i];
            out += 1;
            if i > 0 && i % 3 == 0 {
                buf[out] = b',';
                out += 1;
            }
        }
        // Only ASCII digits and commas were written.
        let s = core::str::from_utf8(&buf[..out]).map_err(|_| fmt::Error)?;
        f.pad(s)
    }
}

/// Writes a byte count with a binary unit: `241.04 KB`.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        if b < 1024.0 {
            write!(f, "{} B", self.0)
        } else if b < 1024.0 * 1024.0 {
            write!(f, "{:.2} KB", b / 1024.0)
        } else if b < 1024.0 * 1024.0 * 1024.0 {
            write!(f, "{:.2} MB", b / (1024.0 * 1024.0))
        } else {
            write!(f, "{:.2} GB", b / (1024.0 * 1024.0 * 1024.0))
        }
    }
}

/// `(None, 6, 28, 28)`, the batch dimension first as Keras prints it.
struct ShapeText(&'static [usize]);

impl fmt::Display for ShapeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Build into a small buffer so that width and padding apply.
        let mut buf = FixedBuf::<48>::new();
        fmt::write(&mut buf, format_args!("(None"))?;
        for d in self.0 {
            fmt::write(&mut buf, format_args!(", {d}"))?;
        }
        fmt::write(&mut buf, format_args!(")"))?;
        f.pad(buf.as_str())
    }
}

/// A fixed-capacity string buffer for formatting without allocation.
struct FixedBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> FixedBuf<N> {
    fn new() -> Self {
        FixedBuf {
            bytes: [0; N],
            len: 0,
        }
    }
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Truncate on a character boundary rather than fail.
        let room = N - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// Characters `args` formats to (up to 64).
fn text_len(args: fmt::Arguments<'_>) -> usize {
    let mut buf = FixedBuf::<64>::new();
    // A formatting error only truncates the measure.
    let _ = fmt::write(&mut buf, args);
    buf.as_str().chars().count()
}

/// `len` copies of `c` on a line of their own.
fn rule(f: &mut fmt::Formatter<'_>, c: char, len: usize) -> fmt::Result {
    for _ in 0..len {
        fmt::Write::write_char(f, c)?;
    }
    writeln!(f)
}

/// Column widths: at least Keras' (30, 24 and 32 characters), wider when
/// an entry needs it, so that columns never run into each other.
struct Widths {
    label: usize,
    shape: usize,
    layers: usize,
    kernel: usize,
}

impl Widths {
    fn of(s: &Summary) -> Widths {
        let widest = |lens: &mut dyn Iterator<Item = usize>, least: usize| {
            lens.map(|n| n + 2).max().unwrap_or(0).max(least)
        };
        Widths {
            label: widest(
                &mut s
                    .layers
                    .iter()
                    .map(|l| text_len(format_args!("{} ({})", l.name, l.type_name))),
                30,
            ),
            shape: widest(
                &mut s
                    .layers
                    .iter()
                    .map(|l| text_len(format_args!("{}", ShapeText(l.output_shape)))),
                24,
            ),
            layers: widest(&mut s.plan.iter().map(|p| p.layers.chars().count()), 30),
            kernel: widest(&mut s.plan.iter().map(|p| p.kernel.chars().count()), 32),
        }
    }

    /// The length of the layer table's lines (84 at Keras' widths).
    fn table(&self) -> usize {
        self.label + self.shape + 12 + 17 + 1
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = Widths::of(self);
        let line = w.table();
        writeln!(f, "Model: \"{}\"", self.name)?;
        rule(f, '_', line)?;
        writeln!(
            f,
            " {:<label$}{:<shape$}{:>12}{:>17}",
            "Layer (type)",
            "Output Shape",
            "Param #",
            "MACs",
            label = w.label,
            shape = w.shape
        )?;
        rule(f, '=', line)?;
        for (i, l) in self.layers.iter().enumerate() {
            let mut label = FixedBuf::<64>::new();
            fmt::write(&mut label, format_args!("{} ({})", l.name, l.type_name))?;
            writeln!(
                f,
                " {:<label$}{:<shape$}{:>12}{:>17}",
                label.as_str(),
                ShapeText(l.output_shape),
                Thousands(l.params as u64),
                Thousands(l.macs),
                label = w.label,
                shape = w.shape
            )?;
            if i + 1 < self.layers.len() {
                writeln!(f)?;
            }
        }
        rule(f, '=', line)?;
        let trained: u64 = self
            .tensors
            .iter()
            .filter(|t| t.role.is_trained())
            .map(|t| t.len as u64)
            .sum();
        let counts = [
            ("Total", self.params as u64),
            ("Trainable", trained),
            ("Non-trainable", self.params as u64 - trained),
        ];
        for (what, count) in counts {
            writeln!(
                f,
                "{what} params: {} ({})",
                Thousands(count),
                Bytes(count * 4)
            )?;
        }
        writeln!(f, "MACs per sample: {}", Thousands(self.macs))?;
        rule(f, '_', line)?;
        let calls = self
            .plan
            .iter()
            .filter(|s| !s.kernel.starts_with("none"))
            .count();
        writeln!(
            f,
            "Inference plan ({}): {calls} kernel calls",
            if self.fused { "fused" } else { "unfused" },
        )?;
        for step in self.plan {
            let in_place = step.input == step.output;
            let mut io = FixedBuf::<64>::new();
            if in_place {
                fmt::write(
                    &mut io,
                    format_args!("[{}..{}) in place", step.output.0, step.output.1),
                )?;
            } else {
                fmt::write(
                    &mut io,
                    format_args!(
                        "[{}..{}) -> [{}..{})",
                        step.input.0, step.input.1, step.output.0, step.output.1
                    ),
                )?;
            }
            writeln!(
                f,
                " {:<layers$}{:<kernel$}{}",
                step.layers,
                step.kernel,
                io.as_str(),
                layers = w.layers,
                kernel = w.kernel
            )?;
        }
        writeln!(
            f,
            "Arena: {} ({} f32 of activations, input included, + {} f32 of kernel scratch)",
            Bytes(self.arena_bytes() as u64),
            Thousands(self.activation_floats as u64),
            Thousands(self.scratch_floats as u64)
        )?;
        for _ in 0..line {
            fmt::Write::write_char(f, '_')?;
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn thousands() {
        assert_eq!(Thousands(0).to_string(), "0");
        assert_eq!(Thousands(999).to_string(), "999");
        assert_eq!(Thousands(61_706).to_string(), "61,706");
        assert_eq!(Thousands(15_470_264_320).to_string(), "15,470,264,320");
        assert_eq!(std::format!("{:>8}", Thousands(1234)), "   1,234");
    }

    #[test]
    fn shapes_and_bytes() {
        assert_eq!(ShapeText(&[6, 28, 28]).to_string(), "(None, 6, 28, 28)");
        assert_eq!(Bytes(246_824).to_string(), "241.04 KB");
        assert_eq!(Bytes(12).to_string(), "12 B");
    }

    #[test]
    fn columns_never_run_into_each_other() {
        const LAYERS: &[LayerInfo] = &[LayerInfo {
            name: "a_rather_long_layer_name_of_forty_chars",
            kind: "conv",
            type_name: "Conv2D",
            output_shape: &[512, 1024, 1024],
            params: 1,
            macs: 1,
            step: 0,
        }];
        const PLAN: &[PlanStep] = &[PlanStep {
            layers: "block5_conv3 + block5_relu3 + block5_pool",
            kernel: "conv→ReLU→max-pool (im2col+GEMM, 2 groups)",
            input: (154_587, 254_587),
            output: (0, 25_088),
            output_within: (0, 25_088),
        }];
        let s = Summary {
            name: "Long",
            input_shape: &[3, 224, 224],
            layers: LAYERS,
            tensors: &[],
            plan: PLAN,
            params: 1,
            macs: 1,
            fused: true,
            activation_floats: 1,
            scratch_floats: 0,
        };
        let text = s.to_string();
        let row = text.lines().find(|l| l.contains("a_rather_long")).unwrap();
        assert!(row.contains("(Conv2D)  (None, 512"), "{row}");
        let step = text.lines().find(|l| l.contains("block5_conv3")).unwrap();
        assert!(step.contains("block5_pool  conv"), "{step}");
        assert!(step.contains("groups)  [154587..254587)"), "{step}");
        // The rules are as long as the widened table.
        let rule = text.lines().find(|l| l.starts_with("____")).unwrap();
        let header = text.lines().find(|l| l.contains("Layer (type)")).unwrap();
        assert_eq!(rule.chars().count(), header.chars().count());
    }
}
