// SPDX-License-Identifier: MIT
/*
 * fiber.c - G lifecycle, status changes, park/ready, yield, labels.
 *
 * Lifecycle of a G (Go's):
 *	gf_go:   gfget (a dead G with its stack) or a new one -> RUNNABLE,
 *	         slot claimed, on the creator's P (runnext)
 *	execute: RUNNABLE -> RUNNING (slot: status, tid)
 *	park:    RUNNING -> WAITING (slot: reason, wait site, saved PC/SP/FP,
 *	         wait-since), done after the switch by the resumed context,
 *	         then the unlock callback publishes the G to its wakers
 *	ready:   WAITING/LEAKED -> RUNNABLE, on the waker's P (runnext)
 *	exit:    RUNNING -> DEAD (slot released), recycled after the switch
 *
 * gfi_casgstatus is the one function that changes a status, and the one
 * that writes the slot. Changes from RUNNING/RUNNABLE/SYSCALL are made by
 * the G's only owner (the M running it, or the M that popped it), so they
 * are plain stores; changes from WAITING/LEAKED race with other wakers,
 * the leak marker and dumps, so they CAS through GSCAN.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#ifdef GF_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef GF_TSAN
#include <sanitizer/tsan_interface.h>
#endif

GF_HIDDEN void gfi_main_exited(void);

void (*_Atomic gfi_settled_hook)(void);

/* ---------------------------------------------------------- status */

void gfi_casgstatus_slow(gfi_g *gp, uint32_t old, uint32_t new_)
{
	uint32_t o;
	int spins = 0;

	/*
	 * Unregistered, no slot is written between the two stores below:
	 * one CAS is the whole change (a dump or the leak marker holding
	 * GSCAN makes it fail, and the loop waits for them).
	 */
	if (!gp->slot) {
		o = old;
		if (atomic_compare_exchange_strong_explicit(&gp->status, &o,
				new_, memory_order_acq_rel,
				memory_order_relaxed))
			return;
	}
	for (;;) {
		o = old;
		if (atomic_compare_exchange_weak_explicit(&gp->status, &o,
				new_ | GSCAN, memory_order_acquire,
				memory_order_relaxed))
			break;
		/* ready accepts a leaked G: it was woken after all */
		if (old == GFIBERS_GWAITING && o == GFIBERS_GLEAKED) {
			old = GFIBERS_GLEAKED;
			continue;
		}
		if (!(o & GSCAN))
			gfi_fatal("gf_ready of a fiber that is not parked");
		if (++spins > 100) {
			sched_yield();
			spins = 0;
		}
	}
	gfi_registry_write(gp, new_);
	atomic_store_explicit(&gp->status, new_, memory_order_release);
}

/* ---------------------------------------------------------- switching */

/* ---------------------------------------------------------- free Gs */

/*
 * Dead Gs keep their stacks (Go's gfput/gfget). A stack is warm once its
 * top page has been touched: running on it costs no page fault, where a
 * cold one (fresh from an arena, or returned to the kernel) costs one.
 * So each P keeps its warm dead Gs (gfree) apart from its cold ones
 * (gfreecold): gf_go takes a cold one first, and a G about to run for
 * the first time trades a cold stack for the warm one of p's last dead
 * G (gfi_gprepare). A spawn-exit cycle then touches no fresh page,
 * however many fibers are created before any of them runs.
 *
 * Each P holds up to GFREE_LOCAL of each kind, then moves half to the
 * global lists (warm and cold apart there too). The global warm list
 * keeps at most max(GFREE_WARM_MIN, settled fibers / 4 + fresh ones)
 * stacks (twice that for a moment, see gfree_scavenge): a fresh fiber,
 * created and not yet parked, is about to run on a stack, and the warm
 * one it finds saves it a page fault. Beyond that, stacks are returned
 * to the kernel (Go's scavenger returns free spans the same way), so
 * that a burst of a million fibers does not keep its gigabytes once
 * they have exited, while a program that keeps spawning keeps stacks
 * enough to run its new fibers on warm ones.
 */
#define GFREE_LOCAL	64
#define GFREE_WARM_MIN	256

