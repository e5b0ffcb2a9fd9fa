//! Why a tensor in a file has a shape other than the network's, for the
//! message of [`Error::ShapeMismatch`](crate::Error::ShapeMismatch).
//!
//! The network's `LAYERS` table gives every layer's output shape (a layer
//! reads the output of the one before it, the first reads the input) and
//! its `PARAMS` table the kernel sizes. When a dense layer's input size
//! differs from the file's, the explanation follows the values back to the
//! last image shape before `flatten`, works out the image shape the file's
//! tensor implies, and tries which input size, or which padding of one
//! convolution, would give it. Strides and paddings are not in the tables:
//! they are read off each layer's input and output sizes (stride 1 for a
//! convolution when that fits, pools with stride equal to their size), and
//! the message says so when the shapes would also allow another reading.

use std::string::String;
use std::vec::Vec;

use crate::summary::{LayerInfo, ParamInfo, ParamRole};

/// Why the network needs `p`'s shape, given the file's `found`; `None`
/// when the tables say nothing useful.
pub(super) fn explain(
    input: &[usize],
    layers: &[LayerInfo],
    params: &[ParamInfo],
    p: &ParamInfo,
    found: &[usize],
) -> Option<String> {
    let layer = layers.get(p.layer)?;
    let name = layer.name;
    match (layer.kind, p.role, p.shape, found) {
        ("dense", ParamRole::Weight, &[out, inputs], &[out_file, in_file]) => {
            let mut parts = Vec::new();
            if out != out_file {
                parts.push(format!(
                    "{name} has {out} units, the file's tensor {out_file}"
                ));
            }
            if inputs != in_file {
                parts.push(dense_inputs(
                    input, layers, params, p.layer, inputs, in_file,
                )?);
            }
            Some(parts.join("; "))
        }
        ("conv", ParamRole::Weight, &[k, cg, kh, kw], &[k_f, cg_f, kh_f, kw_f]) => {
            let mut parts = Vec::new();
            if k != k_f {
                parts.push(format!("{name} has {k} filters, the file's tensor {k_f}"));
            }
            if cg != cg_f {
                let (from, shape) = source(input, layers, p.layer);
                let c = shape.first().copied().unwrap_or(0);
                let per_group = if c == cg {
                    String::new()
                } else {
                    format!(" per group, of {c}")
                };
                let channels = if cg == 1 { "channel" } else { "channels" };
                parts.push(format!(
                    "{name} reads {cg} {channels}{per_group} from {from}, the file's tensor {cg_f}"
                ));
            }
            if (kh, kw) != (kh_f, kw_f) {
                parts.push(format!(
                    "{name}'s kernel is {kh}x{kw}, the file's {kh_f}x{kw_f}"
                ));
            }
            Some(parts.join("; "))
        }
        (_, _, &[n], &[n_file]) => Some(format!(
            "{name} has {n} output channels or units, the file's tensor {n_file}"
        )),
        _ => None,
    }
}

/// `"the input"` or `"conv2's output"`, and that shape, for what layer `i` reads.
fn source<'a>(input: &'a [usize], layers: &'a [LayerInfo], i: usize) -> (String, &'a [usize]) {
    match i.checked_sub(1) {
        None => ("the input".into(), input),
        Some(j) => (
            format!("{}'s output", layers[j].name),
            layers[j].output_shape,
        ),
    }
}

/// `16x4x4`.
fn dims(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    parts.join("x")
}

