#!/usr/bin/env python3
"""Checks that a model came back from ONNX with the same weights: every tensor of ORIGINAL is in
IMPORTED under the same name with the same shape and the same bytes. IMPORTED may have more
tensors only where ONNX has no "absent" form: BatchNormalization's gamma of ones and beta of
zeros for a layer built without scale or center. Reads safetensors with struct + json only.

usage: same_weights.py ORIGINAL.safetensors IMPORTED.safetensors
"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from rd import tensors  # noqa: E402  (struct + json reading of safetensors)


a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
bad = []
for name, (shape, raw) in a.items():
    if name not in b:
        bad.append("%s: missing" % name)
    elif b[name][0] != shape:
        bad.append("%s: shape %s, expected %s" % (name, b[name][0], shape))
    elif b[name][1] != raw:
        bad.append("%s: other values" % name)
for name, (shape, raw) in b.items():
    if name in a:
        continue
    n = len(raw) // 4
    fill = {"gamma": 1.0, "beta": 0.0}.get(name.rsplit(".", 1)[-1])
    if fill is None or struct.unpack("<%df" % n, raw) != (fill,) * n:
        bad.append("%s: not in the original" % name)
if bad:
    sys.exit("weights differ: " + "; ".join(bad))
extra = len(b) - len(a)
print("%d tensors bit-identical" % len(a) +
      (" (and %d BatchNormalization gamma/beta of ones/zeros)" % extra if extra else ""))
