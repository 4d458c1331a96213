// SPDX-License-Identifier: MIT
/*
 * sync.c - Go's sync package on park/ready: Mutex, RWMutex, Cond,
 * WaitGroup, Once, and a counting semaphore.
 *
 * One wait idiom for all (wq_wait): under the object's spinlock, push a
 * sudog on the object's FIFO queue and park with the object's own wait
 * reason; the unlock callback drops the spinlock after the switch. A
 * waker pops the first sudog (wq_pop: a waiter whose deadline already
 * won is skipped), hands the resource over (ownership passes with the
 * wake-up: no barging, strict FIFO, Go's starvation mode) and readies it
 * after dropping the spinlock. A deadline wait uses the selectdone race
 * of select.c: exactly one of waker and timer wins.
 *
 * Misuse is an error, never a crash or a silent success: a NULL object
 * (or gf_once's NULL fn) fails with EINVAL, a wait that would block
 * outside a fiber with EPERM (as channels, select and sleep), a
 * negative deadline other than GF_FOREVER is one already passed
 * (ETIMEDOUT once the call would block), a cond wait on a mutex that is
 * not locked fails with EPERM and leaves it alone. So the calls that
 * can block return int, even where Go's return nothing.
 *
 * A waker never touches the object after the release that lets its
 * waiter return: it drops the spinlock and then readies the sudogs it
 * popped (they live on parked fibers' stacks). So an object on the
 * waiter's stack (a wait group that main waits on) outlives every
 * waker's use of it - provided the wakers do not touch it after their
 * Done: gf_waitgroup_done_unref drops the reference in the same step.
 *
 * Leaks proven by references (include/gfiber.h; chan.c has the same
 * rule): obj->leak.refs counts references, leak.nplain the fibers parked
 * on the object without a deadline (a deadline waiter will wake). Once
 * ref was called, refs <= nplain with nplain > 0 means every reference
 * left is held by a fiber parked here: nobody can ever wake them, so
 * they are marked leaked, at the moment it becomes true - in the unlock
 * callback of the last one parking (its status is already waiting) or
 * in the unref that drops the last other reference.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "runtime.h"

/* One object's wait: its spinlock, leak counts and queue(s). */
struct wq {
	int *lock;
	struct gf__leak *leak;
	struct gfi_waitq *q, *q2;	/* q2: rwmutex's other queue */
};

#define WQ(obj, queue) \
	((struct wq){ &(obj)->lock, &(obj)->leak, \
		      (struct gfi_waitq *)&(obj)->queue, NULL })
#define WQ2(obj, queue, other) \
	((struct wq){ &(obj)->lock, &(obj)->leak, \
		      (struct gfi_waitq *)&(obj)->queue, \
		      (struct gfi_waitq *)&(obj)->other })

/*
 * Mark the plain waiters leaked if the references prove it (locked).
 * Not while some fiber is fresh (created, not yet parked, yielded or
 * exited: fiber.c): it may be about to take its own reference, as the
 * convention lets it, and wake them. Channels judge again once no fiber
 * is fresh (chan.c); a sync object is the caller's memory, which a
 * deferred judgment could outlive, so its judgment is only skipped: the
 * next park on it or unref of it judges again. A mark may come late or
 * not at all, never falsely.
 */
static void leak_check(const struct wq *w)
{
	const struct gf__leak *lk = w->leak;

	if (!lk->counted || lk->nplain == 0 || lk->refs > lk->nplain)
		return;
	if (atomic_load(&gfi_sched.nfresh))
		return;
	gfi_mark_leaked(w->q);
	if (w->q2)
		gfi_mark_leaked(w->q2);
}

/* The unlock callback of a wait; w lives on the parked fiber's stack,
 * which stays put until the spinlock is dropped (nobody can wake it). */
struct wq_park {
	struct wq w;
	bool plain;
};

