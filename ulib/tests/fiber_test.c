// SPDX-License-Identifier: GPL-2.0
/*
 * fiber_test.c - gf_main, gf_go, gf_yield, gf_id/gf_self, gf_exit,
 * gf_park/gf_ready, labels, stacks (size, overflow report), many fibers.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "gftest.h"
#include "runtime.h"	/* gfi_sched.nallgs: Gs are recycled */

/* ------------------------------------------------------------ gf_main */

static int ret42(void *arg)
{
	GFT_FIBER;

	EXPECT_EQ((void *)0x1234, arg);
	EXPECT_GT(gf_id(), 0);
	EXPECT_NE(NULL, gf_self());
	EXPECT_EQ(gf_id(), gf_fiber_id(gf_self()));
	return 42;
}

TEST(main_returns_value)
{
	ASSERT_EQ(0, gf_id());
	ASSERT_EQ(NULL, gf_self());
	ASSERT_EQ(42, gft_main(_metadata, ret42, (void *)0x1234));
	/* again, from the same thread */
	ASSERT_EQ(42, gft_main(_metadata, ret42, (void *)0x1234));
	ASSERT_EQ(0, gf_id());
}

static void sender_then_exit(void *arg)
{
	int v = 1;

	gf_chan_send(arg, &v);
}

static int short_main(void *arg)
{
	gf_chan_t *c = gf_chan_new(sizeof(int), 0);
	int v = 0;

	(void)arg;
	gf_go(sender_then_exit, c);
	gf_chan_recv(c, &v);	/* woken from another P, often */
	gf_chan_unref(c);
	return v - 1;
}

/*
 * gf_main returning while M0 is between "nothing to do" and sleeping,
 * or polling: it must always come back (it once slept forever).
 */
TEST(main_returns_under_races)
{
	int i;

	setenv("GF_PROCS", "2", 1);
	for (i = 0; i < 2000 / GFT_SCALE; i++)
		ASSERT_EQ(0, gft_main(_metadata, short_main, NULL));
}

TEST(main_rejects_null)
{
	ASSERT_EQ(-1, gf_main(NULL, NULL));
	ASSERT_EQ(EINVAL, errno);
}

static void *other_thread(void *arg)
{
	(void)arg;
	return (void *)(long)gf_main(ret42, NULL);
}

TEST(main_from_second_thread_rejected)
{
	pthread_t t;
	void *r;

	ASSERT_EQ(42, gft_main(_metadata, ret42, (void *)0x1234));
	ASSERT_EQ(0, pthread_create(&t, NULL, other_thread, NULL));
	pthread_join(t, &r);
	ASSERT_EQ(-1, (long)r);
}

static void noop(void *arg)
{
	(void)arg;
}

TEST(go_outside_runtime_fails)
{
	/* this child never called gf_main */
	ASSERT_EQ(-1, gf_go(noop, NULL));
	ASSERT_EQ(EPERM, errno);
}

/* ------------------------------------------------------------ spawn, exit */

static atomic_int counter;
static gf_waitgroup_t wg;

static void incr(void *arg)
{
	atomic_fetch_add(&counter, (int)(long)arg);
	gf_waitgroup_done(&wg);
}

static int spawn_many(void *arg)
{
	GFT_FIBER;
	long i, n = (long)arg;
	int64_t last = 0;

	for (i = 0; i < n; i++) {
		int64_t id;

		gf_waitgroup_add(&wg, 1);
		id = gf_go(incr, (void *)1);
		EXPECT_GT(id, last);	/* ids never reused, increasing */
		last = id;
	}
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(n, atomic_load(&counter));
	while (gf_num_fibers() > 1)	/* done() comes before the exit */
		gf_yield();
	return 0;
}

TEST(spawn_and_join_100k)
{
	setenv("GF_PROCS", "4", 1);	/* more Ps than CPUs: stealing */
	GFT_RUN(spawn_many, (void *)(100000L / GFT_SCALE));
}

/*
 * Every dead G is on exactly one free list, and the lists' counts are
 * theirs: each P's two lists, and the global ones, stacks of batches
 * (fiber.c) whose first G holds the batch's size. Checked once the
 * program is down to its main fiber after 100,000 fibers on 4 Ps came
 * and went (spills, refills, the release of stacks beyond the bound).
 */
static int walk_list(struct __test_metadata *_metadata, gfi_g *gp,
		     unsigned char *seen, int warm)
{
	int n = 0;

	for (; gp; gp = gp->schedlink, n++) {
		EXPECT_LT(gp->allg_idx, atomic_load(&gfi_sched.nallgs));
		EXPECT_EQ(0, seen[gp->allg_idx]);
		seen[gp->allg_idx] = 1;
		if (warm >= 0)
			EXPECT_EQ(warm, gp->stack_warm);
	}
	return n;
}

static long walk_batches(struct __test_metadata *_metadata, gfi_g *b,
			 unsigned char *seen, int warm)
{
	long n = 0;

	for (; b; b = b->gfree_batch) {
		int k = walk_list(_metadata, b, seen, warm);

		EXPECT_EQ((int)b->gfree_batchn, k);
		EXPECT_LE(k, 32);
		n += k;
	}
	return n;
}

