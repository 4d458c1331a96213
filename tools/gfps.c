// SPDX-License-Identifier: MIT
/*
 * gfps - where are my fibers stuck? From outside the process.
 *
 * Reads /proc/gfibers (or a saved copy), groups the fibers that wait the
 * same way (process, status, wait reason, wait site, creation site),
 * biggest group first, names the sites as function (file:line) with
 * elfutils, and unwinds one parked fiber of each group (every fiber with
 * --all) from the context its last park saved, reading the target's
 * memory with process_vm_readv(): never stopping or attaching to it.
 * Usage and output: docs/gfps.md, or gfps --help.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gfps/input.h"
#include "lib/dwsym.h"

#define MAXPCS		64
#define MAXLOCS		8	/* inlined frames per pc, the function included */

enum format { F_TABLE, F_TRACEBACK, F_JSON, F_PPROF, F_FOLDED, F_METRICS };
static const char *const formats[] = {
	[F_TABLE] = "table", [F_TRACEBACK] = "traceback", [F_JSON] = "json",
	[F_PPROF] = "pprof", [F_FOLDED] = "folded", [F_METRICS] = "metrics",
};

static struct {
	const char *path;
	enum format format;
	bool all, stacks, runtime, live, force_live;
	long watch, count;
	const char *site;
	struct gfps_filter flt;
} opt = { .path = "/proc/gfibers" };

/* ---------------------------------------------------------- processes */

struct proc {
	long pid;
	struct gfps_proc *p;	/* NULL: err says why */
	char err[256];
};

static struct proc *procs;
static size_t nprocs;

static struct gfps_proc *proc_of(long pid, const char **err)
{
	static size_t last;
	size_t i;

	if (last < nprocs && procs[last].pid == pid)
		goto found;
	for (last = 0; last < nprocs; last++)
		if (procs[last].pid == pid)
			goto found;
	procs = realloc(procs, (nprocs + 1) * sizeof(*procs));
	if (!procs) {
		perror("gfps");
		exit(1);
	}
	last = nprocs++;
	procs[last].pid = pid;
	procs[last].err[0] = 0;
	procs[last].p = opt.live ? gfps_proc_open(pid, procs[last].err,
						 sizeof(procs[last].err)) : NULL;
	if (!opt.live)
		snprintf(procs[last].err, sizeof(procs[last].err),
			 "pid %ld: not named (input is a saved copy)", pid);
	else if (!procs[last].p)
		fprintf(stderr, "gfps: %s\n", procs[last].err);
found:
	i = last;
	*err = procs[i].err;
	return procs[i].p;
}

static void procs_close(void)
{
	for (size_t i = 0; i < nprocs; i++)
		gfps_proc_close(procs[i].p);
	free(procs);
	procs = NULL;
	nprocs = 0;
}

/* ---------------------------------------------------------- per group */

/* A site or a stack frame, named: locs innermost (inlined) first. */
struct named {
	uint64_t pc;
	int nlocs;
	struct dw_loc locs[MAXLOCS];
};

struct info {
	struct named wait, create;
	enum gfps_unwind_result stack_res;
	bool stack_tried;
	const char *stack_err;	/* why there is none */
	/* unwound, not yet named: kept once /proc/gfibers proves the park */
	uint64_t *pcs;
	int npcs;
	int nframes;
	struct named *frames;
};

static struct info *infos;

static void name_pc(long pid, uint64_t pc, struct named *nm)
{
	const char *err;
	struct gfps_proc *p = pc ? proc_of(pid, &err) : NULL;

	memset(nm, 0, sizeof(*nm));
	nm->pc = pc;
	if (!p) {
		nm->nlocs = 1;
		nm->locs[0].pc = pc;
		return;
	}
	nm->nlocs = gfps_symbolize(p, pc, true, nm->locs, MAXLOCS);
}

static const char *base(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;

	return s ? s + 1 : path;
}

/* "func (file.c:39)", "func+0x24", "module+0x1234", "0x401c3f" or "-" */
static char *site_str(const struct named *nm, char *buf, size_t len)
{
	const struct dw_loc *l = &nm->locs[0];

	if (!nm->pc)
		snprintf(buf, len, "-");
	else if (l->func && l->file)
		snprintf(buf, len, "%s (%s:%d)", l->func, base(l->file), l->line);
	else if (l->func)
		snprintf(buf, len, "%s+0x%" PRIx64, l->func, l->funcoff);
	else if (l->module)
		snprintf(buf, len, "%s+0x%" PRIx64, l->module, l->modoff);
	else
		snprintf(buf, len, "0x%" PRIx64, nm->pc);
	return buf;
}

/* libgfiber's internals and its API (gf_chan_recv, ...): the park's way */
static bool is_runtime(const char *f)
{
	return f && (!strncmp(f, "gfi_", 4) || !strncmp(f, "gf_", 3));
}

