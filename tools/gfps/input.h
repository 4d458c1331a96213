/* SPDX-License-Identifier: MIT */
/*
 * input.h - gfps's reading of /proc/gfibers (or a saved copy): parsing,
 * filters and grouping. No symbolizer here, so that the host tests can
 * link it alone.
 */
#ifndef GFPS_INPUT_H
#define GFPS_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GFPS_NCOLS	15		/* format 2; format 1 has 14 */

/* One line of /proc/gfibers. Strings point into the parser's copy. */
struct gfps_fiber {
	long pid;
	uint64_t id, parent;
	long tid;
	const char *status;
	long wait_ms;			/* -1: "-" */
	uint64_t wait_obj, wait_pc, create_pc;
	uint64_t saved_pc, saved_sp, saved_fp;
	uint32_t seq;			/* the slot's write count */
	bool has_seq;			/* format 2, and shown to this reader */
	const char *comm, *reason;
	bool torn;
};

/* Which fibers count; zero/NULL fields do not filter. */
struct gfps_filter {
	long *pids;
	size_t npids;
	const char *comm;		/* exact */
	const char *status;		/* exact */
	const char *reason;		/* exact */
	long min_wait_ms;		/* 0: any; else only waits >= this */
	bool leaked;			/* status "leaked" only */
};

/*
 * A group: fibers of one process with the same status, wait reason, wait
 * site and creation site (with per_fiber, also the same fiber: one group
 * per fiber). sample is its longest-waiting fiber, whose stack is shown.
 */
struct gfps_group {
	long pid;
	char *comm, *status, *reason;
	uint64_t wait_pc, create_pc;
	long count;
	long oldest_ms;			/* -1: none of them waiting */
	struct gfps_fiber sample;	/* strings: the group's copies */
	uint64_t hash;
};

struct gfps_set {
	struct gfps_group *groups;
	size_t ngroups, capgroups;
	uint32_t *index;		/* open addressing, groups[i] + 1, 0: empty */
	size_t indexcap;		/* power of two, > 2 * ngroups */
	long total;			/* fibers read (torn included) */
	long matched;			/* fibers that passed the filter */
	long torn;			/* torn lines among the matched */
	bool per_fiber;
	int version;			/* of the "# gfibers N" line */
};

/* Parse a duration: "1500" (ms), "500ms", "5s", "5m", "2h"; -1: bad. */
long gfps_parse_duration(const char *s);

/*
 * gfps_parse_line - split one data line (no trailing newline) of format
 * version (1 or 2, from the "# gfibers N" line) into f, writing NULs into
 * line. Returns 0, or -1 with a message in err.
 */
int gfps_parse_line(char *line, int version, struct gfps_fiber *f,
		    char *err, size_t errlen);

bool gfps_filter_match(const struct gfps_filter *flt, const struct gfps_fiber *f);

/*
 * gfps_read - read a whole /proc/gfibers text from in into set (empty,
 * per_fiber set as wanted), keeping the fibers flt lets through.
 * name is for messages. Returns 0, or -1 after writing
 * "gfps: NAME:LINE: what" into err.
 */
int gfps_read(FILE *in, const char *name, const struct gfps_filter *flt,
	      struct gfps_set *set, char *err, size_t errlen);

/* Add one fiber to its group; -1 on ENOMEM. */
int gfps_add(struct gfps_set *set, const struct gfps_fiber *f);

/* The group f would join in set; NULL: none (the index must be current). */
struct gfps_group *gfps_find(const struct gfps_set *set, const struct gfps_fiber *f);

/* Biggest group first, then oldest wait, pid, wait site. */
void gfps_sort(struct gfps_set *set);

void gfps_set_free(struct gfps_set *set);

#endif /* GFPS_INPUT_H */
