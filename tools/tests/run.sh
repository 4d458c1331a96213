#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gfps's host tests (no gfibers.ko needed), TAP on stdout.
#
#   tools/tests/run.sh [BUILD]      (BUILD defaults to build; make tools-tests first)
#
# Parsing, filters and grouping on /proc/gfibers copies; names, inlined
# frames and stacks of a live process with one parked context at known
# lines (tools/tests/parked.c: PIE with shared libc, static, stripped);
# the formats, pprof's through `go tool pprof` and the metrics through
# `promtool check metrics` (skipped when those are not installed).
# gfps runs under ASan+UBSan here (BUILD/tools/tests/gfps-asan), except
# where the static build is the point.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
B=$(cd "${1:-$here/../../build}" && pwd)
GFPS=$B/tools/tests/gfps-asan
STATIC=$B/tools/gfps
SRC=$here/parked.c
tmp=$(mktemp -d)
# reports also to files: a gfps inside a pipeline cannot fail its test by
# its exit status alone; the last test fails on any report
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}:log_path=$tmp/asan
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$tmp/ubsan
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$here/../../scripts/tap.sh"
echo "TAP version 13"
# check DESC CMD...: the command's success is the test's
check() { local d=$1; shift; if "$@" >"$tmp/out" 2>"$tmp/err"; then ok "$d"; else nok "$d" "$(head -c 600 "$tmp/out")" "$(head -c 600 "$tmp/err")"; fi; }

HDR=$'# gfibers 2\n# pid\tfiber\tparent\ttid\tstatus\twait_ms\twait_obj\twait_pc\tcreate_pc\tsaved_pc\tsaved_sp\tsaved_fp\tcomm\treason\tseq'
HDR1=$'# gfibers 1\n# pid\tfiber\tparent\ttid\tstatus\twait_ms\twait_obj\twait_pc\tcreate_pc\tsaved_pc\tsaved_sp\tsaved_fp\tcomm\treason'
line() {	# pid fiber status wait_ms wait_pc create_pc comm reason
	printf '%s\t%s\t1\t%s\t%s\t%s\t0x10\t%s\t%s\t0x0\t0x0\t0x0\t%s\t%s\t4\n' \
		"$1" "$2" "$1" "$3" "$4" "$5" "$6" "$7" "$8"
}

# ---------------------------------------------------------------- bad input
bad() {	# bad DESC LINENO CONTENT: gfps fails, naming the line
	printf '%s' "$3" > "$tmp/bad"
	"$GFPS" -f "$tmp/bad" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [[ $rc == 1 ]] && grep -q "^gfps: $tmp/bad:$2: " "$tmp/err" && [[ ! -s $tmp/out ]]; then
		ok "bad input: $1"
	else
		nok "bad input: $1" "rc $rc (want 1), stderr: $(head -c 300 "$tmp/err")"
	fi
}
good=$(line 10 5 waiting 100 0x401000 0x402000 srv 'chan receive')
bad "14 fields" 4 "$HDR"$'\n'"$good"$'\n'"$(printf '10\t6\t1\t10\twaiting\t100\t0x10\t0x1\t0x2\t0x0\t0x0\t0x0\tsrv\tchan receive')"$'\n'
bad "16 fields" 3 "$HDR"$'\n'"$good"$'\textra\n'
bad "seq not a number" 3 "$HDR"$'\n'"${good%4}0x4"$'\n'
bad "format 1 with 15 fields" 3 "$HDR1"$'\n'"$good"$'\n'
bad "format 1 with format 2's column names" 2 $'# gfibers 1\n'"${HDR#*$'\n'}"$'\n'
bad "address not hex" 3 "$HDR"$'\n'"${good/0x401000/401000}"$'\n'
bad "pid not a number" 3 "$HDR"$'\n'"${good/#10/x10}"$'\n'
bad "wait_ms not a number" 3 "$HDR"$'\n'"${good/waiting$'\t'100/waiting$'\t'1e3}"$'\n'
bad "torn line with values" 3 "$HDR"$'\n'"$(printf '10\t-\t-\t-\ttorn\t-\t-\t0x1\t-\t-\t-\t-\tsrv\t-\t-')"$'\n'
bad "no version line" 1 "$(printf '# pid\tfiber')"$'\n'
bad "unknown version" 1 $'# gfibers 3\n'
bad "data before the column names" 2 $'# gfibers 2\n'"$good"$'\n'
bad "NUL byte" 3 "$HDR"$'\n'"$(printf '10\t5\t1\t10\twaiting\t100\t0x10\t0x1\t0x2\t0x0\t0x0\t0x0\ts')"$'\x01\x00x\tchan receive\t2\n'
# format 1 (a module before seq): still read, the same table
v1=$(printf '10\t5\t1\t10\twaiting\t100\t0x10\t0x401000\t0x402000\t0x0\t0x0\t0x0\tsrv\tchan receive')
printf '%s\n%s\n' "$HDR1" "$v1" > "$tmp/v1"
printf '%s\n%s\n%s\n' "$HDR" "$good" "$(printf '10\t6\t1\t10\twaiting\t100\t0x10\t0x401000\t0x402000\t0x0\t0x0\t0x0\tsrv\tchan receive\t-')" > "$tmp/v2"
check "format 1 read: the fiber, its status and reason" bash -c "'$GFPS' -f '$tmp/v1' | grep -q '^10 *srv *1 waiting *chan receive '"
check "format 2 with seq hidden ('-') read" bash -c "'$GFPS' -f '$tmp/v2' | grep -q '^10 *srv *2 waiting *chan receive '"
printf '' > "$tmp/empty"
"$GFPS" -f "$tmp/empty" >/dev/null 2>"$tmp/err"
if [[ $? == 1 ]] && grep -q "empty" "$tmp/err"; then ok "bad input: empty file"; else nok "bad input: empty file" "$(cat "$tmp/err")"; fi

