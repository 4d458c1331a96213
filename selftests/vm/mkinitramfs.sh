#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Make a busybox initramfs (gzip'd newc cpio) for the VM tests.
#   mkinitramfs.sh OUT.cpio.gz INIT [SRC[:DEST] ...]
# INIT becomes /init (run by busybox sh).  Each SRC is copied to /basename
# or to DEST; a directory SRC is copied whole.
set -euo pipefail
(($# >= 2)) || { sed -n '3,6p' "$0"; exit 2; }
out="$1" init="$2"
shift 2
BUSYBOX="${BUSYBOX:-/bin/busybox}"
[[ -x $BUSYBOX ]] || { echo "mkinitramfs: $BUSYBOX missing: apt-get install busybox-static" >&2; exit 1; }
# grep without -q: under pipefail, grep -q leaving at the first match
# made busybox's next write fail with SIGPIPE, and the check with it
if ! "$BUSYBOX" --list | grep -x sh >/dev/null || ldd "$BUSYBOX" >/dev/null 2>&1; then
	echo "mkinitramfs: $BUSYBOX is not a static busybox: apt-get install busybox-static" >&2
	exit 1
fi

stage=$(mktemp -d "${TMPDIR:-/var/tmp}/gfibers-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"	# mktemp makes it 0700: / must be searchable by nobody
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,root,etc,usr/bin,usr/sbin}
cp "$BUSYBOX" "$stage/bin/busybox"
for a in $("$BUSYBOX" --list); do
	[[ $a == busybox ]] || ln -sf busybox "$stage/bin/$a"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$stage/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> "$stage/etc/passwd"
echo 'root:x:0:' > "$stage/etc/group"
echo 'nogroup:x:65534:' >> "$stage/etc/group"
install -m 755 "$init" "$stage/init"
for f in "$@"; do
	src=${f%%:*} dst=/$(basename "$src")
	[[ $f == *:* ]] && dst=${f#*:}
	mkdir -p "$stage$(dirname "$dst")"
	cp -rL "$src" "$stage$dst"
done
(cd "$stage" && find . -print0 | cpio --null -o -H newc --owner=0:0 --quiet) |
	gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
