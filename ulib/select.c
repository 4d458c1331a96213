// SPDX-License-Identifier: MIT
/*
 * select.c - Go's select (runtime/select.go), and the engine of every
 * channel operation with a deadline.
 *
 * Three passes, as Go:
 *  1. lock every channel (in address order, each once), look at the
 *     cases in a random order (the uniform choice among ready cases),
 *     complete the first ready one;
 *  2. none ready: enqueue one sudog per case (is_select: a waker must win
 *     g->selectdone first), arm the deadline timer, park; the unlock
 *     callback arms the timer and drops the locks after the switch;
 *  3. woken: relock, take every losing sudog off its queue, the winner
 *     is g->param (NULL: the deadline won).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

GF_HIDDEN int *gfi_chan_lockp(gf_chan_t *c);
GF_HIDDEN struct gfi_waitq *gfi_chan_q(gf_chan_t *c, bool send);
GF_HIDDEN int gfi_chan_trysend_locked(gf_chan_t *c, const void *ep,
				      gfi_g **wake);
GF_HIDDEN int gfi_chan_tryrecv_locked(gf_chan_t *c, void *ep, gfi_g **wake);
GF_HIDDEN size_t gfi_chan_elemsize(gf_chan_t *c);
GF_HIDDEN bool gfi_chan_dead_locked(gf_chan_t *c);
GF_HIDDEN bool gfi_chan_defer_judgment_locked(gf_chan_t *c);
/* gf_select; reason: the wait reason while parked on channels (a channel
 * call with a deadline is a one-case select, but waits as itself). */
GF_HIDDEN int gfi_select(gf_select_case_t *cases, int n, int64_t deadline,
			 uintptr_t pc, uint32_t reason);

#define SMALL 8

GF_HIDDEN bool gfi_chan_held_by_parked(gf_chan_t *c);
GF_HIDDEN void gfi_chan_mark_leaked(gf_chan_t *c);
GF_HIDDEN void gfi_chan_nsel_add(gf_chan_t *c, long d);

struct gfi_selstate {
	gf_select_case_t *cases;
	uint16_t *lockorder;
	int n;
	struct gfi_timer *t;
	int64_t deadline;
	gfi_g *gp;
	bool allnil;		/* no case has a channel */
};

/* Waits without deadline on a channel are judged for leaks. */
static inline bool sel_judged(const struct gfi_selstate *s)
{
	return s->deadline < 0 && !s->allnil;
}

static void sellock(struct gfi_selstate *s)
{
	gf_chan_t *last = NULL;
	int i;

	for (i = 0; i < s->n; i++) {
		gf_chan_t *c = s->cases[s->lockorder[i]].chan;

		if (c && c != last)
			gfi_lock(gfi_chan_lockp(c));
		last = c;
	}
}

static void selunlock(struct gfi_selstate *s)
{
	gf_chan_t *last = NULL;
	int i;

	for (i = s->n - 1; i >= 0; i--) {
		gf_chan_t *c = s->cases[s->lockorder[i]].chan;

		if (c && c != last)
			gfi_unlock(gfi_chan_lockp(c));
		last = c;
	}
}

/*
 * Unlock every channel but the lowest (lockorder's first non-nil one,
 * which pass 3 takes first); returns that one's lock, or NULL when
 * every case is nil. For the park: see selpark_unlock.
 */
static int *selunlock_but_first(struct gfi_selstate *s)
{
	gf_chan_t *first = NULL, *last = NULL;
	int i, f;

	for (f = 0; f < s->n && !first; f++)
		first = s->cases[s->lockorder[f]].chan;
	for (i = s->n - 1; i >= f; i--) {
		gf_chan_t *c = s->cases[s->lockorder[i]].chan;

		if (c != last && c != first)
			gfi_unlock(gfi_chan_lockp(c));
		last = c;
	}
	return first ? gfi_chan_lockp(first) : NULL;
}

/*
 * Pass 3's unlock: a channel whose references are all gone and whose
 * last waiter was this select (its deadline waiters leave here) is
 * freed once unlocked - nothing else can reach it.
 */
static void selunlock_free(struct gfi_selstate *s)
{
	gf_chan_t *last = NULL;
	int i;

	for (i = s->n - 1; i >= 0; i--) {
		gf_chan_t *c = s->cases[s->lockorder[i]].chan;

		if (c && c != last) {
			bool dead = gfi_chan_dead_locked(c);

			gfi_unlock(gfi_chan_lockp(c));
			if (dead)
				free(c);
		}
		last = c;
	}
}

/*
 * Leaks proven by references (chan.c) for a select: it can only be woken
 * through its channels, so it is stuck for good when each of them is
 * held only by fibers parked on it plainly (stuck themselves, once no
 * holder runs) and by this select - then they are all marked leaked. A
 * select sharing a channel with another select is not judged (a cycle
 * of selects would need a graph walk; never a false accusation).
 */
