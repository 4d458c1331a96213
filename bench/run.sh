#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh - run every workload of bench/ for gfibers and its peers,
# interleaved, and report.
#
# Called by bench/Makefile (`make bench`) from the repository root, after
# the programs are built into $BENCH_OUT (default build/bench). For each
# workload and procs count the implementations run interleaved, A B C A B
# C ..., BENCH_RUNS times each (default 7), so that a burst of noise on
# this shared machine hits all of them rather than one. Each program
# prints one number (see bench/c/bench.h); a program that cannot run a
# workload prints "not available: <reason>" and exits 3, and is shown as
# such, never as a number.
#
# Writes, under $BENCH_OUT:
#   samples.tsv    every run: workload impl procs run value unit
#   status.tsv     workload impl procs unit text, for skipped and failed
#                  ones
#   results.tsv    workload impl procs median min max unit (one per
#                  measurement; callgrind rows have unit Ir/op and
#                  median = min = max, the count being deterministic)
#   table.md       the markdown table, also printed
#   machine.txt    date, CPU model, versions, load before and after
#   log/           stderr of every run, callgrind output
#
# Knobs (environment):
#   BENCH_RUNS=7        runs per implementation and workload (>= 5 wanted)
#   BENCH_TIME=0.3      seconds per calibrated per-operation run
#   BENCH_ONLY=REGEX    only workloads whose name matches (egrep)
#   BENCH_CALLGRIND=0   skip the callgrind instruction counts
#   BENCH_TIMEOUT=180   seconds before one run is killed and marked failed
#   BENCH_SPECS=FILE    run these spec lines instead of the built-in ones
#                       (format below; bench/scale.sh uses it)
#   BENCH_OUT=DIR       where the programs are and the results go
set -u

B=${BENCH_OUT:-build/bench}
RUNS=${BENCH_RUNS:-7}
ONLY=${BENCH_ONLY:-}
CG=${BENCH_CALLGRIND:-1}
TMO=${BENCH_TIMEOUT:-180}
NPROC=$(nproc)
export BENCH_TIME=${BENCH_TIME:-0.3}

# Registration (workload 10). Without /dev/gfibers (this host),
# GF_FAKE_TABLE=1 makes the library write a private table of the same
# layout (host-fake), so the stores are paid as with the module. With the
# device present the library registers by itself and has no switch to
# stay unregistered (GF_NO_KMOD=1 is the name asked for): the plain
# "gfibers" runs then report "not available" (bench/vm-bench.sh compares
# with the module loaded and unloaded instead). BENCH_EXPECT_MODE makes gf_bench check that
# the library did register as the label says (gf_registry_mode()), and
# report "not available" instead of a mislabelled number.
if [ -e /dev/gfibers ]; then
	REG_ENV="BENCH_EXPECT_MODE=1"
	UNREG_ENV="GF_NO_KMOD=1 BENCH_EXPECT_MODE=0"
	REG_KIND="real /dev/gfibers"
else
	REG_ENV="GF_FAKE_TABLE=1 BENCH_EXPECT_MODE=2"
	UNREG_ENV="BENCH_EXPECT_MODE=0"
	REG_KIND="host-fake table"
fi

G="$B/gobench"
GF="$B/gf_bench"

