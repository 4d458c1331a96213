#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: build everything; run the host tests of the library plain,
# under ASan+UBSan and under TSan; run the VM kselftests on each Debian
# kernel (CHECK_KERNELS, default "6.1 6.12").  Every stage writes TAP under
# build/check/; the last line counts all tests: "N passed, N failed".
# Exit status 1 when anything failed, a build step included.
set -uo pipefail
cd "$(dirname "$0")/.."
out=build/check
rm -rf "$out"
mkdir -p "$out"
MAKE=${MAKE:-make}
jobs=-j$(nproc)

# A step that failed before producing TAP still counts as a failed test.
failed_step() {	# failed_step FILE DESCRIPTION
	printf 'TAP version 13\n1..1\nnot ok 1 %s\n' "$2" > "$out/$1.tap"
	echo "check: FAIL: $2" >&2
}

if ! $MAKE --no-print-directory $jobs all; then
	failed_step build "make all"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
for v in plain asan tsan; do
	dir=build/tests target=tests
	[[ $v != plain ]] && dir=build/$v/tests target=tests-$v
	if ! ls ulib/tests/*.c >/dev/null 2>&1; then
		echo "check: host-$v: no host tests (ulib/tests/ is empty)"
		continue
	fi
	echo "check: host tests ($v)"
	if ! $MAKE --no-print-directory $jobs $target; then
		failed_step "host-$v" "build host tests ($v)"
		continue
	fi
	selftests/run_tests.sh "host-$v" "$dir" | tee "$out/host-$v.tap"
done

for k in ${CHECK_KERNELS:-6.1 6.12}; do
	echo "check: VM kselftests on Debian's $k kernel"
	rel=$(scripts/kernels.sh "$k") || { failed_step "vm-$k" "no Debian $k kernel with headers installed (make deps)"; continue; }
	tag=linux-headers-$rel
	if ! $MAKE --no-print-directory VMK="$k" vmtest; then
		[[ -f build/vm/$tag/output.log ]] || { failed_step "vm-$k" "VM run on $k did not start"; continue; }
	fi
	cp "build/vm/$tag/output.log" "$out/vm-$k.tap"
	cp "build/vm/$tag/host-checks.tap" "$out/vm-$k-host.tap" 2>/dev/null ||
		failed_step "vm-$k-host" "VM run on $k left no host checks"
done

pass=0 fail=0 skip=0
for f in "$out"/*.tap; do
	read -r p f_ s < <(awk -f scripts/tap-count.awk "$f")
	printf 'check: %-22s %4d passed, %d failed, %d skipped\n' "$(basename "$f" .tap)" "$p" "$f_" "$s"
	pass=$((pass + p)) fail=$((fail + f_)) skip=$((skip + s))
done
((skip)) && echo "check: $skip skipped"
echo "$pass passed, $fail failed"
((fail == 0 && pass > 0))
