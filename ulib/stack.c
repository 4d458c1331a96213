// SPDX-License-Identifier: MIT
/*
 * stack.c - fiber stacks: arenas, guard pages within a VMA budget,
 * overflow detection and report.
 *
 * The constraint: vm.max_map_count is 65530 by default, and a guard page
 * below every stack costs one or two VMAs (the PROT_NONE page splits the
 * mapping), so 1,000,000 fibers cannot each have one. The plan:
 *
 *  - Default-size stacks are carved from arenas: one mmap of
 *    ARENA_STACKS slots (MAP_NORESERVE: nothing is committed until
 *    touched; adjacent arenas even merge into one VMA). A slot is a pad
 *    of PAD_PAGES (64 KiB) plus the stack; a parked fiber that used
 *    little stack costs one resident page. The pad costs address space
 *    only: never touched, it has no page and no page table.
 *  - The pad of the first GF_GUARD_STACKS slots (default 8192, about
 *    16k VMAs, a quarter of the default limit) is made PROT_NONE: a
 *    real guard, as cheap in VMAs at 64 KiB as at one page. An overflow
 *    faults as soon as it touches the guard and the SIGSEGV handler
 *    reports the fiber's id and name. (Guard markers, Linux 6.13's
 *    MADV_GUARD_INSTALL, would guard every stack at no VMA cost, but a
 *    marked page cannot be read through /proc/PID/mem: gdb's gcore of
 *    a live process then drops the whole arena from the core, and
 *    every parked fiber's stack with it. Tried and measured, not kept.)
 *  - Beyond the budget the pad stays untouched and unprotected. Overflow
 *    is then detected after the fact: at every switch the stack pointer
 *    is checked against the stack's bottom, and at exit every page of
 *    the pad that is resident (mincore: an untouched page is not, and is
 *    not faulted in by the check) must read zero.
 *  - What neither sees: one frame larger than the pad (a local array of
 *    more than 64 KiB) may jump it and write into the stack below without
 *    touching it. Code built with -fstack-clash-protection probes every
 *    page of such a frame, so it hits the guard; without it, such a frame
 *    is caught only if the fiber switches while it is live (the stack
 *    pointer check) or faults while its stack pointer is below its
 *    stack (the SIGSEGV handler looks at it). So: exact detection of
 *    frames up to 64 KiB for the first 8192 live stacks (stacks are
 *    recycled, so a program with fewer live fibers always has guards),
 *    detection at exit beyond, and best effort for bigger frames.
 *  - Stacks of other sizes are mapped one by one with a guard page
 *    (two VMAs each) and unmapped when their fiber exits.
 *  - Out of address space (RLIMIT_AS) or of VMAs (vm.max_map_count,
 *    which a guard's split counts against), the allocation fails with
 *    ENOMEM and leaves nothing behind: gf_go returns the error, and the
 *    next call tries again. A stack is never handed out with a weaker
 *    overflow check than the budget promises.
 *
 * A dead G keeps its stack for the next gf_go (Go keeps its stack pool
 * too), up to a bound beyond which the stack's pages go back to the
 * kernel (gfi_stack_release, fiber.c's free lists); see docs/ulib.md
 * for the memory figures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "runtime.h"

#define ARENA_STACKS 64
/* The pad (guard) below each stack: frames up to its size cannot jump it */
#define PAD_PAGES 16

static size_t pagesz;
static int arena_lock;
static char *arena_next, *arena_end;	/* carve pointer of the arena */
static char *arena_ready;	/* [arena_next, arena_ready): tops populated */
static long guard_budget;		/* real guard pages left */

void gfi_stack_init(void)
{
	const char *s = getenv("GF_GUARD_STACKS");

	pagesz = (size_t)sysconf(_SC_PAGESIZE);
	guard_budget = s && *s ? atol(s) : 8192;
	gfi_sched.stack_size = (gfi_sched.stack_size + pagesz - 1) &
			       ~(pagesz - 1);
	if (gfi_sched.stack_size < 4 * pagesz)
		gfi_sched.stack_size = 4 * pagesz;
}

/* Set once the kernel refused a vectored call of that advice: it will
 * again. */
static _Atomic bool dontneed_refused, vectored_populate_refused;
/* Set once madvise(MADV_POPULATE_WRITE) was refused (before 5.14). */
static _Atomic bool populate_refused;

