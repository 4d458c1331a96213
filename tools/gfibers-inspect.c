// SPDX-License-Identifier: MIT
/*
 * gfibers-inspect - where are my fibers stuck?
 *
 * Reads /proc/gfibers (or a saved copy), groups the fibers that wait the
 * same way (same process, status, wait reason and wait site), largest
 * groups first, and names each wait site as the function of the program
 * that made the blocking call: the frame to look at, not the runtime's
 * park that every wait ends in.
 *
 *	gfibers-inspect [-a] [-p PID] [-f FILE]
 *	  -a       one line per fiber instead of groups
 *	  -p PID   only this process
 *	  -f FILE  read FILE instead of /proc/gfibers ("-": stdin); wait
 *	           sites are named from the live processes, hex otherwise
 *
 * Output (tab-separated after the header, as /proc/gfibers):
 *	COUNT PID COMM STATUS REASON OLDEST_MS WAIT_SITE CREATED_AT
 * Names need the addresses, which /proc/gfibers shows only to readers who
 * may ptrace the process (root, or the same user): others see 0x0 and
 * "?" here.  Exit status: 0, or 1 when the input cannot be read or has
 * no gfibers header.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/symbolize.h"

/* The columns used, found by name in the header line. */
enum { C_PID, C_STATUS, C_WAIT_MS, C_WAIT_PC, C_CREATE_PC, C_COMM, C_REASON,
       C_FIBER, C_NR };
static const char *const colname[C_NR] = {
	"pid", "status", "wait_ms", "wait_pc", "create_pc", "comm", "reason",
	"fiber",
};

struct group {
	char *key;		/* pid \t status \t reason \t wait_pc */
	char *comm, *status, *reason;
	long pid;
	uint64_t wait_pc, create_pc;
	long count;
	long oldest_ms;		/* -1: not waiting */
};

static struct group *groups;
static size_t ngroups, capgroups;

static struct group *group_of(const char *key)
{
	size_t i;

	for (i = 0; i < ngroups; i++)
		if (!strcmp(groups[i].key, key))
			return &groups[i];
	if (ngroups == capgroups) {
		size_t cap = capgroups ? 2 * capgroups : 64;
		struct group *g = realloc(groups, cap * sizeof(*g));

		if (!g)
			return NULL;
		groups = g;
		capgroups = cap;
	}
	memset(&groups[ngroups], 0, sizeof(groups[0]));
	groups[ngroups].key = strdup(key);
	if (!groups[ngroups].key)
		return NULL;
	return &groups[ngroups++];
}

