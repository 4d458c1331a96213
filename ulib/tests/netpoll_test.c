// SPDX-License-Identifier: GPL-2.0
/*
 * netpoll_test.c - IO waits: closing a fd that fibers wait on (gf_close,
 * and close(2) with the number reused), descriptors' blocking mode left
 * alone by gf_read/gf_write, bad input to gf_wait_fd/gf_read/gf_write.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "gftest.h"

/* How many fibers the dump shows parked in "IO wait". */
static int io_waiters(void)
{
	const char *d = gft_dump();
	int n = 0;

	while ((d = strstr(d, "[IO wait"))) {
		n++;
		d++;
	}
	return n;
}

/* Let the fibers started reach their IO wait (no timing assumed). */
static void until_io_waiters(int n)
{
	while (io_waiters() < n)
		gf_sleep(100000);
}

/* Let fiber id reach its IO wait. */
static void until_io_waiting(int64_t id)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "fiber %lld [IO wait", (long long)id);
	while (!strstr(gft_dump(), pat))
		gf_sleep(100000);
}

static bool fd_blocking(int fd)
{
	return !(fcntl(fd, F_GETFL) & O_NONBLOCK);
}

/* A reader: gf_read of up to 15 bytes, its result kept. */
struct reader {
	int fd;
	ssize_t r;
	int err;
	char buf[16];
	gf_waitgroup_t *wg;
};

static void reader_fn(void *arg)
{
	struct reader *rd = arg;

	rd->r = gf_read(rd->fd, rd->buf, sizeof(rd->buf) - 1);
	rd->err = errno;
	gf_waitgroup_done(rd->wg);
}

/*
 * Fiber A waits in gf_read on a socket; the fd is closed with close(2)
 * and its number given to a new socketpair, on which fiber B reads. B's
 * data must reach B, never A (one connection's data handed to another):
 * A fails with EBADF once the number is waited on again. Before, A was
 * woken by B's socket, read B's data, and B stayed parked.
 */
static int reuse_main(void *arg)
{
	GFT_FIBER;
	gf_waitgroup_t wg = GF_WAITGROUP_INIT;
	struct reader a = { .wg = &wg }, b = { .wg = &wg };
	int sp[2], sp2[2], peer;

	(void)arg;
	EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	a.fd = sp[0];
	gf_waitgroup_add(&wg, 2);
	gf_go(reader_fn, &a);
	until_io_waiters(1);
	close(sp[0]);
	EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sp2));
	/* the lowest free number is sp[0]'s */
	EXPECT_EQ(sp[0], sp2[0]);
	b.fd = sp2[0];
	peer = sp2[1];
	until_io_waiting(gf_go(reader_fn, &b));
	EXPECT_EQ(6, write(peer, "B-data", 6));
	EXPECT_EQ(0, gf_waitgroup_wait_until(&wg, gf_timeout(10 * SEC)));
	EXPECT_EQ(-1, a.r);
	EXPECT_EQ(EBADF, a.err);
	EXPECT_EQ(6, b.r);
	EXPECT_STREQ("B-data", b.buf);
	close(sp[1]);
	close(sp2[0]);
	close(sp2[1]);
	return 0;
}

TEST(close_and_reuse_no_crosstalk)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(reuse_main, NULL);
}

/* gf_wait_fd on both directions, for the eviction test. */
struct waiter {
	int fd, events, r, err;
	gf_waitgroup_t *wg;
};

static void waiter_fn(void *arg)
{
	struct waiter *w = arg;

	w->r = gf_wait_fd(w->fd, w->events);
	w->err = errno;
	gf_waitgroup_done(w->wg);
}

struct writer {
	int fd;
	ssize_t r;
	int err;
	gf_waitgroup_t *wg;
};

static void writer_fn(void *arg)
{
	static char big[1 << 16];
	struct writer *w = arg;

	w->r = gf_write(w->fd, big, sizeof(big));
	w->err = errno;
	gf_waitgroup_done(w->wg);
}

/* Fill fd's socket buffer (the fd stays blocking). */
static void fill(int fd)
{
	char b[4096] = { 0 };

	while (send(fd, b, sizeof(b), MSG_DONTWAIT) > 0)
		;
}

/*
 * gf_close wakes every fiber waiting on the fd - in gf_read, gf_write,
 * gf_wait_fd - with EBADF, and the number then serves its next file.
 */
