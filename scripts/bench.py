#!/usr/bin/python3
"""bench.py: the driver of `make bench` (run through scripts/bench.sh, which installs the
packages and builds the release programs first). Measures cnn and PyTorch side by side in one
run and prints one table: median of the runs with min-max, and the ratio cnn / reference.

  1  training images/s, mnist_convnet, batch 64, RMSprop, Fashion-MNIST      vs PyTorch
     (the first 2,048 images of the test file, the smaller one, decoded into memory)
  2  training images/s, cats_dogs at 150x150x3, batch 20 (random inputs)     vs PyTorch
  3  inference images/s, vgg16_notop at 150x150x3, batch 20 (random inputs)  vs PyTorch
  4  inference images/s, mnist_convnet, batch 256, Fashion-MNIST             vs PyTorch
  5  sgemm GFLOP/s, square and convolution shapes (bench_gemm)               vs OpenBLAS
     and as a fraction of the FMA peak (bench_peak: measured clock x measured FMA flops/cycle)
  6  peak resident memory of the processes of 1                              vs PyTorch
  7  peak resident memory of the processes of 3 (VGG16 inference)           vs PyTorch
  8  training images/s as 1, bf16 (cnn-train --precision bf16)               vs PyTorch autocast
  9  training images/s as 2, bf16                                            vs PyTorch autocast
 10  inference images/s as 4, int8 (cnn-quantize)                            vs PyTorch int8
 11  inference images/s, cats_dogs b20, int8 (random inputs)                 vs PyTorch int8

Before timing a model, both sides must compute the same thing: the same parameter count, and
the same output (relative difference < 1e-3) on one fixed input with the same weights, written
by cnn as safetensors and read by PyTorch. A mismatch stops the run (exit 1). For the int8 rows
both sides quantize those weights from the same calibration samples, each in its own way
(cnn-quantize --method minmax; PyTorch's eager post-training quantization on oneDNN with min/max
observers, the same scheme), and each side's int8 output must stay within INT8_TOL of the fp32
output on held-out inputs.

Every figure is for reading: nothing here asserts a timing. On a shared machine the load
average (printed) lowers and scatters them.

usage: bench.py [--build DIR] [--threads N] [--quick] [--only 1,2,...] [--json-out FILE]
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_SCRIPT = os.path.join(ROOT, "scripts", "bench_torch.py")
PYTHON = "/usr/bin/python3"  # Debian's, which sees python3-torch (a pyenv python3 may not)
REL_TOL = 1e-3
# After one RMSprop step the outputs may differ more: the first step moves every weight by about
# lr * sqrt(1 / (1 - rho)) = 3.2e-3 times the sign of its gradient, so a gradient within rounding
# of zero whose sign differs between the two moves that weight by twice as much.
STEP_TOL = 1e-2
# int8 against fp32: relative max difference of the outputs on the check samples (measured
# 1e-3 to 1e-2 on both sides).
INT8_TOL = 5e-2

# The models: (id, what, config, mode, batch, our --data, torch --data, data batches,
#              steps per run, warm-up steps, runs per process). Steps are sized so that one run
# takes about a second at PyTorch's speed on the 2-core machine of issue #4.
MODELS = [
    (1, "train mnist_convnet b64 RMSprop, Fashion-MNIST", "mnist_convnet.json", "train", 64,
     "fashion-mnist:test", "fashion-mnist", 32, 60, 5, 2),
    (2, "train cats_dogs 150x150x3 b20 RMSprop, random", "cats_dogs.json", "train", 20,
     "random", "random", 4, 4, 2, 2),
    (3, "infer vgg16_notop 150x150x3 b20, random", "vgg16_notop.json", "infer", 20,
     "random", "random", 2, 1, 1, 1),
    (4, "infer mnist_convnet b256, Fashion-MNIST", "mnist_convnet.json", "infer", 256,
     "fashion-mnist:test", "fashion-mnist", 8, 30, 3, 2),
    (8, "train mnist_convnet b64, bf16 (autocast)", "mnist_convnet.json", "train", 64,
     "fashion-mnist:test", "fashion-mnist", 32, 60, 5, 2),
    (9, "train cats_dogs b20, bf16 (autocast)", "cats_dogs.json", "train", 20,
     "random", "random", 4, 4, 2, 2),
    (10, "infer mnist_convnet b256, int8 (PTQ)", "mnist_convnet.json", "infer", 256,
     "fashion-mnist:test", "fashion-mnist", 8, 30, 3, 2),
    (11, "infer cats_dogs 150x150x3 b20, int8 (PTQ)", "cats_dogs.json", "infer", 20,
     "random", "random", 4, 10, 2, 2),
]
# Mixed-precision training (8, 9): cnn --precision bf16 against PyTorch's autocast to bfloat16
# (forward and loss; backward follows its casts). Each round also runs cnn in fp32, so that
# cnn's bf16/fp32 ratio compares alternating processes; PyTorch's is against its fp32 twin row
# (1, 2), timed minutes apart.
BF16_OF = {8: 1, 9: 2}
# Post-training int8 inference (10, 11): cnn-quantize's run against PyTorch's quantized model.
# Each round also runs both sides in fp32, so both int8/fp32 ratios compare alternating
# processes. Calibration: the INT8_CALIBRATION samples after the timed batches' (Fashion-MNIST
# test images) or as many random ones.
INT8_ROWS = {10, 11}
INT8_CALIBRATION = 256
# Each model is timed in ROUNDS rounds; a round runs one cnn process, then the PyTorch processes.
# Alternating spreads both sides over the same minutes, so a change in the machine's load
# (others' jobs) falls on both rather than on whichever went second.
ROUNDS = 3
# PyTorch runs in four configurations, and the reference is the fastest:
# - both OpenMP wait policies. libgomp's default spins in every barrier; when other jobs hold
#   the cores, a spinning thread waits for a descheduled one, and PyTorch's training speed with 2
#   threads here fell 5-10x under a load average of 5 (1,500 images/s with
#   OMP_WAIT_POLICY=passive, 150-500 without). On an idle machine spinning may be the faster.
#   cnn's pool yields while it polls, then sleeps.
# - with and without tcmalloc (Debian's libtcmalloc-minimal4) preloaded, as PyTorch's CPU
#   performance guide advises: glibc's malloc returns large blocks to the system and takes them
#   back with page faults on every step.
TCMALLOC = next(iter(sorted(glob.glob("/usr/lib/*/libtcmalloc_minimal.so.4"))), None)
TORCH_CONFIGS = {"torch": {}, "torch/passive": {"OMP_WAIT_POLICY": "PASSIVE"}}
if TCMALLOC:
    TORCH_CONFIGS |= {"torch+tcmalloc": {"LD_PRELOAD": TCMALLOC},
                      "torch+tcmalloc/passive": {"LD_PRELOAD": TCMALLOC,
                                                 "OMP_WAIT_POLICY": "PASSIVE"}}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def deb_version(package):
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    return p.stdout.strip() if p.returncode == 0 else "not installed"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run_json(cmd, env=None):
    """Runs cmd, returns the JSON object of its last stdout line; stops the run on failure."""
    log(" ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"bench: failed (exit {p.returncode}): {' '.join(cmd)}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def torch_env():
    """The environment of the PyTorch processes: OpenBLAS (OpenMP build) as libblas.so.3 through
    LD_LIBRARY_PATH, so the system-wide update-alternatives choice is left alone. Returns
    (env, description)."""
    env = dict(os.environ)
    for variant in ("openblas-openmp", "openblas-pthread"):
        hits = sorted(glob.glob(f"/usr/lib/*/{variant}/libblas.so.3"))
        if hits:
            d = os.path.dirname(hits[0])
            env["LD_LIBRARY_PATH"] = d + (":" + env["LD_LIBRARY_PATH"]
                                          if env.get("LD_LIBRARY_PATH") else "")
            return env, f"OpenBLAS ({variant}) via LD_LIBRARY_PATH={d}"
    return env, "the system libblas.so.3 (no OpenBLAS found: install libopenblas0-openmp)"


def stat(values):
    return statistics.median(values), min(values), max(values)


def fmt_stat(values, digits=1):
    med, lo, hi = stat(values)
    return f"{med:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def check_model(bin_dir, cfg, threads, tmp, env):
    """The equivalence check of one model; returns its facts, or stops the run."""
    import numpy as np
    sys.path.insert(0, os.path.dirname(TORCH_SCRIPT))
    sys.dont_write_bytecode = True  # no scripts/__pycache__ in the tree
    from bench_torch import write_safetensors  # json + struct + numpy only

    name = os.path.splitext(os.path.basename(cfg))[0]
    weights = os.path.join(tmp, f"{name}.safetensors")
    x_path = os.path.join(tmp, f"{name}.x.safetensors")
    ours_path = os.path.join(tmp, f"{name}.y.safetensors")
    with open(cfg) as f:
        arch = json.load(f)
    h, w, c = arch["input_shape"]
    rng = np.random.default_rng(1234)
    # A fixed input of 2 samples, and labels for one training step where the model has a head.
    x = rng.random((2, h, w, c), dtype=np.float32)
    last = arch["layers"][-1]
    tensors = {"input": x}
    # One training step too, where the model has a head and no Dropout (whose random masks
    # differ between the two sides).
    if last["type"] == "Dense" and not any(l["type"] == "Dropout" for l in arch["layers"]):
        k = last["units"]
        tensors["labels"] = rng.integers(0, 2 if k == 1 else k, 2).astype(np.float32)
    write_safetensors(x_path, tensors)
    ours = run_json([os.path.join(bin_dir, "bench_model"), cfg, "--mode", "check", "--seed", "7",
                     "--threads", str(threads), "--save-weights", weights,
                     "--check-input", x_path, "--check-output", ours_path])
    ref = run_json([PYTHON, TORCH_SCRIPT, cfg, "--mode", "check", "--weights", weights,
                    "--threads", str(threads), "--check-input", x_path, "--compare", ours_path],
                   env=env)
    facts = {"params_cnn": ours["params"], "params_pytorch": ref["params"],
             "output_max_abs_diff": ref["output_max_abs_diff"],
             "output_rel_diff": ref["output_rel_diff"], "weights": weights}
    problems = []
    if ours["params"] != ref["params"]:
        problems.append(f"parameter counts differ: cnn {ours['params']}, PyTorch {ref['params']}")
    if not ref["output_rel_diff"] < REL_TOL:
        problems.append(f"outputs differ: max abs {ref['output_max_abs_diff']:.3g}, relative "
                        f"{ref['output_rel_diff']:.3g} (expected < {REL_TOL})")
    if "first_step_loss" in ours and "first_step_loss" in ref:
        a, b = ours["first_step_loss"], ref["first_step_loss"]
        facts.update({"first_step_loss_cnn": a, "first_step_loss_pytorch": b,
                      "after_step_max_abs_diff": ref["after_step_max_abs_diff"],
                      "after_step_rel_diff": ref["after_step_rel_diff"]})
        if not abs(a - b) <= REL_TOL * max(abs(b), 1e-30):
            problems.append(f"first training step losses differ: cnn {a:.6g}, PyTorch {b:.6g}")
        if not ref["after_step_rel_diff"] < STEP_TOL:
            problems.append(f"outputs after one RMSprop step differ: relative "
                            f"{ref['after_step_rel_diff']:.3g} (expected < {STEP_TOL})")
    if problems:
        raise SystemExit(f"bench: {name}: cnn and PyTorch do not compute the same thing: "
                         + "; ".join(problems))
    return facts


def quantize_model(build, cfg, facts, data, first, threads, tmp, env):
    """The int8 rows' set-up: cnn-quantize's run of the model with the check's weights, both
    sides' calibration samples, and the check of both int8 models against fp32 on held-out
    samples. data: "random" or "fashion-mnist" (then the test images from `first` on)."""
    import numpy as np
    import shutil
    import struct
    from bench_torch import fashion_mnist, write_safetensors

    name = os.path.splitext(os.path.basename(cfg))[0]
    with open(cfg) as f:
        arch = json.load(f)
    h, w, c = arch["input_shape"]
    n_check = 64
    if data == "fashion-mnist":
        xs, _ = fashion_mnist("/usr/share/datasets/fashion-mnist",
                              first + INT8_CALIBRATION + n_check)
        xs = xs[first:].reshape(-1, h, w, c)
    else:
        rng = np.random.default_rng(4321)
        xs = rng.random((INT8_CALIBRATION + n_check, h, w, c), dtype=np.float32)
    calib, held_out = xs[:INT8_CALIBRATION], xs[INT8_CALIBRATION:]
    # The calibration samples as a record stream for cnn-quantize, as safetensors for PyTorch.
    calib_rec = os.path.join(tmp, f"{name}.calibration.cnnrec")
    calib_st = os.path.join(tmp, f"{name}.calibration.safetensors")
    header = json.dumps({"shape": [h, w, c], "dtype": "float32", "label": "int32",
                         "classes": ["0", "1"], "class_mode": "sparse",
                         "count": len(calib)}).encode()
    with open(calib_rec, "wb") as f:
        f.write(b"\x89CNNREC\n" + struct.pack("<II", 1, len(header)) + header)
        for x in calib:
            f.write(struct.pack("<i", 0) + x.astype("<f4").tobytes())
    write_safetensors(calib_st, {"input": calib})
    qrun = os.path.join(tmp, f"{name}.int8-run")
    shutil.rmtree(qrun, ignore_errors=True)
    report = run_json([os.path.join(build, "bin", "cnn-quantize"), cfg, "--weights",
                       facts["weights"], "--calibrate", calib_rec, "--samples", "0", "-o", qrun,
                       "--json"])
    x_path = os.path.join(tmp, f"{name}.int8-x.safetensors")
    ours_path = os.path.join(tmp, f"{name}.int8-y.safetensors")
    write_safetensors(x_path, {"input": held_out})
    qmodel, qweights = os.path.join(qrun, "model.json"), os.path.join(qrun, "weights.safetensors")
    run_json([os.path.join(build, "bench", "bench_model"), qmodel, "--mode", "check",
              "--weights", qweights, "--threads", str(threads), "--check-input", x_path,
              "--check-output", ours_path])
    ref = run_json([PYTHON, TORCH_SCRIPT, cfg, "--mode", "check", "--weights", facts["weights"],
                    "--threads", str(threads), "--check-input", x_path, "--compare", ours_path,
                    "--precision", "int8", "--calibrate", calib_st], env=env)
    layers = report.get("layers", [])
    q = {"model": qmodel, "weights": qweights, "calibration": calib_st,
         "int8_layers": sum(1 for l in layers if l.get("int8")), "layers": len(layers),
         "cnn_vs_fp32": ref["output_rel_diff"], "pytorch_vs_fp32": ref["int8_vs_fp32_rel_diff"],
         "cnn_vs_pytorch": ref["int8_vs_ours_rel_diff"], "held_out": len(held_out),
         "top1_cnn": ref.get("top1_agreement_ours"),
         "top1_pytorch": ref.get("top1_agreement_pytorch")}
    bad = [f"{side} int8 output differs from fp32 by {q[key]:.3g} (relative, expected < "
           f"{INT8_TOL})" for side, key in (("cnn", "cnn_vs_fp32"), ("PyTorch", "pytorch_vs_fp32"))
           if not q[key] < INT8_TOL]
    if bad:
        raise SystemExit(f"bench: {name}: " + "; ".join(bad))
    return q


GEMM_LINE = re.compile(
    r"^(?P<name>.+?)\s+(?P<thr>\d+)\s+(?P<ours>[\d.]+) \(\s*(?P<olo>[\d.]+)-\s*(?P<ohi>[\d.]+)\)"
    r"(?:\s+(?P<blas>[\d.]+) \(\s*(?P<blo>[\d.]+)-\s*(?P<bhi>[\d.]+)\)\s+(?P<ratio>[\d.]+))?\s*$")


def parse_gemm(text):
    rows = []
    for line in text.splitlines():
        m = GEMM_LINE.match(line)
        if m and not line.startswith(("bench_gemm", "load average", "shape")):
            rows.append(m.groupdict())
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="CMake build folder")
    ap.add_argument("--threads", type=int, default=0, help="threads on both sides (0: all cores)")
    ap.add_argument("--quick", action="store_true", help="3 short runs each, fewer GEMM shapes")
    ap.add_argument("--only", default="1,2,3,4,5,6,7,8,9,10,11", help="which rows, e.g. 1,4,5")
    ap.add_argument("--json-out", help="also write every raw result here (default: "
                                       "BUILD/bench-results.json)")
    args = ap.parse_args()
    only = {int(v) for v in args.only.split(",") if v.strip()}
    threads = args.threads or os.cpu_count()
    bin_dir = os.path.join(args.build, "bench")
    for prog in ("bench_model", "bench_gemm", "bench_peak"):
        if not os.access(os.path.join(bin_dir, prog), os.X_OK):
            raise SystemExit(f"bench: {bin_dir}/{prog} is missing; build with -DCNN_BENCH=ON "
                             "(scripts/bench.sh does)")
    if only & INT8_ROWS and not os.access(os.path.join(args.build, "bin", "cnn-quantize"),
                                          os.X_OK):
        raise SystemExit(f"bench: {args.build}/bin/cnn-quantize is missing (scripts/bench.sh "
                         "builds it)")
    env, blas_desc = torch_env()
    started = datetime.datetime.now().astimezone()
    load_start = loadavg()
    results = {"date": started.isoformat(timespec="seconds"), "cpu": cpu_model(),
               "cores": os.cpu_count(), "threads": threads, "load_start": load_start,
               "blas": blas_desc, "models": {}, "gemm": []}

    peak = run_json([os.path.join(bin_dir, "bench_peak"), "--threads", str(threads)])
    results["peak"] = peak

    with tempfile.TemporaryDirectory(prefix="cnn-bench-") as tmp:
        checks, quants = {}, {}
        for (mid, what, cfg, mode, batch, data, tdata, nbatches, steps, warmup, runs) in MODELS:
            if mid not in only and not (mid == 1 and 6 in only) and not (mid == 3 and 7 in only):
                continue
            rounds = ROUNDS
            if args.quick:
                steps, warmup, rounds, runs = max(1, steps // 3), min(warmup, 1), 1, 3
            cfg_path = os.path.join(ROOT, "configs", "models", cfg)
            if cfg not in checks:
                checks[cfg] = check_model(bin_dir, cfg_path, threads, tmp, env)
            facts = checks[cfg]
            common = ["--mode", mode, "--batch", str(batch), "--steps", str(steps),
                      "--warmup", str(warmup), "--runs", str(runs),
                      "--data-batches", str(nbatches), "--threads", str(threads)]
            bench_model = os.path.join(bin_dir, "bench_model")
            common_args = common
            common = common_args + ["--weights", facts["weights"]]
            cnn_fp32 = [bench_model, cfg_path, "--data", data, "-q"] + common
            cnn_cmd, cnn_twin, torch_args, torch_twin = cnn_fp32, None, common, None
            if mid in BF16_OF:
                cnn_cmd, cnn_twin = cnn_fp32 + ["--precision", "bf16"], cnn_fp32
                torch_args = common + ["--precision", "bf16"]
            if mid in INT8_ROWS:
                if (cfg, tdata) not in quants:
                    quants[(cfg, tdata)] = quantize_model(args.build, cfg_path, facts, tdata,
                                                          batch * nbatches, threads, tmp, env)
                q = quants[(cfg, tdata)]
                cnn_cmd = [bench_model, q["model"], "--data", data, "-q", "--weights",
                           q["weights"]] + common_args
                cnn_twin, torch_twin = cnn_fp32, common
                torch_args = common + ["--precision", "int8", "--calibrate", q["calibration"]]
            procs = {"cnn": []} | {name: [] for name in TORCH_CONFIGS}
            fmt = "auto"
            # Passive first: its memory-format probe is the one least disturbed by others.
            policies = sorted(TORCH_CONFIGS, key=lambda n: "OMP_WAIT_POLICY" not in
                              TORCH_CONFIGS[n])
            for rnd in range(rounds):
                if rnd == 1:
                    # Later rounds time only the policy that was faster in the first one (the
                    # slower one can take minutes when it collapses).
                    policies = [max(policies,
                                    key=lambda n: statistics.median(procs[n][0]["images_per_s"]))]
                procs["cnn"].append(run_json(cnn_cmd))
                if cnn_twin:
                    procs.setdefault("cnn/fp32", []).append(run_json(cnn_twin))
                for name in policies:
                    penv = dict(env) | TORCH_CONFIGS[name]
                    procs[name].append(run_json([PYTHON, TORCH_SCRIPT, cfg_path, "--data", tdata,
                                                 "--memory-format", fmt] + torch_args, env=penv))
                    if fmt == "auto":
                        fmt = procs[name][0]["memory_format"]
                        probe = procs[name][0]["memory_format_probe"]
                if torch_twin:
                    # PyTorch fp32, in the configuration that was the faster so far.
                    name = max(policies,
                               key=lambda n: statistics.median(procs[n][-1]["images_per_s"]))
                    procs.setdefault("pytorch/fp32", []).append(run_json(
                        [PYTHON, TORCH_SCRIPT, cfg_path, "--data", tdata, "--memory-format",
                         "auto"] + torch_twin, env=dict(env) | TORCH_CONFIGS[name]))
            merged = {}
            for name, ps in procs.items():
                if not ps:
                    continue
                m = dict(ps[0])
                m["images_per_s"] = [v for p in ps for v in p["images_per_s"]]
                m["peak_rss_kib"] = max(p["peak_rss_kib"] for p in ps)
                m["processes"] = len(ps)
                merged[name] = m
            # The reference: the configuration with the highest median, whether it ran in
            # every round or in the first alone. The one taken after the first round can
            # collapse in later ones (others' jobs): row 1 once read 8.37 against a passive
            # PyTorch that had run 6,456 images/s in the first round and 1,232-1,786 after,
            # while tcmalloc's single run had 6,178.
            best = max((n for n in TORCH_CONFIGS if n in merged),
                       key=lambda n: statistics.median(merged[n]["images_per_s"]))
            results["models"][mid] = {"what": what, "check": facts, "cnn": merged["cnn"],
                                      "int8": quants.get((cfg, tdata)) if mid in INT8_ROWS
                                      else None,
                                      "pytorch": merged[best], "pytorch_policy": best,
                                      "memory_format_probe": probe,
                                      "sides": merged, "raw": procs}
            results["isa"] = procs["cnn"][0]["isa"]
            results["torch"] = merged[best]["torch"]
            results["torch_blas_loaded"] = merged[best]["blas"]

    gemm_text = ""
    if 5 in only:
        cmd = [os.path.join(bin_dir, "bench_gemm")] + (["--quick"] if args.quick else [])
        log(" ".join(cmd))
        gemm_text = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
        results["gemm"] = parse_gemm(gemm_text)
        results["gemm_raw"] = gemm_text
    results["load_end"] = loadavg()

    # --- the table -------------------------------------------------------------------------
    out = []
    out.append(f"make bench, {started:%Y-%m-%d %H:%M %Z}: {results['cpu']}, {results['cores']} "
               f"cores, {threads} threads on both sides; load average {load_start} at start, "
               f"{results['load_end']} at end")
    if results["models"]:
        loaded = ", ".join(os.path.basename(p) for p in results.get("torch_blas_loaded", []))
        out.append(f"cnn: Release build, kernels {results.get('isa')}. PyTorch: python3-torch "
                   f"{deb_version('python3-torch')} (torch {results.get('torch')}; convolutions "
                   f"through oneDNN), BLAS {blas_desc}, libopenblas0-openmp "
                   f"{deb_version('libopenblas0-openmp')} (mapped: {loaded})")
    out.append("")
    head = f"| {'#':>2} | {'benchmark':<48} | {'unit':<9} | {'cnn median (min-max)':<28} | " \
           f"{'reference median (min-max)':<36} | {'cnn/ref':>7} |"
    out.append(head)
    out.append("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")

    def row(num, what, unit, ours, ref, ratio):
        out.append(f"| {num:>2} | {what:<48} | {unit:<9} | {ours:<28} | {ref:<36} | {ratio:>7} |")

    for mid in sorted(results["models"]):
        if mid not in only:
            continue
        m = results["models"][mid]
        a, b = m["cnn"]["images_per_s"], m["pytorch"]["images_per_s"]
        row(mid, m["what"], "images/s", fmt_stat(a), fmt_stat(b) + " " + m["pytorch_policy"],
            f"{statistics.median(a) / statistics.median(b):.2f}")
        if "cnn/fp32" in m["sides"]:
            a32 = statistics.median(m["sides"]["cnn/fp32"]["images_per_s"])
            twin = results["models"].get(BF16_OF.get(mid))
            b32 = statistics.median(twin["pytorch"]["images_per_s"]) if twin else None
            if mid in BF16_OF:
                row(mid, "  bf16 / fp32 (PyTorch: / row " + str(BF16_OF[mid]) + ")", "ratio",
                    f"{statistics.median(a) / a32:.2f} (fp32 {a32:.1f})",
                    f"{statistics.median(b) / b32:.2f}" if b32 else "-", "")
            else:
                b32 = statistics.median(m["sides"]["pytorch/fp32"]["images_per_s"])
                row(mid, "  int8 / fp32, alternating", "ratio",
                    f"{statistics.median(a) / a32:.2f} (fp32 {a32:.1f})",
                    f"{statistics.median(b) / b32:.2f} (fp32 {b32:.1f})", f"{a32 / b32:.2f}")
    peak_1 = peak["peak_gflops_1thread"]
    peak_t = peak["peak_gflops_threads"]
    for g in results["gemm"]:
        thr = int(g["thr"])
        pk = peak_1 if thr == 1 else peak_t * thr / peak["threads"]
        ours = f"{float(g['ours']):.1f} ({float(g['olo']):.0f}-{float(g['ohi']):.0f}) " \
               f"{100 * float(g['ours']) / pk:.0f}%"
        if g.get("blas"):
            ref = f"{float(g['blas']):.1f} ({float(g['blo']):.0f}-{float(g['bhi']):.0f}) " \
                  f"{100 * float(g['blas']) / pk:.0f}% oblas"
            ratio = g["ratio"]
        else:
            ref, ratio = "(OpenBLAS not found)", "-"
        row(5, f"sgemm {g['name']}, {thr} thr", "GFLOP/s", ours, ref, ratio)
    for num, mid in ((6, 1), (7, 3)):
        if num not in only or mid not in results["models"]:
            continue
        m = results["models"][mid]
        a = m["cnn"]["peak_rss_kib"] / 1024
        a0 = m["cnn"]["peak_rss_kib_before_steps"] / 1024
        # PyTorch's configuration with the least peak (tcmalloc keeps freed memory, and it is
        # the configuration each side would pick to save memory).
        low = min((n for n in TORCH_CONFIGS if n in m["sides"]),
                  key=lambda n: m["sides"][n]["peak_rss_kib"])
        b = m["sides"][low]["peak_rss_kib"] / 1024
        b0 = m["sides"][low]["peak_rss_kib_before_steps"] / 1024
        row(num, f"peak RSS of the processes of {mid} (lower is better)", "MiB",
            f"{a:.1f} ({a0:.1f} before steps)", f"{b:.1f} ({b0:.1f} before) {low}", f"{a / b:.2f}")
    out.append("")
    out.append("Models (1-4, 8-11): the median of all timed runs of a side (min-max in brackets), after "
               "warm-up steps, on batches prepared in memory before timing. The reference is "
               "PyTorch in its configuration with the highest median: all four run in the first "
               "round, the fastest there in every round after it. The four: both "
               "OpenMP wait policies (libgomp's default, and OMP_WAIT_POLICY=passive, "
               "'/passive': spinning threads collapse when other jobs hold the cores), each "
               "with and without tcmalloc preloaded ('+tcmalloc', "
               f"{TCMALLOC or 'not found: install libtcmalloc-minimal4'}).")
    for mid in sorted(results["models"]):
        m = results["models"][mid]
        c, r, k = m["cnn"], m["pytorch"], m["check"]
        a = statistics.median(c["images_per_s"])
        pol = ", ".join(f"{n} {statistics.median(m['sides'][n]['images_per_s']):.1f} "
                        f"(cnn/it {a / statistics.median(m['sides'][n]['images_per_s']):.2f}, "
                        f"{m['sides'][n]['processes']} process"
                        f"{'es' if m['sides'][n]['processes'] > 1 else ''})"
                        for n in TORCH_CONFIGS if n in m["sides"])
        line = (f"  {mid}: {len(c['images_per_s'])} runs of {c['steps']} step"
                f"{'s' if c['steps'] != 1 else ''} of batch "
                f"{c['batch']} per side, in {c['processes']} process"
                f"{'es' if c['processes'] > 1 else ''} alternating with the other side's, each "
                f"after {c['warmup']} warm-up step{'s' if c['warmup'] != 1 else ''}; PyTorch "
                f"medians by configuration: {pol}; {r['memory_format']} (probe, images/s: "
                f"{m['memory_format_probe']}); check: "
                f"params {k['params_cnn']} = {k['params_pytorch']}, output max abs diff "
                f"{k['output_max_abs_diff']:.2e} (relative {k['output_rel_diff']:.1e})")
        if "first_step_loss_cnn" in k:
            line += (f", first-step loss {k['first_step_loss_cnn']:.6f} vs "
                     f"{k['first_step_loss_pytorch']:.6f}, output after one RMSprop step "
                     f"relative diff {k['after_step_rel_diff']:.1e}")
        q = m.get("int8")
        if q:
            line += (f"; int8: {q['int8_layers']} of {q['layers']} Conv2D/Dense layers int8 in "
                     f"cnn's run, all in PyTorch's; on {q['held_out']} held-out samples the "
                     f"int8 outputs differ from fp32 by {q['cnn_vs_fp32']:.1e} (cnn) and "
                     f"{q['pytorch_vs_fp32']:.1e} (PyTorch), from each other by "
                     f"{q['cnn_vs_pytorch']:.1e} (relative max)")
            if q["top1_cnn"] is not None:
                line += (f", top-1 agreement with fp32 {q['top1_cnn']:.3f} (cnn), "
                         f"{q['top1_pytorch']:.3f} (PyTorch)")
        out.append(line)
        out.append(f"     data: {c['data']}")
    out.append(f"FMA peak (5): measured clock {peak['clock_ghz']:.2f} GHz (the best rate of a "
               f"chain "
               f"of dependent integer adds, 1 cycle each) x measured FMA throughput "
               f"{peak['flops_per_cycle_512']:.0f} flops/cycle (512-bit) / "
               f"{peak['flops_per_cycle_256']:.0f} (256-bit) = {peak_1:.1f} GFLOP/s per core, "
               f"{peak_t:.1f} on {peak['threads']} threads at once. (On Zen 4 a 512-bit FMA "
               f"takes both 256-bit pipes: 2 pipes x 8 floats x 2 flops = 32 per cycle; the "
               f"often-quoted 2 x 16 x 2 = 64 would halve every percentage.)")
    if 6 in only or 7 in only:
        out.append("Peak RSS (6, 7): getrusage ru_maxrss of the timing processes of 1 and 3 on "
                   "each side (the largest of a side; on the PyTorch side the configuration with "
                   "the least, the Python interpreter and libtorch included), and the same once "
                   "model, optimizer and batches were ready, before the first step.")
    print("\n".join(out))
    if gemm_text and not results["gemm"]:
        print("\nbench_gemm's output (not parsed):\n" + gemm_text)

    json_out = args.json_out or os.path.join(args.build, "bench-results.json")
    with open(json_out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nraw results: {json_out}")


if __name__ == "__main__":
    main()