static int by_count(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void site(struct gfsym_cache *c, long pid, uint64_t pc, char *buf,
		 size_t len)
{
	if (!pc)
		snprintf(buf, len, "?");
	else if (gfsym_lookup(c, pid, pc, buf, len, NULL, 0))
		snprintf(buf, len, "0x%llx", (unsigned long long)pc);
}

static void usage(void)
{
	fprintf(stderr, "usage: gfibers-inspect [-a] [-p PID] [-f FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *path = "/proc/gfibers";
	char *line = NULL, *f[32], s1[256], s2[256], key[512];
	int col[C_NR], all = 0, opt, nf, i, have_header = 0;
	long only = 0, torn = 0, total = 0;
	struct gfsym_cache *cache;
	size_t cap = 0;
	FILE *in;

	while ((opt = getopt(argc, argv, "ap:f:h")) != -1) {
		switch (opt) {
		case 'a': all = 1; break;
		case 'p': only = strtol(optarg, NULL, 10); break;
		case 'f': path = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	in = strcmp(path, "-") ? fopen(path, "re") : stdin;
	if (!in) {
		fprintf(stderr, "gfibers-inspect: %s: %s%s\n", path, strerror(errno),
			errno == ENOENT && !strcmp(path, "/proc/gfibers") ?
			" (is gfibers.ko loaded? insmod build/gfibers.ko)" : "");
		return 1;
	}
	cache = gfsym_new();
	if (!cache) {
		perror("gfibers-inspect");
		return 1;
	}
	for (i = 0; i < C_NR; i++)
		col[i] = -1;
	if (all)
		printf("PID\tFIBER\tCOMM\tSTATUS\tREASON\tWAIT_MS\tWAIT_SITE\tCREATED_AT\n");

	while (getline(&line, &cap, in) > 0) {
		line[strcspn(line, "\n")] = 0;
		if (line[0] == '#') {
			if (!strncmp(line, "# gfibers ", 10))
				have_header = 1;
			else if (!strncmp(line, "# pid\t", 6)) {
				char *p = line + 2;

				for (nf = 0; nf < 32 && p; nf++) {
					char *tab = strchr(p, '\t');

					if (tab)
						*tab = 0;
					for (i = 0; i < C_NR; i++)
						if (!strcmp(p, colname[i]))
							col[i] = nf;
					p = tab ? tab + 1 : NULL;
				}
			}
			continue;
		}
		for (nf = 0, f[0] = line; nf < 32; ) {
			char *tab = strchr(f[nf], '\t');

			nf++;
			if (!tab)
				break;
			*tab = 0;
			if (nf < 32)
				f[nf] = tab + 1;
		}
		for (i = 0; i < C_NR; i++)
			if (col[i] < 0 || col[i] >= nf)
				break;
		if (i < C_NR)
			continue;	/* no header seen, or a short line */
		long pid = strtol(f[col[C_PID]], NULL, 10);
		uint64_t wpc = strtoull(f[col[C_WAIT_PC]], NULL, 16);
		uint64_t cpc = strtoull(f[col[C_CREATE_PC]], NULL, 16);
		long ms = f[col[C_WAIT_MS]][0] == '-' ? -1 :
			  strtol(f[col[C_WAIT_MS]], NULL, 10);

		if (only && pid != only)
			continue;
		total++;
		if (!strcmp(f[col[C_STATUS]], "torn")) {
			torn++;
			continue;
		}
		if (all) {
			site(cache, pid, wpc, s1, sizeof(s1));
			site(cache, pid, cpc, s2, sizeof(s2));
			printf("%ld\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", pid,
			       f[col[C_FIBER]], f[col[C_COMM]], f[col[C_STATUS]],
			       f[col[C_REASON]], f[col[C_WAIT_MS]], s1, s2);
			continue;
		}
		snprintf(key, sizeof(key), "%ld\t%s\t%s\t%llx", pid,
			 f[col[C_STATUS]], f[col[C_REASON]],
			 (unsigned long long)wpc);
		struct group *g = group_of(key);

		if (!g) {
			perror("gfibers-inspect");
			return 1;
		}
		if (!g->count) {
			g->pid = pid;
			g->comm = strdup(f[col[C_COMM]]);
			g->status = strdup(f[col[C_STATUS]]);
			g->reason = strdup(f[col[C_REASON]]);
			g->wait_pc = wpc;
			g->create_pc = cpc;
			g->oldest_ms = -1;
		}
		g->count++;
		if (ms > g->oldest_ms)
			g->oldest_ms = ms;
	}
	if (in != stdin)
		fclose(in);
	if (!have_header) {
		fprintf(stderr, "gfibers-inspect: %s: not /proc/gfibers output (no '# gfibers N' line)\n",
			path);
		return 1;
	}
	if (!all) {
		qsort(groups, ngroups, sizeof(*groups), by_count);
		printf("COUNT\tPID\tCOMM\tSTATUS\tREASON\tOLDEST_MS\tWAIT_SITE\tCREATED_AT\n");
		for (size_t k = 0; k < ngroups; k++) {
			struct group *g = &groups[k];

			site(cache, g->pid, g->wait_pc, s1, sizeof(s1));
			site(cache, g->pid, g->create_pc, s2, sizeof(s2));
			printf("%ld\t%ld\t%s\t%s\t%s\t", g->count, g->pid,
			       g->comm, g->status, g->reason);
			if (g->oldest_ms < 0)
				printf("-");
			else
				printf("%ld", g->oldest_ms);
			printf("\t%s\t%s\n", s1, s2);
		}
	}
	printf("# %ld fibers in %zu groups%s", total, all ? (size_t)0 : ngroups,
	       torn ? "" : "\n");
	if (torn)
		printf(", %ld torn (being written or the process stopped mid-write)\n", torn);
	gfsym_free(cache);
	free(line);
	return 0;
}
