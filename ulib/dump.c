// SPDX-License-Identifier: MIT
/*
 * dump.c - Go-style fiber dumps (gf_dump, SIGQUIT, fatal errors,
 * deadlock) and the goleak-like leak check.
 *
 * A parked fiber's stack is walked through frame pointers from the frame
 * its switch saved, while its status holds GSCAN (gf_ready spins on it,
 * so the fiber cannot run under the walk). What is printed is copied
 * under GSCAN and formatted and written after it is dropped: the fd may
 * be a full pipe, the first symbol lookup reads files, and every waker
 * of the fiber would spin meanwhile. Frames are checked against
 * the fiber's stack bounds, so garbage in rbp (code built without frame
 * pointers) ends the walk instead of faulting. Runtime frames are the
 * ones above the wait site (the return address captured at the public
 * call's entry) and the fiber's entry trampoline below the user's
 * function; GF_TRACEBACK=all shows them.
 *
 * Frames are printed as Go prints them: the function, then a tab, its
 * file:line and the offset in the function ("\t? +0x2a" without line
 * information), an inlined call as a frame of its own; names come from the
 * tools' symbolizer on libdw.so.1, loaded at run time, else from the ELF
 * symbol tables, which the dump's first line then says (symbolize.c).
 * libdw runs on the symbolizer thread, never on the dumping fiber's
 * stack: that thread formats each fiber's lines into memory, and this
 * one writes them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"
#include "symbolize.h"

/*
 * Formatting without stdio: vsnprintf may allocate or take locks (the
 * locale's), so it cannot run in a signal handler (the SIGSEGV report of
 * a stack overflow) or on a stack that just overflowed. This knows the
 * conversions the runtime uses: %s %c %d %u %x %ld %lu %lx %p %%;
 * anything else is written as '?'.
 */
struct fmtbuf {
	char *p, *end;
};

static void fmt_ch(struct fmtbuf *b, char c)
{
	if (b->p < b->end)
		*b->p++ = c;
}

static void fmt_str(struct fmtbuf *b, const char *s)
{
	if (!s)
		s = "(null)";
	while (*s)
		fmt_ch(b, *s++);
}

