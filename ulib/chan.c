// SPDX-License-Identifier: MIT
/*
 * chan.c - channels, a port of Go's runtime/chan.go.
 *
 * Invariants (Go's), all under c->lock:
 *  - At least one of sendq and recvq is empty, except for an unbuffered
 *    channel with one fiber blocked in a select on both sides.
 *  - Buffered: qcount > 0 implies recvq is empty; qcount < dataqsiz
 *    implies sendq is empty.
 *  - Values move directly between a sender's and a receiver's stack when
 *    one of them waits (the waiter is parked: its stack is stable).
 *  - Waiters are woken after c->lock is dropped (gfi_ready may wake an
 *    M; holding a spinlock over that would make others spin).
 *
 * Errors instead of Go's panics: send on a closed channel -> EPIPE (also
 * for a sender blocked when the channel closes), close of a closed one
 * -> EPIPE, close(nil) -> EINVAL.
 *
 * Leaks proven by references (the C side of Go 1.26's leak profile):
 * c->refs counts handles; nplain counts fibers parked in a plain
 * send/receive on c. The convention: a fiber given a channel takes its
 * own reference (gf_chan_ref) and drops it when done. Then refs <= nplain
 * means only those parked fibers can still reach c: none of them will
 * ever run again, so they are marked leaked (status 10), at the moment
 * the condition becomes true: the last other reference dropped, or the
 * last fiber parking. The park-time check runs only on channels that
 * follow the convention (gf_chan_ref was called on them: c->counted), so
 * a program that shares one handle among fibers is never accused; its
 * channels are still proven leaked when the last reference is dropped
 * with fibers parked (refs == 0: nobody holds a handle at all).
 * A fiber parked in a select (no deadline) is judged by select.c over
 * all its channels; nsel counts such selects' sudogs, so that the same
 * two moments here (a reference dropped, a fiber parking) look at them
 * only when the counts say it could be true.
 *
 * A leaked mark means "can never wake", so two kinds of holders that the
 * counts cannot see stop a judgment:
 *  - an armed timer that delivers on c (c->ntimers, timer.c): it will
 *    send, whoever else holds c;
 *  - a fiber created and not yet settled (gfi_sched.nfresh, fiber.c): it may
 *    be about to take the reference its creator handed it. The judgment
 *    is deferred (c on the deferred list, pinned) and made again once
 *    no fiber is fresh (chan_settled), so a true leak is still marked.
 *
 * Lifetime: c is freed when nothing can reach it any more - no
 * reference, no waiter queued, not on the deferred list - by whoever
 * makes that true under c->lock: the last gf_chan_unref, a select
 * taking its last sudog off (select.c: the deadline waiters of a
 * channel whose references are all gone), or the deferred judgment.
 * refs changes under c->lock only when it drops (a reference is only
 * added by a holder, so it cannot race with the free).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

struct gf_chan {
	int lock;
	bool closed;
	uint32_t elemsize;
	size_t dataqsiz;		/* buffer capacity */
	size_t qcount;			/* values in the buffer */
	size_t sendx, recvx;		/* buffer indexes */
	struct gfi_waitq recvq, sendq;
	atomic_long refs;
	bool counted;			/* gf_chan_ref used: convention on */
	bool deferred;			/* on the deferred list: pinned */
	long nplain;			/* plain waiters, for leak proofs */
	long nsel;			/* judged select sudogs (select.c) */
	long ntimers;			/* armed timers delivering on c */
	gf_chan_t *defer_next;		/* the deferred list's link */
	char *buf;
};

/* Channels whose leak judgment waits for fresh fibers to settle. */
static int defer_lock;
static gf_chan_t *defer_list;

GF_HIDDEN int gfi_chan_lock_addr_cmp(const gf_chan_t *a, const gf_chan_t *b);
GF_HIDDEN void gfi_chan_mark_leaked(gf_chan_t *c);