static int free_lists_main(void *arg)
{
	GFT_FIBER;
	unsigned char *seen;
	long n = 0, warm, cold;
	int i;

	spawn_many(arg);
	seen = calloc(atomic_load(&gfi_sched.nallgs), 1);
	ASSERT_NE(NULL, seen);
	/* the other Ms are idle: their Ps' lists hold still */
	for (i = 0; i < gfi_sched.nprocs; i++) {
		struct gfi_p *p = &gfi_sched.allp[i];

		EXPECT_EQ(p->ngfree, walk_list(_metadata, p->gfree, seen, 1));
		EXPECT_EQ(p->ngfreecold,
			  walk_list(_metadata, p->gfreecold, seen, 0));
		n += p->ngfree + p->ngfreecold;
	}
	gfi_lock(&gfi_sched.gfreelock);
	warm = walk_batches(_metadata, gfi_sched.gfree, seen, 1);
	cold = walk_batches(_metadata, gfi_sched.gfreecold, seen, 0);
	EXPECT_EQ(atomic_load(&gfi_sched.ngfreewarm), warm);
	EXPECT_EQ(atomic_load(&gfi_sched.ngfree), warm + cold);
	n += warm + cold;
	n += walk_list(_metadata, gfi_sched.gfree_nostack, seen, -1);
	gfi_unlock(&gfi_sched.gfreelock);
	TH_LOG("%ld dead Gs: %ld warm and %ld cold on the global lists", n,
	       warm, cold);
	/* the dead ones and main: every G record there is */
	EXPECT_EQ(atomic_load(&gfi_sched.nallgs), n + 1);
	free(seen);
	return 0;
}

TEST(free_lists_hold_every_dead_g_once)
{
	setenv("GF_PROCS", "4", 1);
	GFT_RUN(free_lists_main, (void *)(100000L / GFT_SCALE));
}

/*
 * Fibers created faster than they run (one P, the creator never
 * blocks until all are made) must not cost a fresh page each: a G gets
 * its first frame when it first runs, on the warm stack of a fiber that
 * exited before. Counted in page faults, not time: before, each of them
 * faulted in the top page of its own stack at gf_go. Unguarded stacks,
 * so that the exit check of the pad runs too and must not fault either.
 */
