// SPDX-License-Identifier: GPL-2.0
/*
 * timer.c - timers: a min-heap per P (Go's time.go, simplified), sleep,
 * and the public timers and tickers that deliver on channels.
 *
 * Invariants:
 *  - A timer is in at most one heap, t->p says which (NULL: none); its
 *    index there is t->idx. Both change only under that P's timerlock.
 *  - p->timer0when mirrors the heap's top (0: empty), readable without
 *    the lock by schedulers deciding how long they may sleep.
 *  - f runs outside every lock, on a scheduler context; t->firing counts
 *    the runs in progress, and gfi_timer_stop() waits for them, so once
 *    stop returns nothing touches the timer (it may live on a stack).
 *  - The timer lock is the innermost lock of the runtime: f may take
 *    channel locks (it runs without the timer lock); code holding a
 *    channel lock may start a timer (select's deadline).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

static void heap_swap(struct gfi_timer **h, int i, int j)
{
	struct gfi_timer *t = h[i];

	h[i] = h[j];
	h[j] = t;
	h[i]->idx = i;
	h[j]->idx = j;
}

static void sift_up(struct gfi_timer **h, int i)
{
	while (i > 0) {
		int parent = (i - 1) / 2;

		if (h[parent]->when <= h[i]->when)
			break;
		heap_swap(h, i, parent);
		i = parent;
	}
}

static void sift_down(struct gfi_timer **h, int n, int i)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;

		if (l < n && h[l]->when < h[m]->when)
			m = l;
		if (r < n && h[r]->when < h[m]->when)
			m = r;
		if (m == i)
			break;
		heap_swap(h, i, m);
		i = m;
	}
}

static void heap_remove(struct gfi_p *p, struct gfi_timer *t)
{
	int i = t->idx, last = --p->ntimers;

	if (i != last) {
		p->timers[i] = p->timers[last];
		p->timers[i]->idx = i;
		sift_down(p->timers, last, i);
		sift_up(p->timers, i);
	}
	t->idx = -1;
}

static void update_timer0(struct gfi_p *p)
{
	atomic_store(&p->timer0when, p->ntimers ? p->timers[0]->when : 0);
}

static bool heap_push(struct gfi_p *p, struct gfi_timer *t)
{
	if (p->ntimers == p->captimers) {
		int cap = p->captimers ? p->captimers * 2 : 64;
		struct gfi_timer **h = realloc(p->timers, sizeof(*h) * cap);

		if (!h)
			return false;
		p->timers = h;
		p->captimers = cap;
	}
	t->idx = p->ntimers++;
	p->timers[t->idx] = t;
	sift_up(p->timers, t->idx);
	return true;
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
	while (!heap_push(p, t)) {
		gfi_unlock(&p->timerlock);
		gfi_fatal("out of memory for a timer");
	}
	atomic_store(&t->p, p);
	first = t->idx == 0;
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
		if (t->idx >= 0) {
			heap_remove(p, t);
			update_timer0(p);
			was = true;
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
	while (p->ntimers && p->timers[0]->when <= now) {
		struct gfi_timer *t = p->timers[0];
		void (*done)(struct gfi_timer *t);
		int64_t fire;

		heap_remove(p, t);
		fire = t->when;
		atomic_fetch_add(&t->state, 1);
		if (t->period > 0) {
			t->when += t->period;
			if (t->when <= now)	/* slow reader: drop ticks */
				t->when = now + t->period;
			if (!heap_push(p, t))
				atomic_store(&t->p, NULL);
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
		if (done)
			done(t);
		else
			atomic_fetch_sub(&t->state, 1);	/* t may go now */
		gfi_lock(&p->timerlock);
	}
	update_timer0(p);
	gfi_unlock(&p->timerlock);
	return atomic_load(&p->timer0when);
}

/* ---------------------------------------------------------- sleep */

GF_API int gf_sleep_until(int64_t deadline)
{
	gfi_g *gp = gfi_getg();

	if (!gp) {
		errno = EPERM;
		return -1;
	}
	if (deadline <= gfi_nanotime()) {
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
			  gfi_nanotime() + ns);
	return 0;
}

/* ---------------------------------------------------------- gf_timer */

struct gf_timer {
	int lock;			/* serialises stop/reset/free */
	struct gfi_timer t;
	gf_chan_t *c;			/* capacity 1, int64_t */
	bool after;			/* gf_after: free itself after firing */
};

static void sendtime(void *arg, int64_t now)
{
	struct gf_timer *gt = arg;

	/* Non-blocking: a full channel drops the tick (Go's sendTime). */
	gf_chan_send_deadline(gt->c, &now, GF_NOWAIT);
	if (gt->after)
		gf_chan_unref(gt->c);
}

/* gf_after's timer: nobody else knows it, free it once it has run. */
static void after_done(struct gfi_timer *t)
{
	free((char *)t - offsetof(struct gf_timer, t));
}

static struct gf_timer *timer_new(int64_t ns, int64_t period)
{
	struct gf_timer *gt;

	if (gfi_runtime_init())
		return NULL;
	gt = calloc(1, sizeof(*gt));
	if (!gt) {
		errno = ENOMEM;
		return NULL;
	}
	gt->c = gf_chan_make(sizeof(int64_t), 1);
	if (!gt->c) {
		free(gt);
		return NULL;
	}
	gt->t.f = sendtime;
	gt->t.arg = gt;
	gt->t.idx = -1;
	gt->t.period = period;
	gfi_timer_start(&gt->t, gfi_nanotime() + ns);
	return gt;
}

GF_API gf_timer_t *gf_timer_new(int64_t ns)
{
	return timer_new(ns, 0);
}

GF_API gf_timer_t *gf_ticker_new(int64_t period)
{
	if (period <= 0) {
		errno = EINVAL;
		return NULL;
	}
	return timer_new(period, period);
}

GF_API gf_chan_t *gf_timer_chan(gf_timer_t *t)
{
	return t->c;
}

GF_API bool gf_timer_stop(gf_timer_t *t)
{
	bool was;

	gfi_lock(&t->lock);
	was = gfi_timer_stop(&t->t);
	gfi_unlock(&t->lock);
	return was;
}

GF_API bool gf_timer_reset(gf_timer_t *t, int64_t ns)
{
	bool was;

	gfi_lock(&t->lock);
	was = gfi_timer_stop(&t->t);
	if (t->t.period > 0 && ns > 0)
		t->t.period = ns;
	gfi_timer_start(&t->t, gfi_nanotime() + ns);
	gfi_unlock(&t->lock);
	return was;
}

GF_API void gf_timer_free(gf_timer_t *t)
{
	if (!t)
		return;
	gf_timer_stop(t);
	gf_chan_unref(t->c);
	free(t);
}

GF_API gf_chan_t *gf_after(int64_t ns)
{
	struct gf_timer *gt;
	gf_chan_t *c;

	if (gfi_runtime_init())
		return NULL;
	gt = calloc(1, sizeof(*gt));
	if (!gt) {
		errno = ENOMEM;
		return NULL;
	}
	c = gf_chan_make(sizeof(int64_t), 1);
	if (!c) {
		free(gt);
		return NULL;
	}
	gt->c = gf_chan_ref(c);		/* the timer's own reference */
	gt->after = true;
	gt->t.done = after_done;
	gt->t.f = sendtime;
	gt->t.arg = gt;
	gt->t.idx = -1;
	gfi_timer_start(&gt->t, gfi_nanotime() + ns);
	return c;
}
