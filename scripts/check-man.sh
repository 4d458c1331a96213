#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The man pages (man/): every page `mandoc -T lint` clean (style included),
# every link page a single `.so` line to a page that exists, every GF_API
# function of include/gfiber.h documented (a page or a link of its name,
# and its name in that page's NAME section), each page's SYNOPSIS
# declaring its functions exactly as gfiber.h does, every errno gfiber.h
# gives a function in its page's ERRORS, no page naming a function that
# is gone, a page per tool with every option the tool parses. TAP on
# stdout; exit 1 when one failed.
# Installs mandoc when root and missing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
scripts/deps.sh mandoc >&2 || {
	printf 'TAP version 13\n1..1\nnot ok 1 %s: packages missing (scripts/deps.sh)\n' "$(basename "$0")"
	exit 1
}

. "$(dirname "$0")/tap.sh"

is_link() { [[ $(head -c 4 "$1") == ".so " ]]; }

# The names a page documents: its NAME section, before the \-.
names_of() {
	awk '/^\.SH NAME/ { f = 1; next } /^\.SH/ { f = 0 } f' "$1" |
		sed 's/\\-.*//; s/\\//g' | tr ',' '\n' | tr -d ' ' | sed '/^$/d'
}

echo "TAP version 13"
full=() links=()
for p in man/man*/*.[0-9]; do
	if is_link "$p"; then links+=("$p"); else full+=("$p"); fi
done

for p in "${full[@]}"; do
	out=$(mandoc -T lint -W style "$p" 2>&1)
	tap_status $? "mandoc -T lint $p" "$out"
done

# mandoc calls .so fragile: dh_installman makes the links symlinks, and
# man-db follows a first-line .so; what is checked is that they point right.
bad=
for p in "${links[@]}"; do
	target=$(sed -n '1s/^\.so \(man[0-9]\/[^ ]*\.[0-9]\)$/\1/p' "$p")
	name=$(basename "$p"); name=${name%.*}
	if [[ $(wc -l < "$p") != 1 || -z $target || ! -f man/$target ]] || is_link "man/$target"; then
		bad+="$p: not one '.so manN/PAGE.N' line to a full page"$'\n'
	elif ! names_of "man/$target" | grep -x "$name" >/dev/null; then
		bad+="$p: $name not in the NAME section of $target"$'\n'
	fi
done
[[ -z $bad ]]
tap_status $? "link pages: ${#links[@]} single .so lines to full pages naming them" "$bad"

missing=
while read -r f; do
	p=man/man3/$f.3
	if [[ ! -f $p ]]; then
		missing+="$f: no man/man3/$f.3"$'\n'
	elif ! is_link "$p" && ! names_of "$p" | grep -x "$f" >/dev/null; then
		missing+="$f: not in the NAME section of $p"$'\n'
	fi
done < <(scripts/gf-api.sh)
[[ -z $missing ]]
tap_status $? "every GF_API function of include/gfiber.h has a man page" "$missing"

# The SYNOPSIS of each function's page declares it exactly as gfiber.h
# does (return type, qualifiers, parameter types and names; spacing
# aside): a type changed in the header (void -> int) shows here.
protos() {	# protos: "name<TAB>normalised declaration" of include/gfiber.h
	perl -0777 -ne 's{/\*.*?\*/}{}gs;
		while (/^GF_API\s+([^;]*?\;)/mg) {
			my $d = $1; $d =~ s/\s+/ /g;
			(my $t = $d) =~ s/__attribute__\s*\(\(.*?\)\)//g;
			$t =~ /(\w+)\s*\(/ and print "$1\t$d\n";
		}' include/gfiber.h
}
synopsis() {	# synopsis PAGE: the declarations of its SYNOPSIS, one a line
	perl -ne 'BEGIN { $in = 0 }
		$in = 1, next if /^\.SH SYNOPSIS/;
		last if $in && /^\.SH/;
		next unless $in;
		$_ = $prev . $_, $prev = "" if defined $prev && $prev ne "";
		if (s/\\\n$//) { $prev = $_; next }
		next unless s/^\.(B|BI|BR|IB|RB|I)\s+//;
		my $alt = $1 ne "B" && $1 ne "I";
		my @a; push @a, defined $1 ? $1 : $2 while /"([^"]*)"|(\S+)/g;
		my $l = join($alt ? "" : " ", @a);
		$l =~ s/\\f[BIRP]//g; $l =~ s/\\-/-/g; $l =~ s/\\&//g;
		$acc .= " " . $l;
		if ($acc =~ /;\s*$/) { ($d = $acc) =~ s/\s+/ /g; $d =~ s/^ //;
			print "$d\n"; $acc = "" }
		elsif ($acc !~ /\(/) { $acc = "" }' "$1"
}
norm() { sed 's/ *\([(),*]\) */\1/g; s/  */ /g; s/^ //; s/ $//'; }
mismatch=
while IFS=$'\t' read -r f decl; do
	p=man/man3/$f.3
	[[ -f $p ]] || continue
	if is_link "$p"; then p=man/$(sed -n '1s/^\.so //p' "$p"); fi
	want=$(norm <<< "$decl")
	got=$(synopsis "$p" | norm | grep -E "[ *]$f\(" )
	if [[ -z $got ]]; then
		mismatch+="$f: no declaration in the SYNOPSIS of $p"$'\n'
	elif ! grep -qxF -- "$want" <<< "$got"; then
		mismatch+="$f: $p has '$got', gfiber.h '$want'"$'\n'
	fi