void gfi_select_judge(struct gfi_selstate *s, gf_chan_t *held)
{
	gf_chan_t *last = NULL;
	int i, nlocked = 0;
	bool ok = true;

	for (i = 0; held && i < s->n; i++) {
		gf_chan_t *c = s->cases[s->lockorder[i]].chan;

		if (c && c != last && c != held) {
			if (!gfi_trylock(gfi_chan_lockp(c))) {
				ok = false;	/* busy: judged another time */
				break;
			}
		}
		last = c;
		nlocked = i + 1;
	}
	if (ok && !atomic_load(&s->gp->selectdone)) {
		gf_chan_t *anchor = held;

		for (i = 0; ok && i < s->n; i++) {
			gf_chan_t *c = s->cases[i].chan;

			ok = !c || gfi_chan_held_by_parked(c);
			if (c && !anchor)
				anchor = c;
		}
		/* A fresh fiber may still take a reference: judged again
		 * through anchor (all ours are locked) once none is. */
		if (ok && anchor && gfi_chan_defer_judgment_locked(anchor))
			ok = false;
		if (ok) {
			/*
			 * The fibers parked on the channels first: a dump that
			 * shows this select leaked shows its partners so too.
			 */
			for (i = 0; i < s->n; i++)
				if (s->cases[i].chan)
					gfi_chan_mark_leaked(s->cases[i].chan);
			gfi_mark_g_leaked(s->gp);
		}
	}
	for (last = NULL, i = 0; held && i < nlocked; i++) {
		gf_chan_t *c = s->cases[s->lockorder[i]].chan;

		if (c && c != last && c != held)
			gfi_unlock(gfi_chan_lockp(c));
		last = c;
	}
}

/*
 * Commit the park (gp suspended, status waiting): judge it, arm its
 * deadline, drop the channel locks.
 *
 * s lives on gp's stack, its arrays on the heap with more than SMALL
 * cases; both are gone once gfi_select returns. The park callback must
 * not touch them once gp can get past its park (Go's rule for
 * selparkcommit). The timer is armed first, every lock still held: a
 * waker that readies gp later finds it armed, and gp's gfi_timer_stop,
 * made before pass 3, removes it. Once armed, the timer (or, after an
 * unlock, a waker on that channel) may ready gp on another thread, but
 * gp's pass 3 takes lockorder's first channel first, so gp cannot
 * return while that one lock is held: every other lock is dropped, that
 * one kept in a local and dropped last. With every case nil nothing is
 * locked and arming the timer is the last thing done.
 */
static bool selpark_unlock(gf_fiber_t *gp, void *arg)
{
	struct gfi_selstate *s = arg;
	struct gfi_timer *t = s->t;
	int64_t deadline = s->deadline;
	int *first;

	(void)gp;
	if (sel_judged(s))
		gfi_select_judge(s, NULL);
	else if (s->deadline < 0)
		gfi_mark_g_leaked(s->gp);	/* select {}: never wakes */
	if (s->allnil) {
		/* No read of s from here on: gp may run and return. */
		if (t)
			gfi_timer_start(t, deadline);
		return true;
	}
	if (t) {
		gfi_timer_start(t, deadline);
		gfi_chaos(GFI_CHAOS_TIMER);
	}
	first = selunlock_but_first(s);
	/* No read of s from here on: gp may get past this lock and return. */
	gfi_unlock(first);
	return true;
}

static void sel_deadline(void *arg, int64_t now)
{
	gfi_g *gp = arg;
	uint32_t zero = 0;

	(void)now;
	if (atomic_compare_exchange_strong(&gp->selectdone, &zero, 1)) {
		gp->param = NULL;
		gfi_ready(gp, false);
	}
}