# ---------------------------------------------------------------- grouping
{
	echo "$HDR"
	for i in $(seq 1 700); do line 10 $((i + 1)) leaked $((1000 + i)) 0x401000 0x402000 srv 'chan receive'; done
	for i in $(seq 1 200); do line 10 $((i + 1000)) waiting $((10 * i)) 0x401100 0x402000 srv 'sync.Mutex.Lock'; done
	for i in $(seq 1 50); do line 20 $((i + 1)) waiting $((400000 + i)) 0x401000 0x402000 other 'chan receive'; done
	line 10 1 running - 0x401200 0x0 srv -
	line 10 2000 running - 0x401300 0x0 srv -
	printf '10\t-\t-\t-\ttorn\t-\t-\t-\t-\t-\t-\t-\tsrv\t-\t-\n'
} > "$tmp/copy"
# the table's columns: PID COMM COUNT STATUS REASON... (reason has a space)
rows() { "$GFPS" -f "$tmp/copy" "$@" | awk '!/^(PID|#)/ { print $1, $2, $3, $4 }'; }
expect_rows() {	# DESC EXPECTED ARGS...
	local d=$1 want=$2 got
	shift 2
	got=$(rows "$@" 2>&1)
	if [[ $got == "$want" ]]; then ok "$d"; else nok "$d" "want: $want" "got: $got"; fi
}
expect_rows "groups, biggest first, exact counts" \
	"$(printf '10 srv 700 leaked\n10 srv 200 waiting\n20 other 50 waiting\n10 srv 2 running')"
