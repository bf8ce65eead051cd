#!/usr/bin/python3
"""bench_torch: the PyTorch side of `make bench` (scripts/bench.py), the counterpart of
bench/bench_model.cpp. Builds the model of one of our architecture JSON files in PyTorch with
Keras semantics, loads our safetensors weights, and either checks it against our outputs or
times training steps / inference forwards on batches held in memory. Prints one JSON object.

The model (sequential Conv2D / MaxPooling2D / Flatten / Dense / Dropout / Activation):
  Conv2D   kernel [kh, kw, in, out] -> torch weight [out, in, kh, kw]; "same" padding as
           TensorFlow pads (the extra row/column, if any, at the bottom/right)
  Dense    kernel [in, out] -> torch weight [out, in]
  Flatten  ours flattens NHWC; torch holds NCHW, so the tensor is permuted to NHWC first (a
           free view when the activations are channels_last) and the Dense kernels keep their
           row order
  the last activation (softmax / sigmoid) is left out while training: CrossEntropyLoss and
  BCEWithLogitsLoss take logits, as our Trainer does.

--precision int8 (infer and check): PyTorch's post-training static quantization (eager mode,
the oneDNN engine, which runs u8 x s8 products with AVX512_VNNI as cnn does), in the scheme of
cnn-quantize --method minmax: per-output-channel symmetric int8 weights, per-tensor u8
activations whose range is the min/max seen over the samples of --calibrate (safetensors,
"input" [n, h, w, c]); conv + relu and dense + relu fused; the last softmax / sigmoid in float.

usage:
  bench_torch.py MODEL.json --mode check --weights W.safetensors --check-input X.safetensors
                 --compare OURS.safetensors
  bench_torch.py MODEL.json --mode train|infer --batch N --steps S --warmup W --runs R
                 [--weights W.safetensors] [--data random|fashion-mnist] [--threads T]
                 [--precision fp32|bf16|int8] [--calibrate C.safetensors]
"""
import argparse
import gzip
import json
import os
import resource
import struct
import sys
import time

import numpy as np


# --- safetensors with json + struct + numpy (the format of share/weights.md) -------------------

