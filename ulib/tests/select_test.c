// SPDX-License-Identifier: GPL-2.0
/*
 * select_test.c - gf_select: ready cases chosen uniformly at random
 * (measured statistically, generous bounds), default (GF_NOWAIT),
 * deadlines, blocking until a case is ready, closed channels, nil
 * channels, send cases, many cases.
 */
#include <stdatomic.h>

#include "gftest.h"

static gf_waitgroup_t wg;

static int fair_main(void *arg)
{
	GFT_FIBER;
	enum { N = 4, ROUNDS = 8000 };
	gf_chan_t *c[N];
	gf_select_case_t cs[N];
	int hits[N] = { 0 }, i, r, v = 1;

	(void)arg;
	for (i = 0; i < N; i++) {
		c[i] = gf_chan_new(sizeof(int), 1);
		cs[i] = (gf_select_case_t){ c[i], GF_SELECT_RECV, &v, false };
	}
	for (r = 0; r < ROUNDS; r++) {
		int k;

		for (i = 0; i < N; i++)	/* all ready */
			gf_chan_send_until(c[i], &v, GF_NOWAIT);
		k = gf_select(cs, N);
		EXPECT_GE(k, 0);
		EXPECT_TRUE(cs[k].ok);
		hits[k]++;
	}
	/* expected 2000 each; 6 sigma is about 230: allow 1500..2500 */
	for (i = 0; i < N; i++) {
		EXPECT_GT(hits[i], ROUNDS / N - 500);
		EXPECT_LT(hits[i], ROUNDS / N + 500);
		gf_chan_unref(c[i]);
	}
	return 0;
}

TEST(fair_among_ready_cases)
{
	GFT_RUN(fair_main, NULL);
}

static int default_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *a = gf_chan_new(sizeof(int), 0);
	gf_chan_t *b = gf_chan_new(sizeof(int), 0);
	int x = 0, y = 0;
	gf_select_case_t cs[2] = {
		{ a, GF_SELECT_RECV, &x, false },
		{ b, GF_SELECT_SEND, &y, false },
	};
	int64_t t0;

	(void)arg;
	EXPECT_EQ(-1, gf_select_until(cs, 2, GF_NOWAIT));	/* Go's default */
	EXPECT_EQ(EAGAIN, errno);
	t0 = gf_now();
	EXPECT_EQ(-1, gf_select_until(cs, 2, gf_deadline_at(t0 + 3000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_GE(gf_now(), t0 + 3000000);	/* never early */
	EXPECT_EQ(-1, gf_select_until(cs, 0, gf_deadline_at(t0)));	/* no cases, passed */
	EXPECT_EQ(ETIMEDOUT, errno);
	cs[0].dir = 7;
	EXPECT_EQ(-1, gf_select_until(cs, 2, GF_NOWAIT));
	EXPECT_EQ(EINVAL, errno);
	gf_chan_unref(a);
	gf_chan_unref(b);
	return 0;
}

TEST(default_and_deadline)
{
	GFT_RUN(default_main, NULL);
}

static void later_send(void *arg)
{
	int v = 77;

	gf_sleep(2000000);
	gf_chan_send(arg, &v);
	gf_waitgroup_done(&wg);
}

static void later_recv(void *arg)
{
	int v;

	gf_sleep(2000000);
	gf_chan_recv(arg, &v);
	gf_waitgroup_done(&wg);
}

static int block_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *a = gf_chan_new(sizeof(int), 0);
	gf_chan_t *b = gf_chan_new(sizeof(int), 0);
	int x = 0, y = 5;
	gf_select_case_t cs[3] = {
		{ NULL, GF_SELECT_RECV, &x, false },	/* nil: never */
		{ a, GF_SELECT_RECV, &x, false },
		{ b, GF_SELECT_SEND, &y, false },
	};

	(void)arg;
	gf_waitgroup_add(&wg, 2);
	gf_go(later_send, a);
	EXPECT_EQ(1, gf_select(cs, 3));
	EXPECT_EQ(77, x);
	EXPECT_TRUE(cs[1].ok);
	gf_go(later_recv, b);
	EXPECT_EQ(2, gf_select(cs, 3));
	EXPECT_TRUE(cs[2].ok);
	gf_waitgroup_wait(&wg);
	/* closed: receive ready with ok false; send ready and fails */
	gf_chan_close(a);
	x = 9;
	EXPECT_EQ(1, gf_select(cs, 2));
	EXPECT_FALSE(cs[1].ok);
	EXPECT_EQ(0, x);
	gf_chan_close(b);
	EXPECT_EQ(0, gf_select(&cs[2], 1));
	EXPECT_FALSE(cs[2].ok);
	gf_chan_unref(a);
	gf_chan_unref(b);
	return 0;
}

TEST(blocks_until_ready_and_closed)
{
	GFT_RUN(block_main, NULL);
}

static void closer(void *arg)
{
	gf_sleep(2000000);
	gf_chan_close(arg);
	gf_waitgroup_done(&wg);
}

static int close_wakes_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *a = gf_chan_new(sizeof(int), 0);
	int x = 3;
	gf_select_case_t cs[1] = { { a, GF_SELECT_RECV, &x, true } };

	(void)arg;
	gf_waitgroup_add(&wg, 1);
	gf_go(closer, a);
	EXPECT_EQ(0, gf_select(cs, 1));
	EXPECT_FALSE(cs[0].ok);
	gf_waitgroup_wait(&wg);
	gf_chan_unref(a);
	return 0;
}