static bool wq_unlock(gf_fiber_t *gp, void *arg)
{
	struct wq_park *p = arg;
	int *lock = p->w.lock;

	(void)gp;
	if (p->plain) {
		p->w.leak->nplain++;
		leak_check(&p->w);
	}
	gfi_unlock(lock);
	return true;
}

/* A deadline that has passed: 0 (GF_NOWAIT), any negative one but
 * GF_FOREVER, or one not in the future. */
static bool deadline_passed(int64_t deadline)
{
	if (deadline == GFI_FOREVER)
		return false;
	return deadline <= 0 || deadline <= gfi_nanotime();
}

/* The errno of a wait that would block past deadline. */
static int deadline_errno(int64_t deadline)
{
	return deadline == GFI_NOWAIT ? EAGAIN : ETIMEDOUT;
}

/*
 * Wait on w.q, *w.lock held (released here, not retaken). Returns 0 when
 * handed the resource, -1 with errno on deadline (EAGAIN, ETIMEDOUT) or
 * outside a fiber (EPERM); the sudog is off the queue either way.
 * before_park, if set, is unlocked once the sudog is queued, before the
 * park, or on the way out when the wait ends at once (cond: the user's
 * mutex); if it is not locked, the wait fails with EPERM and *unlocked
 * is false (else true).
 */
static int wq_wait(struct wq w, uint32_t reason, uintptr_t pc, void *obj,
		   int64_t deadline, gf_mutex_t *before_park, bool *unlocked)
{
	gfi_g *gp = gfi_getg();
	struct gfi_sudog sg = { .g = gp };
	struct wq_park p = { .w = w, .plain = deadline == GFI_FOREVER };
	int err = 0;

	if (unlocked)
		*unlocked = false;
	if (deadline_passed(deadline))
		err = deadline_errno(deadline);
	else if (!gp)
		err = EPERM;
	if (err) {
		gfi_unlock(w.lock);
		if (before_park && gf_mutex_unlock(before_park))
			err = EPERM;
		else if (before_park)
			*unlocked = true;
		errno = err;
		return -1;
	}
	if (deadline > 0) {
		sg.is_select = true;
		atomic_store(&gp->selectdone, 0);
	}
	gfi_waitq_push(w.q, &sg);
	if (before_park) {
		/* Queued first: a signal after this unlock finds us. */
		if (gf_mutex_unlock(before_park)) {
			gfi_waitq_remove(w.q, &sg);
			gfi_unlock(w.lock);
			errno = EPERM;
			return -1;
		}
		*unlocked = true;
	}
	if (gfi_park_deadline(wq_unlock, &p, reason, pc, obj, deadline))
		return 0;
	gfi_lock(w.lock);
	gfi_waitq_remove(w.q, &sg);
	gfi_unlock(w.lock);
	errno = ETIMEDOUT;
	return -1;
}

/* The first waiter of q still waiting (locked), or NULL. */
static struct gfi_sudog *wq_pop(struct gf__leak *leak, struct gf__waitq *q)
{
	struct gfi_sudog *sg = gfi_waitq_dequeue((struct gfi_waitq *)q);

	if (sg && !sg->is_select)
		leak->nplain--;
	return sg;
}

static void wq_ref(struct wq w)
{
	gfi_lock(w.lock);
	w.leak->refs++;
	w.leak->counted = true;
	gfi_unlock(w.lock);
}

static void wq_unref(struct wq w, const char *what)
{
	gfi_lock(w.lock);
	if (--w.leak->refs < 0)
		gfi_fatal(what);
	leak_check(&w);
	gfi_unlock(w.lock);
}

/* ---------------------------------------------------------- mutex */

static int mutex_lock(gf_mutex_t *m, int64_t deadline, uintptr_t pc)
{
	if (!m) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&m->lock);
	if (!m->locked) {
		m->locked = 1;
		gfi_unlock(&m->lock);
		return 0;
	}
	/* Handed over by the unlocker: locked stays 1 for us. */
	return wq_wait(WQ(m, q), GF_WAIT_MUTEX_LOCK, pc, m, deadline, NULL,
		       NULL);
}

