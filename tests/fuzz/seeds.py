#!/usr/bin/python3
"""Writes the fuzz targets' seed inputs: small valid files of every format, made here or taken
from the repository and ../shared/data, so that mutations start from deep inside each parser.

usage: seeds.py SOURCE_DIR OUT_DIR     (OUT_DIR/<target>/ for every target)
"""
import glob
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np

src, out = sys.argv[1], sys.argv[2]
shared = os.path.join(src, "..", "shared", "data")


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def copy(target, paths):
    for p in paths:
        if os.path.isfile(p):
            put(target, os.path.basename(p), open(p, "rb").read())


rng = np.random.default_rng(0)

# architecture / recipe: the repository's own files.
copy("architecture", sorted(glob.glob(os.path.join(src, "configs/models/*.json"))) +
     sorted(glob.glob(os.path.join(src, "tests/data/*.json"))))
copy("recipe", sorted(glob.glob(os.path.join(src, "configs/train/*.json"))))

# safetensors: two small F32 tensors and an F16 one, with metadata.
def safetensors(tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, arr, dtype in tensors:
        b = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)

put("safetensors", "small.safetensors", safetensors(
    [("conv.kernel", rng.standard_normal((3, 3, 1, 2)).astype("<f4"), "F32"),
     ("conv.bias", np.zeros(2, "<f4"), "F32"),
     ("half", np.ones(4, "<f2"), "F16")], {"format": "pt"}))

# idx: ten Fashion-MNIST-like images and labels, raw and gzipped.
imgs = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
labs = rng.integers(0, 10, 10, dtype=np.uint8)
idx_images = struct.pack(">I", 0x00000803) + struct.pack(">III", 10, 28, 28) + imgs.tobytes()
idx_labels = struct.pack(">I", 0x00000801) + struct.pack(">I", 10) + labs.tobytes()
put("idx", "images.idx", idx_images)
put("idx", "labels.idx", idx_labels)
put("idx", "images.idx.gz", gzip.compress(idx_images, mtime=0))
put("idx", "floats.idx", struct.pack(">I", 0x00000D02) + struct.pack(">II", 2, 3) +
    np.arange(6, dtype=">f4").tobytes())

# record_stream: uint8 images and float32 feature vectors.
def stream(shape, dtype, classes, labels, values, count=True, rescale=None):
    h = {"shape": list(shape), "dtype": dtype, "label": "int32", "classes": classes,
         "class_mode": "categorical" if len(classes) > 2 else "binary",
         "count": len(labels) if count else None}
    if rescale is not None:
        h["rescale"] = rescale
    hb = json.dumps(h).encode()
    body = b""
    for lab, v in zip(labels, values):
        body += struct.pack("<i", lab) + np.asarray(v, dtype=np.uint8 if dtype == "uint8" else "<f4").tobytes()
    return b"\x89CNNREC\n" + struct.pack("<II", 1, len(hb)) + hb + body

put("record_stream", "images.cnnrec", stream((4, 4, 3), "uint8", ["cats", "dogs"], [0, 1, 1],
                                             rng.integers(0, 256, (3, 4, 4, 3)), rescale=1 / 255))
put("record_stream", "features.cnnrec", stream((5,), "float32", ["a", "b", "c"], [2, 0],
                                               rng.standard_normal((2, 5))))
put("record_stream", "endless.cnnrec", stream((2, 2, 1), "uint8", ["x", "y"], [0, 1],
                                              rng.integers(0, 256, (2, 2, 2, 1)), count=False))

# image: a few real photos (small ones), and PNG / BMP / PNM written here.
photos = sorted(glob.glob(os.path.join(shared, "cats_and_dogs_filtered/validation/cats/*.jpg")))
photos.sort(key=os.path.getsize)
copy("image", photos[:3])

