// SPDX-License-Identifier: GPL-2.0
/*
 * leak_test.c - leaks proven by references (include/gfiber.h), on
 * channels and on every sync object that can be judged: both directions.
 * No fiber is accused while anybody else still holds a reference (or
 * while it waits with a deadline, or on an object never counted); every
 * fiber is marked "(leaked)" at the moment the references left are all
 * held by fibers parked on the object - when the last other reference is
 * dropped, or when the last of them parks; a leaked fiber woken after
 * all (the convention broken) runs on, no longer leaked. A select is
 * judged over all its channels. Never a mark that a wake-up follows: not
 * while a new fiber has yet to take the reference it was handed, not
 * while an armed timer will send on the channel.
 */
#define _GNU_SOURCE
#include <stdatomic.h>

#include "gftest.h"

static gf_waitgroup_t wg;

/* How many times needle occurs in gf_dump's output. */
static int count_in_dump(const char *needle)
{
	const char *s;
	int n = 0;

	for (s = gft_dump(); (s = strstr(s, needle)); s++)
		n++;
	return n;
}

/* Poll until the dump shows needle want times (the marks of a park
 * happen just after its switch), for up to 5 s; returns the count. */
static int settle(const char *needle, int want)
{
	int i;

	for (i = 0; i < 5000 && count_in_dump(needle) != want; i++)
		gf_sleep(1000000);
	return count_in_dump(needle);
}

/* ------------------------------------------------------------ channels */

static void ref_leaker(void *arg)
{
	gf_chan_recv(arg, NULL);	/* holds its reference */
	gf_waitgroup_done(&wg);
}

static int chan_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *c = gf_chan_new(sizeof(long), 0);
	gf_chan_t *extra;
	int i;

	(void)arg;
	gf_waitgroup_add(&wg, 3);
	for (i = 0; i < 3; i++)
		gf_go(ref_leaker, gf_chan_ref(c));
	extra = gf_chan_ref(c);	/* another holder: not provable */
	settle("[chan receive]", 3);
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	gf_chan_unref(c);	/* main's own: extra still holds one */
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	gf_chan_unref(extra);	/* the parked three are all that is left */
	EXPECT_EQ(3, count_in_dump("chan receive (leaked)"));
	/* A wake-up after all (contract broken) still works. */
	gf_chan_close(c);
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	return 0;
}

TEST(chan_leaks_proven_by_references)
{
	GFT_RUN(chan_main, NULL);
}

static void borrower(void *arg)
{
	gf_chan_recv(arg, NULL);
}

static int borrow_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *c = gf_chan_new(sizeof(long), 0);

	(void)arg;
	/* handles shared without gf_chan_ref: no accusation while held */
	gf_go(borrower, c);
	gf_go(borrower, c);
	settle("[chan receive]", 2);
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	gf_chan_unref(c);	/* nobody holds a handle at all now */
	EXPECT_EQ(2, count_in_dump("(leaked)"));
	return 0;
}

TEST(chan_leak_when_last_handle_dropped)
{
	GFT_RUN(borrow_main, NULL);
}

/* ------------------------------------------------------------ select */

static gf_chan_t *sa, *sb;
/*
 * Released by selector once its references are gone; plain_b and
 * deadline_selector drop theirs only after that. Woken by one close,
 * two fibers dropping their references to one channel at the same
 * moment on two threads make GCC 12's TSan report a race between the
 * two gf_chan_unref calls (the read of the counts, or the free, against
 * the other's): about one run of this file in ten. That was
 * gf_chan_unref dropping its reference before taking the lock (the
 * other could free the channel in between; chan_test
 * concurrent_unrefs_free_once now catches it). The order stays: it
 * changes nothing that is asserted.
 */
static gf_sem_t selector_out = GF_SEM_INIT(0);

/* Holds its own references to both; selects on them without deadline. */
static void selector(void *arg)
{
	GFT_FIBER;
	gf_select_case_t cs[2] = {
		{ .chan = sa, .dir = GF_SELECT_RECV },
		{ .chan = sb, .dir = GF_SELECT_RECV },
	};

	(void)arg;
	EXPECT_GE(gf_select(cs, 2), 0);
	gf_chan_unref(sa);
	gf_chan_unref(sb);
	gf_sem_release(&selector_out);
	gf_waitgroup_done(&wg);
}

/* Start fn with its own references to sa and sb. */
static void go_with_refs(void (*fn)(void *))
{
	gf_chan_ref(sa);
	gf_chan_ref(sb);
	gf_go(fn, NULL);
}