/*
 * The global lists are stacks of batches of up to GFREE_LOCAL / 2 Gs,
 * linked by schedlink and ended by NULL; a batch's first G holds its
 * size (gfree_batchn) and the next batch (gfree_batch). A P moves a
 * whole batch in or out under the lock, in O(1), and cuts it from its
 * own list before taking the lock. After a million fibers came and went
 * the G records are cold in cache, every step of a walk is a miss, and
 * a walk under the lock held the spawning P behind the exiting one.
 */
#define GFREE_BATCH	(GFREE_LOCAL / 2)

/* Push a batch (first .. NULL, n Gs) on the global list of its kind. */
static void gfree_push_batch_locked(gfi_g *first, int n, bool warm)
{
	gfi_g **head = warm ? &gfi_sched.gfree : &gfi_sched.gfreecold;

	first->gfree_batch = *head;
	first->gfree_batchn = (uint32_t)n;
	*head = first;
	gfi_sched.ngfree += n;
	if (warm)
		gfi_sched.ngfreewarm += n;
}

/* Pop a batch of the global list of one kind: its first G (NULL:
 * none), its size in *n. */
static gfi_g *gfree_pop_batch_locked(bool warm, int *n)
{
	gfi_g **head = warm ? &gfi_sched.gfree : &gfi_sched.gfreecold;
	gfi_g *first = *head;

	*n = 0;
	if (!first)
		return NULL;
	*head = first->gfree_batch;
	*n = (int)first->gfree_batchn;
	gfi_sched.ngfree -= *n;
	if (warm)
		gfi_sched.ngfreewarm -= *n;
	return first;
}

/*
 * A chain of batches being built from Gs of one kind, without the lock
 * (the Gs are the caller's): chain_add appends a G, opening a new batch
 * every GFREE_BATCH; chain_push_locked hands the chain over in O(1).
 */
struct gfree_chain {
	gfi_g *first, *last;	/* batches, by gfree_batch */
	gfi_g *open, **tail;	/* the batch being filled */
	int n;
};

static void chain_add(struct gfree_chain *c, gfi_g *gp)
{
	if (!c->open || c->open->gfree_batchn == GFREE_BATCH) {
		gp->gfree_batchn = 0;
		gp->gfree_batch = NULL;
		if (c->last)
			c->last->gfree_batch = gp;
		else
			c->first = gp;
		c->last = c->open = gp;
		c->tail = &gp->schedlink;
	} else {
		*c->tail = gp;
		c->tail = &gp->schedlink;
	}
	c->open->gfree_batchn++;
	c->n++;
	*c->tail = NULL;
}

/* Put a chain of batches on the global list of its kind (lock held). */
static void chain_push_locked(struct gfree_chain *c, bool warm)
{
	gfi_g **head = warm ? &gfi_sched.gfree : &gfi_sched.gfreecold;

	if (!c->first)
		return;
	c->last->gfree_batch = *head;
	*head = c->first;
	gfi_sched.ngfree += c->n;
	if (warm)
		gfi_sched.ngfreewarm += c->n;
}

/*
 * Return the stacks of the global warm list beyond its bound, once it
 * holds twice the bound: many at a time, and a program whose count of
 * fibers swings by a little does not pay a release per exit. The whole
 * list goes to gfi_stack_release, which picks the longest runs of
 * neighbours among it: fewer calls for the same pages.
 */
