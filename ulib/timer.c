// SPDX-License-Identifier: MIT
/*
 * timer.c - timers: a min-heap per P (Go's time.go, simplified), and
 * sleep. The public timers and tickers, which deliver on channels, are
 * time.c's, above the channels (Go keeps them in package time).
 *
 * Invariants:
 *  - A timer is in at most one heap, t->p says which (NULL: none), and
 *    t->queued whether it is in it now. Both, and the heap's links,
 *    change only under that P's timerlock.
 *  - p->timer0when mirrors the heap's top (0: empty), readable without
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

#include "runtime.h"

/*
 * The heap is a complete binary tree linked through the timers (libuv's
 * heap-inl.h has the same shape): node number i (1-based, in level
 * order) is reached from the root by the bits of i below its top bit,
 * 0 left, 1 right. A push goes to number ntimers + 1, a removal moves
 * the last node into the hole; both then sift, swapping links, not
 * entries. O(log n) like an array heap, and nothing to allocate.
 */

/* The link that holds (or would hold) node number @i, 1-based. */
static struct gfi_timer **heap_slot(struct gfi_p *p, uint32_t i)
{
	struct gfi_timer **at = &p->timer0;
	int bit = 31 - __builtin_clz(i);

	while (bit-- > 0)
		at = (i >> bit) & 1 ? &(*at)->hright : &(*at)->hleft;
	return at;
}

/* Swap @c with its parent @q, links and all. */
static void heap_swap_up(struct gfi_p *p, struct gfi_timer *q,
			 struct gfi_timer *c)
{
	struct gfi_timer *gp = q->hparent, *cl = c->hleft, *cr = c->hright;

	if (q->hleft == c) {
		c->hleft = q;
		c->hright = q->hright;
		if (c->hright)
			c->hright->hparent = c;
	} else {
		c->hright = q;
		c->hleft = q->hleft;
		if (c->hleft)
			c->hleft->hparent = c;
	}
	c->hparent = gp;
	q->hparent = c;
	q->hleft = cl;
	q->hright = cr;
	if (cl)
		cl->hparent = q;
	if (cr)
		cr->hparent = q;
	if (!gp)
		p->timer0 = c;
	else if (gp->hleft == q)
		gp->hleft = c;
	else
		gp->hright = c;
}

static void sift_up(struct gfi_p *p, struct gfi_timer *t)
{
	while (t->hparent && t->when < t->hparent->when)
		heap_swap_up(p, t->hparent, t);
}

static void sift_down(struct gfi_p *p, struct gfi_timer *t)
{
	for (;;) {
		struct gfi_timer *m = t;

		if (t->hleft && t->hleft->when < m->when)
			m = t->hleft;
		if (t->hright && t->hright->when < m->when)
			m = t->hright;
		if (m == t)
			break;
		heap_swap_up(p, t, m);
	}
}

static void heap_push(struct gfi_p *p, struct gfi_timer *t)
{
	uint32_t i = p->ntimers + 1;	/* t's node number */
	struct gfi_timer *q = i > 1 ? *heap_slot(p, i / 2) : NULL;

	t->hparent = q;
	t->hleft = t->hright = NULL;
	if (!q)
		p->timer0 = t;
	else if (i & 1)
		q->hright = t;
	else
		q->hleft = t;
	p->ntimers = i;
	t->queued = true;
	sift_up(p, t);
}

static void heap_remove(struct gfi_p *p, struct gfi_timer *t)
{
	struct gfi_timer **at = heap_slot(p, p->ntimers), *last = *at;

	*at = NULL;			/* unlink the last node */
	p->ntimers--;
	t->queued = false;
	if (last == t)
		return;
	/* The last node takes t's place, then finds its own. */
	last->hparent = t->hparent;
	last->hleft = t->hleft;
	last->hright = t->hright;
	if (last->hleft)
		last->hleft->hparent = last;
	if (last->hright)
		last->hright->hparent = last;
	if (!t->hparent)
		p->timer0 = last;
	else if (t->hparent->hleft == t)
		t->hparent->hleft = last;
	else
		t->hparent->hright = last;
	sift_down(p, last);
	sift_up(p, last);
}

static void update_timer0(struct gfi_p *p)
{
	atomic_store(&p->timer0when, p->timer0 ? p->timer0->when : 0);
}

void gfi_timer_start(struct gfi_timer *t, int64_t when)
{
	struct gfi_m *m = gfi_getm();
	struct gfi_p *p = m && m->p ? m->p : &gfi_sched.allp[0];
	bool first;

	if (when <= 0)
		when = 1;
	gfi_lock(&p->timerlock);
	t->when = when;
	heap_push(p, t);
	atomic_store(&t->p, p);
	first = p->timer0 == t;
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
	while (p->timer0 && p->timer0->when <= now) {
		struct gfi_timer *t = p->timer0;
		void (*done)(struct gfi_timer *t);
		int64_t fire;

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
