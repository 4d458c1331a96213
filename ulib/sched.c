// SPDX-License-Identifier: MIT
/*
 * sched.c - the M:N scheduler: Ps, Ms, run queues, work stealing, idle
 * threads, deadlock detection, gf_main. A port of Go's runtime/proc.go,
 * reduced to what a cooperative runtime needs.
 *
 * Invariants (Go's):
 *  - A G is on at most one run queue; only its P's owner puts on a local
 *    queue (at the tail, or in runnext), anyone takes from the head (CAS).
 *  - An M runs Gs only while it holds a P. Idle Ps are on sched.pidle,
 *    idle Ms sleep on their futex note on sched.midle.
 *  - Spinning Ms (looking for work to steal, counted in nmspinning) are
 *    few: at most half the busy Ps. Readying a G wakes an idle M only
 *    when no M spins (wakep): a futex wake-up costs ~70 us of latency
 *    here against ~80 ns for a spinning M to notice, so the policy is
 *    "someone is always looking while work appears; nobody spins long".
 *    A spinning M that finds work and stops spinning wakes the next one
 *    (resetspinning), so work is never stranded.
 *  - An M going idle drops its spinning status and then re-checks every
 *    run queue (the other side of wakep's "someone spins" assumption).
 *  - Every G switched to is RUNNING with m->curg == G and G->m == m.
 *
 * Rejected: one global locked queue (contention at 2+ threads), waking an
 * M on every ready (futex per message), busy-polling idle threads
 * (burns CPUs the application may need).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

#ifdef GF_TSAN
#include <sanitizer/tsan_interface.h>
#endif

struct gfi_sched gfi_sched = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.allglock = PTHREAD_MUTEX_INITIALIZER,
	.lastpoll = 1,
};

static __thread struct gfi_m *tls_m GFI_TLS_IE;

GF_API GF_NOIPA int *gf_errno_location(void)
{
	GF_NOIPA_BODY();
	return __errno_location();
}

GF_NOIPA struct gfi_m *gfi_getm(void)
{
	GF_NOIPA_BODY();
	return tls_m;
}

void gfi_setm(struct gfi_m *m)
{
	tls_m = m;
}

/* ---------------------------------------------------------- time, rand */

