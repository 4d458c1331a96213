// SPDX-License-Identifier: GPL-2.0
/*
 * sync.c - Go's sync package on park/ready: Mutex, RWMutex, Cond,
 * WaitGroup, Once, and a counting semaphore.
 *
 * One wait idiom for all (wq_wait): under the object's spinlock, push a
 * sudog on the object's FIFO queue and park with the object's own wait
 * reason; the unlock callback drops the spinlock after the switch. A
 * waker pops the first sudog (gfi_waitq_dequeue: a waiter whose deadline
 * already won is skipped), hands the resource over (ownership passes
 * with the wake-up: no barging, strict FIFO, Go's starvation mode) and
 * readies it after dropping the spinlock. A deadline wait uses the
 * selectdone race of select.c: exactly one of waker and timer wins.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "runtime.h"

static bool spin_unlock(gf_fiber_t *gp, void *lock)
{
	(void)gp;
	gfi_unlock(lock);
	return true;
}

/*
 * Wait on q, *lock held (released by the park, not retaken). Returns 0
 * when handed the resource, -1 with errno on deadline (the sudog is off
 * the queue either way).
 */
static int wq_wait(int *lock, struct gf__waitq *pq, uint32_t reason,
		   uintptr_t pc, void *obj, int64_t deadline)
{
	struct gfi_waitq *q = (struct gfi_waitq *)pq;
	gfi_g *gp = gfi_getg();
	struct gfi_sudog sg = { .g = gp };

	if (deadline == 0 || (deadline > 0 && deadline <= gfi_nanotime())) {
		gfi_unlock(lock);
		errno = deadline == 0 ? EAGAIN : ETIMEDOUT;
		return -1;
	}
	if (!gp)
		gfi_fatal("a blocking sync call outside a fiber");
	if (deadline > 0) {
		sg.is_select = true;
		atomic_store(&gp->selectdone, 0);
	}
	gfi_waitq_push(q, &sg);
	if (gfi_park_deadline(spin_unlock, lock, reason, pc, obj, deadline))
		return 0;
	gfi_lock(lock);
	gfi_waitq_remove(q, &sg);
	gfi_unlock(lock);
	errno = ETIMEDOUT;
	return -1;
}

static struct gfi_sudog *wq_pop(struct gf__waitq *q)
{
	return gfi_waitq_dequeue((struct gfi_waitq *)q);
}

/* ---------------------------------------------------------- mutex */

static int mutex_lock(gf_mutex_t *m, int64_t deadline, uintptr_t pc)
{
	gfi_lock(&m->lock);
	if (!m->locked) {
		m->locked = 1;
		gfi_unlock(&m->lock);
		return 0;
	}
	/* Handed over by the unlocker: locked stays 1 for us. */
	return wq_wait(&m->lock, &m->q, GF_WAIT_MUTEX_LOCK, pc, m, deadline);
}

GF_API void gf_mutex_lock(gf_mutex_t *m)
{
	mutex_lock(m, GF_FOREVER, (uintptr_t)__builtin_return_address(0));
}

GF_API int gf_mutex_lock_deadline(gf_mutex_t *m, int64_t deadline)
{
	return mutex_lock(m, deadline, (uintptr_t)__builtin_return_address(0));
}

GF_API int gf_mutex_trylock(gf_mutex_t *m)
{
	int r = 0;

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

	gfi_lock(&m->lock);
	if (!m->locked) {
		gfi_unlock(&m->lock);
		errno = EPERM;
		return -1;
	}
	sg = wq_pop(&m->q);
	if (!sg)
		m->locked = 0;
	gfi_unlock(&m->lock);
	if (sg)
		gfi_ready(sg->g, true);
	return 0;
}

/* ---------------------------------------------------------- rwmutex */

GF_API void gf_rwmutex_rlock(gf_rwmutex_t *rw)
{
	gfi_lock(&rw->lock);
	if (rw->readers >= 0 && rw->writers_waiting == 0) {
		rw->readers++;
		gfi_unlock(&rw->lock);
		return;
	}
	/* The writer's unlock counts us in before waking us. */
	wq_wait(&rw->lock, &rw->rq, GF_WAIT_RWMUTEX_RLOCK,
		(uintptr_t)__builtin_return_address(0), rw, GF_FOREVER);
}

GF_API void gf_rwmutex_lock(gf_rwmutex_t *rw)
{
	gfi_lock(&rw->lock);
	if (rw->readers == 0) {
		rw->readers = -1;
		gfi_unlock(&rw->lock);
		return;
	}
	rw->writers_waiting++;
	wq_wait(&rw->lock, &rw->wq, GF_WAIT_RWMUTEX_LOCK,
		(uintptr_t)__builtin_return_address(0), rw, GF_FOREVER);
}

/* Wake the next owners (rw->lock held, readers == 0): a waiting writer
 * first if one waits (Go's writer preference), else all readers. Returns
 * the list to ready after unlocking. */
static struct gfi_sudog *rw_handoff(gf_rwmutex_t *rw, bool prefer_readers)
{
	struct gfi_sudog *sg, *list = NULL;

	if (!prefer_readers && rw->writers_waiting) {
		sg = wq_pop(&rw->wq);
		if (sg) {
			rw->writers_waiting--;
			rw->readers = -1;
			sg->next = NULL;
			return sg;
		}
	}
	while ((sg = wq_pop(&rw->rq))) {
		rw->readers++;
		sg->next = list;
		list = sg;
	}
	if (!list && rw->writers_waiting) {
		sg = wq_pop(&rw->wq);
		if (sg) {
			rw->writers_waiting--;
			rw->readers = -1;
			sg->next = NULL;
			return sg;
		}
	}
	return list;
}