done < <(protos)
[[ -z $mismatch ]]
tap_status $? "every SYNOPSIS declaration is gfiber.h's" "$mismatch"

# Every errno name gfiber.h's comments give for a function (the comments
# between the declaration before and its own; the file's conventions at
# the top are not a function's) is in the ERRORS section of its page: an
# error row added to the header and not to the page shows.
errnos() {	# errnos: "name<TAB>ERRNO ERRNO..." of include/gfiber.h
	perl -MErrno -0777 -ne 'my $from = index($_, "#define GF_API");
		while (/^GF_API\s+[^;]*?;/mg) {
			my ($end, $d) = (pos, $&);
			my $text = substr($_, $from, $end - length($d) - $from);
			$from = $end;
			my %e; $e{$_} = 1 for grep { exists $!{$_} }
				join(" ", $text =~ m{/\*(.*?)\*/}gs) =~ /\b(E[A-Z0-9]+)\b/g;
			$d =~ s/__attribute__\s*\(\(.*?\)\)//g;
			$d =~ /(\w+)\s*\(/ and print "$1\t", join(" ", sort keys %e), "\n";
		}' include/gfiber.h
}
errors_of() { awk '/^\.SH ERRORS/ { f = 1; next } /^\.SH/ { f = 0 } f' "$1"; }
noerr=
while IFS=$'\t' read -r f list; do
	p=man/man3/$f.3
	[[ -f $p && -n $list ]] || continue
	if is_link "$p"; then p=man/$(sed -n '1s/^\.so //p' "$p"); fi
	for e in $list; do
		# no -q: under pipefail, awk's next write would fail
		errors_of "$p" | grep -w -- "$e" >/dev/null ||
			noerr+="$f: $e (gfiber.h) not in the ERRORS of $p"$'\n'
	done
done < <(errnos)
[[ -z $noerr ]]
tap_status $? "every errno gfiber.h gives a function is in its page's ERRORS" "$noerr"

# Names in NAME sections that are neither GF_API functions nor macros of
# gfiber.h (nor the overview's own name): documentation of something gone.
api=$(scripts/gf-api.sh; sed -n 's/^#define \(gf_[a-z_]*\)(.*/\1/p' include/gfiber.h; echo gfiber)
stale=
for p in man/man3/*.3; do
	is_link "$p" && continue
	while read -r f; do
		grep -qx "$f" <<< "$api" || stale+="$p: $f is not in include/gfiber.h"$'\n'
	done < <(names_of "$p")
done
[[ -z $stale ]]
tap_status $? "every function a man page names is in include/gfiber.h" "$stale"

nopage=
for t in tools/*.c; do
	t=$(basename "$t" .c)
	[[ -f man/man1/$t.1 ]] || nopage+="$t: no man/man1/$t.1"$'\n'
done
[[ -z $nopage ]]
tap_status $? "every tool has a man page" "$nopage"

# Every option a tool parses (getopt_long's struct option names and short
# letters) is in the OPTIONS of its page.
noopt=
for t in tools/*.c; do
	p=man/man1/$(basename "$t" .c).1
	[[ -f $p ]] || continue
	opts=$(awk '/^\.SH OPTIONS/ { f = 1; next } /^\.SH/ { f = 0 } f' "$p")
	# shellcheck disable=SC2013 # option names are words
	for o in $(sed -n 's/^[[:space:]]*{ *"\([a-z0-9-]*\)", *[a-z_]*_argument.*/\1/p' "$t"); do
		grep -qF -- "\\-\\-${o//-/\\-}" <<< "$opts" ||
			noopt+="$p: no --$o in OPTIONS"$'\n'
	done
	for o in $(sed -n 's/.*getopt_long([^"]*"\([^"]*\)".*/\1/p' "$t" | tr -d ':' | fold -w1); do
		grep -qE -- "\\\\-$o\\b" <<< "$opts" ||
			noopt+="$p: no -$o in OPTIONS"$'\n'
	done
done
[[ -z $noopt ]]
tap_status $? "every option of a tool is in its page's OPTIONS" "$noopt"

[[ -f man/man4/gfibers.4 ]]
tap_status $? "gfibers(4) for /dev/gfibers and /proc/gfibers"

tap_end