int64_t gfi_nanotime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t gfi_coarsetime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The process's random seed, of which every P's and M's generator is
 * derived (steal order, select's choice): new at each run, as Go's
 * fastrand, so that a program never depends on one order by accident;
 * GF_RAND_SEED=n fixes it, to replay a run.
 */
static uint64_t rand_seed;

static void rand_init(void)
{
	const char *s = getenv("GF_RAND_SEED");

	if (s && *s) {
		rand_seed = strtoull(s, NULL, 0);
		return;
	}
	if (getrandom(&rand_seed, sizeof(rand_seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(rand_seed))
		rand_seed = (uint64_t)gfi_nanotime() ^
			    ((uint64_t)getpid() << 32);
}

/* The generator state of the n-th P or M (apart: one multiply each). */
static uint64_t rand_state(uint64_t kind, uint64_t n)
{
	uint64_t st = rand_seed ^ (kind << 56) ^ (n * 0x9e3779b97f4a7c15ULL);

	gfi_rand(&st);
	return st;
}

/* A state for a caller without an M (a plain thread's select): from the
 * run's seed too, a new one per call. */
uint64_t gfi_rand_plain(void)
{
	static _Atomic uint64_t n;

	return rand_state(3, atomic_fetch_add(&n, 1));
}

uint64_t gfi_rand(uint64_t *s)
{
	/* wyrand: one multiply, good enough for shuffles. */
	__uint128_t t;

	*s += 0xa0761d6478bd642fULL;
	t = (__uint128_t)*s * (*s ^ 0xe7037ed1a0b428dbULL);
	return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

/* ---------------------------------------------------------- notes */

#ifdef GF_TSAN
/*
 * TSan runs a signal handler that interrupts a call it does not intercept
 * (the raw futex below) only at the thread's next intercepted call; with
 * SA_RESTART the futex does not even return. A SIGQUIT that the kernel
 * gave to an M asleep here waited for the M's next wake-up, for good
 * where nothing woke it (chaos-tsan's sigquit_dumps hung one run in
 * three). So under TSan an M sleeps at most TSAN_NOTE_SLICE at a time
 * and makes an intercepted call (which runs pending handlers on its way
 * out) between two; a TSan build's idle Ms wake 20 times a second.
 */
#define TSAN_NOTE_SLICE	50000000	/* ns */

static void tsan_pending_signals(void)
{
	sigset_t cur;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
}
#endif

/* notesleep for at most ns; false if the time ran out first. */
static bool notesleep_for(struct gfi_m *m, int64_t ns)
{
	int64_t end = gfi_nanotime() + ns, left;

	while (!atomic_load_explicit(&m->note, memory_order_acquire)) {
		struct timespec ts;

		left = end - gfi_nanotime();
		if (left <= 0)
			return false;
#ifdef GF_TSAN
		if (left > TSAN_NOTE_SLICE)
			left = TSAN_NOTE_SLICE;
#endif
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		syscall(SYS_futex, &m->note, FUTEX_WAIT_PRIVATE, 0, &ts,
			NULL, 0);
#ifdef GF_TSAN
		tsan_pending_signals();
#endif
	}
	atomic_store_explicit(&m->note, 0, memory_order_relaxed);
	return true;
}

/* One-shot futex event per M: sleep until woken, then cleared. */
static void notesleep(struct gfi_m *m)
{
#ifdef GF_TSAN
	/* in slices, TSan's pending handlers run between two (above) */
	while (!notesleep_for(m, TSAN_NOTE_SLICE))
		;
#else
	while (!atomic_load_explicit(&m->note, memory_order_acquire))
		syscall(SYS_futex, &m->note, FUTEX_WAIT_PRIVATE, 0, NULL,
			NULL, 0);
	atomic_store_explicit(&m->note, 0, memory_order_relaxed);
#endif
}

static void notewakeup(struct gfi_m *m)
{
	atomic_store_explicit(&m->note, 1, memory_order_release);
	syscall(SYS_futex, &m->note, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---------------------------------------------------------- run queues */

static bool runqempty(struct gfi_p *p)
{
	for (;;) {
		uint32_t h = atomic_load(&p->runqhead);
		uint32_t t = atomic_load(&p->runqtail);
		gfi_g *n = atomic_load(&p->runnext);

		if (t == atomic_load(&p->runqtail))
			return h == t && !n;
	}
}

/* Put half of p's queue plus gp on the global queue (queue full). */
static bool runqputslow(struct gfi_p *p, gfi_g *gp, uint32_t h, uint32_t t)
{
	gfi_g *batch[RUNQ_SIZE / 2 + 1];
	uint32_t n = (t - h) / 2, i;

	gfi_assert(n == RUNQ_SIZE / 2);
	for (i = 0; i < n; i++)
		batch[i] = atomic_load_explicit(&p->runq[(h + i) % RUNQ_SIZE],
						memory_order_relaxed);
	if (!atomic_compare_exchange_strong_explicit(&p->runqhead, &h, h + n,
			memory_order_release, memory_order_relaxed))
		return false;
	batch[n] = gp;
	for (i = 0; i < n; i++)
		batch[i]->schedlink = batch[i + 1];
	gp->schedlink = NULL;
	pthread_mutex_lock(&gfi_sched.lock);
	if (gfi_sched.runqtail)
		gfi_sched.runqtail->schedlink = batch[0];
	else
		gfi_sched.runqhead = batch[0];
	gfi_sched.runqtail = gp;
	atomic_fetch_add(&gfi_sched.runqsize, n + 1);
	pthread_mutex_unlock(&gfi_sched.lock);
	return true;
}

/* The ring was full (runtime.h's gfi_runqput_tail): half of it to the
 * global queue, or, should a thief have made room meanwhile, the ring. */
void gfi_runqput_slow(struct gfi_p *p, gfi_g *gp)
{
	uint32_t h, t;

	for (;;) {
		h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
		t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
		if (t - h < RUNQ_SIZE) {
			atomic_store_explicit(&p->runq[t % RUNQ_SIZE], gp,
					      memory_order_relaxed);
			atomic_store_explicit(&p->runqtail, t + 1,
					      memory_order_release);
			return;
		}
		if (runqputslow(p, gp, h, t))
			return;
	}
}

/*
 * Not forced inline: its CAS takes the address of h, which under ASan
 * is a poisoned redzone in the caller's frame, and gfi_schedule_from's
 * frame on an exiting fiber's stack is never popped (the fiber switches
 * away for good inside it): the next fiber on that stack would trip on
 * the poison. (Forced, it saved 7 of a yield's 184 instructions.)
 */
static gfi_g *runqget(struct gfi_p *p)
{
	gfi_g *next = atomic_load_explicit(&p->runnext, memory_order_relaxed);
	uint32_t h, t;

	if (next && atomic_compare_exchange_strong(&p->runnext, &next, NULL))
		return next;
	for (;;) {
		gfi_g *gp;

		h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
		t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
		if (t == h)
			return NULL;
		gp = atomic_load_explicit(&p->runq[h % RUNQ_SIZE],
					  memory_order_relaxed);
		if (atomic_compare_exchange_strong_explicit(&p->runqhead, &h,
				h + 1, memory_order_release,
				memory_order_relaxed))
			return gp;
	}
}

/*
 * Grab half of p's queue into batch[batchhead...] (Go's runqgrab). With
 * steal_next, take runnext too when the queue is empty, after giving p's
 * owner a moment to run it itself.
 */
static uint32_t runqgrab(struct gfi_p *p, gfi_g *_Atomic *batch,
			 uint32_t batchhead, bool steal_next)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&p->runqhead,
						  memory_order_acquire);
		uint32_t t = atomic_load_explicit(&p->runqtail,
						  memory_order_acquire);
		uint32_t n = t - h, i;

		n = n - n / 2;
		if (n == 0) {
			gfi_g *next;

			if (!steal_next)
				return 0;
			next = atomic_load(&p->runnext);
			if (!next)
				return 0;
			if (atomic_load(&p->status) == P_RUNNING)
				usleep(3);
			if (!atomic_compare_exchange_strong(&p->runnext, &next,
							    NULL))
				continue;
			atomic_store_explicit(&batch[batchhead % RUNQ_SIZE],
					      next, memory_order_relaxed);
			return 1;
		}
		if (n > RUNQ_SIZE / 2)
			continue;	/* read inconsistent h and t */
		for (i = 0; i < n; i++) {
			gfi_g *g = atomic_load_explicit(
				&p->runq[(h + i) % RUNQ_SIZE],
				memory_order_relaxed);
			atomic_store_explicit(
				&batch[(batchhead + i) % RUNQ_SIZE], g,
				memory_order_relaxed);
		}
		if (atomic_compare_exchange_strong_explicit(&p->runqhead, &h,
				h + n, memory_order_release,
				memory_order_relaxed))
			return n;
	}
}

static gfi_g *runqsteal(struct gfi_p *p, struct gfi_p *p2, bool steal_next)
{
	uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
	uint32_t n = runqgrab(p2, p->runq, t, steal_next);
	gfi_g *gp;

	if (n == 0)
		return NULL;
	n--;
	gp = atomic_load_explicit(&p->runq[(t + n) % RUNQ_SIZE],
				  memory_order_relaxed);
	if (n == 0)
		return gp;
	atomic_store_explicit(&p->runqtail, t + n, memory_order_release);
	return gp;
}

void gfi_globrunqput(gfi_g *gp)
{
	gfi_chaos(GFI_CHAOS_RUNQ);
	pthread_mutex_lock(&gfi_sched.lock);
	gp->schedlink = NULL;
	if (gfi_sched.runqtail)
		gfi_sched.runqtail->schedlink = gp;
	else
		gfi_sched.runqhead = gp;
	gfi_sched.runqtail = gp;
	atomic_fetch_add(&gfi_sched.runqsize, 1);
	pthread_mutex_unlock(&gfi_sched.lock);
}

/* Take a batch from the global queue (sched.lock held); one returned,
 * the rest on p's queue. */
static gfi_g *globrunqget_locked(struct gfi_p *p, int max)
{
	int sz = atomic_load(&gfi_sched.runqsize);
	int n, i;
	gfi_g *gp;

	if (sz == 0)
		return NULL;
	n = sz / gfi_sched.nprocs + 1;
	if (n > sz)
		n = sz;
	if (max > 0 && n > max)
		n = max;
	if (n > RUNQ_SIZE / 2)
		n = RUNQ_SIZE / 2;
	atomic_fetch_sub(&gfi_sched.runqsize, n);
	gp = gfi_sched.runqhead;
	gfi_sched.runqhead = gp->schedlink;
	for (i = 1; i < n; i++) {
		gfi_g *g2 = gfi_sched.runqhead;

		gfi_sched.runqhead = g2->schedlink;
		gfi_runqput(p, g2, false);
	}
	if (!gfi_sched.runqhead)
		gfi_sched.runqtail = NULL;
	return gp;
}

/* ---------------------------------------------------------- P and M lists */

static void pidleput_locked(struct gfi_p *p)
{
	gfi_assert(runqempty(p));
	atomic_store(&p->status, P_IDLE);
	p->m = NULL;
	p->link = gfi_sched.pidle;
	gfi_sched.pidle = p;
	atomic_fetch_add(&gfi_sched.npidle, 1);
}

static struct gfi_p *pidleget_locked(void)
{
	struct gfi_p *p = gfi_sched.pidle;

	if (p) {
		gfi_sched.pidle = p->link;
		atomic_fetch_sub(&gfi_sched.npidle, 1);
	}
	return p;
}

struct gfi_p *gfi_pidleget(void)
{
	struct gfi_p *p;

	pthread_mutex_lock(&gfi_sched.lock);
	p = pidleget_locked();
	pthread_mutex_unlock(&gfi_sched.lock);
	return p;
}

void gfi_acquirep(struct gfi_m *m, struct gfi_p *p)
{
	gfi_assert(!m->p && !p->m);
	m->p = p;
	p->m = m;
	atomic_store(&p->status, P_RUNNING);
}

static struct gfi_p *releasep(struct gfi_m *m)
{
	struct gfi_p *p = m->p;

	m->p = NULL;
	p->m = NULL;
	return p;
}

static void *mstart(void *arg);

/* Create an M that starts holding p. */
static void newm(struct gfi_p *p, bool spinning)
{
	struct gfi_m *m = calloc(1, sizeof(*m));
	pthread_attr_t attr;

	if (!m)
		gfi_fatal("out of memory creating a thread");
	m->id = atomic_fetch_add(&gfi_sched.mgen, 1) + 1;
	m->nextp = p;
	m->spinning = spinning;
	m->rand = rand_state(2, (uint64_t)m->id);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&m->thread, &attr, mstart, m))
		gfi_fatal("pthread_create failed: cannot start a thread");
	pthread_attr_destroy(&attr);
}

/* Start an M holding p (an idle P if NULL), spinning or not. */
static void startm(struct gfi_p *p, bool spinning)
{
	struct gfi_m *nm;

	pthread_mutex_lock(&gfi_sched.lock);
	if (!p) {
		p = pidleget_locked();
		if (!p) {
			pthread_mutex_unlock(&gfi_sched.lock);
			if (spinning)
				atomic_fetch_sub(&gfi_sched.nmspinning, 1);
			return;
		}
	}
	nm = gfi_sched.midle;
	if (!nm) {
		gfi_sched.mcount++;
		pthread_mutex_unlock(&gfi_sched.lock);
		newm(p, spinning);
		return;
	}
	gfi_sched.midle = nm->schedlink;
	gfi_sched.nmidle--;
	nm->spinning = spinning;
	nm->nextp = p;
	pthread_mutex_unlock(&gfi_sched.lock);
	notewakeup(nm);
}

/* Try to get one more M spinning, if there is an idle P and none spins. */
void gfi_wakep_slow(void)
{
	int zero = 0;

	if (atomic_load_explicit(&gfi_sched.npidle, memory_order_relaxed) == 0)
		return;
	if (atomic_load(&gfi_sched.nmspinning) != 0 ||
	    !atomic_compare_exchange_strong(&gfi_sched.nmspinning, &zero, 1))
		return;
	startm(NULL, true);
}

/* How often the last idle M re-runs checkdead while plain threads live. */
#define CHECKDEAD_RETRY_NS (200 * 1000000LL)

static bool checkdead_locked(void);

/* Park this M (no P) until startm hands it one. */
static void stopm(struct gfi_m *m)
{
	bool recheck;

	gfi_assert(!m->p && !m->spinning);
	pthread_mutex_lock(&gfi_sched.lock);
	/*
	 * main_done is set under sched.lock by gfi_main_exited, which then
	 * wakes M0 only if it finds it on midle: checked here, under the
	 * same lock, M0 can never go to sleep after that look.
	 */
	if (m->is_m0 && atomic_load(&gfi_sched.main_done)) {
		pthread_mutex_unlock(&gfi_sched.lock);
		return;
	}
	m->schedlink = gfi_sched.midle;
	gfi_sched.midle = m;
	gfi_sched.nmidle++;
	recheck = checkdead_locked();
	pthread_mutex_unlock(&gfi_sched.lock);
	/*
	 * Spared for a plain thread's sake: the last M looks again now and
	 * then, since that thread may end without calling in, and nothing
	 * else would run the check again.
	 */
	while (recheck && !notesleep_for(m, CHECKDEAD_RETRY_NS)) {
		pthread_mutex_lock(&gfi_sched.lock);
		recheck = checkdead_locked();
		pthread_mutex_unlock(&gfi_sched.lock);
	}
	if (!recheck)
		notesleep(m);
	if (m->nextp) {
		gfi_acquirep(m, m->nextp);
		m->nextp = NULL;
	}
}

/* Hand off p, whose M leaves (syscall, gf_main return): Go's handoffp. */
void gfi_handoffp(struct gfi_p *p)
{
	int zero = 0;
	int64_t when;

	if (!runqempty(p) || atomic_load(&gfi_sched.runqsize)) {
		startm(p, false);
		return;
	}
	if (atomic_load(&gfi_sched.nmspinning) +
	    atomic_load(&gfi_sched.npidle) == 0 &&
	    atomic_compare_exchange_strong(&gfi_sched.nmspinning, &zero, 1)) {
		startm(p, true);
		return;
	}
	pthread_mutex_lock(&gfi_sched.lock);
	if (atomic_load(&gfi_sched.runqsize)) {
		pthread_mutex_unlock(&gfi_sched.lock);
		startm(p, false);
		return;
	}
	when = atomic_load(&p->timer0when);
	pidleput_locked(p);
	pthread_mutex_unlock(&gfi_sched.lock);
	if (when)
		gfi_wake_netpoller(when);
}

/* ---------------------------------------------------------- deadlock */

/*
 * Plain threads. gfiber.h lets a thread that is not the runtime's call
 * the non-blocking API (gf_ready, close, GF_NOWAIT sends): such a thread
 * can wake a parked fiber when every M sleeps, as Go's cgo callers can
 * (and Go gives up deadlock detection in a c-shared library for that
 * reason). The runtime cannot know which thread will call in, or when,
 * so it counts them all: the process's threads (/proc/self/stat) less
 * those the runtime started (nownthreads, counted by each as it starts)
 * and those there were when it started (nthreads_base: the thread in
 * gf_main and whatever ran before, such as a sanitizer's). Any other
 * thread may be a waker, and checkdead stays silent while one lives.
 * A thread that starts before its own count is seen only errs on the
 * silent side.
 */
static __thread bool tls_own GFI_TLS_IE;		/* a thread the runtime started */

void gfi_thread_own(void)
{
	tls_own = true;
	atomic_fetch_add(&gfi_sched.nownthreads, 1);
}

/* The process's threads now (num_threads, field 20); -1: unknown. */
static int process_threads(void)
{
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), i;
	char buf[1024], *s;
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* comm may hold spaces and parentheses: count from the last ')' */
	s = strrchr(buf, ')');
	for (i = 0; s && i < 18; i++)
		s = strchr(s + 1, ' ');
	return s ? atoi(s + 1) : -1;
}

