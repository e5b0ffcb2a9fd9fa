// A user type with the name of a network's arena type: one error, on the
// name.
struct NetArena;

cnn::network! {
    struct Net {
        input: [4],
        fc: dense(2),
    }
}

fn main() {
    let _ = NetArena;
    let _ = Net::PARAM_COUNT;
}