static void gfree_scavenge(void)
{
	long fresh = atomic_load(&gfi_sched.nfresh), want;
	long bound = (atomic_load(&gfi_sched.ngoroutines) - fresh) / 4 + fresh;
	struct gfree_chain warm = { 0 }, cold = { 0 };
	gfi_g *batches, *list = NULL, **tail = &list, *gp, *next;
	int n;

	if (bound < GFREE_WARM_MIN)
		bound = GFREE_WARM_MIN;
	if (atomic_load(&gfi_sched.ngfreewarm) <= 2 * bound)
		return;
	/* The whole warm list, taken and given back in O(1) under the
	 * lock; the syscalls and the walks outside it. */
	gfi_lock(&gfi_sched.gfreelock);
	n = gfi_sched.ngfreewarm;
	want = n - bound;
	batches = gfi_sched.gfree;
	gfi_sched.gfree = NULL;
	gfi_sched.ngfreewarm = 0;
	gfi_sched.ngfree -= n;
	gfi_unlock(&gfi_sched.gfreelock);
	for (gp = batches; gp; gp = next) {	/* one list of them all */
		next = gp->gfree_batch;
		*tail = gp;
		while (*tail)
			tail = &(*tail)->schedlink;
	}
	list = gfi_stack_release(list, want);
	for (gp = list; gp; gp = next) {
		next = gp->schedlink;
		chain_add(gp->stack_warm ? &warm : &cold, gp);
	}
	gfi_lock(&gfi_sched.gfreelock);
	chain_push_locked(&warm, true);
	chain_push_locked(&cold, false);
	gfi_unlock(&gfi_sched.gfreelock);
}

/*
 * Move all but GFREE_BATCH of one of p's lists (warm or cold: all its
 * Gs are) to the global one of its kind, as one batch (p's owner).
 */
static void gfree_spill(gfi_g **list, int *n, bool warm)
{
	gfi_g *first = *list, *last = first;
	int k = *n - GFREE_BATCH, i;

	for (i = 1; i < k; i++)		/* the cut, without the lock */
		last = last->schedlink;
	*list = last->schedlink;
	last->schedlink = NULL;
	*n -= k;
	gfi_lock(&gfi_sched.gfreelock);
	gfree_push_batch_locked(first, k, warm);
	gfi_unlock(&gfi_sched.gfreelock);
	if (warm)
		gfree_scavenge();
}

static void gfput(struct gfi_p *p, gfi_g *gp)
{
	if (!gp->stack_arena) {
		/* A stack of its own size goes back to the kernel; the G
		 * waits for the next gf_go_attr with a stack size. */
		gfi_stack_free(gp);
		gfi_lock(&gfi_sched.gfreelock);
		gp->schedlink = gfi_sched.gfree_nostack;
		gfi_sched.gfree_nostack = gp;
		gfi_unlock(&gfi_sched.gfreelock);
		return;
	}
	if (gp->stack_warm) {
		gp->schedlink = p->gfree;
		p->gfree = gp;
		if (++p->ngfree >= GFREE_LOCAL)
			gfree_spill(&p->gfree, &p->ngfree, true);
	} else {
		gp->schedlink = p->gfreecold;
		p->gfreecold = gp;
		if (++p->ngfreecold >= GFREE_LOCAL)
			gfree_spill(&p->gfreecold, &p->ngfreecold, false);
	}
}

/*
 * Refill an empty list of p's from the global ones: one batch, warm
 * first (p's owner). warm_only: p's warm list is empty, and only a warm
 * batch will do, whatever p's cold list holds. Otherwise both of p's
 * lists are empty.
 */
static void gfree_refill(struct gfi_p *p, bool warm_only)
{
	gfi_g *gp;
	int n;

	gfi_lock(&gfi_sched.gfreelock);
	gp = gfree_pop_batch_locked(true, &n);
	if (!gp && !warm_only)
		gp = gfree_pop_batch_locked(false, &n);
	gfi_unlock(&gfi_sched.gfreelock);
	if (!gp)
		return;
	if (gp->stack_warm) {
		p->gfree = gp;
		p->ngfree = n;
	} else {
		p->gfreecold = gp;
		p->ngfreecold = n;
	}
}

static gfi_g *gfget(struct gfi_p *p)
{
	gfi_g *gp;
	int n;

	if (!p) {
		bool warm = false;

		gfi_lock(&gfi_sched.gfreelock);
		gp = gfree_pop_batch_locked(false, &n);
		if (!gp) {
			warm = true;
			gp = gfree_pop_batch_locked(true, &n);
		}
		if (gp && n > 1)	/* the rest of its batch goes back */
			gfree_push_batch_locked(gp->schedlink, n - 1, warm);
		gfi_unlock(&gfi_sched.gfreelock);
		return gp;
	}
	if (!p->gfree && !p->gfreecold && gfi_sched.ngfree)
		gfree_refill(p, false);
	/* Cold first: the warm ones are for Gs about to run. */
	gp = p->gfreecold;
	if (gp) {
		p->gfreecold = gp->schedlink;
		p->ngfreecold--;
		return gp;
	}
	gp = p->gfree;
	if (gp) {
		p->gfree = gp->schedlink;
		p->ngfree--;
	}
	return gp;
}

