// SPDX-License-Identifier: MIT
/*
 * input.c - gfps's reading of /proc/gfibers: every line checked (a bad
 * one is an error naming its line number, never a guess), filters, and
 * grouping with a hash table, so a million fibers group in about the time
 * it takes to read them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "input.h"

/*
 * The columns of format 2; format 1 (modules before the seq column) has
 * the first 14 alone: a new column is appended, the others keep their
 * numbers.
 */
enum { C_WAIT_MS = 5, C_ADDRS = 6, C_COMM = 12, C_REASON = 13, C_SEQ = 14 };

static const char *const colnames[GFPS_NCOLS] = {
	"pid", "fiber", "parent", "tid", "status", "wait_ms", "wait_obj",
	"wait_pc", "create_pc", "saved_pc", "saved_sp", "saved_fp", "comm",
	"reason", "seq",
};

/* The number of columns of format version. */
static int ncols(int version)
{
	return version == 1 ? GFPS_NCOLS - 1 : GFPS_NCOLS;
}

long gfps_parse_duration(const char *s)
{
	char *end;
	double v;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s)
		return -1;
	if (!strcmp(end, "") || !strcmp(end, "ms"))
		;
	else if (!strcmp(end, "s"))
		v *= 1000;
	else if (!strcmp(end, "m"))
		v *= 60 * 1000;
	else if (!strcmp(end, "h"))
		v *= 3600 * 1000;
	else
		return -1;
	if (v < 0 || v > (double)LONG_MAX / 2)
		return -1;
	return (long)v;
}

