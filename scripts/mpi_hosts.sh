#!/usr/bin/env bash
# Emulated hosts for data-parallel training (issue #14): N network namespaces, each a "host"
# with one veth link to a bridge, every link shaped by tc to RATE in both directions, and Open
# MPI over TCP between them (one process per host; mpirun starts the others' daemons through
# `ip netns exec` instead of ssh). Runs bench_allreduce (the gradient sum alone, for SIZES
# floats) and, with --train, a few cats-vs-dogs training steps; prints their JSON lines and
# cnn-train's gradient-sum line. Only names and addresses it makes itself are touched
# (namespaces cnnh0..cnnhN-1 and cnnsw, 10.78.0.0/24), and it removes them when it ends.
# Needs root (CAP_NET_ADMIN), iproute2 and tc. The processes yield when they wait
# (mpi_yield_when_idle): on a machine with as many processes as cores, processes that spin in
# MPI_Wait starve the kernel's packet processing for the veth links, and every message waits a
# scheduler tick or two (8 ms for 64 KiB measured here, 0.25 ms when yielding).
# Extra mpirun options: MPI_FLAGS; bench_allreduce's: BENCH_FLAGS.
# usage: scripts/mpi_hosts.sh [--train] [--build DIR] N RATE SIZES...
#   RATE: a tc rate (10gbit, 25gbit), or none for unshaped veth links
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build train=0
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --train) train=1 ;;
    --build) build=$(cd "$2" && pwd); shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
n=$1 rate=$2
shift 2
sizes=("$@")
((n >= 2 && n <= 16)) || { echo "N must be 2..16" >&2; exit 2; }
work=$(mktemp -d)
cleanup() {
  for ((i = 0; i < n; i++)); do ip netns del "cnnh$i" 2> /dev/null || true; done
  ip netns del cnnsw 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cleanup_only_ns() { for ((i = 0; i < n; i++)); do ip netns del "cnnh$i" 2> /dev/null || true; done; }
cleanup_only_ns
ip netns del cnnsw 2> /dev/null || true
ip netns add cnnsw
ip -n cnnsw link add br0 type bridge
ip -n cnnsw link set br0 up
hosts=""
for ((i = 0; i < n; i++)); do
  ns=cnnh$i addr=10.78.0.$((i + 1))
  ip netns add "$ns"
  ip link add "h$i" type veth peer name "s$i"
  ip link set "h$i" netns "$ns"
  ip link set "s$i" netns cnnsw
  ip -n cnnsw link set "s$i" master br0
  ip -n cnnsw link set "s$i" up
  ip -n "$ns" addr add "$addr/24" dev "h$i"
  ip -n "$ns" link set "h$i" up
  ip -n "$ns" link set lo up
  # Both directions: the host's sending side and the bridge's side towards the host.
  if [[ $rate != none ]]; then
    ip netns exec "$ns" tc qdisc add dev "h$i" root tbf rate "$rate" burst 4mb latency 50ms
    ip netns exec cnnsw tc qdisc add dev "s$i" root tbf rate "$rate" burst 4mb latency 50ms
  fi
  hosts+="${hosts:+,}$addr"
done
# mpirun's "ssh": run the daemon's command line inside the host's namespace.
cat > "$work/nsexec" << 'EOF'
#!/bin/bash
host=$1
shift
exec ip netns exec "cnnh$(( ${host##*.} - 1 ))" /bin/sh -c "$*"
EOF
chmod +x "$work/nsexec"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun=(ip netns exec cnnh0 mpirun -np "$n" -host "$hosts" --mca plm_rsh_agent "$work/nsexec"
  --mca plm_rsh_no_tree_spawn 1 --mca btl tcp,self --mca btl_tcp_if_include 10.78.0.0/24
  --mca oob_tcp_if_include 10.78.0.0/24 --mca mpi_yield_when_idle 1 ${MPI_FLAGS:-})
echo "# $n hosts, links shaped to $rate" >&2
# Each JSON line gains the link rate in Gbit/s, for scripts/mpi_model.py.
case $rate in
  *gbit) gbit=${rate%gbit} ;;
  *mbit) gbit=$(awk "BEGIN {print ${rate%mbit} / 1000}") ;;
  *) gbit=0 ;;
esac
"${mpirun[@]}" "$build/bench/bench_allreduce" --repeats 7 ${BENCH_FLAGS:-} "${sizes[@]}" |
  sed "s/^{/{\"rate_gbit\": $gbit, /"
if ((train)); then
  cd "$work"
  "${mpirun[@]}" "$build/bin/cnn-train" --model "$here/configs/models/cats_dogs.json" \
    --data "$here/../shared/data/cats_and_dogs_filtered/train" --batch-size 20 \
    --set data.rescale=0.00392156862745098 --learning-rate 1e-4 \
    --steps-per-epoch 10 --epochs 2 --threads 1 -o "$work/run" 2>&1 |
    grep -E "^Epoch|data-parallel" >&2
fi