/* Whether a thread outside the runtime may call in (unknown: yes). */
static bool plain_threads(void)
{
	int e = errno, n = process_threads();

	errno = e;
	return n < 0 || n - gfi_sched.nthreads_base -
			atomic_load(&gfi_sched.nownthreads) > 0;
}

#ifdef GF_TSAN
static void *nop_thread(void *arg)
{
	return arg;
}

/*
 * TSan starts threads of its own at the first pthread_create: have them
 * started before nthreads_base is read, or they would count as plain
 * threads and keep deadlocks from being reported in TSan builds.
 */
static void tsan_own_threads(void)
{
	pthread_t t;

	if (!pthread_create(&t, NULL, nop_thread, NULL))
		pthread_join(t, NULL);
}
#endif

/* In a fork child: its one thread, the runtime's or not. */
static void threads_fork_child(void)
{
	atomic_store(&gfi_sched.nownthreads, tls_own ? 1 : 0);
	gfi_sched.nthreads_base = tls_own ? 0 : 1;
}

/*
 * Go's checkdead, with sched.lock held, each time an M goes idle: if no M
 * runs, nothing can ready a G but a timer, the netpoller or a plain
 * thread; with none of them and fibers alive, every fiber waits forever.
 * Returns true when only a plain thread alive spared the program: the
 * check is then worth making again (stopm).
 */
