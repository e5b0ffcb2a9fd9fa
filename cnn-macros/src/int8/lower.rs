//! Lowering a chain network to int8 steps: conv (→ ReLU → max-pool),
//! dense (→ ReLU), separate max- and average pools; `flatten` and
//! `dropout` vanish, a final `softmax` runs in f32 on the dequantized
//! output. Anything else is a compile error naming the layer.

use cnn_spec::{ConvGeom, PoolGeom};

use crate::graph::{Network, INPUT};
use crate::layers::{Activation, AvgPool, Conv, Dense, MaxPool};
use crate::shape::Shape;
use cnn_spec::Act;

/// One int8 step, before the weights file gives its quantization.
#[derive(Clone, Debug)]
pub enum Step {
    /// A convolution: its node, geometry, fused pool, ReLU and bias.
    Conv {
        node: usize,
        geom: ConvGeom,
        pool: Option<PoolGeom>,
        relu: bool,
        bias: bool,
    },
    /// A dense layer: its node, sizes, ReLU and bias.
    Dense {
        node: usize,
        inputs: usize,
        outputs: usize,
        relu: bool,
        bias: bool,
    },
    /// A max-pool on its own.
    MaxPool(PoolGeom),
    /// An average pool.
    AvgPool(PoolGeom),
}

/// The lowered network.
#[derive(Debug)]
pub struct Lowered {
    pub steps: Vec<Step>,
    /// Whether a softmax ends the network.
    pub softmax: bool,
}

/// What an int8 network may hold, for error messages.
const SUPPORTED: &str = "an int8 network (`dtype = \"int8\"`) is a chain of conv, dense, relu, \
                         max_pool, avg_pool, global_avg_pool, flatten and dropout layers, with \
                         an optional softmax at the end";

