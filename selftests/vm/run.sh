#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boot a kernel in qemu with gfibers.ko and the test programs in a busybox
# initramfs, then judge the run from the host.
#
#   run.sh MODE KERNEL MODULE OUTDIR [SRC[:DEST] ...]
#     MODE    test (run /selftests/gfibers/*) or demo (examples/leak)
#     KERNEL  bzImage to boot;  MODULE  gfibers.ko built for that kernel
#     OUTDIR  gets console.log (kernel console), output.log (what /init
#             printed: TAP or the demo), host-checks.tap, initramfs.cpio.gz
#     SRC     more files for the initramfs (see mkinitramfs.sh)
# Env: VM_ACCEL=tcg|kvm (default tcg: KVM hangs on the build machines)
#      VM_TIMEOUT (s, default 900)  VM_MEM (MiB, default 2048)  VM_SMP (2)
#      VM_APPEND  extra kernel command line
#
# The run fails, with a line saying why, when: the VM does not power off
# before VM_TIMEOUT; insmod or rmmod fails; /init does not reach its end;
# a test fails (MODE test); the console shows a kernel splat.
set -uo pipefail
(($# >= 4)) || { sed -n '3,17p' "$0"; exit 2; }
mode=$1 kernel=$2 module=$3 out=$4
shift 4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

case $mode in test|demo) ;; *) echo "run.sh: unknown mode $mode" >&2; exit 2;; esac
[[ -r $kernel ]] || { echo "run.sh: cannot read kernel $kernel (root needed for Debian's /boot/vmlinuz-*)" >&2; exit 2; }
[[ -r $module ]] || { echo "run.sh: no module $module" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "run.sh: qemu-system-x86_64 missing: make deps" >&2; exit 2; }

mkdir -p "$out"
console=$out/console.log output=$out/output.log checks=$out/host-checks.tap
rm -f "$console" "$output" "$checks"
"$here/mkinitramfs.sh" "$out/initramfs.cpio.gz" "$here/init.sh" \
	"$module:/gfibers.ko" "$here/../run_tests.sh:/selftests/run_tests.sh" "$@" || exit 2

case ${VM_ACCEL:-tcg} in
tcg) accel=(-accel tcg,thread=multi -cpu max) ;;
kvm) accel=(-accel kvm -cpu host) ;;
*) echo "run.sh: VM_ACCEL must be tcg or kvm" >&2; exit 2 ;;
esac
tmo=${VM_TIMEOUT:-900}
append="console=ttyS0 loglevel=7 printk.time=1 panic=-1 oops=panic gfmode=$mode ${VM_APPEND:-}"

: > "$output"
start=$(date +%s.%N)
timeout -k 5 "$tmo" qemu-system-x86_64 "${accel[@]}" \
	-m "${VM_MEM:-2048}" -smp "${VM_SMP:-2}" \
	-display none -no-reboot -monitor none -nodefaults \
	-serial "file:$console" -serial "file:$output" \
	-kernel "$kernel" -initrd "$out/initramfs.cpio.gz" -append "$append" \
	</dev/null >"$out/qemu.log" 2>&1 &
qpid=$!
# Stream what /init prints while the VM runs.
tail -n +1 -f --pid=$qpid "$output" 2>/dev/null
wait $qpid
rc=$?
took=$(echo "$(date +%s.%N) - $start" | bc)
sed -i 's/\r$//' "$console" "$output"

n=0 bad=0
check() {	# check OK|FAIL description [reason]
	n=$((n + 1))
	if [[ $1 == OK ]]; then
		echo "ok $n vm: $2" >> "$checks"
	else
		echo "not ok $n vm: $2 # $3" >> "$checks"
		echo "run.sh: FAIL: $2: $3" >&2
		bad=1
	fi
}
has() { grep -q "^# gfvm: $1" "$output"; }

if [[ $rc == 124 || $rc == 137 ]]; then
	check FAIL "powered off before ${tmo}s" "VM did not power off within ${tmo}s (killed; console: $console)"
elif [[ $rc != 0 ]]; then
	check FAIL "powered off before ${tmo}s" "qemu exited with status $rc: $(head -c 300 "$out/qemu.log")"
else
	check OK "powered off before ${tmo}s"
fi
if has "insmod ok"; then check OK "insmod gfibers.ko"
else check FAIL "insmod gfibers.ko" "insmod failed or never ran (see $console)"; fi
if [[ $mode == test ]]; then
	res=$(grep -E '^(not )?ok [0-9]' "$output")
	if grep -q '^not ok' <<<"$res"; then
		check FAIL "selftests" "$(grep -c '^not ok' <<<"$res") test program(s) failed: $(grep '^not ok' <<<"$res" | sed 's/.*selftests: //' | tr '\n' ' ')"
	elif [[ -z $res ]]; then
		check FAIL "selftests" "no test results in $output"
	else
		check OK "selftests"
	fi
fi
if has "rmmod ok"; then check OK "rmmod gfibers"
else check FAIL "rmmod gfibers" "rmmod failed or never ran (see $console)"; fi
if has "done"; then check OK "/init ran to its end"
else check FAIL "/init ran to its end" "no end marker: the VM died, hung or was cut off (see $console)"; fi

if has "kmemleak begin"; then
	leaks=$(sed -n '/^# gfvm: kmemleak begin/,/^# gfvm: kmemleak end/p' "$output")
	nleak=$(grep -c 'unreferenced object' <<<"$leaks")
	if grep -q 'gfibers' <<<"$leaks"; then
		check FAIL "kmemleak: nothing leaked by gfibers" "kmemleak reports objects allocated by gfibers (see $output)"
	else
		check OK "kmemleak: nothing leaked by gfibers ($nleak other unreferenced objects)"
	fi
fi

splat='BUG:|WARNING:|Oops|general protection fault|KASAN|UBSAN:|possible circular locking|possible recursive locking|sleeping function called from invalid context|Call Trace:|Kernel panic|kernel BUG|unreferenced object|list_(add|del) corruption'
if grep -qaE "$splat" "$console"; then
	check FAIL "no kernel splat" "kernel splat on the console ($console):"
	grep -naE "$splat" "$console" | head -20 | sed 's/^/run.sh:   /' >&2
else
	check OK "no kernel splat"
fi
sed -i "1i TAP version 13\n1..$n" "$checks"
cat "$checks"
printf 'run.sh: %s mode on %s: %.1f s; console %s\n' "$mode" "$(basename "$kernel")" "$took" "$console"
exit $bad