def read_safetensors(path):
    """Returns (metadata, {name: float32 array}) of a safetensors file of F32 tensors."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name!r} has dtype {t['dtype']}, expected F32")
        begin, end = t["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(t["shape"])
    return meta, tensors


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, array in tensors.items():
        a = np.ascontiguousarray(array, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# --- the model ----------------------------------------------------------------------------------

STEMS = {"Conv2D": "conv2d", "MaxPooling2D": "max_pooling2d", "Flatten": "flatten",
         "Dense": "dense", "Dropout": "dropout", "Activation": "activation"}
# Keys that do not change what the layer computes once the weights are loaded.
IGNORED_KEYS = {"type", "name", "trainable", "kernel_initializer", "bias_initializer"}


def layer_names(layers):
    """Keras's default names as libcnn gives them: explicit names first, then conv2d, conv2d_1,
    ... per type, skipping names already taken."""
    taken = {"input_1"} | {l["name"] for l in layers if "name" in l}
    counters, names = {}, []
    for l in layers:
        if "name" in l:
            names.append(l["name"])
            continue
        stem = STEMS.get(l["type"], l["type"].lower())
        while True:
            k = counters.get(stem, 0)
            counters[stem] = k + 1
            cand = stem if k == 0 else f"{stem}_{k}"
            if cand not in taken:
                break
        taken.add(cand)
        names.append(cand)
    return names


def pair(v, default):
    if v is None:
        v = default
    return (v, v) if isinstance(v, int) else tuple(v)


def same_pads(size, k, s, d):
    """TensorFlow's "same": total = max((ceil(size/s) - 1) * s + (k - 1) * d + 1 - size, 0),
    before = total // 2, after = the rest."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def build(arch):
    import torch
    from torch import nn
    import torch.nn.functional as F

    acts = {"linear": None, "relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "softmax": lambda t: F.softmax(t, dim=1)}

    def check_keys(i, l, known):
        extra = set(l) - known - IGNORED_KEYS
        if extra:
            raise SystemExit(f"bench_torch: layer {i} ({l['type']}): unsupported keys "
                             f"{sorted(extra)}")

    def act_of(i, l):
        a = l.get("activation", "linear")
        if a not in acts:
            raise SystemExit(f"bench_torch: layer {i}: activation {a!r} is not supported here")
        return a

    class KerasNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.ops = []          # (kind, module or None, activation name, extra)
            self.params_by_name = {}
            self.final_act = None  # applied only when self.logits is False
            self.logits = False
            h, w, c = arch["input_shape"]
            layers = arch["layers"]
            names = layer_names(layers)
            mods = nn.ModuleList()
            for i, (l, name) in enumerate(zip(layers, names)):
                t = l["type"]
                if "inputs" in l:
                    raise SystemExit("bench_torch: only sequential models are supported")
                if t == "Conv2D":
                    check_keys(i, l, {"filters", "kernel_size", "strides", "padding", "activation",
                                      "use_bias", "dilation_rate"})
                    kh, kw = pair(l["kernel_size"], None)
                    sh, sw = pair(l.get("strides"), 1)
                    dh, dw = pair(l.get("dilation_rate"), 1)
                    pad = None
                    if l.get("padding", "valid") == "same":
                        ph, pw = same_pads(h, kh, sh, dh), same_pads(w, kw, sw, dw)
                        pad = (pw[0], pw[1], ph[0], ph[1])
                        h, w = h + ph[0] + ph[1], w + pw[0] + pw[1]
                    sym = pad is not None and pad[0] == pad[1] and pad[2] == pad[3]
                    conv = nn.Conv2d(c, l["filters"], (kh, kw), (sh, sw),
                                     padding=(pad[2], pad[0]) if sym else 0, dilation=(dh, dw),
                                     bias=l.get("use_bias", True))
                    mods.append(conv)
                    self.ops.append(("conv", conv, act_of(i, l), None if sym else pad))
                    self.params_by_name[f"{name}.kernel"] = (conv.weight, "conv")
                    if conv.bias is not None:
                        self.params_by_name[f"{name}.bias"] = (conv.bias, "bias")
                    h = (h - (kh - 1) * dh - 1) // sh + 1
                    w = (w - (kw - 1) * dw - 1) // sw + 1
                    c = l["filters"]
                elif t == "MaxPooling2D":
                    check_keys(i, l, {"pool_size", "strides", "padding"})
                    if l.get("padding", "valid") != "valid":
                        raise SystemExit("bench_torch: MaxPooling2D padding 'same' is not "
                                         "supported")
                    ph_, pw_ = pair(l.get("pool_size"), 2)
                    sh, sw = pair(l.get("strides"), None) if l.get("strides") else (ph_, pw_)
                    pool = nn.MaxPool2d((ph_, pw_), (sh, sw))
                    mods.append(pool)
                    self.ops.append(("pool", pool, "linear", None))
                    h, w = (h - ph_) // sh + 1, (w - pw_) // sw + 1
                elif t == "Flatten":
                    check_keys(i, l, set())
                    self.ops.append(("flatten", None, "linear", None))
                    c, h, w = h * w * c, None, None
                elif t == "Dense":
                    check_keys(i, l, {"units", "activation", "use_bias"})
                    if h is not None:
                        raise SystemExit("bench_torch: Dense on a 4-D tensor is not supported")
                    lin = nn.Linear(c, l["units"], bias=l.get("use_bias", True))
                    mods.append(lin)
                    self.ops.append(("dense", lin, act_of(i, l), None))
                    self.params_by_name[f"{name}.kernel"] = (lin.weight, "dense")
                    if lin.bias is not None:
                        self.params_by_name[f"{name}.bias"] = (lin.bias, "bias")
                    c = l["units"]
                elif t == "Dropout":
                    check_keys(i, l, {"rate"})
                    drop = nn.Dropout(l["rate"])
                    mods.append(drop)
                    self.ops.append(("dropout", drop, "linear", None))
                elif t == "Activation":
                    check_keys(i, l, {"activation"})
                    self.ops.append(("act", None, act_of(i, l), None))
                else:
                    raise SystemExit(f"bench_torch: layer type {t!r} is not supported here")
            self.mods = mods
            self.out_units = c if h is None else None  # a vector output's size
            # The last layer's sigmoid/softmax: left out while training (losses take logits).
            kind, mod, act, extra = self.ops[-1]
            if act in ("softmax", "sigmoid"):
                self.final_act = acts[act]
                self.ops[-1] = (kind, mod, "linear", extra)
            self.acts = acts

        def forward(self, x):
            for kind, mod, act, extra in self.ops:
                if kind == "conv" and extra is not None:
                    x = F.pad(x, extra)
                if kind == "flatten":
                    x = x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x.flatten(1)
                elif mod is not None:
                    x = mod(x)
                if self.acts[act] is not None:
                    x = self.acts[act](x)
            if self.final_act is not None and not self.logits:
                x = self.final_act(x)
            return x

        def load_keras_weights(self, tensors):
            want, got = set(self.params_by_name), set(tensors)
            if want != got:
                raise SystemExit(f"bench_torch: weights do not match the model: missing "
                                 f"{sorted(want - got)}, unused {sorted(got - want)}")
            with torch.no_grad():
                for name, (p, kind) in self.params_by_name.items():
                    a = torch.from_numpy(np.array(tensors[name]))
                    if kind == "conv":
                        a = a.permute(3, 2, 0, 1)  # [kh, kw, in, out] -> [out, in, kh, kw]
                    elif kind == "dense":
                        a = a.t()                  # [in, out] -> [out, in]
                    if tuple(a.shape) != tuple(p.shape):
                        raise SystemExit(f"bench_torch: {name}: shape {tuple(a.shape)} does not "
                                         f"fit {tuple(p.shape)}")
                    p.copy_(a)

    net = KerasNet()
    return net, net.out_units


def quantize_int8(net, calibration, batch):
    """net (a KerasNet in eval mode) as a quantized module: see --precision int8. calibration:
    float32 [n, c, h, w]."""
    import torch
    from torch import nn
    import torch.ao.quantization as tq

    class NHWCFlatten(nn.Module):  # KerasNet's flatten, as a module that quantized tensors pass
        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1)

    mods, fuse = [tq.QuantStub()], []
    for kind, mod, act, extra in net.ops:
        if extra is not None:
            raise SystemExit("bench_torch: int8: asymmetric 'same' padding is not supported")
        if kind == "flatten":
            mods.append(NHWCFlatten())
        elif kind == "dropout":
            continue  # inference
        elif mod is not None:
            mods.append(mod)
        if act == "relu":
            if kind in ("conv", "dense"):
                fuse.append([str(len(mods) - 1), str(len(mods))])
            mods.append(nn.ReLU())
        elif act != "linear":
            raise SystemExit(f"bench_torch: int8: activation {act!r} inside the model is not "
                             "supported")
    mods.append(tq.DeQuantStub())

    class Int8Net(nn.Module):
        def __init__(self, body, final_act):
            super().__init__()
            self.body = body
            self.final_act = final_act

        def forward(self, x):
            x = self.body(x)
            return self.final_act(x) if self.final_act is not None else x

    torch.backends.quantized.engine = "onednn"
    body = tq.fuse_modules(nn.Sequential(*mods).eval(), fuse)  # a copy: net keeps its modules
    body.qconfig = tq.QConfig(
        activation=tq.MinMaxObserver.with_args(dtype=torch.quint8,
                                               qscheme=torch.per_tensor_affine),
        weight=tq.PerChannelMinMaxObserver.with_args(dtype=torch.qint8,
                                                     qscheme=torch.per_channel_symmetric))
    tq.prepare(body, inplace=True)
    with torch.inference_mode():
        for i in range(0, len(calibration), batch):
            body(calibration[i:i + batch])
    tq.convert(body, inplace=True)
    return Int8Net(body, net.final_act).eval()


