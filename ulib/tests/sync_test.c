// SPDX-License-Identifier: GPL-2.0
/*
 * sync_test.c - mutex, rwmutex, cond, waitgroup, once, semaphore: mutual
 * exclusion under many Ps, FIFO hand-off, deadlines, errors for misuse.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>

/*
 * gfiber.h first, with no macro defined (gftest.h defines the old
 * GF_ERRNO_SAFE opt-in after it, too late): errno here is what a user
 * gets by default (errno_default_safe below).
 */
#include "gfiber.h"
#include "gftest.h"

static gf_waitgroup_t wg;
static gf_mutex_t mu;
static long counter;		/* protected by mu */

static void adder(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 5000 / GFT_SCALE; i++) {
		gf_mutex_lock(&mu);
		counter++;
		if (i % 64 == 0)
			gf_yield();	/* hold it across a switch */
		gf_mutex_unlock(&mu);
	}
	gf_waitgroup_done(&wg);
}

static int mutex_main(void *arg)
{
	GFT_FIBER;
	int i;

	(void)arg;
	gf_waitgroup_add(&wg, 16);
	for (i = 0; i < 16; i++)
		gf_go(adder, NULL);
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(16 * (5000 / GFT_SCALE), counter);
	EXPECT_EQ(0, gf_mutex_trylock(&mu));
	EXPECT_EQ(-1, gf_mutex_trylock(&mu));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, gf_mutex_lock_until(&mu, GF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, gf_mutex_lock_until(&mu, gf_timeout(2000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, gf_mutex_unlock(&mu));
	EXPECT_EQ(-1, gf_mutex_unlock(&mu));
	EXPECT_EQ(EPERM, errno);
	return 0;
}

TEST(mutex_excludes)
{
	setenv("GF_PROCS", "4", 1);
	GFT_RUN(mutex_main, NULL);
}

static int order[8], norder;

static void fifo_locker(void *arg)
{
	gf_mutex_lock(&mu);
	order[norder++] = (int)(long)arg;
	gf_mutex_unlock(&mu);
	gf_waitgroup_done(&wg);
}

static int mutex_fifo_main(void *arg)
{
	GFT_FIBER;
	long i;

	(void)arg;
	gf_mutex_lock(&mu);
	gf_waitgroup_add(&wg, 8);
	for (i = 0; i < 8; i++) {
		gf_go(fifo_locker, (void *)i);
		gf_sleep(500000);	/* queue in this order */
	}
	gf_mutex_unlock(&mu);
	gf_waitgroup_wait(&wg);
	for (i = 0; i < 8; i++)
		EXPECT_EQ(i, order[i]);
	return 0;
}

TEST(mutex_fifo_handoff)
{
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(mutex_fifo_main, NULL);
}

static gf_rwmutex_t rw;
static atomic_int readers_in, max_readers, writer_in, violations;

static void reader(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 200 / GFT_SCALE + 1; i++) {
		int n;

		gf_rwmutex_rlock(&rw);
		n = atomic_fetch_add(&readers_in, 1) + 1;
		if (atomic_load(&writer_in))
			atomic_fetch_add(&violations, 1);
		if (n > atomic_load(&max_readers))
			atomic_store(&max_readers, n);
		gf_yield();
		atomic_fetch_sub(&readers_in, 1);
		gf_rwmutex_runlock(&rw);
	}
	gf_waitgroup_done(&wg);
}

static void writer(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 100 / GFT_SCALE + 1; i++) {
		gf_rwmutex_lock(&rw);
		if (atomic_fetch_add(&writer_in, 1) != 0 ||
		    atomic_load(&readers_in))
			atomic_fetch_add(&violations, 1);
		gf_yield();
		atomic_fetch_sub(&writer_in, 1);
		gf_rwmutex_unlock(&rw);
	}
	gf_waitgroup_done(&wg);
}

static gf_waitgroup_t inside, leave;