static int gf_close_main(void *arg)
{
	GFT_FIBER;
	gf_waitgroup_t wg = GF_WAITGROUP_INIT;
	struct reader rd = { .wg = &wg };
	struct writer wr = { .wg = &wg };
	struct waiter wt = { .events = EPOLLIN, .wg = &wg };
	int a[2], b[2], c[2], d[2];
	char ch;

	(void)arg;
	EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, a));
	EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, b));
	EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, c));
	fill(b[1]);		/* b[1] full: its writer waits */
	rd.fd = a[0];		/* nothing to read */
	wr.fd = b[1];
	wt.fd = c[0];
	gf_waitgroup_add(&wg, 3);
	gf_go(reader_fn, &rd);
	gf_go(writer_fn, &wr);
	gf_go(waiter_fn, &wt);
	until_io_waiters(3);
	EXPECT_EQ(0, gf_close(a[0]));
	EXPECT_EQ(0, gf_close(b[1]));
	EXPECT_EQ(0, gf_close(c[0]));
	EXPECT_EQ(0, gf_waitgroup_wait_until(&wg, gf_timeout(10 * SEC)));
	EXPECT_EQ(-1, rd.r);
	EXPECT_EQ(EBADF, rd.err);
	EXPECT_EQ(-1, wr.r);
	EXPECT_EQ(EBADF, wr.err);
	EXPECT_EQ(-1, wt.r);
	EXPECT_EQ(EBADF, wt.err);
	EXPECT_EQ(0, io_waiters());

	/* The number's next file works. */
	EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, d));
	EXPECT_EQ(a[0], d[0]);
	EXPECT_EQ(1, write(d[1], "x", 1));
	EXPECT_EQ(1, gf_read(d[0], &ch, 1));
	EXPECT_EQ('x', ch);
	EXPECT_EQ(0, gf_close(a[1]));
	EXPECT_ERR(EBADF, gf_close(a[1]));
	gf_close(b[0]);
	gf_close(c[1]);
	gf_close(d[0]);
	gf_close(d[1]);
	return 0;
}

TEST(gf_close_evicts_waiters)
{
	GFT_RUN(gf_close_main, NULL);
}

/*
 * Readers parked on a fd while another fiber gf_closes it, round after
 * round: each ends (EBADF, or the one byte written before the close),
 * none stays parked, none reads the next round's socket (same number).
 * The chaos build widens the windows between eviction, deregistration
 * and close.
 */
static atomic_int got_byte;

static void racer_fn(void *arg)
{
	GFT_FIBER;
	struct reader *rd = arg;

	rd->r = gf_read(rd->fd, rd->buf, 1);
	rd->err = errno;
	if (rd->r == 1) {
		EXPECT_EQ('0' + 0, rd->buf[0]);
		atomic_fetch_add(&got_byte, 1);
	} else {
		EXPECT_EQ(-1, rd->r);
		EXPECT_EQ(EBADF, rd->err);
	}
	gf_waitgroup_done(rd->wg);
}

static int race_main(void *arg)
{
	GFT_FIBER;
	struct reader rds[4];
	int round, i, sp[2];

	(void)arg;
	/*
	 * The poller first: the first wait makes its two descriptors, and a
	 * racer that starts only after the close (a new gf_read on a closed
	 * number, as read(2) after close(2)) would otherwise find the number
	 * taken by them (seen: read(2) of the poller's eventfd, EINVAL).
	 */
	EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	EXPECT_ERR(EAGAIN, gf_wait_fd_until(sp[0], EPOLLIN, GF_NOWAIT));
	gf_close(sp[0]);
	gf_close(sp[1]);
	for (round = 0; round < 2000 / GFT_SCALE + 20; round++) {
		gf_waitgroup_t wg = GF_WAITGROUP_INIT;

		EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
		gf_waitgroup_add(&wg, 4);
		for (i = 0; i < 4; i++) {
			rds[i] = (struct reader){ .fd = sp[0], .wg = &wg };
			gf_go(racer_fn, &rds[i]);
		}
		if (round & 1)
			EXPECT_EQ(1, write(sp[1], "0", 1));
		for (i = 0; i < round % 4; i++)
			gf_yield();
		atomic_store(&got_byte, 0);
		EXPECT_EQ(0, gf_close(sp[0]));
		EXPECT_EQ(0, gf_waitgroup_wait_until(&wg,
							gf_timeout(10 * SEC)));
		EXPECT_LE(atomic_load(&got_byte), 1);
		close(sp[1]);
	}
	return 0;
}

TEST(gf_close_races_readers)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(race_main, NULL);
}

/*
 * gf_read/gf_write leave a blocking fd blocking (its flag is shared by
 * every fd of the open file), and still park instead of blocking the
 * thread: with one processor, the writer fiber runs while the reader
 * waits.
 */
static void write_later(void *arg)
{
	GFT_FIBER;
	int fd = *(int *)arg;

	gf_sleep(MS);
	EXPECT_EQ(2, gf_write(fd, "hi", 2));
}

/* Drains a fd into its own buffer (not on the fiber's stack). */
struct drain {
	int fd;
	char buf[1 << 16];
};

static void read_later(void *arg)
{
	struct drain *d = arg;

	gf_sleep(MS);
	while (gf_read(d->fd, d->buf, sizeof(d->buf)) == sizeof(d->buf))
		;
}

