#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Print the release of the newest installed Debian kernel of a series whose
# image and headers are both installed, e.g.  kernels.sh 6.1 -> 6.1.0-56-amd64
# Prints nothing (exit 1) when there is none: run `make deps`.
series="$1"
best=
for img in /boot/vmlinuz-"$series".*-amd64; do
	[ -e "$img" ] || continue
	rel=${img#/boot/vmlinuz-}
	[ -d "/usr/src/linux-headers-$rel" ] || continue
	best=$(printf '%s\n%s\n' "$best" "$rel" | sed '/^$/d' | sort -V | tail -n 1)
done
[ -n "$best" ] || exit 1
echo "$best"