expect_rows "--pid" "20 other 50 waiting" -p 20
expect_rows "--comm" "20 other 50 waiting" --comm other
expect_rows "--status" "$(printf '10 srv 200 waiting\n20 other 50 waiting')" --status waiting
expect_rows "--leaked" "10 srv 700 leaked" --leaked
expect_rows "--reason" "10 srv 200 waiting" --reason sync.Mutex.Lock
expect_rows "--min-wait 1500ms" "$(printf '10 srv 201 leaked\n10 srv 51 waiting\n20 other 50 waiting')" --min-wait 1500ms
expect_rows "--min-wait 6m" "20 other 50 waiting" --min-wait 6m
expect_rows "--site (hex wait site of a saved copy)" "10 srv 200 waiting" --site 0x401100
check "oldest wait and the summary line" bash -c "'$GFPS' -f '$tmp/copy' | grep -q '^20 .*6m40s' && '$GFPS' -f '$tmp/copy' | grep -qx '# 952 fibers in 4 groups, 1 torn (being written, or the process stopped mid-write)'"
check "--all: one group per fiber" bash -c "[[ \$('$GFPS' -f '$tmp/copy' -a -p 20 | grep -c '^20 ') == 50 ]]"
check "stdin" bash -c "'$GFPS' -f - < '$tmp/copy' | grep -q '^10 .* 700 leaked'"
"$GFPS" -f "$tmp/copy" --min-wait 5x >/dev/null 2>&1
if [[ $? == 2 ]]; then ok "bad --min-wait is a usage error"; else nok "bad --min-wait is a usage error"; fi
# many groups: the hash table grows and keeps every group distinct
{
	echo "$HDR"
	awk 'BEGIN { for (i = 1; i <= 100000; i++)
		printf "7\t%d\t1\t7\twaiting\t5\t0x0\t0x%x\t0x1\t0x0\t0x0\t0x0\tmany\tsleep\t2\n", i, 4096 + i % 5000 }'
} > "$tmp/many"
check "100,000 fibers in 5,000 groups of 20" bash -c "'$GFPS' -f '$tmp/many' | awk '!/^(PID|#)/ { n++; if (\$3 != 20) bad++ } END { exit !(n == 5000 && !bad) }' && '$GFPS' -f '$tmp/many' | tail -1 | grep -qx '# 100000 fibers in 5000 groups'"