static bool checkdead_locked(void)
{
	int i;

	if (!atomic_load(&gfi_sched.main_running) ||
	    atomic_load(&gfi_sched.main_done))
		return false;
	if (gfi_sched.mcount - gfi_sched.nmidle > 0)
		return false;
	if (atomic_load(&gfi_sched.npollwait) > 0 ||
	    atomic_load(&gfi_sched.nmsys) > 0 ||
	    atomic_load(&gfi_sched.runqsize) > 0)
		return false;
	for (i = 0; i < gfi_sched.nprocs; i++) {
		struct gfi_p *p = &gfi_sched.allp[i];

		if (atomic_load(&p->timer0when) || !runqempty(p))
			return false;
	}
	if (atomic_load(&gfi_sched.ngoroutines) == 0)
		return false;
	if (plain_threads())
		return true;
	pthread_mutex_unlock(&gfi_sched.lock);
	gfi_fatal("all fibers are asleep - deadlock!");
}

/* ---------------------------------------------------------- finding work */

static gfi_g *stealwork(struct gfi_m *m, int64_t now)
{
	struct gfi_p *p = m->p;
	int n = gfi_sched.nprocs, i, k;

	for (i = 0; i < 4; i++) {
		bool last = i == 3;
		int start = (int)(gfi_rand(&m->rand) % (uint64_t)n);

		for (k = 0; k < n; k++) {
			struct gfi_p *p2 = &gfi_sched.allp[(start + k) % n];
			gfi_g *gp;

			if (p2 == p)
				continue;
			if (last && atomic_load(&p2->timer0when) &&
			    atomic_load(&p2->timer0when) <= now) {
				gfi_timers_run(p2, now);
				gp = runqget(p);
				if (gp)
					return gp;
			}
			if (atomic_load(&p2->status) == P_IDLE)
				continue;
			gp = runqsteal(p, p2, last);
			if (gp)
				return gp;
		}
	}
	return NULL;
}

