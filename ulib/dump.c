// SPDX-License-Identifier: MIT
/*
 * dump.c - Go-style fiber dumps (gf_dump, SIGQUIT, fatal errors,
 * deadlock), a small ELF symbolizer, and the goleak-like leak check.
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
 * Symbols come from the ELF .symtab (else .dynsym) of each loaded object
 * (dl_iterate_phdr), read once: static binaries and hidden functions are
 * named too, with no library beyond libc.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"

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

/* ---------------------------------------------------------- symbols */

struct sym {
	uintptr_t addr;
	uintptr_t size;
	const char *name;
};

struct object {
	uintptr_t bias;
	uintptr_t lo, hi;		/* loaded range */
	struct sym *syms;
	size_t nsyms;
	struct object *next;
};

static pthread_mutex_t symlock = PTHREAD_MUTEX_INITIALIZER;
static struct object *objects;
static bool objects_loaded;

static int symcmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void load_symbols(struct object *o, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	const char *map;
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	int i, pick = -1;

	if (fd < 0)
		return;
	if (fstat(fd, &st) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	eh = (const Elf64_Ehdr *)(const void *)map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || !eh->e_shoff ||
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) >
		    (uint64_t)st.st_size)
		return;
	sh = (const Elf64_Shdr *)(const void *)(map + eh->e_shoff);
	for (i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type == SHT_SYMTAB)
			pick = i;
		else if (sh[i].sh_type == SHT_DYNSYM && pick < 0)
			pick = i;
	}
	if (pick < 0 || sh[pick].sh_link >= eh->e_shnum)
		return;
	{
		const Elf64_Shdr *ss = &sh[pick], *strs = &sh[ss->sh_link];
		size_t n = ss->sh_size / sizeof(Elf64_Sym), k = 0, j;
		const Elf64_Sym *sy;

		if (ss->sh_offset + ss->sh_size > (uint64_t)st.st_size ||
		    strs->sh_offset + strs->sh_size > (uint64_t)st.st_size)
			return;
		sy = (const Elf64_Sym *)(const void *)(map + ss->sh_offset);
		o->syms = malloc(sizeof(*o->syms) * (n ? n : 1));
		if (!o->syms)
			return;
		for (j = 0; j < n; j++) {
			if (ELF64_ST_TYPE(sy[j].st_info) != STT_FUNC ||
			    !sy[j].st_value || sy[j].st_name >= strs->sh_size)
				continue;
			o->syms[k].addr = sy[j].st_value + o->bias;
			o->syms[k].size = sy[j].st_size;
			o->syms[k].name = map + strs->sh_offset + sy[j].st_name;
			k++;
		}
		qsort(o->syms, k, sizeof(*o->syms), symcmp);
		o->nsyms = k;
	}
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct object *o;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	int i;

	(void)size;
	(void)data;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < lo)
			lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
			hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	if (hi <= lo)
		return 0;
	o = calloc(1, sizeof(*o));
	if (!o)
		return 0;
	o->bias = info->dlpi_addr;
	o->lo = lo;
	o->hi = hi;
	if (info->dlpi_name && info->dlpi_name[0] == '/')
		load_symbols(o, info->dlpi_name);
	else if (!info->dlpi_name || !info->dlpi_name[0])
		load_symbols(o, "/proc/self/exe");
	o->next = objects;
	objects = o;
	return 0;
}

/* The function containing pc: its symbol, or NULL. */
static const struct sym *sym_lookup(uintptr_t pc)
{
	struct object *o;

	pthread_mutex_lock(&symlock);
	if (!objects_loaded) {
		objects_loaded = true;
		dl_iterate_phdr(phdr_cb, NULL);
	}
	pthread_mutex_unlock(&symlock);
	for (o = objects; o; o = o->next) {
		size_t lo = 0, hi = o->nsyms;

		if (pc < o->lo || pc >= o->hi)
			continue;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (o->syms[mid].addr <= pc)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == 0)
			return NULL;
		return &o->syms[lo - 1];
	}
	return NULL;
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

/* The dump's output: fd, and the first write error (0: none). */
struct dump_out {
	int fd;
	int err;
};