static void sharing_reader(void *arg)
{
	(void)arg;
	gf_rwmutex_rlock(&rw);
	atomic_fetch_add(&readers_in, 1);
	gf_waitgroup_done(&inside);
	gf_waitgroup_wait(&leave);	/* all three hold it at once */
	atomic_fetch_sub(&readers_in, 1);
	gf_rwmutex_runlock(&rw);
	gf_waitgroup_done(&wg);
}

static int rw_main(void *arg)
{
	GFT_FIBER;
	int i;

	(void)arg;
	/* readers share */
	gf_waitgroup_add(&leave, 1);
	gf_waitgroup_add(&inside, 3);
	gf_waitgroup_add(&wg, 3);
	for (i = 0; i < 3; i++)
		gf_go(sharing_reader, NULL);
	gf_waitgroup_wait(&inside);
	EXPECT_EQ(3, atomic_load(&readers_in));
	gf_waitgroup_done(&leave);
	gf_waitgroup_wait(&wg);
	/* readers and writers mixed: never a writer with anyone else */
	gf_waitgroup_add(&wg, 12);
	for (i = 0; i < 8; i++)
		gf_go(reader, NULL);
	for (i = 0; i < 4; i++)
		gf_go(writer, NULL);
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(0, atomic_load(&violations));
	EXPECT_EQ(-1, gf_rwmutex_runlock(&rw));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, gf_rwmutex_unlock(&rw));
	EXPECT_EQ(EPERM, errno);
	return 0;
}

TEST(rwmutex)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(rw_main, NULL);
}

/* Deadlines: Try* with GF_NOWAIT, timeouts, and a writer that gives up
 * letting in the readers queued behind it. */
static atomic_int late_reader_in;

