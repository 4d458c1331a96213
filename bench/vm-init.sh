#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /init of the benchmark VM (bench/vm-bench.sh builds the initramfs with
# selftests/vm/mkinitramfs.sh and boots it). Busybox sh.
#
# Runs, with the real gfibers.ko:
#  - workload 10, registration cost: pingpong (procs 1, 2) and spawn
#    (100,000 fibers: TCG is slow) with the module loaded [gfibers-reg]
#    and not loaded [gfibers], interleaved run by run (insmod, the
#    registered runs, rmmod, the unregistered ones); gf_bench checks the
#    library's registry mode matches the label (BENCH_EXPECT_MODE);
#  - rss_parked_100k, gfibers-reg and gfibers, under the VM kernel's
#    transparent-hugepage policy (Debian's: always);
#  - workload 12, gfps_100k: gfps -s from outside on 100,000 parked
#    fibers against Go's goroutine profile (WriteTo(w, 1)) from inside
#    on 100,000 parked goroutines [gfibers vs go];
#  - workload 11, procread: one full read of /proc/gfibers per fiber at
#    10,000, 100,000 and 1,000,000 parked fibers [gfibers-proc], against
#    a walk of /proc/self/task/*/stat with 10,000 threads
#    [linux-taskstat], interleaved.
#
# Everything it reports goes to ttyS1 (the kernel console is ttyS0):
#   # gfbench: sample WORKLOAD IMPL PROCS RUN VALUE UNIT
#   # gfbench: status WORKLOAD IMPL PROCS UNIT TEXT...
#   # gfbench: done
# Kernel command line (unknown key=value become our environment):
#   gfbench_runs=5  gfbench_runs_1m=3  gfbench_time=0.3
#   gfbench_modparams=a=1,b=2
#   gfbench_quick=1 (a smoke test: sizes divided by 100)
#   gfbench_only=gfps (workload 12 alone)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
exec >/dev/ttyS1 2>&1

RUNS=${gfbench_runs:-5}
RUNS_1M=${gfbench_runs_1m:-3}
export BENCH_TIME=${gfbench_time:-0.3}
MODPARAMS=$(echo "${gfbench_modparams:-}" | tr ',' ' ')
# Sizes: spawn, then procread's three fiber counts and its thread count.
if [ "${gfbench_quick:-0}" = 1 ]; then
	SPAWN=1000 P10K=100 P100K=1000 P1M=10000 THREADS=100
else
	SPAWN=100000 P10K=10000 P100K=100000 P1M=1000000 THREADS=10000
fi
dead=""

echo "# gfbench: up: $(uname -r), $(nproc) CPUs, $(grep MemTotal /proc/meminfo), THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"

load() {
	# shellcheck disable=SC2086 # the parameters are words
	insmod /gfibers.ko $MODPARAMS || echo "# gfbench: insmod failed"
}

unload() {
	rmmod gfibers || echo "# gfbench: rmmod failed"
}

# one WORKLOAD IMPL PROCS RUN UNIT COMMAND...: one run, one report line.
one() {
	w=$1 i=$2 p=$3 r=$4 u=$5
	shift 5
	case " $dead " in *" $w/$i/$p "*) return ;; esac
	out=$(env GF_PROCS="$p" timeout 600 "$@" 2>/tmp/err </dev/null)
	rc=$?
	last=$(echo "$out" | tail -n 1)
	case $last in
	"not available:"*)
		echo "# gfbench: status $w $i $p $u $last"
		dead="$dead $w/$i/$p"
		return
		;;
	esac
	if [ "$rc" != 0 ] || ! echo "$last" | grep -Eq '^[0-9]+(\.[0-9]*)?$'; then
		echo "# gfbench: status $w $i $p $u failed: exit $rc: $(tail -c 300 /tmp/err | tr '\n' ' ')"
		dead="$dead $w/$i/$p"
		return
	fi
	echo "# gfbench: sample $w $i $p $r $last $u"
}

# The registered or unregistered half of one round of workload 10.
reg_round() {
	impl=$1 mode=$2 r=$3
	for p in 1 2; do
		one pingpong "$impl" "$p" "$r" ns/roundtrip \
			env BENCH_EXPECT_MODE="$mode" /bench/gf_bench pingpong
	done
	one spawn "$impl" 2 "$r" ns/fiber \
		env BENCH_EXPECT_MODE="$mode" /bench/gf_bench spawn "$SPAWN"
	# RSS under the VM kernel's own THP policy (Debian: always).
	one rss_parked_100k "$impl" 2 "$r" bytes/fiber \
		env BENCH_EXPECT_MODE="$mode" /bench/gf_bench rss_parked_100k
}

# gfbench_only=gfps: workload 12 alone
[ "${gfbench_only:-}" != gfps ] || RUNS_10_11=0
r=1
while [ "$r" -le "${RUNS_10_11:-$RUNS}" ]; do
	load
	reg_round gfibers-reg 1 "$r"
	unload
	reg_round gfibers 0 "$r"
	echo "# gfbench: registration round $r done, uptime $(cut -d" " -f1 /proc/uptime) s"
	r=$((r + 1))
done

# procread measures reading, not memory: with Debian's THP=always a
# million parked fibers take ~7.8 KiB each (2 MiB pages under the stack
# arenas) and do not fit the VM; madvise (the host's setting) keeps them
# at ~4.3 KiB.
thp=/sys/kernel/mm/transparent_hugepage/enabled
[ ! -w $thp ] || echo madvise >$thp
echo "# gfbench: procread with THP: $(cat $thp 2>/dev/null)"
load
r=1
while [ "$r" -le "${RUNS_10_11:-$RUNS}" ]; do
	one procread_10k gfibers-proc 2 "$r" ns/entry \
		/bench/gf_procread gfibers-proc "$P10K"
	one procread_10k linux-taskstat 2 "$r" ns/entry \
		/bench/gf_procread linux-taskstat "$THREADS"
	one procread_100k gfibers-proc 2 "$r" ns/entry \
		/bench/gf_procread gfibers-proc "$P100K"
	# A million fibers take minutes to create under TCG: RUNS_1M runs.
	[ "$r" -gt "$RUNS_1M" ] ||
		one procread_1m gfibers-proc 2 "$r" ns/entry \
			/bench/gf_procread gfibers-proc "$P1M"
	echo "# gfbench: procread round $r done, uptime $(cut -d" " -f1 /proc/uptime) s"
	r=$((r + 1))
done

# Workload 12: gfps -s (groups, one stack each) on 100,000 parked fibers
# from outside, against Go's pprof goroutine profile (debug=1) on 100,000
# parked goroutines from inside, interleaved.
r=1
while [ "$r" -le "$RUNS" ]; do
	if [ -x /bench/gfps ]; then
		one gfps_100k gfibers 2 "$r" ms /bench/gf_gfps "$P100K" /bench/gfps
	else
		echo "# gfbench: status gfps_100k gfibers 2 ms not available: no gfps in the VM (make tools)"
	fi
	if [ -x /bench/gobench ]; then
		one gfps_100k go 2 "$r" ms /bench/gobench gfps_100k "$P100K"
	else
		echo "# gfbench: status gfps_100k go 2 ms not available: no Go peer in the VM (make -f bench/Makefile build)"
	fi
	r=$((r + 1))
done
unload

echo "# gfbench: done"
sleep 1
poweroff -f
