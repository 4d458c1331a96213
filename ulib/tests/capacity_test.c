// SPDX-License-Identifier: GPL-2.0
/*
 * capacity_test - how many fibers fit, not how fast they come.
 *
 * 1,000,000 parked fibers on a default kernel (vm.max_map_count 65530):
 * only possible because stacks come from arenas (docs/ulib.md). Needs
 * about 4.5 GiB of RSS; scaled down under the sanitizers: ASan's shadow
 * and fake stacks multiply the memory per fiber, and TSan counts each
 * fiber as a thread, with a hard limit of 8128 live ones.
 *
 * A capacity test, not a timing one: a fresh fiber costs a first-touch
 * page fault (11-19 us on a 2-core VM, more when the machine is loaded),
 * so a million take from a few seconds to about a minute. The test has
 * its own program with a generous timeout (ulib/tests/settings), so that
 * a slow or loaded machine still passes and the other programs keep
 * their short ones.
 */
#include <stdatomic.h>

#include "gftest.h"
#include "runtime.h"	/* gfi_sched.nfresh: every fiber has run */

static gf_chan_t *never;
static atomic_long woken;

static void park_forever_then_count(void *arg)
{
	(void)arg;
	gf_chan_recv(never, NULL);	/* woken by close */
	atomic_fetch_add(&woken, 1);
}

static int million_main(void *arg)
{
	GFT_FIBER;
	long i, n = (long)arg;

	never = gf_chan_new(0, 0);
	for (i = 0; i < n; i++)
		if (gf_go(park_forever_then_count, NULL) < 0)
			break;
	EXPECT_EQ(n, i);
	EXPECT_EQ(n + 1, gf_num_fibers());
	/* Let every one of them run and park: each yield lets the others
	 * of this P's queue run first. */
	while (gf_num_fibers() > 1 && atomic_load(&woken) == 0 && i-- > 0 &&
	       gf_num_fibers() < n + 1)
		gf_yield();
	gf_sleep(10000000);
	EXPECT_EQ(n + 1, gf_num_fibers());
	EXPECT_EQ(0, atomic_load(&woken));
	EXPECT_EQ(0, gf_chan_close(never));
	while (gf_num_fibers() > 1)
		gf_sleep(1000000);
	EXPECT_EQ(n, atomic_load(&woken));
	gf_chan_unref(never);
	return 0;
}

#ifdef GFT_TSAN
#define MILLION 1500L
#else
#define MILLION (1000000L / GFT_SCALE)
#endif

/* Resident bytes, from /proc/self/statm. */
static long rss_bytes(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * sysconf(_SC_PAGESIZE);
}

/*
 * n fibers parked (a stack page each), then woken and gone: their
 * stacks go back to the kernel beyond the few the free lists keep warm.
 * What stays is the G records (a couple of hundred bytes each, kept as
 * Go keeps its gs): the RSS falls back by far more than half of what
 * the parked fibers took. Before, none of it came back.
 */
static int comes_back_main(void *arg)
{
	GFT_FIBER;
	long i, n = (long)arg, r0, r1, r2;

	never = gf_chan_new(0, 0);
	r0 = rss_bytes();
	for (i = 0; i < n; i++)
		if (gf_go(park_forever_then_count, NULL) < 0)
			break;
	EXPECT_EQ(n, i);
	while (atomic_load(&gfi_sched.nfresh))	/* every one parked */
		gf_yield();
	r1 = rss_bytes();
	EXPECT_EQ(0, gf_chan_close(never));
	while (gf_num_fibers() > 1)
		gf_yield();
	r2 = rss_bytes();
	TH_LOG("%ld fibers: RSS %ld before, %ld parked, %ld after exit", n,
	       r0, r1, r2);
#if !defined(GFT_ASAN) && !defined(GFT_TSAN)
	/* (the sanitizers' shadow of each stack's top page stays) */
	EXPECT_LT(r2 - r0, (r1 - r0) / 4);
#endif
	EXPECT_EQ(n, atomic_load(&woken));
	gf_chan_unref(never);
	return 0;
}

FIXTURE(capacity) {};
FIXTURE_SETUP(capacity) {}
FIXTURE_TEARDOWN(capacity) {}

/* The harness's default of 30 s per test is a timing assert here. */
TEST_F_TIMEOUT(capacity, million_parked_fibers, 900)
{
	GFT_RUN(million_main, (void *)MILLION);
}

TEST_F_TIMEOUT(capacity, memory_comes_back, 300)
{
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(comes_back_main, (void *)(50000L / GFT_SCALE));
}

TEST_HARNESS_MAIN
