use super::*;

fn message(e: Error) -> String {
    e.to_string()
}

fn tiny() -> Dataset {
    // 6 samples of [1, 1, 2], labels 0 1 2 0 1 2.
    let inputs: Vec<f32> = (0..12).map(|v| v as f32).collect();
    Dataset::classification(inputs, &[1, 1, 2], vec![0, 1, 2, 0, 1, 2], 3).unwrap()
}

#[test]
fn accessors() {
    let mut d = tiny();
    assert_eq!(d.len(), 6);
    assert!(!d.is_empty());
    assert_eq!(d.sample_shape(), &[1, 1, 2]);
    assert_eq!(d.sample_len(), 2);
    assert_eq!(d.input(2), &[4.0, 5.0]);
    assert_eq!(d.inputs().len(), 12);
    assert_eq!(d.labels(), Some(&[0, 1, 2, 0, 1, 2][..]));
    assert_eq!(d.classes(), Some(3));
    assert_eq!(d.class_counts(), Some(vec![2, 2, 2]));
    d.inputs_mut()[0] = 9.0;
    assert_eq!(d.input(0), &[9.0, 1.0]);
    assert!(matches!(d.targets(), Targets::Classes { classes: 3, .. }));
}

#[test]
#[should_panic(expected = "sample index 6 is out of range")]
fn input_out_of_range_panics() {
    tiny().input(6);
}

#[test]
fn regression_accessors() {
    let d = Dataset::regression(vec![1.0; 6], &[3], vec![1.0, 2.0, 3.0, 4.0], 2).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d.labels(), None);
    assert_eq!(d.classes(), None);
    assert_eq!(d.class_counts(), None);
    assert_eq!(
        d.targets(),
        &Targets::Values {
            values: vec![1.0, 2.0, 3.0, 4.0],
            len: 2
        }
    );
    let s = d.subset(&[1, 1, 0]);
    assert_eq!(
        s.targets(),
        &Targets::Values {
            values: vec![3.0, 4.0, 3.0, 4.0, 1.0, 2.0],
            len: 2
        }
    );
    assert_eq!(s.len(), 3);
    assert_eq!(d.filter_classes(|_| false), d);
}

#[test]
fn constructor_errors() {
    let m = message(Dataset::classification(vec![0.0; 5], &[2], vec![0, 1], 2).unwrap_err());
    assert!(
        m.contains("5 values") && m.contains("2 labels at 2 values") && m.contains("need 4"),
        "{m}"
    );
    let m = message(Dataset::classification(vec![0.0; 4], &[2], vec![0, 7], 3).unwrap_err());
    assert!(
        m.contains("label 7 at index 1") && m.contains("3 classes"),
        "{m}"
    );
    let m = message(Dataset::classification(vec![], &[2], vec![], 3).unwrap_err());
    assert!(m.contains("empty"), "{m}");
    let m = message(Dataset::classification(vec![0.0; 2], &[2], vec![0], 0).unwrap_err());
    assert!(m.contains("at least one class"), "{m}");
    let m = message(Dataset::classification(vec![0.0; 2], &[], vec![0], 1).unwrap_err());
    assert!(m.contains("sample shape is empty"), "{m}");
    let m = message(Dataset::classification(vec![], &[2, 0], vec![0], 1).unwrap_err());
    assert!(m.contains("zero dimension"), "{m}");
    let m = message(Dataset::classification(vec![], &[usize::MAX, 2], vec![0], 1).unwrap_err());
    assert!(m.contains("too large"), "{m}");

    let m = message(Dataset::regression(vec![0.0; 4], &[2], vec![1.0; 3], 1).unwrap_err());
    assert!(m.contains("4 values") && m.contains("3 target rows"), "{m}");
    let m = message(Dataset::regression(vec![0.0; 4], &[2], vec![1.0; 3], 2).unwrap_err());
    assert!(
        m.contains("3 target values") && m.contains("2 values"),
        "{m}"
    );
    let m = message(Dataset::regression(vec![0.0; 4], &[2], vec![1.0; 2], 0).unwrap_err());
    assert!(m.contains("target length"), "{m}");
    let m = message(Dataset::regression(vec![], &[2], vec![], 1).unwrap_err());
    assert!(m.contains("empty"), "{m}");
}

