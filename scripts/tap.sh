# SPDX-License-Identifier: GPL-2.0
#
# scripts/tap.sh - TAP 13 results for the project's shell test scripts,
# sourced by each (scripts/check-*.sh, tools/tests/run.sh,
# tools/gdb/test.sh, examples/tests/httpd_test.sh) so that all of them
# count, skip and report failures the same way. The VM's kselftest
# scripts stay self-contained: this file is not in the VM.
#
#	ok NAME			a passed test
#	nok NAME [DIAG...]	a failed one; each DIAG a "#" line (or lines)
#	skip NAME WHY		a test that could not run here
#	tap_status STATUS NAME [DIAG]	ok when STATUS is 0, else nok with
#				DIAG's first 20 lines
#	tap_end			the plan line; fails if a test failed
n=0 failed=0

ok() { n=$((n + 1)); echo "ok $n $1"; }

nok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n $1"
	shift
	(($#)) && printf '%s\n' "$@" | sed '/^$/d; s/^/#   /'
	return 0
}

skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }

tap_status() {
	if (($1 == 0)); then
		ok "$2"
	else
		nok "$2" "$(printf '%s\n' "${3-}" | sed -n 1,20p)"
	fi
}

tap_end() {
	echo "1..$n"
	((failed == 0))
}