static void touch_and_done(void *arg)
{
	volatile char buf[2048];

	buf[0] = 1;
	buf[sizeof(buf) - 1] = (char)(uintptr_t)arg;
	gf_waitgroup_done(&wg);
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static int spawn_burst_main(void *arg)
{
	GFT_FIBER;
	long i, n = (long)arg, f0;

	/* warm up: the first fiber's stack, the queues */
	gf_waitgroup_add(&wg, 1);
	gf_go(touch_and_done, NULL);
	gf_waitgroup_wait(&wg);
	f0 = minflt();
	gf_waitgroup_add(&wg, n);
	for (i = 0; i < n; i++)
		EXPECT_GT(gf_go(touch_and_done, (void *)i), 0);
	gf_waitgroup_wait(&wg);
	while (gf_num_fibers() > 1)
		gf_yield();
	f0 = minflt() - f0;
	TH_LOG("%ld fibers created before any ran: %ld page faults", n, f0);
#ifndef GFT_TSAN	/* TSan's own state per fiber faults pages in */
	/* a G record is 216 bytes: n/16 pages, not n */
	EXPECT_LT(f0, n / 4);
#endif
	return 0;
}

TEST(spawn_burst_touches_few_pages)
{
	setenv("GF_PROCS", "1", 1);
	setenv("GF_GUARD_STACKS", "0", 1);
	GFT_RUN(spawn_burst_main, (void *)(20000L / GFT_SCALE));
}

/*
 * The same when the warm stacks of exited fibers wait on the global list
 * (their P held more than it keeps) while the P's own list holds cold
 * Gs (a stack returned to the kernel, or the cold stack a start traded
 * for a warm one): a fiber's first run takes a warm stack from the
 * global list. Before, a P looked there only when it had no cold G
 * either, and a burst of fibers spawned while others exit (bench timers:
 * 100,000 sleepers) faulted a fresh page for most of them.
 */
static _Atomic long sleepers_live, sleepers_peak;

static void sleep_then_done(void *arg)
{
	long v = atomic_fetch_add(&sleepers_live, 1) + 1;
	long pk = atomic_load(&sleepers_peak);

	while (v > pk && !atomic_compare_exchange_weak(&sleepers_peak, &pk, v))
		;
	gf_sleep((int64_t)(uintptr_t)arg);
	atomic_fetch_sub(&sleepers_live, 1);
	gf_waitgroup_done(&wg);
}

static int sleepers_main(void *arg)
{
	GFT_FIBER;
	long i, n = (long)arg, f0;

	gf_waitgroup_add(&wg, n);
	f0 = minflt();
	for (i = 0; i < n; i++)
		EXPECT_GT(gf_go(sleep_then_done,
				(void *)(uintptr_t)((1 + i * 7919 % 20) *
						    1000000)), 0);
	gf_waitgroup_wait(&wg);
	f0 = minflt() - f0;
	TH_LOG("%ld sleepers of 1-20 ms, at most %ld at once: %ld page faults",
	       n, (long)sleepers_peak, f0);
#if !defined(GFT_TSAN) && !defined(GFT_ASAN)
	/* (the sanitizers' shadow of each stack faults pages of its own) */
	EXPECT_LT(f0, 2 * sleepers_peak + n / 10);
#endif
	return 0;
}

TEST(sleepers_reuse_warm_stacks)
{
	setenv("GF_GUARD_STACKS", "0", 1);
	GFT_RUN(sleepers_main, (void *)(40000L / GFT_SCALE));
}

static void exiter(void *arg)
{
	atomic_fetch_add(&counter, 1);
	gf_waitgroup_done(&wg);
	gf_exit();
	*(int *)arg = 1;	/* never reached */
}

static int exit_main(void *arg)
{
	GFT_FIBER;
	int flag = 0;

	(void)arg;
	gf_waitgroup_add(&wg, 1);
	gf_go(exiter, &flag);
	gf_waitgroup_wait(&wg);
	while (gf_num_fibers() > 1)	/* done() comes before the exit */
		gf_sleep(1000000);
	EXPECT_EQ(0, flag);		/* nothing ran after gf_exit */
	return 0;
}

TEST(exit_ends_fiber)
{
	GFT_RUN(exit_main, NULL);
}

static int main_exits(void *arg)
{
	(void)arg;
	gf_exit();
	return 99;
}

TEST(exit_from_main_returns_zero)
{
	ASSERT_EQ(0, gft_main(_metadata, main_exits, NULL));
}

/* ------------------------------------------------------------ yield */

static int turns[2][1000];
static atomic_int turn_seq;

static void yielder(void *arg)
{
	long who = (long)arg;
	int i;

	for (i = 0; i < 1000; i++) {
		turns[who][i] = atomic_fetch_add(&turn_seq, 1);
		gf_yield();
	}
	gf_waitgroup_done(&wg);
}

static int yield_main(void *arg)
{
	GFT_FIBER;
	int i;

	(void)arg;
	gf_waitgroup_add(&wg, 2);
	gf_go(yielder, (void *)0);
	gf_go(yielder, (void *)1);
	gf_waitgroup_wait(&wg);
	/* with one P, yield alternates the two strictly */
	for (i = 1; i < 1000; i++)
		EXPECT_EQ(turns[0][i - 1] + 2, turns[0][i]);
	gf_yield();	/* alone: returns */
	return 0;
}

TEST(yield_alternates_on_one_proc)
{
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(yield_main, NULL);
}

/* ------------------------------------------------------------ park/ready */

static gf_fiber_t *parked;
static int plock;		/* a user's own lock word */
static atomic_int woke;

static bool my_unlock(gf_fiber_t *self, void *lock)
{
	__atomic_store_n(&parked, self, __ATOMIC_RELEASE);
	__atomic_store_n((int *)lock, 0, __ATOMIC_RELEASE);
	return true;
}

static void park_user(void *arg)
{
	(void)arg;
	while (__atomic_exchange_n(&plock, 1, __ATOMIC_ACQUIRE))
		;
	gf_park(my_unlock, &plock, gf_wait_reason("test reason"));
	atomic_store(&woke, 1);
	gf_waitgroup_done(&wg);
}

static int park_main(void *arg)
{
	GFT_FIBER;

	(void)arg;
	gf_waitgroup_add(&wg, 1);
	gf_go(park_user, NULL);
	while (!__atomic_load_n(&parked, __ATOMIC_ACQUIRE))
		gf_yield();
	/* parked for good: yields do not wake it */
	gf_yield();
	gf_sleep(2000000);
	EXPECT_EQ(0, atomic_load(&woke));
	gf_ready(__atomic_load_n(&parked, __ATOMIC_ACQUIRE));
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(1, atomic_load(&woke));
	return 0;
}

TEST(park_ready_user_primitive)
{
	GFT_RUN(park_main, NULL);
}

static bool stay_runnable(gf_fiber_t *self, void *lock)
{
	(void)self;
	(void)lock;
	return false;
}

static int park_false_main(void *arg)
{
	GFT_FIBER;

	(void)arg;
	/* unlock returning false: the park ends at once */
	gf_park(stay_runnable, NULL, GF_WAIT_JOIN);
	gf_park(NULL, NULL, GF_WAIT_JOIN) ; /* NULL unlock: parks */
	EXPECT_TRUE(0);	/* unreachable: main stays parked (ready below) */
	return 1;
}

/* Readies f once it is parked (a ready of a fiber not parked is fatal):
 * a sleep alone is a timing assumption a loaded machine breaks. */
static void readier(void *arg)
{
	gf_fiber_t *f = arg;

	gf_sleep(1000000);
	while ((atomic_load(&f->status) & ~GSCAN) != GFIBERS_GWAITING)
		gf_sleep(1000000);
	gf_ready(f);
}

static int park_false_outer(void *arg)
{
	GFT_FIBER;

	(void)arg;
	gf_park(stay_runnable, NULL, GF_WAIT_JOIN);
	gf_go(readier, gf_self());
	gf_park(NULL, NULL, GF_WAIT_JOIN);
	EXPECT_EQ(1, gf_id());
	return 0;
}

/*
 * Only GF_FOREVER is forever: a negative deadline is a time long past,
 * so the park ends at once, timed out. (It once parked for good.)
 */
static int park_negative_deadline_main(void *arg)
{
	GFT_FIBER;
	static const int64_t past[] = { -2, -1000, INT64_MIN, 0 };
	size_t i;

	(void)arg;
	for (i = 0; i < sizeof(past) / sizeof(past[0]); i++) {
		atomic_store(&gf_self()->selectdone, 0);
		EXPECT_FALSE(gfi_park_deadline(NULL, NULL, GF_WAIT_SLEEP, 0,
					       NULL, past[i]));
		EXPECT_TRUE(gf_self()->timedout);
	}
	return 0;
}

TEST(park_negative_deadline_expired)
{
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(park_negative_deadline_main, NULL);
}

static int ready_null_main(void *arg)
{
	(void)arg;
	gf_ready(NULL);
	return 0;
}

static void ready_null_child(void)
{
	gf_main(ready_null_main, NULL);
}

/* A bug of the caller, said as one (it was a SIGSEGV). */
TEST(ready_null_is_fatal)
{
	char out[8192];
	int st = gft_fork_capture(ready_null_child, out, sizeof(out));

	ASSERT_TRUE(WIFSIGNALED(st));
	EXPECT_EQ(SIGABRT, WTERMSIG(st));
	EXPECT_NE(NULL, strstr(out, "fatal error: gf_ready of a NULL fiber"));
}

TEST(park_unlock_false_and_null)
{
	(void)park_false_main;
	GFT_RUN(park_false_outer, NULL);
}

TEST(wait_reason_names)
{
	int a = gf_wait_reason("db query");

	ASSERT_GE(a, 256);
	ASSERT_EQ(a, gf_wait_reason("db query"));
	ASSERT_NE(a, gf_wait_reason("other"));
	ASSERT_EQ(-1, gf_wait_reason(""));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, gf_wait_reason(
		"0123456789012345678901234567890123456789012345678901234567"));
	ASSERT_EQ(EINVAL, errno);
}