static int64_t timers_min(void)
{
	int64_t min = 0;
	int i;

	for (i = 0; i < gfi_sched.nprocs; i++) {
		int64_t w = atomic_load(&gfi_sched.allp[i].timer0when);

		if (w && (!min || w < min))
			min = w;
	}
	return min;
}

static bool must_leave(struct gfi_m *m)
{
	return m->is_m0 && atomic_load(&gfi_sched.main_done);
}

/* Go's findrunnable: a runnable G for m, blocking until there is one.
 * NULL only when M0 must leave gf_main. */
static gfi_g *findrunnable(struct gfi_m *m)
{
	struct gfi_p *p;
	gfi_g *gp;
	int64_t now, pollUntil;
	bool was_spinning;
	int i;

top:
	if (must_leave(m))
		return NULL;
	if (!m->p) {
		stopm(m);
		goto top;
	}
	p = m->p;
	now = gfi_nanotime();
	gfi_timers_run(p, now);
	if (p->schedtick == 0 && atomic_load(&gfi_sched.runqsize)) {
		pthread_mutex_lock(&gfi_sched.lock);
		gp = globrunqget_locked(p, 1);
		pthread_mutex_unlock(&gfi_sched.lock);
		if (gp)
			return gp;
	}
	gp = runqget(p);
	if (gp)
		return gp;
	if (atomic_load(&gfi_sched.runqsize)) {
		pthread_mutex_lock(&gfi_sched.lock);
		gp = globrunqget_locked(p, 0);
		pthread_mutex_unlock(&gfi_sched.lock);
		if (gp)
			return gp;
	}
	if (atomic_load(&gfi_sched.npollwait) > 0 &&
	    atomic_load(&gfi_sched.lastpoll) != 0 &&
	    gfi_netpoll(0, p) > 0) {
		gp = runqget(p);
		if (gp)
			return gp;
	}
	if (m->spinning ||
	    2 * atomic_load(&gfi_sched.nmspinning) <
		    gfi_sched.nprocs - atomic_load(&gfi_sched.npidle)) {
		if (!m->spinning) {
			m->spinning = true;
			atomic_fetch_add(&gfi_sched.nmspinning, 1);
		}
		gp = stealwork(m, now);
		if (gp)
			return gp;
	}

	/* Nothing: give the P back and sleep. */
	pthread_mutex_lock(&gfi_sched.lock);
	if (atomic_load(&gfi_sched.runqsize)) {
		gp = globrunqget_locked(p, 0);
		pthread_mutex_unlock(&gfi_sched.lock);
		return gp;
	}
	releasep(m);
	pidleput_locked(p);
	pthread_mutex_unlock(&gfi_sched.lock);

	was_spinning = m->spinning;
	if (m->spinning) {
		/*
		 * Dropping spinning, then re-checking every queue, the global
		 * one first: a G queued between our last look and the drop
		 * saw nmspinning > 0 and woke nobody (Go's "delicate dance").
		 * The global queue is where a plain thread's gf_ready, the
		 * poller and a P-less syscall exit put theirs: skipping it
		 * strands them until some unrelated event wakes an M.
		 * Our locked decrement, then the runqsize load, pairs with
		 * the waker's locked runqsize increment, then its
		 * nmspinning load in wakep (a full barrier each on x86-64,
		 * so one of us sees the other's store).
		 */
		gfi_chaos(GFI_CHAOS_RUNQ);
		m->spinning = false;
		atomic_fetch_sub(&gfi_sched.nmspinning, 1);
		gfi_chaos(GFI_CHAOS_RUNQ);
		if (atomic_load(&gfi_sched.runqsize)) {
			pthread_mutex_lock(&gfi_sched.lock);
			p = atomic_load(&gfi_sched.runqsize) ?
			    pidleget_locked() : NULL;
			if (p) {
				gfi_acquirep(m, p);
				gp = globrunqget_locked(p, 0);
				pthread_mutex_unlock(&gfi_sched.lock);
				m->spinning = true;
				atomic_fetch_add(&gfi_sched.nmspinning, 1);
				return gp;
			}
			pthread_mutex_unlock(&gfi_sched.lock);
		}
		for (i = 0; i < gfi_sched.nprocs; i++) {
			if (runqempty(&gfi_sched.allp[i]))
				continue;
			p = gfi_pidleget();
			if (p) {
				gfi_acquirep(m, p);
				m->spinning = true;
				atomic_fetch_add(&gfi_sched.nmspinning, 1);
				goto top;
			}
			break;
		}
	}

	pollUntil = timers_min();
	if ((atomic_load(&gfi_sched.npollwait) > 0 || pollUntil) &&
	    atomic_exchange(&gfi_sched.lastpoll, 0) != 0) {
		int64_t delay = -1;
		int n;

		atomic_store(&gfi_sched.pollUntil, pollUntil);
		if (must_leave(m)) {
			/* gf_main's end may have broken the poll already */
			atomic_store(&gfi_sched.pollUntil, 0);
			atomic_store(&gfi_sched.lastpoll, gfi_nanotime());
			return NULL;
		}
		if (pollUntil) {
			delay = pollUntil - gfi_nanotime();
			if (delay < 0)
				delay = 0;
		}
		n = gfi_netpoll(delay, NULL);
		atomic_store(&gfi_sched.pollUntil, 0);
		atomic_store(&gfi_sched.lastpoll, gfi_nanotime());
		p = gfi_pidleget();
		if (p) {
			gfi_acquirep(m, p);
			if (was_spinning) {
				m->spinning = true;
				atomic_fetch_add(&gfi_sched.nmspinning, 1);
			}
			if (n > 1)
				gfi_wakep();
			goto top;
		}
	} else if (pollUntil) {
		int64_t pu = atomic_load(&gfi_sched.pollUntil);

		if (pu == 0 || pu > pollUntil)
			gfi_netpoll_break();
	}
	if (must_leave(m))
		return NULL;
	stopm(m);
	goto top;
}

