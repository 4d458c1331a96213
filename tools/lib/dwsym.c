// SPDX-License-Identifier: MIT
/*
 * dwsym.c - the tools' symbolizer and unwinder on elfutils' libdwfl
 * (gfps, tools/lib/symbolize.c for the selftests).
 *
 * Names (ulib/dwnames.h, the code libgfiber's own dumps run too): the
 * modules of /proc/PID/maps, their files opened through
 * /proc/PID/root (the target's mount namespace; a deleted or replaced
 * binary through /proc/PID/map_files), debug info from the file itself or
 * a separate debug file found by build-id or debuglink under
 * /usr/lib/debug (libdwfl's standard search, as gdb's), the symbol table
 * when stripped, module+offset otherwise.
 *
 * Stacks: a parked fiber's context is the frame gf_ctx_switch() pushed at
 * saved_sp (ulib/ctx.h: control words, r12, r13, r14, r15, rbx, rbp, the
 * return address). We hand libdwfl the registers as they are just after
 * that switch returns: the callee-saved ones from the frame, rsp past it,
 * rip the return address; it unwinds with the modules' CFI, reading the
 * target's memory with process_vm_readv(), one "thread" per fiber.
 */
#define _GNU_SOURCE
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dwsym.h"
/* the naming code, shared with libgfiber's dumps: plain libdw calls */
#define DWNAMES_CODE
#include "../../ulib/dwnames.h"

/* What gf_ctx_switch() leaves at the saved sp (ulib/ctx.h). */
struct ctx_frame {
	uint64_t ctl;		/* mxcsr, fpucw */
	uint64_t r12, r13, r14, r15, rbx, rbp;
	uint64_t rip;
};

#define CACHE_LINES	8
#define CACHE_BYTES	512

struct gfps_proc {
	long pid;
	Dwfl *dwfl;
	bool attached;		/* dwfl_attach_state() done */
	/* the fiber being unwound */
	const struct gfps_ctx *fiber;
	struct ctx_frame frame;
	int read_errno;		/* first failed process_vm_readv() */
	/* /proc/PID/mem, when process_vm_readv() is not built in
	 * (CONFIG_CROSS_MEMORY_ATTACH=n: ENOSYS); 0: not opened */
	int mem_fd;
	/* a few recently read blocks of the target's memory */
	struct {
		uint64_t base;	/* 0: empty */
		unsigned char b[CACHE_BYTES];
	} cache[CACHE_LINES];
	unsigned int next;
};

/* libdwfl's find_elf callback has no argument of ours: set per call. */
static struct gfps_proc *cur;

static int open_in_root(long pid, const char *name)
{
	char path[4096 + 64];
	size_t len = strlen(name);
	static const char del[] = " (deleted)";

	snprintf(path, sizeof(path), "/proc/%ld/root%s", pid, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0 || len <= sizeof(del) - 1 ||
	    strcmp(name + len - (sizeof(del) - 1), del))
		return fd;
	/* deleted or replaced: the mapped file itself, through map_files */
	char mpath[64], *line = NULL;
	size_t cap = 0;
	FILE *maps;

	snprintf(mpath, sizeof(mpath), "/proc/%ld/maps", pid);
	maps = fopen(mpath, "re");
	if (!maps)
		return -1;
	while (fd < 0 && getline(&line, &cap, maps) > 0) {
		unsigned long lo, hi;
		int off = 0;

		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &off) < 2 ||
		    !off || strcmp(line + off, name))
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/map_files/%lx-%lx", pid, lo, hi);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	free(line);
	fclose(maps);
	return fd;
}

static int find_elf(Dwfl_Module *mod, void **userdata, const char *name,
		    Dwarf_Addr base, char **file_name, Elf **elfp)
{
	if (cur && name[0] == '/') {
		int fd = open_in_root(cur->pid, name);

		if (fd >= 0) {
			*file_name = strdup(name);
			return fd;
		}
	}
	/* [vdso: PID] and the like */
	return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
}

static char *debuginfo_path;

static const Dwfl_Callbacks callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

/* The two errors of reading a process's maps that a user can act on. */
static bool maps_error(long pid, int e, char *err, size_t errlen)
{
	if (e == ENOENT || e == ESRCH)
		snprintf(err, errlen, "pid %ld: no such process (it exited)", pid);
	else if (e == EACCES || e == EPERM)
		snprintf(err, errlen, "pid %ld: no access to its memory maps: names and stacks need root (CAP_SYS_PTRACE) or the process's own user",
			 pid);
	else
		return false;
	return true;
}

