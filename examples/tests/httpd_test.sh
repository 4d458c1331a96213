#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples/httpd against real clients on loopback, TAP on stdout.
#
#   examples/tests/httpd_test.sh [BUILD]   (BUILD defaults to build;
#                                           make examples first)
#
# curl (GET, HEAD, keep-alive, statuses), raw sockets from
# httpd_client.py (pipelining, malformed requests, clients that go away
# or reset mid-request, slowloris, 10,000 idle keep-alive connections),
# wrk load, gf_leakcheck through /leakcheck (--leak off: nothing; on:
# the fan-out's workers, at their lines in handlers.c), and a graceful
# shutdown with requests in flight. Every check asserts what a client
# sees (statuses, bodies, counts, exit statuses), never how long it took;
# waits for the server to settle are bounded far above what it needs.
# Needs curl, wrk, python3, nm and addr2line (binutils).
# IDLE_CONNS (default 10000): the idle connections held; a TSan build
# needs fewer than its 8128 fibers and threads alive.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
B=$(cd "${1:-$here/../../build}" && pwd)
HTTPD=$B/examples/httpd
SRC=$here/../httpd/handlers.c
# Debian's python3 (a pyenv shim in PATH takes seconds to start)
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
CLIENT=("$PY" "$here/httpd_client.py")
tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$here/../../scripts/tap.sh"
echo "TAP version 13"
# want DESC EXPECTED ACTUAL
want() { if [[ $2 == "$3" ]]; then ok "$1"; else nok "$1" "expected: $2" "got:      $3"; fi; }

for t in curl wrk python3 nm addr2line; do
	if ! command -v $t >/dev/null; then
		echo "1..0 # SKIP $t is not installed (make deps)"
		exit 0
	fi
done
if [[ ! -x $HTTPD ]]; then
	echo "1..1"
	nok "httpd built" "no $HTTPD: make examples"
	exit 1
fi

# start NAME ARGS...: a server on a free port; sets port and pid
start() {
	local name=$1 i
	shift
	for i in 1 2 3; do
		port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		"$HTTPD" --addr "127.0.0.1:$port" "$@" 2>"$tmp/$name.err" &
		pid=$!
		pids+=("$pid")
		for _ in $(seq 100); do
			curl -s -o /dev/null "http://127.0.0.1:$port/stats" && return 0
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
	done
	echo "Bail out! httpd $name did not start: $(cat "$tmp/$name.err")"
	exit 1
}
url() { echo "http://127.0.0.1:$port$1"; }
client() { "${CLIENT[@]}" "$port" "$@"; }
stats() { curl -s "$(url /stats)" | awk '{ v[$1] = $2 } END { print v["fibers"], v["connections"] }'; }
# settle FIBERS CONNS: poll /stats until it says so (bounded, FIBERS "*"
# for any); prints the last "fibers conns"
settle() {
	local s
	for _ in $(seq 300); do
		s=$(stats)
		[[ $s == $1" $2" ]] && break
		sleep 0.1
	done
	echo "$s"
}
# the handlers.c line of a "fn+0xoff" frame of httpd
frame_line() {
	local fn=${1%+*} off=${1#*+} a
	a=$(nm "$HTTPD" | awk -v f="$fn" '$3 == f { print $1 }')
	[[ -n $a ]] || return
	# a wait site is a return address: the call is the byte before
	addr2line -e "$HTTPD" "$(printf '%x' $((0x$a + off - 1)))" | sed 's/.*://; s/ .*//'
}
marker_line() { grep -n "$1" "$SRC" | cut -d: -f1; }

# the idle timeout far above the test's length: under TSan, opening the
# 10,000 connections alone takes minutes
start main --request-timeout 2s --idle-timeout 1h --shutdown-timeout 20s

# ---------------------------------------------------------------- curl
want "GET / with curl" "200 Hello, World!" \
	"$(curl -s -o "$tmp/body" -w '%{http_code}' "$(url /)") $(cat "$tmp/body")"
want "HEAD /: 200, Content-Length of the GET, no body" "200 14 0" "$(client head)"
curl -sv "$(url /)" "$(url '/fanout?n=3&ms=1')" >"$tmp/out" 2>"$tmp/err"
want "keep-alive: curl reuses the connection for a second request" "1 Hello, World! fanout: 3 of 3 replied" \
	"$(grep -ci 're-using existing connection' "$tmp/err") $(tr '\n' ' ' <"$tmp/out" | sed 's/ $//')"
want "HTTP/1.0 request: answered, then closed" "200 close" \
	"$(curl -s -0 -o /dev/null -D - "$(url /)" | awk 'NR == 1 { s = $2 } tolower($1) == "connection:" { c = $2 } END { print s, c }' | tr -d '\r')"
want "unknown path: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$(url /nope)")"
want "POST /: 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -d x "$(url /)")"
want "POST /echo with Expect: 100-continue (curl, 200 KB)" "200 200000" \
	"$(head -c 200000 /dev/zero | curl -s -H 'Content-Type: application/octet-stream' --data-binary @- -o "$tmp/echo" -w '%{http_code}' "$(url /echo)") $(stat -c %s "$tmp/echo")"

# ---------------------------------------------------------------- raw requests
want "pipelined requests: three answers in order" \
	"200 Hello, World!|200 fanout: 2 of 2 replied|200 slept 1 ms" \
	"$(client pipeline | paste -sd'|')"
want "a Content-Length body in pieces comes back whole" "200 same" "$(client echo 100000)"
for c in "request-line 400" "version 505" "no-host 400" "header-space 400" \
	 "obs-fold 400" "big-header 431" "long-uri 414" "big-body 413" \
	 "chunked 501" "cl-te 400" "two-lengths 400"; do
	want "malformed request (${c% *}): ${c#* }" "${c#* }" "$(client bad "${c% *}" 2>&1)"