static void plain_b(void *arg)
{
	(void)arg;
	gf_chan_recv(sb, NULL);
	gf_sem_acquire(&selector_out);
	gf_chan_unref(sb);
	gf_waitgroup_done(&wg);
}

static int select_main(void *arg)
{
	GFT_FIBER;

	(void)arg;
	/* 1: the last other holder lets go of one channel, then the other */
	sa = gf_chan_new(0, 0);
	sb = gf_chan_new(0, 0);
	gf_waitgroup_add(&wg, 2);
	go_with_refs(selector);
	gf_chan_ref(sb);
	gf_go(plain_b, NULL);
	settle("[select]", 1);
	settle("[chan receive]", 1);
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	gf_chan_unref(sa);	/* sb still ours: the select may wake */
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	gf_chan_unref(sb);	/* now only the parked two hold them */
	EXPECT_EQ(1, count_in_dump("[select (leaked)"));
	EXPECT_EQ(1, count_in_dump("[chan receive (leaked)"));
	gf_chan_close(sb);	/* woken after all (convention broken) */
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(0, count_in_dump("(leaked)"));	/* both freed now */

	/* 2: proven by the select's own park: nobody else holds sa, and
	 * sb's other holder already waits on it */
	sa = gf_chan_new(0, 0);
	sb = gf_chan_new(0, 0);
	gf_waitgroup_add(&wg, 2);
	gf_chan_ref(sb);
	gf_go(plain_b, NULL);
	settle("[chan receive]", 1);
	gf_chan_ref(sa);	/* the selector's two */
	gf_chan_ref(sb);
	gf_chan_unref(sa);	/* main lets go before the selector parks */
	gf_chan_unref(sb);
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	gf_go(selector, NULL);
	EXPECT_EQ(1, settle("[select (leaked)", 1));
	EXPECT_EQ(1, count_in_dump("[chan receive (leaked)"));
	gf_chan_close(sa);
	gf_chan_close(sb);
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	return 0;
}

TEST(select_leaks_proven_by_references)
{
	GFT_RUN(select_main, NULL);
}

static void deadline_selector(void *arg)
{
	GFT_FIBER;
	gf_select_case_t cs[2] = {
		{ .chan = sa, .dir = GF_SELECT_RECV },
		{ .chan = sb, .dir = GF_SELECT_RECV },
	};

	(void)arg;
	EXPECT_GE(gf_select_until(cs, 2, gf_timeout(60 * GF_SECOND)), 0); /* closed first */
	gf_sem_acquire(&selector_out);
	gf_chan_unref(sa);
	gf_chan_unref(sb);
	gf_waitgroup_done(&wg);
}

static int select_no_false_main(void *arg)
{
	GFT_FIBER;

	(void)arg;
	sa = gf_chan_new(0, 0);
	sb = gf_chan_new(0, 0);
	gf_waitgroup_add(&wg, 2);
	go_with_refs(selector);
	go_with_refs(deadline_selector);
	settle("[select]", 2);
	gf_chan_unref(sa);	/* main still holds sb: selector may wake */
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	gf_chan_unref(sb);	/* the other select holds both and will
				 * wake at its deadline, free to send */
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	gf_chan_close(sa);
	gf_waitgroup_wait(&wg);
	return 0;
}

TEST(select_no_false_leaks)
{
	GFT_RUN(select_no_false_main, NULL);
}

/* ------------------------------------------------------------ fresh fibers */

static gf_chan_t *fc;
static atomic_int marks_seen;

/* The natural way: the new fiber takes its own reference, first thing. */
static void natural_worker(void *arg)
{
	gf_chan_t *c = gf_chan_ref(arg);
	long v = 1;

	gf_chan_send(c, &v);
	gf_chan_unref(c);
}

/* The same with a bug: it lets go without sending. */
static void forgetful_sender(void *arg)
{
	gf_chan_t *c = gf_chan_ref(arg);

	gf_chan_unref(c);
}

/* Runs (GF_PROCS=1) while main is parked and before the worker. */
static void mark_watcher(void *arg)
{
	atomic_store(&marks_seen, count_in_dump("(leaked)"));
	if (arg) {		/* a true leak: wait for the mark, unstick */
		atomic_store(&marks_seen, settle("(leaked)", 1));
		gf_chan_send(fc, &(long){ 2 });
	}
}

/*
 * A creator hands a channel to a new fiber, which takes its reference
 * itself, and parks on it before that fiber ran: no mark (it will be
 * woken). The worker that drops its reference without sending leaves
 * main truly stuck: marked, once no fiber is fresh.
 */
