#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/vm-bench.sh - the workloads that need the real module: 10
# (registration cost with gfibers.ko, gfibers-reg vs gfibers), 11
# (procread: /proc/gfibers vs /proc/PID/task/*/stat) and 12 (gfps_100k:
# gfps's grouped view with stacks from outside vs Go's goroutine profile
# from inside; needs build/tools/gfps and build/bench/gobench), inside a
# qemu VM.
#
#   bench/vm-bench.sh KERNEL MODULE [OUTDIR]
#     KERNEL  bzImage to boot (e.g. /boot/vmlinuz-6.1.0-56-amd64)
#     MODULE  gfibers.ko built for it (the top Makefile's
#             build/kmod/linux-headers-REL/kmod/gfibers.ko)
#     OUTDIR  default build/bench/vm: samples.tsv, status.tsv,
#             results.tsv, table.md, console.log, output.log
#
# Run from the repository root after the library is built. Links
# bench/c/gf_bench.c and gf_procread.c statically against
# build/libgfiber.a, packs them with the module into a busybox initramfs
# (selftests/vm/mkinitramfs.sh) whose /init is bench/vm-init.sh, boots it
# and turns what /init printed into results.tsv and the table, as
# bench/run.sh does on the host. Fails on a kernel splat.
#
# Env: BENCH_RUNS (5), BENCH_RUNS_1M (3: procread at a million fibers
#      takes minutes per run under TCG), BENCH_TIME (0.3),
#      VM_ACCEL=tcg|kvm (tcg),
#      VM_MEM (MiB, 8192: a million parked fibers need ~5 GiB),
#      VM_SMP (2), VM_TIMEOUT (s, 3600),
#      BENCH_VM_MODPARAMS (gfibers.ko parameters, comma-separated, e.g.
#      to raise the per-process slot limit to a million fibers),
#      BENCH_VM_QUICK=1 (smoke test: sizes divided by 100),
#      BENCH_VM_ONLY=gfps (workload 12 alone).
# Under TCG every number is an emulated one: compare within the VM run
# (ratios), never with the host's table.
set -uo pipefail
(($# >= 2)) || { sed -n '3,30p' "$0"; exit 2; }
kernel=$1 module=$2 out=${3:-build/bench/vm}
lib=build/libgfiber.a
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[[ -r $kernel ]] || { echo "vm-bench: cannot read kernel $kernel (root needed for /boot/vmlinuz-*)" >&2; exit 2; }
[[ -r $module ]] || { echo "vm-bench: no module $module (make builds it)" >&2; exit 2; }
[[ -r $lib ]] || { echo "vm-bench: no $lib (make lib)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null ||
	{ echo "vm-bench: qemu-system-x86_64 missing: make deps" >&2; exit 2; }

mkdir -p "$out"
cflags=(-std=gnu11 -O2 -g -Wall -Wextra -pthread -static -I"$here/c" -Iinclude)
for p in gf_bench gf_procread gf_gfps; do
	"${CC:-gcc}" "${cflags[@]}" -o "$out/$p" "$here/c/$p.c" "$lib" ||
		{ echo "vm-bench: $p does not build against the library" >&2; exit 1; }
done

# Workload 12 (gfps_100k) needs gfps and the Go peer; without them it is
# reported "not available".
extra=
for f in build/tools/gfps:/bench/gfps build/bench/gobench:/bench/gobench; do
	[[ -x ${f%%:*} ]] && extra+=" $f"
done
"$here/../selftests/vm/mkinitramfs.sh" "$out/initramfs.cpio.gz" \
	"$here/vm-init.sh" "$module:/gfibers.ko" \
	"$out/gf_bench:/bench/gf_bench" "$out/gf_procread:/bench/gf_procread" \
	"$out/gf_gfps:/bench/gf_gfps" $extra ||
	exit 2

case ${VM_ACCEL:-tcg} in
tcg) accel=(-accel tcg,thread=multi -cpu max) ;;
kvm) accel=(-accel kvm -cpu host) ;;
*) echo "vm-bench: VM_ACCEL must be tcg or kvm" >&2; exit 2 ;;
esac
console=$out/console.log output=$out/output.log
append="console=ttyS0 loglevel=4 panic=-1 oops=panic"
append+=" gfbench_runs=${BENCH_RUNS:-5} gfbench_time=${BENCH_TIME:-0.3}"
append+=" gfbench_runs_1m=${BENCH_RUNS_1M:-3}"
[[ ${BENCH_VM_QUICK:-0} != 1 ]] || append+=" gfbench_quick=1"
[[ -z ${BENCH_VM_ONLY:-} ]] || append+=" gfbench_only=$BENCH_VM_ONLY"
[[ -z ${BENCH_VM_MODPARAMS:-} ]] ||
	append+=" gfbench_modparams=$BENCH_VM_MODPARAMS"

: >"$output"
echo "vm-bench: booting $(basename "$kernel") (${VM_ACCEL:-tcg}, ${VM_SMP:-2} CPUs, ${VM_MEM:-8192} MiB)"
timeout -k 5 "${VM_TIMEOUT:-3600}" qemu-system-x86_64 "${accel[@]}" \
	-m "${VM_MEM:-8192}" -smp "${VM_SMP:-2}" \
	-display none -no-reboot -monitor none -nodefaults \
	-serial "file:$console" -serial "file:$output" \
	-kernel "$kernel" -initrd "$out/initramfs.cpio.gz" -append "$append" \
	</dev/null >"$out/qemu.log" 2>&1 &
qpid=$!
tail -n +1 -f --pid=$qpid "$output" 2>/dev/null | grep --line-buffered -v '^# gfbench: sample'
wait $qpid
rc=$?
sed -i 's/\r$//' "$console" "$output"

bad=0
if [[ $rc != 0 ]]; then
	echo "vm-bench: FAIL: qemu exited with $rc (124/137: timed out after ${VM_TIMEOUT:-3600}s)" >&2
	bad=1
fi
grep -q '^# gfbench: done' "$output" ||
	{ echo "vm-bench: FAIL: /init did not reach its end (see $console)" >&2; bad=1; }
splat='BUG:|WARNING:|Oops|general protection fault|KASAN|UBSAN:|possible circular locking|possible recursive locking|sleeping function called from invalid context|Call Trace:|Kernel panic|kernel BUG'
if grep -qaE "$splat" "$console"; then
	echo "vm-bench: FAIL: kernel splat on the console ($console):" >&2
	grep -naE "$splat" "$console" | head -20 | sed 's/^/vm-bench:   /' >&2
	bad=1
fi

awk '$2 == "gfbench:" && $3 == "sample" {
	printf "%s\t%s\t%s\t%s\t%s\t%s\n", $4, $5, $6, $7, $8, $9 }' \
	"$output" >"$out/samples.tsv"
awk '$2 == "gfbench:" && $3 == "status" {
	t = $8; for (i = 9; i <= NF; i++) t = t " " $i
	printf "%s\t%s\t%s\t%s\t%s\n", $4, $5, $6, $7, t }' \
	"$output" >"$out/status.tsv"
rm -f "$out/callgrind.tsv"
"$here/summarize.sh" "$out" "real gfibers.ko, VM ${VM_ACCEL:-tcg}"
echo "vm-bench: results in $out/results.tsv, table in $out/table.md"
exit $bad