/* ------------------------------------------------------------ labels */

static void label_child(void *arg)
{
	GFT_FIBER;

	(void)arg;
	EXPECT_STREQ("42", gf_label_get("req"));
	EXPECT_EQ(0, gf_label_set("req", "43"));	/* own copy */
	EXPECT_STREQ("43", gf_label_get("req"));
	gf_waitgroup_done(&wg);
}

static int label_main(void *arg)
{
	GFT_FIBER;
	char k[16];
	int i;

	(void)arg;
	EXPECT_EQ(NULL, gf_label_get("req"));
	EXPECT_EQ(0, gf_label_set("req", "42"));
	gf_waitgroup_add(&wg, 1);
	gf_go(label_child, NULL);
	gf_waitgroup_wait(&wg);
	EXPECT_STREQ("42", gf_label_get("req"));
	EXPECT_EQ(0, gf_label_set("req", NULL));
	EXPECT_EQ(NULL, gf_label_get("req"));
	for (i = 0; i < 8; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		EXPECT_EQ(0, gf_label_set(k, "v"));
	}
	EXPECT_EQ(-1, gf_label_set("k9", "v"));
	EXPECT_EQ(ENOSPC, errno);
	EXPECT_EQ(-1, gf_label_set("", "v"));
	EXPECT_EQ(EINVAL, errno);
	return 0;
}

TEST(labels_inherited)
{
	ASSERT_EQ(-1, gf_label_set("a", "b"));	/* outside a fiber */
	ASSERT_EQ(EPERM, errno);
	GFT_RUN(label_main, NULL);
}

/* ------------------------------------------------------------ stacks */

static void big_frame(void *arg)
{
	volatile char buf[200 << 10];

	buf[0] = 1;
	buf[sizeof(buf) - 1] = 2;
	*(int *)arg = buf[0] + buf[sizeof(buf) - 1];
	gf_waitgroup_done(&wg);
}

static int stack_size_main(void *arg)
{
	GFT_FIBER;
	int r = 0, i;
	gf_attr_t a = { .name = "big", .stack_size = 512 << 10 };

	(void)arg;
	gf_waitgroup_add(&wg, 1);
	EXPECT_GT(gf_go_attr(big_frame, &r, &a), 0);
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(3, r);
	/* own-size stacks are unmapped at exit and their Gs reused */
	for (i = 0; i < 200; i++) {
		gf_waitgroup_add(&wg, 1);
		EXPECT_GT(gf_go_attr(big_frame, &r, &a), 0);
		gf_waitgroup_wait(&wg);
	}
	while (gf_num_fibers() > 1)
		gf_yield();
	EXPECT_LT(atomic_load(&gfi_sched.nallgs), 20);
	a.stack_size = 2ul << 30;
	EXPECT_EQ(-1, gf_go_attr(big_frame, &r, &a));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, gf_go(NULL, NULL));
	EXPECT_EQ(EINVAL, errno);
	return 0;
}

