// SPDX-License-Identifier: MIT
/*
 * symbolize.c - names for the dumps: the tools' symbolizer (dwnames.h,
 * elfutils' libdwfl: function, file:line, inlined frames, separate debug
 * files by build-id) with libdw.so.1 loaded at run time, and the ELF
 * symbol-table reader it falls back on.
 *
 * libgfiber does not depend on libdw at link time: a program that never
 * dumps never loads it, and one on a system without it still runs. The
 * first dump dlopen()s libdw.so.1 and fills a table of pointers with
 * dlsym(); dwnames.h calls libdw through it. Not loaded when GF_NO_LIBDW=1,
 * in a static binary (dlopen there would bring a second libc into the
 * process; and libgfiber does not name dlopen, see dynamic_func), or in a fork child of a TSan build (no thread may
 * start there). Each dump that cannot use it says why in its first line,
 * and names its code from the symbol tables: the function and offset, no
 * file:line.
 *
 * libdw runs on one thread of its own, the symbolizer, started with libdw:
 * a dump may run on a fiber, whose 64 KiB stack libdw overflows (it needs
 * more than 128 KiB, see SYMBOLIZER_STACK), and one thread needs no lock
 * around libdw, which is not thread-safe. The thread is the runtime's (gfi_thread_own): the
 * deadlock check does not take it for a plain thread that could wake a
 * fiber. It formats a fiber's lines into memory; the dump's own thread
 * writes them, so a dump stuck on a full pipe holds no other dump up.
 *
 * No dump runs in a signal handler: SIGQUIT's handler writes a byte for
 * the dumper thread, and the stack overflow report (stack.c) prints no
 * dump. A fatal error's dump (gfi_fatal: the deadlock) runs on the failing
 * thread like gf_dump's, and may load libdw like it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbolize.h"
#include "dwnames.h"

/* ---------------------------------------------------------- symbol tables */

/*
 * The fallback: the ELF .symtab (else .dynsym) of each loaded object
 * (dl_iterate_phdr), read once: static binaries and hidden functions are
 * named too, with no library beyond libc.
 */
struct sym {
	uintptr_t addr;
	uintptr_t size;
	const char *name;
};

struct object {
	uintptr_t bias;
	uintptr_t lo, hi;		/* loaded range */
	const char *path;		/* NULL: the executable */
	unsigned int order;		/* in dl_iterate_phdr's: load order */
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
	static unsigned int order;
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
	o->order = order++;
	o->lo = lo;
	o->hi = hi;
	if (info->dlpi_name && info->dlpi_name[0] == '/') {
		o->path = info->dlpi_name;
		load_symbols(o, info->dlpi_name);
	} else if (!info->dlpi_name || !info->dlpi_name[0]) {
		load_symbols(o, "/proc/self/exe");
	}
	o->next = objects;
	objects = o;
	return 0;
}

static void objects_load(void)
{
	pthread_mutex_lock(&symlock);
	if (!objects_loaded) {
		objects_loaded = true;
		dl_iterate_phdr(phdr_cb, NULL);
	}
	pthread_mutex_unlock(&symlock);
}

/* The object holding pc and, in *s, the function containing it (or NULL). */
static const struct object *sym_lookup(uintptr_t pc, const struct sym **s)
{
	struct object *o;

	*s = NULL;
	objects_load();
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
		if (lo > 0)
			*s = &o->syms[lo - 1];
		return o;
	}
	return NULL;
}