static void fmt_num(struct fmtbuf *b, unsigned long v, unsigned int base,
		    bool neg)
{
	char t[24];
	int n = 0;

	do {
		t[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		fmt_ch(b, '-');
	while (n)
		fmt_ch(b, t[--n]);
}

static size_t fmt(char *buf, size_t size, const char *f, va_list ap)
{
	struct fmtbuf b = { buf, buf + size };

	for (; *f; f++) {
		bool l = false;
		long v;

		if (*f != '%') {
			fmt_ch(&b, *f);
			continue;
		}
		if (*++f == 'l') {
			l = true;
			f++;
		}
		switch (*f) {
		case 's':
			fmt_str(&b, va_arg(ap, const char *));
			break;
		case 'c':
			fmt_ch(&b, (char)va_arg(ap, int));
			break;
		case 'd':
			v = l ? va_arg(ap, long) : va_arg(ap, int);
			fmt_num(&b, v < 0 ? -(unsigned long)v : (unsigned long)v,
				10, v < 0);
			break;
		case 'u':
			fmt_num(&b, l ? va_arg(ap, unsigned long)
				      : va_arg(ap, unsigned int), 10, false);
			break;
		case 'x':
			fmt_num(&b, l ? va_arg(ap, unsigned long)
				      : va_arg(ap, unsigned int), 16, false);
			break;
		case 'p':
			fmt_str(&b, "0x");
			fmt_num(&b, (unsigned long)(uintptr_t)va_arg(ap, void *),
				16, false);
			break;
		case '%':
			fmt_ch(&b, '%');
			break;
		case 0:
			f--;	/* a lone '%' at the end */
			__attribute__((fallthrough));
		default:
			fmt_ch(&b, '?');
			break;
		}
	}
	return (size_t)(b.p - buf);
}

/* Write all of buf; 0, or -1 with errno (EINTR retried). */
static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int vprint(int fd, const char *f, va_list ap)
{
	char buf[1024];

	return write_all(fd, buf, fmt(buf, sizeof(buf), f, ap));
}

int gfi_printf(int fd, const char *f, ...)
{
	va_list ap;
	int r;

	va_start(ap, f);
	r = vprint(fd, f, ap);
	va_end(ap);
	return r;
}

/* ---------------------------------------------------------- dump */

#define MAXFRAMES 48

/*
 * What is printed of one fiber, copied while it cannot change: a parked
 * fiber's under GSCAN, which its wakers spin on, so nothing slow is done
 * meanwhile - no write (the fd may be a full pipe), no symbol loading
 * (open, mmap, malloc) - only these stores; the caller's own, as is.
 */
struct fiber_snap {
	int64_t id, parent_id;
	uint32_t status;
	bool full;			/* parked or the caller: all below */
	uint32_t waitreason;
	int64_t waitsince;
	uintptr_t waitpc, create_pc, fn;
	char name[32];
	int npcs;
	uintptr_t pcs[MAXFRAMES];
	int nlabels;
	struct {
		char key[64];
		char val[64];
	} kv[8];
};

/*
 * The dump's output: fd and the first write error (0: none); with buf, a
 * fiber's lines gathered in memory (by the symbolizer thread) for the
 * dump's own thread to write.
 */
struct dump_out {
	int fd;
	int err;
	char *buf;
	size_t len, cap;
};

/* Print to o unless an earlier write failed; keep the first error. */
static __attribute__((format(printf, 2, 3))) void
out_printf(struct dump_out *o, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	if (o->buf)
		o->len += fmt(o->buf + o->len, o->cap - o->len, f, ap);
	else if (!o->err && vprint(o->fd, f, ap))
		o->err = errno ? errno : EIO;
	va_end(ap);
}

static int walk(gfi_g *gp, uintptr_t pc0, uintptr_t fp, uintptr_t *pcs)
{
	int n = 0;

	pcs[n++] = pc0;
	while (n < MAXFRAMES && fp >= (uintptr_t)gp->stack_lo &&
	       fp + 16 <= (uintptr_t)gp->stack_hi && !(fp & 7)) {
		uintptr_t ret = ((uintptr_t *)fp)[1];
		uintptr_t next = ((uintptr_t *)fp)[0];

		if (!ret)
			break;
		pcs[n++] = ret;
		if (next <= fp)
			break;
		fp = next;
	}
	return n;
}

/*
 * Copy gp, which is parked and held with GSCAN, or is the caller (self):
 * then selfpc, where the program called the dump (0: unknown), is its
 * "wait site", above which the dump's own frames are not shown.
 */
static __attribute__((noinline)) void snap_full(struct fiber_snap *sn,
						gfi_g *gp, uint32_t st,
						bool self, uintptr_t selfpc)
{
	int i;

	sn->id = gp->id;
	sn->status = st;
	sn->full = true;
	sn->parent_id = gp->parent_id;
	sn->create_pc = gp->create_pc;
	sn->fn = (uintptr_t)gp->fn;
	memcpy(sn->name, gp->name, sizeof(sn->name));
	sn->name[sizeof(sn->name) - 1] = 0;
	sn->waitreason = gp->waitreason;
	sn->waitsince = gp->waitsince;
	if (self) {
		/* from our caller up: our frame's return address, then
		 * the frames of the callers' saved frame pointers */
		sn->waitpc = selfpc;
		sn->npcs = walk(gp, (uintptr_t)__builtin_return_address(0),
				*(uintptr_t *)__builtin_frame_address(0),
				sn->pcs);
	} else {
		const struct gf_ctx_frame *f = gp->sp;

		sn->waitpc = gp->waitpc;
		sn->npcs = f ? walk(gp, f->rip, f->rbp, sn->pcs) : 0;
	}
	sn->nlabels = 0;
	if (gp->labels) {
		sn->nlabels = gp->labels->n < 8 ? gp->labels->n : 8;
		for (i = 0; i < sn->nlabels; i++)
			memcpy(&sn->kv[i], &gp->labels->kv[i],
			       sizeof(sn->kv[i]));
	}
}

/* A frame's function: its name, else module+0xoff, else the pc. */
static void print_name(struct dump_out *o, const struct gfi_frame *f,
		       uintptr_t pc)
{
	if (f->func[0])
		out_printf(o, "%s", f->func);
	else if (f->module[0])
		out_printf(o, "%s+0x%lx", f->module, (unsigned long)f->modoff);
	else
		out_printf(o, "0x%lx", (unsigned long)pc);
}

/*
 * A frame's second line, Go's: "\tfile:line +0xoff" ("\t?" without line
 * information; no offset for an inlined call: its code is the caller's),
 * then tail.
 */
static void print_where(struct dump_out *o, const struct gfi_frame *f,
			const char *tail)
{
	if (f->file[0])
		out_printf(o, "\t%s:%d", f->file, f->line);
	else
		out_printf(o, "\t?");
	if (!f->inlined && f->func[0] && f->funcoff)
		out_printf(o, " +0x%lx", (unsigned long)f->funcoff);
	out_printf(o, "%s\n", tail);
}

static void print_frame(struct dump_out *o, const struct gfi_frame *f,
			uintptr_t pc, const char *tail)
{
	print_name(o, f, pc);
	out_printf(o, "(...)\n");
	print_where(o, f, tail);
}

/* The frames of one pc: the inlined calls, then the function. */
static void print_pc(struct dump_out *o, uintptr_t pc, bool dwarf)
{
	struct gfi_frame fr[GFI_MAXINLINE];
	int n = gfi_sym_frames(pc, true, dwarf, fr, GFI_MAXINLINE), i;

	for (i = 0; i < n; i++)
		print_frame(o, &fr[i], pc, "");
}

/* The fiber's entry: the runtime's trampolines below the user's function. */
static bool is_entry(const char *f)
{
	return !strcmp(f, "gfi_fiber_main") ||
	       !strcmp(f, "gfi_main_trampoline") ||
	       !strcmp(f, "gf_ctx_start");
}

static void print_frames(struct dump_out *o, const struct fiber_snap *sn,
			 bool dwarf)
{
	struct gfi_frame fr[GFI_MAXINLINE];
	int i, k, nf, start = 0, n = sn->npcs;

	if (!gfi_sched.traceback_all && sn->waitpc) {
		for (i = 0; i < n; i++)
			if (sn->pcs[i] == sn->waitpc)
				break;
		if (i < n) {
			start = i;
		} else {
			/* frame chain broken: the wait site is still exact */
			print_pc(o, sn->waitpc, dwarf);
			return;
		}
	}
	for (i = start; i < n; i++) {
		nf = gfi_sym_frames(sn->pcs[i], true, dwarf, fr, GFI_MAXINLINE);
		if (!gfi_sched.traceback_all && is_entry(fr[nf - 1].func)) {
			/*
			 * The fiber's function made the blocking call as a
			 * tail call: its frame is gone, the call returns to
			 * the entry. Name the function at least.
			 */
			if (i == start && sn->fn) {
				nf = gfi_sym_frames(sn->fn, false, dwarf, fr, 1);
				print_frame(o, &fr[nf - 1], sn->fn,
					    " (blocked in a tail call)");
			}
			break;
		}
		for (k = 0; k < nf; k++)
			print_frame(o, &fr[k], sn->pcs[i], "");
	}
}

static void print_fiber(struct dump_out *o, const struct fiber_snap *sn,
			bool dwarf)
{
	const char *q = sn->name[0] ? "\"" : "";
	const char *sp = sn->name[0] ? " " : "";
	char rbuf[8];
	int i;

	if (!sn->full) {
		/*
		 * Not parked: the fiber runs or may start running any time,
		 * and exit and be recycled; only what was read atomically is
		 * shown (Go stops the world for this; we do not).
		 */
		out_printf(o, "fiber %ld [%s]:\n", (long)sn->id,
			   gfi_status_name(sn->status));
		if (sn->status == GFIBERS_GRUNNING ||
		    sn->status == GFIBERS_GSYSCALL)
			out_printf(o, "\t(running on another thread: stack "
				   "unavailable)\n");
		out_printf(o, "\n");
		return;
	}
	if (sn->status == GFIBERS_GWAITING || sn->status == GFIBERS_GLEAKED) {
		int64_t mins = 0;

		if (sn->waitsince)
			mins = (gfi_coarsetime() - sn->waitsince) / 60000000000LL;
		out_printf(o, "fiber %ld [%s%s", (long)sn->id,
			   gfi_reason_name(sn->waitreason, rbuf, sizeof(rbuf)),
			   sn->status == GFIBERS_GLEAKED ? " (leaked)" : "");
		if (mins >= 1)
			out_printf(o, ", %ld minutes", (long)mins);
		out_printf(o, "]%s%s%s%s:\n", sp, q, sn->name, q);
	} else {
		out_printf(o, "fiber %ld [%s]%s%s%s%s:\n", (long)sn->id,
			   gfi_status_name(sn->status), sp, q, sn->name, q);
	}
	print_frames(o, sn, dwarf);
	if (sn->create_pc && sn->parent_id) {
		struct gfi_frame f;

		/* the innermost frame: where gf_go is written */
		gfi_sym_frames(sn->create_pc, true, dwarf, &f, 1);
		out_printf(o, "created by ");
		print_name(o, &f, sn->create_pc);
		out_printf(o, " in fiber %ld\n", (long)sn->parent_id);
		print_where(o, &f, "");
	}
	if (sn->nlabels) {
		out_printf(o, "labels: {");
		for (i = 0; i < sn->nlabels; i++)
			out_printf(o, "%s%s=%s", i ? ", " : "",
				   sn->kv[i].key, sn->kv[i].val);
		out_printf(o, "}\n");
	}
	out_printf(o, "\n");
}

static bool ignored(int64_t id, const int64_t *ignore, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ignore[i] == id)
			return true;
	return false;
}

/*
 * Snapshot gp into sn; false if there is nothing to print (dead, or
 * ignored). A parked fiber is held with GSCAN only for the copy.
 */
static bool snap_fiber(struct fiber_snap *sn, gfi_g *gp, gfi_g *self,
		       uintptr_t selfpc, const int64_t *ignore, size_t nignore)
{
	uint32_t st = atomic_load(&gp->status);
	int64_t id = __atomic_load_n(&gp->id, __ATOMIC_RELAXED);

	if ((st & ~GSCAN) == GFIBERS_GDEAD || id == 0 ||
	    ignored(id, ignore, nignore))
		return false;
	if (gp == self) {
		snap_full(sn, gp, GFIBERS_GRUNNING, true, selfpc);
		return true;
	}
	sn->full = false;
	sn->id = id;
	sn->status = st & ~GSCAN;
	if (st != GFIBERS_GWAITING && st != GFIBERS_GLEAKED)
		return true;
	/* Hold a parked fiber still while copying it. */
	if (!atomic_compare_exchange_strong(&gp->status, &st, st | GSCAN)) {
		/* it just left its wait (or another scan holds it) */
		st &= ~GSCAN;
		sn->status = st == GFIBERS_GWAITING || st == GFIBERS_GLEAKED ?
			     GFIBERS_GRUNNABLE : st;
		return true;
	}
	snap_full(sn, gp, st, false, 0);
	atomic_store(&gp->status, st);
	return true;
}

/* One fiber's lines, formatted on the symbolizer thread (libdw's). */
struct format_call {
	struct dump_out *text;
	const struct fiber_snap *sn;
};

static void format_fiber(void *arg)
{
	struct format_call *c = arg;

	print_fiber(c->text, c->sn, true);
}

/* A fiber's lines: 48 frames of a few inlined calls each fit easily. */
#define TEXT_SIZE	(64 << 10)

/* gfi_dump's; selfpc: where the program called the dump (0: unknown). */
static int dump(int fd, const int64_t *ignore, size_t nignore,
		bool only_others, uintptr_t selfpc)
{
	/* n first: the array loaded after it holds at least n Gs */
	uint32_t n = atomic_load(&gfi_sched.nallgs), i;
	gfi_g **all = atomic_load(&gfi_sched.allgs);
	gfi_g *self = gfi_getg();
	struct dump_out o = { .fd = fd }, text = { .fd = fd };
	const char *why = gfi_sym_begin();
	struct fiber_snap sn;
	int count = 0;

	if (!why) {
		text.buf = malloc(TEXT_SIZE);
		text.cap = TEXT_SIZE;
		if (!text.buf)
			why = "no memory for the dump's text";
	}
	/* the one line that says this dump has no file:line, and why */
	if (why)
		out_printf(&o, "symbols: symbol table only (%s)\n\n", why);
	for (i = 0; i < n; i++) {
		if (only_others && all[i] == self)
			continue;
		if (!snap_fiber(&sn, all[i], self, selfpc, ignore, nignore))
			continue;
		count++;
		if (!text.buf) {
			print_fiber(&o, &sn, false);
			continue;
		}
		struct format_call c = { &text, &sn };

		text.len = 0;
		gfi_sym_call(format_fiber, &c);
		if (text.len == text.cap) {
			static const char cut[] = "\t...(cut)\n\n";

			memcpy(text.buf + text.cap - sizeof(cut) + 1, cut,
			       sizeof(cut) - 1);
		}
		if (!o.err && write_all(fd, text.buf, text.len))
			o.err = errno ? errno : EIO;
	}
	free(text.buf);
	if (o.err) {
		errno = o.err;
		return -1;
	}
	return count;
}

int gfi_dump(int fd, const int64_t *ignore, size_t nignore, bool only_others)
{
	return dump(fd, ignore, nignore, only_others, 0);
}

GF_API __attribute__((noinline)) int gf_dump(int fd)
{
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (!gfi_sched.allp)
		return 0;
	/* the caller's frames from its call of gf_dump, as Go's for the
	 * running goroutine from its call of the runtime */
	return dump(fd, NULL, 0, false,
		    (uintptr_t)__builtin_return_address(0));
}

/* ---------------------------------------------------------- fatal */

static _Atomic int dying;

void gfi_fatal(const char *msg)
{
	gfi_g *gp = gfi_getg();

	if (atomic_exchange(&dying, 1)) {
		gfi_printf(2, "fatal error: %s (while dying)\n", msg);
		abort();
	}
	gfi_printf(2, "fatal error: %s\n\n", msg);
	if (gp)
		gfi_printf(2, "in fiber %ld\n\n", (long)gp->id);
	gfi_dump(2, NULL, 0, false);
	signal(SIGABRT, SIG_DFL);
	abort();
}

void gfi_fatal_at(const char *file, int line, const char *msg)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s at %s:%d", msg, file, line);
	gfi_fatal(buf);
}

