"""Small fully connected SiLU networks used by the neural solvers, seeded reproducibly."""
from __future__ import annotations

import torch
from torch import nn


def mlp(d_in: int, d_out: int, width: int, depth: int) -> nn.Sequential:
    """`depth` hidden SiLU layers of `width`, then a linear output layer."""
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.SiLU()]
        d = width
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


def seeded(builder, seed: int, device, dtype):
    """Build a module with parameters drawn under torch.manual_seed(seed), without touching global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = builder()
    return module.to(device=device, dtype=dtype)
