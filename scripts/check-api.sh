#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The conventions of include/gfiber.h that the compiler enforces (gfiber(3),
# "Blocking calls, deadlines and results"), proven by compiling small
# programs with each C and C++ compiler there is (gcc, g++; clang, clang++
# when installed), TAP on stdout, exit 1 when one failed:
#   - a deadline is a gf_deadline_t: a program passing an integer (a
#     duration meant as a timeout: 200 * 1000000) where one is wanted does
#     not compile, the same with gf_timeout() does;
#   - GF_FOREVER, GF_NOWAIT and the duration constants compile in C11
#     -pedantic and C++11 -pedantic;
#   - a result declared GF_MUST_CHECK cannot be ignored (-Werror);
#   - the benchmarks' programs on the library still build against it
#     (make bench reports one that does not as "not available" and goes
#     on: an API change once broke gf_bench.c unseen).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
top=$PWD
# g++ is not on a fresh Debian 12 (build-essential is not installed)
scripts/deps.sh g++ >&2 || {
	printf 'TAP version 13\n1..1\nnot ok 1 %s: packages missing (scripts/deps.sh)\n' "$(basename "$0")"
	exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/tap.sh"

# prog BODY: a C (and C++) translation unit using the API in a fiber
prog() {
	cat <<EOF
#include <gfiber.h>

int use(gf_chan_t *c, gf_mutex_t *m);
int use(gf_chan_t *c, gf_mutex_t *m)
{
	long v = 0;
	int r = 0;

	(void)c;
	(void)m;
	$1
	return r + (int)v;
}
EOF
}

# Compiled, not -fsyntax-only: gcc diagnoses unused results only then.
cflags=(-std=c11 -pedantic-errors -Wall -Wextra -Werror -I"$top/include" -c -o /dev/null)
cxxflags=(-std=c++11 -pedantic-errors -Wall -Wextra -Werror -I"$top/include" -c -o /dev/null)

echo "TAP version 13"
ccs=(gcc) cxxs=(g++)
command -v clang >/dev/null && ccs+=(clang)
command -v clang++ >/dev/null && cxxs+=(clang++)

good='r = gf_chan_recv_until(c, &v, gf_timeout(200 * GF_MILLISECOND));
	r += gf_chan_recv_until(c, &v, GF_FOREVER);
	r += gf_chan_recv_until(c, &v, GF_NOWAIT);
	r += gf_chan_send_until(c, &v, gf_deadline_at(gf_now() + GF_SECOND));
	r += gf_mutex_lock_until(m, gf_timeout(5 * GF_MICROSECOND));
	r += gf_chan_recv(c, &v);
	r += (int)(gf_timeout(GF_NANOSECOND).ns == GF_FOREVER.ns);'
prog "$good" > "$work/good.c"
cp "$work/good.c" "$work/good.cc"
prog 'r = gf_chan_recv_until(c, &v, 200 * 1000000);' > "$work/int.c"
prog 'r = gf_mutex_lock_until(m, gf_now() + GF_SECOND);' > "$work/int2.c"
prog 'gf_mutex_trylock(m);' > "$work/ignored.c"
prog 'gf_select(NULL, 0);' > "$work/ignored2.c"

for cc in "${ccs[@]}"; do
	out=$($cc "${cflags[@]}" "$work/good.c" 2>&1)
	tap_status $? "$cc: deadlines, GF_FOREVER, GF_NOWAIT, durations compile (C11 -pedantic)" "$out"
	for f in int int2; do
		out=$($cc "${cflags[@]}" "$work/$f.c" 2>&1)
		[[ $? != 0 && $out == *gf_deadline* ]]
		tap_status $? "$cc: an integer where a gf_deadline_t is wanted does not compile ($f.c)" "$out"
	done
	for f in ignored ignored2; do
		out=$($cc "${cflags[@]}" "$work/$f.c" 2>&1)
		[[ $? != 0 && $out == *unused-result* ]]
		tap_status $? "$cc: an ignored GF_MUST_CHECK result does not compile ($f.c)" "$out"
	done
done
for cxx in "${cxxs[@]}"; do
	out=$($cxx "${cxxflags[@]}" "$work/good.cc" 2>&1)
	tap_status $? "$cxx: deadlines, GF_FOREVER, GF_NOWAIT, durations compile (C++11 -pedantic)" "$out"
	cp "$work/int.c" "$work/int.cc"
	out=$($cxx "${cxxflags[@]}" "$work/int.cc" 2>&1)
	[[ $? != 0 && $out == *gf_deadline* ]]
	tap_status $? "$cxx: an integer where a gf_deadline_t is wanted does not compile" "$out"
done

# the benchmarks' C programs that use the library, as bench/Makefile
# builds them (gf_switch.c also uses the hidden ulib/ctx.h)
lib=build/libgfiber.a
if [[ ! -f $lib ]]; then
	make --no-print-directory -s "$lib" >/dev/null 2>&1
fi
for src in bench/c/gf_bench.c bench/c/gf_switch.c; do
	out=$(gcc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -Ibench/c \
		-Iinclude -Iulib -o "$work/bench" "$src" "$lib" 2>&1)
	tap_status $? "$src builds against the library (make bench's)" "$out"
done

tap_end
