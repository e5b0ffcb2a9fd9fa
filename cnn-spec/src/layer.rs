//! Layer descriptors and the choice of convolution algorithm and kernel.

use crate::act::Act;
use crate::geom::{ConvGeom, PoolGeom};
use crate::limits::MAX_LANES;
use crate::tuning::{CV_MAX_PACKED, FEW_INPUT_CHANNELS, WINOGRAD_MIN_TILES};
use crate::winograd;

/// How a convolution is computed; [`choose_algo`] picks it from the shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvAlgo {
    /// Direct loops: for few input channels, where a GEMM tile would be
    /// mostly empty, and for layers whose packed weights stay in cache.
    Direct,
    /// im2col then GEMM: for wide layers.
    Im2col,
    /// 1x1 kernel, stride 1, no padding: a plain GEMM on the input.
    Pointwise,
    /// 3x3 stride 1 by Winograd's F(4x4, 3x3): 36 multiplications per
    /// 4x4 tile and channel pair instead of 144 (see [`crate::winograd`]).
    /// Its backward pass is im2col's.
    Winograd,
}

/// The convolution algorithm for a layer of geometry `g` (one group's).
///
/// - 1x1, stride 1, no padding: [`ConvAlgo::Pointwise`], a plain GEMM on
///   the input;
/// - 3x3, stride 1, more than [`FEW_INPUT_CHANNELS`] input channels, at
///   least a vector of output channels ([`MAX_LANES`]) and at least
///   [`WINOGRAD_MIN_TILES`] 4x4 output tiles: [`ConvAlgo::Winograd`];
/// - few input channels (at most [`FEW_INPUT_CHANNELS`]: LeNet's first
///   layers, the RGB input of VGG and AlexNet): [`ConvAlgo::Direct`], where
///   a GEMM tile would be mostly empty;
/// - at least a vector of output channels ([`MAX_LANES`]) and packed
///   weights that stay in cache (at most [`CV_MAX_PACKED`] floats with the
///   output channels rounded up to [`MAX_LANES`], e.g. a 64→64 3x3 layer):
///   [`ConvAlgo::Direct`] vectorised over output channels, which needs no
///   im2col;
/// - otherwise [`ConvAlgo::Im2col`].
///
/// ```
/// use cnn_spec::{choose_algo, ConvAlgo, ConvGeom};
/// let lenet_conv1 = ConvGeom::new(1, 28, 28, 6, (5, 5), (1, 1), (2, 2));
/// assert_eq!(choose_algo(&lenet_conv1), ConvAlgo::Direct);
/// let wide = ConvGeom::new(256, 14, 14, 256, (3, 3), (1, 1), (1, 1));
/// assert_eq!(choose_algo(&wide), ConvAlgo::Im2col);
/// let vgg = ConvGeom::new(128, 112, 112, 128, (3, 3), (1, 1), (1, 1));
/// assert_eq!(choose_algo(&vgg), ConvAlgo::Winograd);
/// ```
#[inline]
pub const fn choose_algo(g: &ConvGeom) -> ConvAlgo {
    let packed = g.patch_len() * g.k.div_ceil(MAX_LANES) * MAX_LANES;
    let (th, tw) = winograd::tiles(g);
    if g.is_pointwise() {
        ConvAlgo::Pointwise
    } else if g.kh == 3
        && g.kw == 3
        && g.sh == 1
        && g.sw == 1
        && g.c > FEW_INPUT_CHANNELS
        && g.k >= MAX_LANES
        && th * tw >= WINOGRAD_MIN_TILES
    {
        ConvAlgo::Winograd
    } else if g.c <= FEW_INPUT_CHANNELS || (g.k >= MAX_LANES && packed <= CV_MAX_PACKED) {
        ConvAlgo::Direct
    } else {
        ConvAlgo::Im2col
    }
}