def png(w, h, channels, pixels):
    color = {1: 0, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

put("image", "gray.png", png(5, 4, 1, rng.integers(0, 256, (4, 5), dtype=np.uint8)))
put("image", "rgba.png", png(3, 3, 4, rng.integers(0, 256, (3, 12), dtype=np.uint8)))
bmp_px = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
row = 4 * 3
bmp_data = b"".join(bmp_px[y].tobytes() for y in range(3))
put("image", "rgb.bmp", b"BM" + struct.pack("<IHHI", 54 + len(bmp_data), 0, 0, 54) +
    struct.pack("<IiiHHIIiiII", 40, 4, 3, 1, 24, 0, len(bmp_data), 2835, 2835, 0, 0) + bmp_data)
put("image", "gray.pgm", b"P5\n4 3\n255\n" + rng.integers(0, 256, 12, dtype=np.uint8).tobytes())
put("image", "rgb.ppm", b"P6\n2 2\n255\n" + rng.integers(0, 256, 12, dtype=np.uint8).tobytes())

# npy: float32 arrays of a few ranks, a float64 and a Fortran-ordered one.
for name, arr in [("kernel.npy", rng.standard_normal((3, 3, 1, 4)).astype("<f4")),
                  ("bias.npy", np.zeros(4, "<f4")), ("scalar.npy", np.float32(1.5)),
                  ("double.npy", rng.standard_normal((2, 3))),
                  ("fortran.npy", np.asfortranarray(rng.standard_normal((2, 3)).astype("<f4")))]:
    b = io.BytesIO()
    np.save(b, arr)
    put("npy", name, b.getvalue())

# onnx: the model zoo's MNIST model (26 KB).
copy("onnx", [os.path.join(shared, "onnx-mnist/model.onnx")])

# keras_h5: the Keras layouts tests/cli/import.sh uses, on tests/data/tiny_vgg.json.
for mode in ["keras2", "keras2-vlen", "keras1", "missing", "wrong_shape"]:
    d = os.path.join(out, "keras_h5")
    os.makedirs(d, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(src, "tests/cli/make_keras_h5.py"), "write",
                    os.path.join(d, mode + ".h5"), mode], check=True)

# keras_json: a Keras 2 Sequential and a Keras 3 functional model's to_json() text.
put("keras_json", "keras2_sequential.json", json.dumps({
    "class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Conv2D", "config": {
            "name": "c", "batch_input_shape": [None, 8, 8, 1], "filters": 2, "kernel_size": [3, 3],
            "activation": "relu", "kernel_initializer": {"class_name": "VarianceScaling", "config": {
                "scale": 1.0, "mode": "fan_avg", "distribution": "uniform"}}}},
        {"class_name": "MaxPooling2D", "config": {"name": "p", "pool_size": [2, 2]}},
        {"class_name": "Flatten", "config": {"name": "f"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 3, "activation": "softmax"}}]}}).encode())
tensor = lambda n: {"class_name": "__keras_tensor__", "config": {"keras_history": [n, 0, 0]}}
put("keras_json", "keras3_functional.json", json.dumps({
    "module": "keras", "class_name": "Functional", "config": {
        "name": "f", "layers": [
            {"class_name": "InputLayer", "name": "in", "config": {"batch_shape": [None, 6, 6, 3]},
             "inbound_nodes": []},
            {"class_name": "Conv2D", "name": "a", "config": {"filters": 2, "kernel_size": 1},
             "inbound_nodes": [{"args": [tensor("in")], "kwargs": {}}]},
            {"class_name": "Conv2D", "name": "b", "config": {"filters": 2, "kernel_size": 1},
             "inbound_nodes": [{"args": [tensor("in")], "kwargs": {}}]},
            {"class_name": "Add", "name": "s", "config": {},
             "inbound_nodes": [{"args": [[tensor("a"), tensor("b")]], "kwargs": {}}]},
            {"class_name": "GlobalAveragePooling2D", "name": "g", "config": {},
             "inbound_nodes": [{"args": [tensor("s")], "kwargs": {}}]},
            {"class_name": "Softmax", "name": "sm", "config": {"axis": 1},
             "inbound_nodes": [{"args": [tensor("g")], "kwargs": {}}]}],
        "input_layers": ["in", 0, 0], "output_layers": ["sm", 0, 0]}}).encode())

# keras_archive: .keras zips (stored, as Keras writes them, and deflated) of the Keras 3
# functional model above with a small HDF5 file as its weights.
import io
import zipfile
for name, method in [("stored.keras", zipfile.ZIP_STORED), ("deflated.keras", zipfile.ZIP_DEFLATED)]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        z.writestr("config.json", open(os.path.join(out, "keras_json", "keras3_functional.json")).read())
        z.writestr("model.weights.h5", open(os.path.join(out, "keras_h5", "keras2.h5"), "rb").read())
    put("keras_archive", name, buf.getvalue())