/* Trade the stacks of a and b (arena stacks: same size, same kind). */
static void stack_swap(gfi_g *a, gfi_g *b)
{
	char *map_lo = a->map_lo, *lo = a->stack_lo, *hi = a->stack_hi;
	uint8_t guarded = a->stack_guarded, warm = a->stack_warm;

	a->map_lo = b->map_lo;
	a->stack_lo = b->stack_lo;
	a->stack_hi = b->stack_hi;
	a->stack_guarded = b->stack_guarded;
	a->stack_warm = b->stack_warm;
	b->map_lo = map_lo;
	b->stack_lo = lo;
	b->stack_hi = hi;
	b->stack_guarded = guarded;
	b->stack_warm = warm;
}

/*
 * gp is about to run on a cold stack and p has no warm one to trade:
 * its top is populated in one call with those of more stacks that are
 * about to be run on (stack.c says why one call: in a VM a guest
 * fault costs 15x a page of a batch; the hypervisor's ~10 us at the
 * first touch stays either way). Which: the cold stacks of p's dead Gs, which go to
 * p's warm list (the next first runs trade for them), then the arena's
 * next slots (the next gf_go's carve them warm). As many as one in
 * eight of the live fibers, up to GFI_POPULATE_MAX: a program with
 * few fibers populates no more than it runs on, one whose fibers
 * multiply pays one call per batch. Nothing taken from another P, and
 * nothing already warm is touched.
 */
static void stacks_populate(struct gfi_p *p, gfi_g *gp)
{
	struct gfi_populate *b = &p->m->populate;
	long want = atomic_load_explicit(&gfi_sched.ngoroutines,
					 memory_order_relaxed) / 8;
	int n = 1, i;

	if (want > GFI_POPULATE_MAX)
		want = GFI_POPULATE_MAX;
	b->gs[0] = gp;
	while (n < want && p->gfreecold) {
		b->gs[n++] = p->gfreecold;
		p->gfreecold = p->gfreecold->schedlink;
		p->ngfreecold--;
	}
	gfi_stack_populate(b, n, (int)(want - n));
	/* warm ones to p's warm list, any the kernel refused back */
	for (i = 1; i < n; i++)
		gfput(p, b->gs[i]);
}

void gfi_gprepare(struct gfi_p *p, gfi_g *gp)
{
	gfi_g *w;

	/*
	 * Warm stacks left on another P's way to the global list, whatever
	 * p's cold list holds: a fresh stack costs a page fault, and cold
	 * Gs pile up on p while fibers are spawned faster than they start.
	 */
	if (gp->stack_arena && !gp->stack_warm && !p->gfree &&
	    atomic_load(&gfi_sched.ngfreewarm))
		gfree_refill(p, true);
	w = p->gfree;

	/*
	 * Both arena stacks of the default size; never for a weaker
	 * overflow check than the one gp was given (a guard).
	 */
	if (gp->stack_arena && !gp->stack_warm && w &&
	    w->stack_guarded >= gp->stack_guarded) {
		p->gfree = w->schedlink;
		p->ngfree--;
		stack_swap(gp, w);
		gfput(p, w);
	} else if (gp->stack_arena && !gp->stack_warm) {
		stacks_populate(p, gp);
	}
	gp->sp = gf_ctx_make(gp->stack_hi, gfi_fiber_main, gp);
	gp->stack_warm = 1;
}

/* Gs are carved from slabs of this many (never freed anyway): one
 * calloc per 64 fibers instead of one each. */
#define G_SLAB 64