/// Why dense layer `i` takes `inputs` values where the file's tensor takes
/// `in_file`.
fn dense_inputs(
    input: &[usize],
    layers: &[LayerInfo],
    params: &[ParamInfo],
    i: usize,
    inputs: usize,
    in_file: usize,
) -> Option<String> {
    let name = layers[i].name;
    let (_, read) = source(input, layers, i);
    if read.iter().product::<usize>() != inputs {
        // Not a chain as far as the tables tell: say nothing rather than
        // something wrong.
        return None;
    }
    let Some(prev) = i.checked_sub(1) else {
        return Some(format!(
            "{name} reads the network's {inputs} input values, the file's tensor {in_file}"
        ));
    };
    let prev_layer = &layers[prev];
    if prev_layer.kind != "flatten" {
        return Some(format!(
            "{name} reads the {inputs} outputs of {}, the file's tensor {in_file}",
            prev_layer.name
        ));
    }
    let (from, image) = source(input, layers, prev);
    let mut text = format!(
        "{name} reads the {inputs} values of {}, which flattens {} {}",
        prev_layer.name,
        from.replace("'s output", "'s"),
        dims(image)
    );
    text.push_str(if prev == 0 { "" } else { " output" });
    text.push_str(&format!(
        "; the file's tensor implies {in_file} input values"
    ));
    let &[c, h, w] = image else {
        return Some(text);
    };
    if !in_file.is_multiple_of(c) {
        text.push_str(&format!(
            ", not a multiple of the {c} channels: the layers before {name} differ in more than \
             their sizes"
        ));
        return Some(text);
    }
    let per = in_file / c;
    let Some((h_f, w_f)) = same_aspect(per, h, w) else {
        text.push_str(&format!(", {c} channels of {per} values"));
        return Some(text);
    };
    text.push_str(&format!(", {c}x{h_f}x{w_f} with the same {c} channels"));
    // The image layers from the input up to `flatten`.
    let upto = prev;
    if let Some(chain) = Chain::read(input, layers, params, upto) {
        let mut ways = Vec::new();
        if let Some((h0, w0)) = chain.input_giving(h_f, w_f) {
            ways.push(format!("a {}x{h0}x{w0} input", input[0]));
        }
        ways.extend(chain.paddings_giving(h_f, w_f).into_iter().take(2));
        if !ways.is_empty() {
            text.push_str(&format!(": {} would give that", ways.join(", or ")));
            if chain.assumed {
                text.push_str(
                    " (with the strides and paddings the layers' shapes suggest: stride 1 for \
                     convolutions, pools as wide as their stride)",
                );
            }
        }
    }
    Some(text)
}

/// `(h', w')` with `h' w' = n` and `h' / w' = h / w`, if there is one.
fn same_aspect(n: usize, h: usize, w: usize) -> Option<(usize, usize)> {
    (1..=n)
        .filter(|hh| n.is_multiple_of(*hh))
        .map(|hh| (hh, n / hh))
        .find(|&(hh, ww)| hh * w == ww * h)
}

/// A sliding window along one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Axis {
    size: usize,
    stride: usize,
    pad: usize,
}

impl Axis {
    fn apply(self, n: usize) -> Option<usize> {
        let padded = n + 2 * self.pad;
        (padded >= self.size).then(|| (padded - self.size) / self.stride + 1)
    }
}

/// One image layer: a window on each axis (conv, pool), or the size kept.
#[derive(Clone, Copy, Debug)]
struct Step {
    /// The layer's name, for a convolution (whose padding may be changed).
    conv: Option<&'static str>,
    window: Option<(Axis, Axis)>,
}

/// The image layers from the input to layer `upto`, each with the
/// geometry read off its shapes.
struct Chain {
    input: (usize, usize),
    steps: Vec<Step>,
    /// Whether some layer's shapes would also fit another geometry.
    assumed: bool,
}

/// How many sizes to try for an input or padding.
const SEARCH: usize = 4096;

impl Chain {
    fn read(
        input: &[usize],
        layers: &[LayerInfo],
        params: &[ParamInfo],
        upto: usize,
    ) -> Option<Chain> {
        let &[_, h0, w0] = input else { return None };
        let mut chain = Chain {
            input: (h0, w0),
            steps: Vec::new(),
            assumed: false,
        };
        for (i, layer) in layers.iter().enumerate().take(upto) {
            let (_, from) = source(input, layers, i);
            let (&[_, h, w], &[_, oh, ow]) = (from, layer.output_shape) else {
                return None;
            };
            let step = match layer.kind {
                "conv" => {
                    let weight = params
                        .iter()
                        .find(|p| p.layer == i && p.role == ParamRole::Weight)?;
                    let &[_, _, kh, kw] = weight.shape else {
                        return None;
                    };
                    let (ah, amb_h) = conv_axis(h, oh, kh)?;
                    let (aw, amb_w) = conv_axis(w, ow, kw)?;
                    chain.assumed |= amb_h || amb_w;
                    Step {
                        conv: Some(layer.name),
                        window: Some((ah, aw)),
                    }
                }
                "max_pool" | "avg_pool" => {
                    chain.assumed = true;
                    Step {
                        conv: None,
                        window: Some((pool_axis(h, oh)?, pool_axis(w, ow)?)),
                    }
                }
                // The output size does not depend on the input's.
                "global_avg_pool" => return None,
                _ if (h, w) == (oh, ow) => Step {
                    conv: None,
                    window: None,
                },
                _ => return None,
            };
            chain.steps.push(step);
        }
        Some(chain)
    }

