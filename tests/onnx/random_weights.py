#!/usr/bin/env python3
"""Writes random weights for a model from `cnn-summary --json` output as safetensors, written
independently of libcnn (struct + json only): kernels uniform in +-sqrt(3 / fan_in) (unit
variance through each layer, so outputs stay in a range where float32 differences mean
something), biases and BatchNormalization's beta and moving mean in +-0.5, gamma and moving
variance in [0.5, 1.5] (so that the normalisation is not the identity).

usage: random_weights.py SUMMARY.json OUT.safetensors [SEED]
"""
import json
import random
import struct
import sys

summary, out = sys.argv[1], sys.argv[2]
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
weights = [w for layer in json.load(open(summary))["layers"] for w in layer["weights"]]

header, data, off = {}, bytearray(), 0
for w in weights:
    shape, name = list(w["shape"]), w["name"]
    n = 1
    for d in shape:
        n *= d
    if name.endswith(".kernel"):
        fan_in = n // shape[-1]
        lim = (3.0 / fan_in) ** 0.5
        vals = [rng.uniform(-lim, lim) for _ in range(n)]
    elif name.endswith(".gamma") or name.endswith(".moving_variance"):
        vals = [rng.uniform(0.5, 1.5) for _ in range(n)]
    else:
        vals = [rng.uniform(-0.5, 0.5) for _ in range(n)]
    data += struct.pack("<%df" % n, *vals)
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + 4 * n]}
    off += 4 * n
blob = json.dumps(header).encode()
blob += b" " * (-len(blob) % 8)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(blob)) + blob + bytes(data))