GF_API gf_chan_t *gf_chan_new(size_t elemsize, size_t cap)
{
	gf_chan_t *c;

	if (elemsize > 65536 || cap > (1ul << 31)) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c) + elemsize * cap);
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->elemsize = (uint32_t)elemsize;
	c->dataqsiz = cap;
	c->buf = (char *)(c + 1);
	atomic_init(&c->refs, 1);
	return c;
}

GF_API gf_chan_t *gf_chan_ref(gf_chan_t *c)
{
	if (c) {
		atomic_fetch_add(&c->refs, 1);
		if (!__atomic_load_n(&c->counted, __ATOMIC_RELAXED))
			__atomic_store_n(&c->counted, true, __ATOMIC_RELAXED);
	}
	return c;
}

/* A reference of the runtime's own (gf_after's timer): it keeps c alive
 * but does not turn the convention on for the user's channel. */
GF_HIDDEN gf_chan_t *gfi_chan_ref_quiet(gf_chan_t *c);
gf_chan_t *gfi_chan_ref_quiet(gf_chan_t *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

/* Nothing can reach c any more (c locked): the caller frees it once it
 * dropped the lock. */
static bool chan_dead_locked(gf_chan_t *c)
{
	return atomic_load(&c->refs) == 0 && !c->recvq.first &&
	       !c->sendq.first && !c->deferred;
}

GF_HIDDEN bool gfi_chan_dead_locked(gf_chan_t *c);
bool gfi_chan_dead_locked(gf_chan_t *c)
{
	return chan_dead_locked(c);
}

static void chan_settled(void);

/*
 * While some fiber is fresh, put c on the deferred list (c locked) and
 * say so: the judgment is made again once none is. Pushed, then the
 * count read again under the list lock: a settling fiber that empties
 * the list before our push has already dropped the count, so we see 0
 * and judge now ourselves (the list lock orders the two).
 */
static bool defer_judgment_locked(gf_chan_t *c)
{
	bool still;

	if (!atomic_load(&gfi_sched.nfresh))
		return false;
	if (c->deferred)
		return true;
	gfi_lock(&defer_lock);
	c->deferred = true;
	c->defer_next = defer_list;
	defer_list = c;
	if (!atomic_load(&gfi_settled_hook))
		atomic_store(&gfi_settled_hook, chan_settled);
	still = atomic_load(&gfi_sched.nfresh) != 0;
	gfi_unlock(&defer_lock);
	return still;
}

/* Judge the selects parked on c (c locked; they stay parked: each must
 * take c's lock to leave its select). */
static void judge_selects(struct gfi_waitq *q, gf_chan_t *c)
{
	struct gfi_sudog *sg;

	for (sg = q->first; sg; sg = sg->next)
		if (sg->sel && !atomic_load(&sg->g->selectdone))
			gfi_select_judge(sg->sel, c);
}

static void check_leak_locked(gf_chan_t *c)
{
	long refs = atomic_load(&c->refs);
	bool plain, sel;

	if (c->ntimers > 0)
		return;		/* a timer will send: not provable */
	/* uncounted (handles shared, not referenced): only refs == 0 */
	plain = c->nplain > 0 && (refs == 0 || (c->counted &&
						 refs <= c->nplain));
	sel = c->nsel > 0 && (refs == 0 || c->counted) &&
	      refs <= c->nplain + c->nsel;
	if (!plain && !sel)
		return;
	if (defer_judgment_locked(c))
		return;
	if (plain)
		gfi_chan_mark_leaked(c);
	if (sel) {
		judge_selects(&c->recvq, c);
		judge_selects(&c->sendq, c);
	}
}

/*
 * gfi_settled_hook: the last fresh fiber settled (a scheduler context,
 * no lock held). Judge every deferred channel again; one still
 * provable is marked now (or deferred again if a new fiber is fresh).
 */
static void chan_settled(void)
{
	gf_chan_t *c, *next;
	bool dead;

	gfi_lock(&defer_lock);
	c = defer_list;
	defer_list = NULL;
	gfi_unlock(&defer_lock);
	for (; c; c = next) {
		gfi_lock(&c->lock);
		next = c->defer_next;
		c->deferred = false;
		check_leak_locked(c);
		dead = chan_dead_locked(c);
		gfi_unlock(&c->lock);
		if (dead)
			free(c);
	}
}

/* The count of armed timers delivering on c (timer.c): +1 armed, -1
 * stopped or fired for good; the last one gone may prove a leak. */
GF_HIDDEN void gfi_chan_timers_add(gf_chan_t *c, long d);
void gfi_chan_timers_add(gf_chan_t *c, long d)
{
	gfi_lock(&c->lock);
	c->ntimers += d;
	gfi_assert(c->ntimers >= 0);
	if (!c->ntimers)
		check_leak_locked(c);
	gfi_unlock(&c->lock);
}

/*
 * For select.c's judgment (c locked): every reference to c is held by a
 * fiber parked on it plainly, or is the one of the select being judged.
 */
GF_HIDDEN bool gfi_chan_held_by_parked(gf_chan_t *c);
bool gfi_chan_held_by_parked(gf_chan_t *c)
{
	long refs = atomic_load(&c->refs);

	if (c->ntimers > 0)
		return false;	/* a timer will send on it */
	return refs == 0 || (c->counted && refs <= c->nplain + 1);
}

/* For select.c: a select about to judge itself at its park, while some
 * fiber is fresh, defers through c instead (c locked): true if so. */
GF_HIDDEN bool gfi_chan_defer_judgment_locked(gf_chan_t *c);
bool gfi_chan_defer_judgment_locked(gf_chan_t *c)
{
	return defer_judgment_locked(c);
}

void gfi_chan_mark_leaked(gf_chan_t *c)
{
	gfi_mark_leaked(&c->recvq);
	gfi_mark_leaked(&c->sendq);
}

GF_HIDDEN void gfi_chan_nsel_add(gf_chan_t *c, long d);
void gfi_chan_nsel_add(gf_chan_t *c, long d)
{
	c->nsel += d;
}

GF_API void gf_chan_unref(gf_chan_t *c)
{
	bool dead;

	if (!c)
		return;
	/*
	 * The drop under the lock: once another holder's drop may reach
	 * zero and free c, this one must be done with c. A drop before the
	 * lock would let that holder free c between our drop and our lock.
	 */
	gfi_lock(&c->lock);
	if (atomic_fetch_sub(&c->refs, 1) < 1)
		gfi_fatal("gf_chan_unref: reference count below zero");
	gfi_chaos(GFI_CHAOS_REF);
	/* Parked fibers keep the channel alive (Go's GC would too). */
	check_leak_locked(c);
	dead = chan_dead_locked(c);
	gfi_unlock(&c->lock);
	if (dead)
		free(c);
}

/* memcpy of one element; 0-byte elements may come with NULL pointers */
static inline void elemcpy(void *dst, const void *src, size_t n)
{
	if (n == 8)		/* the common case: one move, no call */
		__builtin_memcpy(dst, src, 8);
	else if (n)
		memcpy(dst, src, n);
}

static inline void *chanbuf(gf_chan_t *c, size_t i)
{
	return c->buf + i * c->elemsize;
}

static bool chan_unlock(gf_fiber_t *gp, void *lock)
{
	gf_chan_t *c = (gf_chan_t *)((char *)lock - offsetof(gf_chan_t, lock));

	(void)gp;
	c->nplain++;
	if (__atomic_load_n(&c->counted, __ATOMIC_RELAXED))
		check_leak_locked(c);
	gfi_unlock(&c->lock);
	return true;
}

/*
 * The partner of a completed operation is readied only after every lock
 * of the operation is dropped - c's, and in a select all its other
 * channels' (Go passes selunlock as the unlock of send/recv): readying
 * may wake an M, and the partner's first act is often to take one of
 * those locks. So the functions below leave c locked and hand the G to
 * ready back through *wake.
 */

/* Hand ep to the waiting receiver sg (c locked). Always inline, as
 * recv_direct: out of line, the call and its register saves cost as
 * much as the hand-over itself (32 instructions, 18 of them those). */
static inline __attribute__((always_inline)) gfi_g *
send_direct(gf_chan_t *c, struct gfi_sudog *sg, const void *ep)
{
	if (sg->elem)
		elemcpy(sg->elem, ep, c->elemsize);
	sg->success = true;
	if (!sg->is_select)
		c->nplain--;
	return sg->g;
}

/* Take from the waiting sender sg (c locked). */
static inline __attribute__((always_inline)) gfi_g *
recv_direct(gf_chan_t *c, struct gfi_sudog *sg, void *ep)
{
	if (c->dataqsiz == 0) {
		if (ep)
			elemcpy(ep, sg->elem, c->elemsize);
	} else {
		/* Full buffer: take its head, the sender's value goes to
		 * the tail (the same slot). */
		void *qp = chanbuf(c, c->recvx);

		if (ep)
			elemcpy(ep, qp, c->elemsize);
		elemcpy(qp, sg->elem, c->elemsize);
		if (++c->recvx == c->dataqsiz)
			c->recvx = 0;
		c->sendx = c->recvx;
	}
	sg->success = true;
	if (!sg->is_select)
		c->nplain--;
	return sg->g;
}

/*
 * Try to complete a send without blocking, c locked (and left locked).
 * Returns 1 done, 0 would block, -1 closed; *wake: the receiver to ready
 * once every lock is dropped, or NULL.
 */
static inline int trysend_locked(gf_chan_t *c, const void *ep, gfi_g **wake)
{
	struct gfi_sudog *sg;

	*wake = NULL;
	if (c->closed)
		return -1;
	sg = gfi_waitq_dequeue(&c->recvq);
	if (sg) {
		*wake = send_direct(c, sg, ep);
		return 1;
	}
	if (c->qcount < c->dataqsiz) {
		elemcpy(chanbuf(c, c->sendx), ep, c->elemsize);
		if (++c->sendx == c->dataqsiz)
			c->sendx = 0;
		c->qcount++;
		return 1;
	}
	return 0;
}

/* As trysend: 1 value, 2 closed and drained (*ep zeroed), 0 would
 * block; c stays locked. */
static inline int tryrecv_locked(gf_chan_t *c, void *ep, gfi_g **wake)
{
	struct gfi_sudog *sg;

	*wake = NULL;
	if (c->closed && c->qcount == 0) {
		if (ep && c->elemsize)
			memset(ep, 0, c->elemsize);
		return 2;
	}
	sg = gfi_waitq_dequeue(&c->sendq);
	if (sg) {
		*wake = recv_direct(c, sg, ep);
		return 1;
	}
	if (c->qcount > 0) {
		void *qp = chanbuf(c, c->recvx);

		if (ep)
			elemcpy(ep, qp, c->elemsize);
		if (++c->recvx == c->dataqsiz)
			c->recvx = 0;
		c->qcount--;
		return 1;
	}
	return 0;
}

/* gf_select; reason: the wait reason while parked on channels (a channel
 * call with a deadline is a one-case select, but waits as itself). */
GF_HIDDEN int gfi_select(gf_select_case_t *cases, int n, int64_t deadline,
			 uintptr_t pc, uint32_t reason);

/* Parked on a nil channel for good: nothing can ever wake it (Go's
 * leak profile reports these too), so it is leaked from the start. */
static bool nil_unlock(gf_fiber_t *gp, void *unused)
{
	(void)unused;
	gfi_mark_g_leaked(gp);
	return true;
}

static int nil_block(int64_t deadline, uint32_t reason, uintptr_t pc)
{
	gfi_g *gp = gfi_getg();

	if (deadline == 0) {
		errno = EAGAIN;
		return -1;
	}
	if (deadline > 0 && deadline <= gfi_nanotime()) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (!gp) {
		errno = EPERM;
		return -1;
	}
	atomic_store(&gp->selectdone, 0);
	gfi_park_deadline(deadline < 0 ? nil_unlock : NULL, NULL, reason, pc,
			  NULL, deadline);
	errno = ETIMEDOUT;
	return -1;
}

/*
 * The deadline convention (gfiber.h): GF_FOREVER blocks, GF_NOWAIT never
 * does, any other negative value is a time long passed (1 ns: before
 * every real clock reading), so it fails with ETIMEDOUT instead of
 * blocking for good.
 */
static inline int64_t deadline_norm(int64_t deadline)
{
	return deadline < 0 && deadline != GFI_FOREVER ? 1 : deadline;
}

static int chansend(gf_chan_t *c, const void *ep, int64_t deadline,
		    uintptr_t pc)
{
	struct gfi_sudog mysg;
	gfi_g *gp, *wake;
	int r;

	deadline = deadline_norm(deadline);
	if (!c)
		return nil_block(deadline, GF_WAIT_CHAN_SEND_NIL, pc);
	if (!ep && c->elemsize) {
		errno = EINVAL;		/* no value to send */
		return -1;
	}
	gfi_lock(&c->lock);
	r = trysend_locked(c, ep, &wake);
	if (r) {
		gfi_unlock(&c->lock);
		if (wake)
			gfi_ready(wake, true);
		if (r < 0)
			errno = EPIPE;
		return r < 0 ? -1 : 0;
	}
	if (deadline == 0) {
		gfi_unlock(&c->lock);
		errno = EAGAIN;
		return -1;
	}
	gp = gfi_getg();
	if (!gp) {
		gfi_unlock(&c->lock);
		errno = EPERM;
		return -1;
	}
	if (deadline > 0) {
		gf_select_case_t sc = { c, GF_SELECT_SEND, (void *)ep, false };

		gfi_unlock(&c->lock);
		r = gfi_select(&sc, 1, deadline, pc, GF_WAIT_CHAN_SEND);
		if (r < 0)
			return -1;
		if (!sc.ok) {
			errno = EPIPE;
			return -1;
		}
		return 0;
	}
	mysg = (struct gfi_sudog){ .g = gp, .elem = (void *)ep, .c = c };
	gfi_waitq_push(&c->sendq, &mysg);
	gfi_park(chan_unlock, &c->lock, GF_WAIT_CHAN_SEND, pc, c);
	if (!mysg.success) {
		errno = EPIPE;
		return -1;
	}
	return 0;
}

static int chanrecv(gf_chan_t *c, void *ep, int64_t deadline, uintptr_t pc)
{
	struct gfi_sudog mysg;
	gfi_g *gp, *wake;
	int r;

	deadline = deadline_norm(deadline);
	if (!c)
		return nil_block(deadline, GF_WAIT_CHAN_RECV_NIL, pc);
	gfi_lock(&c->lock);
	r = tryrecv_locked(c, ep, &wake);
	if (r) {
		gfi_unlock(&c->lock);
		if (wake)
			gfi_ready(wake, true);
		return r == 1 ? 1 : 0;
	}
	if (deadline == 0) {
		gfi_unlock(&c->lock);
		errno = EAGAIN;
		return -1;
	}
	gp = gfi_getg();
	if (!gp) {
		gfi_unlock(&c->lock);
		errno = EPERM;
		return -1;
	}
	if (deadline > 0) {
		gf_select_case_t sc = { c, GF_SELECT_RECV, ep, false };

		gfi_unlock(&c->lock);
		r = gfi_select(&sc, 1, deadline, pc, GF_WAIT_CHAN_RECV);
		if (r < 0)
			return -1;
		return sc.ok ? 1 : 0;
	}
	mysg = (struct gfi_sudog){ .g = gp, .elem = ep, .c = c };
	gfi_waitq_push(&c->recvq, &mysg);
	gfi_park(chan_unlock, &c->lock, GF_WAIT_CHAN_RECV, pc, c);
	return mysg.success ? 1 : 0;
}

GF_API int gf_chan_send(gf_chan_t *c, const void *elem)
{
	return chansend(c, elem, GFI_FOREVER,
			(uintptr_t)__builtin_return_address(0));
}

GF_API int gf_chan_send_until(gf_chan_t *c, const void *elem,
			      gf_deadline_t until)
{
	return chansend(c, elem, until.ns,
			(uintptr_t)__builtin_return_address(0));
}

/* chanrecv's 1 (a value) / 0 (closed and drained) as the API's 0 / -1
 * with EPIPE: one return convention for every call. */
static int recv_result(int r)
{
	if (r == 0) {
		errno = EPIPE;
		return -1;
	}
	return r < 0 ? -1 : 0;
}

GF_API int gf_chan_recv(gf_chan_t *c, void *elem)
{
	return recv_result(chanrecv(c, elem, GFI_FOREVER,
				    (uintptr_t)__builtin_return_address(0)));
}

GF_API int gf_chan_recv_until(gf_chan_t *c, void *elem, gf_deadline_t until)
{
	return recv_result(chanrecv(c, elem, until.ns,
				    (uintptr_t)__builtin_return_address(0)));
}

GF_API int gf_chan_close(gf_chan_t *c)
{
	struct gfi_sudog *sg, *list = NULL;

	if (!c) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&c->lock);
	if (c->closed) {
		gfi_unlock(&c->lock);
		errno = EPIPE;
		return -1;
	}
	c->closed = true;
	/* Every receiver gets a zero value and "closed", every sender EPIPE.
	 * Collected under the lock, readied after it (sudogs stay valid:
	 * their fibers are parked until readied). */
	while ((sg = gfi_waitq_dequeue(&c->recvq))) {
		if (sg->elem && c->elemsize)
			memset(sg->elem, 0, c->elemsize);
		sg->success = false;
		if (!sg->is_select)
			c->nplain--;
		sg->next = list;
		list = sg;
	}
	while ((sg = gfi_waitq_dequeue(&c->sendq))) {
		sg->success = false;
		if (!sg->is_select)
			c->nplain--;
		sg->next = list;
		list = sg;
	}
	gfi_unlock(&c->lock);
	while (list) {
		sg = list;
		list = sg->next;
		gfi_ready(sg->g, false);
	}
	return 0;
}