static void resetspinning(struct gfi_m *m)
{
	m->spinning = false;
	atomic_fetch_sub(&gfi_sched.nmspinning, 1);
	gfi_wakep();
}

/* ---------------------------------------------------------- switching */

/*
 * Count a switch on p; false every 61st (Go's 1-in-61: that switch goes
 * through g0, which looks at the global queue first, and at timers). A
 * wrapping counter rather than a modulo: a compare instead of a multiply
 * on every switch.
 */
static inline bool schedtick(struct gfi_p *p)
{
	uint32_t t = p->schedtick + 1;

	if (t == 61)
		t = 0;
	p->schedtick = t;
	return t != 0;
}

/*
 * The fast path of every park/yield/exit (Go's schedule, without the trip
 * to g0): switch gp out to the next G of our P, or to g0 when there is
 * none, every 61st time, or when M0 must leave.
 */
void gfi_schedule_from(struct gfi_m *m, gfi_g *gp)
{
	struct gfi_p *p = m->p;
	gfi_g *next = NULL;
	bool dead = m->prev_action == PA_EXIT;

	if (schedtick(p) && !must_leave(m))
		next = runqget(p);
	gp->m = NULL;
	if (next) {
		gfi_gprepare_first(p, next);
		next->m = m;
		m->curg = next;
		gfi_casgstatus(next, GFIBERS_GRUNNABLE, GFIBERS_GRUNNING);
	} else {
		m->curg = NULL;
	}
	m = gfi_switch(m, gp, next, dead);
	gfi_after_switch(m);
}