static bool is_entry(const char *f)
{
	return f && (!strcmp(f, "gfi_fiber_main") ||
		     !strcmp(f, "gfi_main_trampoline") ||
		     !strcmp(f, "gf_ctx_start"));
}

static const char *unwind_why(enum gfps_unwind_result r)
{
	switch (r) {
	case GFPS_STACK_OK: return NULL;
	case GFPS_STACK_RAN: return "the fiber ran while being read";
	case GFPS_STACK_GONE: return "the process exited or its stack is gone";
	case GFPS_STACK_NOACCESS: return "no access to its memory: stacks need root (CAP_SYS_PTRACE), or its user with kernel.yama.ptrace_scope 0";
	case GFPS_STACK_NOCONTEXT: return "no saved context (not parked, or addresses hidden)";
	}
	return "?";
}

/* Unwind g's sample fiber from its slot's context: in->pcs, unnamed. */
static void unwind_of(const struct gfps_group *g, struct info *in)
{
	const struct gfps_fiber *f = &g->sample;
	uint64_t pcs[MAXPCS];
	const char *how, *err;
	struct gfps_proc *p;
	int n;

	in->stack_tried = true;
	free(in->pcs);
	in->pcs = NULL;
	in->npcs = 0;
	if (strcmp(f->status, "waiting") && strcmp(f->status, "leaked")) {
		in->stack_err = "not parked";
		return;
	}
	p = proc_of(f->pid, &err);
	if (!p) {
		in->stack_err = err;
		return;
	}
	struct gfps_ctx ctx = { f->saved_pc, f->saved_sp, f->saved_fp };

	in->stack_res = gfps_unwind(p, &ctx, pcs, MAXPCS, &n, &how);
	if (in->stack_res != GFPS_STACK_OK) {
		in->stack_err = unwind_why(in->stack_res);
		return;
	}
	in->pcs = malloc((size_t)(n ? n : 1) * sizeof(*pcs));
	if (!in->pcs) {
		perror("gfps");
		exit(1);
	}
	memcpy(in->pcs, pcs, (size_t)n * sizeof(*pcs));
	in->npcs = n;
	in->stack_err = NULL;
}

/* Name the frames of a stack that stood: from in->pcs to in->frames. */
static void frames_of(const struct gfps_group *g, struct info *in)
{
	const struct gfps_fiber *f = &g->sample;
	const uint64_t *pcs = in->pcs;
	int n = in->npcs, i, start = 0;
	const char *err;
	struct gfps_proc *p = proc_of(f->pid, &err);
	bool found;

	if (!pcs || !p)
		return;
	in->frames = calloc((size_t)(n ? n : 1), sizeof(*in->frames));
	if (!in->frames) {
		perror("gfps");
		exit(1);
	}
	found = false;
	if (!opt.runtime && f->wait_pc) {
		/* the runtime's frames end where the program called it */
		for (i = 0; i < n && pcs[i] != f->wait_pc; i++)
			;
		found = i < n;
		start = found ? i : 0;
	}
	for (i = start; i < n; i++) {
		struct named *nm = &in->frames[in->nframes];
		const char *fn;

		nm->pc = pcs[i];
		nm->nlocs = gfps_symbolize(p, pcs[i], true, nm->locs, MAXLOCS);
		fn = nm->locs[nm->nlocs - 1].func;
		if (!opt.runtime && is_entry(fn))
			break;
		/* wait site not on the stack: skip the park and the API call */
		if (!opt.runtime && !found && !in->nframes && is_runtime(fn))
			continue;
		in->nframes++;
	}
	free(in->pcs);
	in->pcs = NULL;
	in->npcs = 0;
}

/*
 * A live read: the stacks came from memory after the slot was read. A
 * fiber that ran meanwhile and parked again with the same stack depth
 * left the same switch frame behind (every park switches from the same
 * place), with other frames above it; /proc/gfibers read again tells:
 * the slot's sequence count (format 2) changes with every write of the
 * slot, so an equal one proves the same park. Format 1 has no count: the
 * same context and a wait that did not shrink is the best it can say, and
 * misses a fiber that parked again within the time the reads took.
 *
 * A fiber that ran, and is parked again in the same way (status, reason
 * and wait site of its group), is unwound again from the new read's
 * context and proved by the next read: up to GFPS_STACK_TRIES unwinds,
 * so that a fiber that parks for a few milliseconds at a time still gets
 * its stack. Only the unwinds lie between two reads: the names (the slow
 * part: debug info) come after, for the stacks that stood.
 */
#define GFPS_STACK_TRIES	3

static int cmp_fiber(const void *a, const void *b)
{
	const struct gfps_group *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->sample.id < y->sample.id ? -1 : x->sample.id > y->sample.id;
}

