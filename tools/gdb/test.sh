#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/gdb/test.sh [BUILD]: libgfiber-gdb.py in Debian's gdb, batch mode,
# on examples/leak (built with -g): info fibers names every fiber's
# status, reason and wait site (file:line); fiber N bt shows the parked
# fiber's frames in order; the thread's registers are the same after;
# the same on a core file (gcore, process gone) and on the core of a
# crash (ulimit -c); at a breakpoint inside the runtime; a program linked
# with libgfiber.so; a binary stripped of its debug info (function
# names, a note) and a fully stripped one (a clear error). Then the
# USDT probes: the stapsdt notes (readelf -n) and, where BPF can be
# loaded, bpftrace's count of parks per wait reason against the
# program's own. TAP on stdout.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
B=$(cd "${1:-$root/build}" && pwd)
LEAK=$B/examples/leak
LEAK_SO=$B/tools/gdb/leak-shared
PARKS=$B/tools/gdb/parks
SRC=$root/examples/leak.c
tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$here/../../scripts/tap.sh"
echo "TAP version 13"

if ! command -v gdb >/dev/null; then
	skip "gdb tests" "gdb not installed (make deps)"
	echo "1..$n"
	exit 0
fi

# gdb as a user runs it: the script found through the library's
# .debug_gdb_scripts section (its directory on the source path, and in
# the auto-load safe path), never given with -x.
g() {	# g TARGET... -ex CMD...: batch gdb, auto-loading the script
	timeout 120 gdb -nx -batch -iex "add-auto-load-safe-path $here" \
		-iex "directory $here" "$@" 2>&1 | grep -v '^\[New LWP\|^warning: \|^\[Thread debugging\|^Using host libthread_db'
}
# the line of PATTERN within function FN of leak.c
lineof() { awk -v fn="$1" -v pat="$2" '$0 ~ "^static .*" fn "\\(" { in_fn = 1 } in_fn && index($0, pat) { print NR; exit }' "$SRC"; }
L_RECV=$(lineof leaker 'gf_chan_recv(c, &v)')
L_SEND=$(lineof stuck_sender 'gf_chan_send(')
L_SELECT=$(lineof stuck_select 'gf_select(')
L_LOCK=$(lineof stuck_locker 'gf_mutex_lock(&held)')
L_PARK=$(lineof stuck_custom 'gf_park(')
L_SLEEP=$(lineof leak_main 'gf_sleep(3600')

start() {	# start BINARY: run leak 3, wait until its leakers are marked
	"$1" 3 > "$tmp/out" &
	pids+=($!)
	local i
	for i in $(seq 200); do
		grep -q 'fibers parked' "$tmp/out" 2>/dev/null && { sleep 0.3; return 0; }
		sleep 0.05
	done
	return 1
}