/*
 * process_madvise(advice) of n ranges of the caller's memory: returns
 * the bytes the kernel took, from the first range on (0: none, or
 * refused; then *refused, should it say the kernel always will).
 */
static size_t advise_vectored(const struct iovec *iov, int n, int advice,
			      _Atomic bool *refused)
{
	int pidfd;
	long r = -1;

	if (atomic_load_explicit(refused, memory_order_relaxed))
		return 0;
	/* Opened per batch, not cached: a pidfd held by a library would be
	 * one fd the program does not know of, and a child after fork()
	 * would hold its parent's. */
	pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd >= 0) {
		r = syscall(SYS_process_madvise, pidfd, iov, (size_t)n,
			    advice, 0);
		close(pidfd);
	}
	/* EINVAL: advice other than MADV_COLD, PAGEOUT, WILLNEED and
	 * COLLAPSE not taken this way before 6.13; ENOSYS: before 5.10
	 * (pidfd_open: 5.3); EPERM: a seccomp filter. */
	if (r < 0 && (errno == EINVAL || errno == ENOSYS || errno == EPERM))
		atomic_store_explicit(refused, true, memory_order_relaxed);
	return r > 0 ? (size_t)r : 0;
}

static int stack_map_single(gfi_g *gp, size_t size)
{
	size_t pad = PAD_PAGES * pagesz;
	char *p = mmap(NULL, size + pad, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		       -1, 0);

	if (p == MAP_FAILED) {
		errno = ENOMEM;
		return -1;
	}
	/* The guard splits the mapping: one more VMA, which may be refused */
	if (mprotect(p, pad, PROT_NONE)) {
		munmap(p, size + pad);
		errno = ENOMEM;
		return -1;
	}
	gp->map_lo = p;
	gp->stack_lo = p + pad;
	gp->stack_hi = p + pad + size;
	gp->stack_guarded = 1;
	gp->stack_arena = 0;
	gp->stack_warm = 0;
	return 0;
}

int gfi_stack_alloc(gfi_g *gp, size_t size)
{
	size_t pad = PAD_PAGES * pagesz;
	size_t slot = gfi_sched.stack_size + pad;
	char *p;

	size = (size + pagesz - 1) & ~(pagesz - 1);
	if (size && size != gfi_sched.stack_size)
		return stack_map_single(gp, size < 4 * pagesz ? 4 * pagesz
							    : size);
	gfi_lock(&arena_lock);
	if (arena_next == arena_end) {
		p = mmap(NULL, slot * ARENA_STACKS, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			 MAP_STACK, -1, 0);
		if (p == MAP_FAILED) {
			gfi_unlock(&arena_lock);
			errno = ENOMEM;
			return -1;
		}
		/*
		 * With THP "always" (Debian's default) the first touch of a
		 * stack would fault in a 2 MiB page: 40 KiB and more per
		 * parked fiber instead of one 4 KiB page. The flag is the
		 * same on every arena, so neighbours still merge. Should it
		 * fail, that costs memory, not correctness.
		 */
		madvise(p, slot * ARENA_STACKS, MADV_NOHUGEPAGE);
		arena_next = arena_ready = p;
		arena_end = p + slot * ARENA_STACKS;
	}
	p = arena_next;
	gp->stack_warm = p < arena_ready;
	gp->stack_guarded = 0;
	if (guard_budget > 0) {
		/*
		 * Within the budget a stack gets a real guard or is not
		 * handed out: when the split is refused (vm.max_map_count),
		 * gf_go fails rather than give a weaker check than the one
		 * documented. The slot stays for the next try.
		 */
		if (mprotect(p, pad, PROT_NONE)) {
			gfi_unlock(&arena_lock);
			errno = ENOMEM;
			return -1;
		}
		guard_budget--;
		gp->stack_guarded = 1;
	}
	arena_next += slot;
	gfi_unlock(&arena_lock);
	gp->map_lo = p;
	gp->stack_lo = p + pad;
	gp->stack_hi = p + slot;
	gp->stack_arena = 1;
	return 0;
}

