#!/usr/bin/python3
"""The weights of a TensorFlow.js layers model (tests/keras/tfjs_models.js) as the HDF5 file
Keras 2's model.save_weights() writes, for `cnn-import keras keras.json --weights w.h5`.

usage: tfjs_to_h5.py MODEL_DIR OUT.h5 [--whole]
MODEL_DIR holds model.json (with weightsManifest), its weight shards and keras.json. --whole
writes what Keras 2's model.save('m.h5') writes instead: the root attribute model_config (the
to_json() text) and the same weights under /model_weights.
Layout: root attributes layer_names (every layer, in the model's order) and backend /
keras_version; per layer a group with attribute weight_names ["<layer>/<param>:0", ...] and the
datasets at those paths inside it.
"""
import json
import os
import sys

import h5py
import numpy as np


def main(model_dir, out, whole=False):
    manifest = json.load(open(os.path.join(model_dir, "model.json")))["weightsManifest"]
    keras = json.load(open(os.path.join(model_dir, "keras.json")))
    weights = {}
    for group in manifest:
        data = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        at = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            weights[w["name"]] = np.frombuffer(data[at:at + 4 * n], dtype="<f4").reshape(w["shape"])
            at += 4 * n
    layers = [l.get("name") or l["config"]["name"] for l in keras["config"]["layers"]]
    with h5py.File(out, "w") as root:
        f = root
        if whole:
            root.attrs["model_config"] = json.dumps(keras).encode("utf8")
            f = root.create_group("model_weights")
        f.attrs["layer_names"] = np.array([l.encode() for l in layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.10.0"
        for layer in layers:
            g = f.create_group(layer)
            names = [n for n in weights if n.split("/")[0] == layer]
            for n in names:
                g.create_dataset(n + ":0", data=weights[n])
            g.attrs["weight_names"] = (np.array([(n + ":0").encode() for n in names])
                                       if names else np.array([]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--whole" in sys.argv[3:])
