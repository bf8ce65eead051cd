#!/usr/bin/env python3
"""The largest difference between two weights files of one architecture, relative to each
tensor's largest magnitude: max over tensors of max|a - b| / max|a|. Prints it; with --bound B,
exits 1 when it is above B (and 0 with --identical only when every byte is equal).

usage: weights_diff.py A.safetensors B.safetensors [--bound B | --identical]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from rd import tensors  # noqa: E402

a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
if sorted(a) != sorted(b):
    sys.exit("the files hold different tensors: %s / %s" % (sorted(a), sorted(b)))
worst, where, same = 0.0, "", True
for name, (shape, raw) in sorted(a.items()):
    x = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    y = np.frombuffer(b[name][1], dtype="<f4").astype(np.float64)
    same = same and raw == b[name][1]
    scale = max(np.abs(x).max(), 1e-30) if x.size else 1.0
    d = float(np.abs(x - y).max() / scale) if x.size else 0.0
    if d > worst:
        worst, where = d, name
print("%.3g%s" % (worst, " (%s)" % where if where else ""))
if "--identical" in sys.argv and not same:
    sys.exit(1)
if "--bound" in sys.argv and worst > float(sys.argv[sys.argv.index("--bound") + 1]):
    sys.exit(1)