static int fresh_main(void *arg)
{
	GFT_FIBER;
	long v = 0;

	(void)arg;
	fc = gf_chan_new(sizeof(long), 0);
	gf_chan_unref(gf_chan_ref(fc));	/* an earlier user: counted */
	gf_go(natural_worker, fc);
	gf_go(mark_watcher, NULL);
	EXPECT_EQ(0, gf_chan_recv(fc, &v));
	EXPECT_EQ(1, v);
	EXPECT_EQ(0, atomic_load(&marks_seen));

	gf_go(forgetful_sender, fc);
	gf_go(mark_watcher, fc);
	EXPECT_EQ(0, gf_chan_recv(fc, &v));
	EXPECT_EQ(2, v);
	EXPECT_EQ(1, atomic_load(&marks_seen));
	gf_chan_unref(fc);
	return 0;
}

TEST(no_false_mark_before_a_new_fiber_runs)
{
	setenv("GF_PROCS", "1", 1);	/* watcher runs before the worker */
	GFT_RUN(fresh_main, NULL);
}

/* The same on a mutex: the new fiber takes its own reference and
 * unlocks the mutex main waits for; main is never marked. */
static gf_mutex_t fmu;

static void natural_unlocker(void *arg)
{
	gf_mutex_t *mu = gf_mutex_ref(arg);

	gf_mutex_unlock(mu);
	gf_mutex_unref(mu);
}

static int fresh_mutex_main(void *arg)
{
	GFT_FIBER;

	(void)arg;
	gf_mutex_ref(&fmu);
	EXPECT_EQ(0, gf_mutex_lock(&fmu));
	atomic_store(&marks_seen, -1);
	gf_go(natural_unlocker, &fmu);
	gf_go(mark_watcher, NULL);
	EXPECT_EQ(0, gf_mutex_lock(&fmu));	/* unlocked by the new fiber */
	EXPECT_EQ(0, atomic_load(&marks_seen));
	EXPECT_EQ(0, gf_mutex_unlock(&fmu));
	gf_mutex_unref(&fmu);
	return 0;
}

TEST(no_false_mark_on_a_mutex_before_a_new_fiber_runs)
{
	setenv("GF_PROCS", "1", 1);	/* watcher runs before the worker */
	GFT_RUN(fresh_mutex_main, NULL);
}

/* ------------------------------------------------------------ timers */

static gf_chan_t *tc, *td;

static void timer_waiter(void *arg)
{
	(void)arg;
	gf_chan_recv(tc, NULL);		/* borrows main's handle */
	gf_waitgroup_done(&wg);
}

static void timer_selector(void *arg)
{
	GFT_FIBER;
	gf_select_case_t cs[2] = {
		{ .chan = tc, .dir = GF_SELECT_RECV },
		{ .chan = td, .dir = GF_SELECT_RECV },
	};

	(void)arg;
	EXPECT_GE(gf_select(cs, 2), 0);
	gf_chan_unref(td);
	gf_waitgroup_done(&wg);
}

/*
 * An armed timer will send: fibers waiting on its channel (plainly, or
 * in a select without deadline) are never marked leaked while it is -
 * a mark must never be followed by a wake-up. Once it fired, its
 * channel is judged as any other.
 */
static int waiting(void)
{
	return count_in_dump("[chan receive]") + count_in_dump("[select]");
}

static int timer_chan_main(void *arg)
{
	GFT_FIBER;
	int round, i;

	(void)arg;
	/*
	 * Both waiters must be seen parked before the timer fires: the
	 * first dump loads libdw and its view of the program (40 ms, 100
	 * under ASan, more on a loaded machine), so it is done before the
	 * timer is armed.
	 */
	gft_dump();
	for (round = 0; round < 2; round++) {
		tc = gf_after(300000000);	/* 300 ms */
		td = gf_chan_new(0, 0);
		gf_waitgroup_add(&wg, 2);
		gf_go(timer_waiter, NULL);
		if (round == 0)
			gf_go(timer_waiter, NULL);
		else
			gf_go(timer_selector, gf_chan_ref(td));
		/* (round 0 has two receivers: settling on one waited out
		 * all 5000 polls, each a dump) */
		if (round)
			settle("[select]", 1);
		settle("[chan receive]", round ? 1 : 2);
		gf_chan_unref(td);	/* the selector's is the last */
		EXPECT_EQ(0, count_in_dump("(leaked)"));
		/* the timer wakes one; main still holds tc for the other */
		for (i = 0; i < 5000 && waiting() != 1; i++)
			gf_sleep(1000000);
		EXPECT_EQ(1, waiting());
		EXPECT_EQ(0, count_in_dump("(leaked)"));
		gf_chan_close(tc);
		gf_waitgroup_wait(&wg);
		gf_chan_unref(tc);
	}
	return 0;
}