/* then and now: one park, which the fiber never left in between */
static bool same_park(const struct gfps_fiber *now, const struct gfps_fiber *then)
{
	if (strcmp(now->status, then->status) ||
	    now->saved_sp != then->saved_sp || now->saved_pc != then->saved_pc ||
	    now->saved_fp != then->saved_fp)
		return false;
	if (now->has_seq && then->has_seq)
		return now->seq == then->seq;
	return now->wait_ms >= then->wait_ms;
}

/* Read /proc/gfibers again, one group per fiber, sorted by fiber. */
static int reread(struct gfps_set *now)
{
	struct gfps_filter flt = { 0 };
	char err[512];
	FILE *in = fopen(opt.path, "re");

	memset(now, 0, sizeof(*now));
	now->per_fiber = true;
	if (!in || gfps_read(in, opt.path, &flt, now, err, sizeof(err))) {
		if (in)
			fclose(in);
		gfps_set_free(now);
		return -1;
	}
	fclose(in);
	qsort(now->groups, now->ngroups, sizeof(*now->groups), cmp_fiber);
	return 0;
}

static void drop_stack(struct info *inf, const char *why)
{
	free(inf->pcs);
	inf->pcs = NULL;
	inf->npcs = 0;
	inf->stack_err = why;
}

/* The unwound stacks that /proc/gfibers read again proves; the others
 * dropped, said why. */
static void recheck(struct gfps_set *set)
{
	bool *proved = calloc(set->ngroups + 1, sizeof(*proved));
	struct gfps_set now;
	size_t i, left;
	int try;

	if (!proved) {
		perror("gfps");
		exit(1);
	}
	for (try = 1;; try++) {
		for (i = left = 0; i < set->ngroups; i++)
			left += infos[i].pcs && !proved[i];
		if (!left)
			break;
		if (reread(&now))
			break;	/* the first read worked: keep what we have */
		for (i = 0; i < set->ngroups; i++) {
			struct info *inf = &infos[i];
			struct gfps_group *grp = &set->groups[i];
			struct gfps_fiber *f = &grp->sample;
			struct gfps_group key = { .pid = f->pid, .sample.id = f->id };
			const struct gfps_fiber *n;
			struct gfps_group *g;

			if (!inf->pcs || proved[i])
				continue;
			g = bsearch(&key, now.groups, now.ngroups, sizeof(key), cmp_fiber);
			if (!g) {
				drop_stack(inf, "the fiber exited while being read");
				continue;
			}
			n = &g->sample;
			if (same_park(n, f)) {
				proved[i] = true;
				continue;
			}
			/* parked again the same way: once more, from now */
			if (try < GFPS_STACK_TRIES && !strcmp(n->status, f->status) &&
			    !strcmp(n->reason, f->reason) && n->wait_pc == f->wait_pc &&
			    n->saved_sp && n->saved_pc) {
				f->saved_pc = n->saved_pc;
				f->saved_sp = n->saved_sp;
				f->saved_fp = n->saved_fp;
				f->seq = n->seq;
				f->has_seq = n->has_seq;
				f->wait_ms = n->wait_ms;
				unwind_of(grp, inf);
				continue;
			}
			drop_stack(inf, unwind_why(GFPS_STACK_RAN));
		}
		gfps_set_free(&now);
	}
	free(proved);
}

/* The input can be read again (not stdin, nor a pipe): /proc/gfibers, or
 * a file the fibers' lines are written to while they run (-L). */
static bool rereadable(void)
{
	struct stat st;

	return strcmp(opt.path, "-") && !stat(opt.path, &st) && S_ISREG(st.st_mode);
}

static bool wants_stacks(void)
{
	return opt.stacks || opt.format == F_TRACEBACK || opt.format == F_JSON ||
	       opt.format == F_PPROF || opt.format == F_FOLDED;
}

static void describe(struct gfps_set *set)
{
	size_t i;

	infos = calloc(set->ngroups + 1, sizeof(*infos));
	if (!infos) {
		perror("gfps");
		exit(1);
	}
	for (i = 0; i < set->ngroups; i++) {
		struct gfps_group *g = &set->groups[i];

		name_pc(g->pid, g->wait_pc, &infos[i].wait);
		name_pc(g->pid, g->create_pc, &infos[i].create);
		if (wants_stacks() && !opt.live)
			infos[i].stack_err = "input is a saved copy";
	}
	if (!wants_stacks() || !opt.live)
		return;
	/* the unwinds alone between the reads; names after */
	for (i = 0; i < set->ngroups; i++)
		unwind_of(&set->groups[i], &infos[i]);
	if (rereadable())
		recheck(set);
	for (i = 0; i < set->ngroups; i++)
		frames_of(&set->groups[i], &infos[i]);
}

static void infos_free(size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(infos[i].frames);
		free(infos[i].pcs);
	}
	free(infos);
	infos = NULL;
}

/*
 * --site: a substring of the wait site as any output names it: function,
 * file:line, address, function+0xoff, and module+0xoff (all a site with
 * no symbol has).
 */