struct gfps_proc *gfps_proc_open(long pid, char *err, size_t errlen)
{
	struct gfps_proc *p = calloc(1, sizeof(*p));
	char path[64];
	int e;

	if (!p) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	p->pid = pid;
	/* The maps file needs the access process_vm_readv() needs. */
	snprintf(path, sizeof(path), "/proc/%ld/maps", pid);
	if (access(path, R_OK) || (e = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    close(e)) {
		e = errno;
		if (!maps_error(pid, e, err, errlen))
			snprintf(err, errlen, "pid %ld: %s: %s", pid, path, strerror(e));
		free(p);
		errno = e;
		return NULL;
	}
	/*
	 * Separate debug files: libdwfl's default path (the file's own
	 * directory, its .debug/, /usr/lib/debug with .build-id/), or
	 * GFPS_DEBUGINFO_PATH in the same syntax (eu-stack's --debuginfo-path).
	 */
	if (!debuginfo_path && getenv("GFPS_DEBUGINFO_PATH"))
		debuginfo_path = getenv("GFPS_DEBUGINFO_PATH");
	p->dwfl = dwfl_begin(&callbacks);
	if (!p->dwfl) {
		snprintf(err, errlen, "pid %ld: %s", pid, dwfl_errmsg(-1));
		free(p);
		return NULL;
	}
	cur = p;
	e = dwfl_linux_proc_report(p->dwfl, (pid_t)pid);
	if (e || dwfl_report_end(p->dwfl, NULL, NULL)) {
		if (!maps_error(pid, e, err, errlen))
			snprintf(err, errlen, "pid %ld: reading its maps: %s", pid,
				 e > 0 ? strerror(e) : dwfl_errmsg(-1));
		dwfl_end(p->dwfl);
		free(p);
		cur = NULL;
		errno = e > 0 ? e : EINVAL;
		return NULL;
	}
	return p;
}

void gfps_proc_close(struct gfps_proc *p)
{
	if (!p)
		return;
	if (cur == p)
		cur = NULL;
	dwfl_end(p->dwfl);
	if (p->mem_fd > 0)
		close(p->mem_fd);
	free(p);
}

int gfps_symbolize(struct gfps_proc *p, uint64_t pc, bool retaddr,
		   struct dw_loc *out, int max)
{
	cur = p;
	return dwn_symbolize(p->dwfl, pc, retaddr, out, max);
}

/* ---------------------------------------------------------- unwinding */

/*
 * A kernel without CONFIG_CROSS_MEMORY_ATTACH has no process_vm_readv():
 * read /proc/PID/mem instead. Same access rule (ptrace attach mode, real
 * credentials), and it does not stop the target either.
 */
static ssize_t read_proc_mem(struct gfps_proc *p, uint64_t addr, void *buf,
			     size_t len)
{
	char path[64];

	if (p->mem_fd <= 0) {
		snprintf(path, sizeof(path), "/proc/%ld/mem", p->pid);
		p->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (p->mem_fd < 0) {
			p->mem_fd = 0;
			return -1;
		}
	}
	return pread(p->mem_fd, buf, len, (off_t)addr);
}

static int read_mem(struct gfps_proc *p, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t r = p->mem_fd > 0 ? -1 :
		process_vm_readv((pid_t)p->pid, &local, 1, &remote, 1, 0);

	if (p->mem_fd > 0 || (r < 0 && errno == ENOSYS))
		r = read_proc_mem(p, addr, buf, len);
	if (r == (ssize_t)len)
		return 0;
	if (!p->read_errno)
		p->read_errno = r < 0 ? errno : EFAULT;
	return -1;
}

/*
 * GFPS_TEST_DELAY_US (tests only): sleep this long before each read of
 * the stack's memory in the walk (after the first read of the switch
 * frame), so that a fiber which parks and wakes all the time runs, and
 * often parks again at the same depth, while its stack is read: the
 * window that the checks against a stack of two moments (here and
 * gfps.c's recheck()) must close, made wide on purpose.
 */
static void test_delay(void)
{
	static long us = -1;

	if (us < 0) {
		const char *e = getenv("GFPS_TEST_DELAY_US");

		us = e ? strtol(e, NULL, 10) : 0;
		if (us < 0 || us > 1000000)
			us = 0;
	}
	if (us)
		usleep((useconds_t)us);
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct gfps_proc *p = arg;
	uint64_t base = addr & ~(uint64_t)(CACHE_BYTES - 1);
	unsigned int i;

	(void)dwfl;
	if (addr & 7 || !base)
		return false;
	for (i = 0; i < CACHE_LINES; i++)
		if (p->cache[i].base == base)
			goto hit;
	i = p->next++ % CACHE_LINES;
	p->cache[i].base = 0;
	test_delay();
	if (read_mem(p, base, p->cache[i].b, CACHE_BYTES))
		return false;
	p->cache[i].base = base;
hit:
	memcpy(result, p->cache[i].b + (addr - base), sizeof(*result));
	return true;
}

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	(void)dwfl;
	(void)arg;
	(void)thread_argp;
	return 0;	/* fibers are asked for one by one, never listed */
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	(void)dwfl;
	(void)tid;
	*thread_argp = arg;
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct gfps_proc *p = arg;
	const struct ctx_frame *f = &p->frame;
	/* DWARF numbers, x86_64: rbx 3, rbp 6, rsp 7, r12-r15 12-15 */
	Dwarf_Word rbx = f->rbx, rbpsp[2], r[4];

