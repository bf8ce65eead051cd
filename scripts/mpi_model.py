#!/usr/bin/env python3
"""A model of data-parallel training's gradient sum, fitted to scripts/mpi_hosts.sh's
measurements, and the throughput it predicts for more nodes (issue #14, the README's table).

The sum is a reduce-scatter and an allgather: 2 (K - 1) steps, in each of which a process sends
and receives 1/K of the B bytes of gradients. So

    T(B, K) = 2 (K - 1) alpha + 2 (K - 1) / K * B / bw,   bw = min(eta * R, H)

alpha is the cost of one step beyond its bytes; eta the share of the link rate R that TCP
delivers; H what the hosts themselves can push (their CPUs: here two cores carry every emulated
host's TCP and sums, so H binds above a few Gbit/s). eta comes from the shaped rates below H,
H from the others (both from sums past tc's burst), alpha from a least-squares fit of what
the bytes of the small sums do not explain.

A step of K nodes then takes t_c + T, t_c = b / r the time one node takes for its b images
(r: its training images/s), with none of T hidden behind backward (the lower figure), or
max(t_c, T) with all of it hidden (the upper one). Predictions assume nodes like the measured
one, each with its own link at R to a non-blocking switch, and H no longer binding (hosts
whose cores are their own): bw = eta * R.

usage: mpi_model.py MEASUREMENTS.jsonl RATES.json
  MEASUREMENTS: mpi_hosts.sh's JSON lines (bench/results/mpi_hosts.jsonl: the README's)
  RATES: {"model": [params, images per node per step, images/s of one node], ...}
"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
models = json.load(open(sys.argv[2]))


def traffic(r):  # bytes each process sends (and receives) in one sum
    k = r["processes"]
    return 2.0 * (k - 1) / k * r["bytes"]


# tc's token bucket lets a burst through at full speed (it must hold R / HZ: 12.5 MB at 25 Gbit/s
# and a 250 Hz kernel; mpi_hosts.sh gives 4 MB), so the links' rates show in the large sums
# only, and the small ones measure the steps and the hosts.
big = [r for r in rows if traffic(r) >= 12e6]
small = [r for r in rows if traffic(r) <= 1.6e6]
for r in big:
    r["bw"] = traffic(r) * 8 / r["median_s"]  # bits/s
host = max(r["bw"] for r in big)  # the best any shaping allowed: the hosts' own limit
slow = [r for r in big if r["rate_gbit"] * 1e9 < 0.8 * host]
eta = sum(r["bw"] / (r["rate_gbit"] * 1e9) for r in slow) / len(slow) if slow else 0.95
ceiling = [r for r in big if r["rate_gbit"] * 1e9 >= 0.8 * host]
host = sorted(r["bw"] for r in ceiling)[len(ceiling) // 2] if ceiling else host


def bandwidth(rate_gbit, h=host):
    return min(eta * rate_gbit * 1e9, h) / 8  # bytes/s


# alpha: least squares, over the small sums (sent at the hosts' speed, inside the burst), of
# what their bytes do not explain per step.
num = den = 0.0
for r in small:
    steps = 2 * (r["processes"] - 1)
    rest = r["median_s"] - traffic(r) / (host / 8)
    num += steps * rest
    den += steps * steps
alpha = max(num / den, 0.0)


def predict(b, k, rate_gbit, h=host):
    # Sums inside tc's burst went at the hosts' speed.
    bw = host / 8 if 2.0 * (k - 1) / k * b <= 1.6e6 and h == host else bandwidth(rate_gbit, h)
    return 2 * (k - 1) * alpha + 2.0 * (k - 1) / k * b / bw


print("fit: alpha = %.1f us per step, eta = %.2f of the link, hosts' limit H = %.2f Gbit/s"
      % (alpha * 1e6, eta, host / 1e9))
print()
print("| measured | K | rate | gradients | sum, measured | sum, model |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for r in sorted(rows, key=lambda r: (r["processes"], r["rate_gbit"], r["bytes"])):
    print("| | %d | %g Gbit/s | %.2f MB | %.2f ms | %.2f ms |" % (
        r["processes"], r["rate_gbit"], r["bytes"] / 1e6, r["median_s"] * 1e3,
        predict(r["bytes"], r["processes"], r["rate_gbit"]) * 1e3))
print()
def rate_text(v):
    return "{:,.1f}".format(v) if v < 100 else "{:,.0f}".format(v)


print("| model | nodes | 10 Gbit/s | 25 Gbit/s | 100 Gbit/s |")
print("| --- | ---: | ---: | ---: | ---: |")
for name, (params, per_node, rate) in models.items():
    t_c = per_node / rate
    for k in (1, 8, 16, 64):
        cells = []
        for g in (10, 25, 100):
            if k == 1:
                cells.append(rate_text(rate))
                continue
            t = predict(4 * params, k, g, h=float("inf"))
            lo = k * per_node / (t_c + t)
            hi = k * per_node / max(t_c, t)
            cells.append("%s-%s (%.0f%%)" % (rate_text(lo), rate_text(hi), 100 * lo / (k * rate)))
        print("| %s | %d | %s |" % (name, k, " | ".join(cells)))
