// An unknown dtype, and int8 without a weights file.
cnn::network! {
    #[cnn(dtype = "int4")]
    struct A {
        input: [4],
        fc: dense(2),
    }

    #[cnn(dtype = "int8")]
    struct B {
        input: [4],
        fc: dense(2),
    }
}

fn main() {}
