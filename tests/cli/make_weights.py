#!/usr/bin/env python3
"""Writes a safetensors weights file for a model from `cnn-summary --json` output, written
independently of libcnn (struct + json only), either well-formed or broken in one named way.

usage: make_weights.py SUMMARY.json OUT.safetensors MODE
MODE: good | truncated | oversized_header | out_of_range | overlap | wrong_dtype | missing |
      wrong_shape | extra
"""
import json
import struct
import sys

summary, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
weights = [w for layer in json.load(open(summary))["layers"] for w in layer["weights"]]

header, data, off = {}, bytearray(), 0
for i, w in enumerate(weights):
    if mode == "missing" and i == 0:
        continue
    shape = list(w["shape"])
    if mode == "wrong_shape" and i == 0:
        shape[-1] += 1
    n = 1
    for d in shape:
        n *= d
    dtype = "F64" if mode == "wrong_dtype" and i == 0 else "F32"
    size = n * (8 if dtype == "F64" else 4)
    data += struct.pack("<%d%s" % (n, "d" if dtype == "F64" else "f"),
                        *[((k % 17) - 8) / 16.0 for k in range(n)])
    header[w["name"]] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + size]}
    off += size
if mode == "extra":
    header["ghost.kernel"] = {"dtype": "F32", "shape": [1], "data_offsets": [off, off + 4]}
    data += struct.pack("<f", 1.0)
first = next(iter(header))
if mode == "out_of_range":
    b, e = header[first]["data_offsets"]
    header[first]["data_offsets"] = [b + len(data), e + len(data)]
if mode == "overlap":
    names = list(header)
    header[names[1]]["data_offsets"] = [0, header[names[1]]["data_offsets"][1] - header[names[1]]["data_offsets"][0]]
header["__metadata__"] = {"format": "cnn-weights", "format_version": "1"}
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
blob = struct.pack("<Q", len(text) + (1 << 40 if mode == "oversized_header" else 0)) + text + data
if mode == "truncated":
    blob = blob[: len(blob) - 100]
open(out, "wb").write(blob)
