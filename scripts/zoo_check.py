#!/usr/bin/env python3
"""The reference side of scripts/zoo.sh (the model zoo's regression check).

  zoo_check.py inputs MODEL_DIR OUT.cnnrec REF_INPUT...
      The reference inputs (NCHW .npy or ONNX TensorProto .pb files, each [1, C, H, W]), as the
      model's raw input: channels last, and the model's declared preprocessing undone
      (p = (x * std + mean) / rescale, channels back to RGB for BGR), so that the model computes
      exactly what the reference graph was fed. One record stream of all of them.
  zoo_check.py compare FEATURES.npy RTOL REF_OUTPUT...
      cnn-extract-features' outputs against the reference outputs: prints the max |difference|,
      the largest |reference| and whether the top-1 classes agree; exits 1 when a difference is
      above RTOL times the largest |reference| of its set (atol 1e-6), or a class differs.
"""
import json
import struct
import sys

import numpy as np


def load(path):
    if path.endswith(".npy"):
        return np.load(path).astype(np.float64)
    import onnx
    from onnx import numpy_helper
    return numpy_helper.to_array(onnx.load_tensor(path)).astype(np.float64)


def inputs(model_dir, out, refs):
    pre = json.load(open(model_dir + "/model.json")).get("preprocessing") or {}
    xs = []
    for r in refs:
        x = load(r)[0].transpose(1, 2, 0)  # [H, W, C]
        c = x.shape[-1]
        std = np.array(pre.get("std", [1.0] * c), dtype=np.float64)
        mean = np.array(pre.get("mean", [0.0] * c), dtype=np.float64)
        p = (x * std + mean) / float(pre.get("rescale", 1.0))
        if pre.get("channel_order") == "bgr":
            p = p[..., ::-1]
        xs.append(p.astype("<f4"))
    shape = list(xs[0].shape)
    header = json.dumps({"shape": shape, "dtype": "float32", "label": "int32", "classes": ["x"],
                         "class_mode": "sparse", "count": len(xs)}).encode()
    with open(out, "wb") as f:
        f.write(b"\x89CNNREC\n" + struct.pack("<II", 1, len(header)) + header)
        for x in xs:
            f.write(struct.pack("<i", 0) + x.tobytes())


def compare(features, rtol, refs):
    y = np.load(features).astype(np.float64).reshape(len(refs), -1)
    ok = True
    worst, scale = 0.0, 0.0
    for k, r in enumerate(refs):
        want = load(r).reshape(-1)
        d = float(np.max(np.abs(y[k] - want)))
        m = float(np.max(np.abs(want)))
        worst, scale = max(worst, d), max(scale, m)
        if d > rtol * m + 1e-6 or int(np.argmax(y[k])) != int(np.argmax(want)):
            ok = False
    print("%d sets: max |cnn - reference| %.2g (largest |reference| %.4g), top-1 %s"
          % (len(refs), worst, scale, "agrees" if ok else "DIFFERS OR OUT OF TOLERANCE"))
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1] == "inputs":
        inputs(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], float(sys.argv[3]), sys.argv[4:]))
    else:
        sys.exit(__doc__)
