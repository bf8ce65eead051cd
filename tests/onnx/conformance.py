#!/usr/bin/env python3
"""ONNX's own conformance tests (the node tests python3-onnx generates, with their reference
outputs) through cnn-import onnx and cnn-extract-features.

In scope: the single-node tests of the operators this project imports whose data input (the
first) is an NCHW image batch [N, C, H, W] or a matrix [N, K] of float32, with one output. The
other inputs (weights, biases, a second operand) are fed as graph inputs in these tests; they
become initializers, as they are in real models. The data input goes in as a record stream
(NHWC for images); the output must equal the reference within ONNX's own backend-test
tolerances (rtol 1e-3, atol 1e-7) in the source model's element order.

usage: conformance.py BIN_DIR WORK_DIR [--list]
Prints one line per test (pass / FAIL with the reason) and a summary; exits 1 if any failed.
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

# python3-onnx 1.12 generates its data with NumPy aliases that NumPy 1.24 removed.
for _name, _type in {"float": float, "int": int, "bool": bool, "object": object}.items():
    if _name not in np.__dict__:
        setattr(np, _name, _type)

import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

OPERATORS = {
    "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
    "BatchNormalization", "Relu", "Sigmoid", "Tanh", "Elu", "LeakyRelu", "Softmax", "Gemm",
    "Concat", "Add", "Flatten",
}


def record_stream(x, path):
    """x: [N, ...] float32 -> a record stream of N records (share/record-stream.md)."""
    shape = list(x.shape[1:])
    header = json.dumps({"shape": shape, "dtype": "float32", "label": "int32", "classes": ["x"],
                         "class_mode": "sparse", "count": int(x.shape[0])}).encode()
    with open(path, "wb") as f:
        f.write(b"\x89CNNREC\n" + struct.pack("<II", 1, len(header)) + header)
        for sample in x:
            f.write(struct.pack("<i", 0) + sample.astype("<f4").tobytes())


def load_case(case_dir):
    model = onnx.load(os.path.join(case_dir, "model.onnx"))
    if len(model.graph.node) != 1 or model.graph.node[0].op_type not in OPERATORS:
        return model, [], []
    data = os.path.join(case_dir, "test_data_set_0")
    inputs = [numpy_helper.to_array(onnx.load_tensor(os.path.join(data, "input_%d.pb" % k)))
              for k in range(len(model.graph.input))]
    outputs = [numpy_helper.to_array(onnx.load_tensor(os.path.join(data, "output_%d.pb" % k)))
               for k in range(len(model.graph.output))]
    return model, inputs, outputs


def scope(model, inputs, outputs):
    """None when the case is in scope, else why not (a test of another operator: "")."""
    if len(model.graph.node) != 1 or model.graph.node[0].op_type not in OPERATORS or not inputs:
        return ""
    node, x = model.graph.node[0], inputs[0]
    if x.dtype != np.float32 or x.ndim not in (2, 4) or len(outputs) != 1:
        return ""
    # A model here maps each sample to its output on its own: the batch is the first axis of
    # the data input and of the output, and no constant differs from one sample to the next.
    if outputs[0].shape[0] != x.shape[0]:
        return "its output's first axis (%d) is not the batch (%d)" % (outputs[0].shape[0],
                                                                       x.shape[0])
    operands = {"Concat": range(1, len(inputs)), "Add": range(1, len(inputs)), "Gemm": [2]}
    for k in operands.get(node.op_type, []):
        c = inputs[k] if k < len(inputs) else None
        if c is not None and c.ndim == x.ndim and c.shape[0] == x.shape[0] > 1 and \
                not (c == c[:1]).all():
            return "input %d is a constant that differs from sample to sample" % k
    return None


def run_case(name, case_dir, bin_dir, work):
    model, inputs, outputs = load_case(case_dir)
    why = scope(model, inputs, outputs)
    if why is not None:
        return ("out of scope: " + why) if why else None
    g = model.graph
    # Inputs after the first: initializers with the test's values.
    for k in range(len(g.input) - 1, 0, -1):
        t = numpy_helper.from_array(inputs[k], g.input[k].name)
        g.initializer.append(t)
        del g.input[k]
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))
    x = inputs[0]
    record_stream(x.transpose(0, 2, 3, 1) if x.ndim == 4 else x, os.path.join(d, "x.cnnrec"))
    r = subprocess.run([os.path.join(bin_dir, "cnn-import"), "onnx", "model.onnx", "-o", "m",
                        "-q", "--overwrite"], cwd=d, capture_output=True, text=True)
    if r.returncode != 0:
        return "import: " + r.stderr.strip().replace("cnn-import: error: model.onnx: ", "")
    summary = subprocess.run([os.path.join(bin_dir, "cnn-summary"), "--json", "m/model.json"],
                             cwd=d, capture_output=True, text=True, check=True)
    last = json.loads(summary.stdout)["layers"][-1]["name"]
    r = subprocess.run([os.path.join(bin_dir, "cnn-extract-features"), "m", "--layer", last,
                        "--pool", "none", "--data", "x.cnnrec", "-o", "y.npy", "-q"],
                       cwd=d, capture_output=True, text=True)
    if r.returncode != 0:
        return "run: " + r.stderr.strip()
    y = np.load(os.path.join(d, "y.npy"))
    y = y.reshape(y.shape[0], -1)
    want = outputs[0].reshape(outputs[0].shape[0], -1)
    if y.shape != want.shape:
        return "output shape %s, expected %s (%s)" % (y.shape, want.shape,
                                                     list(outputs[0].shape))
    if not np.allclose(y, want, rtol=1e-3, atol=1e-7):
        return "max |difference| %.3g" % float(np.max(np.abs(y - want)))
    return ""


def main():
    bin_dir, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "onnx-node-tests")
    if not os.path.isdir(data):
        subprocess.run([sys.executable, "-c", GENERATE, data], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    node_dir = os.path.join(data, "node")
    passed, failed, outside = [], [], []
    for name in sorted(os.listdir(node_dir)):
        result = run_case(name, os.path.join(node_dir, name), bin_dir, work)
        if result is None:
            continue
        if result.startswith("out of scope"):
            outside.append(name)
            print("skip %s: %s" % (name, result))
        elif result:
            failed.append(name)
            print("FAIL %s: %s" % (name, result))
        else:
            passed.append(name)
            print("pass %s" % name)
    print("onnx conformance: %d of %d in-scope node tests pass (onnx %s); %d more of these "
          "operators are out of scope" % (len(passed), len(passed) + len(failed),
                                          onnx.__version__, len(outside)))
    return 1 if failed else 0


# Run in a child: generate_data prints and writes every test case of the installed onnx.
GENERATE = """
import sys
import numpy as np
for name, t in {"float": float, "int": int, "bool": bool, "object": object}.items():
    if name not in np.__dict__:
        setattr(np, name, t)
from onnx.backend.test.cmd_tools import main
sys.argv = ["generate-data", "generate-data", "-o", sys.argv[1]]
main()
"""

if __name__ == "__main__":
    sys.exit(main())
