#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Print the name of every function include/gfiber.h declares GF_API, one a
# line, sorted: the API the man pages must document (check-man.sh) and the
# shared library must export (check-install.sh). A declaration starts a line
# with GF_API and names its function before the first '(' that is not an
# __attribute__'s.
#   scripts/gf-api.sh [HEADER]
perl -ne 'next unless /^GF_API\b/;
	s/__attribute__\s*\(\(.*?\)\)//g;
	print "$1\n" if /(\w+)\s*\(/' "${1:-$(dirname "$0")/../include/gfiber.h}" | sort -u