GF_API int gf_mutex_lock(gf_mutex_t *m)
{
	return mutex_lock(m, GFI_FOREVER,
			  (uintptr_t)__builtin_return_address(0));
}

GF_API int gf_mutex_lock_until(gf_mutex_t *m, gf_deadline_t until)
{
	return mutex_lock(m, until.ns, (uintptr_t)__builtin_return_address(0));
}

GF_API int gf_mutex_trylock(gf_mutex_t *m)
{
	int r = 0;

	if (!m) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&m->lock);
	if (m->locked) {
		errno = EBUSY;
		r = -1;
	} else {
		m->locked = 1;
	}
	gfi_unlock(&m->lock);
	return r;
}

GF_API int gf_mutex_unlock(gf_mutex_t *m)
{
	struct gfi_sudog *sg;

	if (!m) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&m->lock);
	if (!m->locked) {
		gfi_unlock(&m->lock);
		errno = EPERM;
		return -1;
	}
	sg = wq_pop(&m->leak, &m->q);
	if (!sg)
		m->locked = 0;
	gfi_unlock(&m->lock);
	if (sg)
		gfi_ready(sg->g, true);
	return 0;
}

GF_API gf_mutex_t *gf_mutex_ref(gf_mutex_t *m)
{
	if (!m) {
		errno = EINVAL;
		return NULL;
	}
	wq_ref(WQ(m, q));
	return m;
}

GF_API void gf_mutex_unref(gf_mutex_t *m)
{
	if (m)
		wq_unref(WQ(m, q),
			 "gf_mutex_unref: reference count below zero");
}

/* ---------------------------------------------------------- rwmutex */

/* Wake the next owners (rw->lock held, readers == 0): a waiting writer
 * first if one waits (Go's writer preference), else all readers. Also
 * called with readers > 0 and no writer left waiting, to let in the
 * readers queued behind a writer that gave up. Returns the list to ready
 * after unlocking. */
static struct gfi_sudog *rw_handoff(gf_rwmutex_t *rw, bool prefer_readers)
{
	struct gfi_sudog *sg, *list = NULL;

	if (!prefer_readers && rw->writers_waiting) {
		sg = wq_pop(&rw->leak, &rw->wq);
		if (sg) {
			rw->writers_waiting--;
			rw->readers = -1;
			sg->next = NULL;
			return sg;
		}
	}
	while ((sg = wq_pop(&rw->leak, &rw->rq))) {
		rw->readers++;
		sg->next = list;
		list = sg;
	}
	if (!list && rw->writers_waiting) {
		sg = wq_pop(&rw->leak, &rw->wq);
		if (sg) {
			rw->writers_waiting--;
			rw->readers = -1;
			sg->next = NULL;
			return sg;
		}
	}
	return list;
}

/* Ready the sudogs of list; each one's next is read before its fiber
 * can run (and return, ending the sudog). */
static void ready_list(struct gfi_sudog *list)
{
	while (list) {
		struct gfi_sudog *sg = list;

		list = sg->next;
		gfi_ready(sg->g, false);
	}
}

static int rwmutex_rlock(gf_rwmutex_t *rw, int64_t deadline, uintptr_t pc)
{
	if (!rw) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&rw->lock);
	if (rw->readers >= 0 && rw->writers_waiting == 0) {
		rw->readers++;
		gfi_unlock(&rw->lock);
		return 0;
	}
	/* The writer's unlock counts us in before waking us. */
	return wq_wait(WQ2(rw, rq, wq), GF_WAIT_RWMUTEX_RLOCK, pc, rw,
		       deadline, NULL, NULL);
}

