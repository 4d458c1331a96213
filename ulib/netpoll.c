// SPDX-License-Identifier: MIT
/*
 * netpoll.c - IO waits on epoll (Go's netpoll.go / netpoll_epoll.go),
 * and the timed sleep of the scheduler.
 *
 * One epoll instance; each fd is registered edge-triggered for both
 * directions by the waits on it. A poll descriptor per fd number (one
 * registration per descriptor, as Go's pollDesc) keeps, under its lock,
 * the fibers waiting to read and to write and a "ready" bit per
 * direction for an edge that arrived with nobody waiting (consumed by
 * the next wait). An eventfd breaks a blocked netpoll (a new earlier
 * timer, main returning).
 *
 * Closing (Go's poll.FD.Close evicts and wakes). The kernel knows a
 * registration by (open file, fd number) and drops it when the file is
 * released, silently: a fiber waiting on a fd closed with close(2)
 * would wait forever, and when the number came back for another file,
 * that file's readiness used to wake it - and its gf_read returned the
 * other connection's data. So:
 *  - gf_close(fd) evicts every waiter (EBADF) under the descriptor's
 *    lock and keeps new waits out (closing) until close(2) has
 *    returned: no waiter is ever left on a number that can be reused.
 *    It bumps seq, which gf_read/gf_write sampled before their attempt:
 *    one that meets a close between attempt and wait fails with EBADF
 *    instead of waiting on the number's next file. A read or write in
 *    flight (users) holds the number open: the last one closes it, as
 *    Go's fdMutex does, so no syscall ever reads a reused number.
 *  - Each registration has a generation, carried in the epoll event
 *    with the fd (data.u64), the descriptor holds the current one: an
 *    event of an older registration (a file closed with a dup still
 *    open, an event reaped before gf_close's EPOLL_CTL_DEL) is dropped.
 *  - Every wait re-adds its fd (EPOLL_CTL_ADD): EEXIST means the file
 *    now at the number is the one registered. A success while the
 *    descriptor counted a registration in this instance means the
 *    registered file went away (closed with close(2), the number now
 *    another file's): the waiters still queued waited on the file that
 *    is gone, and are evicted (EBADF) before the new generation is
 *    installed, so never handed the new file's readiness. Registrations
 *    of one descriptor are serialised (registering), and an event of
 *    the registration being installed is kept aside until it is.
 *  What is not covered: a fiber waiting on a fd closed with close(2)
 *  while nobody waits on that number again stays parked ("IO wait")
 *  - the kernel said nothing; and a gf_read racing a plain close(2)
 *  and a reuse may read the new file, as read(2) would. Use gf_close.
 *
 * gf_read/gf_write never set O_NONBLOCK: the flag belongs to the open
 * file, shared with whoever else holds it (see fd_io).
 *
 * The scheduler blocks in gfi_netpoll() (one M at a time, sched.lastpoll
 * == 0 while it does) when there are IO waiters or timers; otherwise
 * idle Ms sleep on their futex.
 *
 * The epoll instance and the eventfd are created by the first IO wait
 * (Go's netpollGenericInit), not when the runtime starts: a program that
 * never waits on a fd holds neither, and when they cannot be had (EMFILE,
 * ENFILE, ENOMEM) that is the error of the gf_wait_fd/gf_read/gf_write
 * that needed them; the next one tries again. Until then the timed
 * sleep of the scheduler is a futex wait on sleepbreak, which
 * gfi_netpoll_break sets as it would write the eventfd. The switch from
 * one to the other breaks both, so an M asleep in either wakes and polls
 * again (see poller_init).
 *
 * A fork() child gets a poller of its own: the parent's epoll instance
 * is shared across fork (one open file), and a child polling it would
 * take edge-triggered events meant for the parent's fibers, which would
 * then wait forever. fork_child drops the child's references to it and
 * makes a new instance watching the fds that fibers were parked on at
 * the fork (an ADD reports readiness the fd already has); later waits
 * add their own fds (wait_fd adds the fd on every wait). The prepare
 * handler holds initlock and pdlock across the fork, so the child never
 * sees a poller half made or a poll descriptor table half grown.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "netpoll.h"
#include "runtime.h"

#ifdef GF_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/*
 * A poll descriptor: one per fd number, made by the first wait on it
 * (or gf_close), never freed (the poller and racing waiters may still
 * look at it; the table only grows).
 */
