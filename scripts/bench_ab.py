#!/usr/bin/env python3
"""Before and after: rows 1-4 of make bench for two builds of cnn, alternated process by
process so that the machine's load falls on both alike. Prints each row's median images/s of
both builds (min-max) and their ratio. Timings are for reading, never asserted.

  scripts/bench_ab.py OLD_BUILD NEW_BUILD [--rounds 6] [--only 1,2]

Each build folder needs bench/bench_model (cmake -DCNN_BENCH=ON; make bench builds it). For the
build of an older commit: git worktree add /tmp/before COMMIT, then configure and build
bench_model there.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import MODELS, ROOT  # noqa: E402  (the same rows and settings as make bench)


def run(build, model, threads):
    mid, what, cfg, mode, batch, data, _tdata, nbatches, steps, warmup, runs = model
    cmd = [os.path.join(build, "bench", "bench_model"), os.path.join(ROOT, "configs", "models", cfg),
           "--mode", mode, "--batch", str(batch), "--data", data, "--data-batches", str(nbatches),
           "--steps", str(steps), "--warmup", str(warmup), "--runs", str(runs),
           "--threads", str(threads), "-q"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out)["images_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", help="build folder of the old version")
    ap.add_argument("new", help="build folder of the new version")
    ap.add_argument("--rounds", type=int, default=6, help="alternations per row")
    ap.add_argument("--only", default="1,2,3,4", help="rows, e.g. 1,2")
    ap.add_argument("--threads", type=int, default=0, help="threads (0: all cores)")
    a = ap.parse_args()
    rows = {int(x) for x in a.only.split(",")}
    results = {}
    for r in range(a.rounds):
        for model in MODELS:
            if model[0] not in rows:
                continue
            for side, build in (("old", a.old), ("new", a.new)):
                results.setdefault((model[0], side), []).extend(run(build, model, a.threads))
            print(f"round {r + 1}/{a.rounds}, row {model[0]} done", file=sys.stderr)
    print(f"| # | benchmark | old median (min-max) | new median (min-max) | new/old |")
    print("|---|---|---:|---:|---:|")
    for model in MODELS:
        if model[0] not in rows:
            continue
        o, n = results[(model[0], "old")], results[(model[0], "new")]
        fmt = lambda v: f"{statistics.median(v):,.1f} ({min(v):,.0f}-{max(v):,.0f})"
        print(f"| {model[0]} | {model[1]}, images/s | {fmt(o)} | {fmt(n)} | "
              f"{statistics.median(n) / statistics.median(o):.3f} |")
    print(f"\n{len(results[(min(rows), 'old')])} timed runs per side and row; load average "
          f"{os.getloadavg()[0]:.2f} at the end.")


if __name__ == "__main__":
    main()