/*
 * Populating the tops of fresh stacks, many in one call. A first touch
 * of an anonymous page is an exception, and in a VM a dear one: 21-24
 * us a page on this project's machines (AMD EPYC guest, Linux 6.18),
 * where MADV_POPULATE_WRITE (5.14) takes the same pages for 3.5 us
 * each, one madvise a page, and 1.5 us in one process_madvise of
 * scattered pages (6.13: any advice for the caller's own memory). The
 * pages and the memory are the same: only stacks about to be run on
 * are populated (gfi_gprepare: the G about to run, p's dead Gs whose
 * stacks went cold, the arena's next slots), so the RSS grows by at
 * most one batch more than running on them would have made it.
 *
 * stack_warm stays a hint: a top said populated that is not (a call
 * that failed with ENOMEM after the arena's slots were claimed) costs
 * one fault when it is run on, as any fresh stack did.
 */
int gfi_stack_populate(struct gfi_populate *b, int n, int ahead)
{
	struct iovec *iov = b->iov;
	gfi_g **gs = b->gs;
	size_t slot = gfi_sched.stack_size + PAD_PAGES * pagesz, done;
	int e = errno, k = 0, i, warmed = 0;
	char *at;

	if (atomic_load_explicit(&populate_refused, memory_order_relaxed))
		return 0;
	for (i = 0; i < n && k < GFI_POPULATE_MAX; i++, k++) {
		iov[k].iov_base = gs[i]->stack_hi - pagesz;
		iov[k].iov_len = pagesz;
	}
	n = k;
	/* The arena's next slots: claimed under the lock (whoever carves
	 * them gets them warm), populated outside it. */
	if (ahead > 0 && k < GFI_POPULATE_MAX) {
		gfi_lock(&arena_lock);
		at = arena_ready > arena_next ? arena_ready : arena_next;
		for (; ahead > 0 && k < GFI_POPULATE_MAX && at < arena_end;
		     ahead--, k++, at += slot) {
			iov[k].iov_base = at + slot - pagesz;
			iov[k].iov_len = pagesz;
		}
		if (k > n)
			arena_ready = at;
		gfi_unlock(&arena_lock);
	}
	if (!k)
		return 0;
	done = k > 1 ? advise_vectored(iov, k, MADV_POPULATE_WRITE,
				       &vectored_populate_refused) : 0;
	for (i = 0; i < k; i++) {
		bool taken = done >= pagesz;

		done = taken ? done - pagesz : 0;
		if (!taken && madvise(iov[i].iov_base, pagesz,
				      MADV_POPULATE_WRITE)) {
			/* EINVAL: before 5.14 (or with no such pages, which
			 * these are not); ENOMEM, EFAULT: let the touch
			 * fault it and deal with it, as it always did */
			if (errno == EINVAL)
				atomic_store_explicit(&populate_refused, true,
						      memory_order_relaxed);
			break;
		}
		if (i < n) {
			gs[i]->stack_warm = 1;
			warmed++;
		}
	}
	errno = e;
	return warmed;
}

/* Merge two lists (schedlink) sorted by address. */
static gfi_g *merge_by_address(gfi_g *a, gfi_g *b)
{
	gfi_g *head = NULL, **tail = &head;

	while (a && b) {
		gfi_g **from = a->map_lo < b->map_lo ? &a : &b;

		*tail = *from;
		tail = &(*from)->schedlink;
		*from = (*from)->schedlink;
	}
	*tail = a ? a : b;
	return head;
}

/* Sort a list (schedlink) by address: merge sort, no allocation. */
static gfi_g *sort_by_address(gfi_g *list)
{
	gfi_g *slow = list, *fast, *half;

	if (!list || !list->schedlink)
		return list;
	for (fast = list->schedlink; fast && fast->schedlink;
	     fast = fast->schedlink->schedlink)
		slow = slow->schedlink;
	half = slow->schedlink;
	slow->schedlink = NULL;
	return merge_by_address(sort_by_address(list),
				sort_by_address(half));
}

/*
 * The stacks of dead Gs are cold again: MADV_DONTNEED, not MADV_FREE,
 * so that the RSS drops now (a lazily freed page stays counted until the
 * kernel needs it). Sorted, so that neighbours of one arena go in one
 * range, their pads with them: a pad is never written (the exit check
 * saw to it), so it reads zero after as before, and a guard pad keeps
 * its protection.
 *
 * What costs is the TLB flush each madvise does (with two threads
 * running, an IPI to the other CPU: 70-200 us in a VM), not the stacks
 * it covers. So the ranges go to the kernel together, in one
 * process_madvise per batch: Linux 6.13 takes MADV_DONTNEED that way
 * for the caller's own memory, and 6.16 flushes the TLB once per call
 * rather than once per range (20,000 scattered pages, another thread
 * running: 1,002 ms one madvise each, 32 ms in 20 calls, AMD EPYC VM,
 * Linux 6.18). Where the kernel refuses it (older kernels, a seccomp
 * filter), each range is one madvise, as is what a batch left undone.
 *
 * Fibers exiting in random order leave their free stacks in short runs,
 * and each madvise of the fallback is an IPI; so the list may hold more
 * than is to be released: the longest runs go first (a pass per run
 * length, 16 and up, then 8, 4, 2, 1) until want warm stacks are cold;
 * a run may span stacks released already, which costs nothing and joins
 * its ends. Should the kernel refuse a range, its stacks stay warm:
 * memory not returned, nothing else.
 */