GF_API int gf_rwmutex_rlock(gf_rwmutex_t *rw)
{
	return rwmutex_rlock(rw, GFI_FOREVER,
			     (uintptr_t)__builtin_return_address(0));
}

GF_API int gf_rwmutex_rlock_until(gf_rwmutex_t *rw, gf_deadline_t until)
{
	return rwmutex_rlock(rw, until.ns,
			     (uintptr_t)__builtin_return_address(0));
}

static int rwmutex_lock(gf_rwmutex_t *rw, int64_t deadline, uintptr_t pc)
{
	struct gfi_sudog *list = NULL;
	int err;

	if (!rw) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&rw->lock);
	if (rw->readers == 0) {
		rw->readers = -1;
		gfi_unlock(&rw->lock);
		return 0;
	}
	if (deadline_passed(deadline) || !gfi_getg()) {
		/* Never counted as waiting: the readers are not held up. */
		gfi_unlock(&rw->lock);
		errno = gfi_getg() ? deadline_errno(deadline) : EPERM;
		return -1;
	}
	rw->writers_waiting++;
	if (!wq_wait(WQ2(rw, wq, rq), GF_WAIT_RWMUTEX_LOCK, pc, rw, deadline,
		     NULL, NULL))
		return 0;
	err = errno;
	/*
	 * Gave up. Until now we counted as waiting (a handoff meanwhile
	 * found our sudog gone and fell back to the readers); readers that
	 * queued only because a writer waited may go in now.
	 */
	gfi_lock(&rw->lock);
	if (--rw->writers_waiting == 0 && rw->readers >= 0)
		list = rw_handoff(rw, true);
	gfi_unlock(&rw->lock);
	ready_list(list);
	errno = err;
	return -1;
}

GF_API int gf_rwmutex_lock(gf_rwmutex_t *rw)
{
	return rwmutex_lock(rw, GFI_FOREVER,
			    (uintptr_t)__builtin_return_address(0));
}

GF_API int gf_rwmutex_lock_until(gf_rwmutex_t *rw, gf_deadline_t until)
{
	return rwmutex_lock(rw, until.ns,
			    (uintptr_t)__builtin_return_address(0));
}

GF_API gf_rwmutex_t *gf_rwmutex_ref(gf_rwmutex_t *rw)
{
	if (!rw) {
		errno = EINVAL;
		return NULL;
	}
	wq_ref(WQ2(rw, rq, wq));
	return rw;
}

GF_API void gf_rwmutex_unref(gf_rwmutex_t *rw)
{
	if (rw)
		wq_unref(WQ2(rw, rq, wq),
			 "gf_rwmutex_unref: reference count below zero");
}

GF_API int gf_rwmutex_runlock(gf_rwmutex_t *rw)
{
	struct gfi_sudog *list = NULL;

	if (!rw) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&rw->lock);
	if (rw->readers <= 0) {
		gfi_unlock(&rw->lock);
		errno = EPERM;
		return -1;
	}
	if (--rw->readers == 0)
		list = rw_handoff(rw, false);
	gfi_unlock(&rw->lock);
	ready_list(list);
	return 0;
}

GF_API int gf_rwmutex_unlock(gf_rwmutex_t *rw)
{
	struct gfi_sudog *list;

	if (!rw) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&rw->lock);
	if (rw->readers != -1) {
		gfi_unlock(&rw->lock);
		errno = EPERM;
		return -1;
	}
	rw->readers = 0;
	/* Readers that queued behind this writer go first (Go's). */
	list = rw_handoff(rw, true);
	gfi_unlock(&rw->lock);
	ready_list(list);
	return 0;
}

/* ---------------------------------------------------------- cond */

/*
 * m must be locked (by the caller: no owner is kept, as in Go, so a
 * mutex locked by another fiber is not told apart): an unlocked m fails
 * with EPERM before anything is done, and is left unlocked. Otherwise m
 * is locked again on return, whatever the result.
 */