# info fibers: the row of each fiber (Id Status Reason... Wait site ...)
want_rows() {	# the rows expected of leak 3, whitespace squeezed
	cat <<-EOF
	1 waiting sleep leak_main (examples/leak.c:$L_SLEEP)
	2 leaked chan receive leaker (examples/leak.c:$L_RECV)
	3 leaked chan receive leaker (examples/leak.c:$L_RECV)
	4 leaked chan receive leaker (examples/leak.c:$L_RECV)
	5 waiting chan send stuck_sender (examples/leak.c:$L_SEND)
	6 waiting select stuck_select (examples/leak.c:$L_SELECT)
	7 waiting sync.Mutex.Lock stuck_locker (examples/leak.c:$L_LOCK)
	8 waiting waiting for godot stuck_custom (examples/leak.c:$L_PARK)
	EOF
}
# the rows of `info fibers`, without the Waited column and what follows
# the wait site
rows() {
	awk '/^[ *] +[0-9]+ / { sub(/^[ *] +/, ""); print }' "$1" |
		sed -E 's/ +[0-9]+(s|m[0-9]+s|h[0-9]+m) +/ /; s/\) .*/)/; s/  +/ /g'
}
check_rows() {	# DESC FILE
	local got
	got=$(rows "$2")
	if [[ $got == "$(want_rows)" ]] && grep -q '^8 fibers, 3 leaked, 5 waiting$' "$2"; then
		ok "$1"
	else
		nok "$1" "want:" "$(want_rows)" "got:" "$(cat "$2")"
	fi
}
# fiber 2 bt: the park, the leaking frame at its line, its callers, in order
check_bt() {	# DESC FILE
	local got
	got=$(sed -n '/^BT$/,$p' "$2" | awk '/^#[0-9]+ / { for (i = 2; i <= NF; i++) if ($i != "in" && $i !~ /^0x/) { print $i; break } }' | tr '\n' ' ')
	if [[ $got == "gf_ctx_switch gfi_switch gfi_schedule_from gfi_park chanrecv gf_chan_recv leaker gfi_fiber_main gf_ctx_start " ]] &&
	   grep -q "^#[0-9]* .* in leaker (arg=.*) at examples/leak.c:$L_RECV$" "$2"; then
		ok "$1"
	else
		nok "$1" "frames: $got" "$(cat "$2")"
	fi
}

# ---------------------------------------------------------------- live
if start "$LEAK"; then
	pid=${pids[-1]}
	g -p "$pid" -ex 'info fibers' > "$tmp/info"
	check_rows "live: info fibers lists every fiber, status, reason, wait site file:line" "$tmp/info"
	if grep -q '^  2 .* leak_main (examples/leak.c:[0-9]*) *leaker *demo=leak$' "$tmp/info"; then
		ok "live: creation site, name and labels"
	else
		nok "live: creation site, name and labels" "$(cat "$tmp/info")"
	fi
	g -p "$pid" -ex 'echo BT\n' -ex 'fiber 2 bt' > "$tmp/bt"
	check_bt "live: fiber 2 bt: the leaking frame at its file:line, the frames above it in order" "$tmp/bt"
	g -p "$pid" -ex 'info registers rip rsp rbp rbx r12' -ex 'fiber 3 bt' -ex 'echo REGS\n' \
		-ex 'info registers rip rsp rbp rbx r12' > "$tmp/regs"
	if [[ $(sed -n '/^rip/,/^r12/p' "$tmp/regs" | head -5) == "$(sed -n '/^REGS/,$p' "$tmp/regs" | sed -n '/^rip/,/^r12/p')" ]] &&
	   grep -q '^rip' "$tmp/regs" && grep -q ' in leaker ' "$tmp/regs"; then
		ok "live: the thread's own registers restored after fiber N bt"
	else
		nok "live: the thread's own registers restored after fiber N bt" "$(cat "$tmp/regs")"
	fi
	k=$(sed -n 's/^#\([0-9]*\) .* in leaker (.*/\1/p' "$tmp/bt")
	g -p "$pid" -ex "fiber 2 frame $k info locals" -ex "fiber 3 frame $k" > "$tmp/frame"
	if [[ -n $k ]] && grep -q "^#$k .* leaker (arg=.*) at examples/leak.c:$L_RECV$" "$tmp/frame" &&
	   grep -q '^c = ' "$tmp/frame" && grep -q '^v = ' "$tmp/frame" &&
	   [[ $(grep -c "^#$k .* leaker (arg=" "$tmp/frame") == 2 ]]; then
		ok "live: fiber N frame K [CMD]: the frame, its locals"
	else
		nok "live: fiber N frame K [CMD]: the frame, its locals" "$(cat "$tmp/frame")"
	fi
	g -p "$pid" -ex 'fiber apply all bt' > "$tmp/all"
	if [[ $(grep -c '^Fiber [0-9]' "$tmp/all") == 8 && $(grep -c ' in gf_ctx_start ' "$tmp/all") == 8 ]] &&
	   grep -q '^Fiber 8 \[waiting, waiting for godot\]:' "$tmp/all" &&
	   grep -q "in stuck_custom (arg=.*) at examples/leak.c:$L_PARK" "$tmp/all"; then
		ok "live: fiber apply all bt: every fiber's whole stack"
	else
		nok "live: fiber apply all bt: every fiber's whole stack" "$(head -c 2000 "$tmp/all")"
	fi
	g -p "$pid" -ex 'info fibers -leaked' -ex 'info fibers -reason "chan send"' -ex 'info fibers -status waiting' > "$tmp/filt"
	if grep -q '^3 fibers, 3 leaked$' "$tmp/filt" && grep -q '^1 fibers, 1 waiting$' "$tmp/filt" &&
	   grep -q '^5 fibers, 5 waiting$' "$tmp/filt" && grep -q '^  5  *waiting  *chan send ' "$tmp/filt"; then
		ok "live: info fibers -leaked, -reason, -status"
	else
		nok "live: info fibers -leaked, -reason, -status" "$(cat "$tmp/filt")"
	fi
	# the script's view of gfi_debug against the compiler's (debug info)
	g -p "$pid" -ex 'python
