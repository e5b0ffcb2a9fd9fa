//! Evaluating a network: confusion matrix, per-class and top-k accuracy.

use cnn::data::Dataset;
use cnn::metrics::{evaluate, ConfusionMatrix};

cnn::network! {
    /// Three scores from two inputs: fc.weight [3, 2], fc.bias [3].
    pub struct Linear {
        input: [2],
        fc: dense(3),
    }
}

#[test]
fn evaluate_a_network_by_hand() {
    // Scores: class 0 = x0, class 1 = x1, class 2 = 0.5 (bias).
    let net = Linear::from_weights(vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.5]).unwrap();
    let inputs = vec![
        0.9, 0.1, // scores 0.9 0.1 0.5 -> 0 (label 0)
        0.2, 0.8, // 0.2 0.8 0.5 -> 1 (label 1)
        0.3, 0.1, // 0.3 0.1 0.5 -> 2 (label 1: third)
        0.6, 0.7, // 0.6 0.7 0.5 -> 1 (label 0: second)
        0.0, 0.0, // 0 0 0.5 -> 2 (label 2)
    ];
    let data = Dataset::classification(inputs, &[2], vec![0, 1, 1, 0, 2], 3).unwrap();
    let e = evaluate(&net, &data).unwrap();
    let m = e.confusion();
    assert_eq!(m.counts(), &[1, 1, 0, 0, 1, 1, 0, 0, 1]);
    assert_eq!(e.accuracy(), Some(0.6));
    assert_eq!(
        e.per_class_accuracy(),
        vec![Some(0.5), Some(0.5), Some(1.0)]
    );
    assert_eq!(e.top_k_accuracy(1).unwrap(), 0.6);
    // Sample 3's label is second, sample 2's third.
    assert_eq!(e.top_k_accuracy(2).unwrap(), 0.8);
    assert_eq!(e.top_k_accuracy(3).unwrap(), 1.0);
    assert!(e.top_k_accuracy(4).is_err());
    assert_eq!(e.scores().len(), 15);
    assert_eq!(
        m,
        &ConfusionMatrix::from_predictions(&[0, 1, 1, 0, 2], &[0, 1, 2, 1, 2], 3).unwrap()
    );
    let table = m.to_string();
    assert!(table.contains("accuracy 60.00% (3 of 5)"), "{table}");
}

#[test]
fn evaluate_refuses_what_it_cannot_score() {
    let net = Linear::zeros();
    let four = Dataset::classification(vec![0.0; 4], &[2], vec![0, 3], 4).unwrap();
    let m = evaluate(&net, &four).unwrap_err().to_string();
    assert!(
        m.contains("3 outputs per sample") && m.contains("4 classes"),
        "{m}"
    );
    let values = Dataset::regression(vec![0.0; 4], &[2], vec![1.0; 6], 3).unwrap();
    assert!(evaluate(&net, &values)
        .unwrap_err()
        .to_string()
        .contains("class labels"));
}
