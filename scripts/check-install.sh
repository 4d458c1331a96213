#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make install` and `make uninstall` as a user of the library meets them:
# into a scratch PREFIX under build/install-test, a program built from
# outside the tree with nothing but pkg-config (shared, and static), the
# shared library's soname, links and exported symbols, the installed
# headers alone, a DESTDIR staging, and an uninstall that leaves nothing.
# TAP on stdout, the builds' output on stderr. Exit 1 when a test failed.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh pkg-config g++ man-db >&2 || {
	printf 'TAP version 13\n1..1\nnot ok 1 %s: packages missing (scripts/deps.sh)\n' "$(basename "$0")"
	exit 1
}
top=$PWD
work=$top/build/install-test
prefix=$work/prefix
stage=$work/stage
rm -rf "$work"
mkdir -p "$work"
version=$(sed -n 's/^#define GFIBERS_VERSION "\(.*\)"$/\1/p' include/gfibers_version.h)
major=${version%%.*}

n=0 failed=0
t() {	# t NAME COMMAND...: one TAP line for the command's exit status
	local name=$1
	shift
	n=$((n + 1))
	if "$@" >>"$work/log" 2>&1; then
		echo "ok $n $name"
	else
		echo "not ok $n $name"
		failed=$((failed + 1))
		sed 's/^/# /' "$work/log" | tail -n 20
	fi
	: >"$work/log"
}

echo "TAP version 13"
t "install: make install PREFIX=$prefix" \
	make --no-print-directory -s PREFIX="$prefix" install

files() {
	local f
	for f in include/gfiber.h include/gfibers/gfibers.h lib/libgfiber.a \
		 "lib/libgfiber.so.$version" lib/pkgconfig/gfiber.pc \
		 share/man/man3/gfiber.3 share/man/man3/gf_chan_send.3 \
		 share/man/man4/gfibers.4 share/man/man1/gfps.1 \
		 bin/gfps; do
		[[ -f $prefix/$f ]] || { echo "missing $prefix/$f"; return 1; }
	done
}
t "install: headers, libraries, gfiber.pc, man pages, tools in place" files

links() {
	[[ $(readlink "$prefix/lib/libgfiber.so") == "libgfiber.so.$major" ]] &&
	[[ $(readlink "$prefix/lib/libgfiber.so.$major") == "libgfiber.so.$version" ]] &&
	readelf -d "$prefix/lib/libgfiber.so.$version" |
		grep "Library soname: \[libgfiber.so.$major\]" >/dev/null
}
t "install: soname libgfiber.so.$major, libgfiber.so -> .so.$major -> .so.$version" links

exports() {
	diff -u <(scripts/gf-api.sh) \
		<(nm -D --defined-only "$prefix/lib/libgfiber.so.$version" |
		  awk '$2 == "T" || $2 == "W" || $2 == "D" || $2 == "B" { sub(/@.*/, "", $3); print $3 }' |
		  sort -u)
}
t "install: nm -D exports exactly the GF_API functions of gfiber.h" exports

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
cd "$work" || exit 1
cp "$top/scripts/pkgtest/hello.c" "$top/scripts/pkgtest/headers.c" .

pcinfo() {
	[[ $(pkg-config --modversion gfiber) == "$version" ]] &&
	[[ $(pkg-config --variable=prefix gfiber) == "$prefix" ]] &&
	pkg-config --static --libs gfiber | grep -- -pthread >/dev/null
}
t "pkg-config: version $version, prefix, Libs.private -pthread" pcinfo

headers() {
	# shellcheck disable=SC2046
	cc -std=c11 -Wall -Wextra -Werror -pedantic-errors $(pkg-config --cflags gfiber) \
		-fsyntax-only headers.c &&
	echo '#include <gfiber.h>' | c++ -x c++ -std=c++11 -Wall -Wextra -Werror \
		$(pkg-config --cflags gfiber) -fsyntax-only -
}
t "headers: gfiber.h and gfibers/gfibers.h alone (C11 -pedantic, C++11)" headers

shared() {
	# shellcheck disable=SC2046
	cc -Wall -Werror -o hello-shared hello.c $(pkg-config --cflags --libs gfiber) &&
	readelf -d hello-shared | grep "NEEDED.*\[libgfiber.so.$major\]" >/dev/null &&
	[[ $(LD_LIBRARY_PATH=$prefix/lib ./hello-shared) == "gfiber $version sum 6" ]]
}
t "shared: cc hello.c \$(pkg-config --cflags --libs gfiber), runs" shared

static() {
	# shellcheck disable=SC2046
	cc -Wall -Werror -static -o hello-static hello.c \
		$(pkg-config --static --cflags --libs gfiber) &&
	! readelf -d hello-static | grep NEEDED >/dev/null &&
	[[ $(./hello-static) == "gfiber $version sum 6" ]]
}
t "static: cc -static hello.c \$(pkg-config --static --cflags --libs gfiber), runs" static

dlopened() {
	cp "$top/scripts/pkgtest/dlopen.c" . &&
	# shellcheck disable=SC2046
	cc -Wall -Werror -o hello-dlopen dlopen.c $(pkg-config --cflags gfiber) -ldl &&
	! readelf -d hello-dlopen | grep 'NEEDED.*libgfiber' >/dev/null &&
	[[ $(./hello-dlopen "$prefix/lib/libgfiber.so.$major") == "dlopen gfiber $version: 2 fibers ran" ]]
}
t "dlopen: libgfiber.so.$major loaded late (initial-exec thread-locals), runs fibers" dlopened
cd "$top" || exit 1

manpage() {
	MANWIDTH=80 man -M "$prefix/share/man" gf_chan_send | grep 'GF_CHAN(3)' >/dev/null &&
	MANWIDTH=80 man -M "$prefix/share/man" 4 gfibers | grep '/proc/gfibers' >/dev/null
}
t "man: \`man gf_chan_send\` and \`man 4 gfibers\` from the installed pages" manpage

t "uninstall: make uninstall PREFIX=$prefix" \
	make --no-print-directory -s PREFIX="$prefix" uninstall
t "uninstall: nothing left" \
	test -z "$(find "$prefix" ! -type d -print -quit)"

staged() {
	make --no-print-directory -s DESTDIR="$stage" PREFIX=/opt/gf install &&
	[[ -f $stage/opt/gf/lib/libgfiber.so.$version ]] &&
	grep -qx 'prefix=/opt/gf' "$stage/opt/gf/lib/pkgconfig/gfiber.pc" &&
	! grep -q "$stage" "$stage/opt/gf/lib/pkgconfig/gfiber.pc" &&
	make --no-print-directory -s DESTDIR="$stage" PREFIX=/opt/gf uninstall &&
	test -z "$(find "$stage" ! -type d -print -quit)"
}
t "DESTDIR: staged under DESTDIR, gfiber.pc names PREFIX only, uninstalled" staged

echo "1..$n"
((failed == 0))
