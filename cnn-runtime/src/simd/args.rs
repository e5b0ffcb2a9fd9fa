//! The arguments the SIMD kernels take, grouped by what they describe.
//! Only read-only values are grouped: every buffer a kernel writes is an
//! argument of its own, so that the compiler knows it overlaps nothing
//! else (an `&mut` slice inside a struct would not tell it).

use cnn_spec::{Act, ConvGeom, PoolGeom};

/// A matrix view: `rows x cols` with element `(i, j)` at `i * rs + j * cs`.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Distance between rows.
    pub rs: usize,
    /// Distance between columns.
    pub cs: usize,
}

impl Layout {
    /// Row-major, contiguous.
    pub const fn row_major(rows: usize, cols: usize) -> Self {
        Layout {
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major `cols x rows` matrix.
    pub const fn transposed(rows: usize, cols: usize) -> Self {
        Layout {
            rows,
            cols,
            rs: 1,
            cs: rows,
        }
    }
    /// One past the largest index the view touches (0 when empty).
    pub const fn extent(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
        }
    }
}

/// A matrix to read: its values and their [`Layout`].
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a> {
    /// The values; at least `layout.extent()` of them.
    pub data: &'a [f32],
    /// Where element `(i, j)` is.
    pub layout: Layout,
}

/// A convolution's parameters as the direct kernels read them.
#[derive(Clone, Copy, Debug)]
pub struct Filter<'a> {
    /// The geometry.
    pub g: &'a ConvGeom,
    /// Weights, `[k, c, kh, kw]`.
    pub w: &'a [f32],
    /// Bias, `[k]`, if any.
    pub b: Option<&'a [f32]>,
}

/// A max-pool fused after a convolution and its activation (`Relu` or
/// `Identity`).
#[derive(Clone, Copy, Debug)]
pub struct FusedPool<'a> {
    /// The pool's geometry (`c` the convolution's output channels).
    pub p: &'a PoolGeom,
    /// The activation between convolution and pool.
    pub act: Act,
}

/// The gradient of one sample's pooled output of a fused conv → ReLU →
/// max-pool layer, and where each pooled value came from.
#[derive(Clone, Copy, Debug)]
pub struct PooledGrad<'a> {
    /// The pool's geometry.
    pub p: &'a PoolGeom,
    /// Argmax bytes the forward pass kept, `[k, p.oh, p.ow]`.
    pub argmax: &'a [u8],
    /// The gradient of the pooled output, `[k, p.oh, p.ow]`.
    pub dy: &'a [f32],
}

/// The gradients a convolution's backward pass produces for one sample:
/// it writes the input gradient and adds into the parameter gradients;
/// `None` skips one.
#[derive(Debug)]
pub struct ConvGrads<'a> {
    /// Input gradient, `[c, h, w]` (written).
    pub dx: Option<&'a mut [f32]>,
    /// Weight gradient, `[k, c, kh, kw]` (added into).
    pub dw: Option<&'a mut [f32]>,
    /// Bias gradient, `[k]` (added into).
    pub db: Option<&'a mut [f32]>,
}
