// SPDX-License-Identifier: MIT
/*
 * timer.c - timers: a min-heap per P (Go's time.go, simplified), and
 * sleep. The public timers and tickers, which deliver on channels, are
 * time.c's, above the channels (Go keeps them in package time).
 *
 * Invariants:
 *  - A timer is in at most one heap, t->p says which (NULL: none), and
 *    t->queued whether it is in it now. Both, t->heapidx and the heap's
 *    array, change only under that P's timerlock.
 *  - p->timer0when mirrors the heap's top (0: empty; the overflow list
 *    counts as part of the heap), readable without
 *    the lock by schedulers deciding how long they may sleep.
 *  - f runs outside every lock, on a scheduler context; t->state counts
 *    the runs in progress, and gfi_timer_stop() waits for them, so once
 *    stop returns nothing touches the timer (it may live on a stack).
 *  - The timer lock is the innermost lock of the runtime: f may take
 *    channel locks (it runs without the timer lock); code holding a
 *    channel lock may start a timer (select's deadline).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "runtime.h"

/*
 * The heap is Go's (runtime/time.go): a 4-ary min-heap in an array of
 * (when, timer) pairs, so that a sift compares whens side by side in
 * the array instead of chasing links through 100,000 timers that live
 * in as many fiber records; a timer knows its index (heapidx), so a
 * stop removes it in O(log n). The array doubles when full: amortized,
 * a sleep allocates nothing. Should growth fail (no memory), the timer
 * is kept on p->timerovf, an unsorted list linked through the timers,
 * scanned for the earliest and moved into the array by the next start
 * or run that finds room: slow, but no timer is ever lost or refused.
 */
_Atomic bool gfi_timer_nogrow;

static bool heap_grow(struct gfi_p *p)
{
	uint32_t cap = p->timerscap ? 2 * p->timerscap : 64;
	struct gfi_timerwhen *h;

	/* bounded so that 4 * i + 4 cannot wrap */
	if (atomic_load_explicit(&gfi_timer_nogrow, memory_order_relaxed) ||
	    p->timerscap > UINT32_MAX / 16)
		return false;
	h = realloc(p->timers, (size_t)cap * sizeof(*h));
	if (!h)
		return false;
	p->timers = h;
	p->timerscap = cap;
	return true;
}

/* Entry i is tw now, and tw's timer knows it. */
static inline void heap_set(struct gfi_timerwhen *h, uint32_t i,
			    struct gfi_timerwhen tw)
{
	h[i] = tw;
	tw.t->heapidx = i;
}

static void sift_up(struct gfi_p *p, uint32_t i)
{
	struct gfi_timerwhen *h = p->timers, tw = h[i];

	while (i > 0) {
		uint32_t up = (i - 1) / 4;

		if (tw.when >= h[up].when)
			break;
		heap_set(h, i, h[up]);
		i = up;
	}
	heap_set(h, i, tw);
}

static void sift_down(struct gfi_p *p, uint32_t i)
{
	struct gfi_timerwhen *h = p->timers, tw = h[i];
	uint32_t n = p->ntimers;

	for (;;) {
		uint32_t c = 4 * i + 1, end = c + 4 < n ? c + 4 : n, m = i;
		int64_t w = tw.when;

		for (; c < end; c++) {
			if (h[c].when < w) {
				w = h[c].when;
				m = c;
			}
		}
		if (m == i)
			break;
		heap_set(h, i, h[m]);
		i = m;
	}
	heap_set(h, i, tw);
}

static void heap_push(struct gfi_p *p, struct gfi_timer *t)
{
	uint32_t i = p->ntimers;

	t->queued = true;
	if (i == p->timerscap && !heap_grow(p)) {
		t->heapidx = GFI_TIMER_OVF;
		t->ovnext = p->timerovf;
		p->timerovf = t;
		return;
	}
	p->timers[i] = (struct gfi_timerwhen){ .when = t->when, .t = t };
	p->ntimers = i + 1;
	sift_up(p, i);
}

static void heap_remove(struct gfi_p *p, struct gfi_timer *t)
{
	uint32_t i = t->heapidx, last;

	t->queued = false;
	if (i == GFI_TIMER_OVF) {
		struct gfi_timer **at = &p->timerovf;

		while (*at != t)
			at = &(*at)->ovnext;
		*at = t->ovnext;
		t->ovnext = NULL;
		return;
	}
	last = --p->ntimers;
	if (i == last)
		return;
	/* The last entry takes t's place, then finds its own. */
	p->timers[i] = p->timers[last];
	sift_up(p, i);
	sift_down(p, i);
}

/* Move what waits on the overflow list into the array, room allowing. */
static void heap_drain_ovf(struct gfi_p *p)
{
	while (p->timerovf &&
	       (p->ntimers < p->timerscap || heap_grow(p))) {
		struct gfi_timer *t = p->timerovf;

		p->timerovf = t->ovnext;
		t->ovnext = NULL;
		heap_push(p, t);
	}
}

/* The earliest queued timer, NULL: none. */
static struct gfi_timer *heap_top(struct gfi_p *p)
{
	struct gfi_timer *top = p->ntimers ? p->timers[0].t : NULL, *o;

	for (o = p->timerovf; o; o = o->ovnext)	/* empty but after ENOMEM */
		if (!top || o->when < top->when)
			top = o;
	return top;
}

