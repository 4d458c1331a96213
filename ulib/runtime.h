/* SPDX-License-Identifier: MIT */
/*
 * runtime.h - libgfiber's internal structures: G (fiber), M (thread),
 * P (processor), the scheduler, sudogs and timers.
 *
 * The model is Go's (runtime/proc.go). A G runs on an M that holds a P;
 * runnable Gs sit on the P's local run queue (lock-free ring, Go's runq)
 * or the global one. A G switches directly to the next G of its P's
 * queue when it parks or yields; when the queue is empty (or every 61st
 * switch, for fairness with the global queue and timers) it switches to
 * its M's scheduler context g0 (the thread's own stack), which steals,
 * polls timers and the netpoller, and sleeps.
 *
 * The one rule every switch obeys: a G is published (put on a run queue,
 * exposed to a waker by releasing a lock) only after its context is
 * saved. So the work that follows a switch - making the previous G
 * runnable (yield), running the park's unlock callback, recycling a dead
 * G - is done by whatever context resumes next, in gfi_after_switch(),
 * as Go does it on g0 in park_m/gosched_m/goexit0.
 *
 * Layers, arrows pointing down only:
 *	time.c                                      (timers on channels)
 *	select.c
 *	chan.c sync.c timer.c netpoll.c syscall.c    (users of park/ready)
 *	fiber.c sched.c                             (G, park/ready, P, M)
 *	stack.c ctx_x86_64.S registry.c             (memory, switch, table)
 */
#ifndef GF_RUNTIME_H
#define GF_RUNTIME_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "gfiber.h"
#include "ctx.h"
#include "uapi/gfibers.h"

#define GF_HIDDEN __attribute__((visibility("hidden")))

/*
 * Fibers migrate between threads: errno's address must be looked up
 * after every switch, never reused from before one (glibc's
 * __errno_location is const, so GCC may CSE it across a park).
 */
#undef errno
#define errno (*gf_errno_location())

/* ---------------------------------------------------------- sanitizers */

#if defined(__SANITIZE_ADDRESS__)
#define GF_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define GF_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(GF_ASAN)
#define GF_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(GF_TSAN)
#define GF_TSAN 1
#endif
#endif

/* ---------------------------------------------------------- asserts */

/*
 * Runtime invariants: never compiled out. A failure is a bug of the
 * runtime (or memory corruption), reported with the place and the fiber.
 */