static void ready_list(struct gfi_sudog *list)
{
	while (list) {
		struct gfi_sudog *sg = list;

		list = sg->next;
		gfi_ready(sg->g, false);
	}
}

GF_API int gf_rwmutex_runlock(gf_rwmutex_t *rw)
{
	struct gfi_sudog *list = NULL;

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

static int cond_wait(gf_cond_t *c, gf_mutex_t *m, int64_t deadline,
		     uintptr_t pc)
{
	int r;

	gfi_lock(&c->lock);
	/* Queued before m is dropped: a signal after our unlock finds us. */
	if (deadline == 0) {
		gfi_unlock(&c->lock);
		errno = EAGAIN;
		return -1;
	}
	{
		struct gfi_waitq *q = (struct gfi_waitq *)&c->q;
		gfi_g *gp = gfi_getg();
		struct gfi_sudog sg = { .g = gp };

		if (!gp)
			gfi_fatal("gf_cond_wait outside a fiber");
		if (deadline > 0) {
			sg.is_select = true;
			atomic_store(&gp->selectdone, 0);
		}
		gfi_waitq_push(q, &sg);
		gf_mutex_unlock(m);
		r = 0;
		if (!gfi_park_deadline(spin_unlock, &c->lock,
				       GF_WAIT_COND_WAIT, pc, c, deadline)) {
			gfi_lock(&c->lock);
			gfi_waitq_remove(q, &sg);
			gfi_unlock(&c->lock);
			errno = ETIMEDOUT;
			r = -1;
		}
	}
	mutex_lock(m, GF_FOREVER, pc);
	return r;
}

GF_API void gf_cond_wait(gf_cond_t *c, gf_mutex_t *m)
{
	cond_wait(c, m, GF_FOREVER, (uintptr_t)__builtin_return_address(0));
}

GF_API int gf_cond_wait_deadline(gf_cond_t *c, gf_mutex_t *m,
				 int64_t deadline)
{
	return cond_wait(c, m, deadline,
			 (uintptr_t)__builtin_return_address(0));
}

GF_API void gf_cond_signal(gf_cond_t *c)
{
	struct gfi_sudog *sg;

	gfi_lock(&c->lock);
	sg = wq_pop(&c->q);
	gfi_unlock(&c->lock);
	if (sg)
		gfi_ready(sg->g, false);
}

GF_API void gf_cond_broadcast(gf_cond_t *c)
{
	struct gfi_sudog *sg, *list = NULL;

	gfi_lock(&c->lock);
	while ((sg = wq_pop(&c->q))) {
		sg->next = list;
		list = sg;
	}
	gfi_unlock(&c->lock);
	ready_list(list);
}

/* ---------------------------------------------------------- waitgroup */

GF_API int gf_waitgroup_add(gf_waitgroup_t *wg, int64_t delta)
{
	struct gfi_sudog *sg, *list = NULL;

	gfi_lock(&wg->lock);
	if (wg->count + delta < 0) {
		gfi_unlock(&wg->lock);
		errno = EINVAL;
		return -1;
	}
	wg->count += delta;
	if (wg->count == 0) {
		while ((sg = wq_pop(&wg->q))) {
			sg->next = list;
			list = sg;
		}
	}
	gfi_unlock(&wg->lock);
	ready_list(list);
	return 0;
}

GF_API int gf_waitgroup_done(gf_waitgroup_t *wg)
{
	return gf_waitgroup_add(wg, -1);
}

GF_API void gf_waitgroup_wait(gf_waitgroup_t *wg)
{
	gfi_lock(&wg->lock);
	if (wg->count == 0) {
		gfi_unlock(&wg->lock);
		return;
	}
	wq_wait(&wg->lock, &wg->q, GF_WAIT_WAITGROUP_WAIT,
		(uintptr_t)__builtin_return_address(0), wg, GF_FOREVER);
}

/* ---------------------------------------------------------- once */

GF_API void gf_once(gf_once_t *o, void (*fn)(void *arg), void *arg)
{
	if (__atomic_load_n(&o->done, __ATOMIC_ACQUIRE))
		return;
	mutex_lock(&o->m, GF_FOREVER, (uintptr_t)__builtin_return_address(0));
	if (!o->done) {
		fn(arg);
		__atomic_store_n(&o->done, 1, __ATOMIC_RELEASE);
	}
	gf_mutex_unlock(&o->m);
}

/* ---------------------------------------------------------- semaphore */

GF_API int gf_sem_acquire(gf_sem_t *s, int64_t deadline)
{
	gfi_lock(&s->lock);
	if (s->count > 0) {
		s->count--;
		gfi_unlock(&s->lock);
		return 0;
	}
	return wq_wait(&s->lock, &s->q, GF_WAIT_SEMACQUIRE,
		       (uintptr_t)__builtin_return_address(0), s, deadline);
}

GF_API void gf_sem_release(gf_sem_t *s)
{
	struct gfi_sudog *sg;

	gfi_lock(&s->lock);
	sg = wq_pop(&s->q);
	if (!sg)
		s->count++;
	gfi_unlock(&s->lock);
	if (sg)
		gfi_ready(sg->g, false);
}