/* A new G, appended to allgs (never freed). */
static gfi_g *allg_new(void)
{
	static gfi_g *slab;
	static int slab_left;
	gfi_g *gp;
	uint32_t n;

	pthread_mutex_lock(&gfi_sched.allglock);
	if (!slab_left) {
		slab = calloc(G_SLAB, sizeof(*slab));
		if (!slab) {
			pthread_mutex_unlock(&gfi_sched.allglock);
			return NULL;
		}
		slab_left = G_SLAB;
	}
	gp = slab++;
	slab_left--;
	atomic_store(&gp->status, GFIBERS_GDEAD);
	n = atomic_load(&gfi_sched.nallgs);
	if (n == gfi_sched.capallgs) {
		uint32_t cap = n ? n * 2 : 1024;
		gfi_g **a = malloc(sizeof(*a) * cap), **old;

		if (!a) {
			/* gp stays in its slab, unused: a DEAD G nobody
			 * lists (the next allg_new does not reuse it) */
			pthread_mutex_unlock(&gfi_sched.allglock);
			return NULL;
		}
		old = atomic_load(&gfi_sched.allgs);
		if (n)
			memcpy(a, old, sizeof(*a) * n);
		/*
		 * Readers (dumps) may still hold the old array: keep it, it
		 * is at most as big as the new one (Go keeps allgs too).
		 */
		atomic_store(&gfi_sched.allgs, a);
		gfi_sched.capallgs = cap;
	}
	gp->allg_idx = n;
	gp->slot = gfi_registry_slot(n);
	atomic_load(&gfi_sched.allgs)[n] = gp;
	atomic_store(&gfi_sched.nallgs, n + 1);
	pthread_mutex_unlock(&gfi_sched.allglock);
	return gp;
}

/* ---------------------------------------------------------- labels */

static void labels_unref(struct gfi_labels *l)
{
	if (l && atomic_fetch_sub(&l->refs, 1) == 1)
		free(l);
}

GF_API int gf_label_set(const char *key, const char *value)
{
	gfi_g *gp = gfi_getg();
	struct gfi_labels *old, *l;
	int i, at = -1;

	if (!gp) {
		errno = EPERM;
		return -1;
	}
	if (!key || !*key || strlen(key) > 63 || (value && strlen(value) > 63)) {
		errno = EINVAL;
		return -1;
	}
	old = gp->labels;
	l = malloc(sizeof(*l));
	if (!l) {
		errno = ENOMEM;
		return -1;
	}
	if (old)
		memcpy(l, old, sizeof(*l));
	else
		l->n = 0;
	atomic_init(&l->refs, 1);
	for (i = 0; i < l->n; i++)
		if (!strcmp(l->kv[i].key, key))
			at = i;
	if (!value) {
		if (at >= 0) {
			l->kv[at] = l->kv[l->n - 1];
			l->n--;
		}
	} else {
		if (at < 0) {
			if (l->n == 8) {
				free(l);
				errno = ENOSPC;
				return -1;
			}
			at = l->n++;
			strcpy(l->kv[at].key, key);
		}
		strcpy(l->kv[at].val, value);
	}
	gp->labels = l;
	labels_unref(old);
	return 0;
}

GF_API const char *gf_label_get(const char *key)
{
	gfi_g *gp = gfi_getg();
	int i;

	if (!gp || !gp->labels || !key)
		return NULL;
	for (i = 0; i < gp->labels->n; i++)
		if (!strcmp(gp->labels->kv[i].key, key))
			return gp->labels->kv[i].val;
	return NULL;
}

/* ---------------------------------------------------------- create, exit */

void gfi_fiber_main(void *transfer, void *arg)
{
	struct gfi_m *m = transfer;
	gfi_g *gp = arg;

#ifdef GF_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	gfi_after_switch(m);
	gp->fn(gp->arg);
	gfi_goexit();
}