static void execute(struct gfi_m *m, gfi_g *gp)
{
	gp->m = m;
	m->curg = gp;
	schedtick(m->p);
	gfi_gprepare_first(m->p, gp);
	gfi_casgstatus(gp, GFIBERS_GRUNNABLE, GFIBERS_GRUNNING);
	m = gfi_switch(m, NULL, gp, false);
	gfi_after_switch(m);
}

/* The scheduler loop on g0 (Go's schedule). Returns only on M0, when the
 * main fiber has returned. */
void gfi_m_loop(struct gfi_m *m)
{
	for (;;) {
		gfi_g *gp;

		if (must_leave(m)) {
			if (m->p) {
				if (m->spinning) {
					m->spinning = false;
					atomic_fetch_sub(&gfi_sched.nmspinning,
							 1);
				}
				gfi_handoffp(releasep(m));
			}
			return;
		}
		if (!m->p) {
			stopm(m);
			continue;
		}
		gp = findrunnable(m);
		if (!gp)
			continue;
		if (m->spinning)
			resetspinning(m);
		execute(m, gp);
	}
}

/* ---------------------------------------------------------- M start */

static void m_init_thread(struct gfi_m *m)
{
	pthread_attr_t attr;
	void *lo = NULL;
	size_t sz = 0;

	m->tid = (pid_t)syscall(SYS_gettid);
	m->errnop = gf_errno_location();
	if (!pthread_getattr_np(pthread_self(), &attr)) {
		pthread_attr_getstack(&attr, &lo, &sz);
		pthread_attr_destroy(&attr);
	}
	m->g0_stack_lo = lo;
	m->g0_stack_size = sz;
#ifdef GF_TSAN
	m->g0_tsan_fiber = __tsan_get_current_fiber();
#endif
	gfi_setm(m);
	gfi_signals_init_thread(m);
}

static void *mstart(void *arg)
{
	struct gfi_m *m = arg;
	struct gfi_p *p = m->nextp;

	gfi_thread_own();
	m_init_thread(m);
	m->nextp = NULL;
	gfi_acquirep(m, p);
	gfi_m_loop(m);
	return NULL;
}

/* ---------------------------------------------------------- init, main */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_err;

static size_t env_size(const char *name, size_t def)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return def;
	v = strtoull(s, &end, 0);
	if (*end == 'k' || *end == 'K')
		v <<= 10;
	else if (*end == 'm' || *end == 'M')
		v <<= 20;
	return v ? (size_t)v : def;
}