TEST(timer_channel_waiters_not_leaked)
{
	GFT_RUN(timer_chan_main, NULL);
}

/* ------------------------------------------------------------ nil */

static void nil_recv(void *arg)
{
	GFT_FIBER;

	EXPECT_EQ(-1, gf_chan_recv_until(NULL, NULL,
					 arg ? gf_timeout(60 * GF_SECOND)
					     : GF_FOREVER));
}

static void nil_send(void *arg)
{
	(void)arg;
	gf_chan_send(NULL, NULL);
}

static void empty_select(void *arg)
{
	GFT_FIBER;

	(void)arg;
	EXPECT_EQ(-1, gf_select(NULL, 0));	/* never returns */
}

/* Waits nothing can ever end are leaked the moment they park; a
 * deadline ends them, so they are only waiting then. */
static int nil_main(void *arg)
{
	GFT_FIBER;

	(void)arg;
	gf_go(nil_recv, NULL);
	gf_go(nil_send, NULL);
	gf_go(empty_select, NULL);
	gf_go(nil_recv, (void *)1);
	EXPECT_EQ(3, settle("(leaked)", 3));
	settle("[chan receive (nil chan)]", 1);	/* the deadline one */
	EXPECT_EQ(1, count_in_dump("[chan receive (nil chan) (leaked)"));
	EXPECT_EQ(1, count_in_dump("[chan send (nil chan) (leaked)"));
	EXPECT_EQ(1, count_in_dump("[select (no cases) (leaked)"));
	EXPECT_EQ(1, count_in_dump("[chan receive (nil chan)]"));
	return 0;
}

TEST(nil_channel_and_empty_select_leaked_at_once)
{
	GFT_RUN(nil_main, NULL);
}

/* ------------------------------------------------------------ sync */

static gf_mutex_t mu;
static gf_rwmutex_t rw;
static gf_cond_t cv;
static gf_mutex_t cv_mu;
static gf_sem_t sem;
static gf_waitgroup_t work;
static atomic_int woke;

static void mutex_waiter(void *arg)
{
	(void)arg;
	gf_mutex_lock(&mu);		/* holds a reference to mu */
	atomic_fetch_add(&woke, 1);
	gf_mutex_unlock(&mu);
	gf_unref(&mu);
	gf_waitgroup_done(&wg);
}

static void rw_writer(void *arg)
{
	(void)arg;
	gf_rwmutex_lock(&rw);
	atomic_fetch_add(&woke, 1);
	gf_rwmutex_unlock(&rw);
	gf_unref(&rw);
	gf_waitgroup_done(&wg);
}

static void rw_reader(void *arg)
{
	(void)arg;
	gf_rwmutex_rlock(&rw);
	atomic_fetch_add(&woke, 1);
	gf_rwmutex_runlock(&rw);
	gf_unref(&rw);
	gf_waitgroup_done(&wg);
}

static void cond_waiter(void *arg)
{
	(void)arg;
	gf_mutex_lock(&cv_mu);
	gf_cond_wait(&cv, &cv_mu);
	atomic_fetch_add(&woke, 1);
	gf_mutex_unlock(&cv_mu);
	gf_unref(&cv);
	gf_waitgroup_done(&wg);
}

static void sem_waiter(void *arg)
{
	(void)arg;
	gf_sem_acquire(&sem);
	atomic_fetch_add(&woke, 1);
	gf_unref(&sem);
	gf_waitgroup_done(&wg);
}

static void work_waiter(void *arg)
{
	(void)arg;
	gf_waitgroup_wait(&work);
	atomic_fetch_add(&woke, 1);
	gf_unref(&work);
	gf_waitgroup_done(&wg);
}

/*
 * One scenario per object: main holds the object busy and a reference;
 * two waiters, each with its own reference, park on it. Not provable
 * while main's reference is held; provable the moment main drops it;
 * then main releases the object after all and both run.
 */