TEST(custom_stack_size)
{
	GFT_RUN(stack_size_main, NULL);
}

static int recurse(int n)
{
	volatile char pad[512];

	pad[0] = (char)n;
	return n > 0 ? recurse(n - 1) + pad[0] : 0;
}

static void overflower(void *arg)
{
	(void)arg;
	recurse(1 << 20);
}

static int overflow_main(void *arg)
{
	gf_attr_t a = { .name = "deep-recursion" };

	(void)arg;
	gf_go_attr(overflower, NULL, &a);
	gf_sleep(5000000000LL);
	return 0;
}

static void overflow_child(void)
{
	gf_main(overflow_main, NULL);
}

TEST(stack_overflow_reported)
{
	char out[8192];
	int st = gft_fork_capture(overflow_child, out, sizeof(out));

	TH_LOG("child said: %.300s", out);
#ifdef GFT_ASAN
	/* ASan's own SEGV/stack-overflow report comes first */
	ASSERT_TRUE(WIFSIGNALED(st) || WEXITSTATUS(st) != 0);
#else
	ASSERT_TRUE(WIFSIGNALED(st));
	EXPECT_EQ(SIGABRT, WTERMSIG(st));
	EXPECT_NE(NULL, strstr(out, "stack overflow in fiber 2"));
	EXPECT_NE(NULL, strstr(out, "deep-recursion"));
#endif
}

/*
 * One frame bigger than the whole stack, of which only the lowest byte
 * is written: it lands 8 KiB below the stack, over a one-page guard and
 * into the stack of the fiber below (main's, carved just before it),
 * silently. The pad below every stack is now 64 KiB, so the write hits
 * it: reported, and no neighbour touched. (Built without
 * -fstack-clash-protection, as here, the frame is not probed page by
 * page.)
 */
static __attribute__((noinline)) void huge_frame(void)
{
	volatile char buf[(64 + 8) << 10];

	buf[0] = 1;
	__asm__ volatile("" : : "r"(buf) : "memory");
}

static void jumper(void *arg)
{
	(void)arg;
	huge_frame();
}

static int jump_main(void *arg)
{
	gf_attr_t a = { .name = "big-frame" };

	(void)arg;
	gf_go_attr(jumper, NULL, &a);
	gf_sleep(2000000000LL);
	return 0;
}

static void jump_child(void)
{
	setenv("GF_PROCS", "1", 1);
	gf_main(jump_main, NULL);
}

TEST(stack_overflow_big_frame_over_guard)
{
	char out[8192];
	int st = gft_fork_capture(jump_child, out, sizeof(out));

	TH_LOG("child said: %.300s", out);
#ifdef GFT_ASAN
	/* ASan's own report may come first */
	ASSERT_TRUE(WIFSIGNALED(st) || WEXITSTATUS(st) != 0);
#else
	ASSERT_TRUE(WIFSIGNALED(st));
	EXPECT_EQ(SIGABRT, WTERMSIG(st));
	EXPECT_NE(NULL, strstr(out, "stack overflow in fiber 2 (big-frame)"));
#endif
}

/* Beyond the guard budget: a write into the pad, found at exit. */
static __attribute__((noinline)) void pad_frame(void)
{
	volatile char buf[(64 + 16) << 10];

	buf[0] = 1;
	__asm__ volatile("" : : "r"(buf) : "memory");
}

static void padder(void *arg)
{
	(void)arg;
	pad_frame();
}

static int pad_main(void *arg)
{
	gf_attr_t a = { .name = "pad-writer" };

	(void)arg;
	gf_go_attr(padder, NULL, &a);
	gf_sleep(2000000000LL);
	return 0;
}

static void pad_child(void)
{
	setenv("GF_PROCS", "1", 1);
	setenv("GF_GUARD_STACKS", "0", 1);
	gf_main(pad_main, NULL);
}

/* child's pad-writer is reported at its exit, by the pad check */
static void pad_write_found_at_exit(struct __test_metadata *_metadata,
				    void (*child)(void))
{
	char out[8192];
	int st = gft_fork_capture(child, out, sizeof(out));

	TH_LOG("child said: %.300s", out);
#ifdef GFT_ASAN
	ASSERT_TRUE(WIFSIGNALED(st) || WEXITSTATUS(st) != 0);
#else
	ASSERT_TRUE(WIFSIGNALED(st));
	EXPECT_EQ(SIGABRT, WTERMSIG(st));
	EXPECT_NE(NULL, strstr(out, "stack overflow in fiber 2 (pad-writer): "
				    "pad below the stack written"));
#endif
}

TEST(stack_overflow_into_unguarded_pad)
{
	pad_write_found_at_exit(_metadata, pad_child);
}

/*
 * The budget counts stacks, not fibers: with GF_GUARD_STACKS=1 main's
 * stack takes the one guard, and the next fiber's pad write is found
 * at its exit by the pad check.
 */