# ---------------------------------------------------------------- live names and stacks
lineof() { grep -n "LINE:$1\b" "$SRC" | cut -d: -f1; }
start() {	# start BINARY: run it, wait for its /proc/gfibers text in $tmp/live
	"$1" > "$tmp/live" &
	pids+=($!)
	local i
	for i in $(seq 100); do
		[[ $(wc -l < "$tmp/live") -ge 3 ]] && return 0
		sleep 0.05
	done
	return 1
}
# the traceback of the parked context, frames in order, as Go prints them
want_tb=$(printf 'fiber 2 [chan receive, 1 minutes]: pid PID (parked)
wait_inlined(...)
\ttools/tests/parked.c:%d
waiter(...)
\ttools/tests/parked.c:%d +OFF
outer(...)
\ttools/tests/parked.c:%d +OFF
entry(...)
\ttools/tests/parked.c:%d +OFF
created by main in fiber 1
\ttools/tests/parked.c:%d +OFF' "$(lineof wait)" "$(lineof inlined-at)" "$(lineof outer)" "$(lineof entry)" "$(lineof create)")
traceback() {	# traceback DESC GFPS BINARY
	local got
	if ! start "$3"; then nok "$1" "$3 did not start"; return; fi
	got=$("$2" -f "$tmp/live" -L -o traceback 2>&1 | sed -e 's/pid [0-9]* /pid PID /' -e 's/ +0x[0-9a-f]*$/ +OFF/' -e '/^$/d')
	if [[ $got == "$want_tb" ]]; then ok "$1"; else nok "$1" "want:" "$want_tb" "got:" "$got"; fi
}
traceback "stack of a parked context, PIE + shared libc: frames, inlined, file:line" "$GFPS" "$B/tools/tests/parked"
traceback "the same, static target, static gfps" "$STATIC" "$B/tools/tests/parked-static"
check "grouped table names the wait and creation sites" bash -c "'$GFPS' -f '$tmp/live' -L | grep -q 'wait_inlined (parked.c:$(lineof wait))  main (parked.c:$(lineof create))'"
check "--runtime keeps the park frame" bash -c "'$GFPS' -f '$tmp/live' -L -s --runtime | grep -q '^	  park (parked.c:'"
check "--site by function name" bash -c "'$GFPS' -f '$tmp/live' -L --site wait_inlined | grep -q '^[0-9]* *parked '"
check "--site by file:line" bash -c "'$GFPS' -f '$tmp/live' -L --site parked.c:$(lineof wait) | grep -q '^[0-9]* *parked '"
check "--site by function+0xoffset" bash -c "'$GFPS' -f '$tmp/live' -L --site 'waiter+0x' | grep -q '^[0-9]* *parked '"
check "--site that matches nothing" bash -c "! '$GFPS' -f '$tmp/live' -L --site nosuchfn | grep -q '^[0-9]* *parked '"

# a context whose saved registers no longer match its stack: the fiber ran
IFS=$'\t' read -ra f < <(sed -n 3p "$tmp/live")
f[11]=$(printf '0x%x' $((f[11] + 16)))
{ head -2 "$tmp/live"; (IFS=$'\t'; echo "${f[*]}"); } > "$tmp/ran"
check "a fiber that ran while read: said so, no stack" bash -c "'$GFPS' -f '$tmp/ran' -L -o traceback | grep -q 'no stack: the fiber ran while being read' && ! '$GFPS' -f '$tmp/ran' -L -o traceback | grep -q '^outer'"

# The file read again after the stacks (-L and a regular file, as
# /proc/gfibers): its line rewritten while gfps walks the stack, each
# read of the walk slowed down (GFPS_TEST_DELAY_US). The context stays the
# same (the target really is parked there), so only seq, the wait site
# and the wait tell gfps that "the fiber ran".
during_read() {	# during_read IN AWK-EDIT: gfps's traceback in $tmp/dr
	local gp i sc=
	cp "$1" "$tmp/mut"
	GFPS_TEST_DELAY_US=200000 "$GFPS" -f "$tmp/mut" -L -o traceback > "$tmp/dr" 2>&1 &
	gp=$!
	# rewrite once gfps sleeps in the walk (clock_nanosleep, nanosleep):
	# after its first read, before its second
	for ((i = 0; i < 1000; i++)); do
		{ read -r sc _ < "/proc/$gp/syscall"; } 2>/dev/null
		[[ $sc == 230 || $sc == 35 ]] && break
		kill -0 "$gp" 2>/dev/null || break
		sleep 0.01
	done
	awk -F'\t' -v OFS='\t' "NR > 2 { $2 } 1" "$1" > "$tmp/mut.new"
	mv "$tmp/mut.new" "$tmp/mut"
	wait "$gp"
}
newpc='$8 = ($8 == "0x1" ? "0x2" : "0x1")'
during_read "$tmp/live" "\$15 += 2; $newpc"
check "parked elsewhere while read (seq and wait site changed): no stack" bash -c "grep -q 'no stack: the fiber ran while being read' '$tmp/dr' && ! grep -q '^outer' '$tmp/dr'"
during_read "$tmp/live" '$15 += 2'
check "ran and parked again at the same site (seq changed): read again, the whole stack" bash -c "grep -q '^outer(...)' '$tmp/dr' && ! grep -q 'no stack' '$tmp/dr'"
during_read "$tmp/live" ''
check "not run while read (the line unchanged): the whole stack" bash -c "grep -q '^outer(...)' '$tmp/dr' && ! grep -q 'no stack' '$tmp/dr'"
# format 1: no seq; a wait that shrank says it
awk -F'\t' -v OFS='\t' 'NR == 1 { print "# gfibers 1"; next } { NF = 14 } 1' "$tmp/live" > "$tmp/live1"
during_read "$tmp/live1" "\$6 = 5; $newpc"
check "format 1: parked elsewhere while read (wait shorter, site changed): no stack" bash -c "grep -q 'no stack: the fiber ran while being read' '$tmp/dr' && ! grep -q '^outer' '$tmp/dr'"

# stripped: the symbol table names the functions, no file:line
cp "$B/tools/tests/parked" "$tmp/parked-nodebug"
strip --strip-debug "$tmp/parked-nodebug"
if start "$tmp/parked-nodebug"; then
	check "debug info stripped: symbol table names, no file:line" bash -c "'$GFPS' -f '$tmp/live' -L -s | grep -q '^	  waiter+0x[0-9a-f]*$' && '$GFPS' -f '$tmp/live' -L -s | grep -q '^	  outer+0x'"
else
	nok "debug info stripped" "did not start"
fi
# debug info in a separate file found by build-id, as gdb finds it
cp "$B/tools/tests/parked" "$tmp/parked-sep"
bid=$(readelf -n "$tmp/parked-sep" | awk '/Build ID:/ { print $3 }')
mkdir -p "$tmp/debug/.build-id/${bid:0:2}"
objcopy --only-keep-debug "$tmp/parked-sep" "$tmp/debug/.build-id/${bid:0:2}/${bid:2}.debug"
strip --strip-debug "$tmp/parked-sep"
if [[ -n $bid ]] && start "$tmp/parked-sep"; then
	check "separate debug file by build-id: file:line and inlined frames" bash -c "GFPS_DEBUGINFO_PATH='$tmp/debug' '$GFPS' -f '$tmp/live' -L | grep -q 'wait_inlined (parked.c:$(lineof wait))  main (parked.c:$(lineof create))' && ! '$GFPS' -f '$tmp/live' -L | grep -q 'parked.c'"
else
	nok "separate debug file by build-id" "no build-id, or did not start"
fi
cp "$B/tools/tests/parked" "$tmp/parked-stripped"
strip --strip-all "$tmp/parked-stripped"
if start "$tmp/parked-stripped"; then
	check "fully stripped: module+0xoffset" bash -c "'$GFPS' -f '$tmp/live' -L | grep -q 'parked-stripped+0x[0-9a-f]*  parked-stripped+0x'"
	# a site with no symbol is matched by what the table names it
	site=$("$GFPS" -f "$tmp/live" -L | grep -o 'parked-stripped+0x[0-9a-f]*' | head -1)
	check "--site module+0xoffset of a site with no symbol" bash -c "'$GFPS' -f '$tmp/live' -L --site '$site' | grep -q '^[0-9]* *parked '"
	check "--site module+0xoffset that is not the site" bash -c "! '$GFPS' -f '$tmp/live' -L --site 'parked-stripped+0xfffffff' | grep -q '^[0-9]* *parked '"
else
	nok "fully stripped" "did not start"
fi

# clang emits no .debug_aranges: its CUs are found by their own ranges
# (libdw trusts the aranges of gcc's crt files, which do not cover them)
if command -v clang >/dev/null &&
   clang -std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread -I"$here/../../include" \
	-I"$here/../../ulib" -o "$tmp/parked-clang" "$SRC" "$B/libgfiber.a" &&
   start "$tmp/parked-clang"; then
	check "clang-built target: file:line and inlined frames" bash -c "'$GFPS' -f '$tmp/live' -L | grep -q 'wait_inlined (parked.c:$(lineof wait))  main (parked.c:$(lineof create))'"
else
	ok "# SKIP clang-built target: no clang"
fi

# a process that is gone: one line, the group still shown
start "$B/tools/tests/parked" || true
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null
check "an exited process: one clear line, groups still shown" bash -c "'$GFPS' -f '$tmp/live' -L -s 2>'$tmp/e2' | grep -q '^[0-9]* *parked .* 1 waiting' && grep -q 'no such process' '$tmp/e2'"

# an unprivileged reader of root's process
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
	start "$B/tools/tests/parked" || true
	chmod 755 "$tmp"; chmod 644 "$tmp/live"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$STATIC" -f "$tmp/live" -L -o traceback >"$tmp/out" 2>"$tmp/err"
	if grep -q 'no access to its memory maps: names and stacks need root (CAP_SYS_PTRACE) or the process'\''s own user' "$tmp/err" &&
	   [[ $(grep -c 'no access' "$tmp/err") == 1 ]] && ! grep -q '^waiter' "$tmp/out"; then
		ok "unprivileged reader: one line saying what is needed"
	else
		nok "unprivileged reader: one line saying what is needed" "$(cat "$tmp/err")"
	fi
else
	skip "unprivileged reader" "needs root and setpriv"
fi

# ---------------------------------------------------------------- formats
start "$B/tools/tests/parked" || true
"$GFPS" -f "$tmp/live" -L -o pprof > "$tmp/prof" 2>"$tmp/err"
check "pprof text: goroutine profile header, count line, named frames" bash -c "head -1 '$tmp/prof' | grep -qx 'goroutine profile: total 1' && grep -q '^1 @ 0x' '$tmp/prof' && grep -qP '^#\t0x[0-9a-f]+\twaiter\+0x[0-9a-f]+\ttools/tests/parked.c:$(lineof inlined-at)$' '$tmp/prof'"
if command -v go >/dev/null; then
	HOME=$tmp GOCACHE=$tmp/gocache go tool pprof -traces "$tmp/prof" > "$tmp/traces" 2>&1
	got=$(awk '/^-+\+/ { n++; next } n == 1 { print $NF }' "$tmp/traces" | tr '\n' ' ')
	cnt=$(awk '/^-+\+/ { n++; next } n == 1 && NF == 2 { print $1 }' "$tmp/traces")
	if [[ $got == "waiter outer entry " && $cnt == 1 ]]; then
		ok "go tool pprof -traces: the stack in order, count 1"
	else
		nok "go tool pprof -traces: the stack in order, count 1" "$(cat "$tmp/traces")"
	fi
	HOME=$tmp GOCACHE=$tmp/gocache go tool pprof -top "$tmp/many-prof" >/dev/null 2>&1 || true
	"$GFPS" -f "$tmp/copy" -o pprof > "$tmp/prof2"
	HOME=$tmp GOCACHE=$tmp/gocache go tool pprof -top "$tmp/prof2" > "$tmp/top" 2>&1
	if grep -q 'Showing nodes accounting for 950, 100% of 950 total' "$tmp/top"; then
		ok "go tool pprof -top: counts of a saved copy's groups"
	else
		nok "go tool pprof -top: counts of a saved copy's groups" "$(cat "$tmp/top")"
	fi
else
	skip "go tool pprof -traces" "golang-go not installed"
	skip "go tool pprof -top" "golang-go not installed"
fi
if command -v promtool >/dev/null; then
	# label values that need escaping
	sed 's/\tother\t/\tq"u\\o\t/' "$tmp/copy" > "$tmp/esc"	# comm q"u\o
	"$GFPS" -f "$tmp/esc" -o metrics > "$tmp/metrics"
	check "promtool check metrics" promtool check metrics < "$tmp/metrics"
	printf '%s\n' 'gfibers_fibers{pid="10",comm="srv",status="leaked",reason="chan receive"} 700' \
		'gfibers_fibers{pid="20",comm="q\"u\\o",status="waiting",reason="chan receive"} 50' > "$tmp/want"
	check "metrics: fibers per process, status and reason; escaped labels" bash -c "grep -qxFf '$tmp/want' '$tmp/metrics' && [[ \$(grep -cxFf '$tmp/want' '$tmp/metrics') == 2 ]] && grep -q '^gfibers_wait_site_oldest_wait_seconds{pid=\"20\".*} 400.050$' '$tmp/metrics' && tail -1 '$tmp/metrics' | grep -qx '# EOF'"
else
	skip "promtool check metrics" "prometheus not installed"
	skip "metrics labels" "prometheus not installed"
fi
"$GFPS" -f "$tmp/live" -L -o json > "$tmp/json"
if command -v python3 >/dev/null; then
	check "json: parses; group, sites and stack as documented" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
g = d["groups"][0]
assert d["gfps"] == 1 and d["fibers"] == 1 and g["count"] == 1
assert g["wait_site"]["frames"][0]["function"] == "wait_inlined"
assert g["wait_site"]["frames"][0]["inlined"] is True
assert g["wait_site"]["frames"][1]["function"] == "waiter"
assert g["create_site"]["frames"][0]["function"] == "main"
fns = [f["frames"][-1]["function"] for f in g["stack"]]
assert fns == ["waiter", "outer", "entry"], fns
' "$tmp/json"
else
	skip "json" "python3 not installed"
fi
check "folded: comm;outermost..innermost;[reason] count" bash -c "'$GFPS' -f '$tmp/live' -L -o folded | grep -qx 'parked;entry;outer;waiter;wait_inlined;\[chan receive\] 1'"

# --watch: the group that grows, and by how much
cp "$tmp/copy" "$tmp/grow"
( sleep 0.5; line 10 5000 leaked 1 0x401000 0x402000 srv 'chan receive' >> "$tmp/grow";
  line 10 5001 leaked 1 0x401000 0x402000 srv 'chan receive' >> "$tmp/grow" ) &
"$GFPS" -f "$tmp/grow" -w 1 -n 2 > "$tmp/watch" 2>&1
wait $!
check "--watch: growth since the first sample, growing group first" bash -c "awk '/^# sample 2/ { s = 1; next } s && !/^(PID|#)/ { print; exit }' '$tmp/watch' | grep -q '^10 .* 702 leaked .* +2$'"

if ls "$tmp"/asan.* "$tmp"/ubsan.* >/dev/null 2>&1; then
	nok "ASan/UBSan: no reports from any gfps run" "$(cat "$tmp"/asan.* "$tmp"/ubsan.* 2>/dev/null | head -40)"
else
	ok "ASan/UBSan: no reports from any gfps run"
fi

tap_end
