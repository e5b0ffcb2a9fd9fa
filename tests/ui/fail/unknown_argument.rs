// A misspelt argument name gets a suggestion, and no second error about
// the argument it was meant to be.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, kernal = 3),
        flatten,
        dense(10),
    }
}

fn main() {}