static int cond_wait(gf_cond_t *c, gf_mutex_t *m, int64_t deadline,
		     uintptr_t pc)
{
	bool unlocked;
	int r, err;

	if (!c || !m) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&m->lock);
	r = m->locked;
	gfi_unlock(&m->lock);
	if (!r || !gfi_getg()) {
		errno = EPERM;
		return -1;
	}
	if (deadline_passed(deadline)) {
		errno = deadline_errno(deadline);	/* m stays locked */
		return -1;
	}
	/* Queued before m is dropped: a signal after our unlock finds us. */
	gfi_lock(&c->lock);
	r = wq_wait(WQ(c, q), GF_WAIT_COND_WAIT, pc, c, deadline, m,
		    &unlocked);
	if (!unlocked)
		return r;	/* EPERM: m was unlocked by another meanwhile */
	err = errno;
	mutex_lock(m, GFI_FOREVER, pc);	/* in a fiber: cannot fail */
	errno = err;
	return r;
}

GF_API int gf_cond_wait(gf_cond_t *c, gf_mutex_t *m)
{
	return cond_wait(c, m, GFI_FOREVER,
			 (uintptr_t)__builtin_return_address(0));
}

GF_API int gf_cond_wait_until(gf_cond_t *c, gf_mutex_t *m,
			      gf_deadline_t until)
{
	return cond_wait(c, m, until.ns,
			 (uintptr_t)__builtin_return_address(0));
}

GF_API int gf_cond_signal(gf_cond_t *c)
{
	struct gfi_sudog *sg;

	if (!c) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&c->lock);
	sg = wq_pop(&c->leak, &c->q);
	gfi_unlock(&c->lock);
	if (sg)
		gfi_ready(sg->g, false);
	return 0;
}

GF_API int gf_cond_broadcast(gf_cond_t *c)
{
	struct gfi_sudog *sg, *list = NULL;

	if (!c) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&c->lock);
	while ((sg = wq_pop(&c->leak, &c->q))) {
		sg->next = list;
		list = sg;
	}
	gfi_unlock(&c->lock);
	ready_list(list);
	return 0;
}

GF_API gf_cond_t *gf_cond_ref(gf_cond_t *c)
{
	if (!c) {
		errno = EINVAL;
		return NULL;
	}
	wq_ref(WQ(c, q));
	return c;
}

GF_API void gf_cond_unref(gf_cond_t *c)
{
	if (c)
		wq_unref(WQ(c, q),
			 "gf_cond_unref: reference count below zero");
}

/* ---------------------------------------------------------- waitgroup */

/*
 * Add delta, and drop one reference too when unref (Done and unref in
 * one step, for a wait group that ends when the waiter returns). Every
 * use of wg is under its lock and before the unlock; the waiters freed
 * by a count of zero are readied after it, from the list of their
 * sudogs: nothing here touches wg once a waiter can return.
 */
static int waitgroup_add(gf_waitgroup_t *wg, int64_t delta, bool unref)
{
	struct gfi_sudog *sg, *list = NULL;

	if (!wg) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&wg->lock);
	if (wg->count + delta < 0) {
		gfi_unlock(&wg->lock);
		errno = EINVAL;
		return -1;
	}
	wg->count += delta;
	if (unref && --wg->leak.refs < 0)
		gfi_fatal("gf_waitgroup_done_unref: reference count below 0");
	if (wg->count == 0) {
		while ((sg = wq_pop(&wg->leak, &wg->q))) {
			sg->next = list;
			list = sg;
		}
	} else if (unref) {
		leak_check(&WQ(wg, q));
	}
	gfi_unlock(&wg->lock);
	/* wg may be gone from here on (a waiter that did not park). */
	ready_list(list);
	return 0;
}

GF_API int gf_waitgroup_add(gf_waitgroup_t *wg, int64_t delta)
{
	return waitgroup_add(wg, delta, false);
}

