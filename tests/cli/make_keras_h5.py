#!/usr/bin/python3
"""Small Keras HDF5 weights files for tests/cli/import.sh, in the layouts Keras writes, and a
check that an imported safetensors file holds exactly their values.

usage: make_keras_h5.py write OUT.h5 MODE     MODE: keras2 keras2-vlen keras1 missing wrong_shape
                                                    external-link external-storage virtual
       make_keras_h5.py check OUT.h5 MODE W.safetensors
The architecture is tests/data/tiny_vgg.json: block1_conv1, block1_conv2, block1_pool,
block2_conv1, bn1, flatten, fc1.
"""
import json
import struct
import sys

import h5py
import numpy as np

# layer -> [(keras 2 name, keras 1 name, our name, shape)]
LAYERS = {
    "block1_conv1": [("kernel", "W", "kernel", (3, 3, 3, 4)), ("bias", "b", "bias", (4,))],
    "block1_conv2": [("kernel", "W", "kernel", (3, 3, 4, 4)), ("bias", "b", "bias", (4,))],
    "block1_pool": [],
    "block2_conv1": [("kernel", "W", "kernel", (3, 3, 4, 6)), ("bias", "b", "bias", (6,))],
    "bn1": [("gamma", "gamma", "gamma", (6,)), ("beta", "beta", "beta", (6,)),
            ("moving_mean", "running_mean", "moving_mean", (6,)),
            ("moving_variance", "running_std", "moving_variance", (6,))],
    "flatten": [],
    "fc1": [("kernel", "W", "kernel", (96, 5)), ("bias", "b", "bias", (5,))],
}


def values(layer, name, shape):
    # Distinct, reproducible values per tensor (float64 in the file: HDF5 converts on reading).
    seed = sum(map(ord, layer + name))
    return np.random.default_rng(seed).uniform(0.1, 1.0, size=shape)


# Modes whose fc1 bias reaches outside the file (issue #17: the importer must refuse them): an
# HDF5 external link to another file's dataset, a dataset with external (raw file) storage, and
# a virtual dataset mapping another file. The other file is OUT.h5.secret(.h5).
OUTSIDE = ("external-link", "external-storage", "virtual")


def outside(path, mode, g, name, shape):
    secret = np.full(shape, 42.0)
    if mode == "external-storage":
        raw = path + ".secret"
        secret.astype("<f8").tofile(raw)
        g.create_dataset(name, shape=shape, dtype="<f8", external=[(raw, 0, secret.nbytes)])
        return
    other = path + ".secret.h5"
    with h5py.File(other, "w") as o:
        o.create_dataset("data", data=secret)
    if mode == "external-link":
        g[name] = h5py.ExternalLink(other, "/data")
    else:
        layout = h5py.VirtualLayout(shape=shape, dtype="<f8")
        layout[:] = h5py.VirtualSource(other, "data", shape=shape)
        g.create_virtual_dataset(name, layout)


def write(path, mode):
    layers = dict(LAYERS)
    if mode == "missing":
        del layers["block2_conv1"]
    with h5py.File(path, "w") as f:
        vlen = mode == "keras2-vlen"
        strings = (lambda xs: np.array(xs, dtype=h5py.string_dtype())) if vlen else (
            lambda xs: np.array([x.encode() for x in xs]))
        f.attrs["layer_names"] = strings(list(layers))
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"1.2.2" if mode == "keras1" else b"2.2.4"
        for layer, weights in layers.items():
            g = f.create_group(layer)
            names = []
            for k2, k1, ours, shape in weights:
                if mode == "wrong_shape" and layer == "fc1" and ours == "kernel":
                    shape = (96, 6)
                # Keras 1: "<layer>_<W|b|...>_<n>:0" directly in the layer group; Keras 2:
                # "<layer>/<kernel|bias|...>:0", i.e. a subgroup named like the layer.
                name = f"{layer}_{k1}_1:0" if mode == "keras1" else f"{layer}/{k2}:0"
                if mode in OUTSIDE and layer == "fc1" and ours == "bias":
                    outside(path, mode, g, name, shape)
                else:
                    g.create_dataset(name, data=values(layer, ours, shape))
                names.append(name)
            # Keras writes an empty float array for a layer without weights.
            g.attrs["weight_names"] = strings(names) if names else np.array([])


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return {name: np.frombuffer(data[t["data_offsets"][0]:t["data_offsets"][1]],
                                dtype="<f4").reshape(t["shape"]) for name, t in header.items()}


def check(path, mode, weights_path):
    got = read_safetensors(weights_path)
    for layer, weights in LAYERS.items():
        for _, _, ours, shape in weights:
            name = f"{layer}.{ours}"
            if mode == "missing" and layer == "block2_conv1":
                assert name in got, name
                continue
            want = values(layer, ours, shape).astype(np.float32)
            assert got[name].shape == want.shape, (name, got[name].shape, want.shape)
            assert np.array_equal(got[name], want), name
    print(f"{mode}: {len(got)} tensors match")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3])
    else:
        check(sys.argv[2], sys.argv[3], sys.argv[4])