static void update_timer0(struct gfi_p *p)
{
	int64_t w = p->ntimers ? p->timers[0].when : 0;

	if (p->timerovf)
		w = heap_top(p)->when;
	atomic_store(&p->timer0when, w);
}

void gfi_timer_start(struct gfi_timer *t, int64_t when)
{
	struct gfi_m *m = gfi_getm();
	struct gfi_p *p = m && m->p ? m->p : &gfi_sched.allp[0];
	bool first;

	if (when <= 0)
		when = 1;
	gfi_lock(&p->timerlock);
	if (__builtin_expect(p->timerovf != NULL, 0))
		heap_drain_ovf(p);
	t->when = when;
	heap_push(p, t);
	atomic_store(&t->p, p);
	first = t->heapidx == 0 || t->heapidx == GFI_TIMER_OVF;
	update_timer0(p);
	gfi_unlock(&p->timerlock);
	if (first)
		gfi_wake_netpoller(when);
}

bool gfi_timer_stop(struct gfi_timer *t)
{
	bool was = false;
	int spins = 0;

	for (;;) {
		struct gfi_p *p = atomic_load(&t->p);

		if (!p)
			break;
		gfi_chaos(GFI_CHAOS_TIMER);	/* t may fire or move now */
		gfi_lock(&p->timerlock);
		if (atomic_load(&t->p) != p) {
			gfi_unlock(&p->timerlock);
			continue;
		}
		if (t->queued) {
			heap_remove(p, t);
			update_timer0(p);
			was = true;
		} else if (t->period > 0) {
			was = true;	/* a ticker in f: no tick after it */
		}
		atomic_store(&t->p, NULL);
		gfi_unlock(&p->timerlock);
		break;
	}
	while (atomic_load(&t->state)) {	/* runs of f in progress */
		if (++spins > 50) {
			sched_yield();
			spins = 0;
		}
	}
	return was;
}

int64_t gfi_timers_run(struct gfi_p *p, int64_t now)
{
	int64_t w = atomic_load(&p->timer0when);

	if (!w || w > now)
		return w;
	gfi_lock(&p->timerlock);
	heap_drain_ovf(p);
	for (;;) {
		struct gfi_timer *t = heap_top(p);
		void (*done)(struct gfi_timer *t);
		int64_t fire;

		if (!t || t->when > now)
			break;
		heap_remove(p, t);
		fire = t->when;
		atomic_fetch_add(&t->state, 1);
		if (t->period > 0) {
			/*
			 * Pushed back only once f has run (below): queued
			 * now, another M running p's timers could fire the
			 * next tick while f still sends this one, and the
			 * channel would get the times out of order. t->p
			 * stays p meanwhile, so a stopper finds it.
			 */
			t->when += t->period;
			if (t->when <= now)	/* slow reader: drop ticks */
				t->when = now + t->period;
		} else {
			/* release: a stopper seeing NULL sees state too */
			atomic_store(&t->p, NULL);
		}
		update_timer0(p);
		gfi_unlock(&p->timerlock);
		done = t->done;			/* read before f: t may go */
		/*
		 * f gets the time the timer was due (Go's sendTime sends
		 * Now() minus the lateness): a ticker's values increase
		 * even when two Ms with different clocks run its heap.
		 */
		t->f(t->arg, fire);
		if (done) {
			done(t);
			gfi_lock(&p->timerlock);
			continue;
		}
		gfi_lock(&p->timerlock);
		/* A ticker neither stopped nor reset while f ran: next tick.
		 * A stopper has cleared t->p and waits for state below. */
		if (t->period > 0 && atomic_load(&t->p) == p && !t->queued)
			heap_push(p, t);
		atomic_fetch_sub(&t->state, 1);	/* t may go now */
	}
	update_timer0(p);
	gfi_unlock(&p->timerlock);
	return atomic_load(&p->timer0when);
}

/* ---------------------------------------------------------- sleep */

/* now + ns, saturated: a duration near INT64_MAX is "never", not a
 * signed overflow into the past (which fired at once). */
int64_t gfi_when_after(int64_t ns)
{
	int64_t now = gfi_nanotime();

	return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

GF_API int gf_sleep_until(gf_deadline_t until)
{
	int64_t deadline = until.ns;
	gfi_g *gp = gfi_getg();

	if (!gp) {
		errno = EPERM;
		return -1;
	}
	if (deadline == GFI_FOREVER) {
		errno = EINVAL;		/* a sleep without end: a bug */
		return -1;
	}
	if (deadline <= gfi_nanotime()) {	/* other negatives: passed */
		gf_yield();
		return 0;
	}
	atomic_store(&gp->selectdone, 0);
	gfi_park_deadline(NULL, NULL, GF_WAIT_SLEEP,
			  (uintptr_t)__builtin_return_address(0), NULL,
			  deadline);
	return 0;
}

GF_API int gf_sleep(int64_t ns)
{
	gfi_g *gp = gfi_getg();

	if (!gp) {
		errno = EPERM;
		return -1;
	}
	if (ns <= 0) {
		gf_yield();
		return 0;
	}
	atomic_store(&gp->selectdone, 0);
	gfi_park_deadline(NULL, NULL, GF_WAIT_SLEEP,
			  (uintptr_t)__builtin_return_address(0), NULL,
			  gfi_when_after(ns));
	return 0;
}