# --- data ---------------------------------------------------------------------------------------

def fashion_mnist(directory, count):
    """The first `count` test images ([count, 28, 28] / 255, float32) and labels (int64)."""
    with gzip.open(os.path.join(directory, "t10k-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    if struct.unpack(">I", raw[:4])[0] != 0x803:
        raise SystemExit("bench_torch: t10k-images-idx3-ubyte.gz: not an IDX image file")
    n, hh, ww = struct.unpack(">III", raw[4:16])
    if n < count:
        raise SystemExit(f"bench_torch: Fashion-MNIST has {n} images; expected at least {count}")
    images = np.frombuffer(raw, np.uint8, count * hh * ww, 16).reshape(count, hh, ww)
    with gzip.open(os.path.join(directory, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, count, 8)
    return images.astype(np.float32) / np.float32(255.0), labels.astype(np.int64)


def loaded_blas():
    """The BLAS/LAPACK shared objects mapped into this process (which one LD_LIBRARY_PATH or
    update-alternatives selected), real paths."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "blas" in os.path.basename(path) or "lapack" in os.path.basename(path):
                libs.add(os.path.realpath(path))
    return sorted(libs)


# --- main ---------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--mode", choices=["train", "infer", "check"], default="train")
    ap.add_argument("--weights")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", default="random", help="random or fashion-mnist")
    ap.add_argument("--data-batches", type=int, default=16)
    ap.add_argument("--fashion-mnist-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--threads", type=int, default=0, help="0: every core")
    ap.add_argument("--memory-format", choices=["auto", "channels_last", "contiguous"],
                    default="auto", help="auto: time both briefly and keep the faster")
    ap.add_argument("--check-input")
    ap.add_argument("--compare", help="check mode: our outputs (safetensors) to compare with")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", choices=["fp32", "bf16", "int8"], default="fp32",
                    help="train mode: bf16 runs forward and loss under torch.autocast('cpu', "
                         "dtype=torch.bfloat16), mixed precision as cnn-train --precision bf16; "
                         "infer and check modes: int8, post-training static quantization")
    ap.add_argument("--calibrate", help="int8: the calibration samples (safetensors, 'input')")
    args = ap.parse_args()

    import torch
    from torch import nn

    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    with open(args.model) as f:
        arch = json.load(f)
    net, out_units = build(arch)
    if args.weights:
        net.load_keras_weights(read_safetensors(args.weights)[1])
    params = sum(p.numel() for p in net.parameters())
    h, w, c = arch["input_shape"]
    binary = out_units == 1
    qnet = None
    if args.precision == "int8":
        if args.mode == "train" or not args.calibrate:
            raise SystemExit("bench_torch: --precision int8 is for infer and check modes, with "
                             "--calibrate")
        net.eval()
        calib = np.array(read_safetensors(args.calibrate)[1]["input"])
        qnet = quantize_int8(net, torch.from_numpy(calib).permute(0, 3, 1, 2).contiguous(),
                             args.batch)
    timed = qnet if qnet is not None else net

    def criterion():
        return nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()

    def make_opt():
        # Keras RMSprop(learning_rate=0.001, rho=0.9, epsilon=1e-7): torch's alpha is rho, and
        # both put epsilon outside the square root.
        return torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)

    def target(y):
        return y.float().unsqueeze(1) if binary else y

    result = {"side": "pytorch", "model": arch.get("name", ""), "mode": args.mode,
              "precision": args.precision, "params": params, "threads": torch.get_num_threads(),
              "torch": torch.__version__, "blas": loaded_blas()}

    if args.mode == "check":
        _, x_in = read_safetensors(args.check_input)
        _, ours = read_safetensors(args.compare)
        x = torch.from_numpy(np.array(x_in["input"])).permute(0, 3, 1, 2).contiguous()
        net.eval()

        def run(model):
            with torch.no_grad():
                out = model(x)
                if out.dim() == 4:
                    out = out.permute(0, 2, 3, 1)  # NCHW -> our NHWC
            return out.numpy()

        ref = run(net)

        def compare(a, b):
            diff = float(np.max(np.abs(a - b)))
            return diff, diff / max(float(np.max(np.abs(b))), 1e-30)

        if ours["output"].shape != ref.shape:
            raise SystemExit(f"bench_torch: output shapes differ: ours {ours['output'].shape}, "
                             f"torch {ref.shape}")
        result["output_max_abs_diff"], result["output_rel_diff"] = compare(ours["output"], ref)
        if qnet is not None:
            # Ours is then the int8 output: against PyTorch's fp32 (above), and PyTorch's int8
            # against its fp32 and against ours; top-1 agreement where the output is a vector.
            q = run(qnet)
            result["int8_vs_fp32_max_abs_diff"], result["int8_vs_fp32_rel_diff"] = \
                compare(q, ref)
            result["int8_vs_ours_max_abs_diff"], result["int8_vs_ours_rel_diff"] = \
                compare(q, ours["output"])
            if ref.ndim == 2:
                top = (lambda a: a.argmax(1)) if ref.shape[1] > 1 else (lambda a: a[:, 0] > 0.5)
                result["top1_agreement_ours"] = float(np.mean(top(ours["output"]) == top(ref)))
                result["top1_agreement_pytorch"] = float(np.mean(top(q) == top(ref)))
        if "labels" in x_in and "output_after_step" in ours:
            y = torch.from_numpy(np.rint(x_in["labels"]).astype(np.int64))
            net.train()
            net.logits = True
            opt = make_opt()
            opt.zero_grad(set_to_none=True)
            loss = criterion()(net(x), target(y))
            loss.backward()
            opt.step()
            net.logits = False
            net.eval()
            with torch.no_grad():
                after = net(x).numpy()
            result["first_step_loss"] = float(loss)
            result["after_step_max_abs_diff"], result["after_step_rel_diff"] = compare(
                ours["output_after_step"], after)
        print(json.dumps(result))
        return

    # Batches in memory before any timing, so no step waits for input.
    rng = np.random.default_rng(args.seed + 1)
    count = args.batch * args.data_batches
    if args.data == "fashion-mnist":
        if (h, w, c) != (28, 28, 1):
            raise SystemExit("bench_torch: Fashion-MNIST needs a 28x28x1 model")
        xs, ys = fashion_mnist(args.fashion_mnist_dir, count)
        xs = xs.reshape(count, 1, 28, 28)
        desc = f"fashion-mnist:test, the first {count} samples decoded into memory"
    elif args.data == "random":
        xs = rng.random((count, c, h, w), dtype=np.float32)
        ys = rng.integers(0, 2 if binary else (out_units or 2), count)
        desc = f"random uniform [0, 1) inputs and labels, {args.data_batches} batches in memory"
    else:
        raise SystemExit(f"bench_torch: unknown --data {args.data!r}")
    batches = [(torch.from_numpy(np.ascontiguousarray(xs[i:i + args.batch])),
                torch.from_numpy(np.ascontiguousarray(ys[i:i + args.batch])))
               for i in range(0, count, args.batch)]
    del xs, ys

    train = args.mode == "train"
    net.logits = train
    net.train(train)
    opt = make_opt() if train else None
    loss_fn = criterion()
    state = {"next": 0, "loss": float("nan")}
    rss_before_steps = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def step(data):
        x, y = data[state["next"] % len(data)]
        state["next"] += 1
        if train:
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                loss = loss_fn(net(x), target(y))
            loss.backward()
            opt.step()
            state["loss"] = loss
        else:
            with torch.inference_mode():
                timed(x)

    def to_format(fmt):
        mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
        timed.to(memory_format=mf)
        return [(x.contiguous(memory_format=mf), y) for x, y in batches]

    def time_run(data, steps):
        t0 = time.perf_counter()
        for _ in range(steps):
            step(data)
        return steps * args.batch / (time.perf_counter() - t0)

    probe = {}
    fmt = args.memory_format
    if fmt == "auto":
        # A short probe of each layout after warm-up steps (the first steps in a layout create
        # oneDNN's primitives); the faster one is timed.
        for cand in ("contiguous", "channels_last"):
            data = to_format(cand)
            for _ in range(1 if args.steps == 1 else 2):
                step(data)
            probe[cand] = round(time_run(data, max(1, args.steps // 2)), 2)
        fmt = max(probe, key=probe.get)
    data = to_format(fmt)
    for _ in range(args.warmup):
        step(data)
    loss_after_warmup = float(state["loss"])
    ips = []
    for r in range(args.runs):
        ips.append(round(time_run(data, args.steps), 2))
        print(f"bench_torch: run {r + 1}: {ips[-1]} images/s", file=sys.stderr)
    result.update({"batch": args.batch, "steps": args.steps, "warmup": args.warmup,
                   "memory_format": fmt, "memory_format_probe": probe, "data": desc,
                   "images_per_s": ips,
                   "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   "peak_rss_kib_before_steps": rss_before_steps})
    if train:
        result["loss_after_warmup"] = loss_after_warmup
        result["loss_last"] = float(state["loss"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
