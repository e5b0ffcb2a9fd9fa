#![allow(non_camel_case_types)]
//! Networks with raw-identifier names: the name without `r#` in `NAME`,
//! and compiled-in weights under such a name.

use cnn::network::Network;

cnn::network! {
    struct r#match {
        input: [4],
        fc: dense(2),
    }

    #[cnn(weights = "tests/data/pytorch/bn_net.safetensors")]
    struct r#type {
        input: [2, 6, 6],
        conv1: conv(4, kernel = 3, bias = false), bn1: batch_norm, relu, max_pool(2),
        flatten,
        fc1: dense(6), bn2: batch_norm(eps = 1e-3, momentum = 0.2), relu,
        fc2: dense(3),
    }
}

#[test]
fn raw_identifiers_name_networks() {
    assert_eq!(<r#match as Network>::NAME, "match");
    assert_eq!(<r#type as Network>::NAME, "type");
    assert_eq!(r#match::summary().name, "match");
    let net = r#type::embedded();
    assert_eq!(net.weights().len(), r#type::PARAM_COUNT);
    let _arena = typeArena::new();
}