int64_t gfi_go(void (*fn)(void *), void *arg, const gf_attr_t *attr,
	       uintptr_t pc, bool is_main)
{
	struct gfi_m *m = gfi_getm();
	struct gfi_p *p = m ? m->p : NULL;
	gfi_g *self = m ? m->curg : NULL;
	size_t size = attr ? attr->stack_size : 0;
	gfi_g *gp = NULL;
	int64_t id;

	if (!fn || size > (1ul << 30)) {
		errno = EINVAL;
		return -1;
	}
	if (!gfi_sched.allp) {
		errno = EPERM;
		return -1;
	}
	if (size == 0 || size == gfi_sched.stack_size)
		gp = gfget(p);
	if (!gp) {
		gfi_lock(&gfi_sched.gfreelock);
		gp = gfi_sched.gfree_nostack;
		if (gp)
			gfi_sched.gfree_nostack = gp->schedlink;
		gfi_unlock(&gfi_sched.gfreelock);
	}
	if (!gp) {
		gp = allg_new();
		if (!gp) {
			errno = ENOMEM;
			return -1;
		}
	}
	if (!gp->stack_lo && gfi_stack_alloc(gp, size)) {
		int e = errno;

		/* Keep the bare G for a later gf_go. */
		gfi_lock(&gfi_sched.gfreelock);
		gp->schedlink = gfi_sched.gfree_nostack;
		gfi_sched.gfree_nostack = gp;
		gfi_unlock(&gfi_sched.gfreelock);
		errno = e;
		return -1;
	}
	/* id is read by dumps of other fibers without a lock */
	__atomic_store_n(&gp->id, atomic_fetch_add(&gfi_sched.goidgen, 1) + 1,
			 __ATOMIC_RELAXED);
	gp->parent_id = self ? self->id : 0;
	gp->create_pc = pc;
	gp->fn = fn;
	gp->arg = arg;
	gp->is_main = is_main;
	gp->name[0] = 0;
	if (attr && attr->name) {
		strncpy(gp->name, attr->name, sizeof(gp->name) - 1);
		gp->name[sizeof(gp->name) - 1] = 0;
	}
	gp->labels = self ? self->labels : NULL;
	if (gp->labels)
		atomic_fetch_add(&gp->labels->refs, 1);
	gp->waitreason = 0;
	gp->waitpc = 0;
	gp->waitobj = NULL;
	gp->param = NULL;	/* held a free-list link while dead */
	gp->m = NULL;
	gp->sp = NULL;		/* first frame when first run: gfi_gprepare */
#ifdef GF_TSAN
	gp->tsan_fiber = __tsan_create_fiber(0);
#endif
	atomic_fetch_add(&gfi_sched.ngoroutines, 1);
	/* main is handed nothing: never fresh */
	gp->fresh = !is_main;
	if (!is_main)
		atomic_fetch_add(&gfi_sched.nfresh, 1);
	atomic_store_explicit(&gp->status, GFIBERS_GRUNNABLE,
			      memory_order_relaxed);
	gfi_registry_claim(gp);
	id = gp->id;	/* gp may run and exit as soon as it is queued */
	GFI_PROBE(create, id, gp->parent_id, pc);
	if (p)
		gfi_runqput(p, gp, true);
	else
		gfi_globrunqput(gp);
	gfi_wakep();
	return id;
}

GF_API int64_t gf_go(void (*fn)(void *arg), void *arg)
{
	return gfi_go(fn, arg, NULL, (uintptr_t)__builtin_return_address(0),
		      false);
}

GF_API int64_t gf_go_attr(void (*fn)(void *arg), void *arg,
			  const gf_attr_t *attr)
{
	return gfi_go(fn, arg, attr, (uintptr_t)__builtin_return_address(0),
		      false);
}

void gfi_goexit(void)
{
	struct gfi_m *m = gfi_getm();
	gfi_g *gp = m->curg;

	/* while its id and name are still there to report */
	gfi_stack_check_pad(gp);
	gfi_casgstatus(gp, GFIBERS_GRUNNING, GFIBERS_GDEAD);
	gfi_registry_release(gp);
	labels_unref(gp->labels);
	gp->labels = NULL;
	GFI_PROBE(exit, gp->id);
	__atomic_store_n(&gp->id, 0, __ATOMIC_RELAXED);
	atomic_fetch_sub(&gfi_sched.ngoroutines, 1);
	if (gp->is_main) {
		gp->is_main = 0;
		gfi_main_exited();
	}
	m->prevg = gp;
	m->prev_action = PA_EXIT;
	gfi_schedule_from(m, gp);
	gfi_fatal("a dead fiber was resumed");
}