struct polldesc {
	int lock;			/* everything below */
	int fd;
	bool rready, wready;		/* edge seen with no waiter */
	bool closing;			/* gf_close until close(2) returned */
	bool registering;		/* an EPOLL_CTL_ADD in flight */
	bool close_deferred;		/* to the last of users */
	int users;			/* gf_read/gf_write attempts on */
	bool pend_r, pend_w;		/* its events, before it is installed */
	uint32_t gen;			/* current registration's generation */
	uint32_t epoch;			/* its poller (pollepoch), 0: none */
	uint64_t seq;			/* gf_close calls on this number */
	struct gfi_waitq rq, wq;	/* waiting fibers */
	/*
	 * The file now at the number, as net.c knows it (reset when the
	 * number gets another file: gf_close, or a registration that found
	 * the old one gone).
	 */
	bool persist;			/* registered for its life: no re-ADD */
	bool nonblock;			/* made O_NONBLOCK by the runtime */
	int64_t rdl, wdl;		/* gf_net_set_deadline's, GF_FOREVER */
};

/* -1 until the first IO wait; published (release) after breakfd */
static _Atomic int epfd = -1;
static int breakfd = -1;		/* written before epfd, then fixed */
static pthread_mutex_t initlock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int breakpending;
static _Atomic uint32_t sleepbreak;	/* futex: the break without epoll */
static pthread_mutex_t pdlock = PTHREAD_MUTEX_INITIALIZER;
static struct polldesc **_Atomic pds;
static _Atomic int npds;
/* epoll data of the break eventfd: no fd number has this high half */
#define BREAK_DATA	UINT64_MAX
/* Poller instances made (a fork child makes its own): pd->epoch. */
static _Atomic uint32_t pollepoch;
static bool atfork_done;		/* under initlock */

static void eventfd_break(void)
{
	uint64_t one = 1;

	if (atomic_exchange(&breakpending, 1))
		return;
	if (write(breakfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		atomic_store(&breakpending, 0);
}

/* Stays set until a blocking sleep consumes it, as the eventfd's count. */
static void futex_break(void)
{
	atomic_store(&sleepbreak, 1);
	syscall(SYS_futex, &sleepbreak, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void gfi_netpoll_break(void)
{
	if (atomic_load(&epfd) < 0)
		futex_break();
	else
		eventfd_break();
}

static void close_keep_errno(int fd)
{
	int err = errno;

	close(fd);
	errno = err;
}

static int poller_create(void);

/* Watch fd for both directions, edge-triggered, in instance ep, as
 * registration gen. */
static int fd_watch(int ep, int fd, uint32_t gen)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.u64 = (uint64_t)gen << 32 | (uint32_t)fd,
	};

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&initlock);
	pthread_mutex_lock(&pdlock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&pdlock);
	pthread_mutex_unlock(&initlock);
}

/*
 * In a fork child (its only thread): a poller of its own. The poll
 * descriptors stay (a fiber copied from the parent may still unlock
 * one); an edge they remember only makes one wait return early, which
 * callers retry as any spurious wake-up. A registration or close in
 * flight in the parent belongs to a thread the child does not have.
 */
static void fork_child(void)
{
	struct polldesc **a = atomic_load(&pds), *pd;
	int ep = atomic_load(&epfd), i, n = atomic_load(&npds);

	pthread_mutex_unlock(&pdlock);
	pthread_mutex_unlock(&initlock);
	atomic_store(&breakpending, 0);
	atomic_store(&sleepbreak, 0);
	for (i = 0; i < n; i++) {
		if (!a[i])
			continue;
		/* the child's fd stays open: its own copy */
		a[i]->registering = a[i]->closing = false;
		a[i]->close_deferred = false;
		a[i]->users = 0;
	}
	if (ep < 0)
		return;
	close(ep);
	close(breakfd);
	breakfd = -1;
	atomic_store(&epfd, -1);
	if (poller_create()) {
		/* The next IO wait makes one for its own fd, not for these. */
		gfi_printf(2, "libgfiber: fork child %d: no epoll instance of its own (%s): fibers parked on IO at the fork will not wake\n",
			   (int)getpid(), strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		pd = a[i];
		if (pd && (pd->rq.first || pd->wq.first) &&
		    !fd_watch(atomic_load(&epfd), pd->fd, pd->gen))
			pd->epoch = atomic_load(&pollepoch);
	}
}

/*
 * Make the epoll instance and its break eventfd and publish them.
 * Returns 0, or -1 with errno from epoll_create1/eventfd/epoll_ctl
 * (nothing is kept: a later call starts over). initlock held, or the
 * fork child.
 */
static int poller_create(void)
{
	struct epoll_event ev = {
		.events = EPOLLIN, .data.u64 = BREAK_DATA,
	};
	int ep, bfd;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -1;
	bfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (bfd < 0)
		goto err_close_ep;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, bfd, &ev))
		goto err_close_bfd;
	breakfd = bfd;
	atomic_fetch_add(&pollepoch, 1);
	atomic_store(&epfd, ep);
	/*
	 * An M may be asleep on sleepbreak (it loaded epfd before the store
	 * above), or a breaker may have seen no poller while the M about to
	 * sleep sees this one: break both ways, so that either sleep ends
	 * and the M polls again with epoll.
	 */
	futex_break();
	eventfd_break();
	return 0;
err_close_bfd:
	close_keep_errno(bfd);
err_close_ep:
	close_keep_errno(ep);
	return -1;
}

