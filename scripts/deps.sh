#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install what the build and the VM tests need, only when missing.
#   scripts/deps.sh [extra-package ...]
# Packages: qemu-system-x86, the 6.1 and 6.12 Debian kernels with their
# headers (each image with the headers of the same version), busybox-static,
# cpio, linux-source-6.1 (kselftest headers and checkpatch.pl come from it),
# libdw-dev and libbz2-dev (tools/gfps, linked statically with elfutils),
# systemtap-sdt-dev (<sys/sdt.h>: the library's USDT probes), gdb and
# bpftrace (tools/gdb/test.sh).
# curl, wrk, python3 and binutils (the example servers' tests).
# Not root and something missing: says which apt-get command to run, exits 1.
set -euo pipefail

pkgs=(qemu-system-x86 linux-image-amd64 linux-headers-amd64
      linux-image-6.12-amd64 linux-headers-6.12-amd64
      busybox-static cpio gzip rsync bc linux-source-6.1 make gcc libc6-dev libdw-dev libbz2-dev
      systemtap-sdt-dev gdb bpftrace curl wrk python3 binutils
      "$@")

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${pkgs[@]}"; do
	installed "$p" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) != 0 ]]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
