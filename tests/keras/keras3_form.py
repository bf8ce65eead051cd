#!/usr/bin/python3
"""Rewrites a Keras 2 model.to_json() text (as TensorFlow.js writes it) in the form Keras 3
writes: "module" and "registered_name" on the model and every layer, InputLayer's
batch_input_shape as batch_shape, and each inbound node as {"args": [...], "kwargs": {}} whose
arguments are __keras_tensor__ objects with a keras_history (a list of them for Add and
Concatenate).

usage: keras3_form.py KERAS2.json OUT.json
"""
import json
import sys


def tensor(ref):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": None, "dtype": "float32", "keras_history": [ref[0], ref[1], ref[2]]}}


def main(src, out):
    m = json.load(open(src))
    m["module"] = "keras"
    m["registered_name"] = None
    m["class_name"] = "Functional" if m["class_name"] == "Model" else m["class_name"]
    for layer in m["config"]["layers"]:
        layer["module"] = "keras.layers"
        layer["registered_name"] = None
        cfg = layer["config"]
        if layer["class_name"] == "InputLayer":
            cfg["batch_shape"] = cfg.pop("batch_input_shape")
        cfg["dtype"] = {"module": "keras", "class_name": "DTypePolicy",
                        "config": {"name": "float32"}, "registered_name": None}
        nodes = []
        for node in layer.get("inbound_nodes", []):
            refs = [tensor(r) for r in node]
            nodes.append({"args": [refs] if len(refs) > 1 else refs, "kwargs": {}})
        if "inbound_nodes" in layer:
            layer["inbound_nodes"] = nodes
    # Keras 3 writes a single input or output as [name, 0, 0].
    for key in ("input_layers", "output_layers"):
        if key in m["config"] and len(m["config"][key]) == 1:
            m["config"][key] = m["config"][key][0]
    json.dump(m, open(out, "w"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
