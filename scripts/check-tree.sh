#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# First-run guards (make check's "tree" stage), TAP on stdout. They catch
# what a developer's warm tree hides and a clean clone shows:
#   1. no file outside build/ is ignored by git: what the build reads must
#      be committed (a `*.mod` pattern once hid bench/go/go.mod);
#   2. untracked files are named (skipped, not failed: work in progress);
#   3. with no kernel of a series installed, `make -n demo-vm` says what is
#      missing and how to get it, instead of a path with a hole in it;
#   4. with the kernels installed, every path `make -n demo-vm` and
#      `make -n vmtest` would use names the real kernel release.
set -uo pipefail
cd "$(dirname "$0")/.."
n=0 failed=0
result() {	# result OK? NAME [DIAGNOSTIC...]
	local ok=$1 name=$2
	shift 2
	n=$((n + 1))
	if [[ $ok == 1 ]]; then
		echo "ok $n $name"
	else
		echo "not ok $n $name"
		printf '# %s\n' "$@"
		failed=1
	fi
}

echo "TAP version 13"
echo "1..4"

ign=$(git ls-files --others --ignored --exclude-standard --directory |
      grep -v '^build/')
result "$([[ -z $ign ]] && echo 1)" "no ignored file outside build/" \
	"ignored by git, so a clean clone lacks them:" $ign

# A developer's tree has work in progress: said, not failed (CI's clean
# clone has none; check 1 is the one that catches a hidden source).
unt=$(git ls-files --others --exclude-standard)
n=$((n + 1))
if [[ -z $unt ]]; then
	echo "ok $n no untracked file (a clean clone would lack it)"
else
	echo "ok $n no untracked file # SKIP untracked, a clean clone lacks them:" $unt
fi

out=$(make --no-print-directory -n demo-vm VMK=0.0 2>&1)
rc=$?
result "$([[ $rc != 0 && $out == *'no Debian 0.0 kernel'* && $out == *'make deps'* ]] && echo 1)" \
	"make -n demo-vm without the kernel names what is missing" \
	"exit $rc, said:" "$out"

rel=$(scripts/kernels.sh 6.1)
out=$( { make --no-print-directory -n demo-vm; make --no-print-directory -n vmtest; } 2>&1)
rc=$?
hole=$(grep -E 'linux-headers-(/| |$)|vmlinuz-( |$)' <<< "$out")
result "$([[ $rc == 0 && -n $rel && -z $hole && $out == *"vmlinuz-$rel"* ]] && echo 1)" \
	"make -n demo-vm and vmtest resolve the installed 6.1 kernel${rel:+ ($rel)}" \
	"exit $rc; lines with a hole in a kernel path:" "$hole"
exit $failed
