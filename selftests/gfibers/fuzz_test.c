// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_test - an ABI fuzzer for gfibers.ko, and its soak.
 *
 * Fuzz mode (the default): worker processes run random sequences of the
 * operations a process can aim at the module: open, close and dup of
 * /dev/gfibers; GFIBERS_IOC_SETUP and GROW with good and bad arguments;
 * ioctls with random numbers; mmap of any offset, length, protection and
 * flags, munmap, mremap, mprotect, madvise (MADV_DOFORK included: it
 * must fail, a fork child never shares a mapping); garbage and well-formed slots
 * written into every mapped page, directly and through /proc/self/mem; a
 * sequence counter left odd or flipped continuously; comm renamed with
 * control bytes; fork (children use inherited descriptors), exec (a child
 * re-executes this program with descriptors it set up), exit and SIGKILL.
 * Reader processes stream /proc/gfibers with buffers of every size and
 * check every line; the hung-fiber watchdog scans with a 1-3 s timeout.
 * A supervisor kills, stops and respawns workers and changes the module
 * parameters under them.
 *
 * It passes when every system call returns success or an errno of the
 * documented set (strictly, for the module's own rules: a valid mmap must
 * succeed, an invalid one must fail with EINVAL), nothing stops making
 * progress for HANG_SECS, and the module's counters (tables, slots,
 * bytes) return to their values before the run once every process is
 * gone. The kernel console is judged by the VM runner (no splat).
 *
 * Soak mode (-m soak): churner processes register 100,000 fibers each
 * (raw ABI), update them, and exit, close or are killed, while readers
 * stream /proc/gfibers and the watchdog scans; at the end the counters
 * and the kernel's memory (MemAvailable, SUnreclaim, VmallocUsed, after
 * dropping caches) must be back to their starting values.
 *
 * Seeded and reproducible: the seed is printed at the start and with any
 * failure; each worker's operation sequence is a function of (seed, worker,
 * generation) alone (the interleaving of processes is not).
 *
 *   fuzz_test [-s SEED] [-t SECS] [-n OPS] [-p WORKERS] [-r READERS]
 *             [-m fuzz|soak] [-f FIBERS]
 *
 * or the environment: GFIBERS_FUZZ_SEED, GFIBERS_FUZZ_SECS (default 15;
 * 0: no limit), GFIBERS_FUZZ_OPS (stop after this many operations; 0: no
 * limit), GFIBERS_FUZZ_PROCS (workers, default 4), GFIBERS_FUZZ_READERS
 * (default 2), GFIBERS_FUZZ_MODE, GFIBERS_SOAK_FIBERS (default 100000).
 * See docs/testing.md.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest.h"
#include "gfibers_client.h"

#ifndef MADV_COLD
#define MADV_COLD		20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT		21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

#define MAX_WORKERS	32
#define MAX_READERS	8
#define MAX_FDS		8
#define MAX_TABS	8
#define MAX_MAPS	24
#define MAX_KIDS	4
#define RING		16
#define RING_LEN	120
#define ARENA_SIZE	(32UL << 20)
/* A process that makes no progress for this long is hung. */
#define HANG_SECS	60
/* Operations of a fork or exec child. */
#define CHILD_OPS	48
/*
 * Memory after the soak may differ from before by this much: pages
 * (MemAvailable + SUnreclaim, so that slab growth is not counted twice),
 * slab, vmalloc. Freed pages kept on the per-CPU lists are not counted
 * free: on Debian's 6.1 in a 2 GiB VM, 14-34 MiB less was available after
 * a soak than before, with no trend in the number of clients (46 clients:
 * 34 MiB, 155: 14 MiB), so pages get 64 MiB: five leaked tables of
 * 100,000 fibers, or a leaked chunk per client over a 3,000-client hour.
 */
#define SOAK_MEM_SLACK_KB	(64 * 1024)
#define SOAK_SLAB_SLACK_KB	(4 * 1024)
#define SOAK_VMALLOC_SLACK_KB	1024

/* ------------------------------------------------------------ PRNG */

