// SPDX-License-Identifier: GPL-2.0
/*
 * timer_test.c - sleep, timers and tickers on channels, Stop/Reset
 * (also racing with the firing), gf_after, many timers. Times are only
 * checked as lower bounds (a timer never fires early); never as upper
 * bounds, the machine may be slow. And the heap itself, an array per P,
 * checked entry by entry under random starts and stops, full (no memory
 * to grow) and under contention against a model.
 */
#include <pthread.h>
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

#define HEAP_N 5000
/* single-threaded, but every lock a chaos point: shorter under chaos
 * (and still more timers than the array holds when it stops growing) */
#define HEAP_RUN (GFT_CHAOS_SCALE > 1 ? HEAP_N / 16 : HEAP_N)

static struct gfi_timer heap_t[HEAP_N], heap_spare;
static int64_t heap_fired[HEAP_N];
static int nfired;

static void heap_fire(void *arg, int64_t when)
{
	(void)arg;
	heap_fired[nfired++] = when;
}

/*
 * Count the queued timers of p (array and overflow list), and the
 * faults: an entry whose timer does not know its index or is not
 * queued, a when that differs from its timer's, a child earlier than
 * its parent (4-ary: parent of i is (i - 1) / 4), an overflow timer not
 * marked so, timer0when not the earliest of all.
 */
static uint32_t heap_check(struct gfi_p *p, int *bad)
{
	int64_t min = 0;
	uint32_t i, n = 0;
	struct gfi_timer *o;

	for (i = 0; i < p->ntimers; i++, n++) {
		struct gfi_timerwhen *tw = &p->timers[i];

		if (tw->t->heapidx != i || !tw->t->queued ||
		    tw->when != tw->t->when ||
		    (i && p->timers[(i - 1) / 4].when > tw->when))
			(*bad)++;
	}
	if (p->ntimers)
		min = p->timers[0].when;
	for (o = p->timerovf; o; o = o->ovnext, n++) {
		if (o->heapidx != GFI_TIMER_OVF || !o->queued)
			(*bad)++;
		if (!min || o->when < min)
			min = o->when;
	}
	if (min != atomic_load(&p->timer0when))
		(*bad)++;
	return n;
}

/*
 * Random starts and stops of n timers on P 0, checked as a heap every
 * 97 operations; then all fire, in order of when, each once. From
 * operation grow_off to grow_on the array cannot grow (as when memory
 * runs out), and with fill nothing is stopped meanwhile, so that the
 * array fills up and the rest waits on the overflow list.
 */
static void heap_ops(struct __test_metadata *_metadata, int n,
		     int grow_off, int grow_on, bool fill)
{
	struct gfi_p *p;
	uint64_t r = 0x9e3779b97f4a7c15ULL;
	int i, op, queued = 0, bad = 0;

	ASSERT_EQ(0, gfi_runtime_init());
	p = &gfi_sched.allp[0];	/* no M here: timers go to P 0 */
	for (i = 0; i < n; i++)
		heap_t[i].f = heap_fire;
	for (op = 0; op < 40 * n; op++) {
		bool off = op >= grow_off && op < grow_on;
		struct gfi_timer *t;

		if (op == grow_off)
			atomic_store(&gfi_timer_nogrow, true);
		if (op == grow_on) {
			ASSERT_NE(NULL, p->timerovf);	/* it took some */
			atomic_store(&gfi_timer_nogrow, false);
			/* the next start moves them into the array */
			gfi_timer_start(&heap_spare, 1LL << 61);
			ASSERT_EQ(NULL, p->timerovf);
			EXPECT_TRUE(gfi_timer_stop(&heap_spare));
		}
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		t = &heap_t[r % (uint64_t)n];
		if (!t->queued) {
			/* Far off, and often equal: ties must hold too. */
			gfi_timer_start(t, (1LL << 60) + (int64_t)(r >> 40) % 500);
			queued++;
		} else if ((r >> 20) % 3 && !(off && fill)) {
			EXPECT_TRUE(gfi_timer_stop(t));
			queued--;
		}
		if (op % 97 == 0 || op > 40 * n - 50) {
			ASSERT_EQ((uint32_t)queued, heap_check(p, &bad));
			ASSERT_EQ(0, bad) TH_LOG("heap broken after op %d", op);
		}
	}
	if (grow_off == 0 && grow_on > 40 * n)	/* never grew: all on the list */
		ASSERT_EQ(0u, p->timerscap);
	ASSERT_LT(n / 4, queued);
	/* Fire them all: in order of when, each once, the heap left empty. */
	gfi_timers_run(p, INT64_MAX);
	EXPECT_EQ(queued, nfired);
	for (i = 1; i < nfired; i++)
		EXPECT_LE(heap_fired[i - 1], heap_fired[i]);
	EXPECT_EQ(0u, p->ntimers);
	EXPECT_EQ(NULL, p->timerovf);
	EXPECT_EQ(0, atomic_load(&p->timer0when));
}