/// Lowers `net`, or returns the errors: (node, message).
pub fn lower(net: &Network) -> Result<Lowered, Vec<(usize, String)>> {
    let mut steps: Vec<Step> = Vec::new();
    let mut errors = Vec::new();
    let mut softmax = false;
    let mut current = INPUT;
    let last = net.nodes.len().saturating_sub(1);
    for (i, node) in net.nodes.iter().enumerate() {
        if node.inputs != [current] {
            errors.push((
                i,
                format!(
                    "{}: `{}` branches or merges; {SUPPORTED}",
                    node.name,
                    node.layer.keyword()
                ),
            ));
            break;
        }
        current = node.output;
        let input = net.in_shape(i);
        let any = node.layer.as_any();
        let unsupported = |why: &str| (i, format!("{}: {why}; {SUPPORTED}", node.name));
        if let Some(conv) = any.downcast_ref::<Conv>() {
            let (out, win, bias, groups) = conv.declared();
            let Shape::Image { c, h, w } = input else {
                unreachable!("conv reads images (checked by the graph)")
            };
            if groups != 1 {
                errors.push(unsupported("int8 convolutions have one group"));
                continue;
            }
            let geom = ConvGeom::new(
                c,
                h,
                w,
                out,
                (win.kh, win.kw),
                (win.sh, win.sw),
                (win.ph, win.pw),
            );
            steps.push(Step::Conv {
                node: i,
                geom,
                pool: None,
                relu: false,
                bias,
            });
        } else if let Some(dense) = any.downcast_ref::<Dense>() {
            let (outputs, bias) = dense.declared();
            steps.push(Step::Dense {
                node: i,
                inputs: input.len(),
                outputs,
                relu: false,
                bias,
            });
        } else if let Some(act) = any.downcast_ref::<Activation>() {
            // ReLU folds into the clamp of the conv or dense layer before
            // it (after its max-pool too: the two commute).
            match (act.act(), steps.last_mut()) {
                (Act::Relu, Some(Step::Conv { relu, .. } | Step::Dense { relu, .. })) if !*relu => {
                    *relu = true
                }
                (Act::Relu, _) => errors.push(unsupported(
                    "an int8 relu must follow a conv or dense layer (it folds into its clamp)",
                )),
                _ => errors.push(unsupported(&format!(
                    "`{}` has no int8 kernel",
                    node.layer.keyword()
                ))),
            }
        } else if let Some(pool) = any.downcast_ref::<MaxPool>() {
            let Shape::Image { c, h, w } = input else {
                unreachable!("pooling reads images (checked by the graph)")
            };
            let win = pool.window();
            if !win.whole_windows(h, w) {
                errors.push(unsupported(
                    "int8 pools have no partial windows (ceil_mode)",
                ));
                continue;
            }
            let g = win.geom(c, h, w);
            match steps.last_mut() {
                Some(Step::Conv { pool: p @ None, .. }) if 2 * g.ph <= g.kh && 2 * g.pw <= g.kw => {
                    *p = Some(g)
                }
                _ => steps.push(Step::MaxPool(g)),
            }
        } else if let Some(pool) = any.downcast_ref::<AvgPool>() {
            let Shape::Image { c, h, w } = input else {
                unreachable!("pooling reads images (checked by the graph)")
            };
            let win = pool.window(input);
            if !win.whole_windows(h, w) {
                errors.push(unsupported(
                    "int8 pools have no partial windows (ceil_mode)",
                ));
                continue;
            }
            steps.push(Step::AvgPool(win.geom(c, h, w)));
        } else {
            match node.layer.keyword() {
                "flatten" | "dropout" => {}
                "softmax" if i == last => softmax = true,
                "softmax" => errors.push(unsupported("an int8 softmax must end the network")),
                other => errors.push(unsupported(&format!("`{other}` has no int8 kernel"))),
            }
        }
    }
    if errors.is_empty()
        && !steps
            .iter()
            .any(|s| matches!(s, Step::Conv { .. } | Step::Dense { .. }))
    {
        errors.push((
            0,
            format!("the network has no conv or dense layer; {SUPPORTED}"),
        ));
    }
    if errors.is_empty() {
        Ok(Lowered { steps, softmax })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostics;
    use crate::parse::parse_invocation;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn lowered(tokens: TokenStream) -> Result<Lowered, Vec<String>> {
        let mut diag = Diagnostics::default();
        let inv = parse_invocation(tokens, &mut diag);
        let net = crate::graph::build(&inv.networks[0], &[], &mut diag)
            .ok()
            .unwrap();
        assert!(diag.is_empty());
        lower(&net).map_err(|e| e.into_iter().map(|(_, m)| m).collect())
    }

    #[test]
    fn lenet_is_two_fused_convolutions_and_three_dense_layers() {
        let l = lowered(quote! {
            struct LeNet5 {
                input: [1, 28, 28],
                conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
                conv2: conv(16, kernel = 5), relu, max_pool(2),
                flatten,
                fc1: dense(120), relu,
                fc2: dense(84), relu,
                fc3: dense(10),
                softmax,
            }
        })
        .unwrap();
        assert!(l.softmax);
        let shapes: Vec<String> = l
            .steps
            .iter()
            .map(|s| match s {
                Step::Conv {
                    geom, pool, relu, ..
                } => format!(
                    "conv {}->{} pool {} relu {relu}",
                    geom.c,
                    geom.k,
                    pool.is_some()
                ),
                Step::Dense {
                    inputs,
                    outputs,
                    relu,
                    ..
                } => format!("dense {inputs}->{outputs} relu {relu}"),
                Step::MaxPool(_) => "max_pool".into(),
                Step::AvgPool(_) => "avg_pool".into(),
            })
            .collect();
        assert_eq!(
            shapes,
            [
                "conv 1->6 pool true relu true",
                "conv 6->16 pool true relu true",
                "dense 400->120 relu true",
                "dense 120->84 relu true",
                "dense 84->10 relu false",
            ]
        );
    }

    #[test]
    fn relu_after_the_pool_folds_and_a_second_pool_stands_alone() {
        let l = lowered(quote! {
            struct Net {
                input: [2, 16, 16],
                c: conv(4, kernel = 3, pad = 1), max_pool(2), relu, max_pool(2),
                avg_pool(2), dropout(0.5), flatten, fc: dense(3),
            }
        })
        .unwrap();
        assert!(!l.softmax);
        assert!(matches!(
            l.steps[0],
            Step::Conv {
                pool: Some(_),
                relu: true,
                ..
            }
        ));
        assert!(matches!(l.steps[1], Step::MaxPool(g) if (g.h, g.oh) == (8, 4)));
        assert!(matches!(l.steps[2], Step::AvgPool(g) if (g.h, g.oh) == (4, 2)));
        assert!(matches!(l.steps[3], Step::Dense { inputs: 16, .. }));
    }

    #[test]
    fn layers_without_int8_kernels_are_named() {
        let errors = lowered(quote! {
            struct Net {
                input: [1, 8, 8],
                conv(4, kernel = 3, groups = 1), sigmoid, flatten,
                d: dense(4), softmax, relu,
            }
        })
        .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("sigmoid1: `sigmoid` has no int8 kernel"));
        assert!(errors[1].starts_with("softmax1: an int8 softmax must end the network"));
        let errors = lowered(quote! {
            struct Net { input: [4, 8, 8], conv(4, kernel = 3, groups = 2), relu }
        })
        .unwrap_err();
        assert!(errors[0].contains("int8 convolutions have one group"));
        let errors = lowered(quote! { struct Net { input: [4], relu } }).unwrap_err();
        assert!(errors[0].starts_with("relu1: an int8 relu must follow a conv or dense layer"));
    }
}