GF_API int gf_waitgroup_done(gf_waitgroup_t *wg)
{
	return waitgroup_add(wg, -1, false);
}

GF_API int gf_waitgroup_done_unref(gf_waitgroup_t *wg)
{
	return waitgroup_add(wg, -1, true);
}

static int waitgroup_wait(gf_waitgroup_t *wg, int64_t deadline,
			  uintptr_t pc)
{
	if (!wg) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&wg->lock);
	if (wg->count == 0) {
		gfi_unlock(&wg->lock);
		return 0;
	}
	return wq_wait(WQ(wg, q), GF_WAIT_WAITGROUP_WAIT, pc, wg, deadline,
		       NULL, NULL);
}

GF_API int gf_waitgroup_wait(gf_waitgroup_t *wg)
{
	return waitgroup_wait(wg, GFI_FOREVER,
			      (uintptr_t)__builtin_return_address(0));
}

GF_API int gf_waitgroup_wait_until(gf_waitgroup_t *wg, gf_deadline_t until)
{
	return waitgroup_wait(wg, until.ns,
			      (uintptr_t)__builtin_return_address(0));
}

GF_API gf_waitgroup_t *gf_waitgroup_ref(gf_waitgroup_t *wg)
{
	if (!wg) {
		errno = EINVAL;
		return NULL;
	}
	wq_ref(WQ(wg, q));
	return wg;
}

GF_API void gf_waitgroup_unref(gf_waitgroup_t *wg)
{
	if (wg)
		wq_unref(WQ(wg, q),
			 "gf_waitgroup_unref: reference count below zero");
}

/* ---------------------------------------------------------- once */

GF_API int gf_once(gf_once_t *o, void (*fn)(void *arg), void *arg)
{
	if (!o || !fn) {
		errno = EINVAL;
		return -1;
	}
	if (__atomic_load_n(&o->done, __ATOMIC_ACQUIRE))
		return 0;
	if (mutex_lock(&o->m, GFI_FOREVER,
		       (uintptr_t)__builtin_return_address(0)))
		return -1;	/* EPERM: fn runs elsewhere, not a fiber */
	if (!o->done) {
		fn(arg);
		__atomic_store_n(&o->done, 1, __ATOMIC_RELEASE);
	}
	gf_mutex_unlock(&o->m);
	return 0;
}

/* ---------------------------------------------------------- semaphore */

static int sem_acquire(gf_sem_t *s, int64_t deadline, uintptr_t pc)
{
	if (!s) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&s->lock);
	if (s->count > 0) {
		s->count--;
		gfi_unlock(&s->lock);
		return 0;
	}
	return wq_wait(WQ(s, q), GF_WAIT_SEMACQUIRE, pc, s, deadline, NULL,
		       NULL);
}

GF_API int gf_sem_acquire(gf_sem_t *s)
{
	return sem_acquire(s, GFI_FOREVER,
			   (uintptr_t)__builtin_return_address(0));
}

GF_API int gf_sem_acquire_until(gf_sem_t *s, gf_deadline_t until)
{
	return sem_acquire(s, until.ns, (uintptr_t)__builtin_return_address(0));
}

GF_API int gf_sem_release(gf_sem_t *s)
{
	struct gfi_sudog *sg;

	if (!s) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&s->lock);
	sg = wq_pop(&s->leak, &s->q);
	if (!sg)
		s->count++;
	gfi_unlock(&s->lock);
	if (sg)
		gfi_ready(sg->g, false);
	return 0;
}

GF_API gf_sem_t *gf_sem_ref(gf_sem_t *s)
{
	if (!s) {
		errno = EINVAL;
		return NULL;
	}
	wq_ref(WQ(s, q));
	return s;
}

GF_API void gf_sem_unref(gf_sem_t *s)
{
	if (s)
		wq_unref(WQ(s, q), "gf_sem_unref: reference count below zero");
}