	rbpsp[0] = f->rbp;
	rbpsp[1] = p->fiber->saved_sp + sizeof(*f);
	r[0] = f->r12;
	r[1] = f->r13;
	r[2] = f->r14;
	r[3] = f->r15;
	return dwfl_thread_state_registers(thread, 3, 1, &rbx) &&
	       dwfl_thread_state_registers(thread, 6, 2, rbpsp) &&
	       dwfl_thread_state_registers(thread, 12, 4, r) &&
	       (dwfl_thread_state_register_pc(thread, f->rip), true);
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

struct walk {
	uint64_t *pcs;
	int max, n;
};

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct walk *w = arg;
	Dwarf_Addr pc;
	bool act;

	if (!dwfl_frame_pc(state, &pc, &act) || !pc)
		return DWARF_CB_ABORT;
	w->pcs[w->n++] = pc;
	return w->n < w->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

/* Frame pointers: [fp] the caller's fp, [fp + 8] the return address. */
static int fp_walk(struct gfps_proc *p, uint64_t fp, uint64_t *pcs, int n, int max)
{
	while (n < max && fp && !(fp & 7)) {
		uint64_t two[2];

		test_delay();
		if (read_mem(p, fp, two, sizeof(two)) || !two[1])
			break;
		pcs[n++] = two[1];
		if (two[0] <= fp || two[0] - fp > (64 << 20))
			break;
		fp = two[0];
	}
	return n;
}

enum gfps_unwind_result gfps_unwind(struct gfps_proc *p,
				    const struct gfps_ctx *f,
				    uint64_t *pcs, int max, int *n,
				    const char **how)
{
	struct ctx_frame again;
	struct walk w = { .pcs = pcs, .max = max };

	*n = 0;
	*how = "";
	if (!f->saved_sp || !f->saved_pc)
		return GFPS_STACK_NOCONTEXT;
	cur = p;
	memset(p->cache, 0, sizeof(p->cache));
	p->read_errno = 0;
	p->fiber = f;
	if (read_mem(p, f->saved_sp, &p->frame, sizeof(p->frame)))
		goto failed;
	/* the frame is the slot's context only while the fiber stays parked */
	if (p->frame.rip != f->saved_pc || p->frame.rbp != f->saved_fp)
		return GFPS_STACK_RAN;
	if (!p->attached) {
		if (!dwfl_attach_state(p->dwfl, NULL, (pid_t)p->pid,
				       &thread_callbacks, p))
			goto fp;
		p->attached = true;
	}
	dwfl_getthread_frames(p->dwfl, (pid_t)p->pid, frame_cb, &w);
	*how = "cfi";
	if (w.n < 2) {
fp:
		/* no CFI for the park: frame pointers (the project's default) */
		w.n = 0;
		pcs[w.n++] = p->frame.rip;
		w.n = fp_walk(p, p->frame.rbp, pcs, w.n, max);
		*how = "fp";
	}
	*n = w.n;
	/* read again: a fiber that ran meanwhile rewrote or left its frame */
	p->read_errno = 0;
	if (read_mem(p, f->saved_sp, &again, sizeof(again)))
		goto failed;
	if (memcmp(&again, &p->frame, sizeof(again)))
		return *n = 0, GFPS_STACK_RAN;
	return GFPS_STACK_OK;
failed:
	if (p->read_errno == EPERM || p->read_errno == EACCES)
		return GFPS_STACK_NOACCESS;
	return GFPS_STACK_GONE;
}
