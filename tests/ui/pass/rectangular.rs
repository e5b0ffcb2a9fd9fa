// Rectangular kernels, strides, padding and pooling windows, given as
// `(height, width)` or `[height, width]`.
cnn::network! {
    struct Rect {
        input: [3, 17, 15],
        conv1: conv(9, kernel = (3, 5), stride = (1, 2), pad = (1, 2)), relu,
        pool1: max_pool((2, 3), stride = [2, 1]),
        conv2: conv(4, kernel = [1, 3], bias = false),
        avg_pool(2, stride = 1, pad = 1),
        global_avg_pool,
        flatten,
        dense(3),
    }
}

// conv1: 17x15 -> (17 + 2 - 3) / 1 + 1 = 17, (15 + 4 - 5) / 2 + 1 = 8
// pool1: 17x8  -> (17 - 2) / 2 + 1 = 8,      (8 - 3) / 1 + 1 = 6
// conv2: 8x6   -> 8, (6 - 3) + 1 = 4
// avg_pool: 8x4 -> (8 + 2 - 2) + 1 = 9, (4 + 2 - 2) + 1 = 5
const _: () = assert!(Rect::INPUT_LEN == 3 * 17 * 15);
const _: () = assert!(Rect::OUTPUT_LEN == 3);
const _: () = assert!(Rect::PARAM_COUNT == (9 * 3 * 3 * 5 + 9) + (4 * 9 * 3) + (4 * 3 + 3));

fn main() {
    let shapes: Vec<&[usize]> = Rect::LAYERS.iter().map(|l| l.output_shape).collect();
    assert!(shapes.contains(&&[9usize, 17, 8][..]), "{shapes:?}");
    assert!(shapes.contains(&&[9usize, 8, 6][..]), "{shapes:?}");
    assert!(shapes.contains(&&[4usize, 8, 4][..]), "{shapes:?}");
    assert!(shapes.contains(&&[4usize, 9, 5][..]), "{shapes:?}");
    assert!(shapes.contains(&&[4usize, 1, 1][..]), "{shapes:?}");
}
