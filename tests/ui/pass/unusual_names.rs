// Layer names that are keywords or raw identifiers, and names that look
// like the automatic ones.
cnn::network! {
    struct Net {
        input: [2, 6, 6],
        r#type: conv(3, kernel = 3),
        relu2: relu,
        relu,
        r#match: max_pool(2),
        flatten,
        self_: dense(4),
    }
}

fn main() {
    let names: Vec<&str> = Net::LAYERS.iter().map(|l| l.name).collect();
    assert_eq!(names, ["type", "relu2", "relu1", "match", "flatten1", "self_"]);
}
