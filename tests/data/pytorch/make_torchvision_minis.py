"""Makes the interoperability fixtures of `tests/torchvision_interop.rs`: two
small networks built from torchvision's own blocks (`BasicBlock` of ResNet,
`BasicConv2d` and `Inception` of GoogLeNet) with torchvision's module names,
random weights and non-trivial batch-norm running statistics, in eval mode.

    python make_torchvision_minis.py     # needs torch, torchvision, safetensors

Writes, for NET in mini_resnet, mini_googlenet:
    NET.safetensors           the state_dict as `save_file` writes it (float32,
                              num_batches_tracked int64), names unchanged
    NET_expected.safetensors  "x": 2 seeded 3x32x32 images, "logits": the
                              network's output for them (eval mode)
"""
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file
from torchvision.models.googlenet import BasicConv2d, Inception
from torchvision.models.resnet import BasicBlock, conv1x1

HERE = os.path.dirname(os.path.abspath(__file__))


class MiniResNet(nn.Module):
    """ResNet-18's layout at 3x32x32 with 8 and 16 channels, two stages."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        down = nn.Sequential(conv1x1(8, 16, 2), nn.BatchNorm2d(16))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2, down), BasicBlock(16, 16))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class MiniGoogLeNet(nn.Module):
    """GoogLeNet's layout at 3x32x32 with few channels."""

    def __init__(self):
        super().__init__()
        self.conv1 = BasicConv2d(3, 8, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(8, 4, 4, 8, 2, 4, 4)
        self.inception3b = Inception(20, 8, 6, 8, 2, 4, 4)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(24, 8, 4, 8, 2, 4, 4)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def randomise(net, gen):
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            elif name.endswith("running_mean"):
                t.copy_(0.3 * torch.randn(t.shape, generator=gen))
            elif ".bn" in name or name.startswith("bn") or "downsample.1" in name:
                t.copy_((1.0 if name.endswith("weight") else 0.0)
                        + 0.2 * torch.randn(t.shape, generator=gen))
    return net.eval()


def main():
    for name, make, seed in [("mini_resnet", MiniResNet, 1), ("mini_googlenet", MiniGoogLeNet, 2)]:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        net = randomise(make(), gen)
        x = torch.randn(2, 3, 32, 32, generator=gen)
        with torch.no_grad():
            logits = net(x)
        state = {k: v.contiguous() for k, v in net.state_dict().items()}
        save_file(state, os.path.join(HERE, f"{name}.safetensors"), metadata={"format": "pt"})
        save_file({"x": x, "logits": logits}, os.path.join(HERE, f"{name}_expected.safetensors"))
        print(name, sum(p.numel() for p in net.parameters()), "parameters,", len(state), "tensors")


if __name__ == "__main__":
    main()
