//! What the code `network!` generates calls. Not a stable API: the macro
//! reaches it through the versioned module [`v1`] only, so that a runtime
//! can serve the code of the macro versions it was built for.

pub mod v1;

/// Expands its items when the runtime has the `std` feature, and to
/// nothing otherwise, so generated code can offer training and file I/O
/// exactly when the runtime supports them.
#[cfg(feature = "std")]
#[macro_export]
#[doc(hidden)]
macro_rules! __std_only {
    ($($item:tt)*) => { $($item)* };
}

/// See the `std` version.
#[cfg(not(feature = "std"))]
#[macro_export]
#[doc(hidden)]
macro_rules! __std_only {
    ($($item:tt)*) => {};
}
