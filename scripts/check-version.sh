#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The version is written once, in include/gfibers_version.h; the files that
# must repeat it literally (DKMS reads dkms.conf as it is, Debian reads
# debian/changelog, the man pages' headers) agree with it. TAP on stdout;
# exit 1 when one does not.
set -uo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^#define GFIBERS_VERSION "\(.*\)"$/\1/p' include/gfibers_version.h)
. scripts/tap.sh
echo "TAP version 13"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]
tap_status $? "include/gfibers_version.h: MAJOR.MINOR.PATCH ($version)"
[[ $(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf) == "$version" ]]
tap_status $? "dkms.conf: PACKAGE_VERSION $version"
deb=$(sed -n '1s/^gfibers (\([^)]*\)).*/\1/p' debian/changelog)
[[ ${deb%%-*} == "$version" ]]
tap_status $? "debian/changelog: version $version"
bad=$(grep -L "^\.TH .* \"gfibers $version\"" $(grep -L '^\.so ' man/man*/*.[0-9]))
[[ -z $bad ]]
tap_status $? "man pages: .TH names gfibers $version${bad:+ (not: $bad)}"
tap_end