/// Whether a convolution of geometry `g` followed by ReLU and a max-pool
/// of windows `(kh, kw)` and stride `(sh, sw)` runs as one fused kernel by
/// default: only when the windows are disjoint (stride at least the
/// window, as in LeNet's and VGG's 2x2 pools) and the convolution is not
/// [`ConvAlgo::Winograd`]'s, which has no fused kernel and is faster
/// unfused than the fused kernels of the other algorithms (VGG-16's
/// 64→64 layer at 224x224, one thread: 24 ms against 53 ms for the direct
/// convolution alone, `cargo bench --bench winograd`). Overlapping windows (AlexNet's, GoogLeNet's
/// and ResNet's 3x3 stride-2 pools) make the fused kernels compute conv
/// rows twice or in narrow bands; the conv, then the pool, is faster there
/// (AlexNet's three blocks, batch 1, one thread: the fused kernels take
/// 1.70–1.77 times as long; the whole of AlexNet on two threads runs in
/// 0.51–0.63 of the time at batch 1). The network option
/// `#[cnn(fuse_overlapping = true)]` fuses them anyway.
///
/// ```
/// use cnn_spec::{fuses_pool, ConvGeom};
/// let lenet = ConvGeom::new(6, 14, 14, 16, (5, 5), (1, 1), (0, 0));
/// assert!(fuses_pool(&lenet, (2, 2), (2, 2)));
/// assert!(!fuses_pool(&lenet, (3, 3), (2, 2)));
/// let vgg = ConvGeom::new(64, 224, 224, 64, (3, 3), (1, 1), (1, 1));
/// assert!(!fuses_pool(&vgg, (2, 2), (2, 2)));
/// ```
#[inline]
pub const fn fuses_pool(g: &ConvGeom, (kh, kw): (usize, usize), (sh, sw): (usize, usize)) -> bool {
    sh >= kh && sw >= kw && !matches!(choose_algo(g), ConvAlgo::Winograd)
}

/// The runtime kernel that computes a convolution layer's forward pass
/// ([`Conv::kernel`]); each has its own entry point in `cnn_runtime::ops`
/// ([`ConvKernel::entry_point`]), so a binary links only the kernels its
/// network uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKernel {
    /// Direct convolution, no pool.
    Direct,
    /// im2col and GEMM, no pool.
    Im2col,
    /// 1x1 GEMM, no pool.
    Pointwise,
    /// Winograd's F(4x4, 3x3), no pool.
    Winograd,
    /// Direct convolution fused with a max-pool whose windows are disjoint:
    /// each window's conv values are computed and reduced on the spot.
    FusedDirectDisjoint,
    /// Direct convolution fused with an overlapping max-pool: one output
    /// channel at a time through a scratch plane.
    FusedDirectPlane,
    /// im2col or 1x1 GEMM fused with a max-pool: the conv rows a pooled row
    /// needs go through a scratch band (a [`ConvAlgo::Winograd`] layer
    /// with a fused pool, which the macro makes only when asked to fuse
    /// overlapping pools, computes its band by im2col).
    FusedBand,
}

impl ConvKernel {
    /// The path of the kernel's entry point below `cnn_runtime::ops`.
    #[inline]
    pub const fn entry_point(self) -> &'static str {
        match self {
            ConvKernel::Direct => "conv::forward_direct",
            ConvKernel::Im2col => "conv::forward_im2col",
            ConvKernel::Pointwise => "conv::forward_pointwise",
            ConvKernel::Winograd => "conv::forward_winograd",
            ConvKernel::FusedDirectDisjoint => "fused::forward_direct_disjoint",
            ConvKernel::FusedDirectPlane => "fused::forward_direct_plane",
            ConvKernel::FusedBand => "fused::forward_band",
        }
    }

    /// Whether the kernel fuses a max-pool.
    #[inline]
    pub const fn is_fused(self) -> bool {
        matches!(
            self,
            ConvKernel::FusedDirectDisjoint | ConvKernel::FusedDirectPlane | ConvKernel::FusedBand
        )
    }
}

/// A convolution layer as the generated code describes it: geometry,
/// algorithm, fused activation, an optional fused max-pool, and groups.
///
/// With `groups > 1` (PyTorch's grouped convolution) the input channels are
/// split into `groups` contiguous blocks and the output channels likewise;
/// output block `i` is the convolution of input block `i` with weight
/// block `i`. [`Conv::geom`] and [`Conv::pool`] describe one group
/// (`geom.c = C / groups`, `geom.k = K / groups`); the whole layer has
/// weights `[K, C / groups, kh, kw]` and bias `[K]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv {
    /// The geometry of one group's convolution.
    pub geom: ConvGeom,
    /// How it is computed.
    pub algo: ConvAlgo,
    /// Activation applied to the convolution's output.
    pub act: Act,
    /// A max-pool fused after the activation (only with `Act::Relu` or
    /// `Act::Identity`) over one group's output channels (`c = geom.k`):
    /// the conv output is never stored.
    pub pool: Option<PoolGeom>,
    /// Whether the layer has a bias.
    pub bias: bool,
    /// Number of groups (1 for an ordinary convolution).
    pub groups: usize,
}

