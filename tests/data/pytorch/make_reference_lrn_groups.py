"""Makes the local response normalisation and grouped convolution reference
vectors in `tests/data/reference/`, in the format of the team's shared
reference folder (see `tests/data/reference/README.md`).

PyTorch computes every case on the CPU in float64; the tensors are stored as
float32 values rounded to 7 decimals. The inputs are rounded to what is
stored *before* the outputs are computed, so the expected outputs are exact
(to float64) for the float32 inputs a test reads. `dy` is the upstream
gradient and every `d*` tensor the gradient of `sum(y * dy)`.

    python make_reference_lrn_groups.py     # needs torch and numpy

Cases:

    lrn_size5_alexnet          LocalResponseNorm(5, 1e-4, 0.75, 2.0), x [2, 7, 5, 5]
    lrn_size4_even             LocalResponseNorm(4, 0.01, 0.5, 1.0),  x [1, 6, 3, 4]
    lrn_size3_default          LocalResponseNorm(3) (alpha 1e-4, beta 0.75, k 1), x [3, 4, 2, 2]
    conv2d_groups2             conv2d groups=2, x [2, 4, 7, 7], weight [6, 2, 3, 3], stride 1, pad 1
    conv2d_groups2_alexnet_s2  conv2d groups=2, x [1, 8, 9, 9], weight [4, 4, 5, 5], stride 2, pad 2
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference")
TORCH = f"PyTorch {torch.__version__}, CPU, float64"
TOLERANCE = {"abs": 1e-4, "rel": 1e-4}


def stored(t):
    """The values as stored: float32, rounded to 7 decimals."""
    return [round(float(v), 7) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def make_input(shape, std, gen):
    """A random float64 tensor holding exactly the float32 values a test reads
    back from the stored decimals."""
    t = torch.randn(shape, dtype=torch.float64, generator=gen) * std
    return torch.tensor(np.float32(stored(t)), dtype=torch.float64).reshape(shape)


def write(name, op, attrs, note, inputs, outputs):
    tensors = {k: {"shape": list(v.shape), "data": stored(v)} for k, v in {**inputs, **outputs}.items()}
    case = {
        "op": op,
        "attrs": attrs,
        "note": note,
        "inputs": list(inputs),
        "outputs": list(outputs),
        "tolerance": TOLERANCE,
        "tensors": tensors,
    }
    path = os.path.join(OUT, f"{name}.json")
    with open(path, "w") as f:
        json.dump(case, f, separators=(",", ":"))
    print(f"wrote {os.path.normpath(path)}")


def lrn_direct(x, size, alpha, beta, k):
    """The formula itself (numpy, float64), to confirm PyTorch's semantics:
    window [c - size//2, c + (size-1)//2], zeros outside, divisor size."""
    x = x.numpy()
    c = x.shape[1]
    y = np.empty_like(x)
    for ch in range(c):
        lo, hi = max(ch - size // 2, 0), min(ch + (size - 1) // 2, c - 1)
        s = k + alpha / size * (x[:, lo : hi + 1] ** 2).sum(axis=1)
        y[:, ch] = x[:, ch] * s ** -beta
    return y


def lrn_case(name, shape, size, alpha, beta, k, std, seed, what):
    gen = torch.Generator().manual_seed(seed)
    x = make_input(shape, std, gen).requires_grad_()
    dy = make_input(shape, 1.0, gen)
    y = torch.nn.LocalResponseNorm(size, alpha=alpha, beta=beta, k=k)(x)
    (y * dy).sum().backward()
    assert np.allclose(y.detach().numpy(), lrn_direct(x.detach(), size, alpha, beta, k), rtol=1e-12, atol=0)
    # How much the normalisation matters: the smallest s^-beta / k^-beta.
    s = (x.detach() / y.detach()) ** (1 / beta)
    strongest = float(((s / k) ** -beta)[x.detach().abs() > 1].min())
    note = (
        f"{what}; y = x / (k + alpha/size * sum of x^2 over channels "
        f"[c - size//2, c + (size-1)//2], zeros outside, divisor always size)^beta; "
        f"x ~ N(0, {std:g}^2) so the normalisation matters (s^-beta / k^-beta down to {strongest:.3f}); "
        f"d* = gradients of sum(y*dy); {TORCH}; made by tests/data/pytorch/make_reference_lrn_groups.py"
    )
    attrs = {"size": size, "alpha": alpha, "beta": beta, "k": k}
    write(name, "local_response_norm", attrs, note, {"x": x.detach(), "dy": dy}, {"y": y.detach(), "dx": x.grad})


def conv_case(name, x_shape, w_shape, stride, padding, groups, seed):
    gen = torch.Generator().manual_seed(seed)
    x = make_input(x_shape, 1.0, gen).requires_grad_()
    fan_in = w_shape[1] * w_shape[2] * w_shape[3]
    w = make_input(w_shape, fan_in**-0.5, gen).requires_grad_()
    b = make_input(w_shape[:1], 0.1, gen).requires_grad_()
    y = F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups)
    dy = make_input(tuple(y.shape), 1.0, gen)
    (y * dy).sum().backward()
    note = (
        f"NCHW input, OIHW weight [out, in/groups, kh, kw]; y = conv2d(x, groups={groups}): "
        f"output channels [g*out/groups, (g+1)*out/groups) see input channels [g*in/groups, (g+1)*in/groups); "
        f"d* = gradients of sum(y*dy); {TORCH}; made by tests/data/pytorch/make_reference_lrn_groups.py"
    )
    attrs = {"stride": [stride, stride], "padding": [padding, padding], "groups": groups}
    inputs = {"x": x.detach(), "weight": w.detach(), "bias": b.detach(), "dy": dy}
    outputs = {"y": y.detach(), "dx": x.grad, "dweight": w.grad, "dbias": b.grad}
    write(name, "conv2d", attrs, note, inputs, outputs)


def main():
    torch.set_num_threads(1)
    lrn_case("lrn_size5_alexnet", (2, 7, 5, 5), 5, 1e-4, 0.75, 2.0, 100.0, 1, "AlexNet's LRN settings")
    lrn_case("lrn_size4_even", (1, 6, 3, 4), 4, 0.01, 0.5, 1.0, 10.0, 2, "even window: 2 channels before, 1 after")
    lrn_case("lrn_size3_default", (3, 4, 2, 2), 3, 1e-4, 0.75, 1.0, 100.0, 3, "PyTorch's defaults with size 3")
    conv_case("conv2d_groups2", (2, 4, 7, 7), (6, 2, 3, 3), 1, 1, 2, 4)
    conv_case("conv2d_groups2_alexnet_s2", (1, 8, 9, 9), (4, 4, 5, 5), 2, 2, 2, 5)


if __name__ == "__main__":
    main()