fs = {f.name: f.bitpos // 8 for f in gdb.lookup_type("struct gfi_debug").fields()}
off = _HEAD.size
bad = [k for i, k in enumerate(_FIELDS) if fs.get(k) != off + 4 * i]
print("LAYOUT", "ok" if not bad and gdb.lookup_type("struct gfi_debug").sizeof == _SIZE else bad)
' > "$tmp/layout"
	if grep -q '^LAYOUT ok$' "$tmp/layout"; then
		ok "the script's field list matches struct gfi_debug"
	else
		nok "the script's field list matches struct gfi_debug" "$(cat "$tmp/layout")"
	fi

	# ------------------------------------------------------------ core (gcore)
	g -p "$pid" -ex "gcore $tmp/gcore" > "$tmp/gcore.log"
	kill "$pid"; wait "$pid" 2>/dev/null
	if [[ -s $tmp/gcore ]]; then
		g "$LEAK" "$tmp/gcore" -ex 'info fibers' > "$tmp/cinfo"
		check_rows "gcore, process gone: info fibers" "$tmp/cinfo"
		g "$LEAK" "$tmp/gcore" -ex 'echo BT\n' -ex 'fiber 2 bt' > "$tmp/cbt"
		check_bt "gcore, process gone: fiber 2 bt" "$tmp/cbt"
		if grep -q "^note: core file: .*numbered from #1" "$tmp/cbt" && ! sed -n '/^BT$/,$p' "$tmp/cbt" | grep '^#0 ' >/dev/null; then
			ok "gcore: the thread's own frame hidden, said so"
		else
			nok "gcore: the thread's own frame hidden, said so" "$(cat "$tmp/cbt")"
		fi
	else
		nok "gcore" "$(cat "$tmp/gcore.log")"
		nok "gcore, process gone: fiber 2 bt"
		nok "gcore: the thread's own frame hidden"
	fi
else
	nok "leak did not start" "$(cat "$tmp/out")"
fi

# ---------------------------------------------------------------- core of a crash
mkdir -p "$tmp/crash"
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null)
if [[ $pattern == \|* ]]; then
	skip "core of a crash (ulimit -c)" "core_pattern pipes cores to $pattern"
else
	(cd "$tmp/crash" && ulimit -c unlimited && exec "$LEAK" 3 > "$tmp/out") &
	cpid=$!
	pids+=($cpid)
	for i in $(seq 200); do grep -q 'fibers parked' "$tmp/out" 2>/dev/null && break; sleep 0.05; done
	sleep 0.3
	kill -ABRT "$cpid"; wait "$cpid" 2>/dev/null
	core=$(ls "$tmp/crash"/core* 2>/dev/null | head -1)
	if [[ -n $core ]]; then
		g "$LEAK" "$core" -ex 'info fibers' -ex 'echo BT\n' -ex 'fiber 2 bt' > "$tmp/crinfo"
		check_rows "core of a crash (SIGABRT, ulimit -c): info fibers" "$tmp/crinfo"
		check_bt "core of a crash: fiber 2 bt" "$tmp/crinfo"
	else
		skip "core of a crash (ulimit -c)" "no core file written (core_pattern $pattern)"
	fi
