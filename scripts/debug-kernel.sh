#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (once) the debug kernel for `make check-debug`: Debian's
# linux-source-6.1 configured as allnoconfig + selftests/gfibers/config
# (KASAN, lockdep, kmemleak, UBSAN, fault injection, ...), plus the
# `modules_prepare modules` targets so that out-of-tree modules build
# against the tree (`modules` writes Module.symvers).
#
#   debug-kernel.sh          build or reuse; last line of output: the tree
#
# The tree is cached outside the repository, in
# ${GFIBERS_CACHE:-~/.cache/gfibers}/debug-kernel/linux-source-6.1, and
# rebuilt only when the source package or the fragment changes.  A full
# build takes about 9 minutes on 2 cores; a reuse, seconds.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
frag=$top/selftests/gfibers/config
cache=${GFIBERS_CACHE:-${HOME:-/root}/.cache/gfibers}/debug-kernel
tree=$cache/linux-source-6.1
tarball=/usr/src/linux-source-6.1.tar.xz
log=$cache/build.log
say() { printf 'debug-kernel: %s\n' "$*" >&2; }

"$top/scripts/deps.sh" bc flex bison libelf-dev libssl-dev dwarves xz-utils
mkdir -p "$cache"

src_ver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
if [[ ! -f $tree/Makefile || $src_ver != "$(cat "$cache/.src-version" 2>/dev/null)" ]]; then
	say "extracting $tarball ($src_ver)"
	rm -rf "$tree" "$cache/.fragment.sha"
	tar -C "$cache" -xf "$tarball"
	echo "$src_ver" > "$cache/.src-version"
fi
cd "$tree"

sha=$(sha256sum "$frag" | cut -d' ' -f1)
if [[ ! -f .config || $sha != "$(cat "$cache/.fragment.sha" 2>/dev/null)" ]]; then
	say "configuring: allnoconfig + selftests/gfibers/config"
	make -s allnoconfig KCONFIG_ALLCONFIG="$frag"
	# Every request of the fragment must have survived dependency resolution.
	bad=0
	while IFS= read -r line; do
		grep -qxF "$line" .config && continue
		say "config: wanted '$line', got '$(grep -E "^(# )?${line%%=*}[= ]" .config || echo absent)'"
		bad=1
	done < <(grep -E '^CONFIG_[A-Za-z0-9_]+=' "$frag")
	while read -r _ sym _; do
		grep -q "^$sym=" .config || continue
		say "config: wanted $sym off, but it is on"
		bad=1
	done < <(grep -E '^# CONFIG_[A-Za-z0-9_]+ is not set' "$frag")
	((bad == 0)) || { say "fix selftests/gfibers/config"; rm -f .config; exit 1; }
	echo "$sha" > "$cache/.fragment.sha"
fi

say "make -j$(nproc) bzImage modules_prepare modules (log: $log)"
start=$(date +%s)
if ! make -j"$(nproc)" bzImage modules_prepare modules > "$log" 2>&1; then
	tail -30 "$log" >&2
	say "build FAILED, see $log"
	exit 1
fi
say "ready in $(($(date +%s) - start)) s: $(cat include/config/kernel.release)"
echo "$tree"
