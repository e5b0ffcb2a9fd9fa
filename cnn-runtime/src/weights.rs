//! Parameter storage: one contiguous `f32` buffer per network.

use core::fmt;

/// The parameters of a network: one contiguous `f32` buffer with every
/// layer's weight and bias at offsets fixed at compile time (see the
/// network's `PARAMS` table).
///
/// Without `std` the buffer is `'static` (weights compiled into the binary
/// with `#[cnn(weights = "...")]`, or any other static array). With `std` it
/// can also be owned, and a static buffer is copied on first write.
#[derive(Clone)]
pub struct Weights {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Static(&'static [f32]),
    #[cfg(feature = "std")]
    Owned(std::vec::Vec<f32>),
}

impl Weights {
    /// Borrows a static buffer (no copy, no allocation).
    pub const fn from_static(weights: &'static [f32]) -> Self {
        Weights {
            inner: Inner::Static(weights),
        }
    }

    /// Takes ownership of a buffer.
    #[cfg(feature = "std")]
    pub fn from_vec(weights: std::vec::Vec<f32>) -> Self {
        Weights {
            inner: Inner::Owned(weights),
        }
    }

    /// The parameters.
    #[inline]
    pub fn as_slice(&self) -> &[f32] {
        match &self.inner {
            Inner::Static(w) => w,
            #[cfg(feature = "std")]
            Inner::Owned(w) => w,
        }
    }

    /// The parameters, mutably; a static buffer is copied first.
    #[cfg(feature = "std")]
    pub fn make_mut(&mut self) -> &mut [f32] {
        if let Inner::Static(w) = self.inner {
            self.inner = Inner::Owned(w.to_vec());
        }
        match &mut self.inner {
            Inner::Owned(w) => w,
            Inner::Static(_) => unreachable!("converted above"),
        }
    }

    /// Replaces the buffer (same length; checked by the caller).
    #[cfg(feature = "std")]
    pub fn replace(&mut self, weights: std::vec::Vec<f32>) {
        self.inner = Inner::Owned(weights);
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether the network has no parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the buffer is static (compiled in) rather than owned.
    pub fn is_static(&self) -> bool {
        matches!(self.inner, Inner::Static(_))
    }
}

impl fmt::Debug for Weights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Weights({} f32, {})",
            self.len(),
            if self.is_static() { "static" } else { "owned" }
        )
    }
}

/// A value aligned to 64 bytes (a cache line, and an AVX-512 vector), used
/// for weights compiled into the binary.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug)]
pub struct Aligned<T>(pub T);

/// Caller-supplied memory for single-sample inference: every activation of
/// the network (input included) and the kernels' scratch, placed at offsets
/// the macro plans at compile time. Each network has an alias for its size,
/// e.g. `LeNet5Arena = Arena<{ LeNet5::ARENA_LEN }>`.
///
/// `Arena::new()` is a `const fn`, so an arena can live in a `static`.
#[repr(C, align(64))]
#[derive(Clone)]
pub struct Arena<const N: usize> {
    buf: [f32; N],
}

impl<const N: usize> Arena<N> {
    /// Floats in the arena.
    pub const LEN: usize = N;
    /// Bytes in the arena.
    pub const BYTES: usize = N * 4;

    /// A zeroed arena.
    pub const fn new() -> Self {
        Arena { buf: [0.0; N] }
    }

    /// The arena's memory.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.buf
    }

    /// The arena's memory, read-only.
    #[inline]
    pub fn as_slice(&self) -> &[f32] {
        &self.buf
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for Arena<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Arena<{N}> ({} bytes)", N * 4)
    }
}