#define RELEASE_RUN_FIRST 16
#define RELEASE_BATCH 1024	/* UIO_MAXIOV: more is EINVAL */

struct release_batch {
	int n, cap;
	struct iovec *iov;
	gfi_g **run;		/* the first stack of each range */
};

/*
 * The stacks from gp in range v: cold if the kernel took it (taken).
 * Returns how many of them stay warm.
 */
static long range_mark(gfi_g *gp, const struct iovec *v, bool taken)
{
	const char *end = (const char *)v->iov_base + v->iov_len;
	long warm = 0;

	for (; gp && gp->stack_hi <= end; gp = gp->schedlink) {
		if (taken)
			gp->stack_warm = 0;
		warm += gp->stack_warm;
	}
	return warm;
}

/*
 * Hand b's ranges to the kernel: all in one call where it takes them so,
 * else (and for what that call left) one madvise each. Returns the
 * count of warm stacks in the ranges it refused.
 */
static long release_flush(struct release_batch *b)
{
	size_t done = b->n > 1 ? advise_vectored(b->iov, b->n, MADV_DONTNEED,
						 &dontneed_refused) : 0;
	long kept = 0;
	int i;

	for (i = 0; i < b->n; i++) {
		const struct iovec *v = &b->iov[i];
		bool taken = done >= v->iov_len;

		done = taken ? done - v->iov_len : 0;
		if (!taken)
			taken = !madvise(v->iov_base, v->iov_len,
					 MADV_DONTNEED);
		kept += range_mark(b->run[i], v, taken);
	}
	b->n = 0;
	return kept;
}

/*
 * The run of neighbours that starts at gp: returns its last G, with the
 * count of its stacks in *len and of its warm ones in *warm.
 */
static gfi_g *run_last(gfi_g *gp, long *len, long *warm)
{
	*len = 1;
	*warm = gp->stack_warm;
	for (; gp->schedlink && gp->schedlink->map_lo == gp->stack_hi;
	     gp = gp->schedlink) {
		++*len;
		*warm += gp->schedlink->stack_warm;
	}
	return gp;
}

gfi_g *gfi_stack_release(gfi_g *list, long want)
{
	/* Off the stack: this runs on a fiber's, which may be small and
	 * nearly full. Batches of one range when malloc fails. */
	void *mem = malloc(RELEASE_BATCH *
			   (sizeof(struct iovec) + sizeof(gfi_g *)));
	struct iovec iov1;
	gfi_g *run1, *run, *last;
	struct release_batch batch = { 0, 1, &iov1, &run1 }, *b = &batch;
	long min, len, warm;
	/* Left as it was: this runs on the exit path of one fiber, after
	 * the switch, where the next fiber's errno is live. */
	int e = errno;

	if (mem) {
		b->cap = RELEASE_BATCH;
		b->iov = mem;
		b->run = (gfi_g **)(b->iov + RELEASE_BATCH);
	}
	list = sort_by_address(list);
	/* Runs of one pass are apart: a batch is flushed before the next
	 * pass looks at what is still warm. */
	for (min = RELEASE_RUN_FIRST; min >= 1 && want > 0; min /= 2) {
		for (run = list; run && want > 0; run = last->schedlink) {
			last = run_last(run, &len, &warm);
			if (!warm || len < min)
				continue;
			b->run[b->n] = run;
			b->iov[b->n].iov_base = run->stack_lo;
			b->iov[b->n].iov_len =
				(size_t)(last->stack_hi - run->stack_lo);
			want -= warm;
			if (++b->n == b->cap)
				want += release_flush(b);
		}
		want += release_flush(b);
	}
	free(mem);
	errno = e;
	return list;
}

