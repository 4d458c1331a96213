// SPDX-License-Identifier: GPL-2.0
/*
 * badarg_chan_test.c - bad input to channels, select and timers gets
 * the errno include/gfiber.h documents: never a crash, a hang or a
 * silent success. One row per mistake.
 */
#include "gftest.h"

/* ------------------------------------------------------------ deadlines */

/*
 * A negative deadline other than GF_FOREVER is a time long passed: a
 * call that cannot complete at once fails with ETIMEDOUT (it blocked
 * forever before).
 */
static int neg_deadline_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *c = gf_chan_new(sizeof(long), 0);
	gf_chan_t *b = gf_chan_new(sizeof(long), 1);
	gf_select_case_t cs[2] = {
		{ .chan = c, .dir = GF_SELECT_RECV },
		{ .chan = NULL, .dir = GF_SELECT_RECV },
	};
	long v = 7;

	(void)arg;
	errno = 0;
	EXPECT_EQ(-1, gf_chan_recv_until(c, &v, (gf_deadline_t){ .ns = -5 }));
	EXPECT_EQ(ETIMEDOUT, errno);
	errno = 0;
	EXPECT_EQ(-1, gf_chan_send_until(c, &v, (gf_deadline_t){ .ns = INT64_MIN }));
	EXPECT_EQ(ETIMEDOUT, errno);
	errno = 0;
	EXPECT_EQ(-1, gf_chan_recv_until(NULL, &v, (gf_deadline_t){ .ns = -2 }));
	EXPECT_EQ(ETIMEDOUT, errno);
	errno = 0;
	EXPECT_EQ(-1, gf_select_until(cs, 2, (gf_deadline_t){ .ns = -100 }));
	EXPECT_EQ(ETIMEDOUT, errno);
	errno = 0;
	EXPECT_EQ(-1, gf_select_until(cs + 1, 1, (gf_deadline_t){ .ns = -100 }));	/* nil only */
	EXPECT_EQ(ETIMEDOUT, errno);
	/* ready at once: done, as with any passed deadline */
	EXPECT_EQ(0, gf_chan_send_until(b, &v, (gf_deadline_t){ .ns = -5 }));
	EXPECT_EQ(0, gf_chan_recv_until(b, &v, (gf_deadline_t){ .ns = -5 }));
	EXPECT_EQ(7, v);
	/* sleeping: a passed time returns at once, forever is a bug */
	EXPECT_EQ(0, gf_sleep_until((gf_deadline_t){ .ns = -5 }));
	errno = 0;
	EXPECT_EQ(-1, gf_sleep_until(GF_FOREVER));
	EXPECT_EQ(EINVAL, errno);
	gf_chan_unref(c);
	gf_chan_unref(b);
	return 0;
}

TEST(negative_deadline_is_passed)
{
	GFT_RUN(neg_deadline_main, NULL);
}

/* ------------------------------------------------------------ NULL */

static int null_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *c = gf_chan_new(sizeof(long), 1);
	gf_chan_t *z = gf_chan_new(0, 1);
	gf_select_case_t cs = { .chan = c, .dir = GF_SELECT_SEND };

	(void)arg;
	/* no value to send */
	errno = 0;
	EXPECT_EQ(-1, gf_chan_send(c, NULL));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, gf_chan_send_until(c, NULL, GF_NOWAIT));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, gf_select_until(&cs, 1, GF_NOWAIT));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, gf_chan_len(c));		/* nothing was sent */
	/* 0-byte elements need none */
	EXPECT_EQ(0, gf_chan_send(z, NULL));
	EXPECT_EQ(0, gf_chan_recv(z, NULL));
	/* receiving into NULL discards */
	EXPECT_EQ(0, gf_chan_send(c, &(long){ 3 }));
	EXPECT_EQ(0, gf_chan_recv(c, NULL));
	/* select over NULL cases */
	errno = 0;
	EXPECT_EQ(-1, gf_select_until(NULL, 2, GF_NOWAIT));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, gf_select_until(NULL, 0, GF_NOWAIT));	/* empty: default */
	EXPECT_EQ(EAGAIN, errno);
	/* nil channels */
	errno = 0;
	EXPECT_EQ(-1, gf_chan_close(NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, gf_chan_len(NULL));
	EXPECT_EQ(0, gf_chan_cap(NULL));
	EXPECT_EQ(NULL, gf_chan_ref(NULL));
	gf_chan_unref(NULL);
	/* timers */
	errno = 0;
	EXPECT_EQ(NULL, gf_timer_chan(NULL));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, gf_timer_stop(NULL));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, gf_timer_reset(NULL, 1000));
	EXPECT_EQ(EINVAL, errno);
	gf_timer_free(NULL);
	gf_chan_unref(c);
	gf_chan_unref(z);
	return 0;
}

