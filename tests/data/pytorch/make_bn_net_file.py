"""Makes `tests/data/pytorch/bn_net.safetensors`: the reference network of
`bn_net_train_step.json` (see `make_reference_bn_net.py`) after its SGD step,
as PyTorch's `state_dict` saved by `safetensors.torch.save_file`: float32
tensors, `num_batches_tracked` as int64. `tests/batch_norm.rs` compiles it
into a network and checks its inference (batch norm folded into the layers
before it) against the reference's `eval_logits`.

    python make_bn_net_file.py     # needs torch and safetensors
"""
import json
import os

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "reference", "bn_net_train_step.json")
PREFIX = "after_step."

tensors = json.load(open(REFERENCE))["tensors"]
state = {}
for name, t in tensors.items():
    if not name.startswith(PREFIX):
        continue
    key = name[len(PREFIX):]
    dtype = torch.int64 if key.endswith("num_batches_tracked") else torch.float32
    state[key] = torch.tensor(t["data"], dtype=dtype).reshape(t["shape"])
save_file(state, os.path.join(HERE, "bn_net.safetensors"), metadata={"format": "pt"})
print(sorted(state))