fi

# ---------------------------------------------------------------- breakpoint inside the runtime
# Stopped in the leak marker, on the thread of the fiber marking them:
# the leakers are parked, main runs (the selected thread's fiber, '*').
g "$LEAK" -ex 'break gfi_mark_g_leaked' -ex 'run 3 > /dev/null' -ex 'info fibers' -ex 'fiber 3 bt' \
	-ex 'fiber 1 bt' -ex 'kill' > "$tmp/brk"
if grep -q '^\* 1  *running' "$tmp/brk" && grep -q '^  3  *waiting  *chan receive ' "$tmp/brk" &&
   grep -q "in leaker (arg=.*) at examples/leak.c:$L_RECV$" "$tmp/brk" &&
   grep -q '^#0  gfi_mark_g_leaked ' "$tmp/brk" && grep -q ' in leak_main ' "$tmp/brk"; then
	ok "at a breakpoint in the runtime: the running fiber marked, a parked one's stack"
else
	nok "at a breakpoint in the runtime" "$(cat "$tmp/brk")"
fi

# ---------------------------------------------------------------- libgfiber.so
if start "$LEAK_SO"; then
	g -p "${pids[-1]}" -ex 'info fibers' -ex 'fiber 2 bt' > "$tmp/so"
	if [[ $(rows "$tmp/so") == "$(want_rows)" ]] &&
	   grep -q "in leaker (arg=.*) at .*examples/leak.c:$L_RECV$" "$tmp/so"; then
		ok "a program linked with libgfiber.so: script found through the library"
	else
		nok "a program linked with libgfiber.so" "$(cat "$tmp/so")"
	fi
	kill "${pids[-1]}"
else
	nok "leak-shared did not start" "$(cat "$tmp/out")"
fi

# ---------------------------------------------------------------- stripped
# strip --strip-debug removes .debug_gdb_scripts too: the script is
# given with -x, as docs/gdb.md says for such a program.
cp "$LEAK" "$tmp/leak-nodebug"
strip --strip-debug "$tmp/leak-nodebug"
if start "$tmp/leak-nodebug"; then
	timeout 120 gdb -nx -batch -x "$here/libgfiber-gdb.py" -p "${pids[-1]}" \
		-ex 'info fibers' -ex 'fiber 2 bt' > "$tmp/strip" 2>&1
	if grep -q '^  2  *leaked  *chan receive  *[0-9a-z]*  *leaker+[0-9]*  *leak_main+[0-9]*  *leaker' "$tmp/strip" &&
	   grep -q '^note: no debug info for the wait sites' "$tmp/strip" &&
	   grep -q 'note: no debug info for fiber 2' "$tmp/strip" &&
	   grep -q '^#[0-9]* .* in leaker ()$' "$tmp/strip" && ! grep -q 'leak\.c:' "$tmp/strip"; then
		ok "stripped of debug info: function names, no file:line, a note"
	else
		nok "stripped of debug info: function names, no file:line, a note" "$(cat "$tmp/strip")"
	fi
	kill "${pids[-1]}"
else
	nok "stripped leak did not start"
fi
cp "$LEAK" "$tmp/leak-stripped"
strip --strip-all "$tmp/leak-stripped"
if start "$tmp/leak-stripped"; then
	timeout 120 gdb -nx -batch -x "$here/libgfiber-gdb.py" -p "${pids[-1]}" -ex 'info fibers' > "$tmp/strip2" 2>&1
	if grep -q '^libgfiber: no symbol gfi_debug in the program: .*fully stripped' "$tmp/strip2"; then
		ok "fully stripped: a clear error"
	else
		nok "fully stripped: a clear error" "$(cat "$tmp/strip2")"
	fi
	kill "${pids[-1]}"