void gfi_stack_free(gfi_g *gp)
{
	if (!gp->stack_lo || gp->stack_arena)
		return;
	munmap(gp->map_lo, (size_t)(gp->stack_hi - gp->map_lo));
	gp->map_lo = gp->stack_lo = gp->stack_hi = NULL;
}

/* SIG_DFL for sig, async-signal-safely (signal() is not listed so). */
static void sig_default(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* May run in the SIGSEGV handler: async-signal-safe calls only. */
void gfi_stack_overflow(gfi_g *gp, const char *how)
{
	gfi_printf(2, "fatal error: stack overflow in fiber %ld (%s): %s, "
		   "stack [%p, %p)\n", (long)gp->id,
		   gp->name[0] ? gp->name : "unnamed", how,
		   (void *)gp->stack_lo, (void *)gp->stack_hi);
	sig_default(SIGABRT);
	abort();
}

/*
 * At exit, for a stack without guard: every resident page of its pad
 * must be zero. A page not resident was never written (or is swapped
 * out: then unchecked); it is not read, so the check costs no memory.
 */
void gfi_stack_check_pad(gfi_g *gp)
{
	/*
	 * Not on the fiber's stack: measured in a 2-CPU VM (perf), the
	 * kernel's copy of the vector into a page of this stack cost ~16
	 * us a mincore (a quarter of the CPU of 100,000 exiting sleepers,
	 * bench/RESULTS.md), into a per-thread buffer ~3 us. Nothing
	 * switches fibers inside this function, so one per thread does.
	 */
	static __thread unsigned char vec[PAD_PAGES] GFI_TLS_IE;
	size_t i, k;

	if (gp->stack_guarded || !gp->stack_lo)
		return;
	if (mincore(gp->map_lo, (size_t)(gp->stack_lo - gp->map_lo), vec))
		return;		/* cannot tell: no check, no fault */
	for (i = 0; i < PAD_PAGES; i++) {
		const uint64_t *w;

		if (!(vec[i] & 1))
			continue;
		w = (const uint64_t *)(void *)(gp->map_lo + i * pagesz);
		for (k = 0; k < pagesz / sizeof(*w); k++)
			if (w[k])
				gfi_stack_overflow(gp, "pad below the stack "
						   "written");
	}
}

/* ---------------------------------------------------------- SIGSEGV */

static struct sigaction old_segv;

static void segv_handler(int sig, siginfo_t *si, void *ucv)
{
	struct gfi_m *m = gfi_getm();
	gfi_g *gp = m ? m->curg : NULL;
	ucontext_t *uc = ucv;
	char *a = si->si_addr;
	char *sp = (char *)uc->uc_mcontext.gregs[REG_RSP];

	if (gp && gp->stack_lo && a >= gp->map_lo && a < gp->stack_lo)
		gfi_stack_overflow(gp, "guard page hit");
	/* A frame that jumped the guard, faulting anywhere (lower) */
	if (gp && gp->stack_lo && sp < gp->stack_lo &&
	    sp >= gp->map_lo - (256l << 20))
		gfi_stack_overflow(gp, "stack pointer below the stack at a "
				   "fault");
	/* Not ours: the previous handler, or the default action. */
	if (old_segv.sa_flags & SA_SIGINFO) {
		if (old_segv.sa_sigaction) {
			old_segv.sa_sigaction(sig, si, ucv);
			return;
		}
	} else if (old_segv.sa_handler != SIG_DFL &&
		   old_segv.sa_handler != SIG_IGN) {
		old_segv.sa_handler(sig);
		return;
	}
	sig_default(sig);
	/* returning re-executes the faulting access: default action */
}

static pthread_once_t segv_once = PTHREAD_ONCE_INIT;

static void segv_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
}

/* Each M gets an alternate signal stack: the overflow handler cannot run
 * on the stack that overflowed. */
void gfi_signals_init_thread(struct gfi_m *m)
{
	stack_t ss, old;
	size_t sz = 64 << 10;

	pthread_once(&segv_once, segv_install);
	if (!sigaltstack(NULL, &old) && !(old.ss_flags & SS_DISABLE) &&
	    old.ss_size >= sz)
		return;		/* e.g. the sanitizers' own */
	m->altstack = malloc(sz);
	if (!m->altstack)
		return;
	ss.ss_sp = m->altstack;
	ss.ss_size = sz;
	ss.ss_flags = 0;
	sigaltstack(&ss, NULL);
}
