#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# dkms.conf at work: `dkms add` of the module's sources (Kbuild, kmod/,
# include/, dkms.conf, copied as the gfibers-dkms package ships them), then
# `dkms build -k KERNEL` for each Debian kernel whose headers are installed
# (6.1 and 6.12: scripts/kernels.sh), and, as root, `dkms install` into a
# scratch install tree (no depmod). Everything lives under
# build/dkms-test (--sourcetree, --dkmstree, --installtree): the system's
# DKMS state is not touched. TAP on stdout; exit 1 when a test failed.
#   scripts/check-dkms.sh [SERIES ...]      default: 6.1 6.12
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh dkms >&2 || {
	printf 'TAP version 13\n1..1\nnot ok 1 %s: packages missing (scripts/deps.sh)\n' "$(basename "$0")"
	exit 1
}
top=$PWD
work=$top/build/dkms-test
version=$(sed -n 's/^#define GFIBERS_VERSION "\(.*\)"$/\1/p' include/gfibers_version.h)
rm -rf "$work"
mkdir -p "$work/src/gfibers-$version" "$work/tree" "$work/install"
trees=(--sourcetree "$work/src" --dkmstree "$work/tree" --installtree "$work/install")

n=0 failed=0
t() {	# t NAME COMMAND...: one TAP line for the command's exit status
	local name=$1
	shift
	n=$((n + 1))
	if "$@" >"$work/log" 2>&1; then
		echo "ok $n $name"
	else
		echo "not ok $n $name"
		failed=$((failed + 1))
		sed 's/^/# /' "$work/log" | tail -n 30
	fi
}

echo "TAP version 13"
rsync -a --exclude='*.o' --exclude='*.ko' --exclude='*.mod*' --exclude='.*.cmd' \
	--exclude='*.order' --exclude=Module.symvers \
	Kbuild kmod include dkms.conf "$work/src/gfibers-$version/"
t "dkms add gfibers/$version" dkms add "${trees[@]}" "gfibers/$version"

for series in "${@:-6.1 6.12}"; do
	for s in $series; do
		if ! kver=$(scripts/kernels.sh "$s"); then
			n=$((n + 1))
			echo "not ok $n dkms build: no Debian $s kernel with headers (make deps)"
			failed=$((failed + 1))
			continue
		fi
		t "dkms build -k $kver" dkms build "${trees[@]}" -k "$kver" "gfibers/$version"
		ko=$(find "$work/tree/gfibers/$version/$kver" -name 'gfibers.ko*' | head -n 1)
		check_ko() {
			[[ -n $ko ]] &&
			modinfo -F vermagic "$ko" | grep "^$kver " >/dev/null &&
			[[ $(modinfo -F version "$ko") == "$version" ]] &&
			[[ $(modinfo -F license "$ko") == GPL ]]
		}
		t "$kver: gfibers.ko, vermagic $kver, version $version, license GPL" check_ko
		if [[ $(id -u) == 0 ]]; then
			mkdir -p "$work/install/$kver"
			installed() {
				dkms install "${trees[@]}" --no-depmod -k "$kver" "gfibers/$version" &&
				find "$work/install/$kver/updates/dkms" -name 'gfibers.ko*' | grep . >/dev/null
			}
			t "dkms install -k $kver (scratch install tree, --no-depmod)" installed
		fi
	done
done
t "dkms status lists gfibers/$version" \
	bash -c "dkms status --dkmstree '$work/tree' --sourcetree '$work/src' | grep '^gfibers/$version' >/dev/null"

echo "1..$n"
((failed == 0))