done

# ---------------------------------------------------------------- load
# wrk's own 2 s timeout would count a slow (sanitized) server's answers
# as errors
wrk -t2 -c50 -d3s --timeout 60s "$(url /)" >"$tmp/wrk" 2>&1
if grep -q 'requests in' "$tmp/wrk" && ! grep -Eq 'Socket errors|Non-2xx' "$tmp/wrk"; then
	ok "wrk -c50 load: no socket errors, every response 200 ($(grep -o '[0-9]* requests in' "$tmp/wrk"))"
else
	nok "wrk -c50 load: no socket errors, every response 200" "$(cat "$tmp/wrk")"
fi
want "after the load, gf_leakcheck finds nothing (--leak off)" "leaked 0" \
	"$(curl -s "$(url '/leakcheck?ms=10000')" | head -n 1)"
base=$(stats)
base=${base% *}
want "after the load, only the /stats connection is left" "$base 1" "$(settle "$base" 1)"

# ---------------------------------------------------------------- clients that go away
client cut head && client cut body && client cut rst
want "clients closing in the head, in the body, RST in the body: their fibers end" \
	"$base 1" "$(settle "$base" 1)"
want "the server still answers after them" "Hello, World!" "$(curl -s "$(url /)")"
want "slowloris (a head trickled byte by byte) is cut off with 408" \
	"HTTP/1.1 408 Request Timeout" "$(client slowloris)"

# ---------------------------------------------------------------- 10,000 idle
idle=${IDLE_CONNS:-10000}
out=$(client idle "$idle")
if [[ $out == SKIP* ]]; then
	skip "$idle idle keep-alive connections held" "${out#SKIP }"
else
	want "$idle idle keep-alive connections held: one fiber each" \
		"held $((base + idle)) $((idle + 1))" "$out"
	want "$idle connections closed: the fiber count back to its baseline" \
		"$base 1" "$(settle "$base" 1)"
fi

# ---------------------------------------------------------------- fan-out leak
# worker i of /fanout works i*ms ms; with deadline < ms, worker 0 has
# replied (then waits for a job), workers 1 and 2 are late
leakreq='/fanout?n=3&ms=1000&deadline=500'
want "fan-out past its deadline (--leak off)" "fanout: 1 of 3 replied" "$(curl -s "$(url "$leakreq")")"
want "... its late workers end: gf_leakcheck finds nothing" "leaked 0" \
	"$(curl -s "$(url '/leakcheck?ms=10000')" | head -n 1)"

# graceful shutdown: three requests in flight and one idle connection
for i in 1 2 3; do
	curl -s -D "$tmp/sh$i.head" "$(url '/sleep?ms=5000')" >"$tmp/sh$i.body" &
	pids+=($!)
	cpids[i]=$!
done
$PY -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
s.recv(4096)
print("idle", flush=True)
s.settimeout(60)
print("closed by the server" if s.recv(4096) == b"" else "data")
' "$port" >"$tmp/idle.out" &
idlepid=$!
# every client connected, the idle one served (bounded waits)
for _ in $(seq 300); do grep -q idle "$tmp/idle.out" && break; sleep 0.1; done
settle '*' 5 >/dev/null
kill -TERM "$pid"
wait "$pid"
rc=$?
want "SIGTERM with 3 requests in flight and an idle connection: exit 0" "0" "$rc"
res=""
for i in 1 2 3; do
	wait "${cpids[$i]}"
	res+="$? $(tr -d '\n' <"$tmp/sh$i.body") $(grep -ci '^connection: close' "$tmp/sh$i.head")|"
done
want "... the requests in flight complete, with Connection: close" \
	"0 slept 5000 ms 1|0 slept 5000 ms 1|0 slept 5000 ms 1|" "$res"
wait "$idlepid"
want "... the idle connection is closed by the server" "idle|closed by the server" \
	"$(paste -sd'|' "$tmp/idle.out")"

# ---------------------------------------------------------------- --leak
start leak --leak
want "--leak: fan-out past its deadline" "fanout: 1 of 3 replied" "$(curl -s "$(url "$leakreq")")"
curl -s "$(url '/leakcheck?ms=3000')" >"$tmp/leak"
want "--leak: gf_leakcheck finds the 3 workers" "leaked 3" "$(head -n 1 "$tmp/leak")"
# "fiber N [chan send] "fanout":", then the wait site's function
# "fanout_worker(...)" and its place "\tFILE:LINE +0x2d" (Go's format;
# "? +0x2d" in this static binary, which does not load libdw): taken
# back to "fanout_worker+0x2d" for nm and addr2line
sites=$(awk '/^fiber / { st = $0; sub(/^[^[]*\[/, "", st); sub(/[],].*/, "", st); getline; fn = $1; sub(/\(.*/, "", fn); getline; off = $NF; sub(/^\+/, "", off); print st "|" fn "+" off }' "$tmp/leak" |
	while IFS='|' read -r st fr; do echo "$st:$(frame_line "$fr")"; done | sort | uniq -c | awk '{ print $1 "x " $2 " " $3 }' | paste -sd'|')
recv=$(marker_line 'leak: chan receive')
send=$(marker_line 'leak: chan send')
want "--leak: by wait site, 1 in chan receive, 2 in chan send, at fanout_worker's lines in handlers.c" \
	"1x chan receive:$recv|2x chan send:$send" "$sites"
kill -TERM "$pid"
wait "$pid"
want "--leak server: exits 0 on SIGTERM (the leaked fibers do not hold it)" 0 $?

tap_end