static void runtime_init(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int n, i;
	const char *tb = getenv("GF_TRACEBACK");

	n = (int)env_size("GF_PROCS", ncpu > 0 ? (size_t)ncpu : 1);
	if (n < 1)
		n = 1;
	if (n > 1024)
		n = 1024;
	rand_init();
#ifdef GF_TSAN
	tsan_own_threads();
#endif
	gfi_sched.nthreads_base = process_threads();
	pthread_atfork(NULL, NULL, threads_fork_child);
	gfi_sched.traceback_all = tb && !strcmp(tb, "all");
	gfi_sched.stack_size = env_size("GF_STACK_SIZE", 64 << 10);
	gfi_stack_init();
	gfi_sched.allp = aligned_alloc(64, sizeof(struct gfi_p) * (size_t)n);
	if (!gfi_sched.allp) {
		init_err = ENOMEM;
		return;
	}
	memset(gfi_sched.allp, 0, sizeof(struct gfi_p) * (size_t)n);
	gfi_sched.nprocs = n;
	for (i = n - 1; i >= 0; i--) {
		struct gfi_p *p = &gfi_sched.allp[i];

		p->id = i;
		p->rand = rand_state(1, (uint64_t)i);
		pthread_mutex_lock(&gfi_sched.lock);
		pidleput_locked(p);
		pthread_mutex_unlock(&gfi_sched.lock);
	}
	if (gfi_registry_init()) {
		init_err = errno;
		return;
	}
	gfi_dump_init();
}

int gfi_runtime_init(void)
{
	pthread_once(&init_once, runtime_init);
	if (init_err) {
		errno = init_err;
		return -1;
	}
	return 0;
}

void gfi_main_trampoline(void *arg)
{
	void **a = arg;
	int (*fn)(void *) = (int (*)(void *))a[0];

	gfi_sched.main_ret = fn(a[1]);
}

GF_API int gf_main(int (*fn)(void *arg), void *arg)
{
	struct gfi_m *m;
	struct gfi_p *p;
	void *a[2] = { (void *)fn, arg };
	gf_attr_t attr = { .name = "main" };
	int64_t id;

	if (!fn) {
		errno = EINVAL;
		return -1;
	}
	if (gfi_runtime_init())
		return -1;
	m = gfi_getm();
	if (!m) {
		pthread_mutex_lock(&gfi_sched.lock);
		if (gfi_sched.m0) {
			pthread_mutex_unlock(&gfi_sched.lock);
			errno = EINVAL;
			return -1;
		}
		m = calloc(1, sizeof(*m));
		if (!m) {
			pthread_mutex_unlock(&gfi_sched.lock);
			errno = ENOMEM;
			return -1;
		}
		m->is_m0 = true;
		m->id = atomic_fetch_add(&gfi_sched.mgen, 1) + 1;
		m->rand = rand_state(2, (uint64_t)m->id);
		gfi_sched.m0 = m;
		gfi_sched.mcount++;
		pthread_mutex_unlock(&gfi_sched.lock);
		m_init_thread(m);
	} else if (!m->is_m0 || atomic_load(&gfi_sched.main_running)) {
		errno = EINVAL;
		return -1;
	}
	/* Leftover fibers of an earlier gf_main may hold every P. */
	while (!(p = gfi_pidleget()))
		sched_yield();
	gfi_acquirep(m, p);
	atomic_store(&gfi_sched.main_done, 0);
	atomic_store(&gfi_sched.main_running, 1);
	gfi_sched.main_ret = 0;		/* what gf_exit in main returns */
	id = gfi_go(gfi_main_trampoline, a, &attr,
		    (uintptr_t)__builtin_return_address(0), true);
	if (id < 0) {
		int e = errno;

		atomic_store(&gfi_sched.main_running, 0);
		gfi_handoffp(releasep(m));
		errno = e;
		return -1;
	}
	gfi_m_loop(m);
	atomic_store(&gfi_sched.main_running, 0);
	return gfi_sched.main_ret;
}

/* Called by the main fiber's exit: let M0 leave gf_main. */
GF_HIDDEN void gfi_main_exited(void);
void gfi_main_exited(void)
{
	struct gfi_m *m0 = gfi_sched.m0, **pp;
	bool wake = false;

	atomic_store(&gfi_sched.main_running, 0);
	pthread_mutex_lock(&gfi_sched.lock);
	atomic_store(&gfi_sched.main_done, 1);
	for (pp = &gfi_sched.midle; *pp; pp = &(*pp)->schedlink) {
		if (*pp == m0) {
			*pp = m0->schedlink;
			gfi_sched.nmidle--;
			wake = true;
			break;
		}
	}
	pthread_mutex_unlock(&gfi_sched.lock);
	if (wake)
		notewakeup(m0);
	gfi_netpoll_break();	/* M0 may be blocked in netpoll */
}

/*
 * A timer at `when` was added (Go's wakeNetPoller): break the M sleeping
 * in netpoll if it would sleep past it, else make sure some M runs.
 */
void gfi_wake_netpoller(int64_t when)
{
	if (atomic_load(&gfi_sched.lastpoll) == 0) {
		int64_t pu = atomic_load(&gfi_sched.pollUntil);

		if (pu == 0 || pu > when)
			gfi_netpoll_break();
	} else {
		gfi_wakep();
	}
}