GF_API void gf_exit(void)
{
	if (!gfi_getg())
		gfi_fatal("gf_exit outside a fiber");
	gfi_goexit();
}

/* ---------------------------------------------------------- after switch */

void gfi_after_switch(struct gfi_m *m)
{
	gfi_g *prev = m->prevg;
	bool settled = false;

	if (!prev)
		return;
	m->prevg = NULL;
	/* Settled before a park's unlock runs: its own park is judged. */
	if (prev->fresh && m->prev_action != PA_GLOBRUNQ) {
		prev->fresh = 0;
		settled = atomic_fetch_sub(&gfi_sched.nfresh, 1) == 1;
	}
	switch (m->prev_action) {
	case PA_PARK: {
		gf_unlock_fn f = m->unlockf;

		gfi_casgstatus(prev, GFIBERS_GRUNNING, GFIBERS_GWAITING);
		if (f && !f(prev, m->waitlock)) {
			gfi_casgstatus(prev, GFIBERS_GWAITING,
				       GFIBERS_GRUNNABLE);
			gfi_runqput(m->p, prev, true);
		}
		break;
	}
	case PA_YIELD:
		gfi_casgstatus(prev, GFIBERS_GRUNNING, GFIBERS_GRUNNABLE);
		gfi_runqput(m->p, prev, false);
		break;
	case PA_EXIT:
#ifdef GF_TSAN
		__tsan_destroy_fiber(prev->tsan_fiber);
		prev->tsan_fiber = NULL;
#endif
		gfput(m->p, prev);
		break;
	case PA_GLOBRUNQ:
		gfi_globrunqput(prev);
		gfi_wakep();
		break;
	default:
		gfi_assert(0);
	}
	m->prev_action = PA_NONE;
	if (settled && atomic_load(&gfi_settled_hook))
		atomic_load(&gfi_settled_hook)();
}

/* ---------------------------------------------------------- park, ready */

void gfi_park(gf_unlock_fn unlockf, void *lock, uint32_t reason,
	      uintptr_t pc, void *obj)
{
	struct gfi_m *m = gfi_getm();
	gfi_g *gp = m ? m->curg : NULL;

	if (!gp)
		gfi_fatal("a blocking call outside a fiber");
	gfi_chaos(GFI_CHAOS_PARK);
	gp->waitreason = reason;
	gp->waitpc = pc;
	gp->waitobj = obj;
	gp->waitsince = gfi_coarsetime();
	GFI_PROBE(park, gp->id, reason, pc, obj);
	m->prevg = gp;
	m->prev_action = PA_PARK;
	m->unlockf = unlockf;
	m->waitlock = lock;
	gfi_schedule_from(m, gp);
}

struct deadline_park {
	gf_unlock_fn unlockf;
	void *lock;
	struct gfi_timer *t;
	int64_t deadline;
};

/* Arm the deadline timer once the G is WAITING, before its wakers can
 * see it: the timer's firing races with them through selectdone only. */
static bool deadline_unlock(gf_fiber_t *gp, void *arg)
{
	struct deadline_park *d = arg;
	gf_unlock_fn unlockf = d->unlockf;
	void *lock = d->lock;

	/*
	 * d lives on gp's stack: once the timer is armed it may fire on
	 * another thread and gp may run and return, so nothing of d is
	 * read after this point.
	 */
	gfi_timer_start(d->t, d->deadline);
	gfi_chaos(GFI_CHAOS_TIMER);
	/* A deadline park never asks to stay runnable: the timer would
	 * then ready a running G. */
	if (unlockf)
		unlockf(gp, lock);
	return true;
}

static void deadline_fire(void *arg, int64_t now)
{
	gfi_g *gp = arg;
	uint32_t zero = 0;

	(void)now;
	if (atomic_compare_exchange_strong(&gp->selectdone, &zero, 1)) {
		gp->param = NULL;
		gp->timedout = 1;
		gfi_ready(gp, false);
	}
}

