// A misspelt layer kind gets a suggestion.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv(8, kernel = 3), relu,
        max_pol(2),
        flatten,
        dense(10),
    }
}

fn main() {}