/* splitmix64: tiny, seedable from any value, good enough for fuzzing. */
struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint64_t below(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

static bool chance(struct rng *r, unsigned int pct)
{
	return below(r, 100) < pct;
}

static uint64_t mix(uint64_t a, uint64_t b, uint64_t c)
{
	struct rng r = { a ^ (b * 0x100000001b3ull) ^ (c << 32) ^ c };

	rnd(&r);
	return rnd(&r);
}

/* A value from the edges of a type, or random. */
static uint64_t edgy(struct rng *r)
{
	static const uint64_t edges[] = {
		0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x7fffffff,
		0x80000000, 0xffffffff, 0x100000000ull, 0x7fffffffffffffffull,
		0x8000000000000000ull, ~0ull, ~0ull - 1,
	};

	if (chance(r, 50))
		return edges[below(r, sizeof(edges) / sizeof(edges[0]))];
	return rnd(r) >> below(r, 64);
}

/* ------------------------------------------------------------ shared state */

enum op {
	OP_OPEN, OP_CLOSE, OP_DUP, OP_SETUP, OP_GROW, OP_IOCTL, OP_MMAP,
	OP_MUNMAP, OP_MREMAP, OP_MPROTECT, OP_MADVISE, OP_SCRIBBLE, OP_SLOT,
	OP_SEQFLIP, OP_MEMWRITE, OP_RW, OP_PROCREAD, OP_COMM, OP_CLOEXEC,
	OP_FORK, OP_EXEC, OP_KILLKID, OP_EXIT, NR_OPS
};

static const char * const op_names[NR_OPS] = {
	"open", "close", "dup", "setup", "grow", "ioctl", "mmap", "munmap",
	"mremap", "mprotect", "madvise", "scribble", "slot", "seqflip",
	"memwrite", "rw", "procread", "comm", "cloexec", "fork", "exec",
	"killkid", "exit",
};

/* Relative weights of the operations for workers (children: no fork). */
static const unsigned int op_weight[NR_OPS] = {
	[OP_OPEN] = 6, [OP_CLOSE] = 3, [OP_DUP] = 2, [OP_SETUP] = 6,
	[OP_GROW] = 8, [OP_IOCTL] = 5, [OP_MMAP] = 12, [OP_MUNMAP] = 5,
	[OP_MREMAP] = 2, [OP_MPROTECT] = 2, [OP_MADVISE] = 3,
	[OP_SCRIBBLE] = 16, [OP_SLOT] = 14, [OP_SEQFLIP] = 2,
	[OP_MEMWRITE] = 2, [OP_RW] = 1, [OP_PROCREAD] = 2, [OP_COMM] = 1,
	[OP_CLOEXEC] = 1, [OP_FORK] = 2, [OP_EXEC] = 1, [OP_KILLKID] = 2,
	[OP_EXIT] = 0,
};

struct slotstate {		/* one process the supervisor watches */
	pid_t pid;
	uint64_t gen;
	uint64_t seed;
	uint64_t ops;		/* heartbeat: operations (reads) done */
	pid_t waiting_on;	/* child being waited for, or 0 */
	uint32_t ringpos;
	char ring[RING][RING_LEN];
};

struct shm {
	uint32_t stop;
	uint32_t failed;
	uint64_t seed;
	uint64_t max_ops;
	uint64_t total_ops;	/* workers' and children's operations */
	uint64_t child_ops;
	uint64_t reads;		/* complete /proc/gfibers reads, checked */
	uint64_t lines;		/* fiber lines seen by readers */
	uint64_t faults;	/* SIGSEGV/SIGBUS caught while scribbling */
	uint64_t execs;
	uint64_t forks;
	uint64_t op_ok[NR_OPS];
	uint64_t op_err[NR_OPS];
	char failure[4096];
	struct slotstate w[MAX_WORKERS + MAX_READERS];
};

static struct shm *shm;
static int shm_fd = -1;

#define ADD(field, n)	__atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)

/* ------------------------------------------------------------ a process */

struct tab {			/* one open file description of the device */
	int refs;		/* fds of ours on it; 0: slot free */
	bool owned;		/* we are the opener's thread group */
	bool known;		/* setup and nchunks below are exact */
	bool setup;
	int nchunks;
};

struct fent {
	int fd;
	int tab;
	int acc;		/* O_RDONLY, O_WRONLY, O_RDWR */
};

struct ment {
	char *addr;
	size_t len;
	int prot;
	bool hdr;		/* maps the header (else a chunk) */
};

enum role { ROLE_WORKER, ROLE_FORK_CHILD, ROLE_EXEC_CHILD };

struct ctx {
	struct rng rng;
	enum role role;
	int w;
	uint64_t gen, seed, nops, max_nops;
	struct slotstate *st;	/* workers only */
	char *arena;
	struct tab tabs[MAX_TABS];
	struct fent fds[MAX_FDS];
	int nfds;
	struct ment maps[MAX_MAPS];
	int nmaps;
	pid_t kids[MAX_KIDS];
	int nkids;
	int memfd;		/* /proc/self/mem */
	char *ro_page;		/* a read-only page holding a valid setup */
	char *guard;		/* a page followed by an unmapped one */
	char ring[RING][RING_LEN];
	unsigned int ringpos;
};

static struct ctx *cur;

static const char *role_name(enum role r)
{
	return r == ROLE_WORKER ? "worker" :
	       r == ROLE_FORK_CHILD ? "fork child" : "exec child";
}

/* Remember what we are about to do, for failure and hang reports. */
static void note(struct ctx *c, const char *fmt, ...)
{
	char *line = c->ring[c->ringpos++ % RING];
	va_list ap;
	int n;

	n = snprintf(line, RING_LEN, "#%" PRIu64 " ", c->nops);
	va_start(ap, fmt);
	vsnprintf(line + n, RING_LEN - n, fmt, ap);
	va_end(ap);
	if (c->st) {
		memcpy(c->st->ring[c->st->ringpos % RING], line, RING_LEN);
		__atomic_store_n(&c->st->ringpos, c->st->ringpos + 1,
				 __ATOMIC_RELEASE);
	}
}

/* Record the first failure of the run and stop everything. */
static void __attribute__((format(printf, 2, 3), noreturn))
fail(struct ctx *c, const char *fmt, ...)
{
	char *b = shm->failure;
	size_t n = 0, cap = sizeof(shm->failure);
	unsigned int i;
	va_list ap;

	if (__atomic_exchange_n(&shm->failed, 1, __ATOMIC_ACQ_REL) == 0) {
		n += snprintf(b + n, cap - n,
			      "%s %d (worker %d gen %" PRIu64 ", its seed 0x%" PRIx64 ", run seed 0x%" PRIx64 "), op #%" PRIu64 ": ",
			      role_name(c->role), getpid(), c->w, c->gen,
			      c->seed, shm->seed, c->nops);
		va_start(ap, fmt);
		n += vsnprintf(b + n, cap - n, fmt, ap);
		va_end(ap);
		n += snprintf(b + n, cap - n, "\nlast operations:\n");
		for (i = 0; i < RING && n < cap; i++) {
			const char *l = c->ring[(c->ringpos + i) % RING];

			if (*l)
				n += snprintf(b + n, cap - n, "  %s\n", l);
		}
	}
	__atomic_store_n(&shm->stop, 1, __ATOMIC_RELEASE);
	_exit(1);
}

/* ------------------------------------------------------------ errno sets */

typedef unsigned __int128 errset;
#define E(x)	((errset)1 << (x))

/* Every errno in @mask is documented for the call (see each caller). */
static void check_errno(struct ctx *c, const char *call, int err,
			errset mask)
{
	if (err >= 0 && err < 128 && (mask & E(err)))
		return;
	fail(c, "%s failed with errno %d (%s), not a documented one", call,
	     err, strerror(err));
}

static void count(enum op op, bool ok)
{
	if (ok)
		ADD(shm->op_ok[op], 1);
	else
		ADD(shm->op_err[op], 1);
}

/* ------------------------------------------------------------ faults */

static sigjmp_buf fault_env;
static volatile sig_atomic_t in_scribble;

static void on_fault(int sig)
{
	if (in_scribble) {
		in_scribble = 0;
		siglongjmp(fault_env, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ------------------------------------------------------------ state helpers */

static int new_tab(struct ctx *c, bool owned, bool known, bool setup,
		   int nchunks)
{
	int i;

	for (i = 0; i < MAX_TABS; i++)
		if (!c->tabs[i].refs) {
			c->tabs[i] = (struct tab){ 1, owned, known, setup,
						   nchunks };
			return i;
		}
	return -1;
}

static void drop_fd(struct ctx *c, int i)
{
	c->tabs[c->fds[i].tab].refs--;
	c->fds[i] = c->fds[--c->nfds];
}

static void drop_map(struct ctx *c, int i)
{
	c->maps[i] = c->maps[--c->nmaps];
}

static bool in_arena(struct ctx *c, const char *p, size_t len)
{
	return p >= c->arena && p + len <= c->arena + ARENA_SIZE;
}

/*
 * Give a range back. In the arena it is mapped PROT_NONE again, never
 * left as a hole: a later mmap() without MAP_FIXED (malloc's) must never
 * land where MAP_FIXED mappings go.
 */
static int release(struct ctx *c, char *p, size_t len)
{
	if (in_arena(c, p, len)) {
		if (mmap(p, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			 MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
			return -errno;
		return 0;
	}
	return munmap(p, len) ? -errno : 0;
}

/* Forget every mapping record that overlaps [p, p + len). */
static void forget_range(struct ctx *c, const char *p, size_t len)
{
	int i;

	for (i = c->nmaps - 1; i >= 0; i--)
		if (c->maps[i].addr < p + len &&
		    p < c->maps[i].addr + c->maps[i].len)
			drop_map(c, i);
}

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* A random page-aligned place for @len bytes in the arena. */
static char *arena_spot(struct ctx *c, size_t len)
{
	size_t pages = (ARENA_SIZE - len) / page_size();

	return c->arena + below(&c->rng, pages + 1) * page_size();
}

/* ------------------------------------------------------------ operations */

enum { ANY_FD, FD_TO_SETUP, FD_SET_UP };

/*
 * A descriptor to aim at: mostly one where the call can succeed (so that
 * tables get set up, grown and mapped), else any.
 */
static struct fent *pick_fd(struct ctx *c, int want)
{
	int i, cand[MAX_FDS], n = 0;

	for (i = 0; i < c->nfds && want != ANY_FD; i++) {
		struct tab *t = &c->tabs[c->fds[i].tab];

		if (t->owned && c->fds[i].acc == O_RDWR &&
		    t->setup == (want == FD_SET_UP))
			cand[n++] = i;
	}
	if (n && chance(&c->rng, 75))
		return &c->fds[cand[below(&c->rng, n)]];
	return &c->fds[below(&c->rng, c->nfds)];
}

static void op_open(struct ctx *c)
{
	static const int accs[] = { O_RDWR, O_RDWR, O_RDWR, O_RDONLY,
				    O_WRONLY };
	int acc, flags, fd, t;

	if (c->nfds >= MAX_FDS)
		return;
	acc = accs[below(&c->rng, 5)];
	flags = acc | (chance(&c->rng, 70) ? O_CLOEXEC : 0) |
		(chance(&c->rng, 20) ? O_NONBLOCK : 0) |
		(chance(&c->rng, 10) ? O_APPEND : 0) |
		(chance(&c->rng, 10) ? O_NOCTTY : 0) |
		(chance(&c->rng, 5) ? O_SYNC : 0);
	note(c, "open(" GFC_DEV ", 0%o)", flags);
	fd = open(GFC_DEV, flags);
	count(OP_OPEN, fd >= 0);
	if (fd < 0) {
		/* Documented: no memory, fd limits. */
		check_errno(c, "open(" GFC_DEV ")", errno,
			    E(ENOMEM) | E(EMFILE) | E(ENFILE));
		return;
	}
	t = new_tab(c, true, true, false, 0);
	if (t < 0) {
		close(fd);
		return;
	}
	c->fds[c->nfds++] = (struct fent){ fd, t, acc };
}

static void op_close(struct ctx *c)
{
	int i;

	if (!c->nfds)
		return;
	i = below(&c->rng, c->nfds);
	note(c, "close(%d)", c->fds[i].fd);
	if (close(c->fds[i].fd))
		fail(c, "close(%d) of a tracked descriptor: %m", c->fds[i].fd);
	count(OP_CLOSE, true);
	drop_fd(c, i);
}

static void op_dup(struct ctx *c)
{
	int i, fd;

	if (!c->nfds || c->nfds >= MAX_FDS)
		return;
	i = below(&c->rng, c->nfds);
	note(c, "dup(%d)", c->fds[i].fd);
	fd = fcntl(c->fds[i].fd, chance(&c->rng, 50) ? F_DUPFD_CLOEXEC :
		   F_DUPFD, 3 + below(&c->rng, 200));
	count(OP_DUP, fd >= 0);
	if (fd < 0) {
		check_errno(c, "dup", errno, E(EMFILE) | E(EINVAL));
		return;
	}
	c->tabs[c->fds[i].tab].refs++;
	c->fds[c->nfds++] = (struct fent){ fd, c->fds[i].tab, c->fds[i].acc };
}

/*
 * GFIBERS_IOC_SETUP. Documented: EINVAL (version, flags, reserved),
 * EBUSY (twice), EPERM (not the opener), EFAULT (pointer), EDQUOT (the
 * user's max_tables_per_user), ENOMEM.
 */
static void op_setup(struct ctx *c)
{
	struct gfibers_setup s = { .abi_version = GFIBERS_ABI_VERSION };
	enum { GOOD, RO, BADFIELD, BADPTR } kind;
	struct fent *f;
	struct tab *t;
	void *arg = &s;
	int ret, err;
	errset want;

	if (!c->nfds)
		return;
	f = pick_fd(c, FD_TO_SETUP);
	t = &c->tabs[f->tab];
	kind = below(&c->rng, 10) < 6 ? GOOD : below(&c->rng, 3) == 0 ? RO :
	       chance(&c->rng, 50) ? BADFIELD : BADPTR;
	switch (kind) {
	case GOOD:
		break;
	case RO:
		arg = c->ro_page;
		break;
	case BADFIELD:
		switch (below(&c->rng, 3)) {
		case 0:
			while (s.abi_version == GFIBERS_ABI_VERSION)
				s.abi_version = edgy(&c->rng);
			break;
		case 1:
			s.flags = edgy(&c->rng) | 1;
			break;
		default:
			s.reserved = edgy(&c->rng) | 0x100;
			break;
		}
		s.max_slots = rnd(&c->rng);
		break;
	case BADPTR: {
		static const uintptr_t bad[] = {
			0, 1, 0xfff, 0xffffffff81000000ull,
			0xffff888000000000ull, 0x800000000000ull, ~0ull - 7,
		};

		arg = chance(&c->rng, 50) ?
		      (void *)bad[below(&c->rng, sizeof(bad) / sizeof(bad[0]))] :
		      c->guard + page_size() - below(&c->rng, 15) - 1;
		break;
	}
	}
	note(c, "ioctl(%d, SETUP, %p) kind %d", f->fd, arg, kind);
	ret = ioctl(f->fd, GFIBERS_IOC_SETUP, arg);
	err = ret ? errno : 0;
	count(OP_SETUP, !ret);
	if (ret && ret != -1)
		fail(c, "SETUP returned %d", ret);
	if (!t->owned)
		want = E(EPERM);
	else if (kind == BADPTR)
		want = E(EFAULT);
	else if (kind == BADFIELD)
		want = E(EINVAL);
	else if (!t->known)
		want = E(0) | E(EBUSY) | E(EFAULT) | E(ENOMEM) | E(EDQUOT);
	else if (t->setup)
		want = E(EBUSY);
	else if (kind == RO)	/* set up, then the result cannot be written */
		want = E(EFAULT) | E(ENOMEM) | E(EDQUOT);
	else
		want = E(0) | E(ENOMEM) | E(EDQUOT);
	check_errno(c, "ioctl(SETUP)", err, want);
	if (t->owned && (err == 0 || (kind == RO && err == EFAULT)))
		t->setup = true;
	if (err == 0 && s.max_slots % GFIBERS_CHUNK_SLOTS)
		fail(c, "SETUP: max_slots %u is not whole chunks", s.max_slots);
}

/*
 * GFIBERS_IOC_GROW, with any argument and garbage in the upper half of
 * the command (the syscall takes an unsigned int). Documented: the chunk
 * index, EINVAL (not set up), ENOSPC, EDQUOT (max_slots_per_user or
 * max_slots_total), EPERM, ENOMEM.
 */
static void op_grow(struct ctx *c)
{
	unsigned long cmd = GFIBERS_IOC_GROW;
	struct fent *f;
	struct tab *t;
	long ret;
	int err;

	if (!c->nfds)
		return;
	f = pick_fd(c, FD_SET_UP);
	t = &c->tabs[f->tab];
	if (chance(&c->rng, 20))
		cmd |= (rnd(&c->rng) | 1) << 32;
	note(c, "ioctl(%d, GROW 0x%lx)", f->fd, cmd);
	ret = syscall(SYS_ioctl, f->fd, cmd, edgy(&c->rng));
	err = ret < 0 ? errno : 0;
	count(OP_GROW, ret >= 0);
	if (!t->owned) {
		check_errno(c, "ioctl(GROW)", err, E(EPERM));
		return;
	}
	if (t->known && !t->setup) {
		check_errno(c, "ioctl(GROW)", err, E(EINVAL));
		return;
	}
	check_errno(c, "ioctl(GROW)", err, E(0) | E(ENOSPC) | E(EDQUOT) |
		    E(ENOMEM) | (t->known ? 0 : E(EINVAL)));
	if (ret < 0)
		return;
	if (t->known && ret != t->nchunks)
		fail(c, "GROW returned chunk %ld, expected %d", ret,
		     t->nchunks);
	t->nchunks = ret + 1;
	t->setup = true;
}

/* Random ioctl numbers: -ENOTTY unless one of ours. */
static void op_ioctl(struct ctx *c)
{
	/* Types the VFS handles itself before the driver ('f', 'X', 'T'...). */
	static const unsigned char vfs_types[] = { 'f', 'X', 'T', 0x94, 0 };
	unsigned int cmd, type, i;
	struct fent *f;
	char buf[256];
	void *arg;
	int ret;

	if (!c->nfds)
		return;
	f = &c->fds[below(&c->rng, c->nfds)];
	do {
		if (chance(&c->rng, 50))	/* our magic, other nr/dir/size */
			cmd = _IOC(below(&c->rng, 4), GFIBERS_IOC_MAGIC,
				   below(&c->rng, 8), below(&c->rng, 64));
		else
			cmd = rnd(&c->rng);
		type = _IOC_TYPE(cmd);
		for (i = 0; i < sizeof(vfs_types); i++)
			if (type == vfs_types[i])
				cmd = GFIBERS_IOC_SETUP;
	} while (cmd == GFIBERS_IOC_SETUP || cmd == GFIBERS_IOC_GROW);
	memset(buf, 0, sizeof(buf));
	arg = chance(&c->rng, 50) ? (void *)buf : (void *)(uintptr_t)edgy(&c->rng);
	note(c, "ioctl(%d, 0x%x, %p)", f->fd, cmd, arg);
	ret = ioctl(f->fd, cmd, arg);
	count(OP_IOCTL, !ret);
	if (ret != -1)
		fail(c, "unknown ioctl 0x%x returned %d", cmd, ret);
	check_errno(c, "unknown ioctl", errno, E(ENOTTY));
}

/*
 * What mmap() of this must give: an errno mask (bit 0: success), in the
 * order mm/mmap.c's do_mmap() and then gfibers_mmap() check. *ok: the
 * module must accept it (a valid region of a set-up table we own).
 */
static errset mmap_expect(struct ctx *c, struct fent *f, uint64_t off,
			  size_t len, int prot, int flags, bool *ok)
{
	struct tab *t = &c->tabs[f->tab];
	bool shared = (flags & MAP_TYPE) == MAP_SHARED;
	uint64_t alen = (len + page_size() - 1) & ~(page_size() - 1);
	uint64_t pgoff = off / page_size();
	errset also = E(ENOMEM);

	*ok = false;
	if (!len || off % page_size())
		return E(EINVAL);
	if (!alen || alen > (1ull << 47))
		return E(ENOMEM) | E(EINVAL) | E(EOVERFLOW);
	/* do_mmap() and file_mmap_ok(), whose limit for a device is ULONG_MAX */
	if (pgoff + alen / page_size() < pgoff ||
	    pgoff > (ULONG_MAX - alen) / page_size())
		return E(EOVERFLOW) | also;
	if (flags & MAP_LOCKED)
		also |= E(EAGAIN) | E(EPERM);
	if (shared && (prot & PROT_WRITE) && f->acc == O_RDONLY)
		return E(EACCES) | also;
	if (f->acc == O_WRONLY)
		return E(EACCES) | also;
	/* A noexec mount refuses PROT_EXEC with EPERM before the driver. */
	if (prot & PROT_EXEC)
		also |= E(EPERM);
	if (!t->owned)
		return E(EPERM) | also;
	/*
	 * The module: MAP_SHARED (VM_SHARED, which a read-only descriptor
	 * never gets), never executable, exact offset and length.
	 */
	if ((prot & PROT_EXEC) || !shared || f->acc == O_RDONLY)
		return E(EINVAL) | also;
	if (!t->known)
		return E(0) | E(EINVAL) | also;
	if (!t->setup)
		return E(EINVAL) | also;
	if (off == 0) {
		if (alen != page_size())
			return E(EINVAL) | also;
	} else if (alen != GFIBERS_CHUNK_SIZE || off % GFIBERS_CHUNK_SIZE ||
		   off / GFIBERS_CHUNK_SIZE - 1 >= (uint64_t)t->nchunks) {
		return E(EINVAL) | also;
	}
	*ok = true;
	return E(0) | also;
}

static void op_mmap(struct ctx *c)
{
	static const int prots[] = {
		PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE,
		PROT_READ | PROT_WRITE, PROT_READ, PROT_WRITE, PROT_NONE,
		PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE | PROT_EXEC,
	};
	int prot, flags, err, k;
	struct fent *f;
	struct tab *t;
	uint64_t off;
	errset want;
	size_t len;
	char *p, *hint = NULL;
	bool ok;

	if (!c->nfds)
		return;
	f = pick_fd(c, FD_SET_UP);
	t = &c->tabs[f->tab];
	prot = prots[below(&c->rng, 8)];
	flags = chance(&c->rng, 90) ? MAP_SHARED : MAP_PRIVATE;
	if (chance(&c->rng, 10))
		flags |= MAP_POPULATE;
	if (chance(&c->rng, 5))
		flags |= MAP_LOCKED;
	if (chance(&c->rng, 5))
		flags |= MAP_NORESERVE;
	/* Mostly a region that exists, else anything. */
	switch (below(&c->rng, 8)) {
	case 0: case 1:
		off = 0;
		len = page_size();
		break;
	case 2: case 3: case 4:
		k = t->nchunks ? below(&c->rng, t->nchunks) : 0;
		off = GFIBERS_CHUNK_OFFSET(k);
		len = GFIBERS_CHUNK_SIZE;
		break;
	case 5:		/* just beyond, or a neighbour's length */
		off = GFIBERS_CHUNK_OFFSET(t->nchunks + below(&c->rng, 2));
		len = chance(&c->rng, 50) ? GFIBERS_CHUNK_SIZE : page_size();
		if (chance(&c->rng, 50))
			off += page_size() * (1 + below(&c->rng, 15));
		break;
	case 6:
		off = below(&c->rng, 64) * page_size();
		len = (1 + below(&c->rng, 32)) * page_size();
		break;
	default:
		off = edgy(&c->rng) & ~(chance(&c->rng, 80) ?
					(uint64_t)page_size() - 1 : 0);
		len = chance(&c->rng, 50) ? edgy(&c->rng) :
		      (1 + below(&c->rng, 64)) * page_size();
		break;
	}
	if (len > 4 * GFIBERS_CHUNK_SIZE && len < (1ull << 46))
		len = GFIBERS_CHUNK_SIZE * 2;	/* keep the arena usable */
	if (chance(&c->rng, 40) && len <= ARENA_SIZE / 2) {
		flags |= MAP_FIXED;
		hint = arena_spot(c, (len + page_size() - 1) &
				  ~(page_size() - 1));
	}
	want = mmap_expect(c, f, off, len, prot, flags, &ok);
	note(c, "mmap(%p, 0x%zx, %d, 0x%x, %d, 0x%" PRIx64 ")", hint, len,
	     prot, flags, f->fd, off);
	p = mmap(hint, len, prot, flags, f->fd, off);
	err = p == MAP_FAILED ? errno : 0;
	count(OP_MMAP, !err);
	if (flags & MAP_FIXED) {
		/* Whatever was there is gone (or replaced). */
		forget_range(c, hint, len);
		if (err)	/* a failed MAP_FIXED may leave a hole */
			release(c, hint, (len + page_size() - 1) &
				~(page_size() - 1));
	}
	check_errno(c, ok ? "mmap of a valid region" : "mmap", err, want);
	if (err)
		return;
	if (!ok && t->known)
		fail(c, "mmap(len 0x%zx, prot %d, flags 0x%x, off 0x%" PRIx64 ") succeeded, EINVAL expected",
		     len, prot, flags, off);
	len = (len + page_size() - 1) & ~(page_size() - 1);
	if (c->nmaps < MAX_MAPS) {
		c->maps[c->nmaps++] = (struct ment){ p, len, prot, off == 0 };
	} else if (release(c, p, len)) {
		fail(c, "unmapping a fresh mapping: %m");
	}
}

static void op_munmap(struct ctx *c)
{
	struct ment *m;
	size_t pages, first, n;
	char *p;
	int i, ret;

	if (!c->nmaps || chance(&c->rng, 10)) {
		/* Anywhere in the arena: may split or drop mappings. */
		n = (1 + below(&c->rng, 40)) * page_size();
		p = arena_spot(c, n);
		note(c, "release arena %p+0x%zx", p, n);
		forget_range(c, p, n);
		ret = release(c, p, n);
		count(OP_MUNMAP, !ret);
		if (ret)
			fail(c, "re-reserving the arena: %s", strerror(-ret));
		return;
	}
	i = below(&c->rng, c->nmaps);
	m = &c->maps[i];
	pages = m->len / page_size();
	first = 0;
	n = pages;
	if (chance(&c->rng, 30) && pages > 1) {	/* a piece: splits the VMA */
		first = below(&c->rng, pages);
		n = 1 + below(&c->rng, pages - first);
	}
	p = m->addr + first * page_size();
	note(c, "munmap(%p, 0x%zx) of %p+0x%zx", p, n * page_size(),
	     m->addr, m->len);
	ret = release(c, p, n * page_size());
	count(OP_MUNMAP, !ret);
	if (ret)
		fail(c, "munmap of a mapping: %s", strerror(-ret));
	drop_map(c, i);
}

/* Documented: EFAULT (VM_DONTEXPAND growth), EINVAL, ENOMEM, EAGAIN. */
static void op_mremap(struct ctx *c)
{
	size_t nlen;
	struct ment *m;
	char *p, *old, *to = NULL;
	int i, flags = 0, err;

	if (!c->nmaps)
		return;
	i = below(&c->rng, c->nmaps);
	m = &c->maps[i];
	switch (below(&c->rng, 3)) {
	case 0:
		nlen = m->len + page_size() * (1 + below(&c->rng, 4));
		flags = chance(&c->rng, 50) ? MREMAP_MAYMOVE : 0;
		break;
	case 1:
		nlen = m->len > page_size() ? m->len - page_size() : m->len;
		break;
	default:
		nlen = m->len;
		flags = MREMAP_MAYMOVE | MREMAP_FIXED;
		to = arena_spot(c, nlen);
		if (to < m->addr + m->len && m->addr < to + nlen)
			return;		/* overlapping: EINVAL, boring */
		break;
	}
	note(c, "mremap(%p, 0x%zx, 0x%zx, %d, %p)", m->addr, m->len, nlen,
	     flags, to);
	if (to) {
		old = m->addr;
		forget_range(c, to, nlen);
		/* forget_range reorders the records: find ours again. */
		for (i = 0; i < c->nmaps && c->maps[i].addr != old; i++)
			;
		if (i == c->nmaps)
			return;
		m = &c->maps[i];
	}
	p = mremap(m->addr, m->len, nlen, flags, to);
	err = p == MAP_FAILED ? errno : 0;
	count(OP_MREMAP, !err);
	check_errno(c, "mremap", err, E(0) | E(EFAULT) | E(EINVAL) |
		    E(ENOMEM) | E(EAGAIN));
	if (err) {
		if (to)
			release(c, to, nlen);
		return;
	}
	if (p != m->addr) {
		/* Moved: its old place in the arena must not stay a hole. */
		if (in_arena(c, m->addr, m->len))
			release(c, m->addr, m->len);
		m->addr = p;
	} else if (nlen < m->len && in_arena(c, p + nlen, m->len - nlen)) {
		release(c, p + nlen, m->len - nlen);
	}
	m->len = nlen;
}

static void op_mprotect(struct ctx *c)
{
	static const int prots[] = { PROT_READ, PROT_READ | PROT_WRITE,
				     PROT_NONE, PROT_EXEC | PROT_READ,
				     PROT_WRITE };
	struct ment *m;
	int prot, ret;

	if (!c->nmaps)
		return;
	m = &c->maps[below(&c->rng, c->nmaps)];
	prot = prots[below(&c->rng, 5)];
	note(c, "mprotect(%p, 0x%zx, %d)", m->addr, m->len, prot);
	ret = mprotect(m->addr, m->len, prot);
	count(OP_MPROTECT, !ret);
	if (ret) {
		/* PROT_EXEC: EACCES (the module clears VM_MAYEXEC). */
		check_errno(c, "mprotect", errno,
			    E(EACCES) | E(EINVAL) | E(ENOMEM));
		return;
	}
	if (prot & PROT_EXEC)
		fail(c, "mprotect(PROT_EXEC) of a gfibers mapping succeeded");
	m->prot = prot;
}

static void op_madvise(struct ctx *c)
{
	static const int advs[] = {
		MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED,
		MADV_DONTNEED, MADV_REMOVE, MADV_DONTFORK, MADV_DOFORK,
		MADV_DOFORK, MADV_DOFORK, MADV_DONTDUMP, MADV_DODUMP,
		MADV_COLD, MADV_PAGEOUT, MADV_POPULATE_READ,
		MADV_POPULATE_WRITE, MADV_FREE, MADV_WIPEONFORK,
		MADV_KEEPONFORK, MADV_HUGEPAGE, MADV_NOHUGEPAGE,
		MADV_MERGEABLE, MADV_UNMERGEABLE,
	};
	struct ment *m;
	int adv, ret;

	if (!c->nmaps)
		return;
	m = &c->maps[below(&c->rng, c->nmaps)];
	adv = advs[below(&c->rng, sizeof(advs) / sizeof(advs[0]))];
	note(c, "madvise(%p, 0x%zx, %d)", m->addr, m->len, adv);
	ret = madvise(m->addr, m->len, adv);
	count(OP_MADVISE, !ret);
	if (ret) {
		/* madvise(2)'s set; MADV_REMOVE on a device: ENODEV. */
		check_errno(c, "madvise", errno, E(EINVAL) | E(EAGAIN) |
			    E(ENOMEM) | E(EFAULT) | E(EIO) | E(EPERM) |
			    E(EACCES) | E(ENODEV) | E(EOPNOTSUPP) | E(EBUSY));
		return;
	}
	/* VM_IO: a fork child must never get the parent's slots. */
	if (adv == MADV_DOFORK)
		fail(c, "madvise(MADV_DOFORK) of a gfibers mapping succeeded");
}

/* Garbage into a mapping; a fault (read-only, zapped, gone) is caught. */
static void op_scribble(struct ctx *c)
{
	volatile uint64_t *w;
	struct ment *m;
	size_t off, n, i;
	unsigned int kind;
	uint8_t byte;

	if (!c->nmaps)
		return;
	m = &c->maps[below(&c->rng, c->nmaps)];
	kind = below(&c->rng, 5);
	byte = rnd(&c->rng);
	note(c, "scribble %p+0x%zx kind %u", m->addr, m->len, kind);
	if (sigsetjmp(fault_env, 1)) {
		ADD(shm->faults, 1);
		count(OP_SCRIBBLE, false);
		return;
	}
	in_scribble = 1;
	switch (kind) {
	case 0:		/* random words anywhere */
		off = below(&c->rng, m->len / 8);
		n = 1 + below(&c->rng, 64);
		w = (volatile uint64_t *)m->addr + off;
		for (i = 0; i < n && off + i < m->len / 8; i++)
			w[i] = edgy(&c->rng);
		break;
	case 1:		/* one whole slot (or reason record) of garbage */
		off = below(&c->rng, m->len / GFIBERS_SLOT_SIZE) *
		      GFIBERS_SLOT_SIZE;
		w = (volatile uint64_t *)(m->addr + off);
		for (i = 0; i < GFIBERS_SLOT_SIZE / 8; i++)
			w[i] = rnd(&c->rng);
		break;
	case 2:		/* a page of one byte */
		off = below(&c->rng, m->len / page_size()) * page_size();
		memset((char *)m->addr + off, byte, page_size());
		break;
	case 3:		/* reason names: bytes, no NUL, odd seqs */
		if (m->len < GFIBERS_HEADER_SIZE)
			break;
		for (i = 0; i < 8; i++) {
			struct gfibers_reason *r = (struct gfibers_reason *)
				(m->addr + 64 * (1 + below(&c->rng, 63)));
			size_t j;

			for (j = 0; j < GFIBERS_REASON_NAME_LEN; j++)
				((volatile char *)r->name)[j] = chance(&c->rng, 70) ?
					0x20 + below(&c->rng, 95) : rnd(&c->rng);
			if (chance(&c->rng, 30))
				((volatile char *)r->name)[below(&c->rng, 56)] = 0;
			((volatile uint32_t *)&r->seq)[0] = chance(&c->rng, 70) ?
				(uint32_t)below(&c->rng, 1000) * 2 :
				(uint32_t)rnd(&c->rng);
		}
		break;
	default:	/* zero a range */
		off = below(&c->rng, m->len);
		n = below(&c->rng, m->len - off + 1);
		memset((char *)m->addr + off, 0, n);
		break;
	}
	in_scribble = 0;
	count(OP_SCRIBBLE, true);
}

/* A plausible slot, mostly as the library would write it. */
static void plausible(struct ctx *c, struct gfibers_slot *v)
{
	uint64_t now = gfc_now_ns();

	memset(v, 0, sizeof(*v));
	v->fiber_id = chance(&c->rng, 90) ? 1 + below(&c->rng, 100000) :
		      edgy(&c->rng);
	v->parent_id = below(&c->rng, 100);
	v->status = chance(&c->rng, 85) ? below(&c->rng, 11) :
		    (uint32_t)edgy(&c->rng);
	if (chance(&c->rng, 60))
		v->status = GFIBERS_GWAITING;
	switch (below(&c->rng, 4)) {
	case 0:
		v->wait_reason = below(&c->rng, GFIBERS_WAIT_NR_BUILTIN);
		break;
	case 1:
		v->wait_reason = GFIBERS_WAIT_USER_BASE +
				 below(&c->rng, GFIBERS_USER_REASONS + 2);
		break;
	case 2:
		v->wait_reason = edgy(&c->rng);
		break;
	default:
		v->wait_reason = GFIBERS_WAIT_CHAN_RECV;
		break;
	}
	v->tid = chance(&c->rng, 80) ? (uint32_t)getpid() : edgy(&c->rng);
	v->wait_obj = edgy(&c->rng);
	v->wait_pc = rnd(&c->rng);
	v->saved_pc = rnd(&c->rng);
	v->saved_sp = rnd(&c->rng);
	v->saved_fp = rnd(&c->rng);
	v->create_pc = rnd(&c->rng);
	switch (below(&c->rng, 5)) {
	case 0: case 1:		/* parked 0-5 s ago: the watchdog's business */
		v->wait_since_ns = now - below(&c->rng, 5000000000ull);
		break;
	case 2:
		v->wait_since_ns = 0;
		break;
	case 3:
		v->wait_since_ns = now + below(&c->rng, 1ull << 40);
		break;
	default:
		v->wait_since_ns = edgy(&c->rng);
		break;
	}
}

/* Slots and names through the seqcount protocol, as the library does. */
static void op_slot(struct ctx *c)
{
	struct gfibers_slot v, *s;
	struct ment *m;
	unsigned int n, i;

	if (!c->nmaps)
		return;
	m = &c->maps[below(&c->rng, c->nmaps)];
	n = 1 + below(&c->rng, 32);
	note(c, "slots %p+0x%zx x%u", m->addr, m->len, n);
	if (sigsetjmp(fault_env, 1)) {
		ADD(shm->faults, 1);
		count(OP_SLOT, false);
		return;
	}
	in_scribble = 1;
	for (i = 0; i < n; i++) {
		s = (struct gfibers_slot *)m->addr +
		    below(&c->rng, m->len / GFIBERS_SLOT_SIZE);
		if (m->hdr && (char *)s != m->addr) {
			struct gfibers_reason *r = (struct gfibers_reason *)
				m->addr + 1 + below(&c->rng, 62);
			unsigned int j, len = below(&c->rng, 56);

			gfc_begin(&r->seq);
			for (j = 0; j < GFIBERS_REASON_NAME_LEN; j++)
				r->name[j] = j < len ? 'a' + below(&c->rng, 26) :
					     '\0';
			gfc_end(&r->seq);
			continue;
		}
		if (chance(&c->rng, 15)) {
			gfc_release(s);
			continue;
		}
		plausible(c, &v);
		gfc_write(s, &v);
		if (chance(&c->rng, 5))		/* die mid-update: left odd */
			gfc_begin(&s->seq);
	}
	in_scribble = 0;
	count(OP_SLOT, true);
}

/* A writer flipping a sequence counter under the readers. */
static void op_seqflip(struct ctx *c)
{
	volatile uint32_t *seq;
	struct ment *m;
	unsigned int n, i;

	if (!c->nmaps)
		return;
	m = &c->maps[below(&c->rng, c->nmaps)];
	seq = (volatile uint32_t *)(m->addr + below(&c->rng,
				    m->len / GFIBERS_SLOT_SIZE) *
				    GFIBERS_SLOT_SIZE);
	n = 1000 + below(&c->rng, 200000);
	note(c, "seqflip %p x%u", seq, n);
	if (sigsetjmp(fault_env, 1)) {
		ADD(shm->faults, 1);
		count(OP_SEQFLIP, false);
		return;
	}
	in_scribble = 1;
	for (i = 0; i < n; i++)
		*seq = *seq + 1;
	in_scribble = 0;
	count(OP_SEQFLIP, true);
}

/* Writes through /proc/self/mem: the kernel pins the module's pages. */
static void op_memwrite(struct ctx *c)
{
	uint8_t buf[256];
	struct ment *m;
	size_t n, i;
	off_t off;
	ssize_t ret;

	if (!c->nmaps || c->memfd < 0)
		return;
	m = &c->maps[below(&c->rng, c->nmaps)];
	i = below(&c->rng, m->len);
	/*
	 * Never past the mapping's end: /proc/self/mem crosses into the
	 * next mapping, and the one next to a device mapping placed by the
	 * kernel can be the shared statistics page (a 1M-op run lost its
	 * counters so).
	 */
	n = 1 + below(&c->rng, m->len - i < sizeof(buf) ? m->len - i :
			       sizeof(buf));
	off = (off_t)(uintptr_t)m->addr + i;
	for (i = 0; i < n; i++)
		buf[i] = rnd(&c->rng);
	note(c, "pwrite(/proc/self/mem, %zu, 0x%llx)", n,
	     (unsigned long long)off);
	ret = chance(&c->rng, 70) ? pwrite(c->memfd, buf, n, off) :
				    pread(c->memfd, buf, n, off);
	count(OP_MEMWRITE, ret >= 0);
	if (ret < 0)
		check_errno(c, "/proc/self/mem", errno,
			    E(EIO) | E(EFAULT) | E(ENOMEM));
}

/* The device has no read or write: EINVAL (EBADF for the wrong mode). */
static void op_rw(struct ctx *c)
{
	struct fent *f;
	char buf[64];
	ssize_t ret;

	if (!c->nfds)
		return;
	f = &c->fds[below(&c->rng, c->nfds)];
	note(c, "read/write(%d)", f->fd);
	memset(buf, 0, sizeof(buf));
	ret = chance(&c->rng, 50) ? read(f->fd, buf, sizeof(buf)) :
				    write(f->fd, buf, sizeof(buf));
	count(OP_RW, ret >= 0);
	if (ret >= 0)
		fail(c, "read/write on " GFC_DEV " returned %zd", ret);
	check_errno(c, "read/write on " GFC_DEV, errno, E(EINVAL) | E(EBADF));
}

/* A short or seeking read of /proc/gfibers from a fuzzing process. */
static void op_procread(struct ctx *c)
{
	char buf[512];
	int fd, i, n;
	ssize_t ret = 0;

	note(c, "read " GFC_PROC);
	fd = open(GFC_PROC, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		count(OP_PROCREAD, false);
		check_errno(c, "open(" GFC_PROC ")", errno,
			    E(ENOMEM) | E(EMFILE) | E(ENFILE));
		return;
	}
	n = 1 + below(&c->rng, 8);
	for (i = 0; i < n; i++) {
		if (chance(&c->rng, 30))
			lseek(fd, below(&c->rng, 1 << 16), SEEK_SET);
		ret = read(fd, buf, 1 + below(&c->rng, sizeof(buf)));
		if (ret <= 0)
			break;
	}
	close(fd);
	count(OP_PROCREAD, ret >= 0);
	if (ret < 0)
		check_errno(c, "read(" GFC_PROC ")", errno, E(ENOMEM));
}

/* comm with tabs, newlines and high bytes: the module sanitises it. */
static void op_comm(struct ctx *c)
{
	char name[16];
	unsigned int i;

	for (i = 0; i < sizeof(name) - 1; i++)
		name[i] = chance(&c->rng, 50) ?
			"\t\n\x01\x7f\xff%"[below(&c->rng, 6)] :
			(char)('a' + below(&c->rng, 26));
	name[sizeof(name) - 1] = '\0';
	note(c, "prctl(PR_SET_NAME)");
	if (prctl(PR_SET_NAME, name))
		fail(c, "PR_SET_NAME: %m");
	count(OP_COMM, true);
}

static void op_cloexec(struct ctx *c)
{
	struct fent *f;

	if (!c->nfds)
		return;
	f = &c->fds[below(&c->rng, c->nfds)];
	note(c, "fcntl(%d, F_SETFD)", f->fd);
	if (fcntl(f->fd, F_SETFD, chance(&c->rng, 50) ? FD_CLOEXEC : 0))
		fail(c, "F_SETFD: %m");
	count(OP_CLOEXEC, true);
}

static void run_ops(struct ctx *c);

/* Become a child: the inherited descriptors are not ours any more. */
static void become_child(struct ctx *c, pid_t parent, enum role role)
{
	int i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	c->role = role;
	c->st = NULL;
	c->seed = mix(c->seed, c->nops, 0xc41d);
	c->rng.s = c->seed;
	c->nops = 0;
	c->max_nops = 1 + below(&c->rng, CHILD_OPS);
	c->nkids = 0;
	for (i = 0; i < MAX_TABS; i++)
		c->tabs[i].owned = false;
	/* No mapping came along (VM_DONTCOPY, and MADV_DOFORK fails). */
	for (i = c->nmaps - 1; i >= 0; i--)
		drop_map(c, i);
	if (c->memfd >= 0)
		close(c->memfd);
	c->memfd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
}

static void add_kid(struct ctx *c, pid_t pid)
{
	c->kids[c->nkids++] = pid;
	ADD(shm->forks, 1);
}

static void op_fork(struct ctx *c)
{
	pid_t parent = getpid(), pid;

	if (c->role != ROLE_WORKER || c->nkids >= MAX_KIDS)
		return;
	note(c, "fork");
	fflush(NULL);
	pid = fork();
	count(OP_FORK, pid >= 0);
	if (pid < 0) {
		check_errno(c, "fork", errno, E(EAGAIN) | E(ENOMEM));
		return;
	}
	if (pid == 0) {
		become_child(c, parent, ROLE_FORK_CHILD);
		run_ops(c);
		_exit(0);
	}
	add_kid(c, pid);
}

/*
 * A child opens and sets up descriptors of its own, keeps them across
 * execve() (no O_CLOEXEC), and the new image goes on with them: still
 * their opener (same thread group), but with every mapping gone.
 */
static void op_exec(struct ctx *c)
{
	char env[1024], *envp[2] = { env, NULL };
	char *argv[] = { "fuzz_test", NULL };
	pid_t parent = getpid(), pid;
	size_t n;
	int i, j;

	if (c->role != ROLE_WORKER || c->nkids >= MAX_KIDS)
		return;
	note(c, "fork+exec");
	fflush(NULL);
	pid = fork();
	count(OP_EXEC, pid >= 0);
	if (pid < 0) {
		check_errno(c, "fork", errno, E(EAGAIN) | E(ENOMEM));
		return;
	}
	if (pid) {
		add_kid(c, pid);
		ADD(shm->execs, 1);
		return;
	}
	become_child(c, parent, ROLE_EXEC_CHILD);
	for (i = 0; i < 3; i++) {
		op_open(c);
		for (j = 0; j < 3; j++) {
			op_setup(c);
			op_grow(c);
			op_mmap(c);
			op_slot(c);
		}
	}
	n = snprintf(env, sizeof(env),
		     "GFIBERS_FUZZ_CHILD=%d,%" PRIx64 ",%d,%" PRIu64, shm_fd,
		     c->seed, c->w, c->gen);
	for (i = 0; i < c->nfds && n < sizeof(env) - 64; i++) {
		struct tab *t = &c->tabs[c->fds[i].tab];

		fcntl(c->fds[i].fd, F_SETFD, 0);
		n += snprintf(env + n, sizeof(env) - n, ",%d:%d:%d:%d:%d:%d",
			      c->fds[i].fd, c->fds[i].acc, t->owned,
			      t->setup, t->nchunks, c->fds[i].tab);
	}
	note(c, "execve(/proc/self/exe)");
	execve("/proc/self/exe", argv, envp);
	fail(c, "execve(/proc/self/exe): %m");
}

static void reap_kids(struct ctx *c, bool block)
{
	int i, status;
	pid_t r;

	for (i = c->nkids - 1; i >= 0; i--) {
		if (block && c->st)
			c->st->waiting_on = c->kids[i];
		r = waitpid(c->kids[i], &status, block ? 0 : WNOHANG);
		if (c->st)
			c->st->waiting_on = 0;
		if (r == 0)
			continue;
		if (r < 0 && errno != ECHILD)
			fail(c, "waitpid(%d): %m", c->kids[i]);
		c->kids[i] = c->kids[--c->nkids];
	}
}

static void op_killkid(struct ctx *c)
{
	int i;

	reap_kids(c, false);
	if (!c->nkids)
		return;
	i = below(&c->rng, c->nkids);
	note(c, "kill(%d, SIGKILL)", c->kids[i]);
	kill(c->kids[i], SIGKILL);
	count(OP_KILLKID, true);
	reap_kids(c, chance(&c->rng, 50));
}

static void (* const ops[NR_OPS])(struct ctx *) = {
	[OP_OPEN] = op_open, [OP_CLOSE] = op_close, [OP_DUP] = op_dup,
	[OP_SETUP] = op_setup, [OP_GROW] = op_grow, [OP_IOCTL] = op_ioctl,
	[OP_MMAP] = op_mmap, [OP_MUNMAP] = op_munmap,
	[OP_MREMAP] = op_mremap, [OP_MPROTECT] = op_mprotect,
	[OP_MADVISE] = op_madvise, [OP_SCRIBBLE] = op_scribble,
	[OP_SLOT] = op_slot, [OP_SEQFLIP] = op_seqflip,
	[OP_MEMWRITE] = op_memwrite, [OP_RW] = op_rw,
	[OP_PROCREAD] = op_procread, [OP_COMM] = op_comm,
	[OP_CLOEXEC] = op_cloexec, [OP_FORK] = op_fork, [OP_EXEC] = op_exec,
	[OP_KILLKID] = op_killkid,
};

static enum op pick(struct ctx *c)
{
	unsigned int total = 0, r, i;

	for (i = 0; i < NR_OPS; i++)
		total += op_weight[i];
	r = below(&c->rng, total);
	for (i = 0; i < NR_OPS; i++) {
		if (r < op_weight[i])
			return i;
		r -= op_weight[i];
	}
	return OP_SLOT;
}

static bool stopping(void)
{
	return __atomic_load_n(&shm->stop, __ATOMIC_ACQUIRE) ||
	       (shm->max_ops &&
		__atomic_load_n(&shm->total_ops, __ATOMIC_RELAXED) >=
		shm->max_ops);
}

static void run_ops(struct ctx *c)
{
	while (!stopping() && (!c->max_nops || c->nops < c->max_nops)) {
		enum op op = pick(c);

		ops[op](c);
		c->nops++;
		ADD(shm->total_ops, 1);
		if (c->role != ROLE_WORKER)
			ADD(shm->child_ops, 1);
		if (c->st)
			__atomic_store_n(&c->st->ops, c->nops,
					 __ATOMIC_RELEASE);
		/* Now and then a worker just exits, everything open. */
		if (c->role == ROLE_WORKER && below(&c->rng, 4000) == 0) {
			note(c, "exit");
			_exit(0);
		}
	}
}

static void setup_process(struct ctx *c)
{
	struct sigaction sa = { .sa_handler = on_fault };
	struct gfibers_setup *s;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	c->arena = mmap(NULL, ARENA_SIZE, PROT_NONE, MAP_PRIVATE |
			MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	c->ro_page = mmap(NULL, page_size(), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c->guard = mmap(NULL, 2 * page_size(), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->arena == MAP_FAILED || c->ro_page == MAP_FAILED ||
	    c->guard == MAP_FAILED)
		fail(c, "setting up the process: %m");
	s = (struct gfibers_setup *)c->ro_page;
	s->abi_version = GFIBERS_ABI_VERSION;
	mprotect(c->ro_page, page_size(), PROT_READ);
	/* PROT_NONE, not unmapped: no later mmap() may land there. */
	mprotect(c->guard + page_size(), page_size(), PROT_NONE);
	memset(c->guard, 0, page_size());
	c->memfd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
}

static void worker_main(int w, uint64_t gen)
{
	static struct ctx c;

	cur = &c;
	memset(&c, 0, sizeof(c));
	c.role = ROLE_WORKER;
	c.w = w;
	c.gen = gen;
	c.seed = mix(shm->seed, w, gen);
	c.rng.s = c.seed;
	c.st = &shm->w[w];
	c.st->seed = c.seed;
	c.st->gen = gen;
	setup_process(&c);
	run_ops(&c);
	while (c.nkids) {
		kill(c.kids[0], SIGKILL);
		reap_kids(&c, true);
	}
	_exit(0);
}

/* The image an exec child runs: GFIBERS_FUZZ_CHILD=shmfd,seed,w,gen,fds */
static int exec_child_main(const char *arg)
{
	static struct ctx c;
	int fd, acc, owned, setup, nchunks, tab, n;
	unsigned long long seed, gen;
	const char *p;

	cur = &c;
	memset(&c, 0, sizeof(c));
	if (sscanf(arg, "%d,%llx,%d,%llu%n", &shm_fd, &seed, &c.w, &gen,
		   &n) != 4)
		return 2;
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED,
		   shm_fd, 0);
	if (shm == MAP_FAILED)
		return 2;
	c.role = ROLE_EXEC_CHILD;
	c.seed = seed;
	c.gen = gen;
	c.rng.s = mix(seed, 0xe8ec, 0);
	c.max_nops = 1 + below(&c.rng, CHILD_OPS);
	for (p = arg + n; *p == ','; p += n) {
		if (sscanf(p, ",%d:%d:%d:%d:%d:%d%n", &fd, &acc, &owned,
			   &setup, &nchunks, &tab, &n) != 6 ||
		    c.nfds >= MAX_FDS || tab < 0 || tab >= MAX_TABS)
			break;
		if (!c.tabs[tab].refs)
			c.tabs[tab] = (struct tab){ 0, owned, true, setup,
						    nchunks };
		c.tabs[tab].refs++;
		c.fds[c.nfds++] = (struct fent){ fd, tab, acc };
	}
	setup_process(&c);
	note(&c, "exec'd with %d descriptors", c.nfds);
	run_ops(&c);
	return 0;
}

/* ------------------------------------------------------------ readers */

static bool known_status(const char *s)
{
	static const char * const names[] = {
		"idle", "runnable", "running", "syscall", "waiting",
		"moribund_unused", "enqueue_unused", "copystack",
		"preempted", "leaked", "torn",
	};
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i]))
			return true;
	return !strncmp(s, "invalid(", 8);
}

/* Every line of a complete dump: the header, then 15 sane columns. */
static const char *check_dump(const char *dump, size_t len, uint64_t *lines)
{
	static const char hdr[] = "# gfibers 2\n# pid\tfiber\t";
	char cols[GFC_NCOLS][64];
	const char *line, *nl;

	if (len < sizeof(hdr) - 1 || memcmp(dump, hdr, sizeof(hdr) - 1))
		return "bad header";
	if (dump[len - 1] != '\n')
		return "last line not terminated";
	for (line = dump; line < dump + len; line = nl + 1) {
		nl = memchr(line, '\n', dump + len - line);
		if (memchr(line, '\0', nl - line))
			return "NUL byte in a line";
		if (*line == '#')
			continue;
		if (gfc_split(line, cols) != GFC_NCOLS)
			return "a line without exactly 15 columns";
		if (!cols[GFC_PID][0] || strspn(cols[GFC_PID], "0123456789") !=
		    strlen(cols[GFC_PID]))
			return "a pid that is not a number";
		if (!known_status(cols[GFC_STATUS]))
			return "an unknown status";
		(*lines)++;
	}
	return NULL;
}

static void reader_main(int r)
{
	static char dump[64 << 20];
	struct slotstate *st = &shm->w[MAX_WORKERS + r];
	struct ctx c = { .role = ROLE_WORKER, .w = MAX_WORKERS + r,
			 .st = st };
	struct rng *rng = &c.rng;
	uint64_t lines = 0;
	const char *why;
	size_t len, chunk;
	ssize_t n = -1;
	int fd;

	cur = &c;
	c.seed = mix(shm->seed, 0x7eade7, r);
	rng->s = c.seed;
	while (!__atomic_load_n(&shm->stop, __ATOMIC_ACQUIRE)) {
		bool whole = chance(rng, 80);

		chunk = chance(rng, 20) ? 1 + below(rng, 200) :
			chance(rng, 50) ? 4096 : 1 + below(rng, 1 << 17);
		note(&c, "read " GFC_PROC " by %zu%s", chunk,
		     whole ? "" : " partly");
		fd = open(chance(rng, 10) ? GFC_STATS : GFC_PROC,
			  O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail(&c, "open(" GFC_PROC "): %m");
		len = 0;
		for (;;) {
			if (!whole && len > 8192)
				break;
			/*
			 * Unbounded: the read went on into tables created
			 * after it started, as long as they kept coming.
			 */
			if (len + chunk > sizeof(dump))
				fail(&c, "a read of " GFC_PROC " by %zu bytes did not end within %zu bytes: it goes on into tables created while it reads (%ld tables now)",
				     chunk, sizeof(dump), gfc_stat("tables"));
			n = read(fd, dump + len, chunk);
			if (n < 0) {
				check_errno(&c, "read(" GFC_PROC ")", errno,
					    E(ENOMEM));
				break;
			}
			if (n == 0)
				break;
			len += n;
			if (chunk < 200 && len > 4096)	/* enough tiny reads */
				whole = false;
		}
		close(fd);
		if (whole && n == 0 && dump[0] == '#') {
			lines = 0;
			why = check_dump(dump, len, &lines);
			if (why)
				fail(&c, "%s in a dump of %zu bytes read by %zu: %.300s",
				     why, len, chunk, dump);
			ADD(shm->reads, 1);
			ADD(shm->lines, lines);
		}
		c.nops++;
		__atomic_store_n(&st->ops, c.nops, __ATOMIC_RELEASE);
	}
	_exit(0);
}

/* ------------------------------------------------------------ supervisor */

struct params {
	char per_process[32], total[32], timeout[32], warnings[32];
	char per_user[32], tables[32];
};

static const char * const param_names[] = {
	"max_slots_per_process", "max_slots_total", "hung_timeout_secs",
	"hung_warnings", "max_slots_per_user", "max_tables_per_user",
};

static void params_save(struct params *p)
{
	gfc_param_get(param_names[0], p->per_process, sizeof(p->per_process));
	gfc_param_get(param_names[1], p->total, sizeof(p->total));
	gfc_param_get(param_names[2], p->timeout, sizeof(p->timeout));
	gfc_param_get(param_names[3], p->warnings, sizeof(p->warnings));
	gfc_param_get(param_names[4], p->per_user, sizeof(p->per_user));
	gfc_param_get(param_names[5], p->tables, sizeof(p->tables));
}

static void params_restore(const struct params *p)
{
	gfc_param_set(param_names[0], p->per_process);
	gfc_param_set(param_names[1], p->total);
	gfc_param_set(param_names[2], p->timeout);
	gfc_param_set(param_names[3], p->warnings);
	gfc_param_set(param_names[4], p->per_user);
	gfc_param_set(param_names[5], p->tables);
}

static void param_setu(const char *name, unsigned long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lu", v);
	gfc_param_set(name, buf);
}

/* Change the limits and the watchdog under the workers' feet. */
static void twiddle_params(struct rng *r)
{
	static const unsigned long per[] = { 0, 100, 512, 2048, 8192, 8192 };
	static const unsigned long tot[] = { 1024, 8192, 32768, 32768 };
	static const unsigned long tmo[] = { 0, 1, 1, 2, 3 };
	static const unsigned long usr[] = { 1024, 8192, 32768, 32768 };
	static const unsigned long tabs[] = { 2, 16, 1024, 1024 };

	switch (below(r, 6)) {
	case 0:
		param_setu(param_names[0], per[below(r, 6)]);
		break;
	case 1:
		param_setu(param_names[1], tot[below(r, 4)]);
		break;
	case 2:
		param_setu(param_names[2], tmo[below(r, 5)]);
		break;
	case 3:
		param_setu(param_names[4], usr[below(r, 4)]);
		break;
	case 4:
		param_setu(param_names[5], tabs[below(r, 4)]);
		break;
	default:
		param_setu(param_names[3], 20);
		break;
	}
}

struct counters {
	long tables, slots, bytes;
};

static void counters_read(struct counters *k)
{
	k->tables = gfc_stat("tables");
	k->slots = gfc_stat("slots");
	k->bytes = gfc_stat("bytes");
}

static bool counters_eq(const struct counters *a, const struct counters *b)
{
	return a->tables == b->tables && a->slots == b->slots &&
	       a->bytes == b->bytes;
}

/* Wait (up to 20 s) for the counters to come back to @base. */
static bool counters_settle(const struct counters *base, struct counters *now)
{
	int i;

	for (i = 0; i < 200; i++) {
		counters_read(now);
		if (counters_eq(base, now))
			return true;
		usleep(100000);
	}
	return false;
}

static void print_file(const char *what, const char *path)
{
	char *s = gfc_slurp(path, NULL);

	if (s) {
		ksft_print_msg("%s (%s):\n%s", what, path, s);
		free(s);
	}
}

static void report_hang(struct slotstate *st, int idx, unsigned int secs)
{
	char path[64];
	unsigned int i;

	ksft_print_msg("%s %d (pid %d, gen %" PRIu64 ", seed 0x%" PRIx64 ") made no progress for %u s; last operations:\n",
		       idx < MAX_WORKERS ? "worker" : "reader", idx, st->pid,
		       st->gen, st->seed, secs);
	for (i = 0; i < RING; i++) {
		const char *l = st->ring[(st->ringpos + i) % RING];

		if (*l)
			ksft_print_msg("  %s\n", l);
	}
	snprintf(path, sizeof(path), "/proc/%d/stack", st->pid);
	print_file("its kernel stack", path);
	snprintf(path, sizeof(path), "/proc/%d/wchan", st->pid);
	print_file("wchan", path);
	if (st->waiting_on) {
		snprintf(path, sizeof(path), "/proc/%d/stack", st->waiting_on);
		print_file("the child it waits for", path);
	}
}

static pid_t spawn(void (*fn)(int, uint64_t), int idx, uint64_t gen)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		fn(idx, gen);
		_exit(0);
	}
	return pid;
}

static void reader_entry(int r, uint64_t gen)
{
	(void)gen;
	reader_main(r);
}

struct opts {
	uint64_t seed;
	unsigned long secs, max_ops, fibers;
	int workers, readers;
	bool soak;
};

static uint64_t now_s(void)
{
	return gfc_now_ns() / 1000000000ull;
}

/* Kill whatever is left, reap every descendant (we are their subreaper). */
static bool reap_all(int grace_s)
{
	uint64_t end = now_s() + grace_s;
	int i;

	for (;;) {
		pid_t r = waitpid(-1, NULL, WNOHANG);

		if (r < 0 && errno == ECHILD)
			return true;
		if (r > 0)
			continue;
		if (now_s() >= end) {
			for (i = 0; i < MAX_WORKERS + MAX_READERS; i++)
				if (shm->w[i].pid > 0)
					kill(shm->w[i].pid, SIGKILL);
		}
		if (now_s() >= end + 30)
			return false;
		usleep(20000);
	}
}

static int fuzz(const struct opts *o)
{
	struct counters base, after;
	uint64_t start = now_s(), last_ops[MAX_WORKERS + MAX_READERS];
	uint64_t last_move[MAX_WORKERS + MAX_READERS], kills = 0, stops = 0;
	uint64_t gens[MAX_WORKERS] = { 0 }, tick = 0;
	pid_t stopped = 0;
	struct params saved;
	struct rng r = { mix(o->seed, 0x5afe, 0) };
	bool hung = false, reaped, settled;
	int i, status;
	pid_t pid;

	counters_read(&base);
	params_save(&saved);
	param_setu(param_names[0], 8192);
	param_setu(param_names[1], 32768);
	param_setu(param_names[2], 1);
	param_setu(param_names[3], 20);
	param_setu(param_names[4], 32768);
	param_setu(param_names[5], 1024);

	for (i = 0; i < o->readers; i++)
		shm->w[MAX_WORKERS + i].pid = spawn(reader_entry, i, 0);
	for (i = 0; i < o->workers; i++)
		shm->w[i].pid = spawn(worker_main, i, 0);
	for (i = 0; i < MAX_WORKERS + MAX_READERS; i++) {
		last_ops[i] = 0;
		last_move[i] = start;
	}

	while (!__atomic_load_n(&shm->stop, __ATOMIC_ACQUIRE)) {
		usleep(100000);
		tick++;
		if ((o->secs && now_s() - start >= o->secs) ||
		    (o->max_ops && shm->total_ops >= o->max_ops))
			break;
		/* Respawn workers that exited (or were killed). */
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (i = 0; i < o->workers; i++)
				if (shm->w[i].pid == pid)
					break;
			if (i == o->workers) {
				for (i = 0; i < o->readers; i++)
					if (shm->w[MAX_WORKERS + i].pid == pid &&
					    !__atomic_exchange_n(&shm->failed, 1,
								 __ATOMIC_ACQ_REL)) {
						snprintf(shm->failure,
							 sizeof(shm->failure),
							 "reader %d died (status 0x%x)\n",
							 i, status);
						shm->stop = 1;
					}
				continue;	/* else an orphaned child */
			}
			if (pid == stopped)
				stopped = 0;
			if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL) {
				char msg[128];

				snprintf(msg, sizeof(msg),
					 "worker %d (gen %" PRIu64 ") died of signal %d (a fuzzer bug)",
					 i, gens[i], WTERMSIG(status));
				if (!__atomic_exchange_n(&shm->failed, 1,
							 __ATOMIC_ACQ_REL))
					strcpy(shm->failure, msg);
				shm->stop = 1;
				break;
			}
			shm->w[i].pid = spawn(worker_main, i, ++gens[i]);
			last_move[i] = now_s();
		}
		/* Kill one now and then; stop one for a while. */
		if (below(&r, 20) == 0) {
			i = below(&r, o->workers);
			if (shm->w[i].pid > 0 && shm->w[i].pid != stopped) {
				kill(shm->w[i].pid, SIGKILL);
				kills++;
			}
		}
		if (stopped && below(&r, 5) == 0) {
			kill(stopped, SIGCONT);
			stopped = 0;
		} else if (!stopped && below(&r, 40) == 0) {
			i = below(&r, o->workers);
			stopped = shm->w[i].pid;
			kill(stopped, SIGSTOP);
			stops++;
		}
		if (below(&r, 10) == 0)
			twiddle_params(&r);
		/* Anyone stuck? */
		for (i = 0; i < MAX_WORKERS + MAX_READERS; i++) {
			struct slotstate *st = &shm->w[i];
			uint64_t ops = __atomic_load_n(&st->ops,
						       __ATOMIC_ACQUIRE);

			if ((i < MAX_WORKERS && i >= o->workers) ||
			    (i >= MAX_WORKERS && i - MAX_WORKERS >= o->readers))
				continue;
			if (ops != last_ops[i] || st->pid == stopped) {
				last_ops[i] = ops;
				last_move[i] = now_s();
			} else if (now_s() - last_move[i] >= HANG_SECS) {
				report_hang(st, i, HANG_SECS);
				hung = true;
				shm->stop = 1;
				break;
			}
		}
		if (tick % 600 == 0)
			ksft_print_msg("%" PRIu64 " s: %" PRIu64 " ops, %" PRIu64 " reads, %" PRIu64 " kills\n",
				       now_s() - start, shm->total_ops,
				       shm->reads, kills);
	}
	shm->stop = 1;
	if (stopped)
		kill(stopped, SIGCONT);
	reaped = reap_all(10);
	params_restore(&saved);
	settled = reaped && counters_settle(&base, &after);

	ksft_print_msg("seed 0x%" PRIx64 ": %" PRIu64 " operations (%" PRIu64 " by fork/exec children), %" PRIu64 " forks, %" PRIu64 " execs, %" PRIu64 " kills, %" PRIu64 " stops, %" PRIu64 " faults caught, %" PRIu64 " checked reads of %" PRIu64 " lines, in %" PRIu64 " s with %d workers and %d readers\n",
		       o->seed, shm->total_ops, shm->child_ops, shm->forks,
		       shm->execs, kills, stops, shm->faults, shm->reads,
		       shm->lines, now_s() - start, o->workers, o->readers);
	for (i = 0; i < NR_OPS; i++)
		if (shm->op_ok[i] + shm->op_err[i])
			ksft_print_msg("  %-9s %8" PRIu64 " ok %8" PRIu64 " failed (documented errno or caught fault)\n",
				       op_names[i], shm->op_ok[i],
				       shm->op_err[i]);

	if (shm->failed)
		ksft_print_msg("FAILURE (rerun with -s 0x%" PRIx64 " -p %d): %s",
			       o->seed, o->workers, shm->failure);
	ksft_test_result(!shm->failed, "every call returned success or a documented errno\n");
	ksft_test_result(!hung && reaped, "nothing hung\n");
	if (!settled)
		ksft_print_msg("counters: tables %ld slots %ld bytes %ld, before: %ld %ld %ld\n",
			       after.tables, after.slots, after.bytes,
			       base.tables, base.slots, base.bytes);
	ksft_test_result(settled, "tables, slots and bytes back to their values before the run\n");
	ksft_test_result(shm->reads > 0 && shm->total_ops > 0,
			 "work was done (%" PRIu64 " ops, %" PRIu64 " reads)\n",
			 shm->total_ops, shm->reads);
	return 0;
}

/* ------------------------------------------------------------ soak */

struct meminfo {
	long avail, sunreclaim, vmalloc;
};

static long meminfo_kb(const char *buf, const char *key)
{
	const char *p = strstr(buf, key);

	return p ? atol(p + strlen(key)) : -1;
}

static void meminfo_read(struct meminfo *m)
{
	char *buf;
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "3", 1) < 0)
			ksft_print_msg("drop_caches: %m\n");
		close(fd);
	}
	buf = gfc_slurp("/proc/meminfo", NULL);
	m->avail = buf ? meminfo_kb(buf, "MemAvailable:") : -1;
	m->sunreclaim = buf ? meminfo_kb(buf, "SUnreclaim:") : -1;
	m->vmalloc = buf ? meminfo_kb(buf, "VmallocUsed:") : -1;
	free(buf);
}

