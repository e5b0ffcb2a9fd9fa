"""Makes the PyTorch fixture the `pytorch_weights` test loads.

A small network touching every layer kind and both conv algorithms is built
in PyTorch with random weights, saved with
`safetensors.torch.save_file(model.state_dict(), ...)` exactly as a user
would, and run on a fixed batch; the outputs are written next to it.

    python make_fixture.py        # needs torch and safetensors
"""
import json

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(7)


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 9, (3, 5), stride=(1, 2), padding=(1, 2))
        self.conv2 = nn.Conv2d(9, 12, 3, padding=1)
        self.conv3 = nn.Conv2d(12, 6, 1)
        self.fc1 = nn.Linear(48, 20)
        self.fc2 = nn.Linear(20, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 3, stride=2, padding=1)
        x = torch.tanh(self.conv2(x))
        x = F.relu(self.conv3(x))
        x = F.avg_pool2d(x, 2)
        x = torch.flatten(x, 1)
        x = torch.sigmoid(self.fc1(x))
        return F.softmax(self.fc2(x), dim=1)


model = SmallNet().eval()
save_file(model.state_dict(), "small_net.safetensors")
x = torch.randn(3, 3, 17, 15)
with torch.no_grad():
    y = model(x)
with open("small_net_expected.json", "w") as f:
    json.dump(
        {
            "torch": torch.__version__,
            "input_shape": list(x.shape),
            "input": x.flatten().tolist(),
            "output_shape": list(y.shape),
            "output": y.flatten().tolist(),
        },
        f,
    )
print("wrote small_net.safetensors and small_net_expected.json")
