#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The host tests under delay injection (ulib/chaos.c): the chaos build of
# the library with ASan+UBSan (build/chaos/) and with TSan
# (build/chaos-tsan/), run with one seed after another.
#
#   chaos.sh -n N -o DIR   N random seeds per build, TAP of each run in
#                          DIR/chaos-BUILD-SEED.tap (make check's stage)
#   chaos.sh [-d SECONDS] [-s SEED]
#                          seed after seed until SECONDS (default 600) have
#                          passed, or one seed; stops at the first failure
#                          and prints the command that replays it
#
# CHAOS_TESTS: the programs (default: those of the runtime's races).
# GF_CHAOS_RATE: one point in N delayed (default 8).
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
tests=${CHAOS_TESTS:-chan_test select_test sched_test sync_test timer_test leak_test fiber_test netpoll_test net_test}
builds="chaos chaos-tsan"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

nseeds='' out='' duration=600 seed=''
while getopts 'n:o:d:s:' o; do
	case $o in
	n) nseeds=$OPTARG ;;
	o) out=$OPTARG ;;
	d) duration=$OPTARG ;;
	s) seed=$OPTARG ;;
	*) sed -n '3,16s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done

newseed() {
	printf '0x%016x' "$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')" 2>/dev/null ||
		printf '0x%04x%04x%04x%04x' $RANDOM $RANDOM $RANDOM $RANDOM
}

# run BUILD SEED: the programs of BUILD with SEED, TAP on stdout.
run() {
	# shellcheck disable=SC2086 # the list is words
	GF_CHAOS_SEED=$2 selftests/run_tests.sh "$1 GF_CHAOS_SEED=$2" \
		"build/$1/tests" $tests
}

if ! $MAKE --no-print-directory -j"$(nproc)" tests-chaos tests-chaos-tsan; then
	echo "chaos: the chaos build failed" >&2
	if [[ -n $out ]]; then
		printf 'TAP version 13\n1..1\nnot ok 1 build the chaos tests\n' > "$out/chaos-build.tap"
	fi
	exit 1
fi

if [[ -n $nseeds ]]; then
	rc=0
	for b in $builds; do
		for ((i = 0; i < nseeds; i++)); do
			s=$(newseed)
			echo "check: host tests ($b, GF_CHAOS_SEED=$s)"
			run "$b" "$s" | tee "$out/$b-$s.tap" || rc=1
		done
	done
	exit $rc
fi

start=$(date +%s) rounds=0
while :; do
	s=${seed:-$(newseed)}
	for b in $builds; do
		log=build/chaos/last-$b.log
		if ! run "$b" "$s" > "$log" 2>&1; then
			grep -E '^(not ok|# .*(ERROR|FAIL|Sanitizer|fatal))' "$log" | head -20
			echo "chaos: FAILED in round $((rounds + 1)); the log: $log"
			echo "chaos: replay: make chaos SEED=$s   (build $b)"
			exit 1
		fi
	done
	rounds=$((rounds + 1))
	echo "chaos: round $rounds passed (GF_CHAOS_SEED=$s, $((($(date +%s) - start)))s)"
	[[ -n $seed ]] && break
	(($(date +%s) - start >= duration)) && break
done
echo "chaos: $rounds rounds passed in $(($(date +%s) - start)) s, tests: $tests"