/*
 * One churn process: register @fibers fibers, update them a few times,
 * then exit, close the table first, or be killed by the churner.
 */
static void soak_client(struct rng *r, unsigned long fibers)
{
	struct gfibers_slot v;
	unsigned long i, k, rounds = 1 + below(r, 3);
	struct gfc c;
	int err;

	err = gfc_open(&c);
	if (!err)
		err = gfc_reserve(&c, fibers);
	if (err) {
		fprintf(stderr, "soak client: registering %lu fibers: %s\n",
			fibers, strerror(-err));
		_exit(1);
	}
	for (k = 0; k < rounds; k++)
		for (i = 0; i < fibers; i++) {
			gfc_sample(&v, i + 1);
			v.status = (i + k) % 3 ? GFIBERS_GWAITING :
						 GFIBERS_GRUNNABLE;
			v.wait_since_ns -= (i % 7) * 1000000000ull;
			if ((i + k) % 11 == 0)
				gfc_release(gfc_slot(&c, i));
			else
				gfc_write(gfc_slot(&c, i), &v);
		}
	if (below(r, 2))
		gfc_close(&c);
	_exit(0);
}

static void soak_churner(int idx, uint64_t gen)
{
	struct rng r = { mix(shm->seed, 0x50a1, idx) };
	struct slotstate *st = &shm->w[idx];
	unsigned long fibers = shm->max_ops;	/* fibers per client */
	int status;
	pid_t pid;

	(void)gen;
	while (!__atomic_load_n(&shm->stop, __ATOMIC_ACQUIRE)) {
		uint64_t seed = rnd(&r);

		fflush(NULL);
		pid = fork();
		if (pid < 0)
			continue;
		if (pid == 0) {
			struct rng cr = { seed };

			soak_client(&cr, fibers);
		}
		if (below(&r, 4) == 0) {	/* killed mid-update */
			usleep(below(&r, 3000000));
			kill(pid, SIGKILL);
		}
		st->waiting_on = pid;
		waitpid(pid, &status, 0);
		st->waiting_on = 0;
		if (WIFEXITED(status) && WEXITSTATUS(status)) {
			if (!__atomic_exchange_n(&shm->failed, 1,
						 __ATOMIC_ACQ_REL))
				snprintf(shm->failure, sizeof(shm->failure),
					 "a soak client could not register %lu fibers\n",
					 fibers);
			shm->stop = 1;
		}
		ADD(shm->total_ops, 1);
		__atomic_store_n(&st->ops, st->ops + 1, __ATOMIC_RELEASE);
	}
	_exit(0);
}