TEST(heap_stays_a_heap)
{
	heap_ops(_metadata, HEAP_RUN, -1, -1, false);
}

/*
 * The array cannot grow (no memory): starts go to the overflow list,
 * which must lose nothing, keep timer0when the earliest of array and
 * list, and fire in order with the array; once growth works again, a
 * run moves the list into the array. First with both in use, then with
 * the list alone from the first start on (stops unlink from it).
 */
TEST(heap_full_loses_no_timer)
{
	heap_ops(_metadata, HEAP_RUN, 10 * HEAP_RUN, 20 * HEAP_RUN, true);
}

/* A fresh process (each TEST forks): the array was never allocated. */
TEST(heap_full_from_the_start)
{
	heap_ops(_metadata, HEAP_RUN / 10, 0, INT32_MAX, false);
	atomic_store(&gfi_timer_nogrow, false);
}

/*
 * Contention, against a model: fibers on 4 Ps each own a set of timers
 * and start, stop and reset them (stop, then start) in random order,
 * with deadlines from now to 200 us on, while plain threads stop random
 * timers of theirs. Every start must end in exactly one of a stop that
 * returns true or one run of f, never early: per timer, starts ==
 * stops that returned true + runs of f.
 */
#define CT_OWNERS 4
#define CT_PER 64
#define CT_N (CT_OWNERS * CT_PER)

static struct gfi_timer ct[CT_N];
static atomic_long ct_starts[CT_N], ct_stops[CT_N], ct_fires[CT_N];
static atomic_int ct_early, ct_done;

static void ct_fire(void *arg, int64_t when)
{
	long i = (long)arg;

	if (gf_now() < when)
		atomic_fetch_add(&ct_early, 1);
	atomic_fetch_add(&ct_fires[i], 1);
}

static uint64_t ct_rand(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

static void ct_stop(long i)
{
	if (gfi_timer_stop(&ct[i]))
		atomic_fetch_add(&ct_stops[i], 1);
}

static void ct_owner(void *arg)
{
	long base = (long)arg * CT_PER;
	uint64_t r = 0x2545f4914f6cdd1dULL + (uint64_t)base;
	int op;

	for (op = 0; op < 20000 / GFT_SCALE; op++) {
		uint64_t x = ct_rand(&r);
		long i = base + (long)(x % CT_PER);

		/* a reset is a stop, then a start: one arming at a time */
		ct_stop(i);
		if ((x >> 16) % 4) {
			atomic_fetch_add(&ct_starts[i], 1);
			gfi_timer_start(&ct[i],
					gf_now() + (int64_t)((x >> 24) % 200000));
		}
		if (op % 64 == 0)
			gf_sleep((int64_t)((x >> 40) % 100000));
	}
	gf_waitgroup_done(&wg);
}

static void *ct_thread(void *arg)
{
	uint64_t r = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(long)arg;

	while (!atomic_load(&ct_done)) {
		ct_stop((long)(ct_rand(&r) % CT_N));
		if (ct_rand(&r) % 8 == 0)
			sched_yield();
	}
	return NULL;
}

static int ct_main(void *arg)
{
	GFT_FIBER;
	pthread_t th[2];
	long i, stops = 0, fires = 0;

	(void)arg;
	for (i = 0; i < CT_N; i++) {
		ct[i].f = ct_fire;
		ct[i].arg = (void *)i;
	}
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, ct_thread,
					    (void *)i));
	gf_waitgroup_add(&wg, CT_OWNERS);
	for (i = 0; i < CT_OWNERS; i++)
		gf_go(ct_owner, (void *)i);
	gf_waitgroup_wait(&wg);
	atomic_store(&ct_done, 1);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	gf_sleep(1000000);
	for (i = 0; i < CT_N; i++) {
		ct_stop(i);
		stops += atomic_load(&ct_stops[i]);
		fires += atomic_load(&ct_fires[i]);
		EXPECT_EQ(atomic_load(&ct_starts[i]),
			  atomic_load(&ct_stops[i]) +
			  atomic_load(&ct_fires[i])) TH_LOG("timer %ld", i);
	}
	EXPECT_EQ(0, atomic_load(&ct_early));
	EXPECT_GT(stops, 0);	/* both endings happened */
	EXPECT_GT(fires, 0);
	return 0;
}

TEST(heap_contention_model)
{
	setenv("GF_PROCS", "4", 1);
	GFT_RUN(ct_main, NULL);
}

TEST_HARNESS_MAIN
