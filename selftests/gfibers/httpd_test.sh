#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# httpd_test.sh - examples/httpd's fibers as /proc/gfibers and gfps show
# them (busybox sh, in the VM, module loaded; KTAP on stdout).
#
# httpd --leak serves one request on a connection that then stays open,
# idle, and one /fanout request past its deadline, whose 3 workers it
# leaks (examples/httpd/handlers.c: worker 0 replied and waits for
# another job, workers 1 and 2 wait to send their late replies). Then:
# the idle connection's fiber is in "IO wait" at its read in server.c;
# the leaked workers are in "chan receive" (1) and "chan send" (2) at
# fanout_worker's two lines in handlers.c, as gfps names them from
# /proc/gfibers. Needs /examples/httpd, its sources under /examples/src
# and /tools/gfps (VM_FILES in the Makefile).
HTTPD=/examples/httpd
SRC=/examples/src
GFPS=/tools/gfps
PORT=8080
URL=http://127.0.0.1:$PORT

echo "TAP version 13"
if [ ! -r /proc/gfibers ] || [ ! -x $HTTPD ] || [ ! -x $GFPS ] ||
   [ ! -r $SRC/handlers.c ]; then
	echo "1..0 # SKIP needs /proc/gfibers, $HTTPD, $SRC and $GFPS"
	exit 4
fi
echo "1..5"
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n $1"; }
nok() { n=$((n + 1)); failed=1; echo "not ok $n $1"; shift; for l in "$@"; do echo "#   $l"; done; }

# the initramfs leaves loopback down
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
# nothing in the background may hold the runner's stdout (it waits for
# its end): every child writes to files, and is ended on the way out
# the idle connection must outlive the test however slow the kernel
# (a debug kernel under TCG): a long idle timeout
$HTTPD --addr 127.0.0.1:$PORT --leak --procs 2 --idle-timeout 1h \
	>/tmp/httpd.err 2>&1 &
pid=$!
ncpid=
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	exec 3>&-
	[ -z "$ncpid" ] || kill "$ncpid" 2>/dev/null
	kill -9 "$pid" 2>/dev/null
}
trap cleanup EXIT
up=0
for _ in $(seq 100); do
	wget -q -O /dev/null $URL/stats 2>/dev/null && { up=1; break; }
	sleep 0.1
done
if [ $up = 1 ]; then ok "httpd --leak answers"; else nok "httpd --leak answers" "$(cat /tmp/httpd.err)"; fi

# an idle keep-alive connection: served once, then open (nc's input is
# a fifo this shell holds open on fd 3)
mkfifo /tmp/idle.in
nc 127.0.0.1 $PORT </tmp/idle.in >/tmp/idle.out 2>&1 &
ncpid=$!
exec 3>/tmp/idle.in
printf 'GET / HTTP/1.1\r\nHost: t\r\n\r\n' >&3
# the leak: worker i works i s, the handler waits 0.5 s
wget -q -O /tmp/fanout "$URL/fanout?n=3&ms=1000&deadline=500"
# until both late workers wait in their send (worker 2 works 2 s);
# reason is column 14 of 15 (format 2) or the last (format 1)
settled=0
for _ in $(seq 300); do
	[ "$(grep -cE "^$pid	([^	]*	){12}chan send(	|$)" /proc/gfibers)" -ge 2 ] &&
		grep -q 'Hello' /tmp/idle.out && { settled=1; break; }
	sleep 0.1
done
if [ $settled = 1 ]; then
	ok "/proc/gfibers shows the 2 late workers in chan send, the idle connection got its reply"
else
	nok "/proc/gfibers shows the 2 late workers in chan send, the idle connection got its reply" \
		"30 s of polling ran out"
fi
echo "# \$ cat /proc/gfibers    # httpd's lines"
grep "^$pid	" /proc/gfibers | sed 's/^/# /'
$GFPS -p $pid >/tmp/gfps.out 2>&1
echo "# \$ gfps -p $pid"
sed 's/^/# /' /tmp/gfps.out

# gfps's columns: ... REASON OLDEST WAIT-SITE CREATED-AT; a site reads
# "function (file.c:line)"
recv=$(grep -n 'leak: chan receive' $SRC/handlers.c | cut -d: -f1)
send=$(grep -n 'leak: chan send' $SRC/handlers.c | cut -d: -f1)
if grep -q "IO wait .* conn_fill (server\.c:[0-9]*)" /tmp/gfps.out; then
	ok "the idle connection's fiber: IO wait, at its read (conn_fill, server.c)"
else
	nok "the idle connection's fiber: IO wait, at its read (conn_fill, server.c)" "see gfps above"
fi
if grep -q " 1 waiting *chan receive .*fanout_worker (handlers\.c:$recv)" /tmp/gfps.out; then
	ok "the worker that replied: chan receive at handlers.c:$recv"
else
	nok "the worker that replied: chan receive at handlers.c:$recv" "see gfps above"
fi
if grep -q " 2 waiting *chan send .*fanout_worker (handlers\.c:$send)" /tmp/gfps.out; then
	ok "the 2 late workers: chan send at handlers.c:$send"
else
	nok "the 2 late workers: chan send at handlers.c:$send" "see gfps above"
fi
exec 3>&-
kill -TERM $pid
wait $pid
exit $failed