static void pad_child_budget_1(void)
{
	setenv("GF_PROCS", "1", 1);
	setenv("GF_GUARD_STACKS", "1", 1);
	gf_main(pad_main, NULL);
}

TEST(stack_overflow_beyond_budget_found_at_exit)
{
	pad_write_found_at_exit(_metadata, pad_child_budget_1);
}

/*
 * Overflow detection on stacks that were recycled: warm ones traded
 * between fibers and cold ones returned to the kernel (more dead fibers
 * than the free lists keep warm). The pad of a traded or released stack
 * is still checked, the guard of a guarded one still faults.
 */
static gf_chan_t *hold;

static void hold_then_exit(void *arg)
{
	(void)arg;
	gf_chan_recv(hold, NULL);
}

static void recycle_stacks(void)
{
#ifdef GFT_TSAN
	/* a fiber costs TSan ~400 page faults: traded stacks only */
	int i, n = 100;
#else
	/* more than the free lists keep warm (64 a P, 256 global) */
	int i, n = 2000 / GFT_SCALE + 400;
#endif

	hold = gf_chan_new(0, 0);
	for (i = 0; i < n; i++)
		gf_go(hold_then_exit, NULL);
	while (gf_num_fibers() > 1 && gfi_sched.nfresh)
		gf_yield();
	gf_chan_close(hold);
	while (gf_num_fibers() > 1)
		gf_yield();
}

/* The fiber to run on a recycled stack, named after it. */
static void (*recycled_fn)(void *);
static const char *recycled_name;

static int recycled_main(void *arg)
{
	gf_attr_t a = { .name = recycled_name };

	(void)arg;
	recycle_stacks();
	gf_go_attr(recycled_fn, NULL, &a);
	gf_sleep(2000000000LL);
	return 0;
}

static void recycled_child(void)
{
	setenv("GF_PROCS", "1", 1);
	gf_main(recycled_main, NULL);
}

/* Run fn as name on a recycled stack in a child: reported as want. */
static void check_recycled_overflow(struct __test_metadata *_metadata,
				    void (*fn)(void *), const char *name,
				    const char *want)
{
	char out[8192];
	int st;

	recycled_fn = fn;
	recycled_name = name;
	st = gft_fork_capture(recycled_child, out, sizeof(out));
	TH_LOG("child said: %.300s", out);
#ifdef GFT_ASAN
	(void)want;	/* ASan's own report may come first */
	ASSERT_TRUE(WIFSIGNALED(st) || WEXITSTATUS(st) != 0);
#else
	ASSERT_TRUE(WIFSIGNALED(st));
	EXPECT_EQ(SIGABRT, WTERMSIG(st));
	EXPECT_NE(NULL, strstr(out, want));
#endif
}

TEST(stack_overflow_on_recycled_stack)
{
	setenv("GF_GUARD_STACKS", "0", 1);
	check_recycled_overflow(_metadata, padder, "pad-writer",
				"(pad-writer): pad below the stack written");
}

TEST(stack_overflow_on_recycled_guarded_stack)
{
	check_recycled_overflow(_metadata, jumper, "big-frame",
				"(big-frame): guard page hit");
}

/* ------------------------------------------------ stacks back to the kernel */

/*
 * gfi_stack_release picks the longest runs of neighbouring stacks first
 * (each madvise is what costs): of stacks 0-15 (a run), 17-18 (a run)
 * and 20, 22, 24 (alone), asked for 16 it returns the run of 16 and
 * keeps the rest warm, their contents intact; asked for 2 more, the
 * pair; for 0, nothing; then the singles. A returned stack reads zero
 * and is not resident.
 */
#define REL_N 25

static bool top_resident(const gfi_g *gp)
{
	unsigned char v = 0;
	long pg = sysconf(_SC_PAGESIZE);

	return !mincore(gp->stack_hi - pg, (size_t)pg, &v) && (v & 1);
}