TEST(null_handles_and_values)
{
	GFT_RUN(null_main, NULL);
}

/* ------------------------------------------------------------ timers */

/* A ticker's period must be > 0: a reset to 0 is refused and changes
 * nothing (it fired at once and then spun before). */
static int ticker_reset_main(void *arg)
{
	GFT_FIBER;
	gf_timer_t *t = gf_ticker_new(1000000000);	/* 1 s */
	int64_t v;

	(void)arg;
	errno = 0;
	EXPECT_EQ(-1, gf_timer_reset(t, 0));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, gf_timer_reset(t, -3));
	EXPECT_EQ(EINVAL, errno);
	/* still the 1 s ticker: nothing within 100 ms */
	errno = 0;
	EXPECT_EQ(-1, gf_chan_recv_until(gf_timer_chan(t), &v,
					    gf_timeout(100000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(1, gf_timer_reset(t, 1000000));	/* a valid one */
	EXPECT_EQ(0, gf_chan_recv(gf_timer_chan(t), &v));
	gf_timer_free(t);
	return 0;
}

TEST(ticker_reset_needs_a_period)
{
	GFT_RUN(ticker_reset_main, NULL);
}

/* A duration near INT64_MAX is "never": now + ns overflowed into the
 * past and fired at once. */
static int huge_duration_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *a = gf_after(INT64_MAX);
	gf_timer_t *t = gf_timer_new(INT64_MAX - 1);
	gf_timer_t *k = gf_ticker_new(INT64_MAX);

	(void)arg;
	gf_sleep(20000000);
	EXPECT_EQ(0, gf_chan_len(a));
	EXPECT_EQ(0, gf_chan_len(gf_timer_chan(t)));
	EXPECT_EQ(0, gf_chan_len(gf_timer_chan(k)));
	EXPECT_EQ(1, gf_timer_reset(t, INT64_MAX));	/* still pending */
	gf_sleep(10000000);
	EXPECT_EQ(0, gf_chan_len(gf_timer_chan(t)));
	EXPECT_EQ(1, gf_timer_stop(t));
	EXPECT_EQ(1, gf_timer_stop(k));
	gf_timer_free(t);
	gf_timer_free(k);
	gf_chan_unref(a);
	return 0;
}

TEST(huge_durations_never_fire)
{
	GFT_RUN(huge_duration_main, NULL);
}

static int double_free_main(void *arg)
{
	gf_timer_t *t = gf_timer_new(1000000000);

	(void)arg;
	gf_timer_free(t);
	gf_timer_free(t);	/* the bug */
	return 0;
}

static void double_free_child(void)
{
	gf_main(double_free_main, NULL);
}

/* A second gf_timer_free is a fatal error (it spun forever on the freed
 * lock before); under ASan, its report; under TSan, its report of the
 * freed memory when it sees it first (TSan's allocator may also hand the
 * memory out again). Never a hang or a success. */
TEST(timer_double_free_is_fatal)
{
	static char out[1 << 16];
	int st = gft_fork_capture(double_free_child, out, sizeof(out));

	TH_LOG("child said: %.300s", out);
	ASSERT_FALSE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#if !defined(GFT_ASAN) && !defined(GFT_TSAN)
	ASSERT_NE(NULL, strstr(out, "gf_timer_free: not a live timer "
				    "(already freed)"));
#endif
}

TEST_HARNESS_MAIN