static bool site_match(const struct info *in)
{
	char buf[1024];

	if (!opt.site)
		return true;
	for (int i = 0; i < in->wait.nlocs; i++) {
		const struct dw_loc *l = &in->wait.locs[i];

		snprintf(buf, sizeof(buf),
			 "%s %s:%d 0x%" PRIx64 " %s+0x%" PRIx64 " %s+0x%" PRIx64,
			 l->func ? l->func : "", l->file ? l->file : "", l->line,
			 in->wait.pc, l->func ? l->func : "", l->funcoff,
			 l->module ? l->module : "", l->modoff);
		if (strstr(buf, opt.site))
			return true;
	}
	return false;
}

/* ---------------------------------------------------------- formats */

static char *dur(long ms, char *buf, size_t len)
{
	if (ms < 0)
		snprintf(buf, len, "-");
	else if (ms < 1000)
		snprintf(buf, len, "%ldms", ms);
	else if (ms < 60000)
		snprintf(buf, len, "%lds", ms / 1000);
	else if (ms < 3600000)
		snprintf(buf, len, "%ldm%lds", ms / 60000, ms / 1000 % 60);
	else
		snprintf(buf, len, "%ldh%ldm", ms / 3600000, ms / 60000 % 60);
	return buf;
}

static void print_frame_lines(const struct named *nm, const char *indent)
{
	for (int k = 0; k < nm->nlocs; k++) {
		const struct dw_loc *l = &nm->locs[k];
		char s[512];
		struct named one = { .pc = nm->pc, .nlocs = 1, .locs = { *l } };

		printf("%s%s%s\n", indent, site_str(&one, s, sizeof(s)),
		       l->inlined ? " (inlined)" : "");
	}
}

static void print_table(struct gfps_set *set, const long *growth)
{
	char w[512], c[512], d[32];

	printf("%-7s %-15s %8s %-9s %-23s %8s  %s  %s%s\n", "PID", "COMM", "COUNT",
	       "STATUS", "REASON", "OLDEST", "WAIT SITE", "CREATED AT",
	       growth ? "  GROWTH" : "");
	for (size_t i = 0; i < set->ngroups; i++) {
		struct gfps_group *g = &set->groups[i];
		struct info *in = &infos[i];

		if (!site_match(in))
			continue;
		printf("%-7ld %-15s %8ld %-9s %-23s %8s  %s  %s", g->pid, g->comm,
		       g->count, g->status, g->reason,
		       dur(g->oldest_ms, d, sizeof(d)),
		       site_str(&in->wait, w, sizeof(w)),
		       site_str(&in->create, c, sizeof(c)));
		if (growth)
			printf("  %+ld", growth[i]);
		printf("\n");
		if (!opt.stacks)
			continue;
		if (!in->nframes) {
			printf("\tfiber %" PRIu64 ": no stack: %s\n", g->sample.id,
			       in->stack_err ? in->stack_err : "?");
			continue;
		}
		printf("\tfiber %" PRIu64 ":\n", g->sample.id);
		for (int k = 0; k < in->nframes; k++)
			print_frame_lines(&in->frames[k], "\t  ");
	}
	printf("# %ld fibers in %zu groups", set->matched - set->torn, set->ngroups);
	if (set->torn)
		printf(", %ld torn (being written, or the process stopped mid-write)",
		       set->torn);
	printf("\n");
}

/* Go's: "function(...)" then "\tfile:line +0xoff" */
static void go_frame(const struct dw_loc *l, uint64_t pc)
{
	if (l->func)
		printf("%s(...)\n", l->func);
	else if (l->module)
		printf("%s+0x%" PRIx64 "(...)\n", l->module, l->modoff);
	else
		printf("0x%" PRIx64 "(...)\n", pc);
	if (l->file)
		printf("\t%s:%d", l->file, l->line);
	else
		printf("\t?");
	if (!l->inlined && l->func && l->funcoff)
		printf(" +0x%" PRIx64, l->funcoff);
	printf("\n");
}

static void print_traceback(struct gfps_set *set)
{
	for (size_t i = 0; i < set->ngroups; i++) {
		struct gfps_group *g = &set->groups[i];
		struct info *in = &infos[i];
		const struct gfps_fiber *f = &g->sample;

		if (!site_match(in))
			continue;
		printf("fiber %" PRIu64 " [", f->id);
		if (strcmp(g->reason, "-"))
			printf("%s", g->reason);
		else
			printf("%s", g->status);
		if (f->wait_ms >= 60000)
			printf(", %ld minutes", f->wait_ms / 60000);
		if (!strcmp(g->status, "leaked"))
			printf(", leaked");
		if (g->count > 1)
			printf(", %ld fibers", g->count);
		printf("]: pid %ld (%s)\n", g->pid, g->comm);
		if (in->nframes) {
			for (int k = 0; k < in->nframes; k++)
				for (int j = 0; j < in->frames[k].nlocs; j++)
					go_frame(&in->frames[k].locs[j], in->frames[k].pc);
		} else {
			for (int j = 0; j < in->wait.nlocs && in->wait.pc; j++)
				go_frame(&in->wait.locs[j], in->wait.pc);
			printf("\t(no stack: %s)\n", in->stack_err ? in->stack_err : "?");
		}
		if (g->create_pc && f->parent) {
			const struct dw_loc *l = &in->create.locs[0];
			char s[512];

			printf("created by %s in fiber %" PRIu64 "\n",
			       l->func ? l->func : site_str(&in->create, s, sizeof(s)),
			       f->parent);
			if (l->file)
				printf("\t%s:%d", l->file, l->line);
			else
				printf("\t?");
			if (!l->inlined && l->func && l->funcoff)
				printf(" +0x%" PRIx64, l->funcoff);
			printf("\n");
		}
		printf("\n");
	}
}

