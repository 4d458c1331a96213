#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check` and `make check-debug`: run the named stages, write each
# one's TAP under build/check/, and end with one line counting every test:
# "N passed, N failed".  Exit status 1 when anything failed, a build or a
# VM that never started included.
#
#   check.sh STAGE...
#     pkg       licences, version, man pages, the API conventions the
#               compiler enforces (check-api.sh), make install + pkg-config,
#               DKMS (6.1 and 6.12), the Debian packages (as root they are
#               installed and purged: a gfibers package installed on this
#               machine is removed)
#     clang     library, host tests and tools built with clang, the host
#               tests run (but capacity_test, which gcc's run covers)
#     tools     gfps's host tests (tools/tests/run.sh), the gdb extension's
#               and USDT probes' (tools/gdb/test.sh)
#     examples  the example servers against real clients on loopback
#               (examples/tests/*_test.sh: curl, wrk, python3)
#     tree      first-run guards: nothing needed is ignored by git, kernel
#               paths resolve or say what is missing (check-tree.sh)
#     host      the library's host tests: plain, ASan+UBSan, TSan
#     chaos     the race-prone host tests under delay injection, ASan and
#               TSan, CHAOS_SEEDS random seeds each (default 2)
#     vm:6.1    the kselftests in a VM on Debian's 6.1 kernel (also vm:6.12)
#     vm:debug  the same on the debug kernel (scripts/debug-kernel.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
out=build/check
rm -rf "$out"
mkdir -p "$out"
MAKE=${MAKE:-make}
jobs=-j$(nproc)

# A step that failed before producing TAP still counts as a failed test.
failed_step() {	# failed_step NAME DESCRIPTION
	printf 'TAP version 13\n1..1\nnot ok 1 %s\n' "$2" > "$out/$1.tap"
	echo "check: FAIL: $2" >&2
}

host_tests() {
	export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=0}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
	local v dir target
	if ! ls ulib/tests/*.c >/dev/null 2>&1; then
		echo "check: no host tests (ulib/tests/ is empty)"
		return
	fi
	for v in plain asan tsan; do
		dir=build/tests target=tests
		[[ $v != plain ]] && dir=build/$v/tests target=tests-$v
		echo "check: host tests ($v)"
		if ! $MAKE --no-print-directory $jobs $target; then
			failed_step "host-$v" "build host tests ($v)"
			continue
		fi
		selftests/run_tests.sh "host-$v" "$dir" | tee "$out/host-$v.tap"
	done
}

vm_tests() {	# vm_tests NAME MAKE-ARGS...
	local name=$1 tag
	shift
	echo "check: VM kselftests ($name)"
	tag=$($MAKE --no-print-directory -s "$@" print-ktag)
	rm -f "build/vm/$tag/host-checks.tap" "build/vm/$tag/output.log"
	$MAKE --no-print-directory "$@" vmtest
	if [[ ! -f build/vm/$tag/host-checks.tap ]]; then
		failed_step "vm-$name" "VM run ($name) did not start"
		return
	fi
	cp "build/vm/$tag/output.log" "$out/vm-$name.tap"
	cp "build/vm/$tag/host-checks.tap" "$out/vm-$name-host.tap"
}

if ! $MAKE --no-print-directory $jobs all; then
	failed_step build "make all"
fi
for stage in "$@"; do
	case $stage in
	tree)
		echo "check: first-run guards"
		scripts/check-tree.sh | tee "$out/tree.tap"
		;;
	host)
		host_tests
		;;
	tools)
		echo "check: gfps host tests"
		if $MAKE --no-print-directory $jobs tools-tests; then
			tools/tests/run.sh | tee "$out/tools.tap"
		else
			failed_step tools "build gfps and its host tests"
		fi
		echo "check: gdb extension and USDT probes"
		if $MAKE --no-print-directory $jobs gdb-tests; then
			tools/gdb/test.sh | tee "$out/gdb.tap"
		else
			failed_step gdb "build the gdb and USDT tests"
		fi
		;;
	examples)
		echo "check: example servers"
		if $MAKE --no-print-directory $jobs examples; then
			for t in examples/tests/*_test.sh; do
				t=${t##*/}
				"examples/tests/$t" | tee "$out/examples-${t%_test.sh}.tap"
			done
		else
			failed_step examples "build the examples"
		fi
		;;
	chaos)
		scripts/chaos.sh -n "${CHAOS_SEEDS:-2}" -o "$out"
		;;
	pkg)
		for c in licenses version man api install dkms; do
			echo "check: packaging ($c)"
			scripts/check-$c.sh | tee "$out/pkg-$c.tap"
		done
		echo "check: Debian packages"
		scripts/deb.sh test | tee "$out/pkg-deb.tap"
		;;
	clang)
		echo "check: host tests (clang)"
		scripts/check-clang.sh $(for t in ulib/tests/*_test.c; do
			t=${t##*/}; t=${t%.c}; [[ $t != capacity_test ]] && echo "$t"; done) |
			tee "$out/host-clang.tap"
		;;
	vm:debug)
		if tree=$(scripts/debug-kernel.sh | tail -n 1) && [[ -d $tree ]]; then
			vm_tests debug KERNEL="$tree/arch/x86/boot/bzImage" KDIR="$tree" \
				VM_APPEND="acpi=off gfoff=reboot gfscale=4 kasan_multi_shot"
		else
			failed_step vm-debug "build the debug kernel"
		fi
		;;
	vm:*)
		k=${stage#vm:}
		if scripts/kernels.sh "$k" >/dev/null; then
			vm_tests "$k" VMK="$k"
		else
			failed_step "vm-$k" "no Debian $k kernel with its headers installed (make deps)"
		fi
		;;
	*)
		failed_step "$stage" "unknown check stage $stage"
		;;
	esac
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