GF_API size_t gf_chan_len(gf_chan_t *c)
{
	size_t n;

	if (!c)
		return 0;
	gfi_lock(&c->lock);
	n = c->qcount;
	gfi_unlock(&c->lock);
	return n;
}

GF_API size_t gf_chan_cap(gf_chan_t *c)
{
	return c ? c->dataqsiz : 0;
}

GF_API size_t gf_chan_elemsize(gf_chan_t *c)
{
	return c ? c->elemsize : 0;
}

/* ---------------------------------------------------------- for select */

GF_HIDDEN int gfi_chan_trysend_locked(gf_chan_t *c, const void *ep,
				      gfi_g **wake);
int gfi_chan_trysend_locked(gf_chan_t *c, const void *ep, gfi_g **wake)
{
	return trysend_locked(c, ep, wake);
}

GF_HIDDEN int gfi_chan_tryrecv_locked(gf_chan_t *c, void *ep, gfi_g **wake);
int gfi_chan_tryrecv_locked(gf_chan_t *c, void *ep, gfi_g **wake)
{
	return tryrecv_locked(c, ep, wake);
}

GF_HIDDEN size_t gfi_chan_elemsize(gf_chan_t *c);
size_t gfi_chan_elemsize(gf_chan_t *c)
{
	return c->elemsize;
}

GF_HIDDEN int *gfi_chan_lockp(gf_chan_t *c);
int *gfi_chan_lockp(gf_chan_t *c)
{
	return &c->lock;
}

GF_HIDDEN struct gfi_waitq *gfi_chan_q(gf_chan_t *c, bool send);
struct gfi_waitq *gfi_chan_q(gf_chan_t *c, bool send)
{
	return send ? &c->sendq : &c->recvq;
}