static int release_main(void *arg)
{
	GFT_FIBER;
	static gfi_g g[REL_N];
	static const int in_list[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
				       12, 13, 14, 15, 17, 18, 20, 22, 24 };
	const int nl = (int)(sizeof(in_list) / sizeof(in_list[0]));
	gfi_g *list = NULL, *gp;
	int i, warm, tries;

	(void)arg;
	/* REL_N neighbours: carved in order from one arena (a new arena
	 * starts the row again) */
	for (i = 0, tries = 0; i < REL_N && tries < 200; i++, tries++) {
		ASSERT_EQ(0, gfi_stack_alloc(&g[i], 0));
		if (i && g[i - 1].stack_hi != g[i].map_lo) {
			g[0] = g[i];
			i = 0;
		}
	}
	ASSERT_EQ(REL_N, i);
	for (i = 0; i < REL_N; i++) {
		((volatile long *)g[i].stack_hi)[-1] = 1000 + i;
		g[i].stack_warm = 1;
	}
	for (i = nl - 1; i >= 0; i--) {	/* any order: it sorts */
		gp = &g[in_list[(i * 5) % nl]];	/* 5: prime to nl */
		gp->schedlink = list;
		list = gp;
	}
	list = gfi_stack_release(list, 16);
	for (i = 0, gp = list; gp; gp = gp->schedlink, i++)
		if (gp->schedlink)
			EXPECT_LT(gp->map_lo, gp->schedlink->map_lo);
	EXPECT_EQ(nl, i);
	for (i = 0; i < REL_N; i++) {
		bool gone = i < 16;

		EXPECT_EQ(!gone, g[i].stack_warm);
		/* (before the read below, which maps the zero page) */
		EXPECT_EQ(!gone, top_resident(&g[i]));
		EXPECT_EQ(gone ? 0 : 1000 + i,
			  ((volatile long *)g[i].stack_hi)[-1]);
	}
	list = gfi_stack_release(list, 0);
	EXPECT_EQ(1, g[17].stack_warm);
	list = gfi_stack_release(list, 2);
	EXPECT_EQ(0, g[17].stack_warm);
	EXPECT_EQ(0, g[18].stack_warm);
	EXPECT_FALSE(top_resident(&g[17]));
	EXPECT_EQ(1, g[20].stack_warm);
	EXPECT_TRUE(top_resident(&g[20]));
	list = gfi_stack_release(list, 3);
	for (warm = 0, i = 0; i < REL_N; i++)
		warm += g[i].stack_warm;
	/* 16, 19, 21 and 23 were never in the list */
	EXPECT_EQ(4, warm);
	EXPECT_EQ(1000 + 19, ((volatile long *)g[19].stack_hi)[-1]);
	EXPECT_EQ(0, ((volatile long *)g[24].stack_hi)[-1]);
	/* the test's stacks are its own, never freed (arena stacks are not) */
	return 0;
}

TEST(stack_release_longest_runs_first)
{
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(release_main, NULL);
}

/*
 * Where the kernel refuses the vectored release (before Linux 6.13, or
 * under a seccomp filter as here), each range is one madvise: the same
 * stacks go back to the kernel.
 */
static void refuse_process_madvise(struct __test_metadata *_metadata)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_madvise, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]),
				   .filter = f };

	ASSERT_EQ(0, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	ASSERT_EQ(0, prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
	ASSERT_EQ(-1, syscall(__NR_process_madvise, -1, NULL, 0, 0, 0));
	ASSERT_EQ(EPERM, errno);
}

TEST(stack_release_without_process_madvise)
{
	refuse_process_madvise(_metadata);
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(release_main, NULL);
}

/*
 * A range the kernel refuses (here: unmapped under the test's feet) keeps
 * its stacks warm, and the ranges after it are still released, whether
 * the batch went in one call or one madvise each; the caller's errno is
 * left alone (the release runs on the next fiber's exit path).
 */
static void release_refused_range(struct __test_metadata *_metadata)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t slot = 4 * (size_t)pg;
	char *a = mmap(NULL, 5 * slot, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gfi_g g[3], *list = NULL;
	int i;

	ASSERT_NE(MAP_FAILED, a);
	memset(g, 0, sizeof(g));
	for (i = 2; i >= 0; i--) {	/* slots 0, 2, 4: three runs */
		g[i].map_lo = a + 2 * i * slot;
		g[i].stack_lo = g[i].map_lo + pg;
		g[i].stack_hi = g[i].map_lo + slot;
		g[i].stack_arena = 1;
		g[i].stack_warm = 1;
		((volatile char *)g[i].stack_hi)[-1] = 1;
		g[i].schedlink = list;
		list = &g[i];
	}
	ASSERT_EQ(0, munmap(g[1].stack_lo, slot - pg));
	errno = 4321;
	list = gfi_stack_release(list, 3);
	EXPECT_EQ(4321, errno);
	EXPECT_EQ(0, g[0].stack_warm);
	EXPECT_EQ(1, g[1].stack_warm);
	EXPECT_EQ(0, g[2].stack_warm);
	EXPECT_EQ(0, ((volatile char *)g[0].stack_hi)[-1]);
	EXPECT_EQ(0, ((volatile char *)g[2].stack_hi)[-1]);
	EXPECT_EQ(&g[0], list);
	munmap(a, 5 * slot);
}

TEST(stack_release_refused_range)
{
	release_refused_range(_metadata);
}

TEST(stack_release_refused_range_without_process_madvise)
{
	refuse_process_madvise(_metadata);
	release_refused_range(_metadata);
}

/*
 * Fresh stacks are populated in batches: a fiber that starts on a fresh
 * stack while fibers multiply gets the tops of the arena's next slots
 * populated with its own, in one call, so that the fibers created next
 * start on resident pages (in a VM a first touch each costs 15x more:
 * stack.c). Where the kernel refuses MADV_POPULATE_WRITE (before 5.14,
 * or a seccomp filter as below) they fault their pages in as before, and
 * run the same.
 */
/* A batch is an eighth of the live fibers, at most 64: from POP_FROM
 * on, all but one of each 64 (16-32 under the sanitizers, where a fiber
 * is dear: TSan's state) are populated ahead; POP_MISS allows for that
 * one and for the first slot of each new arena. */
#if defined(GFT_TSAN) || defined(GFT_ASAN)
#define POP_N 256
#define POP_FROM 128
#define POP_MISS 8
#else
#define POP_N 1024
#define POP_FROM 512
#define POP_MISS 16
#endif

static void signal_then_hold(void *arg)
{
	(void)arg;
	gf_waitgroup_done(&wg);
	gf_chan_recv(hold, NULL);
}

static int populate_main(void *arg)
{
	GFT_FIBER;
	bool populated = (bool)(uintptr_t)arg;
	long i, checked = 0, resident = 0;

	hold = gf_chan_new(0, 0);
	for (i = 0; i < POP_N; i++) {
		int64_t id;
		gfi_g *gp;

		gf_waitgroup_add(&wg, 1);
		id = gf_go(signal_then_hold, NULL);
		ASSERT_GT(id, 0);
		/* no G has exited: the new one is the newest, and one P
		 * runs this creator, so it has not run yet */
		gp = atomic_load(&gfi_sched.allgs)
			[atomic_load(&gfi_sched.nallgs) - 1];
		ASSERT_EQ(id, gp->id);
		if (i >= POP_FROM) {
			checked++;
			resident += top_resident(gp);
		}
		gf_waitgroup_wait(&wg);		/* it ran, and parks */
	}
	TH_LOG("%ld of %ld fresh stacks resident before their first run",
	       resident, checked);
	if (populated) {	/* all but the one per batch that populated */
		EXPECT_GE(resident, checked - checked / POP_MISS);
	} else {
		EXPECT_EQ(0, resident);
	}
	EXPECT_EQ(POP_N + 1, gf_num_fibers());
	gf_chan_close(hold);
	while (gf_num_fibers() > 1)
		gf_yield();
	gf_chan_unref(hold);
	return 0;
}

/* Whether this kernel takes MADV_POPULATE_WRITE (5.14). */
static bool kernel_populates(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok = p != MAP_FAILED &&
		  !madvise(p, (size_t)pg, MADV_POPULATE_WRITE);

	if (p != MAP_FAILED)
		munmap(p, (size_t)pg);
	return ok;
}

TEST(fresh_stacks_populated_in_batches)
{
	if (!kernel_populates())
		SKIP(return, "this kernel has no MADV_POPULATE_WRITE");
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(populate_main, (void *)1);
}

/* process_madvise refused (EPERM), madvise(advice) as by a kernel that
 * does not know it (EINVAL); other madvise calls pass. */
static void refuse_advice(struct __test_metadata *_metadata, int advice)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_madvise, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_madvise, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,	/* low half, LE */
			 offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)advice, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]),
				   .filter = f };
	long pg = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	ASSERT_EQ(0, prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
	ASSERT_EQ(-1, madvise(p, (size_t)pg, advice));
	ASSERT_EQ(EINVAL, errno);
	munmap(p, (size_t)pg);
}

