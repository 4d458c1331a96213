// SPDX-License-Identifier: MIT
/*
 * park_each.c - one fiber parked in each blocking primitive of libgfiber,
 * for checking /proc/gfibers against what the program says.
 *
 * Usage: park_each
 *
 * Starts one fiber per wait reason, each in a function of this file
 * named after it (park_chan_recv, park_chan_send, ...), and once all
 * are parked prints one line per fiber, then "park_each: ready":
 *
 *	park_each: fiber <id> reason "<wait reason>" site <function>
 *
 * /proc/gfibers must then show fiber <id> waiting (leaked, for the nil
 * channels and the select with no cases: nothing can ever wake them)
 * with that reason and a wait site inside <function> (symbolize the PC
 * against this binary).
 * Main sleeps in 1-hour sleeps (reason "sleep", in main_sleeps) until
 * killed.
 */
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "gfiber.h"

static gf_chan_t *unbuffered;		/* nobody on the other side */
static gf_chan_t *unbuffered2;
static gf_mutex_t mu = GF_MUTEX_INIT;
static gf_rwmutex_t rw_for_reader = GF_RWMUTEX_INIT;
static gf_rwmutex_t rw_for_writer = GF_RWMUTEX_INIT;
static gf_cond_t cv = GF_COND_INIT;
static gf_mutex_t cv_mu = GF_MUTEX_INIT;
static gf_waitgroup_t never_done = GF_WAITGROUP_INIT;
static gf_sem_t empty = GF_SEM_INIT(0);
static gf_waitgroup_t started = GF_WAITGROUP_INIT;
static int pipefd[2];
static volatile int sink;

/* Every park_* function blocks first and touches sink after, so that
 * the blocking call is never a tail call (its frame stays). */
static void park_chan_recv(void *a)
{
	(void)a;
	gf_waitgroup_done(&started);
	gf_chan_recv(unbuffered, NULL);
	sink = 1;
}

static void park_chan_send(void *a)
{
	long v = 1;

	(void)a;
	gf_waitgroup_done(&started);
	gf_chan_send(unbuffered2, &v);
	sink = 1;
}

static void park_select(void *a)
{
	gf_chan_t *c = gf_chan_new(0, 0);
	gf_select_case_t cs[2] = {
		{ .chan = c, .dir = GF_SELECT_RECV },
		{ .chan = c, .dir = GF_SELECT_RECV },
	};

	(void)a;
	gf_waitgroup_done(&started);
	sink = gf_select(cs, 2);
}

static void park_select_no_cases(void *a)
{
	(void)a;
	gf_waitgroup_done(&started);
	sink = gf_select(NULL, 0);
}

static void park_chan_recv_nil(void *a)
{
	(void)a;
	gf_waitgroup_done(&started);
	gf_chan_recv(NULL, NULL);
	sink = 1;
}

static void park_chan_send_nil(void *a)
{
	long v = 0;

	(void)a;
	gf_waitgroup_done(&started);
	gf_chan_send(NULL, &v);
	sink = 1;
}

static void park_sleep(void *a)
{
	(void)a;
	gf_waitgroup_done(&started);
	gf_sleep(3600LL * 1000000000LL);
	sink = 1;
}

static void park_io_wait(void *a)
{
	(void)a;
	gf_waitgroup_done(&started);
	gf_wait_fd(pipefd[0], EPOLLIN);
	sink = 1;
}

static void park_semacquire(void *a)
{
	(void)a;
	gf_waitgroup_done(&started);
	gf_sem_acquire(&empty);
	sink = 1;
}

static void park_mutex_lock(void *a)
{
	(void)a;
	gf_waitgroup_done(&started);
	gf_mutex_lock(&mu);
	sink = 1;
}

static void park_rwmutex_rlock(void *a)
{
	(void)a;
	gf_waitgroup_done(&started);
	gf_rwmutex_rlock(&rw_for_reader);
	sink = 1;
}