impl Conv {
    /// The kernel that computes the layer's forward pass.
    #[inline]
    pub const fn kernel(&self) -> ConvKernel {
        match (self.pool, self.algo) {
            (None, ConvAlgo::Direct) => ConvKernel::Direct,
            (None, ConvAlgo::Im2col) => ConvKernel::Im2col,
            (None, ConvAlgo::Pointwise) => ConvKernel::Pointwise,
            (None, ConvAlgo::Winograd) => ConvKernel::Winograd,
            (Some(p), ConvAlgo::Direct) => {
                if p.is_disjoint() {
                    ConvKernel::FusedDirectDisjoint
                } else {
                    ConvKernel::FusedDirectPlane
                }
            }
            (Some(_), ConvAlgo::Im2col | ConvAlgo::Pointwise | ConvAlgo::Winograd) => {
                ConvKernel::FusedBand
            }
        }
    }
    /// The algorithm of the unfused backward pass: the forward pass's,
    /// except that a channel-vectorised direct layer (more than
    /// [`FEW_INPUT_CHANNELS`] input channels, direct because its packed
    /// weights stay in cache) takes its gradients by im2col and GEMM,
    /// which is faster there than the direct gradient kernels (a ResNet-18
    /// training step at batch 8, when its 64→64 3x3 layers ran direct:
    /// 0.89–0.91 of the time), and so does a [`ConvAlgo::Winograd`] layer.
    /// Layers with a fused pool keep their own backward pass, which reads
    /// the pool's winners.
    ///
    /// ```
    /// use cnn_spec::{choose_algo, Act, Conv, ConvAlgo, ConvGeom};
    /// let layer = |geom| Conv {
    ///     geom,
    ///     algo: choose_algo(&geom),
    ///     act: Act::Relu,
    ///     pool: None,
    ///     bias: true,
    ///     groups: 1,
    /// };
    /// let small = layer(ConvGeom::new(64, 14, 14, 64, (3, 3), (1, 1), (1, 1)));
    /// assert_eq!(small.algo, ConvAlgo::Direct);
    /// assert_eq!(small.backward_algo(), ConvAlgo::Im2col);
    /// let resnet = layer(ConvGeom::new(64, 56, 56, 64, (3, 3), (1, 1), (1, 1)));
    /// assert_eq!(resnet.algo, ConvAlgo::Winograd);
    /// assert_eq!(resnet.backward_algo(), ConvAlgo::Im2col);
    /// let rgb = layer(ConvGeom::new(3, 32, 32, 64, (3, 3), (1, 1), (1, 1)));
    /// assert_eq!(rgb.backward_algo(), ConvAlgo::Direct);
    /// ```
    #[inline]
    pub const fn backward_algo(&self) -> ConvAlgo {
        match self.pool {
            None => self.weight_grad_algo(),
            Some(_) => self.band_algo(),
        }
    }
    /// The algorithm of the weight gradient: the forward pass's, except
    /// that a channel-vectorised direct layer (more than
    /// [`FEW_INPUT_CHANNELS`] input channels) takes it by im2col and GEMM,
    /// with or without a fused pool (under a pool, its input gradient
    /// still comes from the pool's winners); and a [`ConvAlgo::Winograd`]
    /// layer. VGG-16's fused 64→64 3x3 layer at 224x224 was one before it
    /// ran Winograd's algorithm: its training step at batch 8 took
    /// 0.84–0.97 of the time it took with the direct weight-gradient kernel.
    ///
    /// ```
    /// use cnn_spec::{choose_algo, Act, Conv, ConvAlgo, ConvGeom, PoolGeom};
    /// let geom = ConvGeom::new(64, 24, 24, 64, (3, 3), (1, 1), (1, 1));
    /// let fused = Conv {
    ///     geom,
    ///     algo: choose_algo(&geom),
    ///     act: Act::Relu,
    ///     pool: Some(PoolGeom::new(64, 24, 24, (2, 2), (2, 2), (0, 0))),
    ///     bias: true,
    ///     groups: 1,
    /// };
    /// assert_eq!(fused.algo, ConvAlgo::Direct);
    /// assert_eq!(fused.backward_algo(), ConvAlgo::Direct);
    /// assert_eq!(fused.weight_grad_algo(), ConvAlgo::Im2col);
    /// ```
    #[inline]
    pub const fn weight_grad_algo(&self) -> ConvAlgo {
        match self.algo {
            ConvAlgo::Direct if self.geom.c > FEW_INPUT_CHANNELS => ConvAlgo::Im2col,
            ConvAlgo::Winograd => ConvAlgo::Im2col,
            algo => algo,
        }
    }
    /// The algorithm of the forward pass's GEMM path where a kernel has
    /// no Winograd variant (the fused band, the backward passes): im2col
    /// for [`ConvAlgo::Winograd`], the layer's own otherwise.
    #[inline]
    pub const fn band_algo(&self) -> ConvAlgo {
        match self.algo {
            ConvAlgo::Winograd => ConvAlgo::Im2col,
            algo => algo,
        }
    }
    /// Floats in one output sample of one group (after the fused pool, if any).
    #[inline]
    pub const fn group_out_len(&self) -> usize {
        match self.pool {
            Some(p) => p.out_len(),
            None => self.geom.out_len(),
        }
    }
    /// Floats in one input sample: `groups * geom.in_len()`.
    #[inline]
    pub const fn in_len(&self) -> usize {
        self.groups * self.geom.in_len()
    }
    /// Floats in one output sample (after the fused pool, if any), all groups.
    #[inline]
    pub const fn out_len(&self) -> usize {
        self.groups * self.group_out_len()
    }
    /// Number of weights (without bias), all groups: `[K, C / groups, kh, kw]`.
    #[inline]
    pub const fn weight_len(&self) -> usize {
        self.groups * self.geom.weight_len()
    }
    /// Input channels of the whole layer.
    #[inline]
    pub const fn in_channels(&self) -> usize {
        self.groups * self.geom.c
    }
    /// Output channels of the whole layer (and the bias length).
    #[inline]
    pub const fn out_channels(&self) -> usize {
        self.groups * self.geom.k
    }
    /// Multiply-accumulates of one sample's forward pass.
    #[inline]
    pub const fn macs(&self) -> usize {
        self.groups * self.geom.out_len() * self.geom.patch_len()
    }
}

