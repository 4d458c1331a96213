// SPDX-License-Identifier: GPL-2.0
/*
 * timer_test.c - sleep, timers and tickers on channels, Stop/Reset
 * (also racing with the firing), gf_after, many timers. Times are only
 * checked as lower bounds (a timer never fires early); never as upper
 * bounds, the machine may be slow. And the heap itself, linked through
 * the timers, checked node by node under random starts and stops.
 */
#include <stdatomic.h>

#include "gftest.h"
#include "runtime.h"	/* the timer heap, for heap_stays_a_heap */

static gf_waitgroup_t wg;

static int sleep_main(void *arg)
{
	GFT_FIBER;
	int64_t t0 = gf_now();

	(void)arg;
	EXPECT_EQ(0, gf_sleep(3000000));
	EXPECT_GE(gf_now() - t0, 3000000);
	t0 = gf_now();
	EXPECT_EQ(0, gf_sleep_until(gf_deadline_at(t0 + 2000000)));
	EXPECT_GE(gf_now(), t0 + 2000000);
	EXPECT_EQ(0, gf_sleep(0));
	EXPECT_EQ(0, gf_sleep(-5));
	EXPECT_EQ(0, gf_sleep_until(GF_NOWAIT));
	return 0;
}

TEST(sleep_never_early)
{
	ASSERT_EQ(-1, gf_sleep(1));
	ASSERT_EQ(EPERM, errno);
	GFT_RUN(sleep_main, NULL);
}

/*
 * Deadlines (gfiber.h): gf_timeout is now + ns, saturating at INT64_MAX;
 * ns <= 0 and gf_deadline_at(<= 0) give a time passed, never GF_NOWAIT
 * or GF_FOREVER, so that a computed deadline cannot turn into either.
 */
TEST(deadline_constructors)
{
	int64_t t0 = gf_now();
	int64_t ns[] = { 0, -5, INT64_MIN };
	gf_deadline_t d;
	size_t i;

	ASSERT_EQ(-1, GF_FOREVER.ns);
	ASSERT_EQ(0, GF_NOWAIT.ns);
	ASSERT_EQ(1000 * GF_MICROSECOND, GF_MILLISECOND);
	ASSERT_EQ(1000 * GF_MILLISECOND, GF_SECOND);
	ASSERT_EQ(INT64_MAX, gf_timeout(INT64_MAX).ns);
	ASSERT_EQ(INT64_MAX, gf_timeout(INT64_MAX - 1).ns);
	d = gf_timeout(GF_SECOND);
	ASSERT_GE(d.ns, t0 + GF_SECOND);
	ASSERT_LE(d.ns, gf_now() + GF_SECOND);
	for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		d = gf_timeout(ns[i]);
		ASSERT_GT(d.ns, 0);		/* neither NOWAIT nor FOREVER */
		ASSERT_LE(d.ns, gf_now());	/* passed */
		ASSERT_EQ(1, gf_deadline_at(ns[i]).ns);	/* long passed */
	}
	ASSERT_EQ(12345, gf_deadline_at(12345).ns);
	ASSERT_EQ(INT64_MAX, gf_deadline_at(INT64_MAX).ns);
}

static void late_sender(void *arg)
{
	long v = 42;

	gf_sleep(5 * GF_MILLISECOND);
	gf_chan_send(arg, &v);
}

/* A passed deadline times out (ETIMEDOUT), GF_NOWAIT would block
 * (EAGAIN); a saturated one waits as long as it takes. */