#define gfi_assert(cond)                                                     \
	do {                                                                 \
		if (__builtin_expect(!(cond), 0))                            \
			gfi_fatal_at(__FILE__, __LINE__,                     \
				     "assertion failed: " #cond);            \
	} while (0)

GF_HIDDEN __attribute__((noreturn, cold)) void
gfi_fatal_at(const char *file, int line, const char *msg);
/* "fatal error: msg" + the dump of every fiber + abort (Go's throw). */
GF_HIDDEN __attribute__((noreturn, cold)) void gfi_fatal(const char *msg);

/* ---------------------------------------------------------- chaos */

/*
 * Delay injection (chaos.c): the GF_CHAOS test build widens race windows
 * at these points; elsewhere gfi_chaos() is empty and costs nothing.
 */
enum gfi_chaos_point {
	GFI_CHAOS_LOCK = 1,	/* before taking a lock, and once it is held */
	GFI_CHAOS_UNLOCK,	/* before and after dropping a lock */
	GFI_CHAOS_PARK,		/* a fiber about to park */
	GFI_CHAOS_READY,	/* a fiber about to be made runnable */
	GFI_CHAOS_STATUS,	/* a status change */
	GFI_CHAOS_TIMER,	/* a timer armed */
	GFI_CHAOS_RUNQ,		/* a fiber queued, a spinning M stopping */
	GFI_CHAOS_REF,		/* a reference dropped */
};

#ifdef GF_CHAOS
GF_HIDDEN void gfi_chaos(enum gfi_chaos_point point);
#else
static inline void gfi_chaos(enum gfi_chaos_point point)
{
	(void)point;
}
#endif

/* ---------------------------------------------------------- USDT */

/*
 * Static probes for bpftrace, perf and SystemTap (docs/usdt.md), provider
 * gfiber: create(id, parent id, creation site), park(id, wait reason,
 * wait site, object), ready(id, waker's id or 0), exit(id), leak(id, wait
 * reason). Each is one nop where nothing is attached (ready: a test of
 * its semaphore, see below). <sys/sdt.h> is
 * Debian's systemtap-sdt-dev (make deps); a build without it must say so:
 * -DGF_NO_USDT builds the library without probes.
 */
#ifdef GF_NO_USDT
#define GFI_PROBE(...) do { } while (0)
#define GFI_PROBE_GUARDED(...) do { } while (0)
#elif __has_include(<sys/sdt.h>)
#define SDT_USE_VARIADIC 1
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#define GFI_PROBE(name, ...) STAP_PROBEV(gfiber, name, __VA_ARGS__)
/*
 * A probe whose arguments cost instructions to compute (ready's waker)
 * is guarded by its semaphore, which a tracer raises while attached
 * (registry.c defines them, one per probe).
 */
#define GFI_PROBE_GUARDED(name, ...)					     \
	do {								     \
		if (__builtin_expect(gfiber_##name##_semaphore, 0))	     \
			GFI_PROBE(name, __VA_ARGS__);			     \
	} while (0)
#define GFI_PROBE_SEM(name) \
	GF_HIDDEN extern unsigned short gfiber_##name##_semaphore
GFI_PROBE_SEM(create);
GFI_PROBE_SEM(park);
GFI_PROBE_SEM(ready);
GFI_PROBE_SEM(exit);
GFI_PROBE_SEM(leak);
#else
#error "<sys/sdt.h> is missing: install systemtap-sdt-dev (make deps), or build with CPPFLAGS=-DGF_NO_USDT for a library without USDT probes"
#endif

/* ---------------------------------------------------------- spinlock */

/*
 * The lock of channels, sync objects, timers: one exchange to take, one
 * release store to drop. Held for a few dozen instructions, never while
 * blocking in the kernel (a parked fiber's lock is dropped by its unlock
 * callback right after the switch). Spins, then yields the CPU so that
 * a preempted holder can run.
 */
static inline void gfi_lock(int *l)
{
	int spins = 0;

	gfi_chaos(GFI_CHAOS_LOCK);
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {
		do {
			if (++spins > 64) {
				sched_yield();
				spins = 0;
			} else {
				__builtin_ia32_pause();
			}
		} while (__atomic_load_n(l, __ATOMIC_RELAXED));
	}
	gfi_chaos(GFI_CHAOS_LOCK);
}

static inline bool gfi_trylock(int *l)
{
	return !__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE);
}

static inline void gfi_unlock(int *l)
{
	gfi_chaos(GFI_CHAOS_UNLOCK);
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
	gfi_chaos(GFI_CHAOS_UNLOCK);
}


/* ---------------------------------------------------------- G */

/*
 * Status: the uapi's GFIBERS_G* numbers, plus GSCAN while a dump walks a
 * parked G's stack or a status change writes the slot (gf_ready and the
 * leak marker spin on it, as Go's casgstatus spins on _Gscan).
 */
#define GSCAN 0x1000u

/* A labels set, immutable once published, shared by reference. */
struct gfi_labels {
	atomic_int refs;
	int n;
	struct {
		char key[64];
		char val[64];
	} kv[8];
};

/*
 * struct gf_fiber - a G. Allocated once, never freed: a dead G keeps its
 * stack and its registry slot and is recycled by the next gf_go (Go's
 * gfput/gfget), so that allgs can be walked without locks on the hot
 * path and a dump never meets freed memory.
 */
struct gf_fiber {
	void *sp;			/* saved context while not running */
	struct gfi_m *m;		/* M running it; NULL otherwise */
	_Atomic uint32_t status;	/* GFIBERS_G* | GSCAN */
	uint32_t waitreason;		/* while waiting */
	int64_t id;			/* unique, never reused; 0: dead */
	int64_t parent_id;		/* creator, 0: none */
	uintptr_t create_pc;		/* gf_go call site */
	void (*fn)(void *);		/* entry */
	void *arg;
	struct gf_fiber *schedlink;	/* run queue / free list link */

	/* Stack: usable [stack_lo, stack_hi); [map_lo, stack_lo) guard/pad */
	char *stack_lo, *stack_hi, *map_lo;
	uint8_t stack_guarded;		/* map_lo..stack_lo is PROT_NONE */
	uint8_t stack_arena;		/* carved from an arena (never unmapped) */
	uint8_t is_main;		/* the fiber gf_main runs */
	uint8_t timedout;		/* park ended by its deadline */
	uint8_t fresh;			/* created, not parked/yielded yet */
	uint8_t stack_warm;		/* the stack's top has been touched */

	/* Wait state, written by the parking G, read by dumps. */
	uintptr_t waitpc;		/* user's call site of the blocking API */
	int64_t waitsince;		/* CLOCK_MONOTONIC_COARSE ns */
	void *waitobj;			/* object waited on */
	_Atomic uint32_t selectdone;	/* the winner of a select/deadline */
	uint32_t gfree_batchn;		/* dead, first of a batch: its size */
	union {
		void *param;		/* sudog that woke a select, or NULL */
		struct gf_fiber *gfree_batch;	/* dead: next batch (fiber.c) */
	};

	struct gfibers_slot *slot;	/* registry slot, NULL: unregistered */
	uint32_t allg_idx;		/* index in allgs, = slot number */
	char name[32];
	struct gfi_labels *labels;	/* NULL: none */

	void *asan_fake;		/* ASan fake stack while switched out */
	void *tsan_fiber;		/* TSan's fiber of this G */
};
typedef struct gf_fiber gfi_g;

/* ---------------------------------------------------------- M, P */

enum gfi_pstatus { P_IDLE, P_RUNNING, P_SYSCALL };

/* What the context resumed after a switch must do for the one before. */
enum gfi_prev_action {
	PA_NONE,
	PA_PARK,	/* status waiting, then unlockf(prev, lock) */
	PA_YIELD,	/* prev on the local run queue's tail */
	PA_EXIT,	/* prev dead: recycle it */
	PA_GLOBRUNQ,	/* prev (leaving a syscall without P) on the global queue */
};

#define RUNQ_SIZE 256

/* struct gfi_p - a processor: the right to run fibers, and their queues. */
struct gfi_p {
	int id;
	_Atomic int status;		/* enum gfi_pstatus */
	struct gfi_m *m;		/* M holding it, NULL when idle/syscall */
	struct gfi_p *link;		/* idle list */
	uint32_t schedtick;		/* switches mod 61, for the g0 trip */
	_Atomic uint32_t syscalltick;	/* syscalls entered, for sysmon */
	uint32_t sysmontick;		/* sysmon's last view of syscalltick */
	int64_t sysmonwhen;

	/* Go's runq: owner puts at tail, anyone takes at head (CAS). */
	_Atomic uint32_t runqhead;
	_Atomic uint32_t runqtail;
	gfi_g *_Atomic runq[RUNQ_SIZE];
	gfi_g *_Atomic runnext;		/* the G readied last, runs next */

	/*
	 * Dead Gs with stacks, owner only (fiber.c): gfree those whose
	 * stack is warm (touched: it costs no fault to run on), gfreecold
	 * the others, which gf_go takes first.
	 */
	gfi_g *gfree;
	int ngfree;
	gfi_g *gfreecold;
	int ngfreecold;

	/*
	 * Timers: a 4-ary min-heap on when in an array (Go's ts.heap),
	 * under timerlock (timer.c). The array grows by doubling, so a
	 * sleep allocates nothing but once in a while; should growth fail,
	 * the timer waits on timerovf instead (unsorted, linked through
	 * the timers): no deadline or sleep fails for want of memory.
	 */
	int timerlock;
	struct gfi_timerwhen *timers;	/* heap[0..ntimers), top first */
	uint32_t ntimers, timerscap;
	struct gfi_timer *timerovf;	/* queued beyond the array */
	_Atomic int64_t timer0when;	/* earliest when, 0: none */

	uint64_t rand;			/* steal order, select order */
} __attribute__((aligned(64)));

/* Stack tops populated in one call at most (gfi_stack_populate). */
#define GFI_POPULATE_MAX 64

/* gfi_gprepare's scratch for gfi_stack_populate, off the stack it runs
 * on (a fiber's, maybe small and nearly full). */
struct gfi_populate {
	gfi_g *gs[GFI_POPULATE_MAX];
	struct iovec iov[GFI_POPULATE_MAX];
};

/* struct gfi_m - a thread running fibers. */
struct gfi_m {
	void *g0_sp;			/* the scheduler context while away */
	gfi_g *curg;			/* G running, NULL on g0 */
	struct gfi_p *p;		/* P held */
	struct gfi_p *nextp;		/* P handed over by startm */
	struct gfi_p *oldp;		/* P before a syscall */
	struct gfi_m *schedlink;	/* idle list */
	int64_t id;
	pid_t tid;
	bool spinning;			/* looking for work, counted */
	bool is_m0;			/* the thread in gf_main */
	_Atomic uint32_t note;		/* futex: 1 = woken */

	/* The post-switch work (see the top of this file). */
	int prev_action;
	gfi_g *prevg;
	gf_unlock_fn unlockf;
	void *waitlock;

	uint64_t rand;
	pthread_t thread;
	void *altstack;
	int *errnop;			/* this thread's errno (gfi_switch) */

	void *g0_asan_fake;
	const void *g0_stack_lo;
	size_t g0_stack_size;
	void *g0_tsan_fiber;

	struct gfi_populate populate;
};

/* ---------------------------------------------------------- scheduler */

/*
 * The scheduler's globals, grouped by who writes them: each group that
 * threads write on their hot paths has a cache line of its own, and the
 * read-mostly fields come first, apart from all of them. Before, a
 * spawn's counters, the spinning count that every ready reads and the
 * Ps' array shared lines with fields other threads wrote, and the
 * spawning and the exiting thread pulled those lines back and forth
 * (perf of a million spawns: 60 % of gfi_go's samples on two atomics).
 */
#define GFI_LINE __attribute__((aligned(64)))

struct gfi_sched {
	/* Set at start, read everywhere. */
	int nprocs;
	struct gfi_p *allp;
	struct gfi_m *m0;
	size_t stack_size;		/* default */
	bool traceback_all;

	/* Under lock: the global run queue, idle Ps and Ms. */
	pthread_mutex_t lock GFI_LINE;
	gfi_g *runqhead, *runqtail;	/* global run queue */
	_Atomic int runqsize;
	struct gfi_p *pidle;		/* idle Ps */
	struct gfi_m *midle;		/* idle Ms */
	int nmidle;
	int mcount;			/* Ms created (sysmon excluded) */

	/* Read by every wakep (each ready, each spawn), written when a P
	 * goes idle or an M starts or stops spinning. */
	_Atomic int npidle GFI_LINE;	/* written under lock */
	_Atomic int nmspinning;

	/*
	 * The global free Gs (fiber.c), under a lock of their own (a
	 * gfi_lock): spawning and exiting fibers take it, and with the run
	 * queue's lock they contended for one pthread mutex, whose waits
	 * slept in futex (81,000 calls for a million spawned fibers).
	 */
	int gfreelock GFI_LINE;
	gfi_g *gfree;			/* warm stacks */
	gfi_g *gfreecold;		/* cold stacks */
	_Atomic int ngfree;		/* both; read without the lock */
	_Atomic int ngfreewarm;		/* warm: bounded (fiber.c) */
	gfi_g *gfree_nostack;		/* free Gs whose own-size stack went */

	/* Written by every spawn, together: one line to pull, not three. */
	_Atomic int64_t goidgen GFI_LINE;
	_Atomic int64_t ngoroutines;	/* alive */
	_Atomic long nfresh;		/* created, not settled (fiber.c) */

	_Atomic int nmsys GFI_LINE;	/* Gs in a wrapped syscall */
	_Atomic int nownthreads;	/* threads the runtime started */
	int nthreads_base;		/* threads before it started (sched.c) */
	_Atomic int main_running;	/* inside gf_main: deadlock checks on */
	_Atomic int main_done;		/* main fiber returned, M0 to leave */
	int main_ret;
	_Atomic int64_t mgen;

	pthread_mutex_t allglock GFI_LINE;	/* allgs growth */
	gfi_g **_Atomic allgs;
	_Atomic uint32_t nallgs;
	uint32_t capallgs;

	_Atomic int64_t lastpoll GFI_LINE;	/* 0: an M is blocked in netpoll */
	_Atomic int64_t pollUntil;	/* when that M wakes up */
	_Atomic int npollwait;		/* fibers in gf_wait_fd */
};

GF_HIDDEN extern struct gfi_sched gfi_sched;

/*
 * No interprocedural assumptions about a function (gcc's noipa): a caller
 * must never reuse one call's result for another across a switch, since
 * the fiber may run on another thread by then. clang has no noipa:
 * noinline, and GF_NOIPA_BODY() in the body, an empty asm that clobbers
 * memory, so that clang never infers the function readonly.
 */
#ifdef __clang__
#define GF_NOIPA __attribute__((noinline))
#define GF_NOIPA_BODY() __asm__ volatile("" ::: "memory")
#else
#define GF_NOIPA __attribute__((noipa))
#define GF_NOIPA_BODY() do { } while (0)
#endif

/*
 * The library's thread-locals, in the initial-exec model: one %fs-based
 * load, where the shared library's default (dynamic) model calls
 * __tls_get_addr on every access, and gfi_getm runs several times per
 * switch. The cost is ~40 bytes of the static TLS surplus glibc keeps
 * for libraries loaded by dlopen (docs/ulib.md).
 */
#define GFI_TLS_IE __attribute__((tls_model("initial-exec")))

/* The M of this thread. GF_NOIPA: fibers migrate, never cache it. */
GF_HIDDEN GF_NOIPA struct gfi_m *gfi_getm(void);
GF_HIDDEN void gfi_setm(struct gfi_m *m);

static inline gfi_g *gfi_getg(void)
{
	struct gfi_m *m = gfi_getm();

	return m ? m->curg : NULL;
}

/* ---------------------------------------------------------- time */

GF_HIDDEN int64_t gfi_nanotime(void);		/* CLOCK_MONOTONIC */
GF_HIDDEN int64_t gfi_coarsetime(void);		/* CLOCK_MONOTONIC_COARSE */
GF_HIDDEN uint64_t gfi_rand(uint64_t *state);	/* wyrand */
GF_HIDDEN uint64_t gfi_rand_plain(void);	/* a state, for a plain thread */

/* ---------------------------------------------------------- sudog */

/*
 * struct gfi_sudog - a G waiting on an object (Go's sudog), on the
 * waiting G's stack. A G in a select or a deadline wait has several
 * wakers racing; is_select makes each waker CAS g->selectdone first, the
 * loser skips the sudog (Go's dequeue).
 */
struct gfi_sudog {
	gfi_g *g;
	struct gfi_sudog *next, *prev;
	void *elem;			/* value to send / receive buffer */
	struct gf_chan *c;		/* channel, for select */
	struct gfi_selstate *sel;	/* a select without deadline: judged
					 * for leaks (select.c) */
	bool is_select;
	bool success;			/* woken by a value, not a close */
	bool queued;			/* on a waitq */
	uint32_t ticket;
};

struct gfi_waitq {
	struct gfi_sudog *first, *last;
};

_Static_assert(sizeof(struct gfi_waitq) == sizeof(struct gf__waitq), "");

static inline void gfi_waitq_push(struct gfi_waitq *q, struct gfi_sudog *sg)
{
	sg->next = NULL;
	sg->prev = q->last;
	if (q->last)
		q->last->next = sg;
	else
		q->first = sg;
	q->last = sg;
	sg->queued = true;
}

static inline void gfi_waitq_remove(struct gfi_waitq *q, struct gfi_sudog *sg)
{
	if (!sg->queued)
		return;
	if (sg->prev)
		sg->prev->next = sg->next;
	else
		q->first = sg->next;
	if (sg->next)
		sg->next->prev = sg->prev;
	else
		q->last = sg->prev;
	sg->next = sg->prev = NULL;
	sg->queued = false;
}

/* Pop the first sudog whose G can still be woken (a select's or a
 * deadline's waker must win g->selectdone); sets g->param = sg. */
static inline struct gfi_sudog *gfi_waitq_dequeue(struct gfi_waitq *q)
{
	for (;;) {
		struct gfi_sudog *sg = q->first;
		uint32_t zero = 0;

		if (!sg)
			return NULL;
		gfi_waitq_remove(q, sg);
		if (sg->is_select &&
		    !atomic_compare_exchange_strong(&sg->g->selectdone, &zero,
						    1))
			continue;	/* its select was won elsewhere */
		sg->g->param = sg;
		return sg;
	}
}

/* ---------------------------------------------------------- timers */

enum { TIMER_IDLE, TIMER_ARMED, TIMER_FIRING };

/*
 * struct gfi_timer - a timer. f runs on a scheduler context (g0 of
 * some M), outside the heap's lock; it must not block.
 */
struct gfi_timer;

/* A heap slot: the when beside the timer, so that a sift reads only
 * the array (Go's timerWhen). */
struct gfi_timerwhen {
	int64_t when;
	struct gfi_timer *t;
};

#define GFI_TIMER_OVF UINT32_MAX	/* heapidx: on p->timerovf */

struct gfi_timer {
	int64_t when;
	int64_t period;			/* > 0: re-armed after firing */
	void (*f)(void *arg, int64_t now);
	void *arg;
	void (*done)(struct gfi_timer *t);	/* after f, instead of state-- */
	struct gfi_p *_Atomic p;	/* heap holding it */
	/* Its place in p's heap while queued (timer.c): an index into
	 * p->timers, or GFI_TIMER_OVF and ovnext on p->timerovf. */
	uint32_t heapidx;
	struct gfi_timer *ovnext;
	bool queued;
	_Atomic int state;
};

GF_HIDDEN void gfi_timer_start(struct gfi_timer *t, int64_t when);
/* Remove; waits for a running f to end. true if it was armed. */
GF_HIDDEN bool gfi_timer_stop(struct gfi_timer *t);
/* Run p's expired timers; returns the next when (0: none). */
GF_HIDDEN int64_t gfi_timers_run(struct gfi_p *p, int64_t now);
/* now + ns, saturated at INT64_MAX ("never"). */
GF_HIDDEN int64_t gfi_when_after(int64_t ns);
/* Tests only: true makes every growth of a timer heap fail. */
GF_HIDDEN extern _Atomic bool gfi_timer_nogrow;

/* ---------------------------------------------------------- fibers */

/* gf_park with the wait site and object given (built-in callers). */
GF_HIDDEN void gfi_park(gf_unlock_fn unlockf, void *lock, uint32_t reason,
			uintptr_t pc, void *obj);
/*
 * The deadlines of the internal calls are gf_deadline_t's ns (gfiber.h):
 * GFI_FOREVER is GF_FOREVER's, GFI_NOWAIT GF_NOWAIT's.
 */
#define GFI_FOREVER	((int64_t)-1)
#define GFI_NOWAIT	((int64_t)0)

/*
 * Park with a deadline: g->selectdone must have been set to 0 before the
 * G became visible to wakers; returns true if woken, false on deadline
 * (g->timedout). deadline > 0 arms a timer inside the park, before
 * unlockf runs.
 */
GF_HIDDEN bool gfi_park_deadline(gf_unlock_fn unlockf, void *lock,
				 uint32_t reason, uintptr_t pc, void *obj,
				 int64_t deadline);
GF_HIDDEN void gfi_ready(gfi_g *gp, bool next);
GF_HIDDEN void gfi_casgstatus_slow(gfi_g *gp, uint32_t old, uint32_t new_);
GF_HIDDEN void gfi_registry_write_slot(gfi_g *gp, uint32_t status);

/*
 * The slot's seqcount, writer side (include/uapi/gfibers.h): odd while
 * the slot is being written. One writer per slot (registry.c), so plain
 * loads and stores; on x86-64 (TSO) the release fence is only a
 * compiler barrier. TSan rejects fences: its reader, the kernel, is not
 * instrumented anyway.
 */
static inline uint32_t gfi_seq_begin(uint32_t *seq)
{
	uint32_t s = *seq;

	__atomic_store_n(seq, s + 1, __ATOMIC_RELAXED);
#ifdef GF_TSAN
	__asm__ volatile("" ::: "memory");
#else
	__atomic_thread_fence(__ATOMIC_RELEASE);
#endif
	return s;
}

static inline void gfi_seq_end(uint32_t *seq, uint32_t s)
{
	__atomic_store_n(seq, s + 2, __ATOMIC_RELEASE);
}

/*
 * A status change's slot write. The hot ones (run, yield, ready: three
 * of the four changes of a park/ready round trip) are inline and store
 * only what can differ, keeping this invariant: outside WAITING, LEAKED
 * and SYSCALL the slot's wait fields are zero (the ABI's "0: not
 * waiting", which /proc/gfibers renders). RUNNABLE clears them (after a
 * wait they are set; the stores hit the line the status dirties
 * anyway); RUNNING then only needs its tid and, after a syscall, the
 * reason back to none. The rest (park, syscall, leaked, dead) go out of
 * line, to gfi_registry_write_slot().
 */
static inline void gfi_registry_write(gfi_g *gp, uint32_t status)
{
	struct gfibers_slot *sl = gp->slot;
	uint32_t s;

	if (!sl)
		return;
	if (status == GFIBERS_GRUNNABLE) {
		s = gfi_seq_begin(&sl->seq);
		sl->status = status;
		sl->wait_reason = GFIBERS_WAIT_NONE;
		sl->wait_obj = 0;
		sl->wait_pc = 0;
		sl->wait_since_ns = 0;
		gfi_seq_end(&sl->seq, s);
	} else if (status == GFIBERS_GRUNNING) {
		s = gfi_seq_begin(&sl->seq);
		sl->status = status;
		sl->wait_reason = GFIBERS_WAIT_NONE;
		if (gp->m)
			sl->tid = (uint32_t)gp->m->tid;
		gfi_seq_end(&sl->seq, s);
	} else {
		gfi_registry_write_slot(gp, status);
	}
}

/*
 * The one status change (Go's casgstatus), which also writes the slot.
 * From RUNNING/RUNNABLE/SYSCALL/IDLE/DEAD the caller owns the G: plain
 * stores. From WAITING/LEAKED wakers, the leak marker and dumps race:
 * a CAS through GSCAN, out of line.
 */
static inline void gfi_casgstatus(gfi_g *gp, uint32_t old, uint32_t new_)
{
	gfi_chaos(GFI_CHAOS_STATUS);
	if (old == GFIBERS_GWAITING || old == GFIBERS_GLEAKED) {
		gfi_casgstatus_slow(gp, old, new_);
		return;
	}
	if (__builtin_expect((atomic_load_explicit(&gp->status,
			memory_order_relaxed) & ~GSCAN) != old, 0))
		gfi_fatal("bad fiber status change");
	gfi_registry_write(gp, new_);
	atomic_store_explicit(&gp->status, new_, memory_order_release);
}
GF_HIDDEN void gfi_after_switch(struct gfi_m *m);
/*
 * A G gets its first frame when it first runs, not when it is created
 * (gp->sp NULL until then): it may then trade its stack, never touched,
 * for a warm one of p's dead Gs, so that fibers created faster than they
 * run fault in no page each (fiber.c). Called by whoever switches to a G.
 */
GF_HIDDEN void gfi_gprepare(struct gfi_p *p, gfi_g *gp);

static inline void gfi_gprepare_first(struct gfi_p *p, gfi_g *gp)
{
	if (__builtin_expect(!gp->sp, 0))
		gfi_gprepare(p, gp);
}
GF_HIDDEN void gfi_goexit(void) __attribute__((noreturn));
GF_HIDDEN int64_t gfi_go(void (*fn)(void *), void *arg, const gf_attr_t *attr,
			 uintptr_t pc, bool is_main);
GF_HIDDEN void gfi_fiber_main(void *transfer, void *arg);
GF_HIDDEN void gfi_main_trampoline(void *arg);
/*
 * Fibers created and not yet settled (parked, yielded or exited once):
 * they may still take the references their creator handed them, so a
 * leak judgment made while one exists would be premature (chan.c defers
 * it). gfi_settled_hook, once set, runs each time the count drops to
 * zero, on the context that resumed after the switch, no lock held.
 */
GF_HIDDEN extern void (*_Atomic gfi_settled_hook)(void);
/* Mark every G parked on obj (plain waits) leaked. */
GF_HIDDEN void gfi_mark_leaked(struct gfi_waitq *q);
/* Mark one parked G leaked (no-op unless it is waiting). */
GF_HIDDEN void gfi_mark_g_leaked(gfi_g *gp);
/*
 * Judge the select parked with state sel (select.c): leaked when each of
 * its channels is held only by fibers parked on it plainly and by this
 * select. held: the one channel the caller has locked (its other ones
 * are try-locked; on contention the judgment is skipped), or NULL when
 * the caller holds them all.
 */
GF_HIDDEN void gfi_select_judge(struct gfi_selstate *sel, struct gf_chan *held);

/* ---------------------------------------------------------- scheduler */

GF_HIDDEN int gfi_runtime_init(void);
GF_HIDDEN void gfi_schedule_from(struct gfi_m *m, gfi_g *gp);
GF_HIDDEN void gfi_runqput_slow(struct gfi_p *p, gfi_g *gp);

/*
 * Go's runqput at the tail, the owner's common case inline: room in the
 * ring, two loads and two stores. Out of line, the loop around a full
 * ring kept five registers across its call (a push and a pop each,
 * 28 instructions of a yield's 203).
 */
static inline void gfi_runqput_tail(struct gfi_p *p, gfi_g *gp)
{
	uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
	uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);

	if (__builtin_expect(t - h < RUNQ_SIZE, 1)) {
		atomic_store_explicit(&p->runq[t % RUNQ_SIZE], gp,
				      memory_order_relaxed);
		atomic_store_explicit(&p->runqtail, t + 1,
				      memory_order_release);
		return;
	}
	gfi_runqput_slow(p, gp);
}

/*
 * Put gp on p's local queue (p's owner only): at the tail, or with next
 * in runnext, where it runs at p's next switch (the fiber a park or a
 * ready hands over to), the one it displaces going to the tail. The
 * runnext exchange is inline: it is every ready's whole cost here.
 */
static inline void gfi_runqput(struct gfi_p *p, gfi_g *gp, bool next)
{
	if (next) {
		gp = atomic_exchange(&p->runnext, gp);
		if (!gp)
			return;
	}
	gfi_runqput_tail(p, gp);
}
GF_HIDDEN void gfi_globrunqput(gfi_g *gp);
GF_HIDDEN void gfi_wakep_slow(void);

/* Go's wakep, its cheap part inline: nothing to do while every P is
 * busy or some M already spins (the common case on the hot path). */
static inline void gfi_wakep(void)
{
	if (atomic_load_explicit(&gfi_sched.npidle, memory_order_relaxed) &&
	    !atomic_load_explicit(&gfi_sched.nmspinning,
				  memory_order_relaxed))
		gfi_wakep_slow();
}
GF_HIDDEN void gfi_wake_netpoller(int64_t when);
GF_HIDDEN void gfi_m_loop(struct gfi_m *m);
GF_HIDDEN void gfi_handoffp(struct gfi_p *p);
GF_HIDDEN struct gfi_p *gfi_pidleget(void);
GF_HIDDEN void gfi_acquirep(struct gfi_m *m, struct gfi_p *p);
/* Called first by each thread the runtime starts (not by M0). */
GF_HIDDEN void gfi_thread_own(void);
GF_HIDDEN void gfi_sysmon_wake(void);


/* ---------------------------------------------------------- stacks */

/* Give gp a stack of size bytes (0: default); 0 or -1 with errno. */
GF_HIDDEN int gfi_stack_alloc(gfi_g *gp, size_t size);
GF_HIDDEN void gfi_stack_free(gfi_g *gp);
/* Return the pages of at least want of the warm stacks of a list
 * (schedlink) of dead Gs to the kernel, longest runs of neighbours
 * first; returns the list, sorted by address. */
GF_HIDDEN gfi_g *gfi_stack_release(gfi_g *list, long want);
/*
 * Populate the top pages of the stacks of b->gs[0 .. n) (arena stacks,
 * the caller's to run or hand out) and of up to ahead slots of the
 * arena not yet handed out, in one call where the kernel takes it so;
 * marks warm those of b->gs it populated and returns their count.
 */
GF_HIDDEN int gfi_stack_populate(struct gfi_populate *b, int n, int ahead);
/* Fatal error: gp's stack overflowed (how: what showed it). */
GF_HIDDEN __attribute__((noreturn, cold)) void
gfi_stack_overflow(gfi_g *gp, const char *how);
/* At exit: the pad page below an unguarded stack must still be zero. */
GF_HIDDEN void gfi_stack_check_pad(gfi_g *gp);

/* At every switch-out: one compare of the stack pointer. */
static inline void gfi_stack_check(gfi_g *gp, const void *sp)
{
	if (__builtin_expect((const char *)sp < gp->stack_lo + 256, 0))
		gfi_stack_overflow(gp, "stack pointer below the stack");
}
GF_HIDDEN void gfi_stack_init(void);
GF_HIDDEN void gfi_signals_init_thread(struct gfi_m *m);

/* ---------------------------------------------------------- netpoll */

/* Wait up to delay ns (< 0 forever, 0 poll); ready Gs are put on p or
 * the global queue; returns how many were readied. */
GF_HIDDEN int gfi_netpoll(int64_t delay, struct gfi_p *p);
GF_HIDDEN void gfi_netpoll_break(void);

/* ---------------------------------------------------------- registry */

GF_HIDDEN int gfi_registry_init(void);
/* The setup error for a module of another ABI version (version.c). */
GF_HIDDEN const char *gfi_abi_mismatch(void);
/* Slot for allg index i (grows the table); NULL: none. */
GF_HIDDEN struct gfibers_slot *gfi_registry_slot(uint32_t i);
GF_HIDDEN void gfi_registry_claim(gfi_g *gp);
GF_HIDDEN void gfi_registry_release(gfi_g *gp);
GF_HIDDEN const char *gfi_reason_name(uint32_t reason, char *buf, size_t n);

/* ---------------------------------------------------------- dump */

/* Write every live fiber but the ignored ids (and the caller when
 * only_others) to fd; returns how many were written. */
GF_HIDDEN int gfi_dump(int fd, const int64_t *ignore, size_t nignore,
		       bool only_others);
GF_HIDDEN void gfi_dump_init(void);
GF_HIDDEN const char *gfi_status_name(uint32_t status);
/*
 * Async-signal-safe formatted write of a whole line (up to 1 KiB) to
 * fd, no stdio (%s %c %d %u %x %ld %lu %lx %p %% only); 0, or -1 with
 * errno from write(2).
 */
GF_HIDDEN int gfi_printf(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------- switch */

#ifdef GF_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef GF_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/*
 * Switch from the running context (fiber `from`, or g0 when NULL) to
 * `to` (g0 when NULL) on m; returns, once resumed, the M we run on now.
 * Sanitizers are told (ASan: stack bounds and fake stacks; TSan: the
 * fiber), errno travels with the context. Inline: it is the hot path.
 */
static inline __attribute__((always_inline)) struct gfi_m *
gfi_switch(struct gfi_m *m, gfi_g *from, gfi_g *to, bool from_dead)
{
	void **save = from ? &from->sp : &m->g0_sp;
	void *to_sp = to ? to->sp : m->g0_sp;
	/*
	 * errno travels with the context: read on this thread, written on
	 * the one that resumes us, through each M's pointer to its
	 * thread's errno (two loads, where two calls of the errno
	 * function cost ten times as many instructions).
	 */
	int saved_errno = *m->errnop;

	if (from && !from_dead)
		gfi_stack_check(from, __builtin_frame_address(0));
#ifdef GF_ASAN
	{
		const void *lo = to ? (const void *)to->stack_lo : m->g0_stack_lo;
		size_t sz = to ? (size_t)(to->stack_hi - to->stack_lo)
			       : m->g0_stack_size;

		__sanitizer_start_switch_fiber(
			from_dead ? NULL
				  : (from ? &from->asan_fake : &m->g0_asan_fake),
			lo, sz);
	}
#endif
#ifdef GF_TSAN
	__tsan_switch_to_fiber(to ? to->tsan_fiber : m->g0_tsan_fiber, 0);
#endif
	m = gf_ctx_switch(save, to_sp, m);
#ifdef GF_ASAN
	__sanitizer_finish_switch_fiber(from ? from->asan_fake
					     : m->g0_asan_fake, NULL, NULL);
#endif
	*m->errnop = saved_errno;
	return m;
}

#endif /* GF_RUNTIME_H */
