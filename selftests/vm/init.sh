#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# /init of the test VM.  The kernel's console is ttyS0; everything this
# script reports (TAP, demo output, markers) goes to ttyS1, so kernel
# messages never interleave with test output.  The host side
# (selftests/vm/run.sh) reads both.
#
# Mode from the kernel command line (unknown key=value become our env):
#   gfmode=test   load /gfibers.ko, run /selftests/gfibers/*, unload
#   gfmode=demo   load /gfibers.ko, run /examples/leak, print /proc/gfibers
#                 and what /tools/gfps makes of it (groups, then a leaked
#                 fiber's stack)
# Lines starting "# gfvm: " are markers the host checks.
# Other parameters: gfoff=reboot (end with `reboot -f`: kernels booted with
# acpi=off only halt on poweroff), gfscale=N (multiply test timeouts by N,
# for slow debug kernels).  A kernel with kmemleak gets a scan after the
# tests, before rmmod (the module's symbols must still resolve).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tmpfs tmpfs /tmp
exec >/dev/ttyS1 2>&1

mark() { echo "# gfvm: $*"; }

mark "up: $(uname -r), uptime $(cut -d' ' -f1 /proc/uptime) s"
KL=/sys/kernel/debug/kmemleak
if [ -w $KL ]; then
	# forget what boot itself left behind
	echo scan > $KL
	echo clear > $KL
fi
if insmod /gfibers.ko; then
	mark "insmod ok"
else
	mark "insmod failed"
fi

case "${gfmode:-test}" in
test)
	TIMEOUT_SCALE=${gfscale:-1} /selftests/run_tests.sh gfibers /selftests/gfibers
	;;
demo)
	if [ -x /examples/leak ]; then
		/examples/leak 8 &
		pid=$!
		sleep 2
		echo "\$ cat /proc/gfibers"
		cat /proc/gfibers
		if [ -x /tools/gfps ]; then
			echo
			echo "\$ gfps    # grouped, biggest first, sites named (function, file:line)"
			/tools/gfps
			echo
			echo "\$ gfps --leaked -o traceback    # the leak: one fiber's whole stack"
			/tools/gfps --leaked -o traceback
		fi
		kill "$pid"
		wait "$pid" 2>/dev/null
	else
		echo "demo: examples/leak is not built yet; /proc/gfibers without fibers:"
		cat /proc/gfibers
	fi
	;;
esac

if [ -w $KL ]; then
	# objects younger than 5 s are not reported; one scan may miss some
	sleep 6
	echo scan > $KL
	echo scan > $KL
	mark "kmemleak begin"
	cat $KL
	mark "kmemleak end"
fi

if rmmod gfibers; then
	mark "rmmod ok"
else
	mark "rmmod failed"
fi
mark "done, uptime $(cut -d' ' -f1 /proc/uptime) s"
# Let the UART drain before the machine goes away.
sleep 1
${gfoff:-poweroff} -f
