#!/usr/bin/python3
"""A Keras 3 .keras archive (what model.save('m.keras') writes) of a TensorFlow.js layers model
(tests/keras/tfjs_models.js), for `cnn-import keras m.keras`. Written from Keras 3's saving_lib
layout: a zip (stored, not compressed, as Keras's zipfile.ZipFile writes it) of metadata.json,
config.json (the model in Keras 3's JSON form, from keras3_form.py) and model.weights.h5, whose
layers are addressed by class, not by name: layers/<class in snake case>[_1, _2, ...]/vars/0,
1, ... in the model's layer order and each layer's variable order, with an empty /vars group for
the model itself.

usage: keras3_archive.py MODEL_DIR KERAS3.json OUT.keras
"""
import io
import json
import os
import re
import sys
import zipfile

import h5py
import numpy as np


def snake_case(name):  # Keras's naming.to_snake_case
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def main(model_dir, k3_json, out):
    manifest = json.load(open(os.path.join(model_dir, "model.json")))["weightsManifest"]
    weights = []
    for group in manifest:
        data = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        at = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            weights.append((w["name"], np.frombuffer(data[at:at + 4 * n], dtype="<f4")
                            .reshape(w["shape"])))
            at += 4 * n
    config = json.load(open(k3_json))
    buf = io.BytesIO()
    used = {}
    with h5py.File(buf, "w") as f:
        f.create_group("vars")
        layers = f.create_group("layers")
        for layer in config["config"]["layers"]:
            name = layer.get("name") or layer["config"]["name"]
            base = snake_case(layer["class_name"])
            if base in used:
                used[base] += 1
                base = "%s_%d" % (base, used[base])
            else:
                used[base] = 0
            v = layers.create_group(base).create_group("vars")
            mine = [w for n, w in weights if n.split("/")[0] == name]
            for k, w in enumerate(mine):
                v.create_dataset(str(k), data=w)
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0",
                                                "date_saved": "2026-12-04@12:00:00"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", buf.getvalue())


if __name__ == "__main__":
    main(*sys.argv[1:4])
