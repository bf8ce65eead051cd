#!/usr/bin/env python3
"""Reads a Keras 2 save_weights() HDF5 file with h5py (independently of libcnn) and writes its
tensors for TensorFlow.js: OUT.json, a list of {"name": "conv2d/kernel", "shape": [...]} in the
file's order (layer_names, then each layer's weight_names), and OUT.bin, their float32 values.
Also checks the layout Keras's load_weights reads: root attributes layer_names, backend and
keras_version; per layer a group with weight_names; datasets at /layer/layer/param:0.

usage: h5_weights.py WEIGHTS.h5 OUT_PREFIX
"""
import json
import sys

import h5py
import numpy as np

src, out = sys.argv[1], sys.argv[2]
manifest, blobs = [], []
with h5py.File(src, "r") as f:
    assert f.attrs["backend"] in (b"tensorflow", "tensorflow"), f.attrs["backend"]
    assert "keras_version" in f.attrs
    for layer in f.attrs["layer_names"]:
        layer = layer.decode() if isinstance(layer, bytes) else layer
        g = f[layer]
        for name in g.attrs["weight_names"]:
            name = name.decode() if isinstance(name, bytes) else name
            assert name.startswith(layer + "/") and name.endswith(":0"), name
            data = np.asarray(g[name], dtype="<f4")
            manifest.append({"name": name[:-2], "shape": list(data.shape)})
            blobs.append(data.tobytes())
json.dump(manifest, open(out + ".json", "w"))
open(out + ".bin", "wb").write(b"".join(blobs))