/*
 * KASAN keeps freed slab objects in a quarantine (up to 1/32 of memory),
 * counted in SUnreclaim: on such a kernel the slab is judged by kmemleak
 * (the VM runner's scan), not by its size. Ask before the churn: the
 * answer is the boot log's, which a long run overwrites.
 */
static bool kasan_kernel(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	char rec[1024];
	bool found = false;
	ssize_t n;

	if (fd < 0)
		return false;
	while (!found) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			break;
		rec[n] = '\0';
		found = strstr(rec, "KernelAddressSanitizer initialized");
	}
	close(fd);
	return found;
}

static int soak(const struct opts *o)
{
	uint64_t start, last_ops[MAX_WORKERS + MAX_READERS];
	uint64_t last_move[MAX_WORKERS + MAX_READERS], tick = 0;
	struct counters base, after;
	struct meminfo m0, m1;
	struct params saved;
	bool hung = false, reaped, settled, mem_ok, kasan;
	int i;

	shm->max_ops = o->fibers;	/* read by the churners */
	params_save(&saved);
	param_setu(param_names[2], 1);
	param_setu(param_names[3], 20);
	counters_read(&base);
	meminfo_read(&m0);
	/* Asked now: an hour of churn can push the boot message out of the
	 * kernel's log buffer (a one-hour soak failed on that). */
	kasan = kasan_kernel();
	start = now_s();
	for (i = 0; i < o->readers; i++)
		shm->w[MAX_WORKERS + i].pid = spawn(reader_entry, i, 0);
	for (i = 0; i < o->workers; i++)
		shm->w[i].pid = spawn(soak_churner, i, 0);
	for (i = 0; i < MAX_WORKERS + MAX_READERS; i++) {
		last_ops[i] = 0;
		last_move[i] = start;
	}
	while (!shm->stop && now_s() - start < o->secs) {
		sleep(1);
		tick++;
		if (tick % 30 == 0)
			param_setu(param_names[3], 20);
		for (i = 0; i < MAX_WORKERS + MAX_READERS; i++) {
			struct slotstate *st = &shm->w[i];

			if ((i < MAX_WORKERS && i >= o->workers) ||
			    (i >= MAX_WORKERS && i - MAX_WORKERS >= o->readers))
				continue;
			if (st->ops != last_ops[i]) {
				last_ops[i] = st->ops;
				last_move[i] = now_s();
			} else if (now_s() - last_move[i] >= 3 * HANG_SECS) {
				report_hang(st, i, 3 * HANG_SECS);
				hung = true;
				shm->stop = 1;
			}
		}
		if (tick % 60 == 0) {
			counters_read(&after);
			ksft_print_msg("%" PRIu64 " s: %" PRIu64 " clients of %lu fibers, %" PRIu64 " reads; tables %ld slots %ld bytes %ld\n",
				       now_s() - start, shm->total_ops,
				       o->fibers, shm->reads, after.tables,
				       after.slots, after.bytes);
		}
	}
	shm->stop = 1;
	reaped = reap_all(60);
	params_restore(&saved);
	settled = reaped && counters_settle(&base, &after);
	meminfo_read(&m1);
	ksft_print_msg("soak seed 0x%" PRIx64 ": %" PRIu64 " clients of %lu fibers (%d churners), %" PRIu64 " checked reads of %" PRIu64 " lines, in %" PRIu64 " s\n",
		       o->seed, shm->total_ops, o->fibers, o->workers,
		       shm->reads, shm->lines, now_s() - start);
	ksft_print_msg("memory before/after (kB): MemAvailable %ld/%ld, SUnreclaim %ld/%ld, VmallocUsed %ld/%ld\n",
		       m0.avail, m1.avail, m0.sunreclaim, m1.sunreclaim,
		       m0.vmalloc, m1.vmalloc);
	mem_ok = m1.avail + m1.sunreclaim >=
		 m0.avail + m0.sunreclaim - SOAK_MEM_SLACK_KB &&
		 (kasan || m1.sunreclaim <= m0.sunreclaim + SOAK_SLAB_SLACK_KB) &&
		 m1.vmalloc <= m0.vmalloc + SOAK_VMALLOC_SLACK_KB;
	if (kasan)
		ksft_print_msg("KASAN kernel: SUnreclaim holds its quarantine; slab judged by kmemleak\n");
	if (shm->failed)
		ksft_print_msg("FAILURE: %s", shm->failure);
	ksft_test_result(!shm->failed && shm->total_ops > 0,
			 "every client registered its fibers\n");
	ksft_test_result(!hung && reaped, "nothing hung\n");
	if (!settled)
		ksft_print_msg("counters: tables %ld slots %ld bytes %ld, before: %ld %ld %ld\n",
			       after.tables, after.slots, after.bytes,
			       base.tables, base.slots, base.bytes);
	ksft_test_result(settled, "tables, slots and bytes back to their values before the soak\n");
	ksft_test_result(mem_ok, "memory back to its value before the soak (within %d MiB of pages, %d MiB of slab, %d MiB of vmalloc)\n",
			 SOAK_MEM_SLACK_KB / 1024, SOAK_SLAB_SLACK_KB / 1024,
			 SOAK_VMALLOC_SLACK_KB / 1024);
	return 0;
}

