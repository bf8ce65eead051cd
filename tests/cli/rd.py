# Helpers for the CLI tests, without numpy: readers of .npy arrays, safetensors files and record
# streams, a writer of Fashion-MNIST slices as plain IDX pairs, and of 8-bit grayscale PNGs.
import ast, gzip, json, struct, zlib
def fashion_test_slice(img_path, lab_path, n):
    # The first n Fashion-MNIST test images and labels (Debian's dataset-fashion-mnist).
    d = "/usr/share/datasets/fashion-mnist/"
    img = gzip.open(d + "t10k-images-idx3-ubyte.gz").read()
    lab = gzip.open(d + "t10k-labels-idx1-ubyte.gz").read()
    open(img_path, "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + img[16:16 + n * 784])
    open(lab_path, "wb").write(struct.pack(">II", 0x801, n) + lab[8:8 + n])
def png_gray(path, w, h, pixels):
    # pixels: h * w bytes, row by row.
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\0" + pixels[r * w:(r + 1) * w] for r in range(h))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
def npy(path):
    b = open(path, "rb").read()
    assert b[:6] == b"\x93NUMPY", path
    hl = struct.unpack("<H", b[8:10])[0] if b[6] == 1 else struct.unpack("<I", b[8:12])[0]
    start = (10 if b[6] == 1 else 12)
    h = ast.literal_eval(b[start:start + hl].decode())
    n = 1
    for s in h["shape"]:
        n *= s
    code = {"<f4": "f", "<i4": "i"}[h["descr"]]
    return list(h["shape"]), list(struct.unpack("<%d%s" % (n, code), b[start + hl:start + hl + 4 * n]))
def tensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = (v["shape"], b[8 + n + s:8 + n + e])
    return out
def floats(raw):
    return list(struct.unpack("<%df" % (len(raw) // 4), raw))
def records(path):
    # (header, [(label, values)]): values as floats or, for a "uint8" stream, as ints.
    b = open(path, "rb").read()
    assert b[:8] == b"\x89CNNREC\n"
    n = struct.unpack("<I", b[12:16])[0]
    h = json.loads(b[16:16 + n])
    k = 1
    for s in h["shape"]:
        k *= s
    code, size = {"float32": ("f", 4), "uint8": ("B", 1)}[h.get("dtype", "float32")]
    rec, out = 4 + size * k, []
    for off in range(16 + n, len(b), rec):
        out.append((struct.unpack("<i", b[off:off + 4])[0], struct.unpack("<%d%s" % (k, code), b[off + 4:off + rec])))
    return h, out
def write_tensors(path, tensors):
    # tensors: {name: (shape, little-endian float32 bytes)}, written in that order.
    header, blobs = {}, b""
    for name, (shape, raw) in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [len(blobs), len(blobs) + len(raw)]}
        blobs += raw
    h = json.dumps(header).encode()
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + blobs)
def write_records(path, header, records):
    # header: the stream's JSON header; records: [(label, raw bytes of one sample)].
    head = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(b"\x89CNNREC\n" + struct.pack("<II", 1, len(head)) + head)
        for label, raw in records:
            f.write(struct.pack("<i", label) + raw)
