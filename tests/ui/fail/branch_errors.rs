// Mistakes in blocks and branches name the instance, the branch and the
// shapes involved.
cnn::network! {
    block inception(c1, c3) = concat(
        branch1: [conv(c1, kernel = 1), relu],
        branch2: [conv(c3, kernel = 3), relu],
    );
    block residual(planes) = add([conv(planes, kernel = 3, pad = 1)], identity);
    block looped(c) = [conv(c, kernel = 1), looped(c)];

    struct Net {
        input: [8, 16, 16],
        mixed: inception(4, 4),
        shortcut: residual(16),
        wrong: inception(4, c5 = 2),
        missing: residual(),
        three: add([relu], [relu], identity),
        again: looped(2),
    }

    struct Residual {
        input: [8, 16, 16],
        block1: residual(16),
    }
}

fn main() {}