bool gfi_park_deadline(gf_unlock_fn unlockf, void *lock, uint32_t reason,
		       uintptr_t pc, void *obj, int64_t deadline)
{
	gfi_g *gp = gfi_getg();
	struct gfi_timer t = { .f = deadline_fire };
	struct deadline_park d = { unlockf, lock, &t, deadline };

	if (!gp)
		gfi_fatal("a blocking call outside a fiber");
	gp->timedout = 0;
	/*
	 * Only GF_FOREVER is forever: any other deadline, negative ones
	 * included, is a time, and one already past expires at the first
	 * timer check (gfi_timer_start takes it as 1 ns).
	 */
	if (deadline == GFI_FOREVER) {
		gfi_park(unlockf, lock, reason, pc, obj);
		return true;
	}
	t.arg = gp;
	gfi_park(deadline_unlock, &d, reason, pc, obj);
	gfi_timer_stop(&t);
	return !gp->timedout;
}

void gfi_ready(gfi_g *gp, bool next)
{
	struct gfi_m *m;

	gfi_chaos(GFI_CHAOS_READY);
	m = gfi_getm();
	GFI_PROBE_GUARDED(ready, gp->id, m && m->curg ? m->curg->id : 0);
	gfi_casgstatus(gp, GFIBERS_GWAITING, GFIBERS_GRUNNABLE);
	if (m && m->p)
		gfi_runqput(m->p, gp, next);
	else
		gfi_globrunqput(gp);
	gfi_wakep();
}

void gfi_mark_g_leaked(gfi_g *gp)
{
	for (;;) {
		uint32_t o = GFIBERS_GWAITING;

		if (atomic_compare_exchange_strong(&gp->status, &o,
						   GFIBERS_GWAITING | GSCAN)) {
			GFI_PROBE(leak, gp->id, gp->waitreason);
			gfi_registry_write(gp, GFIBERS_GLEAKED);
			atomic_store_explicit(&gp->status, GFIBERS_GLEAKED,
					      memory_order_release);
			return;
		}
		if (o != (GFIBERS_GWAITING | GSCAN))
			return;	/* already leaked, or not parked yet */
		sched_yield();	/* a dump holds it for a moment */
	}
}

void gfi_mark_leaked(struct gfi_waitq *q)
{
	struct gfi_sudog *sg;

	for (sg = q->first; sg; sg = sg->next)
		if (!sg->is_select)
			gfi_mark_g_leaked(sg->g);
}

GF_API void gf_park(gf_unlock_fn unlockf, void *lock, int reason)
{
	gfi_park(unlockf, lock, (uint32_t)reason,
		 (uintptr_t)__builtin_return_address(0), lock);
}

GF_API void gf_ready(gf_fiber_t *f)
{
	if (!f)
		gfi_fatal("gf_ready of a NULL fiber");
	gfi_ready(f, true);
}

GF_API void gf_yield(void)
{
	struct gfi_m *m = gfi_getm();
	gfi_g *gp = m ? m->curg : NULL;

	if (!gp)
		return;
	m->prevg = gp;
	m->prev_action = PA_YIELD;
	gfi_schedule_from(m, gp);
}

GF_API int64_t gf_id(void)
{
	gfi_g *gp = gfi_getg();

	return gp ? gp->id : 0;
}

GF_API gf_fiber_t *gf_self(void)
{
	return gfi_getg();
}

GF_API int64_t gf_fiber_id(const gf_fiber_t *f)
{
	return f ? f->id : 0;
}

GF_API int64_t gf_num_fibers(void)
{
	return atomic_load(&gfi_sched.ngoroutines);
}

GF_API int64_t gf_now(void)
{
	return gfi_nanotime();
}

/* A time at or before 0 is long passed: 1, which is neither GF_NOWAIT's
 * 0 nor GF_FOREVER's -1 (gfiber.h). */
GF_API gf_deadline_t gf_deadline_at(int64_t when)
{
	return (gf_deadline_t){ .ns = when > 0 ? when : 1 };
}

GF_API gf_deadline_t gf_timeout(int64_t ns)
{
	int64_t now = gfi_nanotime();

	if (ns <= 0)
		return gf_deadline_at(now);
	return gf_deadline_at(ns > INT64_MAX - now ? INT64_MAX : now + ns);
}
