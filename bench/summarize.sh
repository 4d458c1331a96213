#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/summarize.sh DIR REG-KIND - turn the runs recorded in DIR into
# DIR/results.tsv and DIR/table.md (printed too). Shared by bench/run.sh
# (host) and bench/vm-bench.sh (VM).
#
# Reads DIR/samples.tsv (workload impl procs run value unit, one line per
# run), DIR/callgrind.tsv (already in results form, optional) and
# DIR/status.tsv (workload impl procs unit text: skipped or failed).
# REG-KIND says how gfibers-reg was registered ("host-fake table", ...).
dir=$1
reg=$2
here=$(dirname "$0")

# results.tsv: median, min and max of each measurement's runs, in the
# order of first appearance, then the callgrind rows.
awk -F'\t' '
function fmt(v) { return sprintf("%.3f", v) }
{
	k = $1 "\t" $2 "\t" $3
	if (!(k in n)) { order[++nk] = k; unit[k] = $6 }
	v[k, ++n[k]] = $5 + 0
}
END {
	for (j = 1; j <= nk; j++) {
		k = order[j]; m = n[k]
		for (a = 1; a <= m; a++) s[a] = v[k, a]
		for (a = 2; a <= m; a++)	# insertion sort, m is small
			for (b = a; b > 1 && s[b - 1] > s[b]; b--) {
				t = s[b]; s[b] = s[b - 1]; s[b - 1] = t
			}
		med = m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
		print k "\t" fmt(med) "\t" fmt(s[1]) "\t" fmt(s[m]) "\t" unit[k]
	}
}' "$dir/samples.tsv" >"$dir/results.tsv"
[ ! -f "$dir/callgrind.tsv" ] || cat "$dir/callgrind.tsv" >>"$dir/results.tsv"
touch "$dir/status.tsv"

awk -F'\t' -v reg="$reg" -f "$here/table.awk" \
	"$dir/results.tsv" "$dir/status.tsv" >"$dir/table.md"
cat "$dir/table.md"
