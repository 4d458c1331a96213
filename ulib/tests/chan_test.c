// SPDX-License-Identifier: GPL-2.0
/*
 * chan_test.c - channels with Go's semantics: unbuffered rendezvous,
 * buffered FIFO, close (drain, then zero values; wakes every waiter;
 * senders fail), nil channels, len/cap, deadlines, many Ps. Provable
 * leaks: leak_test.c.
 */
#include <stdatomic.h>

#include <malloc.h>

#include "gftest.h"

static gf_waitgroup_t wg;

/* ------------------------------------------------------------ basics */

static void sender_n(void *arg)
{
	gf_chan_t *c = arg;
	long i;

	for (i = 0; i < 1000; i++)
		gf_chan_send(c, &i);
	gf_waitgroup_done(&wg);
}

static int fifo_main(void *arg)
{
	GFT_FIBER;
	size_t cap = (size_t)(long)arg;
	gf_chan_t *c = gf_chan_new(sizeof(long), cap);
	long i, v;

	EXPECT_EQ(cap, gf_chan_cap(c));
	gf_waitgroup_add(&wg, 1);
	gf_go(sender_n, c);
	for (i = 0; i < 1000; i++) {
		EXPECT_EQ(0, gf_chan_recv(c, &v));
		EXPECT_EQ(i, v);	/* FIFO */
	}
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(0, gf_chan_len(c));
	gf_chan_unref(c);
	return 0;
}

TEST(unbuffered_fifo)
{
	GFT_RUN(fifo_main, (void *)0L);
}

TEST(buffered_fifo)
{
	GFT_RUN(fifo_main, (void *)7L);
}

