"""Makes `tests/data/reference/bn_net_train_step.json`: a small network with
batch normalisation after a convolution (over channels) and after a dense
layer (over features), through PyTorch on the CPU in float64, stored as
float32 rounded to 7 decimals (inputs and weights rounded before anything is
computed). The format is the shared reference folder's (see
`tests/data/reference/README.md`).

    python make_reference_bn_net.py     # needs torch and numpy

The network (PyTorch module names, as `network!` names its tensors):

    conv1 = Conv2d(2, 4, 3, bias=False); bn1 = BatchNorm2d(4); relu; max_pool2d(2)
    flatten; fc1 = Linear(16, 6); bn2 = BatchNorm1d(6, eps=1e-3, momentum=0.2); relu
    fc2 = Linear(6, 3)

Tensors:

    x [6, 2, 6, 6], labels [6]          the batch
    <name>                              every state_dict entry before the step; the
                                        running statistics are non-trivial (set by
                                        hand), num_batches_tracked = 3
    logits, loss                        training mode: batch statistics, biased variance
    grad.<name>                         gradient of the mean cross-entropy, every trained tensor
    after_step.<name>                   every state_dict entry after one SGD step (lr 0.1,
                                        no momentum): running mean and unbiased running
                                        variance moved with momentum, 4 batches counted
    eval_logits                         inference mode (running statistics) after the step
    frozen.grad.<name>                  gradients with bn1 and fc1 frozen (requires_grad
                                        off, still in training mode): batch statistics
                                        still apply, the gradient still passes through
    frozen.after_step.<name>            the state after one SGD step of the frozen network
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference")
TORCH = f"PyTorch {torch.__version__}, CPU, float64"
TOLERANCE = {"abs": 1e-4, "rel": 1e-4}


def stored(t):
    return [round(float(v), 7) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def rounded(t):
    return torch.tensor(np.float32(stored(t)), dtype=torch.float64).reshape(t.shape)


class BnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.fc1 = nn.Linear(16, 6)
        self.bn2 = nn.BatchNorm1d(6, eps=1e-3, momentum=0.2)
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.bn2(self.fc1(x)))
        return self.fc2(x)


def make_net(gen):
    net = BnNet().double()
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(3)
            elif name.endswith("running_var"):
                t.copy_(rounded(0.5 + torch.rand(t.shape, dtype=torch.float64, generator=gen)))
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(rounded(0.3 * torch.randn(t.shape, dtype=torch.float64, generator=gen)))
            elif name.startswith("bn") and name.endswith("weight"):
                t.copy_(rounded(1.0 + 0.3 * torch.randn(t.shape, dtype=torch.float64, generator=gen)))
            else:
                t.copy_(rounded(0.4 * torch.randn(t.shape, dtype=torch.float64, generator=gen)))
    return net


def step(net, x, labels, tensors, prefix):
    net.train()
    logits = net(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    if prefix == "":
        tensors["logits"] = logits
        tensors["loss"] = loss.reshape(1)
    for name, p in net.named_parameters():
        if p.grad is not None:
            tensors[f"{prefix}grad.{name}"] = p.grad
    with torch.no_grad():
        for p in net.parameters():
            if p.grad is not None:
                p -= 0.1 * p.grad
    for name, t in net.state_dict().items():
        tensors[f"{prefix}after_step.{name}"] = t.clone()


def main():
    gen = torch.Generator().manual_seed(21)
    net = make_net(gen)
    x = rounded(torch.randn([6, 2, 6, 6], dtype=torch.float64, generator=gen))
    labels = torch.tensor([0, 2, 1, 1, 0, 2])
    tensors = {"x": x, "labels": labels.double()}
    before = {name: t.clone() for name, t in net.state_dict().items()}
    tensors.update(before)

    step(net, x, labels, tensors, "")
    net.eval()
    with torch.no_grad():
        tensors["eval_logits"] = net(x)

    frozen = BnNet().double()
    frozen.load_state_dict(before)
    for p in list(frozen.bn1.parameters()) + list(frozen.fc1.parameters()):
        p.requires_grad_(False)
    step(frozen, x, labels, tensors, "frozen.")

    out = {name: {"shape": list(t.shape), "data": stored(t.double())} for name, t in tensors.items()}
    case = {
        "op": "network",
        "attrs": {"sgd": {"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0}, "frozen": ["bn1", "fc1"]},
        "note": f"batch normalisation in a network, training step and inference ({TORCH})",
        "inputs": ["x", "labels"],
        "outputs": [k for k in tensors if k not in ("x", "labels")],
        "tolerance": TOLERANCE,
        "tensors": out,
    }
    path = os.path.join(OUT, "bn_net_train_step.json")
    with open(path, "w") as f:
        json.dump(case, f, separators=(",", ":"))
    print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")


main()