static void park_rwmutex_lock(void *a)
{
	(void)a;
	gf_waitgroup_done(&started);
	gf_rwmutex_lock(&rw_for_writer);
	sink = 1;
}

static void park_cond_wait(void *a)
{
	(void)a;
	gf_mutex_lock(&cv_mu);
	gf_waitgroup_done(&started);
	gf_cond_wait(&cv, &cv_mu);
	sink = 1;
}

static void park_waitgroup_wait(void *a)
{
	(void)a;
	gf_waitgroup_done(&started);
	gf_waitgroup_wait(&never_done);
	sink = 1;
}

static bool stay(gf_fiber_t *self, void *lock)
{
	(void)self;
	(void)lock;
	return true;
}

static void park_user_reason(void *a)
{
	(void)a;
	gf_waitgroup_done(&started);
	gf_park(stay, NULL, gf_wait_reason("user: waiting for input"));
	sink = 1;
}

static const struct {
	void (*fn)(void *);
	const char *fname;
	const char *reason;
} parks[] = {
	{ park_chan_recv, "park_chan_recv", "chan receive" },
	{ park_chan_send, "park_chan_send", "chan send" },
	{ park_select, "park_select", "select" },
	{ park_select_no_cases, "park_select_no_cases", "select (no cases)" },
	{ park_chan_recv_nil, "park_chan_recv_nil", "chan receive (nil chan)" },
	{ park_chan_send_nil, "park_chan_send_nil", "chan send (nil chan)" },
	{ park_sleep, "park_sleep", "sleep" },
	{ park_io_wait, "park_io_wait", "IO wait" },
	{ park_semacquire, "park_semacquire", "semacquire" },
	{ park_mutex_lock, "park_mutex_lock", "sync.Mutex.Lock" },
	{ park_rwmutex_rlock, "park_rwmutex_rlock", "sync.RWMutex.RLock" },
	{ park_rwmutex_lock, "park_rwmutex_lock", "sync.RWMutex.Lock" },
	{ park_cond_wait, "park_cond_wait", "sync.Cond.Wait" },
	{ park_waitgroup_wait, "park_waitgroup_wait", "sync.WaitGroup.Wait" },
	{ park_user_reason, "park_user_reason", "user: waiting for input" },
};

#define NPARKS (sizeof(parks) / sizeof(parks[0]))

static void main_sleeps(void)
{
	for (;;)
		gf_sleep(3600LL * 1000000000LL);
}

static int park_main(void *arg)
{
	int64_t ids[NPARKS];
	size_t i;

	(void)arg;
	unbuffered = gf_chan_new(sizeof(long), 0);
	unbuffered2 = gf_chan_new(sizeof(long), 0);
	if (!unbuffered || !unbuffered2 || pipe(pipefd)) {
		perror("park_each: setup");
		return 1;
	}
	gf_mutex_lock(&mu);
	gf_rwmutex_lock(&rw_for_reader);	/* a writer holds it */
	gf_rwmutex_rlock(&rw_for_writer);	/* a reader holds it */
	gf_waitgroup_add(&never_done, 1);
	gf_waitgroup_add(&started, (int64_t)NPARKS);
	for (i = 0; i < NPARKS; i++) {
		gf_attr_t a = { .name = parks[i].fname };

		ids[i] = gf_go_attr(parks[i].fn, NULL, &a);
		if (ids[i] < 0) {
			perror("park_each: gf_go");
			return 1;
		}
	}
	gf_waitgroup_wait(&started);
	gf_sleep(20000000);		/* each reaches its park */
	for (i = 0; i < NPARKS; i++)
		printf("park_each: fiber %ld reason \"%s\" site %s\n",
		       (long)ids[i], parks[i].reason, parks[i].fname);
	printf("park_each: ready\n");
	fflush(stdout);
	main_sleeps();
	return 0;
}

int main(void)
{
	if (gf_main(park_main, NULL) < 0) {
		perror("park_each: gf_main");
		return 1;
	}
	return 0;
}
