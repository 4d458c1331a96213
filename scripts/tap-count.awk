# SPDX-License-Identifier: GPL-2.0
# Count test results over TAP files written by selftests/run_tests.sh (or
# flat TAP).  A program that prints kselftest "Totals" contributes its own
# counts; a program without them counts as one test.  A program reported
# "not ok" (crash, timeout, bad exit) whose totals show no failure still
# counts one failure, so nothing that went wrong is lost.
# Prints: PASS FAIL SKIP
function settle(line,    bad, skip) {
	bad = (line ~ /^not ok /)
	skip = (line ~ /# SKIP/)
	if (have) {
		pass += tp; fail += tf; nskip += ts
		if (bad && tf == 0)
			fail++
	} else if (skip) {
		nskip++
	} else if (bad) {
		fail++
	} else {
		pass++
	}
	have = 0; tp = tf = ts = 0
}
# the program's own totals: one "# " below the top level (or at it, flat TAP)
/^(# )?# Totals: pass:/ {
	n = split($0, f, /[ :]+/)
	for (i = 1; i < n; i++) {
		if (f[i] == "pass" || f[i] == "xfail") tp += f[i + 1]
		if (f[i] == "fail" || f[i] == "xpass" || f[i] == "error") tf += f[i + 1]
		if (f[i] == "skip") ts += f[i + 1]
	}
	have = 1
	next
}
/^(not )?ok [0-9]/ { settle($0) }
END { printf "%d %d %d\n", pass, fail, nskip }