#[test]
fn subset_and_filter() {
    let d = tiny();
    let s = d.subset(&[5, 0, 5]);
    assert_eq!(s.inputs(), &[10.0, 11.0, 0.0, 1.0, 10.0, 11.0]);
    assert_eq!(s.labels(), Some(&[2, 0, 2][..]));
    assert_eq!(s.classes(), Some(3));
    let f = d.filter_classes(|c| c == 1);
    assert_eq!(f.labels(), Some(&[1, 1][..]));
    assert_eq!(f.inputs(), &[2.0, 3.0, 8.0, 9.0]);
    assert_eq!(f.class_counts(), Some(vec![0, 2, 0]));
    let none = d.filter_classes(|_| false);
    assert!(none.is_empty());
    assert_eq!(none.sample_shape(), &[1, 1, 2]);
}

#[test]
#[should_panic(expected = "subset index 6 is out of range")]
fn subset_out_of_range_panics() {
    tiny().subset(&[0, 6]);
}

#[test]
fn split_is_reproducible_and_partitions() {
    let n = 100;
    let inputs: Vec<f32> = (0..n).map(|v| v as f32).collect();
    let labels: Vec<usize> = (0..n).map(|v| v % 10).collect();
    let d = Dataset::classification(inputs, &[1], labels, 10).unwrap();
    let (train, val) = d.split(0.25, 3).unwrap();
    assert_eq!((train.len(), val.len()), (75, 25));
    let (train2, val2) = d.split(0.25, 3).unwrap();
    assert_eq!((&train, &val), (&train2, &val2));
    let (_, val3) = d.split(0.25, 4).unwrap();
    assert_ne!(val, val3, "a different seed gives a different split");
    // Every sample on exactly one side, each side in original order.
    let mut all: Vec<f32> = train.inputs().iter().chain(val.inputs()).copied().collect();
    assert!(train.inputs().windows(2).all(|w| w[0] < w[1]));
    assert!(val.inputs().windows(2).all(|w| w[0] < w[1]));
    all.sort_by(f32::total_cmp);
    assert_eq!(all, d.inputs());
    // Labels travel with their inputs.
    for i in 0..val.len() {
        assert_eq!(val.labels().unwrap()[i], val.input(i)[0] as usize % 10);
    }
    // Rounding: 10 samples * 0.15 = 1.5 -> 2.
    let small = d.subset(&(0..10).collect::<Vec<_>>());
    assert_eq!(small.split(0.15, 0).unwrap().1.len(), 2);
}

#[test]
fn split_zero_fraction_keeps_everything() {
    let d = tiny();
    let (train, val) = d.split(0.0, 1).unwrap();
    assert_eq!(train, d);
    assert!(val.is_empty());
    assert_eq!(val.classes(), Some(3));
}

#[test]
fn split_errors() {
    let d = tiny();
    for bad in [1.0, 1.5, -0.1, f32::NAN, f32::INFINITY] {
        let e = d.split(bad, 0).unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{bad}: {e:?}");
        assert!(message(e).contains("[0, 1)"));
    }
    // 6 * 0.05 = 0.3 -> 0 validation samples.
    let m = message(d.split(0.05, 0).unwrap_err());
    assert!(
        m.contains("validation set empty") && m.contains("6 samples"),
        "{m}"
    );
    // 6 * 0.95 = 5.7 -> 6: no training samples.
    let m = message(d.split(0.95, 0).unwrap_err());
    assert!(m.contains("training set empty"), "{m}");
    let empty = d.filter_classes(|_| false);
    let m = message(empty.split(0.5, 0).unwrap_err());
    assert!(m.contains("empty dataset"), "{m}");
}