int gfi_select(gf_select_case_t *cases, int n, int64_t deadline, uintptr_t pc,
	       uint32_t reason)
{
	uint16_t order_s[2 * SMALL], *order = order_s, *pollorder, *lockorder;
	struct gfi_sudog sgs_s[SMALL], *sgs = sgs_s;
	struct gfi_timer t = { .f = sel_deadline };
	struct gfi_selstate s;
	gfi_g *gp = gfi_getg();
	struct gfi_m *m;
	struct gfi_sudog *winner;
	gfi_g *wake;
	int i, j, allnil = 1, ret = -1;
	uint64_t *rnd;

	if (n < 0 || n > 65536 || (n > 0 && !cases)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((cases[i].dir != GF_SELECT_RECV &&
		     cases[i].dir != GF_SELECT_SEND) ||
		    (cases[i].dir == GF_SELECT_SEND && cases[i].chan &&
		     !cases[i].elem && gfi_chan_elemsize(cases[i].chan))) {
			errno = EINVAL;
			return -1;
		}
		cases[i].ok = false;
		if (cases[i].chan)
			allnil = 0;
	}
	/* Negative but not GF_FOREVER: long passed (chan.c's
	 * deadline_norm). */
	if (deadline < 0 && deadline != GFI_FOREVER)
		deadline = 1;
	if (n > SMALL) {
		order = malloc(sizeof(*order) * 2 * (size_t)n);
		sgs = malloc(sizeof(*sgs) * (size_t)n);
		if (!order || !sgs) {
			free(order);
			free(sgs);
			errno = ENOMEM;
			return -1;
		}
	}
	pollorder = order;
	lockorder = order + n;

	/* Random poll order (Fisher-Yates), lock order by address. */
	m = gfi_getm();
	rnd = m && m->p ? &m->p->rand : (m ? &m->rand : NULL);
	{
		uint64_t local = rnd ? 0 : gfi_rand_plain();

		if (!rnd)
			rnd = &local;
		for (i = 0; i < n; i++) {
			j = (int)(gfi_rand(rnd) % (uint64_t)(i + 1));
			pollorder[i] = pollorder[j];
			pollorder[j] = (uint16_t)i;
		}
	}
	for (i = 0; i < n; i++) {
		uint16_t v = (uint16_t)i;

		for (j = i; j > 0 && (uintptr_t)cases[lockorder[j - 1]].chan >
					     (uintptr_t)cases[v].chan; j--)
			lockorder[j] = lockorder[j - 1];
		lockorder[j] = v;
	}
	s = (struct gfi_selstate){ cases, lockorder, n, NULL, deadline, gp,
				   allnil };

	/* Pass 1. */
	sellock(&s);
	for (i = 0; i < n; i++) {
		gf_select_case_t *cs = &cases[pollorder[i]];
		gf_chan_t *c = cs->chan;
		int r;

		if (!c)
			continue;
		if (cs->dir == GF_SELECT_RECV)
			r = gfi_chan_tryrecv_locked(c, cs->elem, &wake);
		else
			r = gfi_chan_trysend_locked(c, cs->elem, &wake);
		if (!r)
			continue;
		cs->ok = r == 1;
		selunlock(&s);
		if (wake)		/* after every lock, as Go */
			gfi_ready(wake, true);
		ret = pollorder[i];
		goto out;
	}
	if (deadline == 0 || (deadline > 0 && deadline <= gfi_nanotime())) {
		selunlock(&s);
		errno = deadline == 0 ? EAGAIN : ETIMEDOUT;
		goto out;
	}
	if (!gp) {
		selunlock(&s);
		errno = EPERM;
		goto out;
	}

	/* Pass 2. */
	atomic_store(&gp->selectdone, 0);
	gp->param = NULL;
	for (i = 0; i < n; i++) {
		int k = lockorder[i];
		gf_select_case_t *cs = &cases[k];

		sgs[k] = (struct gfi_sudog){ .g = gp, .elem = cs->elem,
					     .c = cs->chan, .is_select = true,
					     .sel = cs->chan && sel_judged(&s) ?
						    &s : NULL };
		if (!cs->chan)
			continue;
		gfi_waitq_push(gfi_chan_q(cs->chan, cs->dir == GF_SELECT_SEND),
			       &sgs[k]);
		if (sgs[k].sel)
			gfi_chan_nsel_add(cs->chan, 1);
	}
	if (deadline > 0) {
		t.arg = gp;
		s.t = &t;
	}
	gfi_park(selpark_unlock, &s,
		 allnil ? GF_WAIT_SELECT_NO_CASES : reason, pc,
		 allnil ? NULL : cases[0].chan);
	if (s.t)
		gfi_timer_stop(&t);

	/* Pass 3. */
	sellock(&s);
	winner = gp->param;
	gp->param = NULL;
	for (i = 0; i < n; i++) {
		gf_select_case_t *cs = &cases[i];

		if (sgs[i].sel)		/* winner too: counted while parked */
			gfi_chan_nsel_add(cs->chan, -1);
		if (&sgs[i] == winner) {
			ret = i;
			cs->ok = winner->success;
			continue;
		}
		if (cs->chan)
			gfi_waitq_remove(gfi_chan_q(cs->chan,
						    cs->dir == GF_SELECT_SEND),
					 &sgs[i]);
	}
	selunlock_free(&s);
	if (!winner)
		errno = ETIMEDOUT;
out:
	if (order != order_s) {
		free(order);
		free(sgs);
	}
	return ret;
}

GF_API int gf_select(gf_select_case_t *cases, int n)
{
	return gfi_select(cases, n, GFI_FOREVER,
			  (uintptr_t)__builtin_return_address(0), GF_WAIT_SELECT);
}

GF_API int gf_select_until(gf_select_case_t *cases, int n,
			   gf_deadline_t until)
{
	return gfi_select(cases, n, until.ns,
			  (uintptr_t)__builtin_return_address(0), GF_WAIT_SELECT);
}