    /// The size at the end of the chain from `(h, w)` at its start, with
    /// `changed` (a step index and its axes) in place of that step's own.
    fn run(
        &self,
        (h, w): (usize, usize),
        changed: Option<(usize, (Axis, Axis))>,
    ) -> Option<(usize, usize)> {
        let (mut h, mut w) = (h, w);
        for (i, step) in self.steps.iter().enumerate() {
            let window = match changed {
                Some((j, axes)) if j == i => Some(axes),
                _ => step.window,
            };
            if let Some((ah, aw)) = window {
                h = ah.apply(h)?;
                w = aw.apply(w)?;
            }
        }
        Some((h, w))
    }

    /// The smallest input size whose chain ends at `(h, w)`.
    fn input_giving(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let axis = |target: usize, pick: fn((usize, usize)) -> usize| {
            (1..SEARCH).find(|&n| {
                let start = (n, n);
                self.run(start, None).map(pick) == Some(target)
            })
        };
        let h0 = axis(h, |s| s.0)?;
        let w0 = axis(w, |s| s.1)?;
        (self.run((h0, w0), None) == Some((h, w)) && (h0, w0) != self.input).then_some((h0, w0))
    }

    /// `padding p on convN` for each convolution whose padding alone,
    /// changed, makes the chain end at `(h, w)`.
    fn paddings_giving(&self, h: usize, w: usize) -> Vec<String> {
        let mut out = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let (Some(name), Some((ah, aw))) = (step.conv, step.window) else {
                continue;
            };
            let pads = |a: Axis| (0..a.size.max(1) * 2).map(move |pad| Axis { pad, ..a });
            let found = pads(ah).find_map(|nh| {
                pads(aw)
                    .find(|&nw| {
                        (nh, nw) != (ah, aw)
                            && self.run(self.input, Some((i, (nh, nw)))) == Some((h, w))
                    })
                    .map(|nw| (nh.pad, nw.pad))
            });
            if let Some((ph, pw)) = found {
                out.push(if ph == pw {
                    format!("padding {ph} on {name}")
                } else {
                    format!("padding {ph}x{pw} on {name}")
                });
            }
        }
        out
    }
}

/// The geometry of a convolution axis of kernel `k` mapping `n` to `out`:
/// stride 1 with the padding that fits if there is one, else the smallest
/// stride (then padding) that fits; and whether another would fit too.
fn conv_axis(n: usize, out: usize, k: usize) -> Option<(Axis, bool)> {
    let fits: Vec<Axis> = (1..=k.max(1))
        .flat_map(|stride| {
            (0..k.max(1)).map(move |pad| Axis {
                size: k,
                stride,
                pad,
            })
        })
        .filter(|a| a.apply(n) == Some(out))
        .collect();
    let first = *fits.first()?;
    Some((first, fits.len() > 1))
}

