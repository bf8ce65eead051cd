#!/usr/bin/python3
"""Golden values of three training steps, computed by PyTorch (Debian's python3-torch), for
tests/unit/train/test_golden_training.cpp: the lecture's mnist_convnet
(configs/models/mnist_convnet.json) from fixed weights, three RMSprop steps with Keras's
settings (learning rate 1e-3, rho 0.9, epsilon 1e-7 after the square root; PyTorch's alpha is
rho) and sparse categorical cross-entropy, on the first 3 x 16 Fashion-MNIST training images.

Both sides make the weights from the same formula (weight() below), in this project's layouts
(Conv2D kernels [kh, kw, in, out], Dense [in, out], Flatten in NHWC order), so the file holds
no weights. For each step it records the loss and, for every parameter tensor's gradient, its
L1 and L2 norms, largest magnitude, projections onto four +-1 vectors (sign()) and 24 sampled
values; the same for the three steps' update of the weights (the weights after the third step
less the fixed ones). A projection moves by |g_i| when a
single value g_i changes sign, so a wrong gradient anywhere shows, and the file stays small.

usage: scripts/golden_training.py [OUT.json]   (default tests/golden/training/mnist_convnet_rmsprop.json)
"""
import gzip
import json
import math
import os
import re
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION = "/usr/share/datasets/fashion-mnist"
BATCH, STEPS = 16, 3
LR, RHO, EPS = 1e-3, 0.9, 1e-7

# (name, our shape, fan_in, fan_out) in the model's parameter order (weights.safetensors order).
PARAMS = [
    ("conv2d.kernel", (3, 3, 1, 32), 9, 288), ("conv2d.bias", (32,), 0, 0),
    ("conv2d_1.kernel", (3, 3, 32, 64), 288, 576), ("conv2d_1.bias", (64,), 0, 0),
    ("conv2d_2.kernel", (3, 3, 64, 64), 576, 576), ("conv2d_2.bias", (64,), 0, 0),
    ("dense.kernel", (576, 64), 576, 64), ("dense.bias", (64,), 0, 0),
    ("dense_1.kernel", (64, 10), 64, 10), ("dense_1.bias", (10,), 0, 0),
]


def hash32(i, salt):
    """A 32-bit hash of index i: MurmurHash3's finaliser of i + salt * 0x9E3779B9 (uint64
    arithmetic cut to 32 bits, as the C++ side computes it)."""
    m = np.uint64(0xFFFFFFFF)
    h = (i + np.uint64(salt) * np.uint64(0x9E3779B9)) & m
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & m
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & m
    return h ^ (h >> np.uint64(16))


def weight(t, shape, fan_in, fan_out):
    """Tensor t's fixed values: uniform in +-limit (Glorot's for kernels, 0.1 for biases)."""
    i = np.arange(int(np.prod(shape)), dtype=np.uint64)
    u = hash32(i, t + 1).astype(np.float64) / 4294967296.0
    limit = math.sqrt(6.0 / (fan_in + fan_out)) if fan_in else 0.1
    return ((2.0 * u - 1.0) * limit).astype(np.float32).reshape(shape)


def sign(k, n):
    """Projection vector k: +1 where bit 31 of hash32(i, 1000 + k) is set, else -1."""
    i = np.arange(n, dtype=np.uint64)
    return np.where(hash32(i, 1000 + k) >> np.uint64(31), 1.0, -1.0)


def stats(v, t):
    v = v.astype(np.float64).ravel()
    picks = sorted({int(x) for x in hash32(np.arange(24, dtype=np.uint64), 2000 + t) % np.uint64(v.size)})
    return {"l1": float(np.abs(v).sum()), "l2": float(np.sqrt((v * v).sum())),
            "max_abs": float(np.abs(v).max()),
            "projections": [float((sign(k, v.size) * v).sum()) for k in range(4)],
            "samples": [[i, float(v[i])] for i in picks]}


def read_idx(name, count):
    with gzip.open(os.path.join(FASHION, name)) as f:
        data = f.read()
    if "images" in name:
        return np.frombuffer(data, np.uint8, count * 784, 16).reshape(count, 28, 28, 1)
    return np.frombuffer(data, np.uint8, count, 8)


# Ours -> PyTorch's layouts: Conv2D HWIO -> OIHW, Dense [in, out] -> [out, in]; and back.
def to_torch(name, w):
    if w.ndim == 4:
        return w.transpose(3, 2, 0, 1)
    return w.T if w.ndim == 2 else w


def from_torch(name, w):
    if w.ndim == 4:
        return w.transpose(2, 3, 1, 0)
    return w.T if w.ndim == 2 else w


def forward(p, x):  # x NCHW
    x = F.max_pool2d(F.relu(F.conv2d(x, p[0], p[1])), 2)
    x = F.max_pool2d(F.relu(F.conv2d(x, p[2], p[3])), 2)
    x = F.relu(F.conv2d(x, p[4], p[5]))
    x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # Keras's Flatten: NHWC order
    x = F.relu(F.linear(x, p[6], p[7]))
    return F.linear(x, p[8], p[9])  # logits; the softmax is inside the loss


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "tests/golden/training/mnist_convnet_rmsprop.json")
    torch.set_num_threads(1)
    images = read_idx("train-images-idx3-ubyte.gz", BATCH * STEPS)
    labels = read_idx("train-labels-idx1-ubyte.gz", BATCH * STEPS)
    params = [torch.tensor(np.ascontiguousarray(to_torch(n, weight(t, s, fi, fo))), requires_grad=True)
              for t, (n, s, fi, fo) in enumerate(PARAMS)]
    opt = torch.optim.RMSprop(params, lr=LR, alpha=RHO, eps=EPS)
    steps = []
    for k in range(STEPS):
        x = (images[k * BATCH:(k + 1) * BATCH].astype(np.float64) / 255.0).astype(np.float32)
        x = torch.tensor(x).permute(0, 3, 1, 2)
        y = torch.tensor(labels[k * BATCH:(k + 1) * BATCH].astype(np.int64))
        opt.zero_grad()
        loss = F.cross_entropy(forward(params, x), y)
        loss.backward()
        steps.append({"loss": float(loss), "gradients": {
            n: stats(from_torch(n, p.grad.numpy()), t) for t, ((n, *_), p) in enumerate(zip(PARAMS, params))}})
        opt.step()
    result = {
        "about": "scripts/golden_training.py: PyTorch " + torch.__version__ + ", mnist_convnet, "
                 "RMSprop(lr 1e-3, rho 0.9, eps 1e-7), Fashion-MNIST train images 0-47 in batches of 16",
        "batch": BATCH, "learning_rate": LR, "rho": RHO, "epsilon": EPS,
        "steps": steps,
        "update": {n: stats(from_torch(n, p.detach().numpy()) - weight(t, s, fi, fo), t)
                   for t, ((n, s, fi, fo), p) in enumerate(zip(PARAMS, params))},
    }
    # One line per tensor's statistics.
    text = json.dumps(result, indent=1)
    for _ in range(3):
        text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text)
    text = re.sub(r"\{\s+(\"l1\"[^{}]*?)\s+\}", lambda m: "{" + re.sub(r"\s+", " ", m.group(1)) + "}", text)
    with open(out + ".tmp", "w") as f:
        f.write(text + "\n")
    os.replace(out + ".tmp", out)
    print("wrote", out, "losses", [s["loss"] for s in steps], file=sys.stderr)


if __name__ == "__main__":
    main()
