// Layer names that read like the generated constants (`Net::PLAN`, ...)
// do not clash with them.
cnn::network! {
    struct Net {
        input: [3, 8, 8],
        plan: conv(4, kernel = 3), relu,
        params: max_pool(2),
        flatten,
        layers: dense(10),
    }
}

fn main() {
    assert_eq!(Net::PLAN.len(), 3);
    assert_eq!(Net::LAYERS[0].name, "plan");
    assert_eq!(Net::PARAMS[0].name, "plan.weight");
}