/*
 * The poller, made by the first IO wait (once per process: see
 * fork_child). Returns 0, or -1 with errno from pthread_atfork or
 * poller_create.
 */
static int poller_init(void)
{
	int err = 0;

	if (atomic_load(&epfd) >= 0)
		return 0;
	pthread_mutex_lock(&initlock);
	if (atomic_load(&epfd) < 0) {
		if (!atfork_done) {
			err = pthread_atfork(fork_prepare, fork_parent,
					     fork_child);
			atfork_done = !err;
		}
		if (!err && poller_create())
			err = errno;
	}
	pthread_mutex_unlock(&initlock);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/* A delay in ns as a timeout: NULL (forever) when negative. */
static struct timespec *delay_ts(int64_t delay, struct timespec *ts)
{
	if (delay < 0)
		return NULL;
	ts->tv_sec = delay / 1000000000;
	ts->tv_nsec = delay % 1000000000;
	return ts;
}

/*
 * The timed sleep of the scheduler before the poller exists: a futex
 * wait that gfi_netpoll_break ends. As with the eventfd, only a blocking
 * sleep consumes a break. Nothing can be readied: returns 0.
 */
static int sleep_without_poller(int64_t delay)
{
	struct timespec ts;

	if (delay == 0)
		return 0;
	/* FUTEX_WAIT's timeout is relative: what delay is */
	syscall(SYS_futex, &sleepbreak, FUTEX_WAIT_PRIVATE, 0,
		delay_ts(delay, &ts), NULL, 0);
	atomic_store(&sleepbreak, 0);
	return 0;
}

/*
 * The descriptor of fd if there is one. npds is loaded before pds: the
 * grower stores pds first, so an array at least npds long is seen.
 */
static struct polldesc *pd_lookup(int fd)
{
	int n = atomic_load(&npds);
	struct polldesc **a = atomic_load(&pds);

	if (fd < 0 || fd >= n)
		return NULL;
	return __atomic_load_n(&a[fd], __ATOMIC_ACQUIRE);
}

/* A number's descriptor knows nothing of the file now at it. */
static void pd_forget(struct polldesc *pd)
{
	pd->persist = pd->nonblock = false;
	pd->rdl = pd->wdl = GF_FOREVER;
}

/*
 * The descriptor of fd, made on first use. open: the caller knows fd is
 * open (it just made it); otherwise fcntl(F_GETFD) checks it, once per
 * number: a bad fd (2^30) must not size the table.
 */
static struct polldesc *pd_get_open(int fd, bool open)
{
	struct polldesc **a, *pd;
	int n;

	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	pd = pd_lookup(fd);
	if (pd)
		return pd;
	if (!open && fcntl(fd, F_GETFD) < 0)
		return NULL;	/* EBADF */
	pthread_mutex_lock(&pdlock);
	n = atomic_load(&npds);
	a = atomic_load(&pds);
	if (fd >= n) {
		int nn = n ? n : 64;
		struct polldesc **na;

		while (nn <= fd)
			nn *= 2;
		na = calloc((size_t)nn, sizeof(*na));
		if (!na) {
			pthread_mutex_unlock(&pdlock);
			errno = ENOMEM;
			return NULL;
		}
		if (n)
			memcpy(na, a, sizeof(*na) * (size_t)n);
		/* the old array stays readable for racing readers */
		atomic_store(&pds, na);
		atomic_store(&npds, nn);
		a = na;
	}
	pd = a[fd];
	if (!pd) {
		pd = calloc(1, sizeof(*pd));
		if (!pd) {
			pthread_mutex_unlock(&pdlock);
			errno = ENOMEM;
			return NULL;
		}
		pd->fd = fd;
		pd_forget(pd);
		__atomic_store_n(&a[fd], pd, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&pdlock);
	return pd;
}

static struct polldesc *pd_get(int fd)
{
	return pd_get_open(fd, false);
}

/* Make a fiber woken by the poller runnable (no P: the global queue). */
static void netpoll_ready(struct gfi_sudog *sg, struct gfi_p *p)
{
	gfi_casgstatus(sg->g, GFIBERS_GWAITING, GFIBERS_GRUNNABLE);
	if (p)
		gfi_runqput(p, sg->g, false);
	else
		gfi_globrunqput(sg->g);
}

/*
 * One epoll event: the fd's first waiter per direction, or its ready
 * bit. Returns how many fibers were readied. An event of another
 * registration than pd's current one is dropped, or kept aside when it
 * is of the registration being installed (see the top of this file).
 */
static int netpoll_event(uint64_t data, uint32_t e, struct gfi_p *p)
{
	struct polldesc *pd = pd_lookup((int)(uint32_t)data);
	uint32_t gen = (uint32_t)(data >> 32);
	struct gfi_sudog *rs = NULL, *ws = NULL;
	bool r = e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
	bool w = e & (EPOLLOUT | EPOLLHUP | EPOLLERR);

	if (!pd)
		return 0;
#ifdef GF_TSAN
	__tsan_acquire(pd);	/* partner: wait_fd, see there */
#endif
	gfi_lock(&pd->lock);
	if (gen != pd->gen) {
		if (pd->registering && gen == pd->gen + 1) {
			pd->pend_r |= r;
			pd->pend_w |= w;
		}
		gfi_unlock(&pd->lock);
		return 0;
	}
	if (r) {
		rs = gfi_waitq_dequeue(&pd->rq);
		if (rs)
			rs->success = true;
		else
			pd->rready = true;
	}
	if (w) {
		ws = gfi_waitq_dequeue(&pd->wq);
		if (ws)
			ws->success = true;
		else
			pd->wready = true;
	}
	gfi_unlock(&pd->lock);
	if (rs)
		netpoll_ready(rs, p);
	if (ws)
		netpoll_ready(ws, p);
	return !!rs + !!ws;
}

int gfi_netpoll(int64_t delay, struct gfi_p *p)
{
	struct epoll_event evs[128];
	struct timespec ts;
	int ep = atomic_load(&epfd), n, i, readied = 0;

	if (ep < 0)
		return sleep_without_poller(delay);
	n = epoll_pwait2(ep, evs, 128, delay_ts(delay, &ts), NULL);
	if (n < 0 && errno == ENOSYS) {
		int ms = delay < 0 ? -1 : (int)((delay + 999999) / 1000000);

		n = epoll_wait(ep, evs, 128, ms);
	}
	for (i = 0; i < n; i++) {
		if (evs[i].data.u64 == BREAK_DATA) {
			uint64_t v;

			/*
			 * Only a blocking poll consumes a break (Go's rule):
			 * a non-blocking one must not eat the wake-up meant
			 * for the M about to block.
			 */
			if (delay == 0)
				continue;
			if (read(breakfd, &v, sizeof(v)) < 0)
				(void)0;
			atomic_store(&breakpending, 0);
			continue;
		}
		readied += netpoll_event(evs[i].data.u64, evs[i].events, p);
	}
	return readied;
}

static bool pd_unlock(gf_fiber_t *gp, void *lock)
{
	(void)gp;
	gfi_unlock(lock);
	return true;
}

/* Take all of pd's waiters (locked), their sudogs linked through next:
 * they are woken with success false (EBADF). */
static struct gfi_sudog *pd_evict(struct polldesc *pd)
{
	struct gfi_sudog *sg, *list = NULL;

	while ((sg = gfi_waitq_dequeue(&pd->rq)) ||
	       (sg = gfi_waitq_dequeue(&pd->wq))) {
		sg->success = false;
		sg->next = list;
		list = sg;
	}
	pd->rready = pd->wready = false;
	return list;
}

static void ready_evicted(struct gfi_sudog *list)
{
	while (list) {
		struct gfi_sudog *sg = list;

		list = sg->next;	/* before its fiber can run */
		gfi_ready(sg->g, false);
	}
}

/* Lock pd once no gf_close or registration is in flight on it. */
static void pd_lock_quiet(struct polldesc *pd)
{
	gfi_lock(&pd->lock);
	while (pd->closing || pd->registering) {
		gfi_unlock(&pd->lock);
		if (gfi_getg())
			gf_yield();
		else
			sched_yield();
		gfi_lock(&pd->lock);
	}
}

/*
 * Register pd's fd in the poller, as a new generation when the kernel
 * takes it (see the top of this file); pd locked (and left locked),
 * nothing in flight. seq: what the caller sampled before its attempt
 * (UINT64_MAX: none); a gf_close since fails with EBADF. Returns 0, or
 * -1 with errno from epoll_ctl (EBADF, EPERM: not pollable, ENOMEM,
 * ENOSPC); or 1, pd unlocked, when it evicted stale waiters: anything
 * may have happened since, the caller starts over.
 */
static int pd_register(struct polldesc *pd, uint64_t seq)
{
	uint32_t gen = pd->gen + 1, epoch = atomic_load(&pollepoch);
	struct gfi_sudog *stale = NULL;
	int r, err;

	if (seq != UINT64_MAX && seq != pd->seq) {
		errno = EBADF;
		return -1;
	}
	pd->registering = true;
	pd->pend_r = pd->pend_w = false;
	gfi_unlock(&pd->lock);
	r = fd_watch(atomic_load(&epfd), pd->fd, gen);
	err = errno;
	gfi_lock(&pd->lock);
	pd->registering = false;
	if (r && err != EEXIST) {
		errno = err;
		return -1;
	}
	if (!r) {
		/* Kept: a new file at this number, or a new poller. */
		if (pd->epoch == epoch) {
			stale = pd_evict(pd);
			pd_forget(pd);
		}
		pd->gen = gen;
		pd->epoch = epoch;
		pd->rready = pd->pend_r;
		pd->wready = pd->pend_w;
	}
	if (stale) {
		/* readied unlocked; then the caller starts over */
		gfi_unlock(&pd->lock);
		ready_evicted(stale);
		return 1;
	}
	return 0;
}

/* A deadline that has passed: GF_NOWAIT, any negative one but
 * GF_FOREVER, or one not in the future. */
static bool deadline_passed(int64_t deadline)
{
	if (deadline == GF_FOREVER)
		return false;
	return deadline <= 0 || deadline <= gfi_nanotime();
}

/* The events of EPOLLIN/EPOLLOUT that fd has now (poll(2), no wait). */
static int fd_ready(int fd, int events)
{
	struct pollfd pfd = { .fd = fd, .events = (short)events };
	int rev = 0;

	if (poll(&pfd, 1, 0) <= 0 || (pfd.revents & POLLNVAL))
		return 0;
	if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
		rev |= events & EPOLLIN;
	if (pfd.revents & (POLLOUT | POLLHUP | POLLERR))
		rev |= events & EPOLLOUT;
	return rev;
}

/*
 * The earlier of two deadlines (GF_FOREVER: none). The one place that
 * knows what a deadline value means, with deadline_passed.
 */
static int64_t deadline_min(int64_t a, int64_t b)
{
	if (a == GF_FOREVER)
		return b;
	if (b == GF_FOREVER)
		return a;
	return a < b ? a : b;
}

/*
 * A sudog woken by gf_net_set_deadline (elem, unused otherwise here):
 * not an event, the wait starts over under the new deadline.
 */
static char deadline_changed;

/* How a wait treats its descriptor (pd_arm's and wait_fd's flags). */
enum {
	WAIT_NET = 1,	/* net.c's: registered for life, per-fd deadlines */
	ARM_PERSIST = 1,	/* registered for its life from now on */
	ARM_NEW = 2,	/* a new file: registered whatever pd remembers */
};

/*
 * pd locked and quiet, its fd registered in this poller, as a new
 * generation unless the descriptor is registered for its life
 * (persist, set by ARM_PERSIST: net.c's waits and registrations) and
 * already in this poller: then nothing is asked of the kernel.
 * ARM_NEW: a new file, registered anyway. Returns 0 (locked), -1
 * with errno (unlocked): EBADF when a gf_close came after seq was
 * sampled, epoll_ctl's.
 */
static int pd_arm(struct polldesc *pd, uint64_t seq, int flags)
{
	int r;

	do {
		pd_lock_quiet(pd);
		if (seq != UINT64_MAX && seq != pd->seq) {
			gfi_unlock(&pd->lock);
			errno = EBADF;
			return -1;
		}
		if (pd->persist && !(flags & ARM_NEW) &&
		    pd->epoch == atomic_load(&pollepoch))
			return 0;
		r = pd_register(pd, seq);
	} while (r > 0);
	if (r < 0) {
		gfi_unlock(&pd->lock);
		return -1;
	}
	if (flags & ARM_PERSIST)
		pd->persist = true;
	return 0;
}

static int wait_fd(int fd, int events, int64_t until, uint64_t seq,
		   int flags, uintptr_t pc)
{
	struct gfi_sudog rsg, wsg;
	struct polldesc *pd;
	gfi_g *gp = gfi_getg();
	int64_t deadline;
	int rev = 0;
	struct gfi_sudog *w;

	if (!(events & (EPOLLIN | EPOLLOUT)) ||
	    (events & ~(EPOLLIN | EPOLLOUT))) {
		errno = EINVAL;
		return -1;
	}
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (gfi_runtime_init() || poller_init())
		return -1;
	pd = pd_get(fd);
	if (!pd)
		return -1;
#ifdef GF_TSAN
	/*
	 * The poller finds pd through the table, after the kernel handed it
	 * the event: TSan does not see the epoll syscalls order the two
	 * (GCC 12's TSan has no epoll_pwait2 interceptor).
	 */
	__tsan_release(pd);
#endif
again:
	/*
	 * Re-added at every wait unless registered for its life: a fd of
	 * the user's may have been closed with close(2) and the number
	 * reused (see the top of this file).
	 */
	if (pd_arm(pd, seq, flags & WAIT_NET ? ARM_PERSIST : 0))
		return -1;
	if ((events & EPOLLIN) && pd->rready) {
		pd->rready = false;
		rev |= EPOLLIN;
	}
	if ((events & EPOLLOUT) && pd->wready) {
		pd->wready = false;
		rev |= EPOLLOUT;
	}
	if (rev) {
		gfi_unlock(&pd->lock);
		return rev;
	}
	deadline = until;
	if (flags & WAIT_NET)
		deadline = deadline_min(until, events & EPOLLIN ? pd->rdl
								 : pd->wdl);
	if (deadline_passed(deadline) || !gp) {
		gfi_unlock(&pd->lock);
		/* an edge the poller has not reaped yet (a new registration
		 * reports one): ask the fd itself */
		rev = fd_ready(fd, events);
		if (rev)
			return rev;
		errno = !gp ? EPERM : deadline == GF_NOWAIT ? EAGAIN
							     : ETIMEDOUT;
		return -1;
	}
	atomic_store(&gp->selectdone, 0);
	gp->param = NULL;
	rsg = (struct gfi_sudog){ .g = gp, .is_select = true };
	wsg = rsg;
	if (events & EPOLLIN)
		gfi_waitq_push(&pd->rq, &rsg);
	if (events & EPOLLOUT)
		gfi_waitq_push(&pd->wq, &wsg);
	atomic_fetch_add(&gfi_sched.npollwait, 1);
	gfi_park_deadline(pd_unlock, &pd->lock, GF_WAIT_IO, pc, pd, deadline);
	atomic_fetch_sub(&gfi_sched.npollwait, 1);
	gfi_lock(&pd->lock);
	w = gp->param;
	gp->param = NULL;
	gfi_waitq_remove(&pd->rq, &rsg);
	gfi_waitq_remove(&pd->wq, &wsg);
	gfi_unlock(&pd->lock);
	if (!w) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (w->elem == &deadline_changed)
		goto again;
	if (!w->success) {
		errno = EBADF;		/* evicted: the fd was closed */
		return -1;
	}
	return w == &rsg ? EPOLLIN : EPOLLOUT;
}

GF_API int gf_wait_fd(int fd, int events, int64_t deadline)
{
	return wait_fd(fd, events, deadline, UINT64_MAX, 0,
		       (uintptr_t)__builtin_return_address(0));
}

/*
 * An IO attempt of gf_read/gf_write on pd's fd begins: counted in users
 * so that gf_close never closes the number under it (Go's fdMutex
 * reference). *seq: the close count the call began with (first: taken
 * now). Fails with EBADF once a gf_close began since.
 */
static int io_begin(struct polldesc *pd, uint64_t *seq, bool first)
{
	gfi_lock(&pd->lock);
	if (first)
		*seq = pd->seq;
	if (pd->closing || pd->seq != *seq) {
		gfi_unlock(&pd->lock);
		errno = EBADF;
		return -1;
	}
	pd->users++;
	gfi_unlock(&pd->lock);
	return 0;
}

static int close_finish(struct polldesc *pd);

/* The attempt ended; the last one out does a close deferred to it. */
static void io_end(struct polldesc *pd)
{
	bool last;

	gfi_lock(&pd->lock);
	last = --pd->users == 0 && pd->close_deferred;
	if (last)
		pd->close_deferred = false;
	gfi_unlock(&pd->lock);
	if (last) {
		int err = errno;	/* the attempt's */

		close_finish(pd);
		errno = err;
	}
}

/*
 * One attempt that cannot block the thread for long (see gf_read):
 * returns as read/write, -1 with EAGAIN when not ready.
 */
static ssize_t io_try(int fd, void *buf, size_t n, bool out)
{
	struct pollfd pfd = { .fd = fd, .events = out ? POLLOUT : POLLIN };
	ssize_t r;

	r = out ? send(fd, buf, n, MSG_DONTWAIT)
		: recv(fd, buf, n, MSG_DONTWAIT);
	if (r >= 0 || errno != ENOTSOCK)
		return r;
	r = poll(&pfd, 1, 0);
	if (r > 0 && (pfd.revents & POLLNVAL)) {
		errno = EBADF;
		return -1;
	}
	if (r == 0) {
		errno = EAGAIN;
		return -1;
	}
	if (r < 0)
		return r;
	gf_syscall_enter();
	r = out ? write(fd, buf, n) : read(fd, buf, n);
	gf_syscall_exit();
	return r;
}

/*
 * gf_read / gf_write: one attempt that cannot block the thread, then a
 * wait for readiness, and again; the file's O_NONBLOCK flag is never
 * changed (it belongs to the open file description, which others may
 * share: a shell's terminal). A socket is tried with MSG_DONTWAIT. Any
 * other fd is asked with poll(2) (timeout 0) whether it is ready; when
 * it is, read(2)/write(2) runs bracketed as a syscall, so that on a
 * blocking fd that another reader emptied meanwhile it blocks this
 * thread only, its processor handed on to other fibers (Go's blocking
 * file IO); a non-blocking one fails with EAGAIN and waits again.
 */
static ssize_t fd_io(int fd, void *buf, size_t n, bool out, uintptr_t pc)
{
	struct polldesc *pd = pd_get(fd);
	uint64_t seq = 0;
	bool first = true;

	if (!pd)
		return -1;	/* EBADF (negative), ENOMEM */
	for (;;) {
		ssize_t r;

		if (io_begin(pd, &seq, first))
			return -1;
		first = false;
		r = io_try(fd, buf, n, out);
		io_end(pd);
		if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
			       errno != EINTR))
			return r;
		if (errno != EINTR &&
		    wait_fd(fd, out ? EPOLLOUT : EPOLLIN, GF_FOREVER, seq, 0,
			    pc) < 0)
			return -1;
	}
}