static void copy(char *dst, size_t len, const char *src)
{
	size_t n = src ? strnlen(src, len - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

static const char *base(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;

	return s ? s + 1 : path;
}

/* One frame from the symbol tables: the function and offset. */
static int symtab_frame(uintptr_t pc, bool retaddr, struct gfi_frame *f)
{
	uintptr_t a = retaddr && pc ? pc - 1 : pc;
	const struct sym *s;
	const struct object *o = sym_lookup(a, &s);

	memset(f, 0, sizeof(*f));
	if (s) {
		copy(f->func, sizeof(f->func), s->name);
		f->funcoff = pc - s->addr;
	}
	if (o) {
		copy(f->module, sizeof(f->module),
		     o->path ? base(o->path) : program_invocation_short_name);
		f->modoff = pc - o->bias;
	}
	return 1;
}

/* ---------------------------------------------------------- libdw */

/*
 * The function name as the dynamic linker binds it: from the first shared
 * object in load order that defines it (libc.so.6; a sanitizer's
 * interceptor before it). NULL in a static binary, whose own copy of
 * dlopen would load a second libc. For dlopen and dlsym, which libgfiber does not name: in a
 * static link that names dlopen, glibc's linker warning says that the
 * program needs the shared libraries at run time, for every program
 * linked with libgfiber.a, though a static binary never loads libdw.
 */
static void *dynamic_func(const char *name)
{
	const struct object *o, *best = NULL;
	const struct sym *found = NULL;
	size_t len = strlen(name), i;

	objects_load();
	for (o = objects; o; o = o->next) {
		if (!o->path || (best && o->order > best->order))
			continue;
		for (i = 0; i < o->nsyms; i++) {
			const char *n = o->syms[i].name;

			/* "name", or versioned "name@..." in a .symtab */
			if (!strncmp(n, name, len) &&
			    (n[len] == 0 || n[len] == '@')) {
				best = o;
				found = &o->syms[i];
				break;
			}
		}
	}
	return found ? (void *)found->addr : NULL;
}

#if __has_include(<elfutils/libdwfl.h>)
#include <elfutils/libdwfl.h>

/* Every libdw function dwnames.h and the setup call, by name. */
#define DW_FUNCS(X)							\
	X(dwfl_begin) X(dwfl_errmsg) X(dwfl_report_begin)		\
	X(dwfl_linux_proc_report) X(dwfl_report_end)			\
	X(dwfl_linux_proc_find_elf) X(dwfl_standard_find_debuginfo)	\
	X(dwfl_addrmodule) X(dwfl_module_info) X(dwfl_module_addrinfo)	\
	X(dwfl_module_addrdie) X(dwfl_module_nextcu)			\
	X(dwfl_module_getsrc) X(dwfl_lineinfo)				\
	X(dwarf_formstring) X(dwarf_attr_integrate) X(dwarf_attr)	\
	X(dwarf_formudata) X(dwarf_child) X(dwarf_siblingof)		\
	X(dwarf_tag) X(dwarf_haspc) X(dwarf_getsrcfiles) X(dwarf_filesrc)	\
	X(dwarf_getsrc_die) X(dwarf_linesrc) X(dwarf_lineno)

/* typeof names no symbol: libgfiber has no reference to libdw */
static struct {
#define DW_FIELD(f) __typeof__(f) *f;
	DW_FUNCS(DW_FIELD)
#undef DW_FIELD
} dw;

#define DW(f) (dw.f)
#define DWNAMES_CODE
#include "dwnames.h"

#define HAVE_LIBDW 1
#endif /* libdw's headers */

/*
 * The symbolizer thread's state. lock covers all but the libdw state,
 * which only the symbolizer thread touches once started.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t req, done;
	bool started;
	bool no_thread;		/* a fork child of a TSan build */
	void (*fn)(void *);	/* the call in flight; NULL: none */
	void *arg;
	uint64_t asked, answered;
} symt = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.req = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

#ifdef HAVE_LIBDW
static int dw_state;		/* 0: not tried; 1: loaded; -1: failed */
static char dw_why[200];	/* dw_state -1: why */
static Dwfl *dwfl;		/* the modules as of the last refresh */
static Dwfl_Callbacks callbacks;
static char *debuginfo_path;	/* NULL: libdwfl's default search */

static void dw_fail(const char *what, const char *detail)
{
	snprintf(dw_why, sizeof(dw_why), "%s%s%s", what,
		 detail ? ": " : "", detail ? detail : "");
	dw_state = -1;
}

/* On the symbolizer thread: dlopen, dlsym each function. */
static void dw_load(void)
{
	__typeof__(dlopen) *d_open = dynamic_func("dlopen");
	__typeof__(dlsym) *d_sym = dynamic_func("dlsym");
	__typeof__(dlerror) *d_error = dynamic_func("dlerror");
	void *h;

	if (!d_open || !d_sym || !d_error) {
		dw_fail("libdw.so.1 not loaded: no dlopen in this process", NULL);
		return;
	}
	h = d_open("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		dw_fail("libdw.so.1 not loaded", d_error());
		return;
	}
#define DW_SYM(f)							\
	dw.f = (__typeof__(f) *)d_sym(h, #f);				\
	if (!dw.f) {							\
		dw_fail("libdw.so.1 has no " #f, NULL);			\
		return;							\
	}
	DW_FUNCS(DW_SYM)
#undef DW_SYM
	callbacks.find_elf = dw.dwfl_linux_proc_find_elf;
	callbacks.find_debuginfo = dw.dwfl_standard_find_debuginfo;
	callbacks.debuginfo_path = &debuginfo_path;
	dw_state = 1;
}

/* glibc's count of objects loaded and unloaded so far (dl_phdr_info). */
static int count_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	unsigned long long *n = data;

	if (size < offsetof(struct dl_phdr_info, dlpi_subs) +
		   sizeof(info->dlpi_subs))
		return 1;	/* no counts: always report again */
	n[0] = info->dlpi_adds;
	n[1] = info->dlpi_subs;
	return 1;
}

/*
 * On the symbolizer thread, before each dump: when an object was loaded
 * or unloaded since the last one (dlopen, dlclose), the modules of
 * /proc/self/maps reported again. libdwfl keeps a module reported again
 * at the same place with what it parsed, and drops those gone.
 */
static void dw_refresh(void *arg)
{
	static unsigned long long seen[2];	/* the counts reported */
	unsigned long long now[2] = { ~0ULL, ~0ULL };
	const char **why = arg;
	int e;

	*why = NULL;
	if (!dw_state)
		dw_load();
	if (dw_state < 0) {
		*why = dw_why;
		return;
	}
	if (!dwfl) {
		dwfl = dw.dwfl_begin(&callbacks);
		if (!dwfl) {
			dw_fail("dwfl_begin", dw.dwfl_errmsg(-1));
			*why = dw_why;
			return;
		}
		seen[0] = seen[1] = ~0ULL;	/* none reported yet */
	}
	/* (without glibc's counts, now stays ~0: reported each time) */
	dl_iterate_phdr(count_cb, now);
	if (now[0] != ~0ULL && now[0] == seen[0] && now[1] == seen[1])
		return;
	dw.dwfl_report_begin(dwfl);
	e = dw.dwfl_linux_proc_report(dwfl, getpid());
	if (dw.dwfl_report_end(dwfl, NULL, NULL) || e) {
		static char buf[200];	/* this dump's; the next may do */

		snprintf(buf, sizeof(buf), "libdw: reading /proc/self/maps: %s",
			 e > 0 ? strerror(e) : dw.dwfl_errmsg(-1));
		*why = buf;
		seen[0] = ~0ULL;	/* try again next time */
		return;
	}
	seen[0] = now[0];
	seen[1] = now[1];
}
#endif /* HAVE_LIBDW */

static void *symbolizer(void *unused)
{
	(void)unused;
	gfi_thread_own();
	pthread_mutex_lock(&symt.lock);
	for (;;) {
		void (*fn)(void *);
		void *arg;

		while (!symt.fn || symt.answered == symt.asked)
			pthread_cond_wait(&symt.req, &symt.lock);
		fn = symt.fn;
		arg = symt.arg;
		pthread_mutex_unlock(&symt.lock);
		fn(arg);
		pthread_mutex_lock(&symt.lock);
		symt.fn = NULL;
		symt.answered++;
		pthread_cond_broadcast(&symt.done);
	}
	return NULL;
}

/*
 * The symbolizer's stack. Measured (sched_test's dumps, built with
 * -DSYMBOLIZER_STACK): libdw's loading and lookups overflow 128 KiB and
 * pass with 256 KiB, twice a fiber's default stack and more; a thread's
 * default size gives a wide margin, and only the pages used are touched.
 */
#ifndef SYMBOLIZER_STACK
#define SYMBOLIZER_STACK	(8 << 20)
#endif

/* Start the thread once; 0, or an errno. */
static int symbolizer_start(void)
{
	pthread_attr_t attr;
	pthread_t t;
	int err = 0;

	pthread_mutex_lock(&symt.lock);
	if (!symt.started) {
		err = pthread_attr_init(&attr);
		if (!err) {
			pthread_attr_setstacksize(&attr, SYMBOLIZER_STACK);
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			err = pthread_create(&t, &attr, symbolizer, NULL);
			pthread_attr_destroy(&attr);
		}
		symt.started = !err;
	}
	pthread_mutex_unlock(&symt.lock);
	return err;
}

void gfi_sym_call(void (*fn)(void *), void *arg)
{
	uint64_t mine;

	pthread_mutex_lock(&symt.lock);
	while (symt.fn)		/* another dump's call */
		pthread_cond_wait(&symt.done, &symt.lock);
	symt.fn = fn;
	symt.arg = arg;
	mine = ++symt.asked;
	pthread_cond_signal(&symt.req);
	while (symt.answered < mine)
		pthread_cond_wait(&symt.done, &symt.lock);
	pthread_mutex_unlock(&symt.lock);
}

/*
 * A fork child has no symbolizer thread: a later dump starts one. Its
 * parent's may have been inside libdw: the Dwfl is left as it is (not
 * freed: it may be half-changed) and a new one made.
 */
static void sym_fork_child(void)
{
	pthread_mutex_init(&symt.lock, NULL);
	pthread_cond_init(&symt.req, NULL);
	pthread_cond_init(&symt.done, NULL);
	symt.started = false;
	symt.fn = NULL;
	symt.asked = symt.answered = 0;
#ifdef GF_TSAN
	/* (TSan kills a multi-threaded process's child that starts one) */
	symt.no_thread = true;
#endif
#ifdef HAVE_LIBDW
	dwfl = NULL;
#endif
	pthread_mutex_init(&symlock, NULL);
}

void gfi_sym_init(void)
{
	pthread_atfork(NULL, NULL, sym_fork_child);
}

const char *gfi_sym_begin(void)
{
	static char buf[200];
	const char *no = getenv("GF_NO_LIBDW");
	const char *why;
	int err;

	if (no && !strcmp(no, "1"))
		return "GF_NO_LIBDW=1";
#ifndef HAVE_LIBDW
	return "libgfiber built without elfutils' headers";
#else
	/* (not AT_BASE: 0 too for a program run as "ld.so ./prog") */
	if (!dynamic_func("dlopen"))
		return "a static binary does not load libdw.so.1";
	if (symt.no_thread)
		return "no symbolizer thread in a fork child of a TSan build";
	err = symbolizer_start();
	if (err) {
		snprintf(buf, sizeof(buf), "no symbolizer thread: %s",
			 strerror(err));
		return buf;
	}
	gfi_sym_call(dw_refresh, &why);
	return why;
#endif
}

int gfi_sym_frames(uintptr_t pc, bool retaddr, bool dwarf,
		   struct gfi_frame *out, int max)
{
#ifdef HAVE_LIBDW
	if (dwarf && dwfl && max > 0) {
		struct dw_loc locs[GFI_MAXINLINE];
		int n, i;

		n = dwn_symbolize(dwfl, pc, retaddr, locs,
				  max < GFI_MAXINLINE ? max : GFI_MAXINLINE);
		for (i = 0; i < n; i++) {
			struct gfi_frame *f = &out[i];

			copy(f->func, sizeof(f->func), locs[i].func);
			copy(f->file, sizeof(f->file), locs[i].file);
			copy(f->module, sizeof(f->module), locs[i].module);
			f->line = locs[i].line;
			f->funcoff = locs[i].funcoff;
			f->modoff = locs[i].modoff;
			f->inlined = locs[i].inlined;
		}
		return n;
	}
#endif
	(void)dwarf;
	(void)max;
	return symtab_frame(pc, retaddr, out);
}