static void json_str(const char *s)
{
	if (!s) {
		printf("null");
		return;
	}
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void json_named(const struct named *nm)
{
	printf("{\"pc\":\"0x%" PRIx64 "\",\"frames\":[", nm->pc);
	for (int k = 0; k < nm->nlocs; k++) {
		const struct dw_loc *l = &nm->locs[k];

		printf("%s{\"function\":", k ? "," : "");
		json_str(l->func);
		printf(",\"file\":");
		json_str(l->file);
		printf(",\"line\":%d,\"inlined\":%s,\"module\":", l->line,
		       l->inlined ? "true" : "false");
		json_str(l->module);
		printf(",\"module_offset\":\"0x%" PRIx64 "\"}", l->modoff);
	}
	printf("]}");
}

static void print_json(struct gfps_set *set)
{
	bool first = true;

	printf("{\"gfps\":1,\"source\":");
	json_str(opt.path);
	printf(",\"fibers\":%ld,\"torn\":%ld,\"groups\":[", set->matched - set->torn,
	       set->torn);
	for (size_t i = 0; i < set->ngroups; i++) {
		struct gfps_group *g = &set->groups[i];
		struct info *in = &infos[i];
		const struct gfps_fiber *f = &g->sample;

		if (!site_match(in))
			continue;
		printf("%s\n{\"pid\":%ld,\"comm\":", first ? "" : ",", g->pid);
		first = false;
		json_str(g->comm);
		printf(",\"count\":%ld,\"status\":", g->count);
		json_str(g->status);
		printf(",\"reason\":");
		json_str(g->reason);
		if (g->oldest_ms >= 0)
			printf(",\"oldest_wait_ms\":%ld", g->oldest_ms);
		else
			printf(",\"oldest_wait_ms\":null");
		printf(",\"wait_site\":");
		json_named(&in->wait);
		printf(",\"create_site\":");
		json_named(&in->create);
		printf(",\"sample\":{\"fiber\":%" PRIu64 ",\"parent\":%" PRIu64
		       ",\"tid\":%ld,\"wait_ms\":%ld}", f->id, f->parent, f->tid,
		       f->wait_ms);
		printf(",\"stack\":");
		if (in->nframes) {
			printf("[");
			for (int k = 0; k < in->nframes; k++) {
				printf("%s", k ? "," : "");
				json_named(&in->frames[k]);
			}
			printf("],\"stack_error\":null}");
		} else {
			printf("null,\"stack_error\":");
			json_str(in->stack_err);
			printf("}");
		}
	}
	printf("\n]}\n");
}

/*
 * Go's goroutine profile, debug=1: "COUNT @ pc pc ..." (return addresses),
 * then "#\tpc\tfunc+0xoff\tfile:line" per frame (pc one byte back, as
 * runtime.CallersFrames gives it). Without a stack: the wait site alone.
 */
static void pprof_frame(const struct named *nm)
{
	for (int k = 0; k < nm->nlocs; k++) {
		const struct dw_loc *l = &nm->locs[k];

		printf("#\t0x%" PRIx64 "\t", nm->pc - 1);
		if (l->func)
			printf("%s+0x%" PRIx64, l->func, l->inlined ? 0 : l->funcoff ? l->funcoff - 1 : 0);
		else if (l->module)
			printf("%s+0x%" PRIx64, l->module, l->modoff - 1);
		else
			printf("?");
		if (l->file)
			printf("\t%s:%d", l->file, l->line);
		printf("\n");
	}
}

static void print_pprof(struct gfps_set *set)
{
	long total = 0;
	size_t i;

	/* only fibers with a stack or a wait site: pprof counts the samples */
	for (i = 0; i < set->ngroups; i++)
		if (site_match(&infos[i]) &&
		    (infos[i].nframes || set->groups[i].wait_pc))
			total += set->groups[i].count;
	printf("goroutine profile: total %ld\n", total);
	for (i = 0; i < set->ngroups; i++) {
		struct gfps_group *g = &set->groups[i];
		struct info *in = &infos[i];

		if (!site_match(in) || (!in->nframes && !g->wait_pc))
			continue;
		printf("%ld @", g->count);
		if (in->nframes)
			for (int k = 0; k < in->nframes; k++)
				printf(" 0x%" PRIx64, in->frames[k].pc);
		else
			printf(" 0x%" PRIx64, g->wait_pc);
		printf("\n");
		if (in->nframes)
			for (int k = 0; k < in->nframes; k++)
				pprof_frame(&in->frames[k]);
		else
			pprof_frame(&in->wait);
		printf("\n");
	}
	/*
	 * One live process: its file mappings, in the section pprof's
	 * legacy parser reads, so that `go tool pprof` names the addresses
	 * itself (PIE and shared libraries included).
	 */
	long pid = 0;

	for (i = 0; i < set->ngroups; i++) {
		if (!site_match(&infos[i]))
			continue;
		if (pid && set->groups[i].pid != pid)
			return;
		pid = set->groups[i].pid;
	}
	if (!opt.live || !pid)
		return;
	char path[64], *line = NULL;
	size_t cap = 0;
	FILE *maps;

	snprintf(path, sizeof(path), "/proc/%ld/maps", pid);
	maps = fopen(path, "re");
	if (!maps)
		return;
	printf("--- Memory map: ---\n");
	while (getline(&line, &cap, maps) > 0)
		if (strchr(line, '/'))
			fputs(line, stdout);
	free(line);
	fclose(maps);
}

static void folded_name(const struct dw_loc *l, uint64_t pc)
{
	if (l->func)
		printf("%s", l->func);
	else if (l->module)
		printf("%s+0x%" PRIx64, l->module, l->modoff);
	else
		printf("0x%" PRIx64, pc);
}

/* root first: comm;outermost;...;innermost;[reason] COUNT */
static void print_folded(struct gfps_set *set)
{
	for (size_t i = 0; i < set->ngroups; i++) {
		struct gfps_group *g = &set->groups[i];
		struct info *in = &infos[i];

		if (!site_match(in))
			continue;
		printf("%s", g->comm);
		if (in->nframes) {
			for (int k = in->nframes - 1; k >= 0; k--)
				for (int j = in->frames[k].nlocs - 1; j >= 0; j--) {
					putchar(';');
					folded_name(&in->frames[k].locs[j], in->frames[k].pc);
				}
		} else if (g->wait_pc) {
			for (int j = in->wait.nlocs - 1; j >= 0; j--) {
				putchar(';');
				folded_name(&in->wait.locs[j], in->wait.pc);
			}
		}
		printf(";[%s] %ld\n", strcmp(g->reason, "-") ? g->reason : g->status,
		       g->count);
	}
}

static void label(const char *name, const char *v, bool comma)
{
	printf("%s%s=\"", comma ? "," : "", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			printf("\\%c", *v);
		else if (*v == '\n')
			printf("\\n");
		else
			putchar(*v);
	}
	putchar('"');
}

static int by_pid_status_reason(const void *a, const void *b)
{
	const struct gfps_group *x = *(struct gfps_group *const *)a;
	const struct gfps_group *y = *(struct gfps_group *const *)b;
	int c;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	c = strcmp(x->status, y->status);
	return c ? c : strcmp(x->reason, y->reason);
}

/* "metric{pid,comm,status,reason,site,created}" of one group (info i). */
static void site_metric(const char *metric, const struct gfps_group *g,
			const struct info *in)
{
	char pid[32], s[512];

	snprintf(pid, sizeof(pid), "%ld", g->pid);
	printf("%s{", metric);
	label("pid", pid, false);
	label("comm", g->comm, true);
	label("status", g->status, true);
	label("reason", g->reason, true);
	label("site", site_str(&in->wait, s, sizeof(s)), true);
	label("created", site_str(&in->create, s, sizeof(s)), true);
	printf("}");
}

static void print_metrics(struct gfps_set *set)
{
	struct gfps_group **v = calloc(set->ngroups + 1, sizeof(*v));
	char pid[32];
	size_t i, j, n = 0;

	if (!v) {
		perror("gfps");
		exit(1);
	}
	for (i = 0; i < set->ngroups; i++)
		if (site_match(&infos[i]))
			v[n++] = &set->groups[i];
	qsort(v, n, sizeof(*v), by_pid_status_reason);
	printf("# HELP gfibers_fibers Fibers per process, status and wait reason.\n");
	printf("# TYPE gfibers_fibers gauge\n");
	for (i = 0; i < n; i = j) {
		long count = 0;

		for (j = i; j < n && !by_pid_status_reason(&v[i], &v[j]); j++)
			count += v[j]->count;
		snprintf(pid, sizeof(pid), "%ld", v[i]->pid);
		printf("gfibers_fibers{");
		label("pid", pid, false);
		label("comm", v[i]->comm, true);
		label("status", v[i]->status, true);
		label("reason", v[i]->reason, true);
		printf("} %ld\n", count);
	}
	free(v);
	/* per wait site: a group is one (status, reason, site, creator) */
	printf("# HELP gfibers_wait_site_fibers Parked fibers per process, wait reason and wait site.\n");
	printf("# TYPE gfibers_wait_site_fibers gauge\n");
	for (i = 0; i < set->ngroups; i++) {
		struct gfps_group *g = &set->groups[i];

		if (!g->wait_pc || !site_match(&infos[i]))
			continue;
		site_metric("gfibers_wait_site_fibers", g, &infos[i]);
		printf(" %ld\n", g->count);
	}
	printf("# HELP gfibers_wait_site_oldest_wait_seconds Longest wait per process, wait reason and wait site.\n");
	printf("# TYPE gfibers_wait_site_oldest_wait_seconds gauge\n");
	for (i = 0; i < set->ngroups; i++) {
		struct gfps_group *g = &set->groups[i];

		if (!g->wait_pc || g->oldest_ms < 0 || !site_match(&infos[i]))
			continue;
		site_metric("gfibers_wait_site_oldest_wait_seconds", g, &infos[i]);
		printf(" %ld.%03ld\n", g->oldest_ms / 1000, g->oldest_ms % 1000);
	}
	printf("# EOF\n");
}

/* ---------------------------------------------------------- main */

static int read_set(struct gfps_set *set)
{
	char err[512];
	FILE *in = strcmp(opt.path, "-") ? fopen(opt.path, "re") : stdin;
	int r;

	if (!in) {
		fprintf(stderr, "gfps: %s: %s%s\n", opt.path, strerror(errno),
			errno == ENOENT && !strcmp(opt.path, "/proc/gfibers") ?
			" (is gfibers.ko loaded? insmod build/gfibers.ko)" : "");
		return -1;
	}
	memset(set, 0, sizeof(*set));
	set->per_fiber = opt.all;
	r = gfps_read(in, strcmp(opt.path, "-") ? opt.path : "<stdin>", &opt.flt,
		      set, err, sizeof(err));
	if (in != stdin)
		fclose(in);
	if (r) {
		fprintf(stderr, "%s\n", err);
		gfps_set_free(set);
		return -1;
	}
	gfps_sort(set);
	return 0;
}

static void output(struct gfps_set *set, const long *growth)
{
	switch (opt.format) {
	case F_TABLE: print_table(set, growth); break;
	case F_TRACEBACK: print_traceback(set); break;
	case F_JSON: print_json(set); break;
	case F_PPROF: print_pprof(set); break;
	case F_FOLDED: print_folded(set); break;
	case F_METRICS: print_metrics(set); break;
	}
	fflush(stdout);
}

/* --watch: each sample against the first, growing groups first */
static int watch(void)
{
	struct gfps_set first, now;
	long *growth;
	long round;

	if (read_set(&first))
		return 1;
	for (round = 0; !opt.count || round < opt.count; round++) {
		if (round) {
			struct timespec ts = { .tv_sec = opt.watch };

			while (nanosleep(&ts, &ts) && errno == EINTR)
				;
		}
		if (read_set(&now))
			return 1;
		growth = calloc(now.ngroups + 1, sizeof(*growth));
		if (!growth) {
			perror("gfps");
			return 1;
		}
		for (size_t i = 0; i < now.ngroups; i++) {
			struct gfps_group *g0 = gfps_find(&first, &now.groups[i].sample);

			growth[i] = now.groups[i].count - (g0 ? g0->count : 0);
		}
		/* biggest growth first, then the usual order (stable) */
		for (size_t i = 1; i < now.ngroups; i++)
			for (size_t j = i; j > 0 && growth[j] > growth[j - 1]; j--) {
				struct gfps_group t = now.groups[j];
				long tg = growth[j];

				now.groups[j] = now.groups[j - 1];
				now.groups[j - 1] = t;
				growth[j] = growth[j - 1];
				growth[j - 1] = tg;
			}
		describe(&now);
		printf("# sample %ld, %lds after the first; GROWTH: fibers more than then\n",
		       round + 1, round * opt.watch);
		print_table(&now, growth);
		printf("\n");
		fflush(stdout);
		infos_free(now.ngroups);
		free(growth);
		gfps_set_free(&now);
		procs_close();
	}
	gfps_set_free(&first);
	return 0;
}

static void usage(FILE *to, int rc)
{
	fprintf(to,
"usage: gfps [OPTION]...\n"
"Group the fibers of /proc/gfibers, name where they wait, show their stacks.\n"
"  -f, --file FILE       read FILE (a saved copy; '-': stdin), not /proc/gfibers\n"
"  -L, --live            FILE's processes still run: name sites, unwind stacks\n"
"  -p, --pid PID         only this process (repeatable)\n"
"  -c, --comm NAME       only processes named NAME\n"
"      --status S        only fibers in status S (waiting, leaked, ...)\n"
"      --reason R        only fibers waiting for R ('chan receive', ...)\n"
"      --site TEXT       only groups whose wait site's function, file:line,\n"
"                        address or module+0xoffset has TEXT\n"
"      --min-wait D      only fibers waiting at least D (500ms, 5s, 5m, 2h)\n"
"      --leaked          only fibers the runtime proved can never wake\n"
"  -a, --all             every fiber by itself, not groups\n"
"  -s, --stacks          the stack of one fiber of each group (table)\n"
"      --runtime         keep libgfiber's own frames in stacks\n"
"  -o, --format F        table (default), traceback, json, pprof, folded, metrics\n"
"  -w, --watch N         every N seconds, with each group's growth since the first\n"
"  -n, --count K         with --watch: K samples, then exit\n"
"Names need root or the process's user; stacks need root, or the process's\n"
"user with kernel.yama.ptrace_scope 0. Exit: 0 ok, 1 error, 2 usage.\n");
	exit(rc);
}

int main(int argc, char **argv)
{
	enum { O_STATUS = 256, O_REASON, O_SITE, O_MINWAIT, O_LEAKED, O_RUNTIME };
	static const struct option lopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "pid", required_argument, NULL, 'p' },
		{ "comm", required_argument, NULL, 'c' },
		{ "status", required_argument, NULL, O_STATUS },
		{ "reason", required_argument, NULL, O_REASON },
		{ "site", required_argument, NULL, O_SITE },
		{ "min-wait", required_argument, NULL, O_MINWAIT },
		{ "leaked", no_argument, NULL, O_LEAKED },
		{ "all", no_argument, NULL, 'a' },
		{ "stacks", no_argument, NULL, 's' },
		{ "runtime", no_argument, NULL, O_RUNTIME },
		{ "format", required_argument, NULL, 'o' },
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "live", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct gfps_set set;
	char *end;
	int c;
	size_t i;

	while ((c = getopt_long(argc, argv, "f:p:c:aso:w:n:Lh", lopts, NULL)) != -1) {
		switch (c) {
		case 'f': opt.path = optarg; break;
		case 'p':
			opt.flt.pids = realloc(opt.flt.pids,
					       (opt.flt.npids + 1) * sizeof(long));
			if (!opt.flt.pids) {
				perror("gfps");
				return 1;
			}
			opt.flt.pids[opt.flt.npids] = strtol(optarg, &end, 10);
			if (*end || opt.flt.pids[opt.flt.npids] <= 0) {
				fprintf(stderr, "gfps: bad pid '%s'\n", optarg);
				return 2;
			}
			opt.flt.npids++;
			break;
		case 'c': opt.flt.comm = optarg; break;
		case O_STATUS: opt.flt.status = optarg; break;
		case O_REASON: opt.flt.reason = optarg; break;
		case O_SITE: opt.site = optarg; break;
		case O_MINWAIT:
			opt.flt.min_wait_ms = gfps_parse_duration(optarg);
			if (opt.flt.min_wait_ms < 0) {
				fprintf(stderr, "gfps: bad duration '%s' (500ms, 5s, 5m, 2h)\n", optarg);
				return 2;
			}
			break;
		case O_LEAKED: opt.flt.leaked = true; break;
		case 'a': opt.all = true; break;
		case 's': opt.stacks = true; break;
		case O_RUNTIME: opt.runtime = true; break;
		case 'o':
			for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
				if (!strcmp(optarg, formats[i]))
					break;
			if (i == sizeof(formats) / sizeof(formats[0])) {
				fprintf(stderr, "gfps: unknown format '%s'\n", optarg);
				return 2;
			}
			opt.format = (enum format)i;
			break;
		case 'w':
			opt.watch = strtol(optarg, &end, 10);
			if (*end || opt.watch <= 0) {
				fprintf(stderr, "gfps: bad --watch '%s' (seconds)\n", optarg);
				return 2;
			}
			break;
		case 'n':
			opt.count = strtol(optarg, &end, 10);
			if (*end || opt.count <= 0) {
				fprintf(stderr, "gfps: bad --count '%s'\n", optarg);
				return 2;
			}
			break;
		case 'L': opt.force_live = true; break;
		case 'h': usage(stdout, 0); break;
		default: usage(stderr, 2);
		}
	}
	if (optind != argc)
		usage(stderr, 2);
	/* names come from the live processes only when the input is live */
	opt.live = opt.force_live || !strcmp(opt.path, "/proc/gfibers");
	if (opt.watch) {
		if (!strcmp(opt.path, "-")) {
			fprintf(stderr, "gfps: --watch needs a file it can read again\n");
			return 2;
		}
		c = watch();
		free(opt.flt.pids);
		return c;
	}
	if (read_set(&set)) {
		free(opt.flt.pids);
		return 1;
	}
	describe(&set);
	output(&set, NULL);
	infos_free(set.ngroups);
	gfps_set_free(&set);
	procs_close();
	free(opt.flt.pids);
	return 0;
}