/// A fully connected layer: `y = act(W x + b)`, `W` is `[outputs, inputs]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dense {
    /// Inputs per sample.
    pub inputs: usize,
    /// Outputs per sample.
    pub outputs: usize,
    /// Activation applied to the output.
    pub act: Act,
    /// Whether the layer has a bias.
    pub bias: bool,
}

impl Dense {
    /// Number of weights (without bias).
    #[inline]
    pub const fn weight_len(&self) -> usize {
        self.inputs * self.outputs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(g: ConvGeom, pool: Option<PoolGeom>) -> Conv {
        Conv {
            geom: g,
            algo: choose_algo(&g),
            act: Act::Relu,
            pool,
            bias: true,
            groups: 1,
        }
    }

    #[test]
    fn algorithms_by_shape() {
        let g = |c, k, kernel, pad| ConvGeom::new(c, 14, 14, k, kernel, (1, 1), pad);
        assert_eq!(choose_algo(&g(1, 6, (5, 5), (2, 2))), ConvAlgo::Direct);
        assert_eq!(choose_algo(&g(8, 4, (3, 3), (1, 1))), ConvAlgo::Direct);
        assert_eq!(choose_algo(&g(9, 8, (3, 3), (1, 1))), ConvAlgo::Im2col);
        assert_eq!(choose_algo(&g(64, 64, (3, 3), (1, 1))), ConvAlgo::Direct);
        assert_eq!(choose_algo(&g(128, 128, (3, 3), (1, 1))), ConvAlgo::Im2col);
        assert_eq!(choose_algo(&g(64, 32, (1, 1), (0, 0))), ConvAlgo::Pointwise);
        assert_eq!(choose_algo(&g(1, 6, (1, 1), (1, 1))), ConvAlgo::Direct);
    }

    #[test]
    fn kernels_by_layer() {
        let g = ConvGeom::new(3, 12, 12, 8, (3, 3), (1, 1), (1, 1));
        let disjoint = PoolGeom::new(8, 12, 12, (2, 2), (2, 2), (0, 0));
        let overlapping = PoolGeom::new(8, 12, 12, (3, 3), (2, 2), (1, 1));
        assert_eq!(conv(g, None).kernel(), ConvKernel::Direct);
        assert_eq!(
            conv(g, Some(disjoint)).kernel(),
            ConvKernel::FusedDirectDisjoint
        );
        assert_eq!(
            conv(g, Some(overlapping)).kernel(),
            ConvKernel::FusedDirectPlane
        );
        let gemm = Conv {
            algo: ConvAlgo::Im2col,
            ..conv(g, Some(disjoint))
        };
        assert_eq!(gemm.kernel(), ConvKernel::FusedBand);
        assert!(gemm.kernel().is_fused() && !ConvKernel::Im2col.is_fused());
        assert_eq!(gemm.kernel().entry_point(), "fused::forward_band");
    }

    #[test]
    fn grouped_lengths() {
        let g = ConvGeom::new(2, 6, 6, 3, (3, 3), (1, 1), (1, 1));
        let l = Conv {
            groups: 4,
            ..conv(g, None)
        };
        assert_eq!(l.in_len(), 8 * 36);
        assert_eq!(l.out_len(), 12 * 36);
        assert_eq!(l.weight_len(), 12 * 2 * 9);
        assert_eq!((l.in_channels(), l.out_channels()), (8, 12));
        assert_eq!(l.macs(), 12 * 36 * 2 * 9);
    }
}
