use super::*;
use crate::diag::Diagnostics;
use crate::parse::parse_invocation;
use proc_macro2::TokenStream;
use quote::quote;

fn network(ts: TokenStream) -> Network {
    let mut diag = Diagnostics::default();
    let inv = parse_invocation(ts, &mut diag);
    crate::graph::build(&inv.networks[0], &inv.blocks, &mut diag).expect("valid network")
}

fn plan_of(ts: TokenStream) -> Plan {
    plan(&network(ts))
}

fn lenet(fuse: bool) -> Plan {
    plan(&lenet_network(fuse))
}

fn lenet_network(fuse: bool) -> Network {
    let fuse = syn::LitBool::new(fuse, proc_macro2::Span::call_site());
    network(quote! {
        #[cnn(fuse = #fuse)]
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
}

fn described(steps: &[Step]) -> Vec<String> {
    steps.iter().map(|s| s.layer.describe(s.shapes)).collect()
}

#[test]
fn lenet_fuses_into_seven_steps() {
    let p = lenet(true);
    assert_eq!(
        described(&p.infer.steps),
        [
            "conv→ReLU→max-pool (direct)",
            "conv→ReLU→max-pool (direct)",
            "flatten",
            "dense→ReLU",
            "dense→ReLU",
            "dense",
            "softmax"
        ]
    );
    assert_eq!(p.param_count, 61_706);
    assert_eq!(p.params[0].name, "conv1.weight");
    assert_eq!(p.params[0].spec.shape, [6, 1, 5, 5]);
    assert_eq!(p.params[9].name, "fc3.bias");
    // Training stops before the softmax head.
    assert_eq!(p.train.steps.len(), 6);
}

#[test]
fn lenet_fused_arena_holds_input_and_first_block() {
    // Input (784) and conv1's pooled output (1176) are live together;
    // everything later fits in the space they free.
    let p = lenet(true);
    assert_eq!(p.infer.arena_len, 784 + 1176);
}

#[test]
fn lenet_unfused_arena_holds_the_conv_output() {
    // Unfused, conv1's full output (4704) is live with the pool's (1176).
    let p = lenet(false);
    assert_eq!(p.infer.arena_len, 6 * 28 * 28 + 6 * 14 * 14);
    assert_eq!(p.infer.steps.len(), 13);
}

#[test]
fn training_keeps_only_what_backward_reads() {
    let p = lenet(true);
    let t = &p.train;
    assert_eq!(t.head, Some(crate::layers::Head::Softmax));
    assert_eq!(t.logits_len, 10);
    // Fused conv blocks keep one argmax byte per pooled output; the
    // dense ReLUs keep a byte mask each.
    let aux: Vec<Option<usize>> = t.io.iter().map(|io| io.aux.map(|(a, b)| b - a)).collect();
    assert_eq!(
        aux,
        [Some(1176), Some(400), None, Some(120), Some(84), None]
    );
    // The first step reads the caller's input; the input's gradient (only
    // computed when asked for) has a region of its own, kept to the end.
    assert_eq!(t.io[0].input, Loc::Input);
    let d = t.io[0].d_inputs[0].expect("the input's gradient is planned");
    assert_eq!(d.loc, Loc::Arena(t.input_grad.expect("a region")));
    assert_eq!(t.input_grad.map(|(a, b)| b - a), Some(784));
    // The last step's output gradient is the caller's.
    assert!(matches!(t.io[5].output, Loc::Arena(_)));
    assert_eq!(t.io[5].d_output, Loc::Output);
}

#[test]
fn fusion_needs_a_single_consumer() {
    // A hand-made graph where conv1's output also feeds a second branch:
    // the ReLU cannot be fused into the convolution.
    let mut net = network(quote! {
        struct Branchy { input: [1, 8, 8], conv1: conv(4, kernel = 3), relu1: relu, pool: max_pool(2) }
    });
    let conv_out = net.nodes[0].output;
    // A second consumer: a relu reading conv1's output directly.
    let relu2 = net.nodes.len();
    net.values.push(crate::graph::ValueInfo {
        shape: net.values[conv_out].shape,
        producer: Some(relu2),
        consumers: Vec::new(),
    });
    let out = net.values.len() - 1;
    net.nodes.push(crate::graph::Node {
        name: "relu2".into(),
        tensors: "relu2".into(),
        layer: net.nodes[1].layer.clone(),
        inputs: vec![conv_out],
        output: out,
        tokens: TokenStream::new(),
    });
    net.values[conv_out].consumers.push(relu2);
    let all: Vec<NodeId> = (0..net.nodes.len()).collect();
    let steps = fusion::steps(&net, &all, net.output, true);
    assert_eq!(
        described(&steps),
        ["conv (direct)", "ReLU", "max-pool", "ReLU"],
        "conv1 has two consumers, so nothing fuses into it"
    );
    // In inference, relu1 may not overwrite conv1's output: relu2 reads
    // it later.
    let p = memory::plan_inference(&net, steps);
    assert_ne!(p.region(net.nodes[1].output), p.region(conv_out));
    // relu2 is the last reader: it works in place.
    assert_eq!(p.region(out), p.region(conv_out));
}

#[test]
fn batch_tail_starts_where_the_dense_layers_do() {
    let net = lenet_network(true);
    let p = plan(&net);
    let tail = p.batch_tail(&net).expect("LeNet-5 ends with dense layers");
    // From the flatten on: it reads the second block's output.
    assert_eq!(described(&p.infer.steps[tail.step..])[0], "flatten");
    assert_eq!(tail.input, p.infer.region(p.infer.steps[1].output));
    assert_eq!(tail.params, 48_120 + 10_164 + 850);
}

#[test]
fn batch_tail_starts_after_every_value_an_earlier_step_wrote() {
    // The concatenation reads the network's input and the conv's output:
    // the tail starts at the flatten, which reads the concatenation alone.
    let net = network(quote! {
        struct Cat {
            input: [1, 4, 4],
            concat([conv(2, kernel = 3, pad = 1)], identity),
            flatten,
            fc: dense(5),
        }
    });
    let p = plan(&net);
    let tail = p.batch_tail(&net).expect("ends with a dense layer");
    assert_eq!(described(&p.infer.steps[tail.step..])[0], "flatten");
    assert_eq!(tail.params, 48 * 5 + 5);
    let concat = p.infer.steps[tail.step - 1].output;
    assert_eq!(tail.input, p.infer.region(concat));

    // A plan ending with a convolution has no tail.
    let net = network(quote! {
        struct Convs {
            input: [1, 4, 4],
            conv1: conv(2, kernel = 3, pad = 1), relu,
            conv2: conv(2, kernel = 3, pad = 1),
        }
    });
    assert_eq!(plan(&net).batch_tail(&net), None);
}

#[test]
fn overlapping_pools_fuse_only_when_asked() {
    let steps = |ts| described(&plan_of(ts).infer.steps);
    // Disjoint windows fuse; overlapping ones run after the conv.
    assert_eq!(
        steps(quote! {
            struct Pools {
                input: [3, 32, 32],
                conv1: conv(8, kernel = 3, pad = 1), relu, max_pool(2),
                conv2: conv(8, kernel = 3, pad = 1), relu, max_pool(3, stride = 2),
            }
        }),
        [
            "conv→ReLU→max-pool (direct)",
            "conv→ReLU (direct)",
            "max-pool"
        ]
    );
    assert_eq!(
        steps(quote! {
            #[cnn(fuse_overlapping = true)]
            struct Pools {
                input: [3, 32, 32],
                conv1: conv(8, kernel = 3, pad = 1), relu, max_pool(2),
                conv2: conv(8, kernel = 3, pad = 1), relu, max_pool(3, stride = 2),
            }
        }),
        ["conv→ReLU→max-pool (direct)", "conv→ReLU→max-pool (direct)"]
    );
}
