#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make fuzz` (and, through scripts/soak.sh, `make soak`): boot the VM with
# gfibers.ko and a dedicated initramfs whose /selftests/gfibers holds only
# fuzz_test, run for DURATION seconds (or OPS operations), and judge the
# run as `make vmtest` does (selftests/vm/run.sh: test results, kernel
# splats on the console, kmemleak on the debug kernel).
#
#   fuzz.sh [fuzz|soak]
#
# Environment (all optional):
#   DURATION  seconds of fuzzing (default 600; soak: 3600)
#   OPS       stop after this many operations instead (fuzz; DURATION 0)
#   SEED      the run's seed (default: random, printed); reproduce a
#             failure with the SEED and PROCS it printed
#   PROCS     worker processes (fuzz, default 4; soak: churners, 2)
#   READERS   /proc/gfibers reader processes (default 2)
#   FIBERS    fibers per soak client (default 100000)
#   VMK       debug (default: the debug kernel, built once by
#             scripts/debug-kernel.sh), or 6.1 / 6.12 (Debian's kernels)
#   DEBUG_TREE  a debug kernel tree already built (skips debug-kernel.sh)
#   VM_MEM    MiB of VM memory (default 2048)
# The parameters reach fuzz_test as environment variables through the
# kernel command line (the kernel hands unknown key=value to /init, and
# /init's environment to the tests).
#
# Output: build/fuzz/MODE-KTAG/{output.log,console.log,host-checks.tap}.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mode=${1:-fuzz}
case $mode in fuzz|soak) ;; *) echo "fuzz.sh: mode is fuzz or soak" >&2; exit 2;; esac
MAKE=${MAKE:-make}
vmk=${VMK:-debug}
if [[ $mode == soak ]]; then
	duration=${DURATION:-3600}
else
	duration=${DURATION:-600}
	[[ -n ${OPS:-} && -z ${DURATION:-} ]] && duration=0
fi

append="kasan_multi_shot GFIBERS_FUZZ_MODE=$mode GFIBERS_FUZZ_SECS=$duration"
[[ -n ${OPS:-} ]] && append+=" GFIBERS_FUZZ_OPS=$OPS"
[[ -n ${SEED:-} ]] && append+=" GFIBERS_FUZZ_SEED=$SEED"
[[ -n ${PROCS:-} ]] && append+=" GFIBERS_FUZZ_PROCS=$PROCS"
[[ $mode == soak && -z ${PROCS:-} ]] && append+=" GFIBERS_FUZZ_PROCS=2"
[[ -n ${READERS:-} ]] && append+=" GFIBERS_FUZZ_READERS=$READERS"
[[ -n ${FIBERS:-} ]] && append+=" GFIBERS_SOAK_FIBERS=$FIBERS"

if [[ $vmk == debug ]]; then
	tree=${DEBUG_TREE:-$(scripts/debug-kernel.sh | tail -n 1)}
	[[ -d $tree ]] || { echo "fuzz.sh: no debug kernel" >&2; exit 1; }
	kernel=$tree/arch/x86/boot/bzImage
	kargs=(KERNEL="$kernel" KDIR="$tree")
	append="acpi=off gfoff=reboot $append"
else
	rel=$(scripts/kernels.sh "$vmk") ||
		{ echo "fuzz.sh: no Debian $vmk kernel with headers (make deps)" >&2; exit 1; }
	kernel=/boot/vmlinuz-$rel
	kargs=(VMK="$vmk")
fi
tag=$($MAKE --no-print-directory -s "${kargs[@]}" print-ktag)
$MAKE --no-print-directory "${kargs[@]}" build/selftests/gfibers/fuzz_test \
	"build/kmod/$tag/kmod/gfibers.ko"

out=build/fuzz/$mode-$tag
stage=$out/selftests
rm -rf "$stage"
mkdir -p "$stage"
cp build/selftests/gfibers/fuzz_test "$stage/"
# The whole run, its teardown and the counters' settling, with room to
# spare; run_tests.sh kills it after this.
limit=$((duration > 0 ? duration + 300 : 6 * 3600))
echo "timeout=$limit" > "$stage/settings"

echo "fuzz.sh: $mode for ${duration}s${OPS:+ or $OPS ops} on $tag; output in $out/"
VM_APPEND="$append gfscale=1" VM_TIMEOUT=$((limit + 600)) \
	selftests/vm/run.sh test "$kernel" "build/kmod/$tag/kmod/gfibers.ko" \
	"$out" "$stage:/selftests/gfibers"