static int sync_main(void *arg)
{
	GFT_FIBER;
	int i;

	(void)arg;
#define SCENARIO(obj, busy, fn, state, release)				\
	do {								\
		busy;							\
		gf_ref(obj);		/* main's own */		\
		atomic_store(&woke, 0);					\
		gf_waitgroup_add(&wg, 2);				\
		for (i = 0; i < 2; i++)					\
			gf_go(fn, gf_ref(obj));				\
		settle("[" state "]", 2);				\
		EXPECT_EQ(0, count_in_dump("(leaked)"));		\
		gf_unref(obj);						\
		EXPECT_EQ(2, count_in_dump("[" state " (leaked)"));	\
		release;						\
		gf_waitgroup_wait(&wg);					\
		EXPECT_EQ(2, atomic_load(&woke));			\
		EXPECT_EQ(0, count_in_dump("(leaked)"));		\
	} while (0)

	SCENARIO(&mu, gf_mutex_lock(&mu), mutex_waiter, "sync.Mutex.Lock",
		 gf_mutex_unlock(&mu));
	SCENARIO(&rw, gf_rwmutex_rlock(&rw), rw_writer, "sync.RWMutex.Lock",
		 gf_rwmutex_runlock(&rw));
	SCENARIO(&rw, gf_rwmutex_lock(&rw), rw_reader, "sync.RWMutex.RLock",
		 gf_rwmutex_unlock(&rw));
	SCENARIO(&cv, (void)0, cond_waiter, "sync.Cond.Wait",
		 gf_cond_broadcast(&cv));
	SCENARIO(&sem, (void)0, sem_waiter, "semacquire",
		 (gf_sem_release(&sem), gf_sem_release(&sem)));
	SCENARIO(&work, gf_waitgroup_add(&work, 1), work_waiter,
		 "sync.WaitGroup.Wait", gf_waitgroup_done(&work));
#undef SCENARIO
	return 0;
}

TEST(sync_leaks_proven_by_references)
{
	GFT_RUN(sync_main, NULL);
}

/* The last one parking completes the proof: a worker that drops its
 * reference without calling Done leaves the waiter alone with it. */
static void forgetful_worker(void *arg)
{
	gf_unref((gf_waitgroup_t *)arg);	/* the bug: no Done */
}

static atomic_int watcher_started;

static void watcher(void *arg)
{
	GFT_FIBER;

	/* Parked before main parks: settled, so main's park is judged (a
	 * fiber not yet settled could still take a reference). */
	atomic_store(&watcher_started, 1);
	gf_sleep(20000000);
	/* Marked by main's own park, just after its switch. */
	EXPECT_EQ(1, settle("[sync.WaitGroup.Wait (leaked)", 1));
	gf_waitgroup_done(arg);	/* unstick main, contract broken */
}

static int last_parker_main(void *arg)
{
	GFT_FIBER;
	gf_waitgroup_t w = GF_WAITGROUP_INIT;
	int64_t id;

	(void)arg;
	gf_ref(&w);
	gf_waitgroup_add(&w, 1);
	id = gf_go(forgetful_worker, gf_ref(&w));
	while (gf_num_fibers() > 1 && id)	/* the worker is gone */
		gf_sleep(1000000);
	gf_go(watcher, &w);	/* holds no reference: the bug's witness */
	while (!atomic_load(&watcher_started))
		gf_yield();
	gf_sleep(2000000);	/* it parks in its sleep meanwhile */
	gf_waitgroup_wait(&w);	/* refs 1 (ours) == parked 1: leaked */
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	gf_unref(&w);
	return 0;
}

TEST(leak_proven_when_last_holder_parks)
{
	GFT_RUN(last_parker_main, NULL);
}

/* Never accused: a waiter with a deadline (it will wake), an object on
 * which ref was never called, a holder that still runs. */
static gf_mutex_t plain_mu;

static void deadline_locker(void *arg)
{
	GFT_FIBER;

	(void)arg;
	/* main unlocks mu long before the deadline */
	EXPECT_EQ(0, gf_mutex_lock_until(&mu, gf_timeout(60000000000)));
	gf_mutex_unlock(&mu);
	gf_unref(&mu);
	gf_waitgroup_done(&wg);
}

static void plain_locker(void *arg)
{
	(void)arg;
	gf_mutex_lock(&plain_mu);
	gf_mutex_unlock(&plain_mu);
	gf_waitgroup_done(&wg);
}

static int no_false_leak_main(void *arg)
{
	GFT_FIBER;

	(void)arg;
	gf_mutex_lock(&mu);
	gf_mutex_lock(&plain_mu);
	gf_waitgroup_add(&wg, 2);
	gf_go(deadline_locker, gf_ref(&mu));
	gf_go(plain_locker, NULL);
	settle("[sync.Mutex.Lock]", 2);
	/* mu: one reference, held by a deadline waiter; plain_mu: never
	 * counted, and nobody holds a reference at all. */
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	gf_mutex_unlock(&plain_mu);
	EXPECT_EQ(0, count_in_dump("(leaked)"));
	gf_mutex_unlock(&mu);
	gf_waitgroup_wait(&wg);
	return 0;
}

TEST(no_false_leaks)
{
	GFT_RUN(no_false_leak_main, NULL);
}

TEST_HARNESS_MAIN