# One implementation of one workload per line:
#   workload impl procs unit callgrind-N callgrind-ops command...
# callgrind-N: "-" for no instruction count; otherwise the N of the
# counted run (a second run with N = 0 is subtracted), and callgrind-ops
# the operations per unit of N (a switch round trip is 2 switches).
specs() {
	if [ -n "${BENCH_SPECS:-}" ]; then
		cat "$BENCH_SPECS"
		return
	fi
	cat <<EOF
switch gfibers 1 ns/switch 200000 2 $B/gf_switch switch
switch boost 1 ns/switch 200000 2 $B/boost_switch switch
switch limit 1 ns/switch 200000 2 $B/limit_switch switch
switch_fpflags gfibers 1 ns/switch - - $B/gf_switch switch_fpflags
switch_fpflags boost 1 ns/switch - - $B/boost_switch switch_fpflags
switch_fpflags limit 1 ns/switch - - $B/limit_switch switch_fpflags
yield gfibers 1 ns/yield 100000 2 env $UNREG_ENV $GF yield
yield go 1 ns/yield - - $G yield
pingpong gfibers 1 ns/roundtrip 50000 1 env $UNREG_ENV $GF pingpong
pingpong gfibers-reg 1 ns/roundtrip 50000 1 env $REG_ENV $GF pingpong
pingpong go 1 ns/roundtrip - - $G pingpong
pingpong gfibers 2 ns/roundtrip - - env $UNREG_ENV $GF pingpong
pingpong gfibers-reg 2 ns/roundtrip - - env $REG_ENV $GF pingpong
pingpong go 2 ns/roundtrip - - $G pingpong
bufchan gfibers $NPROC ns/msg 100000 1 env $UNREG_ENV $GF bufchan
bufchan go $NPROC ns/msg - - $G bufchan
spawn gfibers $NPROC ns/fiber 20000 1 env $UNREG_ENV $GF spawn
spawn gfibers-reg $NPROC ns/fiber 20000 1 env $REG_ENV $GF spawn
spawn go $NPROC ns/fiber - - $G spawn
select gfibers $NPROC ns/select 50000 1 env $UNREG_ENV $GF select
select go $NPROC ns/select - - $G select
sieve gfibers $NPROC ms - - env $UNREG_ENV $GF sieve
sieve go $NPROC ms - - $G sieve
timers gfibers $NPROC cpu-ms - - env $UNREG_ENV $GF timers
timers go $NPROC cpu-ms - - $G timers
rss_parked_100k gfibers $NPROC bytes/fiber - - env $UNREG_ENV $GF rss_parked_100k
rss_parked_100k go $NPROC bytes/fiber - - $G rss_parked_100k
rss_parked_1m gfibers $NPROC bytes/fiber - - env $UNREG_ENV $GF rss_parked_1m
rss_parked_1m go $NPROC bytes/fiber - - $G rss_parked_1m
rss_after_exit_1m gfibers $NPROC %-of-before - - env $UNREG_ENV $GF rss_after_exit_1m
rss_after_exit_1m go $NPROC %-of-before - - $G rss_after_exit_1m
EOF
}

mkdir -p "$B/log"
: >"$B/samples.tsv"
: >"$B/status.tsv"
: >"$B/callgrind.tsv"

selected() {
	[ -z "$ONLY" ] || echo "$1" | grep -Eq -- "$ONLY"
}

# run_one LOG PROCS CMD... : prints the number, or "!reason" on failure.
run_one() {
	local log=$1 procs=$2 out rc last prog
	shift 2
	# The program: the first word that is neither env nor NAME=VALUE.
	for prog in "$@"; do
		case $prog in
		env | *=*) ;;
		*) break ;;
		esac
	done
	if [ ! -x "$prog" ]; then
		if [ -r "$prog.missing" ]; then
			echo "!not available: $(cat "$prog.missing")"
		else
			echo "!not available: $prog was not built"
		fi
		return
	fi
	out=$(GOMAXPROCS=$procs GF_PROCS=$procs timeout "$TMO" "$@" \
		</dev/null 2>>"$log")
	rc=$?
	last=$(printf '%s\n' "$out" | tail -n 1)
	case $last in
	"not available:"*)
		echo "!$last"
		return
		;;
	esac
	if [ $rc -eq 124 ]; then
		echo "!failed: timed out after ${TMO}s (see $log)"
	elif [ $rc -ne 0 ]; then
		echo "!failed: exit $rc (see $log)"
	elif ! printf '%s' "$last" | grep -Eq '^[0-9]+(\.[0-9]*)?$'; then
		echo "!failed: printed '$last' (see $log)"
	else
		echo "$last"
	fi
}

# The groups (workload, procs) in the order of specs, each run
# interleaved: run 1 of every impl, then run 2 of every impl, ...
groups=$(specs | awk '!seen[$1 " " $3]++ { print $1 " " $3 }')
start=$(date +%s)
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $NPROC CPUs"
	echo "kernel: $(uname -r)"
	echo "gcc: $(gcc -dumpfullversion 2>/dev/null)"
	echo "go: $(go version 2>/dev/null | cut -d' ' -f3)"
	echo "boost: $(dpkg-query -W -f='${Version}' libboost-context-dev 2>/dev/null)"
	echo "valgrind: $(valgrind --version 2>/dev/null)"
	echo "runs: $RUNS per implementation, BENCH_TIME=${BENCH_TIME}s"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$B/machine.txt"