GF_API ssize_t gf_read(int fd, void *buf, size_t n)
{
	return fd_io(fd, buf, n, false, (uintptr_t)__builtin_return_address(0));
}

GF_API ssize_t gf_write(int fd, const void *buf, size_t n)
{
	return fd_io(fd, (void *)buf, n, true,
		     (uintptr_t)__builtin_return_address(0));
}

/* Deregister and close pd's fd, then let waits on the number in again
 * (gf_close, or the last IO attempt it deferred to). */
static int close_finish(struct polldesc *pd)
{
	int ep = atomic_load(&epfd), r, err = errno;

	/* ENOENT when never registered: not the caller's concern */
	if (ep >= 0)
		epoll_ctl(ep, EPOLL_CTL_DEL, pd->fd, NULL);
	errno = err;
	/* close(2) may block (SO_LINGER, a flushing device) */
	gf_syscall_enter();
	r = close(pd->fd);
	gf_syscall_exit();
	err = errno;
	gfi_lock(&pd->lock);
	pd->closing = false;
	gfi_unlock(&pd->lock);
	errno = err;
	return r;
}

/*
 * gf_close: evict, keep out, deregister, close, let in (see the top of
 * this file). An IO attempt in flight on the fd (between io_begin and
 * io_end) closes it on its way out instead, as Go's last reference
 * does: the number is never closed under a syscall using it.
 */
