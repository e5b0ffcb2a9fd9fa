"""Makes the ceil-mode pooling reference vectors in `tests/data/reference/`,
in the format of the team's shared reference folder (see
`tests/data/reference/README.md`): PyTorch on the CPU in float64, stored as
float32 rounded to 7 decimals (inputs rounded before the outputs are
computed). `dy` is the upstream gradient, `dx` the gradient of `sum(y * dy)`.

    python make_reference_ceil_pool.py     # needs torch and numpy

Cases:

    max_pool_3x3_s2_ceil         max_pool2d(3, stride 2, ceil_mode), x [2, 3, 8, 8]: 4x4 out (3x3 without ceil)
    avg_pool_3x3_s2_p1_ceil      avg_pool2d(3, stride 2, pad 1, ceil_mode), x [1, 2, 6, 6]: 4x4 out (3x3 without)
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
    return [round(float(v), 7) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def make_input(shape, gen):
    t = torch.randn(shape, dtype=torch.float64, generator=gen)
    return torch.tensor(np.float32(stored(t)), dtype=torch.float64).reshape(shape)


def write(name, op, attrs, note, inputs, outputs):
    tensors = {k: {"shape": list(v.shape), "data": stored(v)} for k, v in {**inputs, **outputs}.items()}
    case = {"op": op, "attrs": attrs, "note": note, "inputs": list(inputs),
            "outputs": list(outputs), "tolerance": TOLERANCE, "tensors": tensors}
    path = os.path.join(OUT, f"{name}.json")
    with open(path, "w") as f:
        json.dump(case, f, separators=(",", ":"))
    print(f"wrote {os.path.normpath(path)}")


def pool_case(name, op, shape, size, stride, pad, seed, note):
    gen = torch.Generator().manual_seed(seed)
    x = make_input(shape, gen).requires_grad_()
    if op == "max_pool2d":
        y = F.max_pool2d(x, size, stride, pad, ceil_mode=True)
    else:
        y = F.avg_pool2d(x, size, stride, pad, ceil_mode=True, count_include_pad=True)
    dy = make_input(list(y.shape), gen)
    (y * dy).sum().backward()
    write(name, op, {"size": [size, size], "stride": [stride, stride], "padding": [pad, pad],
                     "ceil_mode": True}, f"{note} ({TORCH})", {"x": x, "dy": dy}, {"y": y, "dx": x.grad})


pool_case("max_pool_3x3_s2_ceil", "max_pool2d", [2, 3, 8, 8], 3, 2, 0, 11,
          "max pooling with ceil_mode: the last window of each row and column hangs past the input")
pool_case("avg_pool_3x3_s2_p1_ceil", "avg_pool2d", [1, 2, 6, 6], 3, 2, 1, 12,
          "average pooling with ceil_mode and padding: the divisor counts the padding, not the overhang")