/* ---------------------------------------------------------- SIGQUIT */

/*
 * The handler only writes a byte to quitpipe; the dump runs on the
 * dumper thread. The write end is non-blocking: a full pipe means dumps
 * are pending already, and a handler must never block its thread. A
 * fork child has no dumper (threads are not copied) and shares the
 * parent's pipe, whose byte the parent's dumper would read and dump the
 * parent: dump_fork_child gives the child a pipe and a dumper of its
 * own.
 */
static int quitpipe[2] = { -1, -1 };

static void sigquit_handler(int sig)
{
	char c = 1;
	int e = errno;

	(void)sig;
	if (write(quitpipe[1], &c, 1) < 0)
		(void)0;	/* EAGAIN: a dump is pending anyway */
	errno = e;
}

/* The dump runs on this plain thread, not in the handler: it may take
 * locks, allocate and load libdw (the symbolizer) without deadlocking the
 * program. */
static void *dumper(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char c;

	gfi_thread_own();
	while (read(fd, &c, 1) != 0) {
		gfi_printf(2, "SIGQUIT: fiber dump\n\n");
		gf_dump(2);
	}
	return NULL;
}

/* A pipe and its dumper; 0, or -1 with what failed said on stderr. */
static int dumper_start(void)
{
	pthread_t t;
	int err;

	if (pipe2(quitpipe, O_CLOEXEC)) {
		err = errno;
		gfi_printf(2, "libgfiber: SIGQUIT dumps off: pipe2: %s (GF_NOSIGQUIT=1 turns them off quietly)\n",
			   strerror(err));
		quitpipe[0] = quitpipe[1] = -1;
		return -1;
	}
	fcntl(quitpipe[1], F_SETFL, O_NONBLOCK);
	err = pthread_create(&t, NULL, dumper,
			     (void *)(intptr_t)quitpipe[0]);
	if (err) {
		gfi_printf(2, "libgfiber: SIGQUIT dumps off: pthread_create: %s (GF_NOSIGQUIT=1 turns them off quietly)\n",
			   strerror(err));
		close(quitpipe[0]);
		close(quitpipe[1]);
		quitpipe[0] = quitpipe[1] = -1;
		return -1;
	}
	pthread_detach(t);
	return 0;
}