GF_API int gf_close(int fd)
{
	struct gfi_sudog *list;
	struct polldesc *pd;
	bool deferred;

	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	pd = pd_get(fd);
	if (!pd)
		return close(fd);	/* no memory: no waiter either */
	pd_lock_quiet(pd);
	pd->closing = true;
	pd->seq++;
	pd->gen++;	/* events reaped before the DEL are stale */
	pd->epoch = 0;
	pd_forget(pd);
	list = pd_evict(pd);
	deferred = pd->users > 0;
	pd->close_deferred = deferred;
	gfi_unlock(&pd->lock);
	ready_evicted(list);
	if (deferred)
		return 0;
	return close_finish(pd);
}

/* ------------------------------------------------------------ net.c's */

int gfi_netfd_init(int fd, bool nonblock)
{
	struct polldesc *pd;

	if (gfi_runtime_init() || poller_init())
		return -1;
	pd = pd_get_open(fd, true);
	if (!pd)
		return -1;
	/*
	 * A new file at the number, whatever the descriptor remembers:
	 * registered now (a file at the number closed with close(2) left
	 * its waiters, evicted here), never again in this poller.
	 */
	if (pd_arm(pd, UINT64_MAX, ARM_PERSIST | ARM_NEW))
		return -1;
	pd->nonblock = nonblock;
	gfi_unlock(&pd->lock);
	return 0;
}