static int deadline_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *c = gf_chan_new(sizeof(long), 0);
	gf_mutex_t m = GF_MUTEX_INIT;
	long v = 0;

	(void)arg;
	EXPECT_EQ(-1, gf_chan_recv_until(c, &v, gf_timeout(0)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(-1, gf_chan_recv_until(c, &v, gf_deadline_at(0)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(-1, gf_chan_recv_until(c, &v, GF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, gf_mutex_lock_until(&m, gf_timeout(-5)));	/* free */
	EXPECT_EQ(-1, gf_mutex_lock_until(&m, gf_timeout(-5)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(-1, gf_mutex_lock_until(&m, GF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, gf_mutex_unlock(&m));
	/* now + INT64_MAX wrapped would be a time long passed */
	gf_go(late_sender, c);
	EXPECT_EQ(0, gf_chan_recv_until(c, &v, gf_timeout(INT64_MAX)));
	EXPECT_EQ(42, v);
	gf_chan_unref(c);
	return 0;
}

TEST(passed_deadline_vs_nowait)
{
	GFT_RUN(deadline_main, NULL);
}

static atomic_int woken;

static void sleeper(void *arg)
{
	int64_t d = (long)arg, t0 = gf_now();

	gf_sleep(d);
	if (gf_now() - t0 >= d)
		atomic_fetch_add(&woken, 1);
	gf_waitgroup_done(&wg);
}

static int many_sleepers_main(void *arg)
{
	GFT_FIBER;
	long i, n = (long)arg;
	uint64_t r = 12345;

	for (i = 0; i < n; i++) {
		r = r * 6364136223846793005ULL + 1;
		gf_waitgroup_add(&wg, 1);
		gf_go(sleeper, (void *)(long)(1000000 + (r >> 33) % 20000000));
	}
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(n, atomic_load(&woken));
	return 0;
}

TEST(many_timers_random_durations)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(many_sleepers_main, (void *)(20000L / GFT_SCALE));
}

static int timer_main(void *arg)
{
	GFT_FIBER;
	gf_timer_t *t;
	int64_t when = 0, t0 = gf_now();

	(void)arg;
	t = gf_timer_new(2000000);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(0, gf_chan_recv(gf_timer_chan(t), &when));
	EXPECT_GE(when, t0 + 2000000);
	EXPECT_EQ(0, gf_timer_stop(t));		/* already fired */
	/* Reset re-arms a fired timer */
	EXPECT_EQ(0, gf_timer_reset(t, 1000000));
	EXPECT_EQ(0, gf_chan_recv(gf_timer_chan(t), &when));
	/* Stop before firing: true, and nothing arrives */
	EXPECT_EQ(0, gf_timer_reset(t, 10000000000LL));	/* 10 s */
	EXPECT_EQ(1, gf_timer_stop(t));
	EXPECT_EQ(0, gf_timer_stop(t));
	EXPECT_EQ(-1, gf_chan_recv_until(gf_timer_chan(t), &when,
					    gf_timeout(60000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	/* Reset of an active timer: true */
	EXPECT_EQ(0, gf_timer_reset(t, 10000000000LL));
	EXPECT_EQ(1, gf_timer_reset(t, 1000000));
	EXPECT_EQ(0, gf_chan_recv(gf_timer_chan(t), &when));
	gf_timer_free(t);
	return 0;
}

TEST(timer_stop_reset)
{
	GFT_RUN(timer_main, NULL);
}

static int ticker_main(void *arg)
{
	GFT_FIBER;
	gf_timer_t *t = gf_ticker_new(1000000);
	int64_t prev = 0, when;
	int i;

	(void)arg;
	ASSERT_NE(NULL, t);
	for (i = 0; i < 5; i++) {
		EXPECT_EQ(0, gf_chan_recv(gf_timer_chan(t), &when));
		EXPECT_GT(when, prev);
		prev = when;
	}
	/* slow reader: ticks are dropped, not queued */
	gf_sleep(10000000);
	EXPECT_LE(gf_chan_len(gf_timer_chan(t)), 1);
	EXPECT_EQ(1, gf_timer_stop(t));
	gf_chan_recv_until(gf_timer_chan(t), NULL, GF_NOWAIT);
	EXPECT_EQ(-1, gf_chan_recv_until(gf_timer_chan(t), NULL,
					    gf_timeout(5000000)));
	EXPECT_EQ(0, gf_timer_reset(t, 2000000));	/* new period */
	EXPECT_EQ(0, gf_chan_recv(gf_timer_chan(t), &when));
	gf_timer_free(t);
	EXPECT_EQ(NULL, gf_ticker_new(0));
	EXPECT_EQ(EINVAL, errno);
	return 0;
}

TEST(ticker)
{
	GFT_RUN(ticker_main, NULL);
}

static int after_main(void *arg)
{
	GFT_FIBER;
	int64_t t0 = gf_now(), when = 0;
	gf_chan_t *c = gf_after(1000000);

	(void)arg;
	EXPECT_EQ(0, gf_chan_recv(c, &when));
	EXPECT_GE(when, t0 + 1000000);	/* the time it was due */
	gf_chan_unref(c);
	/* dropped before firing: the timer keeps its own reference */
	gf_chan_unref(gf_after(1000000));
	gf_sleep(3000000);
	return 0;
}

TEST(after)
{
	GFT_RUN(after_main, NULL);
}

/* Stop/Reset racing with firing, from several fibers on several Ps. */
static gf_timer_t *shared;
static atomic_int stop_true, fired;

static void racer(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 2000 / GFT_SCALE; i++) {
		if (i % 2)
			gf_timer_reset(shared, (i % 7) * 1000);
		else if (gf_timer_stop(shared) == 1)
			atomic_fetch_add(&stop_true, 1);
		if (gf_chan_recv_until(gf_timer_chan(shared), NULL,
				       GF_NOWAIT) == 0)
			atomic_fetch_add(&fired, 1);
		if (i % 16 == 0)
			gf_yield();
	}
	gf_waitgroup_done(&wg);
}

static int race_main(void *arg)
{
	GFT_FIBER;
	int i;

	(void)arg;
	shared = gf_timer_new(1000);
	gf_waitgroup_add(&wg, 4);
	for (i = 0; i < 4; i++)
		gf_go(racer, NULL);
	gf_waitgroup_wait(&wg);
	gf_timer_stop(shared);
	gf_timer_free(shared);
	/* both outcomes happened (no crash, no lost timer, no hang) */
	EXPECT_GT(atomic_load(&stop_true) + atomic_load(&fired), 0);
	return 0;
}

TEST(stop_reset_races)
{
	setenv("GF_PROCS", "4", 1);
	GFT_RUN(race_main, NULL);
}

/*
 * A ticker's f never runs twice at once: while one M is in f (sending
 * tick k), its next tick must not be due on the heap, or another M that
 * runs the same P's timers (stealing work) sends tick k+1 first and the
 * channel sees the times out of order. f here stays in its first call
 * for 50 ms, long past several periods, and counts overlapping calls.
 */
static struct gfi_timer slow_tick;
static atomic_int in_f, overlaps, ticks;

static void slow_tick_f(void *arg, int64_t when)
{
	(void)arg;
	(void)when;
	if (atomic_fetch_add(&in_f, 1))
		atomic_fetch_add(&overlaps, 1);
	if (atomic_fetch_add(&ticks, 1) == 0) {
		int64_t until = gf_now() + 50000000;

		while (gf_now() < until && !atomic_load(&overlaps))
			;
	}
	atomic_fetch_sub(&in_f, 1);
}

static int slow_tick_main(void *arg)
{
	GFT_FIBER;

	(void)arg;
	slow_tick.f = slow_tick_f;
	slow_tick.period = 1000000;
	gfi_timer_start(&slow_tick, gf_now() + 1000000);
	gf_sleep(100000000);
	EXPECT_TRUE(gfi_timer_stop(&slow_tick));
	EXPECT_GT(atomic_load(&ticks), 2);	/* it went on ticking */
	EXPECT_EQ(0, atomic_load(&overlaps));
	return 0;
}

TEST(ticker_f_never_overlaps)
{
	setenv("GF_PROCS", "4", 1);
	GFT_RUN(slow_tick_main, NULL);
}

/* ------------------------------------------------------------ the heap */

#define HEAP_N 3000

static struct gfi_timer heap_t[HEAP_N];
static int64_t heap_fired[HEAP_N];
static int nfired;

static void heap_fire(void *arg, int64_t when)
{
	(void)arg;
	heap_fired[nfired++] = when;
}

/*
 * Count the nodes under t, and the faults: a wrong parent link, a child
 * earlier than its parent, a node numbered past n (then the tree is not
 * complete: n nodes must be numbers 1..n, level order).
 */
static uint32_t heap_walk(struct gfi_timer *t, struct gfi_timer *parent,
			  uint64_t num, uint32_t n, int *bad)
{
	if (!t)
		return 0;
	if (t->hparent != parent || !t->queued || num > n ||
	    (parent && parent->when > t->when))
		(*bad)++;
	return 1 + heap_walk(t->hleft, t, 2 * num, n, bad) +
	       heap_walk(t->hright, t, 2 * num + 1, n, bad);
}

TEST(heap_stays_a_heap)
{
	struct gfi_p *p;
	uint64_t r = 0x9e3779b97f4a7c15ULL;
	int i, op, queued = 0, bad = 0;

	ASSERT_EQ(0, gfi_runtime_init());
	p = &gfi_sched.allp[0];	/* no M here: timers go to P 0 */
	for (i = 0; i < HEAP_N; i++)
		heap_t[i].f = heap_fire;
	for (op = 0; op < 40 * HEAP_N; op++) {
		struct gfi_timer *t;

		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		t = &heap_t[r % HEAP_N];
		if (!t->queued) {
			/* Far off, and often equal: ties must hold too. */
			gfi_timer_start(t, (1LL << 60) + (int64_t)(r >> 40) % 500);
			queued++;
		} else if ((r >> 20) % 3) {
			EXPECT_TRUE(gfi_timer_stop(t));
			queued--;
		}
		if (op % 97 == 0 || op > 40 * HEAP_N - 50) {
			ASSERT_EQ((uint32_t)queued,
				  heap_walk(p->timer0, NULL, 1, p->ntimers, &bad));
			ASSERT_EQ((uint32_t)queued, p->ntimers);
			ASSERT_EQ(0, bad) TH_LOG("heap broken after op %d", op);
			ASSERT_EQ(p->timer0 ? p->timer0->when : 0,
				  atomic_load(&p->timer0when));
		}
	}
	ASSERT_LT(HEAP_N / 4, queued);
	/* Fire them all: in order of when, each once, the heap left empty. */
	gfi_timers_run(p, INT64_MAX);
	EXPECT_EQ(queued, nfired);
	for (i = 1; i < nfired; i++)
		EXPECT_LE(heap_fired[i - 1], heap_fired[i]);
	EXPECT_EQ(NULL, p->timer0);
	EXPECT_EQ(0u, p->ntimers);
}

TEST_HARNESS_MAIN