/// The geometry of a pooling axis mapping `n` to `out`, read as windows as
/// wide as their stride and no padding (the grammar's default), when
/// exactly one width fits.
fn pool_axis(n: usize, out: usize) -> Option<Axis> {
    let mut fits = (1..=n).filter(|&k| n / k == out);
    let size = fits.next()?;
    fits.next().is_none().then_some(Axis {
        size,
        stride: size,
        pad: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Dtype;

    const fn layer(name: &'static str, kind: &'static str, shape: &'static [usize]) -> LayerInfo {
        LayerInfo {
            name,
            kind,
            type_name: "",
            output_shape: shape,
            params: 0,
            macs: 0,
            step: 0,
        }
    }

    const fn weight(name: &'static str, layer: usize, shape: &'static [usize]) -> ParamInfo {
        ParamInfo {
            name,
            layer,
            role: ParamRole::Weight,
            dtype: Dtype::F32,
            shape,
            offset: 0,
            len: 0,
            fan_in: 0,
            fan_out: 0,
        }
    }

    /// LeNet-5 on 28x28 digits without padding: fc1 reads 16x4x4.
    const INPUT: &[usize] = &[1, 28, 28];
    const LAYERS: &[LayerInfo] = &[
        layer("conv1", "conv", &[6, 24, 24]),
        layer("relu1", "relu", &[6, 24, 24]),
        layer("max_pool1", "max_pool", &[6, 12, 12]),
        layer("conv2", "conv", &[16, 8, 8]),
        layer("relu2", "relu", &[16, 8, 8]),
        layer("max_pool2", "max_pool", &[16, 4, 4]),
        layer("flatten1", "flatten", &[256]),
        layer("fc1", "dense", &[120]),
        layer("fc2", "dense", &[84]),
    ];
    const PARAMS: &[ParamInfo] = &[
        weight("conv1.weight", 0, &[6, 1, 5, 5]),
        weight("conv2.weight", 3, &[16, 6, 5, 5]),
        weight("fc1.weight", 7, &[120, 256]),
        weight("fc2.weight", 8, &[84, 120]),
    ];

    fn why(tensor: usize, found: &[usize]) -> String {
        explain(INPUT, LAYERS, PARAMS, &PARAMS[tensor], found).unwrap()
    }

    #[test]
    fn the_first_dense_layer_after_flatten_names_the_upstream_shapes() {
        let m = why(2, &[120, 400]);
        assert!(
            m.starts_with(
                "fc1 reads the 256 values of flatten1, which flattens max_pool2's 16x4x4 \
                 output; the file's tensor implies 400 input values, 16x5x5 with the same 16 \
                 channels: a 1x32x32 input, or padding 2 on conv1, or padding 1 on conv2 would \
                 give that"
            ),
            "{m}"
        );
        assert!(m.contains("stride 1 for convolutions"), "{m}");
    }

    #[test]
    fn sizes_that_no_image_gives_are_said_so() {
        let m = why(2, &[120, 300]);
        assert!(m.ends_with("300 input values, not a multiple of the 16 channels: the layers before fc1 differ in more than their sizes"), "{m}");
        let m = why(2, &[120, 16 * 3]);
        assert!(m.ends_with("16 channels of 3 values"), "{m}");
    }

    #[test]
    fn other_mismatches_name_the_layer_and_both_sizes() {
        assert_eq!(
            why(3, &[84, 100]),
            "fc2 reads the 120 outputs of fc1, the file's tensor 100"
        );
        assert_eq!(why(3, &[10, 120]), "fc2 has 84 units, the file's tensor 10");
        assert_eq!(
            why(0, &[6, 3, 5, 5]),
            "conv1 reads 1 channel from the input, the file's tensor 3"
        );
        assert_eq!(
            why(1, &[16, 6, 3, 3]),
            "conv2's kernel is 5x5, the file's 3x3"
        );
    }

    #[test]
    fn geometry_is_read_off_the_shapes() {
        assert_eq!(
            conv_axis(28, 28, 5),
            Some((
                Axis {
                    size: 5,
                    stride: 1,
                    pad: 2
                },
                false
            ))
        );
        // Stride 2 with padding 4 fits too.
        assert_eq!(
            conv_axis(12, 8, 5),
            Some((
                Axis {
                    size: 5,
                    stride: 1,
                    pad: 0
                },
                true
            ))
        );
        assert_eq!(
            conv_axis(28, 12, 5).unwrap().0,
            Axis {
                size: 5,
                stride: 2,
                pad: 0
            }
        );
        assert_eq!(
            pool_axis(24, 12),
            Some(Axis {
                size: 2,
                stride: 2,
                pad: 0
            })
        );
        assert_eq!(pool_axis(7, 1), None, "widths 4 to 7 all fit");
        assert_eq!(same_aspect(25, 4, 4), Some((5, 5)));
        assert_eq!(same_aspect(50, 4, 8), Some((5, 10)));
        assert_eq!(same_aspect(7, 4, 4), None);
    }
}
