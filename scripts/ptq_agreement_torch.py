#!/usr/bin/env python3
"""PyTorch's own post-training int8 SqueezeNet 1.1 against its own fp32, on the 1,000
cats-vs-dogs validation photos: an independent reference for the top-1 agreement that
post-training quantization reaches there (share/cnn-quantize.md, Accuracy).

The same weights (../shared/data/squeezenet1.1, ONNX model zoo), photos resized to 224x224
(bilinear, PIL) and normalized as configs/models/squeezenet1_1.json says. Eager-mode
quantization on the oneDNN engine (Debian's build has no fbgemm): per-output-channel int8
weights, u8 activations calibrated on 500 random training photos per seed with min/max or
histogram observers, conv1 int8 or kept float (as cnn-quantize keeps it). This fp32 model
predicts the same top-1 class as cnn's fp32 on all 1,000 photos. 8-13 minutes on 2 cores.

usage: /usr/bin/python3 scripts/ptq_agreement_torch.py [DATA_DIR]
"""
import glob
import os
import random
import sys

import numpy as np
import torch
import torch.ao.quantization as tq
import torch.nn as nn
from PIL import Image

DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
WEIGHTS = DATA + "/squeezenet1.1/weights/squeezenet0_conv%d_%s.npy"
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def conv_relu(i, cin, cout, k, **kw):
    """squeezenet0_conv{i} as a Conv2d and its ReLU (fused before quantization)."""
    conv = nn.Conv2d(cin, cout, k, **kw)
    conv.weight.data = torch.from_numpy(np.load(WEIGHTS % (i, "weight")))
    conv.bias.data = torch.from_numpy(np.load(WEIGHTS % (i, "bias")))
    return nn.Sequential(conv, nn.ReLU())


class Fire(nn.Module):
    def __init__(self, i, cin, squeeze, expand):
        super().__init__()
        self.squeeze = conv_relu(i, cin, squeeze, 1)
        self.expand1 = conv_relu(i + 1, squeeze, expand, 1)
        self.expand3 = conv_relu(i + 2, squeeze, expand, 3, padding=1)
        self.cat = nn.quantized.FloatFunctional()

    def forward(self, x):
        x = self.squeeze(x)
        return self.cat.cat([self.expand1(x), self.expand3(x)], 1)


class SqueezeNet(nn.Module):
    def __init__(self, float_first):
        super().__init__()
        self.float_first = float_first
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.conv1 = conv_relu(0, 3, 64, 3, stride=2)
        layers, i = [nn.MaxPool2d(3, 2, ceil_mode=True)], 1
        for cfg in [(64, 16, 64), (128, 16, 64), None, (128, 32, 128), (256, 32, 128), None,
                    (256, 48, 192), (384, 48, 192), (384, 64, 256), (512, 64, 256)]:
            if cfg is None:
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            else:
                layers.append(Fire(i, *cfg))
                i += 3
        self.features = nn.Sequential(*layers)
        self.conv10 = conv_relu(25, 512, 1000, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.quant(self.conv1(x)) if self.float_first else self.conv1(self.quant(x))
        return self.dequant(self.pool(self.conv10(self.features(x)))).flatten(1)

    def fuse(self):
        pairs = [self.conv10] + [getattr(f, name) for f in self.features if isinstance(f, Fire)
                                 for name in ("squeeze", "expand1", "expand3")]
        if not self.float_first:
            pairs.append(self.conv1)
        for seq in pairs:
            tq.fuse_modules(seq, [["0", "1"]], inplace=True)


def photo(path):
    im = Image.open(path).convert("RGB").resize((224, 224), Image.BILINEAR)
    return ((np.asarray(im, np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1)


def top1(model, x):
    with torch.no_grad():
        return torch.cat([model(x[i:i + 50]) for i in range(0, len(x), 50)]).argmax(1)


def main():
    torch.set_num_threads(2)
    torch.backends.quantized.engine = "onednn"
    photos = DATA + "/cats_and_dogs_filtered/%s/*/*.jpg"
    val, train = sorted(glob.glob(photos % "validation")), sorted(glob.glob(photos % "train"))
    x = torch.from_numpy(np.stack([photo(p) for p in val]))
    want = top1(SqueezeNet(False).eval(), x)
    for seed in (0, 1, 2):
        random.seed(seed)
        calib = torch.from_numpy(np.stack([photo(p) for p in random.sample(train, 500)]))
        for name, observer in (("minmax", tq.MinMaxObserver),
                               ("histogram", tq.HistogramObserver)):
            for float_first in (True, False):
                m = SqueezeNet(float_first).eval()
                m.fuse()
                m.qconfig = tq.QConfig(activation=observer.with_args(reduce_range=False),
                                       weight=tq.default_per_channel_weight_observer)
                if float_first:
                    m.conv1.qconfig = None
                tq.prepare(m, inplace=True)
                top1(m, calib)
                tq.convert(m, inplace=True)
                agree = (top1(m, x) == want).float().mean().item()
                print(f"seed {seed} {name:9s} conv1 {'float' if float_first else 'int8 '}: "
                      f"top-1 agreement with fp32 {agree:.4f}", flush=True)


if __name__ == "__main__":
    main()