static void writer_gives_up(void *arg)
{
	GFT_FIBER;

	(void)arg;
	/* long enough for main to see it queued and queue a reader behind
	 * it, under TSan on a loaded machine (20 ms was not) */
	EXPECT_EQ(-1, gf_rwmutex_lock_until(&rw, gf_timeout(300000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	gf_waitgroup_done(&wg);
}

static void late_reader(void *arg)
{
	(void)arg;
	gf_rwmutex_rlock(&rw);	/* queued: a writer waits */
	atomic_store(&late_reader_in, 1);
	gf_rwmutex_runlock(&rw);
	gf_waitgroup_done(&wg);
}

static int rw_deadline_main(void *arg)
{
	GFT_FIBER;
	int64_t t0;

	(void)arg;
	EXPECT_EQ(0, gf_rwmutex_rlock_until(&rw, GF_NOWAIT));
	EXPECT_EQ(-1, gf_rwmutex_lock_until(&rw, GF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	t0 = gf_now();
	EXPECT_EQ(-1, gf_rwmutex_lock_until(&rw, gf_deadline_at(t0 + 10000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_LE(t0 + 10000000, gf_now());
	/* We still hold the read lock: a writer waits and gives up; the
	 * reader that queued behind it gets in while we still read. */
	gf_waitgroup_add(&wg, 2);
	gf_go(writer_gives_up, NULL);
	/* Queued writer: a new reader may not pass it (Go's preference). */
	while (gf_rwmutex_rlock_until(&rw, GF_NOWAIT) == 0) {
		gf_rwmutex_runlock(&rw);
		gf_sleep(100000);
	}
	EXPECT_EQ(EAGAIN, errno);
	gf_go(late_reader, NULL);
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(1, atomic_load(&late_reader_in));
	EXPECT_EQ(0, gf_rwmutex_runlock(&rw));
	/* Write-held: readers cannot get in before the deadline. */
	EXPECT_EQ(0, gf_rwmutex_lock_until(&rw, GF_NOWAIT));
	EXPECT_EQ(-1, gf_rwmutex_rlock_until(&rw, GF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, gf_rwmutex_rlock_until(&rw, gf_timeout(5000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, gf_rwmutex_unlock(&rw));
	EXPECT_EQ(0, gf_rwmutex_lock_until(&rw, gf_timeout(5000000)));
	EXPECT_EQ(0, gf_rwmutex_unlock(&rw));
	return 0;
}

TEST(rwmutex_deadlines)
{
	GFT_RUN(rw_deadline_main, NULL);
}

static gf_cond_t cv;
static int ready_flag, consumed;

static void cond_waiter(void *arg)
{
	(void)arg;
	gf_mutex_lock(&mu);
	while (!ready_flag)
		gf_cond_wait(&cv, &mu);
	consumed++;
	gf_mutex_unlock(&mu);
	gf_waitgroup_done(&wg);
}

static int cond_main(void *arg)
{
	GFT_FIBER;
	int i;

	(void)arg;
	gf_waitgroup_add(&wg, 10);
	for (i = 0; i < 10; i++)
		gf_go(cond_waiter, NULL);
	gf_sleep(2000000);
	gf_cond_signal(&cv);	/* spurious for them: flag still 0 */
	gf_mutex_lock(&mu);
	ready_flag = 1;
	gf_mutex_unlock(&mu);
	gf_cond_broadcast(&cv);
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(10, consumed);
	gf_mutex_lock(&mu);
	EXPECT_EQ(-1, gf_cond_wait_until(&cv, &mu, gf_timeout(2000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(-1, gf_mutex_trylock(&mu));	/* relocked */
	gf_mutex_unlock(&mu);
	return 0;
}

TEST(cond)
{
	GFT_RUN(cond_main, NULL);
}

static int wg_main(void *arg)
{
	GFT_FIBER;
	gf_waitgroup_t w = GF_WAITGROUP_INIT;

	(void)arg;
	gf_waitgroup_wait(&w);		/* zero: returns */
	EXPECT_EQ(0, gf_waitgroup_wait_until(&w, GF_NOWAIT));
	EXPECT_EQ(-1, gf_waitgroup_add(&w, -1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, gf_waitgroup_done(&w));
	/* deadlines */
	EXPECT_EQ(0, gf_waitgroup_add(&w, 1));
	EXPECT_EQ(-1, gf_waitgroup_wait_until(&w, GF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, gf_waitgroup_wait_until(&w, gf_timeout(5000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, gf_waitgroup_done(&w));
	EXPECT_EQ(0, gf_waitgroup_wait_until(&w, gf_timeout(5000000)));
	return 0;
}

TEST(waitgroup_errors_and_deadlines)
{
	GFT_RUN(wg_main, NULL);
}

static gf_once_t the_once = GF_ONCE_INIT;
static atomic_int once_runs;

static void once_fn(void *arg)
{
	(void)arg;
	gf_sleep(1000000);	/* others wait for it */
	atomic_fetch_add(&once_runs, 1);
}

static void once_caller(void *arg)
{
	GFT_FIBER;

	(void)arg;
	gf_once(&the_once, once_fn, NULL);
	EXPECT_EQ(1, atomic_load(&once_runs));
	gf_waitgroup_done(&wg);
}

static int once_main(void *arg)
{
	GFT_FIBER;
	int i;

	(void)arg;
	gf_waitgroup_add(&wg, 8);
	for (i = 0; i < 8; i++)
		gf_go(once_caller, NULL);
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(1, atomic_load(&once_runs));
	return 0;
}

TEST(once)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(once_main, NULL);
}

static gf_sem_t sem = GF_SEM_INIT(3);
static atomic_int in_sem, sem_max;

static void sem_user(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 100 / GFT_SCALE + 1; i++) {
		int n;

		gf_sem_acquire(&sem);
		n = atomic_fetch_add(&in_sem, 1) + 1;
		if (n > atomic_load(&sem_max))
			atomic_store(&sem_max, n);
		gf_yield();
		atomic_fetch_sub(&in_sem, 1);
		gf_sem_release(&sem);
	}
	gf_waitgroup_done(&wg);
}

static int sem_main(void *arg)
{
	GFT_FIBER;
	gf_sem_t zero = GF_SEM_INIT(0);
	int i;

	(void)arg;
	gf_waitgroup_add(&wg, 10);
	for (i = 0; i < 10; i++)
		gf_go(sem_user, NULL);
	gf_waitgroup_wait(&wg);
	EXPECT_LE(atomic_load(&sem_max), 3);
	EXPECT_GE(atomic_load(&sem_max), 1);
	EXPECT_EQ(-1, gf_sem_acquire_until(&zero, GF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, gf_sem_acquire_until(&zero, gf_timeout(1000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	gf_sem_release(&zero);
	EXPECT_EQ(0, gf_sem_acquire_until(&zero, GF_NOWAIT));
	return 0;
}

TEST(semaphore)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(sem_main, NULL);
}

static gf_sem_t sem_zero = GF_SEM_INIT(0);
static atomic_int sem_got;

static void sem_waiter(void *arg)
{
	GFT_FIBER;

	(void)arg;
	EXPECT_EQ(0, gf_sem_acquire(&sem_zero));	/* no deadline */
	atomic_store(&sem_got, 1);
	gf_waitgroup_done(&wg);
}

/* gf_sem_acquire without a deadline parks ("semacquire") until a unit
 * is released, however long that takes: no timeout, no EAGAIN. */
static int sem_forever_main(void *arg)
{
	GFT_FIBER;
	int i;

	(void)arg;
	gf_waitgroup_add(&wg, 1);
	gf_go(sem_waiter, NULL);
	for (i = 0; i < 5000 && !strstr(gft_dump(), "[semacquire"); i++)
		gf_sleep(GF_MILLISECOND);
	EXPECT_NE(NULL, strstr(gft_dump(), "[semacquire"));
	gf_sleep(20 * GF_MILLISECOND);
	EXPECT_EQ(0, atomic_load(&sem_got));	/* still waiting */
	EXPECT_EQ(0, gf_sem_release(&sem_zero));
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(1, atomic_load(&sem_got));
	EXPECT_EQ(-1, gf_sem_acquire_until(&sem_zero, GF_NOWAIT)); /* taken */
	EXPECT_EQ(EAGAIN, errno);
	return 0;
}

TEST(semaphore_acquire_without_deadline)
{
	GFT_RUN(sem_forever_main, NULL);
}

/*
 * errno after a blocking call, by default (no macro): a sender parked on
 * a channel that another fiber closes resumes, possibly on the other
 * thread, with EPIPE. glibc's __errno_location() is const, so GCC -O2
 * reuses the address it computed for "errno = 0" before the call - the
 * first thread's errno - unless gfiber.h redirects errno. The loop runs
 * until enough migrations were seen (they come when the other thread
 * steals the woken sender); before errno was redirected by default,
 * most of them read a wrong errno.
 */
static atomic_int errno_bad, errno_moved;

static void errno_closer(void *arg)
{
	gf_sleep(1000);	/* the sender parks; either thread may wake it */
	gf_chan_close(arg);
	errno = EDOM;	/* this thread's errno: not what a sender expects */
}

static void errno_sender(void *arg)
{
	int i, v = 0;

	(void)arg;
	for (i = 0; i < 10000 / GFT_SCALE + 20 &&
		    atomic_load(&errno_moved) < 200 / GFT_SCALE + 5; i++) {
		gf_chan_t *c = gf_chan_new(sizeof(int), 0);
		long tid = syscall(SYS_gettid);

		gf_go(errno_closer, c);
		errno = 0;
		if (gf_chan_send(c, &v) != -1 || errno != EPIPE)
			atomic_fetch_add(&errno_bad, 1);
		if (syscall(SYS_gettid) != tid)
			atomic_fetch_add(&errno_moved, 1);
		gf_chan_unref(c);
	}
	gf_waitgroup_done(&wg);
}

static int errno_main(void *arg)
{
	GFT_FIBER;
	int i;

	(void)arg;
	gf_waitgroup_add(&wg, 4);
	for (i = 0; i < 4; i++)
		gf_go(errno_sender, NULL);
	gf_waitgroup_wait(&wg);
	EXPECT_GT(atomic_load(&errno_moved), 0);	/* the premise */
	EXPECT_EQ(0, atomic_load(&errno_bad));
	return 0;
}

TEST(errno_default_safe)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(errno_main, NULL);
}

/* ------------------------------------------------ bad input (issue 11) */

static void never_called(void *arg)
{
	(void)arg;
	abort();
}

static int null_main(void *arg)
{
	GFT_FIBER;
	gf_mutex_t m = GF_MUTEX_INIT;
	gf_cond_t c = GF_COND_INIT;
	gf_once_t o = GF_ONCE_INIT;

	(void)arg;
	EXPECT_ERR(EINVAL, gf_mutex_lock(NULL));
	EXPECT_ERR(EINVAL, gf_mutex_trylock(NULL));
	EXPECT_ERR(EINVAL, gf_mutex_lock_until(NULL, GF_NOWAIT));
	EXPECT_ERR(EINVAL, gf_mutex_unlock(NULL));
	EXPECT_EQ(NULL, gf_mutex_ref(NULL));
	gf_mutex_unref(NULL);
	EXPECT_ERR(EINVAL, gf_rwmutex_rlock(NULL));
	EXPECT_ERR(EINVAL, gf_rwmutex_rlock_until(NULL, GF_FOREVER));
	EXPECT_ERR(EINVAL, gf_rwmutex_runlock(NULL));
	EXPECT_ERR(EINVAL, gf_rwmutex_lock(NULL));
	EXPECT_ERR(EINVAL, gf_rwmutex_lock_until(NULL, GF_FOREVER));
	EXPECT_ERR(EINVAL, gf_rwmutex_unlock(NULL));
	EXPECT_EQ(NULL, gf_rwmutex_ref(NULL));
	gf_rwmutex_unref(NULL);
	EXPECT_ERR(EINVAL, gf_cond_wait(NULL, &m));
	EXPECT_ERR(EINVAL, gf_cond_wait(&c, NULL));
	EXPECT_ERR(EINVAL, gf_cond_wait_until(NULL, &m, GF_FOREVER));
	EXPECT_ERR(EINVAL, gf_cond_wait_until(&c, NULL, GF_FOREVER));
	EXPECT_ERR(EINVAL, gf_cond_signal(NULL));
	EXPECT_ERR(EINVAL, gf_cond_broadcast(NULL));
	EXPECT_EQ(NULL, gf_cond_ref(NULL));
	gf_cond_unref(NULL);
	EXPECT_ERR(EINVAL, gf_waitgroup_add(NULL, 1));
	EXPECT_ERR(EINVAL, gf_waitgroup_done(NULL));
	EXPECT_ERR(EINVAL, gf_waitgroup_done_unref(NULL));
	EXPECT_ERR(EINVAL, gf_waitgroup_wait(NULL));
	EXPECT_ERR(EINVAL, gf_waitgroup_wait_until(NULL, GF_FOREVER));
	EXPECT_EQ(NULL, gf_waitgroup_ref(NULL));
	gf_waitgroup_unref(NULL);
	EXPECT_ERR(EINVAL, gf_once(NULL, never_called, NULL));
	EXPECT_ERR(EINVAL, gf_once(&o, NULL, NULL));
	EXPECT_EQ(0, o.done);		/* still usable */
	EXPECT_ERR(EINVAL, gf_sem_acquire(NULL));
	EXPECT_ERR(EINVAL, gf_sem_release(NULL));
	EXPECT_EQ(NULL, gf_sem_ref(NULL));
	gf_sem_unref(NULL);
	return 0;
}

TEST(null_handles)
{
	GFT_RUN(null_main, NULL);
}

/*
 * Every negative deadline but GF_FOREVER has passed: ETIMEDOUT where the
 * call would block (it blocked forever before), the object unchanged.
 */
static int negdl_main(void *arg)
{
	static const int64_t dls[] = { -2, -1000000000, INT64_MIN };
	GFT_FIBER;
	gf_mutex_t m = GF_MUTEX_INIT;
	gf_rwmutex_t r = GF_RWMUTEX_INIT, w = GF_RWMUTEX_INIT;
	gf_cond_t c = GF_COND_INIT;
	gf_waitgroup_t g = GF_WAITGROUP_INIT;
	gf_sem_t s = GF_SEM_INIT(0);
	size_t i;

	(void)arg;
	EXPECT_EQ(0, gf_mutex_lock(&m));
	EXPECT_EQ(0, gf_rwmutex_rlock(&r));
	EXPECT_EQ(0, gf_rwmutex_lock(&w));
	EXPECT_EQ(0, gf_waitgroup_add(&g, 1));
	for (i = 0; i < sizeof(dls) / sizeof(dls[0]); i++) {
		EXPECT_ERR(ETIMEDOUT, gf_mutex_lock_until(&m, (gf_deadline_t){ .ns = dls[i] }));
		EXPECT_ERR(ETIMEDOUT, gf_rwmutex_lock_until(&r, (gf_deadline_t){ .ns = dls[i] }));
		EXPECT_ERR(ETIMEDOUT, gf_rwmutex_rlock_until(&w, (gf_deadline_t){ .ns = dls[i] }));
		EXPECT_ERR(ETIMEDOUT, gf_cond_wait_until(&c, &m, (gf_deadline_t){ .ns = dls[i] }));
		EXPECT_ERR(ETIMEDOUT,
			   gf_waitgroup_wait_until(&g, (gf_deadline_t){ .ns = dls[i] }));
		EXPECT_ERR(ETIMEDOUT, gf_sem_acquire_until(&s, (gf_deadline_t){ .ns = dls[i] }));
	}
	/* What is free is still taken at once. */
	EXPECT_EQ(0, gf_rwmutex_rlock_until(&r, (gf_deadline_t){ .ns = -2 }));
	gf_sem_release(&s);
	EXPECT_EQ(0, gf_sem_acquire_until(&s, (gf_deadline_t){ .ns = -2 }));
	/* Nothing was left behind: the writer gave up cleanly. */
	EXPECT_EQ(0, gf_rwmutex_runlock(&r));
	EXPECT_EQ(0, gf_rwmutex_runlock(&r));
	EXPECT_EQ(0, gf_rwmutex_lock_until(&r, GF_NOWAIT));
	EXPECT_ERR(EBUSY, gf_mutex_trylock(&m));	/* still ours */
	EXPECT_EQ(0, gf_mutex_unlock(&m));
	EXPECT_EQ(0, gf_waitgroup_done(&g));
	return 0;
}

TEST(negative_deadlines_time_out)
{
	GFT_RUN(negdl_main, NULL);
}

/* A cond wait on a mutex that is not locked: EPERM, the mutex untouched
 * (it used to time out and return with the mutex locked). */
static int cond_unheld_main(void *arg)
{
	GFT_FIBER;
	gf_mutex_t m = GF_MUTEX_INIT;
	gf_cond_t c = GF_COND_INIT;

	(void)arg;
	EXPECT_ERR(EPERM, gf_cond_wait_until(&c, &m, gf_timeout(1000000)));
	EXPECT_ERR(EPERM, gf_cond_wait_until(&c, &m, GF_NOWAIT));
	EXPECT_ERR(EPERM, gf_cond_wait(&c, &m));
	EXPECT_EQ(0, gf_mutex_trylock(&m));	/* was left unlocked */
	/* held: the deadline errors, m locked again */
	EXPECT_ERR(ETIMEDOUT, gf_cond_wait_until(&c, &m,
						    gf_timeout(1000000)));
	EXPECT_ERR(EBUSY, gf_mutex_trylock(&m));
	EXPECT_ERR(EAGAIN, gf_cond_wait_until(&c, &m, GF_NOWAIT));
	EXPECT_EQ(0, gf_mutex_unlock(&m));
	EXPECT_EQ(NULL, c.q.head);	/* no sudog left queued */
	return 0;
}

TEST(cond_wait_on_unlocked_mutex)
{
	GFT_RUN(cond_unheld_main, NULL);
}

/*
 * From a thread that is not a fiber (this test's own, no runtime), a
 * call that would block fails with EPERM, as channels, select and sleep
 * do (a contended lock used to abort the process); what does not block
 * works. The objects are left as they were.
 */
TEST(blocking_outside_a_fiber)
{
	gf_mutex_t m = GF_MUTEX_INIT, free_m = GF_MUTEX_INIT;
	gf_rwmutex_t r = GF_RWMUTEX_INIT, w = GF_RWMUTEX_INIT;
	gf_cond_t c = GF_COND_INIT;
	gf_waitgroup_t g = GF_WAITGROUP_INIT;
	gf_sem_t s = GF_SEM_INIT(1);

	ASSERT_EQ(0, gf_mutex_lock(&m));
	ASSERT_EQ(-1, gf_mutex_lock(&m));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(-1, gf_mutex_lock_until(&m, gf_timeout(60000000000)));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(-1, gf_mutex_lock_until(&m, GF_NOWAIT));
	ASSERT_EQ(EAGAIN, errno);
	ASSERT_EQ(-1, gf_cond_wait(&c, &m));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(-1, gf_mutex_trylock(&m));	/* still locked */
	ASSERT_EQ(0, gf_mutex_unlock(&m));
	ASSERT_EQ(0, gf_mutex_lock(&free_m));
	ASSERT_EQ(0, gf_mutex_unlock(&free_m));

	ASSERT_EQ(0, gf_rwmutex_rlock(&r));
	ASSERT_EQ(-1, gf_rwmutex_lock(&r));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(0, gf_rwmutex_rlock(&r));	/* no writer left waiting */
	ASSERT_EQ(0, gf_rwmutex_lock(&w));
	ASSERT_EQ(-1, gf_rwmutex_rlock(&w));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(0, gf_rwmutex_unlock(&w));

	ASSERT_EQ(0, gf_sem_acquire(&s));
	ASSERT_EQ(-1, gf_sem_acquire(&s));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(0, gf_sem_release(&s));

	ASSERT_EQ(0, gf_waitgroup_wait(&g));
	ASSERT_EQ(0, gf_waitgroup_add(&g, 1));
	ASSERT_EQ(-1, gf_waitgroup_wait(&g));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(0, gf_waitgroup_done(&g));
	ASSERT_EQ(0, gf_waitgroup_wait(&g));
}

/*
 * A wait group whose life ends when its wait returns (here on the heap,
 * freed at once, for ASan to see a late touch): each worker holds a
 * reference and ends with gf_waitgroup_done_unref, which touches the
 * group only before the release that can let the waiter return. Done
 * then unref touched freed memory (the chaos build's delays at the
 * unlock catch it).
 */
static void wg_worker(void *arg)
{
	gf_waitgroup_t *g = arg;	/* with a reference taken for us */

	gf_yield();
	gf_waitgroup_done_unref(g);
}

static int wg_lifetime_main(void *arg)
{
	GFT_FIBER;
	int round, i;

	(void)arg;
	for (round = 0; round < 3000 / GFT_SCALE + 20; round++) {
		gf_waitgroup_t *g = calloc(1, sizeof(*g));

		gf_waitgroup_ref(g);
		gf_waitgroup_add(g, 3);
		for (i = 0; i < 3; i++)
			gf_go(wg_worker, gf_waitgroup_ref(g));
		EXPECT_EQ(0, gf_waitgroup_wait(g));
		gf_waitgroup_unref(g);
		free(g);
	}
	return 0;
}

TEST(waitgroup_freed_when_wait_returns)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(wg_lifetime_main, NULL);
}

TEST_HARNESS_MAIN