/* Print to o unless an earlier write failed; keep the first error. */
static __attribute__((format(printf, 2, 3))) void
out_printf(struct dump_out *o, const char *f, ...)
{
	va_list ap;

	if (o->err)
		return;
	va_start(ap, f);
	if (vprint(o->fd, f, ap))
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

/* Copy gp, which is parked and held with GSCAN, or is the caller. */
static __attribute__((noinline)) void snap_full(struct fiber_snap *sn,
						gfi_g *gp, uint32_t st,
						bool self)
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
		/* from our caller up: its wait site is none */
		sn->waitpc = 0;
		sn->npcs = walk(gp, (uintptr_t)__builtin_return_address(0),
				(uintptr_t)__builtin_frame_address(0),
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

static void print_pc(struct dump_out *o, uintptr_t pc, bool is_ret)
{
	const struct sym *s = sym_lookup(is_ret ? pc - 1 : pc);

	if (s)
		out_printf(o, "\t%s+0x%lx\n", s->name,
			   (unsigned long)(pc - s->addr));
	else
		out_printf(o, "\t?? pc=0x%lx\n", (unsigned long)pc);
}

static void print_fn_tail(struct dump_out *o, uintptr_t fn)
{
	const struct sym *s = sym_lookup(fn);

	if (s && s->addr == fn)
		out_printf(o, "\t%s (blocked in a tail call)\n", s->name);
	else
		out_printf(o, "\t?? fn=0x%lx (blocked in a tail call)\n",
			   (unsigned long)fn);
}

static bool is_entry_frame(uintptr_t pc)
{
	const struct sym *s = sym_lookup(pc - 1);

	return s && (s->addr == (uintptr_t)gfi_fiber_main ||
		     s->addr == (uintptr_t)gfi_main_trampoline ||
		     s->addr == (uintptr_t)gf_ctx_start);
}

static void print_frames(struct dump_out *o, const struct fiber_snap *sn)
{
	int i, start = 0, n = sn->npcs;

	if (!gfi_sched.traceback_all && sn->waitpc) {
		for (i = 0; i < n; i++)
			if (sn->pcs[i] == sn->waitpc)
				break;
		if (i < n) {
			start = i;
		} else {
			/* frame chain broken: the wait site is still exact */
			print_pc(o, sn->waitpc, true);
			return;
		}
	}
	for (i = start; i < n; i++) {
		if (!gfi_sched.traceback_all && is_entry_frame(sn->pcs[i])) {
			/*
			 * The fiber's function made the blocking call as a
			 * tail call: its frame is gone, the call returns to
			 * the entry. Name the function at least.
			 */
			if (i == start && sn->fn)
				print_fn_tail(o, sn->fn);
			break;
		}
		print_pc(o, sn->pcs[i], true);
	}
}

static void print_fiber(struct dump_out *o, const struct fiber_snap *sn)
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
	print_frames(o, sn);
	if (sn->create_pc && sn->parent_id) {
		const struct sym *s = sym_lookup(sn->create_pc - 1);

		if (s)
			out_printf(o, "created by %s+0x%lx in fiber %ld\n",
				   s->name,
				   (unsigned long)(sn->create_pc - s->addr),
				   (long)sn->parent_id);
		else
			out_printf(o, "created by pc=0x%lx in fiber %ld\n",
				   (unsigned long)sn->create_pc,
				   (long)sn->parent_id);
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
		       const int64_t *ignore, size_t nignore)
{
	uint32_t st = atomic_load(&gp->status);
	int64_t id = __atomic_load_n(&gp->id, __ATOMIC_RELAXED);

	if ((st & ~GSCAN) == GFIBERS_GDEAD || id == 0 ||
	    ignored(id, ignore, nignore))
		return false;
	if (gp == self) {
		snap_full(sn, gp, GFIBERS_GRUNNING, true);
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
	snap_full(sn, gp, st, false);
	atomic_store(&gp->status, st);
	return true;
}

int gfi_dump(int fd, const int64_t *ignore, size_t nignore, bool only_others)
{
	/* n first: the array loaded after it holds at least n Gs */
	uint32_t n = atomic_load(&gfi_sched.nallgs), i;
	gfi_g **all = atomic_load(&gfi_sched.allgs);
	gfi_g *self = gfi_getg();
	struct dump_out o = { fd, 0 };
	struct fiber_snap sn;
	int count = 0;

	for (i = 0; i < n; i++) {
		if (only_others && all[i] == self)
			continue;
		if (!snap_fiber(&sn, all[i], self, ignore, nignore))
			continue;
		print_fiber(&o, &sn);
		count++;
	}
	if (o.err) {
		errno = o.err;
		return -1;
	}
	return count;
}

GF_API int gf_dump(int fd)
{
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (!gfi_sched.allp)
		return 0;
	return gfi_dump(fd, NULL, 0, false);
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
 * locks and allocate (the symbolizer) without deadlocking the program. */
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