static void dump_fork_child(void)
{
	struct sigaction sa;

	close(quitpipe[0]);
	close(quitpipe[1]);
	quitpipe[0] = quitpipe[1] = -1;
#ifndef GF_TSAN
	/* (TSan kills a multi-threaded process's child that starts one) */
	if (dumper_start() == 0)
		return;
#endif
	/* No dumper here: SIGQUIT's default action, as said above. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGQUIT, &sa, NULL);
}

void gfi_dump_init(void)
{
	const char *no = getenv("GF_NOSIGQUIT");
	struct sigaction sa;

	gfi_sym_init();
	if (no && !strcmp(no, "1"))
		return;
	/*
	 * Without its pipe or thread the program runs on and SIGQUIT keeps
	 * its default action (core dump), said on stderr so that nobody
	 * waits for a dump that cannot come.
	 */
	if (dumper_start())
		return;
	pthread_atfork(NULL, NULL, dump_fork_child);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sigquit_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGQUIT, &sa, NULL);
}

/* ---------------------------------------------------------- leak check */

static int count_others(gfi_g *self, const int64_t *ignore, size_t n)
{
	uint32_t nall = atomic_load(&gfi_sched.nallgs), i;
	gfi_g **all = atomic_load(&gfi_sched.allgs);
	int c = 0;

	for (i = 0; i < nall; i++) {
		gfi_g *gp = all[i];
		uint32_t st = atomic_load(&gp->status) & ~GSCAN;

		if (st == GFIBERS_GDEAD || gp == self ||
		    ignored(__atomic_load_n(&gp->id, __ATOMIC_RELAXED),
			    ignore, n))
			continue;
		c++;
	}
	return c;
}

GF_API int gf_leakcheck(int fd, const int64_t *ignore, size_t nignore,
			gf_deadline_t until)
{
	gfi_g *self = gfi_getg();
	int64_t deadline = until.ns;
	int n;

	if (!self) {
		errno = EPERM;
		return -1;
	}
	/* The bound is required: forever would hang on the first leak. */
	if ((!ignore && nignore) || deadline == GFI_FOREVER) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		n = count_others(self, ignore, nignore);
		if (n == 0)
			return 0;
		if (gfi_nanotime() >= deadline)
			break;
		gf_sleep(1000000);
	}
	gfi_printf(fd, "found unexpected fibers:\n\n");
	gfi_dump(fd, ignore, nignore, true);
	return n;
}
