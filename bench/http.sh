#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/http.sh - the HTTP workload: examples/httpd against Go's net/http
# (bench/go/http.go) and a bare epoll loop per core (bench/c/epoll_http.c),
# each answering GET / with the same 94 bytes, driven by wrk.
#
# Called by bench/Makefile (`make bench`) after bench/run.sh, from the
# repository root. For each round, each connection count and each
# implementation, in that order (interleaved: a burst of noise on a
# shared machine hits all three), a fresh server is started and loaded
# with wrk -t2 -cN -dT --latency; requests/s and the p50 and p99
# latencies are recorded. A server that does not answer with the
# reference bytes is not measured.
#
# Writes, under $BENCH_OUT (default build/bench):
#   http_samples.tsv  every run: workload impl procs round req/s p50-ms
#                     p99-ms errors (wrk's socket errors and non-2xx)
#   results.tsv       its http_* rows replaced: workload impl procs
#                     median min max unit, units req/s, p50-ms, p99-ms
#   http.md           the table, also printed
#
# Knobs: HTTP_ROUNDS=3, HTTP_TIME=10 (seconds per wrk run), HTTP_CONNS="100
# 1000", BENCH_ONLY (skipped unless it matches http_c100), HTTP_PROCS (GF_PROCS = GOMAXPROCS = epoll threads; default every
# CPU), HTTP_PORT=18300 (base: one port per implementation).
set -u

B=${BENCH_OUT:-build/bench}
ROUNDS=${HTTP_ROUNDS:-3}
T=${HTTP_TIME:-10}
CONNS=${HTTP_CONNS:-100 1000}
P=${HTTP_PROCS:-$(nproc)}
PORT=${HTTP_PORT:-18300}
HTTPD=build/examples/httpd
IMPLS="gfibers go epoll"

if [ -n "${BENCH_ONLY:-}" ] && ! echo http_c100 | grep -Eq -- "$BENCH_ONLY"; then
	exit 0
fi
# one descriptor per connection, on both sides
ulimit -n "$(ulimit -Hn)"
for prog in "$HTTPD" "$B/gobench" "$B/epoll_http"; do
	if [ ! -x "$prog" ]; then
		echo "bench: http: $prog not built: the HTTP workload is skipped" >&2
		exit 0
	fi
done
if ! command -v wrk >/dev/null || ! command -v curl >/dev/null; then
	echo "bench: http: wrk or curl missing (apt-get install wrk curl): skipped" >&2
	exit 0
fi

mkdir -p "$B/log"
: >"$B/http_samples.tsv"
ref=$'HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, World!\n'

server_pid=
stop_server() {
	[ -z "$server_pid" ] || { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; }
	server_pid=
}
trap stop_server EXIT

# start IMPL PORT: a fresh server, answering the reference bytes
start() {
	local log=$B/log/http-$1.log
	case $1 in
	gfibers) "$HTTPD" --addr "127.0.0.1:$2" --procs "$P" 2>>"$log" & ;;
	go) GOMAXPROCS=$P "$B/gobench" http "$2" 2>>"$log" & ;;
	epoll) GF_PROCS=$P "$B/epoll_http" "$2" 2>>"$log" & ;;
	esac
	server_pid=$!
	for _ in $(seq 100); do
		if got=$(curl -s -i "http://127.0.0.1:$2/" 2>/dev/null); then
			# $(...) drops the trailing newline: compare without it
			[ "$got" = "${ref%$'\n'}" ] && return 0
			echo "bench: http: $1 answers other bytes than the reference:" >&2
			printf '%s\n' "$got" | od -c | head -n 8 >&2
			return 1
		fi
		sleep 0.1
	done
	echo "bench: http: $1 did not start (see $log)" >&2
	return 1
}

# wrk's latency ("1.54ms", "812.00us", "1.20s") in ms
to_ms() {
	awk -v v="$1" 'BEGIN {
		u = v; sub(/^[0-9.]+/, "", u); n = v + 0
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.3f", n }'
}

