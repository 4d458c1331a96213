# SPDX-License-Identifier: MIT
#
# bench/table.awk - the markdown table of bench/run.sh: for each
# measurement (workload, procs, unit) one row per pair (implementation,
# its peer) with both medians, min-max, the ratio implementation/peer and
# the design goal where the issue sets one.
#
# Input: results.tsv (workload impl procs median min max unit), then
# status.tsv (workload impl procs unit text: "not available: ..." or
# "failed: ..."). -v reg=TEXT says how gfibers-reg was registered.

function num(v) {
	if (v >= 100)
		return sprintf("%.0f", v)
	if (v >= 10)
		return sprintf("%.1f", v)
	return sprintf("%.2f", v)
}

function cell(g, i) {
	if ((g, i) in txt)
		return txt[g, i]
	if (mn[g, i] == mx[g, i])
		return num(med[g, i])
	return num(med[g, i]) " (" num(mn[g, i]) "-" num(mx[g, i]) ")"
}

function label(i) {
	return i == "gfibers-reg" ? i " (" reg ")" : i
}

# The goal of subject s against peer p in group g, with its verdict.
function goal(g, w, s, p, r,    lim, t) {
	lim = ""
	if (s == "gfibers" && p == "go" && (w == "pingpong" || w == "spawn"))
		lim = 0.25
	else if (s == "gfibers" && p == "go" && w == "yield")
		lim = 0.3
	else if (s == "gfibers" && p == "go" && w == "timers")
		lim = 0.5
	else if (s == "gfibers" && p == "boost" && w == "switch")
		lim = 1.0
	else if (s == "gfibers" && p == "go" && w == "gfps_100k")
		lim = 1.0
	else if (s == "gfibers-reg" && p == "gfibers")
		lim = 1.05
	if (lim != "") {
		t = "<= " sprintf("%.2f", lim) "x"
		if (r != "")
			t = t (r <= lim ? " met" : " **missed**")
		return t
	}
	if (s == "gfibers" && w ~ /^rss_parked/ && u[g] ~ /^bytes/) {
		t = "<= 4608 B"
		if (!((g, s) in txt))
			t = t (med[g, s] <= 4608 ? " met" : " **missed**")
		return t
	}
	if (s == "gfibers" && w == "rss_after_exit_1m") {
		t = "<= 110 %"
		if (!((g, s) in txt))
			t = t (med[g, s] <= 110 ? " met" : " **missed**")
		return t
	}
	return ""
}

function row(g, s, p,    r, w) {
	w = wl[g]
	r = ""
	if (!((g, s) in txt) && !((g, p) in txt) && med[g, p] > 0)
		r = med[g, s] / med[g, p]
	printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w, pr[g],
	    u[g], label(s), cell(g, s), p == "" ? "-" : label(p),
	    p == "" ? "-" : cell(g, p), r == "" ? "-" : sprintf("%.2fx", r),
	    goal(g, w, s, p, r)
}

function group(w, p, unit,    g) {
	g = w SUBSEP p SUBSEP unit
	if (!(g in seen)) {
		seen[g] = 1
		order[++ng] = g
		wl[g] = w
		pr[g] = p
		u[g] = unit
	}
	return g
}

BEGIN {
	peers["gfibers"] = "go boost limit"
	peers["gfibers-reg"] = "gfibers"
	peers["gfibers-proc"] = "linux-taskstat"
	nsubj = split("gfibers gfibers-reg gfibers-proc", subj, " ")
}

NF == 7 && FILENAME !~ /status/ {
	g = group($1, $3, $7)
	has[g, $2] = 1
	med[g, $2] = $4
	mn[g, $2] = $5
	mx[g, $2] = $6
	impls[g] = impls[g] " " $2
	next
}

NF >= 5 {
	g = group($1, $3, $4)
	has[g, $2] = 1
	txt[g, $2] = $5
	impls[g] = impls[g] " " $2
}

END {
	print "| workload | procs | unit | impl | median (min-max) | peer | peer median (min-max) | impl/peer | goal |"
	print "|---|---|---|---|---|---|---|---|---|"
	for (k = 1; k <= ng; k++) {
		g = order[k]
		rows = 0
		for (a = 1; a <= nsubj; a++) {
			s = subj[a]
			if (!((g, s) in has))
				continue
			np = split(peers[s], pl, " ")
			for (b = 1; b <= np; b++)
				if ((g, pl[b]) in has) {
					row(g, s, pl[b])
					rows++
				}
		}
		if (rows)
			continue
		ni = split(impls[g], il, " ")
		for (b = 1; b <= ni; b++)
			row(g, il[b], "")
	}
}
