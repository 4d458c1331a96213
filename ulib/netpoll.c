// SPDX-License-Identifier: MIT
/*
 * netpoll.c - IO waits on epoll (Go's netpoll.go / netpoll_epoll.go),
 * and the timed sleep of the scheduler.
 *
 * One epoll instance; each fd is registered edge-triggered for both
 * directions the first time a fiber waits on it. A poll descriptor per
 * fd keeps, under its lock, the fibers waiting to read and to write and
 * a "ready" bit per direction for an edge that arrived with nobody
 * waiting (consumed by the next wait). An eventfd breaks a blocked
 * netpoll (a new earlier timer, main returning).
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
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

#ifdef GF_TSAN
#include <sanitizer/tsan_interface.h>
#endif

struct polldesc {
	int lock;
	int fd;
	bool rready, wready;		/* edge seen with no waiter */
	struct gfi_waitq rq, wq;	/* waiting fibers */
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
static char break_marker;
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

/* Watch pd's fd for both directions, edge-triggered, in instance ep. */
static int pd_watch(int ep, struct polldesc *pd)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = pd,
	};

	return epoll_ctl(ep, EPOLL_CTL_ADD, pd->fd, &ev);
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
 * callers retry as any spurious wake-up.
 */
static void fork_child(void)
{
	struct polldesc **a = atomic_load(&pds), *pd;
	int ep = atomic_load(&epfd), i, n = atomic_load(&npds);

	pthread_mutex_unlock(&pdlock);
	pthread_mutex_unlock(&initlock);
	atomic_store(&breakpending, 0);
	atomic_store(&sleepbreak, 0);
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
		if (pd && (pd->rq.first || pd->wq.first))
			pd_watch(atomic_load(&epfd), pd);
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
		.events = EPOLLIN, .data.ptr = &break_marker,
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

static struct polldesc *pd_get(int fd)
{
	struct polldesc **a, *pd;
	int n;

	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	a = atomic_load(&pds);
	if (fd < atomic_load(&npds) && (pd = __atomic_load_n(&a[fd],
							    __ATOMIC_ACQUIRE)))
		return pd;
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
		__atomic_store_n(&a[fd], pd, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&pdlock);
	return pd;
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
		struct polldesc *pd = evs[i].data.ptr;
		uint32_t e = evs[i].events;
		struct gfi_sudog *rs = NULL, *ws = NULL;

		if (evs[i].data.ptr == &break_marker) {
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
#ifdef GF_TSAN
		__tsan_acquire(pd);	/* partner: wait_fd, see there */
#endif
		gfi_lock(&pd->lock);
		if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			rs = gfi_waitq_dequeue(&pd->rq);
			if (!rs)
				pd->rready = true;
		}
		if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
			ws = gfi_waitq_dequeue(&pd->wq);
			if (!ws)
				pd->wready = true;
		}
		gfi_unlock(&pd->lock);
		if (rs) {
			gfi_casgstatus(rs->g, GFIBERS_GWAITING,
				       GFIBERS_GRUNNABLE);
			if (p)
				gfi_runqput(p, rs->g, false);
			else
				gfi_globrunqput(rs->g);
			readied++;
		}
		if (ws) {
			gfi_casgstatus(ws->g, GFIBERS_GWAITING,
				       GFIBERS_GRUNNABLE);
			if (p)
				gfi_runqput(p, ws->g, false);
			else
				gfi_globrunqput(ws->g);
			readied++;
		}
	}
	return readied;
}

static bool pd_unlock(gf_fiber_t *gp, void *lock)
{
	(void)gp;
	gfi_unlock(lock);
	return true;
}

static int wait_fd(int fd, int events, int64_t deadline, uintptr_t pc)
{
	struct gfi_sudog rsg, wsg;
	struct polldesc *pd;
	gfi_g *gp = gfi_getg();
	int rev = 0;
	struct gfi_sudog *w;

	if (!(events & (EPOLLIN | EPOLLOUT))) {
		errno = EINVAL;
		return -1;
	}
	if (gfi_runtime_init() || poller_init())
		return -1;
	pd = pd_get(fd);
	if (!pd)
		return -1;
#ifdef GF_TSAN
	/*
	 * The kernel hands pd to the poller's thread: TSan sees that through
	 * its epoll_wait interceptor, but GCC 12's has none for epoll_pwait2,
	 * and would call pd's calloc a race with the poller's lock.
	 */
	__tsan_release(pd);
#endif
	/* Re-added every time: the fd may have been closed and reused. */
	if (pd_watch(atomic_load(&epfd), pd) && errno != EEXIST)
		return -1;
	gfi_lock(&pd->lock);
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
	if (deadline == 0 || !gp) {
		gfi_unlock(&pd->lock);
		errno = gp ? EAGAIN : EPERM;
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
	return w == &rsg ? EPOLLIN : EPOLLOUT;
}

GF_API int gf_wait_fd(int fd, int events, int64_t deadline)
{
	return wait_fd(fd, events, deadline,
		       (uintptr_t)__builtin_return_address(0));
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

GF_API ssize_t gf_read(int fd, void *buf, size_t n)
{
	uintptr_t pc = (uintptr_t)__builtin_return_address(0);

	set_nonblock(fd);
	for (;;) {
		ssize_t r = read(fd, buf, n);

		if (r >= 0 || (errno != EAGAIN && errno != EINTR))
			return r;
		if (errno == EAGAIN &&
		    wait_fd(fd, EPOLLIN, GF_FOREVER, pc) < 0)
			return -1;
	}
}

GF_API ssize_t gf_write(int fd, const void *buf, size_t n)
{
	uintptr_t pc = (uintptr_t)__builtin_return_address(0);

	set_nonblock(fd);
	for (;;) {
		ssize_t r = write(fd, buf, n);

		if (r >= 0 || (errno != EAGAIN && errno != EINTR))
			return r;
		if (errno == EAGAIN &&
		    wait_fd(fd, EPOLLOUT, GF_FOREVER, pc) < 0)
			return -1;
	}
}
