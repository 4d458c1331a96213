// SPDX-License-Identifier: MIT
/*
 * time.c - the public timers and tickers, which deliver on channels
 * (gf_timer_*, gf_ticker_new, gf_after; Go keeps them in package time,
 * outside the runtime). Moved out of timer.c unchanged: they sit above
 * chan.c and use timer.c's heap, so that neither the heap nor the
 * scheduler below it calls into the channels.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime.h"

/* ---------------------------------------------------------- gf_timer */

/*
 * A public timer delivers on a channel of its own. While it is armed it
 * will send, so it counts on the channel as an armed timer (chan.c's
 * ntimers): a fiber waiting there is never judged leaked while the
 * timer may still wake it (its reference alone would not say so: a
 * reference is a holder that may run, the timer is one that will).
 * armed changes by exchange, so each arming is undone once: by the
 * one-shot's firing (after its send), or by stop/reset/free.
 */
#define TIMER_LIVE	0x74696d72u	/* "timr" */
#define TIMER_FREED	0x64656164u	/* "dead" */

struct gf_timer {
	int lock;			/* serialises stop/reset/free */
	struct gfi_timer t;
	gf_chan_t *c;			/* capacity 1, int64_t */
	bool after;			/* gf_after: free itself after firing */
	_Atomic bool armed;		/* counted in c's armed timers */
	/*
	 * TIMER_LIVE from creation to gf_timer_free, TIMER_FREED then:
	 * last, past the bytes malloc reuses for its free lists, so that a
	 * second free (or a use after it) is caught as long as the memory
	 * was not handed out again - cheap detection, not a guarantee.
	 */
	uint32_t magic;
};

GF_HIDDEN void gfi_chan_timers_add(gf_chan_t *c, long d);
GF_HIDDEN gf_chan_t *gfi_chan_ref_quiet(gf_chan_t *c);

static void timer_arm(struct gf_timer *gt, int64_t when)
{
	if (!atomic_exchange(&gt->armed, true))
		gfi_chan_timers_add(gt->c, 1);
	gfi_timer_start(&gt->t, when);
}

static void timer_disarmed(struct gf_timer *gt)
{
	if (atomic_exchange(&gt->armed, false))
		gfi_chan_timers_add(gt->c, -1);
}

static void sendtime(void *arg, int64_t now)
{
	struct gf_timer *gt = arg;

	/* Non-blocking: a full channel drops the tick (Go's sendTime). */
	gf_chan_send_until(gt->c, &now, GF_NOWAIT);
	/* Sent: a one-shot will not send again (a waiter woken above is
	 * runnable already, so the judgment this may make spares it). */
	if (gt->t.period == 0)
		timer_disarmed(gt);
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
	gt->c = gf_chan_new(sizeof(int64_t), 1);
	if (!gt->c) {
		free(gt);
		return NULL;
	}
	gt->magic = TIMER_LIVE;
	gt->t.f = sendtime;
	gt->t.arg = gt;
	gt->t.period = period;
	timer_arm(gt, gfi_when_after(ns));
	return gt;
}

/* A live timer, or EINVAL for NULL; a freed one is a fatal error. */
static bool timer_ok(const struct gf_timer *gt, const char *fn)
{
	if (!gt) {
		errno = EINVAL;
		return false;
	}
	if (gt->magic != TIMER_LIVE) {
		static char msg[96];

		snprintf(msg, sizeof(msg), "%s: not a live timer (%s)", fn,
			 gt->magic == TIMER_FREED ? "already freed"
						  : "never made, or freed");
		gfi_fatal(msg);
	}
	return true;
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
	if (!timer_ok(t, "gf_timer_chan"))
		return NULL;
	return t->c;
}

GF_API int gf_timer_stop(gf_timer_t *t)
{
	bool was;

	if (!timer_ok(t, "gf_timer_stop"))
		return -1;
	gfi_lock(&t->lock);
	was = gfi_timer_stop(&t->t);
	timer_disarmed(t);
	gfi_unlock(&t->lock);
	return was;
}

GF_API int gf_timer_reset(gf_timer_t *t, int64_t ns)
{
	bool was;

	if (!timer_ok(t, "gf_timer_reset"))
		return -1;
	if (t->t.period > 0 && ns <= 0) {
		errno = EINVAL;		/* a ticker's period must be > 0 */
		return -1;
	}
	gfi_lock(&t->lock);
	was = gfi_timer_stop(&t->t);
	if (t->t.period > 0)
		t->t.period = ns;
	timer_arm(t, gfi_when_after(ns));
	gfi_unlock(&t->lock);
	return was;
}

GF_API void gf_timer_free(gf_timer_t *t)
{
	if (!t)
		return;
	timer_ok(t, "gf_timer_free");
	gf_timer_stop(t);
	t->magic = TIMER_FREED;
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
	c = gf_chan_new(sizeof(int64_t), 1);
	if (!c) {
		free(gt);
		return NULL;
	}
	/* The timer's own reference: keeps c alive until it fired, without
	 * turning the reference convention on for the caller's channel. */
	gt->c = gfi_chan_ref_quiet(c);
	gt->magic = TIMER_LIVE;
	gt->after = true;
	gt->t.done = after_done;
	gt->t.f = sendtime;
	gt->t.arg = gt;
	timer_arm(gt, gfi_when_after(ns));
	return c;
}