TEST(fresh_stacks_fault_where_populate_is_refused)
{
	refuse_advice(_metadata, MADV_POPULATE_WRITE);
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(populate_main, (void *)0);
}

/*
 * gfi_stack_populate itself: the tops it populates are resident and
 * their Gs warm; a range the kernel refuses (unmapped here) and those
 * after it stay cold, in one call or one madvise each; errno is left
 * as it was (it runs where a fiber's errno is live).
 */
static int populate_range_main(void *arg)
{
	GFT_FIBER;
	long pg = sysconf(_SC_PAGESIZE);
	size_t slot = 4 * (size_t)pg;
	char *a = mmap(NULL, 4 * slot, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static struct gfi_populate b;
	gfi_g g[4];
	int i;

	ASSERT_NE(MAP_FAILED, a);
	memset(g, 0, sizeof(g));
	for (i = 0; i < 4; i++) {
		g[i].map_lo = a + i * slot;
		g[i].stack_lo = g[i].map_lo + pg;
		g[i].stack_hi = g[i].map_lo + slot;
		g[i].stack_arena = 1;
		b.gs[i] = &g[i];
	}
	ASSERT_EQ(0, munmap(g[2].stack_hi - pg, (size_t)pg));
	errno = 4321;
	EXPECT_EQ(2, gfi_stack_populate(&b, 4, 0));
	EXPECT_EQ(4321, errno);
	EXPECT_EQ(1, g[0].stack_warm);
	EXPECT_EQ(1, g[1].stack_warm);
	EXPECT_EQ(0, g[2].stack_warm);
	EXPECT_EQ(0, g[3].stack_warm);
	EXPECT_TRUE(top_resident(&g[0]));
	EXPECT_TRUE(top_resident(&g[1]));
	EXPECT_FALSE(top_resident(&g[3]));
	munmap(a, 4 * slot);
	(void)arg;
	return 0;
}

TEST(stack_populate_refused_range)
{
	if (!kernel_populates())
		SKIP(return, "this kernel has no MADV_POPULATE_WRITE");
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(populate_range_main, NULL);
}

TEST(stack_populate_refused_range_without_process_madvise)
{
	if (!kernel_populates())
		SKIP(return, "this kernel has no MADV_POPULATE_WRITE");
	refuse_process_madvise(_metadata);
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(populate_range_main, NULL);
}

TEST_HARNESS_MAIN
