#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/cg.sh - instructions per operation of one workload, and where
# they go (per function), from callgrind: the run over N operations minus
# the run over none, divided by N * OPS. Deterministic, unlike wall-clock
# on a shared machine: the figure to quote before/after a change.
#
#	bench/cg.sh [-r] WORKLOAD [N [OPS]]	(after make -f bench/Makefile build)
#
# -r: registered into the host-fake table (GF_FAKE_TABLE=1). WORKLOAD is
# gf_bench's (yield, pingpong, bufchan, spawn, select) or "switch"
# (gf_switch, 2 switches per N); yield counts 2 yields per N. Prints "WORKLOAD Ir/op" and the top
# functions' inclusive-of-nothing (self) instructions per operation.
set -eu
B=${BENCH_OUT:-build/bench}
envw=(GF_PROCS=1)
if [ "${1:-}" = -r ]; then
	envw+=(GF_FAKE_TABLE=1)
	shift
fi
w=$1
n=${2:-50000}
ops=${3:-1}
prog=$B/gf_bench
case $w in
switch)	prog=$B/gf_switch; ops=${3:-2} ;;
yield)	ops=${3:-2} ;;	# two fibers, N yields each
esac
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
for k in 0 "$n"; do
	env "${envw[@]}" valgrind --tool=callgrind --dump-instr=no \
		--callgrind-out-file="$d/$k.out" "$prog" "$w" "$k" \
		>/dev/null 2>"$d/$k.log"
done
tot() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }
awk -v a="$(tot "$d/0.out")" -v b="$(tot "$d/$n.out")" -v n="$n" \
	-v o="$ops" -v w="$w" 'BEGIN { printf "%s %.1f Ir/op\n", w, (b - a) / (n * o) }'
# Self cost per function, difference of the two runs, per operation.
for k in 0 "$n"; do
	callgrind_annotate --threshold=100 "$d/$k.out" 2>/dev/null |
		awk '/^ *[0-9,]+ .*:/ && !/=>/ { c = $1; gsub(",", "", c);
			f = $0; sub(/^ *[0-9,]+ +(\([^)]*\) +)?/, "", f);
			sub(/ \[.*$/, "", f); print f "\t" c }' >"$d/$k.fn"
done
awk -F'\t' -v n="$n" -v o="$ops" 'FNR == NR { z[$1] = $2; next }
	{ v = ($2 - z[$1]) / (n * o); if (v >= 0.5) printf "%8.1f  %s\n", v, $1 }' \
	"$d/0.fn" "$d/$n.fn" | sort -rn | head -${CG_TOP:-20}
