// Two networks in one invocation (a `;` between declarations is allowed).
cnn::network! {
    /// A small image classifier.
    pub struct Small {
        input: [1, 8, 8],
        conv(4, kernel = 3), relu, max_pool(2),
        flatten,
        dense(10),
        softmax,
    };

    struct Tiny {
        input: [3],
        dense(2),
    }
}

fn main() {
    assert_eq!(Small::INPUT_LEN, 64);
    assert_eq!(Small::OUTPUT_LEN, 10);
    assert_eq!(Tiny::INPUT_LEN, 3);
    assert_eq!(Tiny::OUTPUT_LEN, 2);
}