else
	nok "fully stripped leak did not start"
fi

# ---------------------------------------------------------------- USDT probes
if [[ -x $PARKS ]]; then
	readelf -n "$PARKS" > "$tmp/notes"
	want="create exit leak park ready, with 3 1 2 4 2 arguments"
	got=$(awk '/Provider: gfiber/ { p = 1; next } p && /Name:/ { name = $2 } p && /Arguments:/ { sub(/.*Arguments: /, ""); print name, $0; p = 0 }' "$tmp/notes" | sort -u)
	got_names=$(cut -d' ' -f1 <<< "$got" | sort | tr '\n' ' ')
	if [[ $got_names == "create exit leak park ready " ]] &&
	   [[ $(awk '{ print NF - 1 }' <<< "$got" | tr '\n' ' ') == "3 1 2 4 2 " ]]; then
		ok "readelf -n: the stapsdt notes gfiber:create, park, ready, exit, leak with their arguments"
	else
		nok "readelf -n: the stapsdt notes" "got:" "$got" "want (names, argument counts):" "$want"
	fi
	if ! command -v bpftrace >/dev/null; then
		skip "bpftrace counts parks per wait reason" "bpftrace not installed"
		skip "bpftrace: gfiber:ready fires" "bpftrace not installed"
	elif ! timeout 30 bpftrace -e 'BEGIN { exit(); }' >/dev/null 2>&1; then
		skip "bpftrace counts parks per wait reason" "BPF cannot be loaded here ($(timeout 30 bpftrace -e 'BEGIN { exit(); }' 2>&1 | tail -1))"
		skip "bpftrace: gfiber:ready fires" "BPF cannot be loaded here"
	else
		# parks waits for SIGUSR1 before its workload, once bpftrace is attached
		"$PARKS" > "$tmp/parks.out" &
		ppid=$!
		pids+=($ppid)
		timeout 60 bpftrace -p "$ppid" -e "usdt:$PARKS:gfiber:park { @[arg1] = count(); }
			usdt:$PARKS:gfiber:ready { @readies = count(); }" > "$tmp/bt.out" 2>&1 &
		bpid=$!
		for i in $(seq 300); do grep -q '^Attaching' "$tmp/bt.out" && break; sleep 0.1; done
		sleep 1
		kill -USR1 "$ppid"
		wait "$ppid"
		kill -INT "$bpid"; wait "$bpid"
		# the program's counts: "reason N count C" lines
		want=$(awk '/^reason/ { print $2, $4 }' "$tmp/parks.out" | sort -n)
		got=$(awk -F'[][]|: ' '/^@\[/ { print $2, $4 }' "$tmp/bt.out" | sort -n)
		if [[ -n $want && $got == "$want" ]]; then
			ok "bpftrace: parks per wait reason match the program's own counts"
		else
			nok "bpftrace: parks per wait reason match the program's own counts" "want:" "$want" "got:" "$(cat "$tmp/bt.out")"
		fi
		# ready is behind its semaphore: it fires only if bpftrace raised it
		if [[ $(awk '/^readies/ { print $2 }' "$tmp/parks.out") == $(awk '/^@readies:/ { print $2 }' "$tmp/bt.out") ]] &&
		   grep -q '^@readies: [1-9]' "$tmp/bt.out"; then
			ok "bpftrace: gfiber:ready (semaphore-guarded) fires once per park"
		else
			nok "bpftrace: gfiber:ready (semaphore-guarded) fires once per park" "$(cat "$tmp/parks.out")" "$(cat "$tmp/bt.out")"
		fi
	fi
else
	nok "USDT probes" "$PARKS not built (make gdb-tests)"
fi

tap_end
