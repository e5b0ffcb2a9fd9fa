// Networks are concrete types.
cnn::network! {
    struct Net<T> {
        input: [64],
        dense(10),
    }
}

fn main() {}