static int dec(const char *s, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int udec(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static int hex(const char *s, uint64_t *out)
{
	char *end;

	if (s[0] != '0' || s[1] != 'x' || !s[2])
		return -1;
	errno = 0;
	*out = strtoull(s + 2, &end, 16);
	return errno || *end ? -1 : 0;
}

int gfps_parse_line(char *line, int version, struct gfps_fiber *f,
		    char *err, size_t errlen)
{
	const int want = ncols(version);
	char *c[GFPS_NCOLS];
	int n = 0, i;
	char *p = line;
	uint64_t u;

	for (;;) {
		char *tab = strchr(p, '\t');

		if (n == want) {
			snprintf(err, errlen, "more than %d tab-separated fields",
				 want);
			return -1;
		}
		c[n++] = p;
		if (!tab)
			break;
		*tab = 0;
		p = tab + 1;
	}
	if (n != want) {
		snprintf(err, errlen, "%d tab-separated fields, expected %d",
			 n, want);
		return -1;
	}
	memset(f, 0, sizeof(*f));
	if (dec(c[0], &f->pid) || f->pid <= 0) {
		snprintf(err, errlen, "bad pid '%s'", c[0]);
		return -1;
	}
	f->status = c[4];
	f->comm = c[C_COMM];
	f->reason = c[C_REASON];
	if (!strcmp(c[4], "torn")) {
		/* pid - - - torn - ... comm - (-): nothing else is known */
		for (i = 1; i < want; i++)
			if (i != 4 && i != C_COMM && strcmp(c[i], "-")) {
				snprintf(err, errlen, "torn line with field %d (%s) '%s', expected '-'",
					 i + 1, colnames[i], c[i]);
				return -1;
			}
		f->torn = true;
		f->wait_ms = -1;
		return 0;
	}
	if (udec(c[1], &f->id) || !f->id) {
		snprintf(err, errlen, "bad fiber id '%s'", c[1]);
		return -1;
	}
	if (udec(c[2], &f->parent)) {
		snprintf(err, errlen, "bad parent '%s'", c[2]);
		return -1;
	}
	if (udec(c[3], &u) || u > INT_MAX) {
		snprintf(err, errlen, "bad tid '%s'", c[3]);
		return -1;
	}
	f->tid = (long)u;
	if (!*c[4]) {
		snprintf(err, errlen, "empty status");
		return -1;
	}
	if (!strcmp(c[C_WAIT_MS], "-"))
		f->wait_ms = -1;
	else if (dec(c[C_WAIT_MS], &f->wait_ms)) {
		snprintf(err, errlen, "bad wait_ms '%s'", c[C_WAIT_MS]);
		return -1;
	}
	uint64_t *addr[] = { &f->wait_obj, &f->wait_pc, &f->create_pc,
			     &f->saved_pc, &f->saved_sp, &f->saved_fp };
	for (i = 0; i < 6; i++)
		if (hex(c[C_ADDRS + i], addr[i])) {
			snprintf(err, errlen, "bad %s '%s', expected 0x<hex>",
				 colnames[C_ADDRS + i], c[C_ADDRS + i]);
			return -1;
		}
	/* "-": hidden from this reader, as the addresses are */
	if (version >= 2 && strcmp(c[C_SEQ], "-")) {
		if (udec(c[C_SEQ], &u) || u > UINT32_MAX) {
			snprintf(err, errlen, "bad seq '%s'", c[C_SEQ]);
			return -1;
		}
		f->seq = (uint32_t)u;
		f->has_seq = true;
	}
	if (!*f->reason) {
		snprintf(err, errlen, "empty reason");
		return -1;
	}
	return 0;
}

bool gfps_filter_match(const struct gfps_filter *flt, const struct gfps_fiber *f)
{
	size_t i;

	if (flt->npids) {
		for (i = 0; i < flt->npids; i++)
			if (flt->pids[i] == f->pid)
				break;
		if (i == flt->npids)
			return false;
	}
	if (flt->comm && strcmp(flt->comm, f->comm))
		return false;
	if (flt->status && strcmp(flt->status, f->status))
		return false;
	if (flt->leaked && strcmp(f->status, "leaked"))
		return false;
	if (flt->reason && strcmp(flt->reason, f->reason))
		return false;
	if (flt->min_wait_ms && f->wait_ms < flt->min_wait_ms)
		return false;
	return true;
}

/* FNV-1a, then a final mix: keys differ mostly in a few address bits. */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ULL;
	return h;
}

static uint64_t key_hash(const struct gfps_set *set, const struct gfps_fiber *f)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = mix(h, &f->pid, sizeof(f->pid));
	h = mix(h, f->status, strlen(f->status) + 1);
	h = mix(h, f->reason, strlen(f->reason) + 1);
	h = mix(h, &f->wait_pc, sizeof(f->wait_pc));
	h = mix(h, &f->create_pc, sizeof(f->create_pc));
	if (set->per_fiber)
		h = mix(h, &f->id, sizeof(f->id));
	h ^= h >> 31;
	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

static bool key_eq(const struct gfps_set *set, const struct gfps_group *g,
		   const struct gfps_fiber *f)
{
	return g->pid == f->pid && g->wait_pc == f->wait_pc &&
	       g->create_pc == f->create_pc &&
	       (!set->per_fiber || g->sample.id == f->id) &&
	       !strcmp(g->status, f->status) && !strcmp(g->reason, f->reason);
}

static int grow_index(struct gfps_set *set)
{
	size_t cap = set->indexcap ? 2 * set->indexcap : 1024, i;
	uint32_t *idx = calloc(cap, sizeof(*idx));

	if (!idx)
		return -1;
	for (i = 0; i < set->ngroups; i++) {
		size_t s = set->groups[i].hash & (cap - 1);

		while (idx[s])
			s = (s + 1) & (cap - 1);
		idx[s] = (uint32_t)(i + 1);
	}
	free(set->index);
	set->index = idx;
	set->indexcap = cap;
	return 0;
}

static void take_sample(struct gfps_group *g, const struct gfps_fiber *f)
{
	g->sample = *f;
	g->sample.status = g->status;
	g->sample.reason = g->reason;
	g->sample.comm = g->comm;
}

int gfps_add(struct gfps_set *set, const struct gfps_fiber *f)
{
	uint64_t h = key_hash(set, f);
	struct gfps_group *g;
	size_t s;

	if (2 * (set->ngroups + 1) > set->indexcap && grow_index(set))
		return -1;
	for (s = h & (set->indexcap - 1); set->index[s];
	     s = (s + 1) & (set->indexcap - 1)) {
		g = &set->groups[set->index[s] - 1];
		if (g->hash == h && key_eq(set, g, f)) {
			g->count++;
			if (f->wait_ms > g->oldest_ms) {
				g->oldest_ms = f->wait_ms;
				take_sample(g, f);
			}
			return 0;
		}
	}
	if (set->ngroups == UINT32_MAX - 1)
		return errno = EOVERFLOW, -1;
	if (set->ngroups == set->capgroups) {
		size_t cap = set->capgroups ? 2 * set->capgroups : 64;
		struct gfps_group *ng = realloc(set->groups, cap * sizeof(*ng));

		if (!ng)
			return -1;
		set->groups = ng;
		set->capgroups = cap;
	}
	g = &set->groups[set->ngroups];
	memset(g, 0, sizeof(*g));
	g->pid = f->pid;
	g->comm = strdup(f->comm);
	g->status = strdup(f->status);
	g->reason = strdup(f->reason);
	if (!g->comm || !g->status || !g->reason) {
		free(g->comm);
		free(g->status);
		free(g->reason);
		return -1;
	}
	g->wait_pc = f->wait_pc;
	g->create_pc = f->create_pc;
	g->count = 1;
	g->oldest_ms = f->wait_ms;
	g->hash = h;
	take_sample(g, f);
	set->index[s] = (uint32_t)(++set->ngroups);
	return 0;
}

struct gfps_group *gfps_find(const struct gfps_set *set, const struct gfps_fiber *f)
{
	uint64_t h = key_hash(set, f);
	size_t s;

	if (!set->indexcap)
		return NULL;
	for (s = h & (set->indexcap - 1); set->index[s];
	     s = (s + 1) & (set->indexcap - 1)) {
		struct gfps_group *g = &set->groups[set->index[s] - 1];

		if (g->hash == h && key_eq(set, g, f))
			return g;
	}
	return NULL;
}

int gfps_read(FILE *in, const char *name, const struct gfps_filter *flt,
	      struct gfps_set *set, char *err, size_t errlen)
{
	char *line = NULL, why[160];
	size_t cap = 0;
	long lineno = 0;
	bool columns = false;
	ssize_t len;
	int ret = -1;

	set->version = 0;
	while ((len = getline(&line, &cap, in)) > 0) {
		struct gfps_fiber f;

		lineno++;
		if (line[len - 1] == '\n')
			line[--len] = 0;
		if (memchr(line, 0, (size_t)len)) {
			snprintf(err, errlen, "gfps: %s:%ld: NUL byte in line", name, lineno);
			goto out;
		}
		if (lineno == 1) {
			char *end;

			if (strncmp(line, "# gfibers ", 10)) {
				snprintf(err, errlen, "gfps: %s:1: not /proc/gfibers output (no '# gfibers N' line)",
					 name);
				goto out;
			}
			set->version = (int)strtol(line + 10, &end, 10);
			if (*end || set->version < 1 || set->version > 2) {
				snprintf(err, errlen, "gfps: %s:1: format '%s' not known (this gfps reads '# gfibers 1' and '# gfibers 2')",
					 name, line + 10);
				goto out;
			}
			continue;
		}
		if (line[0] == '#') {
			char expect[256] = "# ";
			int i;

			for (i = 0; i < ncols(set->version); i++) {
				strcat(expect, colnames[i]);
				if (i + 1 < ncols(set->version))
					strcat(expect, "\t");
			}
			if (lineno != 2 || strcmp(line, expect)) {
				snprintf(err, errlen, "gfps: %s:%ld: unexpected header line (expected the column names of format %d on line 2)",
					 name, lineno, set->version);
				goto out;
			}
			columns = true;
			continue;
		}
		if (!columns) {
			snprintf(err, errlen, "gfps: %s:%ld: data before the column names line",
				 name, lineno);
			goto out;
		}
		if (gfps_parse_line(line, set->version, &f, why, sizeof(why))) {
			snprintf(err, errlen, "gfps: %s:%ld: %s", name, lineno, why);
			goto out;
		}
		set->total++;
		if (!gfps_filter_match(flt, &f))
			continue;
		set->matched++;
		if (f.torn) {
			set->torn++;
			continue;
		}
		/*
		 * The slot keeps the last park's wait site and context while
		 * the fiber runs: not where it is now, and not a key to group
		 * running fibers by.
		 */
		if (strcmp(f.status, "waiting") && strcmp(f.status, "leaked"))
			f.wait_pc = f.wait_obj = f.saved_pc = f.saved_sp = f.saved_fp = 0;
		if (gfps_add(set, &f)) {
			snprintf(err, errlen, "gfps: %s:%ld: %s", name, lineno, strerror(errno));
			goto out;
		}
	}
	if (ferror(in)) {
		snprintf(err, errlen, "gfps: %s: read error after line %ld: %s", name,
			 lineno, strerror(errno));
		goto out;
	}
	if (!lineno) {
		snprintf(err, errlen, "gfps: %s: empty (not /proc/gfibers output)", name);
		goto out;
	}
	if (!columns) {
		snprintf(err, errlen, "gfps: %s:%ld: no column names line", name, lineno);
		goto out;
	}
	ret = 0;
out:
	free(line);
	return ret;
}

static int by_size(const void *a, const void *b)
{
	const struct gfps_group *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	if (x->oldest_ms != y->oldest_ms)
		return x->oldest_ms < y->oldest_ms ? 1 : -1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->wait_pc != y->wait_pc)
		return x->wait_pc < y->wait_pc ? -1 : 1;
	if (x->sample.id != y->sample.id)
		return x->sample.id < y->sample.id ? -1 : 1;
	return strcmp(x->status, y->status);
}

void gfps_sort(struct gfps_set *set)
{
	size_t i;

	if (set->ngroups)
		qsort(set->groups, set->ngroups, sizeof(*set->groups), by_size);
	/* the index is stale now: rebuild it for later gfps_add() calls */
	if (set->index) {
		memset(set->index, 0, set->indexcap * sizeof(*set->index));
		for (i = 0; i < set->ngroups; i++) {
			size_t s = set->groups[i].hash & (set->indexcap - 1);

			while (set->index[s])
				s = (s + 1) & (set->indexcap - 1);
			set->index[s] = (uint32_t)(i + 1);
		}
	}
}

void gfps_set_free(struct gfps_set *set)
{
	size_t i;

	for (i = 0; i < set->ngroups; i++) {
		free(set->groups[i].comm);
		free(set->groups[i].status);
		free(set->groups[i].reason);
	}
	free(set->groups);
	free(set->index);
	memset(set, 0, sizeof(*set));
}