static int blocking_main(void *arg)
{
	GFT_FIBER;
	int p[2], sp[2];
	char b[4] = { 0 };
	static char big[1 << 17];
	static struct drain ds, dp;

	(void)arg;
	EXPECT_EQ(0, pipe(p));
	EXPECT_GT(gf_go(write_later, &p[1]), 0);
	EXPECT_EQ(2, gf_read(p[0], b, sizeof(b)));
	EXPECT_STREQ("hi", b);
	EXPECT_TRUE(fd_blocking(p[0]));
	EXPECT_TRUE(fd_blocking(p[1]));

	EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	EXPECT_GT(gf_go(write_later, &sp[1]), 0);
	EXPECT_EQ(2, gf_read(sp[0], b, sizeof(b)));
	EXPECT_TRUE(fd_blocking(sp[0]));
	EXPECT_TRUE(fd_blocking(sp[1]));

	/* writes that must wait for the reader */
	ds.fd = sp[0];
	EXPECT_GT(gf_go(read_later, &ds), 0);
	EXPECT_GT(gf_write(sp[1], big, sizeof(big)), 0);
	EXPECT_TRUE(fd_blocking(sp[1]));
	dp.fd = p[0];
	EXPECT_GT(gf_go(read_later, &dp), 0);
	EXPECT_EQ((ssize_t)sizeof(big), gf_write(p[1], big, sizeof(big)));
	EXPECT_TRUE(fd_blocking(p[1]));
	gf_close(sp[0]);
	gf_close(sp[1]);
	gf_close(p[0]);
	gf_close(p[1]);
	return 0;
}

TEST(blocking_mode_left_alone)
{
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(blocking_main, NULL);
}

/* Bad input: documented errnos, no hang. */
static int bad_main(void *arg)
{
	GFT_FIBER;
	int p[2], closed, file;
	char c = 0;

	(void)arg;
	EXPECT_EQ(0, pipe(p));
	/* a number nothing uses (the poller's fds take low ones) */
	closed = dup2(p[0], 900);
	EXPECT_EQ(900, closed);
	close(closed);
	EXPECT_ERR(EBADF, gf_wait_fd_until(-1, EPOLLIN, GF_NOWAIT));
	EXPECT_ERR(EBADF, gf_wait_fd(closed, EPOLLIN));
	EXPECT_ERR(EINVAL, gf_wait_fd(p[0], 0));
	EXPECT_ERR(EINVAL, gf_wait_fd(p[0], EPOLLIN | EPOLLET));
	EXPECT_ERR(EINVAL, gf_wait_fd(p[0], EPOLLPRI));
	EXPECT_ERR(EAGAIN, gf_wait_fd_until(p[0], EPOLLIN, GF_NOWAIT));
	/* any negative deadline but GF_FOREVER has passed */
	EXPECT_ERR(ETIMEDOUT, gf_wait_fd_until(p[0], EPOLLIN, (gf_deadline_t){ .ns = -2 }));
	EXPECT_ERR(ETIMEDOUT, gf_wait_fd_until(p[0], EPOLLIN, (gf_deadline_t){ .ns = INT64_MIN }));
	EXPECT_ERR(ETIMEDOUT, gf_wait_fd_until(p[0], EPOLLIN, gf_deadline_at(gf_now() - 1)));
	EXPECT_EQ(EPOLLOUT, gf_wait_fd_until(p[1], EPOLLOUT, (gf_deadline_t){ .ns = -2 }));
	EXPECT_ERR(EBADF, gf_read(-1, &c, 1));
	EXPECT_ERR(EBADF, gf_read(closed, &c, 1));
	EXPECT_ERR(EBADF, gf_write(-1, &c, 1));
	EXPECT_ERR(EBADF, gf_write(closed, &c, 1));
	EXPECT_ERR(EBADF, gf_read(1 << 30, &c, 1));	/* no huge table */
	EXPECT_ERR(EBADF, gf_wait_fd(INT32_MAX, EPOLLIN));
	EXPECT_ERR(EBADF, gf_close(-1));
	EXPECT_ERR(EBADF, gf_close(INT32_MAX));
	EXPECT_ERR(EBADF, gf_close(closed));
	/* a regular file: not pollable, always ready */
	file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	EXPECT_GE(file, 0);
	EXPECT_ERR(EPERM, gf_wait_fd(file, EPOLLIN));
	EXPECT_EQ(1, gf_read(file, &c, 1));
	EXPECT_EQ(0x7f, c);
	EXPECT_EQ(0, gf_close(file));
	gf_close(p[0]);
	gf_close(p[1]);
	return 0;
}

TEST(bad_input)
{
	GFT_RUN(bad_main, NULL);
}

/* Outside a fiber, a wait that would block fails with EPERM; a read of
 * a ready fd works. */
TEST(outside_a_fiber)
{
	int p[2];
	char c;

	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(-1, gf_read(p[0], &c, 1));
	ASSERT_EQ(EPERM, errno);
	ASSERT_TRUE(fd_blocking(p[0]));
	ASSERT_EQ(-1, gf_wait_fd(p[0], EPOLLIN));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(1, gf_write(p[1], "z", 1));
	ASSERT_EQ(1, gf_read(p[0], &c, 1));
	ASSERT_EQ('z', c);
	ASSERT_EQ(0, gf_close(p[0]));
	ASSERT_EQ(0, gf_close(p[1]));
}

TEST_HARNESS_MAIN
