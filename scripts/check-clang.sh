#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check-clang`: the library, the host tests and the tools built with
# clang (-Wall -Wextra -Werror, as with gcc) into build/clang, then the
# plain host tests run. TAP on stdout (selftests/run_tests.sh's), the
# build's own step first. Installs clang when root and missing.
#   scripts/check-clang.sh [TEST ...]
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh clang >&2 || {
	printf 'TAP version 13\n1..1\nnot ok 1 %s: packages missing (scripts/deps.sh)\n' "$(basename "$0")"
	exit 1
}
B=build/clang
if ! make --no-print-directory -s -j"$(nproc)" CC=clang B="$B" lib tests tools >&2; then
	printf 'TAP version 13\n1..1\nnot ok 1 clang: build lib, tests and tools\n'
	exit 1
fi
exec selftests/run_tests.sh host-clang "$B/tests" "$@"
