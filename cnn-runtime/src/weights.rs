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
    /// Little-endian `f32`s, aligned (compiled in as a byte string).
    Bytes(&'static [u8]),
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

    /// Borrows compiled-in little-endian `f32`s, 4-byte aligned (as
    /// [`Aligned`] makes them).
    pub const fn from_static_bytes(bytes: &'static [u8]) -> Self {
        Weights {
            inner: Inner::Bytes(bytes),
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
            Inner::Bytes(b) => floats(b),
            #[cfg(feature = "std")]
            Inner::Owned(w) => w,
        }
    }

    /// The parameters, mutably; a static buffer is copied first.
    #[cfg(feature = "std")]
    pub fn make_mut(&mut self) -> &mut [f32] {
        if let Inner::Static(_) | Inner::Bytes(_) = self.inner {
            self.inner = Inner::Owned(self.as_slice().to_vec());
        }
        match &mut self.inner {
            Inner::Owned(w) => w,
            Inner::Static(_) | Inner::Bytes(_) => unreachable!("converted above"),
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
        matches!(self.inner, Inner::Static(_) | Inner::Bytes(_))
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

/// The inference parameters of a network whose batch normalisations fold
/// into the conv or dense layers before them: the network's parameters,
/// then the folded weights and biases (the network's `INFER_PARAM_COUNT`
/// values). Compiled in (folded at compile time) or, with `std`, computed
/// from the parameters on first use and dropped when they change.
#[derive(Clone)]
pub struct Folded {
    inner: FoldedInner,
}

#[derive(Clone)]
enum FoldedInner {
    Bytes(&'static [u8]),
    #[cfg(feature = "std")]
    Lazy(std::sync::OnceLock<std::vec::Vec<f32>>),
}

impl Folded {
    /// Folded parameters compiled in as little-endian `f32`s, 4-byte
    /// aligned.
    pub const fn from_static_bytes(bytes: &'static [u8]) -> Self {
        Folded {
            inner: FoldedInner::Bytes(bytes),
        }
    }

    /// Folded parameters to compute on first use.
    #[cfg(feature = "std")]
    pub const fn lazy() -> Self {
        Folded {
            inner: FoldedInner::Lazy(std::sync::OnceLock::new()),
        }
    }

    /// The folded parameters: compiled in, or computed from `weights` by
    /// `fold` into `len` values the first time.
    #[inline]
    pub fn get(&self, weights: &[f32], len: usize, fold: fn(&[f32], &mut [f32])) -> &[f32] {
        #[cfg(not(feature = "std"))]
        let _ = (weights, len, fold);
        match &self.inner {
            FoldedInner::Bytes(bytes) => floats(bytes),
            #[cfg(feature = "std")]
            FoldedInner::Lazy(cell) => cell.get_or_init(|| {
                let mut values = std::vec![0.0; len];
                fold(weights, &mut values);
                values
            }),
        }
    }

    /// Forgets the folded values (the parameters are about to change).
    #[cfg(feature = "std")]
    pub fn reset(&mut self) {
        *self = Folded::lazy();
    }
}

impl fmt::Debug for Folded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            FoldedInner::Bytes(b) => write!(f, "Folded({} f32, static)", b.len() / 4),
            #[cfg(feature = "std")]
            FoldedInner::Lazy(cell) => match cell.get() {
                Some(v) => write!(f, "Folded({} f32, computed)", v.len()),
                None => write!(f, "Folded(not computed)"),
            },
        }
    }
}

/// Compiled-in bytes as the `f32`s they hold (the target is little-endian:
/// the generated code asserts it).
#[inline]
fn floats(bytes: &'static [u8]) -> &'static [f32] {
    // Aligned and a whole number of floats by construction (`Aligned`, a
    // byte string of 4n bytes); bytemuck checks both.
    bytemuck::cast_slice(bytes)
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