static void send_on_7(void *arg)
{
	gf_chan_t **c = arg;
	long v = 7;

	gf_sleep(1000000);
	gf_chan_send(c[7], &v);
	gf_chan_send(c[3], &v);
	gf_waitgroup_done(&wg);
}

static int wide_main(void *arg)
{
	GFT_FIBER;
	enum { N = 40 };
	gf_chan_t *c[N];
	gf_select_case_t cs[N + 2];
	long v = 0;
	int i;

	(void)arg;
	for (i = 0; i < N; i++) {
		c[i] = gf_chan_new(sizeof(long), 0);
		cs[i] = (gf_select_case_t){ c[i], GF_SELECT_RECV, &v, false };
	}
	/* the same channel twice, once each way: locked once */
	cs[N] = (gf_select_case_t){ c[3], GF_SELECT_RECV, &v, false };
	cs[N + 1] = (gf_select_case_t){ c[3], GF_SELECT_SEND, &v, false };
	gf_waitgroup_add(&wg, 1);
	gf_go(send_on_7, c);
	EXPECT_EQ(7, gf_select(cs, N));	/* > 8: heap path */
	EXPECT_EQ(7, v);
	i = gf_select(cs, N + 1);	/* c[3] twice (recv) */
	EXPECT_TRUE(i == 3 || i == N);
	gf_waitgroup_wait(&wg);
	for (i = 0; i < N; i++)
		gf_chan_unref(c[i]);
	return 0;
}

TEST(wide_select_and_duplicate_channels)
{
	GFT_RUN(wide_main, NULL);
}

TEST(close_wakes_blocked_select)
{
	GFT_RUN(close_wakes_main, NULL);
}

/* Many selecting fibers against many senders: every value arrives once. */
static gf_chan_t *chs[16];
static gf_chan_t *done_ch;
static atomic_long total;

static void select_consumer(void *arg)
{
	gf_select_case_t cs[17];
	long v = 0;
	int i;

	(void)arg;
	for (i = 0; i < 16; i++)
		cs[i] = (gf_select_case_t){ chs[i], GF_SELECT_RECV, &v, 0 };
	cs[16] = (gf_select_case_t){ done_ch, GF_SELECT_RECV, NULL, 0 };
	for (;;) {
		/* short deadlines: the timeout path races with the sends */
		int k = gf_select_until(cs, 17, gf_timeout(100000));

		if (k == 16)
			break;	/* closed by main: every value was taken */
		if (k >= 0)
			atomic_fetch_add(&total, v);
	}
	gf_waitgroup_done(&wg);
}

static void producer(void *arg)
{
	long i, k = (long)arg;

	for (i = 1; i <= 2000 / GFT_SCALE + 1; i++)
		gf_chan_send(chs[(i + k) % 16], &i);
	gf_waitgroup_done(&wg);
}

static int many_main(void *arg)
{
	GFT_FIBER;
	long i, per = 2000 / GFT_SCALE + 1;

	(void)arg;
	for (i = 0; i < 16; i++)
		chs[i] = gf_chan_new(sizeof(long), (size_t)(i % 2));
	done_ch = gf_chan_new(0, 0);
	gf_waitgroup_add(&wg, 16);	/* 8 consumers, 8 producers */
	for (i = 0; i < 8; i++)
		gf_go(select_consumer, NULL);
	for (i = 0; i < 8; i++)
		gf_go(producer, (void *)i);
	while (atomic_load(&total) < 8 * per * (per + 1) / 2)
		gf_sleep(1000000);
	gf_chan_close(done_ch);
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(8 * per * (per + 1) / 2, atomic_load(&total));
	for (i = 0; i < 16; i++)
		gf_chan_unref(chs[i]);
	gf_chan_unref(done_ch);
	return 0;
}

TEST(many_selects_many_procs)
{
	setenv("GF_PROCS", "4", 1);
	GFT_RUN(many_main, NULL);
}

/* ------------------------------------------------------------ nil + deadline */

/*
 * A select whose park locks nothing (every case nil) or whose nil cases
 * sort before its one channel: once the deadline timer is armed it may
 * fire on another thread and the select return, its state gone (nine
 * cases: its arrays on the heap, freed). Committing the park must not
 * touch that state after arming the timer (ASan: use-after-free
 * otherwise; the chaos build widens the window).
 */
static void __attribute__((noinline)) scribble_stack(void)
{
	volatile char junk[2048];
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = 0x5a;
}

static int nil_deadline_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *c = gf_chan_new(sizeof(int), 0);
	gf_select_case_t cs[9];
	int round, i;
	int64_t t0;

	(void)arg;
	for (round = 0; round < 3000 / GFT_SCALE; round++) {
		for (i = 0; i < 9; i++)
			cs[i] = (gf_select_case_t){ NULL, GF_SELECT_RECV,
						    NULL, false };
		if (round & 1)
			cs[round % 9].chan = c;
		errno = 0;
		EXPECT_EQ(-1, gf_select_until(cs, 9, gf_timeout(20000)));
		EXPECT_EQ(ETIMEDOUT, errno);
		/* the select's frame turns to garbage: a late reader sees it */
		scribble_stack();
		for (t0 = gf_now(); gf_now() < t0 + 50000;)
			;
	}
	gf_chan_unref(c);
	return 0;
}

TEST(nil_cases_with_deadline)
{
	setenv("GF_PROCS", "2", 1);	/* the timer fires on the other M */
	setenv("GF_CHAOS_RATE", "2", 0);	/* chaos build: often */
	GFT_RUN(nil_deadline_main, NULL);
}

TEST_HARNESS_MAIN
