#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run every test program of a directory the way kselftest's runner does and
# print TAP: one top-level result per program, the program's own KTAP output
# nested under it with a "# " prefix.  POSIX sh: runs on the host and in the
# busybox initramfs alike.
#
#   run_tests.sh SUITE DIR [PROGRAM ...]
#
# DIR/settings may hold `timeout=N` (seconds per program, default 45), as in
# kselftest, and `timeout.PROGRAM=N` for one program that needs longer (a
# capacity test); TIMEOUT_SCALE=N multiplies them (slow debug kernels).  A program
# that exits 4 (KSFT_SKIP) is reported as skipped; one that outlives its
# timeout is killed and reported "not ok ... # TIMEOUT".
# Exit status: 0 when nothing failed, 1 otherwise.
suite="$1"
dir="$2"
shift 2
[ -d "$dir" ] || { echo "run_tests.sh: no directory $dir" >&2; exit 2; }

tmo=45
if [ -f "$dir/settings" ]; then
	t=$(sed -n 's/^timeout=\([0-9][0-9]*\)$/\1/p' "$dir/settings")
	[ -n "$t" ] && tmo=$t
fi

tmo=$((tmo * ${TIMEOUT_SCALE:-1}))

if [ $# -eq 0 ]; then
	for f in "$dir"/*; do
		[ -f "$f" ] && [ -x "$f" ] && set -- "$@" "${f##*/}"
	done
fi

echo "TAP version 13"
echo "1..$#"
rcfile=${TMPDIR:-/tmp}/run_tests.$$.rc
n=0
failed=0
for t in "$@"; do
	n=$((n + 1))
	echo "# selftests: $suite: $t"
	ptmo=$tmo
	if [ -f "$dir/settings" ]; then
		t2=$(sed -n "s/^timeout\.$t=\([0-9][0-9]*\)\$/\1/p" "$dir/settings")
		[ -n "$t2" ] && ptmo=$((t2 * ${TIMEOUT_SCALE:-1}))
	fi
	start=$(date +%s)
	{ (cd "$dir" && timeout -k 5 "$ptmo" "./$t" 2>&1); echo $? > "$rcfile"; } |
		sed 's/^/# /'
	rc=$(cat "$rcfile")
	took=$(($(date +%s) - start))
	if [ "$rc" = 0 ]; then
		echo "ok $n selftests: $suite: $t"
	elif [ "$rc" = 4 ]; then
		echo "ok $n selftests: $suite: $t # SKIP"
	elif [ "$took" -ge "$ptmo" ]; then
		echo "not ok $n selftests: $suite: $t # TIMEOUT $ptmo seconds"
		failed=1
	else
		echo "not ok $n selftests: $suite: $t # exit=$rc"
		failed=1
	fi
done
rm -f "$rcfile"
exit $failed
