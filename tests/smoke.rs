cnn::network! {
    pub struct LeNet5 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
    }
}

#[test]
fn smoke() {
    let net = LeNet5::new(cnn::Init::He, 1);
    let y = net.predict(&[0.5; 784]);
    println!("{y:?}");
    println!("{}", LeNet5::summary());
}
