// SPDX-License-Identifier: GPL-2.0
/*
 * dump.c - Go-style fiber dumps (gf_dump, SIGQUIT, fatal errors,
 * deadlock), a small ELF symbolizer, and the goleak-like leak check.
 *
 * A parked fiber's stack is walked through frame pointers from the frame
 * its switch saved, while its status holds GSCAN (gf_ready spins on it,
 * so the fiber cannot run under the walk). Frames are checked against
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

void gfi_printf(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;
	ssize_t w;
	char *p = buf;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	while (n > 0) {
		w = write(fd, p, (size_t)n);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (int)w;
	}
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

static void print_pc(int fd, const char *prefix, uintptr_t pc, bool is_ret)
{
	const struct sym *s = sym_lookup(is_ret ? pc - 1 : pc);

	if (s)
		gfi_printf(fd, "%s%s+0x%lx\n", prefix, s->name,
			   (unsigned long)(pc - s->addr));
	else
		gfi_printf(fd, "%s?? pc=0x%lx\n", prefix, (unsigned long)pc);
}

static void print_fn_tail(int fd, uintptr_t fn)
{
	const struct sym *s = sym_lookup(fn);

	if (s && s->addr == fn)
		gfi_printf(fd, "\t%s (blocked in a tail call)\n", s->name);
	else
		gfi_printf(fd, "\t?? fn=0x%lx (blocked in a tail call)\n",
			   (unsigned long)fn);
}

static bool is_entry_frame(uintptr_t pc)
{
	const struct sym *s = sym_lookup(pc - 1);

	return s && (s->addr == (uintptr_t)gfi_fiber_main ||
		     s->addr == (uintptr_t)gfi_main_trampoline ||
		     s->addr == (uintptr_t)gf_ctx_start);
}

/* ---------------------------------------------------------- dump */

#define MAXFRAMES 48

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

static void print_frames(int fd, gfi_g *gp, uintptr_t *pcs, int n)
{
	int i, start = 0;

	if (!gfi_sched.traceback_all && gp->waitpc) {
		for (i = 0; i < n; i++)
			if (pcs[i] == gp->waitpc)
				break;
		if (i < n) {
			start = i;
		} else {
			/* frame chain broken: the wait site is still exact */
			print_pc(fd, "\t", gp->waitpc, true);
			return;
		}
	}
	for (i = start; i < n; i++) {
		if (!gfi_sched.traceback_all && is_entry_frame(pcs[i])) {
			/*
			 * The fiber's function made the blocking call as a
			 * tail call: its frame is gone, the call returns to
			 * the entry. Name the function at least.
			 */
			if (i == start && gp->fn)
				print_fn_tail(fd, (uintptr_t)gp->fn);
			break;
		}
		print_pc(fd, "\t", pcs[i], true);
	}
}

static void print_fiber(int fd, gfi_g *gp, uint32_t st, bool self)
{
	char rbuf[8];
	uintptr_t pcs[MAXFRAMES];
	int n = 0;

	if (st == GFIBERS_GWAITING || st == GFIBERS_GLEAKED) {
		int64_t mins = 0;
		const char *r = gfi_reason_name(gp->waitreason, rbuf,
						sizeof(rbuf));

		if (gp->waitsince)
			mins = (gfi_coarsetime() - gp->waitsince) / 60000000000LL;
		gfi_printf(fd, "fiber %ld [%s%s", (long)gp->id, r,
			   st == GFIBERS_GLEAKED ? " (leaked)" : "");
		if (mins >= 1)
			gfi_printf(fd, ", %ld minutes", (long)mins);
		gfi_printf(fd, "]%s%s%s:\n", gp->name[0] ? " \"" : "",
			   gp->name, gp->name[0] ? "\"" : "");
		if (gp->sp) {
			const struct gf_ctx_frame *f = gp->sp;

			n = walk(gp, f->rip, f->rbp, pcs);
		}
		print_frames(fd, gp, pcs, n);
	} else if (self) {
		gfi_printf(fd, "fiber %ld [%s]%s%s%s:\n", (long)gp->id,
			   gfi_status_name(st), gp->name[0] ? " \"" : "",
			   gp->name, gp->name[0] ? "\"" : "");
		n = walk(gp, (uintptr_t)__builtin_return_address(0),
			 (uintptr_t)__builtin_frame_address(0), pcs);
		gp->waitpc = 0;
		print_frames(fd, gp, pcs, n);
	} else {
		/*
		 * Not parked: the fiber runs or may start running any time,
		 * and exit and be recycled; only what is read atomically is
		 * shown (Go stops the world for this; we do not).
		 */
		gfi_printf(fd, "fiber %ld [%s]:\n",
			   (long)__atomic_load_n(&gp->id, __ATOMIC_RELAXED),
			   gfi_status_name(st));
		if (st == GFIBERS_GRUNNING || st == GFIBERS_GSYSCALL)
			gfi_printf(fd, "\t(running on another thread: stack "
				   "unavailable)\n");
		gfi_printf(fd, "\n");
		return;
	}
	if (gp->create_pc && gp->parent_id) {
		const struct sym *s = sym_lookup(gp->create_pc - 1);

		if (s)
			gfi_printf(fd, "created by %s+0x%lx in fiber %ld\n",
				   s->name,
				   (unsigned long)(gp->create_pc - s->addr),
				   (long)gp->parent_id);
		else
			gfi_printf(fd, "created by pc=0x%lx in fiber %ld\n",
				   (unsigned long)gp->create_pc,
				   (long)gp->parent_id);
	}
	if (gp->labels && gp->labels->n) {
		int i;

		gfi_printf(fd, "labels: {");
		for (i = 0; i < gp->labels->n; i++)
			gfi_printf(fd, "%s%s=%s", i ? ", " : "",
				   gp->labels->kv[i].key,
				   gp->labels->kv[i].val);
		gfi_printf(fd, "}\n");
	}
	gfi_printf(fd, "\n");
}