echo "bench: $RUNS interleaved runs per implementation, BENCH_TIME=${BENCH_TIME}s, $NPROC CPUs, registration through the $REG_KIND"
echo "bench: load before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
while read -r wl procs; do
	selected "$wl" || continue
	lines=$(specs | awk -v w="$wl" -v p="$procs" '$1 == w && $3 == p')
	declare -A dead=()
	for r in $(seq 1 "$RUNS"); do
		line_no=0
		while read -r w impl p unit cgn cgops cmd; do
			line_no=$((line_no + 1))
			[ -z "${dead[$impl]:-}" ] || continue
			log="$B/log/$w-$impl-$p.log"
			[ "$r" -gt 1 ] || : >"$log"
			# shellcheck disable=SC2086 # cmd is a word list on purpose
			v=$(run_one "$log" "$p" $cmd)
			case $v in
			!*)
				dead[$impl]=1
				printf '%s\t%s\t%s\t%s\t%s\n' "$w" "$impl" \
					"$p" "$unit" "${v#!}" >>"$B/status.tsv"
				echo "  $w $impl procs=$p: ${v#!}"
				;;
			*)
				printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$impl" \
					"$p" "$r" "$v" "$unit" >>"$B/samples.tsv"
				;;
			esac
		done <<<"$lines"
	done
	unset dead
	echo "  $wl procs=$procs done ($(($(date +%s) - start))s)"
done <<<"$groups"

# Instruction counts: callgrind over N operations minus callgrind over
# none, divided by the operations; single-threaded (procs 1), so the
# count does not depend on how the machine's noise schedules threads.
cg_total() {
	awk '/^(summary|totals):/ { print $2; exit }' "$1"
}
if [ "$CG" != 0 ] && command -v valgrind >/dev/null; then
	echo "bench: callgrind instruction counts (procs 1)"
	specs | while read -r w impl p unit cgn cgops cmd; do
		[ "$cgn" != - ] || continue
		selected "$w" || continue
		# Not where the timed runs could not run it.
		grep -q "^$w"$'\t'"$impl"$'\t' "$B/status.tsv" && continue
		base="$B/log/cg-$w-$impl"
		# The environment words of the command go before valgrind,
		# which must run the program itself, not env.
		envw=() progw=()
		for word in $cmd; do
			if [ ${#progw[@]} = 0 ] &&
			   { [ "$word" = env ] || [[ $word == *=* ]]; }; then
				[ "$word" = env ] || envw+=("$word")
			else
				progw+=("$word")
			fi
		done
		ok=1
		for n in 0 "$cgn"; do
			env GF_PROCS=1 GOMAXPROCS=1 "${envw[@]}" \
				timeout "$TMO" valgrind --tool=callgrind \
				--callgrind-out-file="$base.$n.out" \
				"${progw[@]}" "$n" </dev/null \
				>"$base.$n.stdout" 2>"$base.$n.log" || ok=0
			# A program that refused (wrong registry mode...) did
			# not run the workload.
			grep -q '^not available' "$base.$n.stdout" && ok=0
		done
		if [ $ok = 1 ]; then
			i0=$(cg_total "$base.0.out")
			i1=$(cg_total "$base.$cgn.out")
			awk -v a="$i0" -v b="$i1" -v n="$cgn" -v o="$cgops" \
				-v w="$w" -v i="$impl" 'BEGIN {
				v = (b - a) / (n * o)
				printf "%s\t%s\t1\t%.1f\t%.1f\t%.1f\tIr/op\n",
					w, i, v, v, v }' >>"$B/callgrind.tsv"
		else
			printf '%s\t%s\t1\tIr/op\tfailed: callgrind (see %s.*.log)\n' \
				"$w" "$impl" "$base" >>"$B/status.tsv"
			echo "  callgrind $w $impl: failed (see $base.*.log)"
		fi
	done
elif [ "$CG" != 0 ]; then
	echo "bench: valgrind missing, no instruction counts"
fi

bench/summarize.sh "$B" "$REG_KIND"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$B/machine.txt"
echo
echo "bench: load after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench: $(($(date +%s) - start))s; results in $B/results.tsv, table in $B/table.md"