ssize_t gfi_netfd_do(int fd, int events, gfi_netop op, void *arg,
		     int64_t until, uintptr_t pc)
{
	struct polldesc *pd = pd_get(fd);
	uint64_t seq = 0;
	bool first = true;

	if (!pd)
		return -1;	/* EBADF (negative, not open), ENOMEM */
	for (;;) {
		ssize_t r;

		if (io_begin(pd, &seq, first))
			return -1;
		first = false;
		/* nonblock is the file's: fixed while users hold it */
		r = op(fd, arg, pd->nonblock);
		io_end(pd);
		if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
			       errno != EINTR))
			return r;
		/* a gf_close from here on fails the wait (seq) */
		gfi_chaos(GFI_CHAOS_PARK);
		if (errno != EINTR &&
		    wait_fd(fd, events, until, seq, WAIT_NET, pc) < 0)
			return -1;
	}
}

int gfi_netfd_wait(int fd, int events, int64_t until, uintptr_t pc)
{
	return wait_fd(fd, events, until, UINT64_MAX, WAIT_NET, pc) < 0 ? -1
									: 0;
}

/* Wake q's waiters to start their wait over (set_deadline): list. */
static struct gfi_sudog *pd_rewake(struct gfi_waitq *q,
				   struct gfi_sudog *list)
{
	struct gfi_sudog *sg;

	while ((sg = gfi_waitq_dequeue(q))) {
		sg->success = false;
		sg->elem = &deadline_changed;
		sg->next = list;
		list = sg;
	}
	return list;
}

int gfi_netfd_set_deadline(int fd, int64_t rdl, int64_t wdl)
{
	struct polldesc *pd = pd_get(fd);
	struct gfi_sudog *list = NULL;

	if (!pd)
		return -1;
	pd_lock_quiet(pd);
	/*
	 * A fiber waiting now waits under the new deadline (Go's
	 * SetReadDeadline): it is woken to start its wait over, which
	 * fails at once when the deadline has passed. A wait on both
	 * directions (gf_wait_fd's) is in both queues: it is woken once,
	 * by the first dequeue that wins its selectdone.
	 */
	if (rdl != pd->rdl)
		list = pd_rewake(&pd->rq, list);
	if (wdl != pd->wdl)
		list = pd_rewake(&pd->wq, list);
	pd->rdl = rdl;
	pd->wdl = wdl;
	gfi_unlock(&pd->lock);
	ready_evicted(list);
	return 0;
}