static int buffer_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *c = gf_chan_new(sizeof(int), 3);
	int v = 5, out = 0;

	(void)arg;
	EXPECT_EQ(0, gf_chan_send(c, &v));
	v = 6;
	EXPECT_EQ(0, gf_chan_send(c, &v));
	EXPECT_EQ(2, gf_chan_len(c));
	EXPECT_EQ(3, gf_chan_cap(c));
	v = 7;
	EXPECT_EQ(0, gf_chan_send_until(c, &v, GF_NOWAIT));
	/* full */
	EXPECT_EQ(-1, gf_chan_send_until(c, &v, GF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, gf_chan_send_until(c, &v, gf_timeout(2000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, gf_chan_recv(c, &out));
	EXPECT_EQ(5, out);
	EXPECT_EQ(0, gf_chan_recv(c, NULL));	/* discard */
	EXPECT_EQ(0, gf_chan_recv_until(c, &out, GF_NOWAIT));
	EXPECT_EQ(7, out);
	EXPECT_EQ(-1, gf_chan_recv_until(c, &out, GF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, gf_chan_recv_until(c, &out, gf_timeout(2000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	gf_chan_unref(c);
	return 0;
}

TEST(buffered_len_cap_deadlines)
{
	GFT_RUN(buffer_main, NULL);
}

/* A channel call with a deadline waits as itself, not as a select. */
static void deadline_receiver(void *arg)
{
	GFT_FIBER;
	long v;

	EXPECT_EQ(0, gf_chan_recv_until(arg, &v, gf_timeout(60 * GF_SECOND)));
}

static void deadline_sender(void *arg)
{
	GFT_FIBER;
	long v = 1;

	EXPECT_EQ(0, gf_chan_send_until(arg, &v, gf_timeout(60 * GF_SECOND)));
}

static int deadline_reason_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *r = gf_chan_new(sizeof(long), 0);
	gf_chan_t *w = gf_chan_new(sizeof(long), 0);
	long v = 0;
	int i;

	(void)arg;
	gf_go(deadline_receiver, r);
	gf_go(deadline_sender, w);
	for (i = 0; i < 5000; i++) {
		const char *d = gft_dump();

		if (strstr(d, "[chan receive]") && strstr(d, "[chan send]"))
			break;
		gf_sleep(1000000);
	}
	EXPECT_NE(NULL, strstr(gft_dump(), "[chan receive]:\ndeadline_receiver(...)\n"));
	EXPECT_NE(NULL, strstr(gft_dump(), "[chan send]:\ndeadline_sender(...)\n"));
	EXPECT_EQ(NULL, strstr(gft_dump(), "[select"));
	EXPECT_EQ(0, gf_chan_send(r, &v));
	EXPECT_EQ(0, gf_chan_recv(w, &v));
	/* the woken ones may still be in their select's cleanup: let them
	 * end before dropping the last references */
	while (gf_num_fibers() > 1)
		gf_sleep(1000000);
	gf_chan_unref(r);
	gf_chan_unref(w);
	return 0;
}

TEST(deadline_waits_show_channel_reason)
{
	GFT_RUN(deadline_reason_main, NULL);
}

TEST(make_errors)
{
	ASSERT_EQ(NULL, gf_chan_new(65537, 1));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(NULL, gf_chan_new(8, (1ul << 31) + 1));
	ASSERT_EQ(EINVAL, errno);
}

static int zero_size_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *c = gf_chan_new(0, 2);

	(void)arg;
	EXPECT_EQ(0, gf_chan_send(c, NULL));
	EXPECT_EQ(0, gf_chan_recv(c, NULL));
	gf_chan_unref(c);
	return 0;
}

TEST(zero_size_elements)
{
	GFT_RUN(zero_size_main, NULL);
}

/* ------------------------------------------------------------ close */

static atomic_int closed_seen, epipe_seen;

static void close_receiver(void *arg)
{
	long v = 99;

	if (gf_chan_recv(arg, &v) == -1 && errno == EPIPE && v == 0)
		atomic_fetch_add(&closed_seen, 1);
	gf_waitgroup_done(&wg);
}

static void close_sender(void *arg)
{
	long v = 1;

	if (gf_chan_send(arg, &v) == -1 && errno == EPIPE)
		atomic_fetch_add(&epipe_seen, 1);
	gf_waitgroup_done(&wg);
}

static int close_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *r = gf_chan_new(sizeof(long), 0);
	gf_chan_t *s = gf_chan_new(sizeof(long), 0);
	gf_chan_t *b = gf_chan_new(sizeof(long), 4);
	long i, v;

	(void)arg;
	gf_waitgroup_add(&wg, 20);
	for (i = 0; i < 10; i++) {
		gf_go(close_receiver, r);
		gf_go(close_sender, s);
	}
	gf_sleep(5000000);	/* all parked (not required for the check) */
	EXPECT_EQ(0, gf_chan_close(r));
	EXPECT_EQ(0, gf_chan_close(s));
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(10, atomic_load(&closed_seen));	/* close wakes all */
	EXPECT_EQ(10, atomic_load(&epipe_seen));
	/* double close, send on closed: errors, not panics */
	EXPECT_EQ(-1, gf_chan_close(r));
	EXPECT_EQ(EPIPE, errno);
	EXPECT_EQ(-1, gf_chan_send(r, &v));
	EXPECT_EQ(EPIPE, errno);
	EXPECT_EQ(-1, gf_chan_close(NULL));
	EXPECT_EQ(EINVAL, errno);
	/* buffered: values survive the close, then zero values */
	for (i = 1; i <= 3; i++)
		gf_chan_send(b, &i);
	gf_chan_close(b);
	for (i = 1; i <= 3; i++) {
		EXPECT_EQ(0, gf_chan_recv(b, &v));
		EXPECT_EQ(i, v);
	}
	v = 5;
	errno = 0;
	EXPECT_EQ(-1, gf_chan_recv(b, &v));	/* closed and drained */
	EXPECT_EQ(EPIPE, errno);
	EXPECT_EQ(0, v);
	errno = 0;
	EXPECT_EQ(-1, gf_chan_recv_until(b, &v, GF_NOWAIT));
	EXPECT_EQ(EPIPE, errno);
	gf_chan_unref(r);
	gf_chan_unref(s);
	gf_chan_unref(b);
	return 0;
}

TEST(close_semantics)
{
	GFT_RUN(close_main, NULL);
}

static void idiom_sender(void *arg)
{
	gf_chan_t *c = arg;
	long i;

	for (i = 1; i <= 100; i++)
		gf_chan_send(c, &i);
	gf_chan_close(c);
	gf_chan_unref(c);
}

/*
 * The receive loop of gfiber.h: 0 per value, then -1 with EPIPE once
 * closed and drained - the errno of a send on a closed channel - and
 * again on every later receive, bounded or not: a loop on the result
 * ends, it never spins on a closed channel.
 */
static int recv_idiom_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *c = gf_chan_new(sizeof(long), 4);
	long v, sum = 0, n = 0;

	(void)arg;
	ASSERT_NE(NULL, c);
	EXPECT_EQ(sizeof(long), gf_chan_elemsize(c));
	EXPECT_EQ(0, gf_chan_elemsize(NULL));
	gf_go(idiom_sender, gf_chan_ref(c));
	while (gf_chan_recv(c, &v) == 0) {
		sum += v;
		n++;
	}
	EXPECT_EQ(EPIPE, errno);
	EXPECT_EQ(100, n);
	EXPECT_EQ(5050, sum);
	v = 7;
	EXPECT_EQ(-1, gf_chan_recv(c, &v));
	EXPECT_EQ(EPIPE, errno);
	EXPECT_EQ(0, v);		/* zeroed, as Go's zero value */
	EXPECT_EQ(-1, gf_chan_recv_until(c, NULL, gf_timeout(GF_SECOND)));
	EXPECT_EQ(EPIPE, errno);
	EXPECT_EQ(-1, gf_chan_recv_until(c, NULL, gf_timeout(0)));
	EXPECT_EQ(EPIPE, errno);	/* ready at once: not ETIMEDOUT */
	gf_chan_unref(c);
	return 0;
}

TEST(recv_closed_drained_fails_with_epipe)
{
	GFT_RUN(recv_idiom_main, NULL);
}

/* ------------------------------------------------------------ nil */

static gf_fiber_t *nil_waiter;

static void nil_recv(void *arg)
{
	(void)arg;
	__atomic_store_n(&nil_waiter, gf_self(), __ATOMIC_RELEASE);
	gf_chan_recv(NULL, NULL);	/* forever */
}

static int nil_main(void *arg)
{
	GFT_FIBER;
	long v = 0;

	(void)arg;
	EXPECT_EQ(-1, gf_chan_send_until(NULL, &v, GF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, gf_chan_recv_until(NULL, &v, gf_timeout(1000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, gf_chan_len(NULL));
	EXPECT_EQ(0, gf_chan_cap(NULL));
	gf_go(nil_recv, NULL);
	gf_sleep(2000000);
	EXPECT_EQ(2, gf_num_fibers());	/* still blocked */
	return 0;
}

TEST(nil_channels_block)
{
	GFT_RUN(nil_main, NULL);
}

/* ------------------------------------------------------------ stress */

static void pinger(void *arg)
{
	gf_chan_t **cs = arg;
	long i, v;

	for (i = 0; i < 20000 / GFT_SCALE; i++) {
		gf_chan_send(cs[0], &i);
		gf_chan_recv(cs[1], &v);
	}
	gf_waitgroup_done(&wg);
}

static void ponger(void *arg)
{
	gf_chan_t **cs = arg;
	long v;

	while (gf_chan_recv(cs[0], &v) == 0)
		gf_chan_send(cs[1], &v);
	gf_waitgroup_done(&wg);
}

static int stress_pp_main(void *arg)
{
	GFT_FIBER;
	enum { PAIRS = 64 };
	static gf_chan_t *cs[PAIRS][2];
	int i;

	(void)arg;
	gf_waitgroup_add(&wg, 2 * PAIRS);
	for (i = 0; i < PAIRS; i++) {
		cs[i][0] = gf_chan_new(sizeof(long), (size_t)(i % 3));
		cs[i][1] = gf_chan_new(sizeof(long), 0);
		gf_go(ponger, cs[i]);
		gf_go(pinger, cs[i]);
	}
	/* wait for the pingers, then close to end the pongers */
	while (gf_num_fibers() > 1 + PAIRS)
		gf_sleep(1000000);
	for (i = 0; i < PAIRS; i++)
		gf_chan_close(cs[i][0]);
	gf_waitgroup_wait(&wg);
	for (i = 0; i < PAIRS; i++) {
		gf_chan_unref(cs[i][0]);
		gf_chan_unref(cs[i][1]);
	}
	return 0;
}

TEST(pingpong_stress_many_procs)
{
	setenv("GF_PROCS", "8", 1);	/* more Ps than CPUs: stealing */
	GFT_RUN(stress_pp_main, NULL);
}

/* ------------------------------------------------------------ references */

static gf_chan_t *gate;

static void ref_dropper(void *arg)
{
	gf_chan_recv(gate, NULL);	/* all let go at once */
	gf_chan_unref(arg);
	gf_waitgroup_done(&wg);
}

/*
 * Fibers on several Ps drop their references to one channel at the same
 * moment: whichever drops the last frees it, and none of the others may
 * touch it after its own drop (ASan: heap-use-after-free otherwise; the
 * chaos build widens the window after each drop).
 */
static int unref_race_main(void *arg)
{
	enum { N = 8 };
	int round, i;

	(void)arg;
	for (round = 0; round < 2000 / GFT_SCALE; round++) {
		gf_chan_t *c = gf_chan_new(sizeof(long), 0);

		gate = gf_chan_new(0, 0);
		gf_waitgroup_add(&wg, N);
		for (i = 0; i < N; i++)
			gf_go(ref_dropper, gf_chan_ref(c));
		gf_chan_unref(c);	/* the fibers hold the rest */
		gf_chan_close(gate);
		gf_waitgroup_wait(&wg);
		gf_chan_unref(gate);
	}
	return 0;
}

TEST(concurrent_unrefs_free_once)
{
	setenv("GF_PROCS", "4", 1);
	GFT_RUN(unref_race_main, NULL);
}

static gf_chan_t *dropped;

/* Bytes the allocator has handed out and not got back. */
static size_t heap_in_use(void)
{
#if defined(GFT_ASAN) || defined(GFT_TSAN)
	extern size_t __sanitizer_get_current_allocated_bytes(void);

	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#endif
}

static void deadline_borrower(void *arg)
{
	GFT_FIBER;

	(void)arg;
	errno = 0;
	EXPECT_EQ(-1, gf_chan_recv_until(dropped, NULL,
					    gf_timeout(20000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	gf_waitgroup_done(&wg);
}

/*
 * The last reference dropped while only a deadline waiter is queued:
 * the channel lives on for it, and it frees the channel on its way out
 * (nothing did: 1 MiB a round stayed allocated).
 */
static int dead_chan_main(void *arg)
{
	GFT_FIBER;
	enum { ROUNDS = 20, BIG = 1 << 20 };
	size_t before;
	int i, round;

	(void)arg;
	before = heap_in_use();
	for (round = 0; round < ROUNDS; round++) {
		dropped = gf_chan_new(65536, BIG / 65536);
		gf_waitgroup_add(&wg, 1);
		gf_go(deadline_borrower, NULL);	/* the handle shared */
		for (i = 0; i < 5000 && !strstr(gft_dump(), "[chan receive]");
		     i++)
			gf_sleep(100000);
		gf_chan_unref(dropped);	/* it still waits: c stays */
		gf_waitgroup_wait(&wg);
	}
	EXPECT_GT(4 * BIG, (long)(heap_in_use() - before));
	return 0;
}

TEST(last_deadline_waiter_frees_a_dropped_channel)
{
	GFT_RUN(dead_chan_main, NULL);
}

TEST_HARNESS_MAIN
