#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The licensing of LICENSE, file by file: every tracked source file names
# its license in an SPDX line at its top (line 1, or 2 after a #!), the one
# its directory is under: the module GPL-2.0 (and MODULE_LICENSE("GPL")),
# the ABI header GPL-2.0 WITH Linux-syscall-note, the library, its public
# headers, tools, examples and benchmarks MIT, the rest GPL-2.0; and every
# identifier used has its text in LICENSES/. TAP on stdout; exit 1 when a
# test failed.
set -uo pipefail
cd "$(dirname "$0")/.."
. "$(dirname "$0")/tap.sh"

# The license a path must name; empty: a file without an SPDX line (texts,
# documents, data, Debian's control files, one-line .so man pages).
want() {
	case $1 in
	LICENSE|LICENSES/*|*.md|.gitignore) ;;
	debian/rules) echo GPL-2.0 ;;
	debian/*) ;;
	selftests/gfibers/config|selftests/gfibers/settings) ;;
	include/uapi/*) echo "GPL-2.0 WITH Linux-syscall-note" ;;
	include/gfiber.h|include/gfibers_names.h|include/gfibers_version.h) echo MIT ;;
	ulib/tests/*) echo GPL-2.0 ;;
	ulib/*|tools/*|examples/*|bench/*|gfiber.pc.in|scripts/pkgtest/*) echo MIT ;;
	man/man4/*) echo GPL-2.0 ;;
	man/*) echo MIT ;;
	*) echo GPL-2.0 ;;
	esac
}

echo "TAP version 13"
bad=
used=
while read -r f; do
	[[ -f $f ]] || continue
	w=$(want "$f")
	if [[ $f == man/* && $(head -c 4 "$f") == ".so " ]]; then
		w=
	fi
	got=$(head -n 2 "$f" | sed -n 's/.*SPDX-License-Identifier: \(.*\)$/\1/p' |
	      sed 's/ *\*\/$//' | head -n 1)
	if [[ -z $w ]]; then
		continue
	elif [[ -z $got ]]; then
		bad+="$f: no SPDX line (want $w)"$'\n'
	elif [[ $got != "$w" ]]; then
		bad+="$f: $got, want $w"$'\n'
	fi
	[[ -n $got ]] && used+="$got"$'\n'
done < <(git ls-files --cached --others --exclude-standard)
[[ -z $bad ]]
tap_status $? "every file's SPDX line names the license of its part (LICENSE)" "$bad"

missing=
while read -r id; do
	[[ -z $id ]] && continue
	lic=${id%% WITH *}
	[[ -f LICENSES/preferred/$lic ]] || missing+="$id: no LICENSES/preferred/$lic"$'\n'
	if [[ $id == *" WITH "* ]]; then
		exc=${id#* WITH }
		[[ -f LICENSES/exceptions/$exc ]] || missing+="$id: no LICENSES/exceptions/$exc"$'\n'
	fi
done < <(sort -u <<< "$used")
[[ -z $missing ]]
tap_status $? "every license named has its text in LICENSES/" "$missing"

grep -qx 'MODULE_LICENSE("GPL");' kmod/main.c
tap_status $? 'kmod/main.c: MODULE_LICENSE("GPL")'

tap_end
