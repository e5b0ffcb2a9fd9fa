// Every mistake is reported in one build, each on its own layer or
// argument. A layer whose arguments are wrong but whose output shape does
// not depend on them (`relu(1)`) does not stop the shape checks of the
// layers after it; after any other broken layer the shape is unknown, so
// there are no follow-on errors about shapes.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, kernel = 3),
        relu(1),
        conv2: conv(8, kernel = 31),
        pool1: max_pool(2, strid = 2),
        conv3: conv(16, kernel = 3, pad = -1),
        dropout(2.0),
        conv1: conv(0, kernel = 3),
        flatten,
        frobnicate,
        fc1: dense(10, bias = "yes"),
        fc2: dense(10),
    }
}

fn main() {}
