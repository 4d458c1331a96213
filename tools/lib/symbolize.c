// SPDX-License-Identifier: MIT
/*
 * symbolize.c - PC to "function+0xoff" for the selftests, on the same
 * elfutils symbolizer as gfps (dwsym.c). See symbolize.h.
 *
 * One dwsym process per pid, opened at its first lookup: a test renders
 * many fibers of a few processes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwsym.h"
#include "symbolize.h"

struct gfsym_proc {
	struct gfsym_proc *next;
	pid_t pid;
	struct gfps_proc *p;
	int err;		/* p == NULL: why */
};

struct gfsym_cache {
	struct gfsym_proc *procs;
};

struct gfsym_cache *gfsym_new(void)
{
	return calloc(1, sizeof(struct gfsym_cache));
}

void gfsym_free(struct gfsym_cache *c)
{
	struct gfsym_proc *pr, *next;

	if (!c)
		return;
	for (pr = c->procs; pr; pr = next) {
		next = pr->next;
		gfps_proc_close(pr->p);
		free(pr);
	}
	free(c);
}

static int lookup(struct gfsym_cache *c, pid_t pid, uint64_t pc,
		  char *buf, size_t len, char *func, size_t funclen)
{
	struct dw_loc locs[8];
	const struct dw_loc *l;
	struct gfsym_proc *pr;
	char err[256];
	int n;

	for (pr = c->procs; pr && pr->pid != pid; pr = pr->next)
		;
	if (!pr) {
		pr = calloc(1, sizeof(*pr));
		if (!pr)
			return -1;
		pr->pid = pid;
		pr->p = gfps_proc_open(pid, err, sizeof(err));
		pr->err = pr->p ? 0 : errno == ENOENT ? ESRCH : errno;
		pr->next = c->procs;
		c->procs = pr;
	}
	if (!pr->p) {
		errno = pr->err;
		return -1;
	}
	/* the pc as given: the function whose code holds it */
	n = gfps_symbolize(pr->p, pc, false, locs, 8);
	l = &locs[n - 1];	/* the function, not what it inlined */
	if (!l->module) {
		errno = ENOENT;
		return -1;
	}
	if (l->func && l->funcoff)
		snprintf(buf, len, "%s+0x%" PRIx64, l->func, l->funcoff);
	else if (l->func)
		snprintf(buf, len, "%s", l->func);
	else
		snprintf(buf, len, "%s+0x%" PRIx64, l->module, l->modoff);
	if (func)
		snprintf(func, funclen, "%s", l->func ? l->func : "");
	return 0;
}

/*
 * The selftests look up from inside fibers, whose stacks (64 KiB) libdw
 * is not written for: the lookup runs on a thread of its own, with a
 * thread's stack.
 */
struct call {
	struct gfsym_cache *c;
	pid_t pid;
	uint64_t pc;
	char *buf, *func;
	size_t len, funclen;
	int ret, err;
};

static void *call_thread(void *arg)
{
	struct call *k = arg;

	k->ret = lookup(k->c, k->pid, k->pc, k->buf, k->len, k->func, k->funclen);
	k->err = errno;
	return NULL;
}

int gfsym_lookup(struct gfsym_cache *c, pid_t pid, uint64_t pc,
		 char *buf, size_t len, char *func, size_t funclen)
{
	struct call k = { c, pid, pc, buf, func, len, funclen, -1, 0 };
	pthread_attr_t attr;
	pthread_t t;
	int e;

	if (pthread_attr_init(&attr))
		return -1;
	pthread_attr_setstacksize(&attr, 8 << 20);
	e = pthread_create(&t, &attr, call_thread, &k);
	pthread_attr_destroy(&attr);
	if (e) {
		errno = e;
		return -1;
	}
	pthread_join(t, NULL);
	errno = k.err;
	return k.ret;
}