echo "bench: http: $ROUNDS interleaved rounds, wrk -t2 -d${T}s, connections $CONNS, procs $P"
echo "http load before: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$B/machine.txt"
echo "wrk: $(wrk -v 2>&1 | head -n 1)" >>"$B/machine.txt"
i=0
for r in $(seq 1 "$ROUNDS"); do
	for c in $CONNS; do
		for impl in $IMPLS; do
			i=$((i + 1))
			port=$((PORT + i % 50))
			start "$impl" "$port" || { stop_server; continue; }
			out=$B/log/http-$impl-c$c-r$r.wrk
			wrk -t2 -c"$c" -d"${T}s" --latency "http://127.0.0.1:$port/" >"$out" 2>&1
			stop_server
			rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
			p50=$(awk '$1 == "50%" { print $2 }' "$out")
			p99=$(awk '$1 == "99%" { print $2 }' "$out")
			errs=$(awk '/Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
				/Non-2xx/ { e += $NF } END { print e + 0 }' "$out")
			if [ -z "$rps" ] || [ -z "$p50" ] || [ -z "$p99" ]; then
				echo "  http_c$c $impl round $r: wrk failed (see $out)"
				continue
			fi
			printf 'http_c%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$impl" "$P" "$r" \
				"$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" "$errs" >>"$B/http_samples.tsv"
			echo "  http_c$c $impl round $r: $rps req/s, p50 $p50, p99 $p99, $errs errors"
		done
	done
done
echo "http load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$B/machine.txt"

# results.tsv: median, min, max of each (workload, impl, unit)
touch "$B/results.tsv"
grep -v '^http_' "$B/results.tsv" >"$B/results.tsv.new"
awk -F'\t' '
function stats(k, u, col,    m, a, b, t, s, med) {
	m = n[k]
	for (a = 1; a <= m; a++) s[a] = v[k, a, col]
	for (a = 2; a <= m; a++)
		for (b = a; b > 1 && s[b - 1] > s[b]; b--) { t = s[b]; s[b] = s[b - 1]; s[b - 1] = t }
	med = m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
	printf "%s\t%.3f\t%.3f\t%.3f\t%s\n", k, med, s[1], s[m], u
}
{
	k = $1 "\t" $2 "\t" $3
	if (!(k in n)) order[++nk] = k
	n[k]++
	v[k, n[k], 5] = $5; v[k, n[k], 6] = $6; v[k, n[k], 7] = $7
}
END {
	for (j = 1; j <= nk; j++) {
		stats(order[j], "req/s", 5)
		stats(order[j], "p50-ms", 6)
		stats(order[j], "p99-ms", 7)
	}
}' "$B/http_samples.tsv" >>"$B/results.tsv.new"
mv "$B/results.tsv.new" "$B/results.tsv"

# The table: one row per workload and implementation; ratios against Go
# and the epoll loop; the goals of issue 14 for gfibers.
awk -F'\t' '
function num(x) { return x >= 100 ? sprintf("%.0f", x) : x >= 10 ? sprintf("%.1f", x) : sprintf("%.2f", x) }
FILENAME ~ /samples/ { err[$1, $2] += $8; next }
$1 ~ /^http_/ {
	k = $1 SUBSEP $2
	med[k, $7] = $4; mn[k, $7] = $5; mx[k, $7] = $6; procs[$1] = $3
	if (!($1 in seenw)) { seenw[$1] = 1; w[++nw] = $1 }
}
END {
	print "| workload | procs | impl | req/s median (min-max) | p50 ms | p99 ms | wrk errors | req/s vs go | req/s vs epoll | goal |"
	print "|---|---|---|---|---|---|---|---|---|---|"
	split("gfibers go epoll", impls, " ")
	for (j = 1; j <= nw; j++) {
		for (q = 1; q <= 3; q++) {
			i = impls[q]; k = w[j] SUBSEP i
			if (!((k, "req/s") in med)) {
				printf "| %s | %s | %s | not measured | | | | | | |\n", w[j], procs[w[j]], i
				continue
			}
			g = w[j] SUBSEP "go"; e = w[j] SUBSEP "epoll"
			rg = ((g, "req/s") in med) ? med[k, "req/s"] / med[g, "req/s"] : 0
			re = ((e, "req/s") in med) ? med[k, "req/s"] / med[e, "req/s"] : 0
			goal = ""
			if (i == "gfibers" && rg && re) {
				okg = rg >= 1.5 && med[k, "p99-ms"] <= med[g, "p99-ms"]
				oke = re >= 0.8
				goal = sprintf(">= 1.5x go, p99 <= go: %s; >= 0.8x epoll: %s",
					okg ? "met" : "**missed**", oke ? "met" : "**missed**")
			}
			printf "| %s | %s | %s | %s (%s-%s) | %s | %s | %d | %s | %s | %s |\n",
				w[j], procs[w[j]], i, num(med[k, "req/s"]), num(mn[k, "req/s"]),
				num(mx[k, "req/s"]), num(med[k, "p50-ms"]), num(med[k, "p99-ms"]),
				err[w[j], i], rg ? sprintf("%.2fx", rg) : "", re ? sprintf("%.2fx", re) : "", goal
		}
	}
}' "$B/http_samples.tsv" "$B/results.tsv" >"$B/http.md"
cat "$B/http.md"