static bool ignored(int64_t id, const int64_t *ignore, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ignore[i] == id)
			return true;
	return false;
}

int gfi_dump(int fd, const int64_t *ignore, size_t nignore, bool only_others)
{
	/* n first: the array loaded after it holds at least n Gs */
	uint32_t n = atomic_load(&gfi_sched.nallgs), i;
	gfi_g **all = atomic_load(&gfi_sched.allgs);
	gfi_g *self = gfi_getg();
	int count = 0;

	for (i = 0; i < n; i++) {
		gfi_g *gp = all[i];
		uint32_t st = atomic_load(&gp->status);

		int64_t id = __atomic_load_n(&gp->id, __ATOMIC_RELAXED);

		if ((st & ~GSCAN) == GFIBERS_GDEAD || id == 0)
			continue;
		if (only_others && gp == self)
			continue;
		if (ignored(id, ignore, nignore))
			continue;
		if (gp == self) {
			print_fiber(fd, gp, GFIBERS_GRUNNING, true);
			count++;
			continue;
		}
		/* Hold a parked fiber still while walking its stack. */
		if (st == GFIBERS_GWAITING || st == GFIBERS_GLEAKED) {
			if (!atomic_compare_exchange_strong(&gp->status, &st,
							    st | GSCAN)) {
				st &= ~GSCAN;
				print_fiber(fd, gp, st == GFIBERS_GWAITING ||
						    st == GFIBERS_GLEAKED ?
						    GFIBERS_GRUNNABLE : st,
					    false);
				count++;
				continue;
			}
			print_fiber(fd, gp, st, false);
			atomic_store(&gp->status, st);
		} else {
			print_fiber(fd, gp, st & ~GSCAN, false);
		}
		count++;
	}
	return count;
}

GF_API int gf_dump(int fd)
{
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

static int quitpipe[2] = { -1, -1 };

static void sigquit_handler(int sig)
{
	char c = 1;
	int e = errno;

	(void)sig;
	if (write(quitpipe[1], &c, 1) < 0)
		(void)0;
	errno = e;
}

/* The dump runs on this plain thread, not in the handler: it may take
 * locks and allocate (the symbolizer) without deadlocking the program. */
static void *dumper(void *arg)
{
	char c;

	(void)arg;
	gfi_thread_own();
	while (read(quitpipe[0], &c, 1) != 0) {
		gfi_printf(2, "SIGQUIT: fiber dump\n\n");
		gf_dump(2);
	}
	return NULL;
}

void gfi_dump_init(void)
{
	const char *no = getenv("GF_NOSIGQUIT");
	struct sigaction sa;
	pthread_t t;
	int err;

	if (no && !strcmp(no, "1"))
		return;
	/*
	 * Without its pipe or thread the program runs on and SIGQUIT keeps
	 * its default action (core dump), said here so that nobody waits for
	 * a dump that cannot come.
	 */
	if (pipe2(quitpipe, O_CLOEXEC)) {
		gfi_printf(2, "libgfiber: SIGQUIT dumps off: pipe2: %s (GF_NOSIGQUIT=1 turns them off quietly)\n",
			   strerror(errno));
		quitpipe[0] = quitpipe[1] = -1;
		return;
	}
	err = pthread_create(&t, NULL, dumper, NULL);
	if (err) {
		gfi_printf(2, "libgfiber: SIGQUIT dumps off: pthread_create: %s (GF_NOSIGQUIT=1 turns them off quietly)\n",
			   strerror(err));
		close(quitpipe[0]);
		close(quitpipe[1]);
		quitpipe[0] = quitpipe[1] = -1;
		return;
	}
	pthread_detach(t);
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
			int64_t timeout_ns)
{
	gfi_g *self = gfi_getg();
	int64_t deadline = gfi_nanotime() + (timeout_ns > 0 ? timeout_ns : 0);
	int n;

	if (!self) {
		errno = EPERM;
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