/* ------------------------------------------------------------ main */

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *e = getenv(name);

	return e && *e ? strtoul(e, NULL, 0) : def;
}

int main(int argc, char **argv)
{
	const char *child = getenv("GFIBERS_FUZZ_CHILD");
	const char *mode = getenv("GFIBERS_FUZZ_MODE");
	const char *e = getenv("GFIBERS_FUZZ_SEED");
	struct opts o;
	int opt;

	if (child)
		return exec_child_main(child);

	o.seed = e && *e ? strtoull(e, NULL, 0) :
		 mix(gfc_now_ns(), getpid(), 0);
	o.secs = env_ul("GFIBERS_FUZZ_SECS", ~0ul);
	o.max_ops = env_ul("GFIBERS_FUZZ_OPS", 0);
	o.workers = env_ul("GFIBERS_FUZZ_PROCS", 4);
	o.readers = env_ul("GFIBERS_FUZZ_READERS", 2);
	o.fibers = env_ul("GFIBERS_SOAK_FIBERS", 100000);
	o.soak = mode && !strcmp(mode, "soak");
	while ((opt = getopt(argc, argv, "s:t:n:p:r:m:f:")) != -1) {
		switch (opt) {
		case 's': o.seed = strtoull(optarg, NULL, 0); break;
		case 't': o.secs = strtoul(optarg, NULL, 0); break;
		case 'n': o.max_ops = strtoul(optarg, NULL, 0); break;
		case 'p': o.workers = atoi(optarg); break;
		case 'r': o.readers = atoi(optarg); break;
		case 'm': o.soak = !strcmp(optarg, "soak"); break;
		case 'f': o.fibers = strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [-s seed] [-t secs] [-n ops] [-p workers] [-r readers] [-m fuzz|soak] [-f fibers]\n",
				argv[0]);
			return 2;
		}
	}
	/* No limit given: a short run for the suite. */
	if (o.secs == ~0ul)
		o.secs = o.max_ops ? 0 : o.soak ? 60 : 15;
	if (o.workers < 1 || o.workers > MAX_WORKERS || o.readers < 0 ||
	    o.readers > MAX_READERS) {
		fprintf(stderr, "1-%d workers, 0-%d readers\n", MAX_WORKERS,
			MAX_READERS);
		return 2;
	}

	/* Progress lines reach a pipe (run_tests.sh) as they are printed. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	ksft_print_header();
	if (!gfc_present())
		ksft_exit_skip(GFC_DEV " absent: gfibers.ko not loaded\n");
	if (geteuid())
		ksft_exit_skip("needs root: sets module parameters\n");
	ksft_set_plan(4);
	ksft_print_msg("%s seed 0x%" PRIx64 ", %lu s, %lu ops, %d workers, %d readers\n",
		       o.soak ? "soak" : "fuzz", o.seed, o.secs, o.max_ops,
		       o.workers, o.readers);

	shm_fd = memfd_create("gfibers-fuzz", 0);
	if (shm_fd < 0 || ftruncate(shm_fd, sizeof(*shm)))
		ksft_exit_fail_msg("memfd: %s\n", strerror(errno));
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED,
		   shm_fd, 0);
	if (shm == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	shm->seed = o.seed;
	shm->max_ops = o.max_ops;
	/* Every descendant, orphaned or not, comes back to us. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	if (o.soak)
		soak(&o);
	else
		fuzz(&o);
	ksft_finished();
	return 0;
}
