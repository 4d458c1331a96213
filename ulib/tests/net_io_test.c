// SPDX-License-Identifier: GPL-2.0
/*
 * net_io_test.c - reads and writes of the network calls (gf_net_*):
 * deadlines per call and per descriptor (set while a fiber waits),
 * closing a socket that fibers wait on, writes to a reset peer without
 * SIGPIPE, and the fast path's syscalls (no epoll_ctl, no fcntl).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "nettest.h"

/*
 * Every epoll_ctl(2) and fcntl(2) of the program, counted: the library
 * (linked statically) calls these definitions instead of libc's.
 */
static atomic_long n_epoll_ctl, n_fcntl;

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	atomic_fetch_add(&n_epoll_ctl, 1);
	return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	atomic_fetch_add(&n_fcntl, 1);
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

/* ------------------------------------------------------------ deadlines */

static int deadline_main(void *arg)
{
	GFT_FIBER;
	static char big[4 << 20];
	char buf[16];
	ssize_t r;
	int c, s;

	(void)arg;
	EXPECT_EQ(0, tcp_pair("127.0.0.1:0", &c, &s));
	/* a slow peer: nothing to read */
	EXPECT_ERR(EAGAIN, gf_net_read_until(c, buf, sizeof(buf), GF_NOWAIT));
	EXPECT_ERR(ETIMEDOUT, gf_net_read_until(c, buf, sizeof(buf),
						gf_timeout(20 * MS)));
	EXPECT_ERR(ETIMEDOUT, gf_net_read_until(c, buf, sizeof(buf), gf_deadline_at(-5)));
	/* data there: a passed deadline does not matter */
	EXPECT_EQ(2, gf_net_write(s, "ok", 2));
	while ((r = gf_net_read_until(c, buf, sizeof(buf), GF_NOWAIT)) < 0 &&
	       errno == EAGAIN)
		gf_yield();
	EXPECT_EQ(2, r);
	/* a peer that does not read: a partial write says how much went */
	small_buffers(c);
	small_buffers(s);
	errno = 0;
	r = gf_net_write_until(c, big, sizeof(big), gf_timeout(50 * MS));
	EXPECT_LT(0, r);
	EXPECT_GT((ssize_t)sizeof(big), r);
	EXPECT_EQ(ETIMEDOUT, errno);
	/* nothing more fits: nothing written */
	EXPECT_ERR(ETIMEDOUT, gf_net_write_until(c, big, sizeof(big),
						 gf_timeout(MS)));
	EXPECT_ERR(EAGAIN, gf_net_write_until(c, big, 1, GF_NOWAIT));
	/*
	 * Per descriptor: a passed one fails a call that would wait at
	 * once, not one that can complete (s has data); GF_FOREVER clears.
	 */
	EXPECT_EQ(0, gf_net_set_deadline(c, gf_deadline_at(1), gf_deadline_at(1)));
	EXPECT_ERR(ETIMEDOUT, gf_net_read(c, buf, 1));
	EXPECT_ERR(ETIMEDOUT, gf_net_write(c, "x", 1));
	EXPECT_EQ(0, gf_net_set_deadline(s, gf_deadline_at(1), gf_deadline_at(1)));
	EXPECT_EQ(1, gf_net_read(s, buf, 1));
	EXPECT_EQ(0, gf_net_set_deadline(s, GF_FOREVER, GF_FOREVER));
	EXPECT_EQ(0, gf_net_set_deadline(c, GF_FOREVER, GF_FOREVER));
	/* the earlier of the call's and the descriptor's */
	EXPECT_EQ(0, gf_net_set_deadline(c, gf_timeout(20 * MS), GF_FOREVER));
	EXPECT_ERR(ETIMEDOUT, gf_net_read_until(c, buf, 1, GF_FOREVER));
	EXPECT_EQ(0, gf_net_set_deadline(c, GF_FOREVER, GF_FOREVER));
	EXPECT_ERR(ETIMEDOUT, gf_net_read_until(c, buf, 1, gf_timeout(MS)));
	gf_net_close(c);
	gf_net_close(s);
	return 0;
}

TEST(deadlines)
{
	GFT_RUN(deadline_main, NULL);
}

/*
 * A deadline set while a fiber waits applies to that wait (Go's
 * SetReadDeadline): a read and a write waiting without limit time out;
 * a deadline moved later lets the wait go on to its data.
 */
static int set_while_waiting_main(void *arg)
{
	GFT_FIBER;
	gf_waitgroup_t wg = GF_WAITGROUP_INIT;
	struct waiter rd = { .wg = &wg }, wr = { .out = true, .wg = &wg };
	int64_t short_dl;
	bool parked = false;
	int c, s;

	(void)arg;
	EXPECT_EQ(0, tcp_pair("127.0.0.1:0", &c, &s));
	small_buffers(c);
	small_buffers(s);
	/* both on c: one reads (s sends nothing), one fills c -> s */
	rd.fd = c;
	wr.fd = c;
	gf_waitgroup_add(&wg, 2);
	until_io_waiting(gf_go(waiter_fn, &rd));
	until_io_waiting(gf_go(waiter_fn, &wr));
	EXPECT_EQ(0, gf_net_set_deadline(c, gf_timeout(10 * MS),
					 gf_timeout(10 * MS)));
	EXPECT_EQ(0, gf_waitgroup_wait_until(&wg, gf_timeout(10 * SEC)));
	EXPECT_EQ(-1, rd.r);
	EXPECT_EQ(ETIMEDOUT, rd.err);
	EXPECT_LT(0, wr.r);	/* part of it went out */
	EXPECT_GT((ssize_t)sizeof(waiter_buf), wr.r);
	EXPECT_EQ(ETIMEDOUT, wr.err);

	/*
	 * A short deadline moved out of the way while the reader waits:
	 * the read waits on past it, and gets its data. (A reader too slow
	 * to park before the deadline proves nothing: again, longer.)
	 */
	for (short_dl = 100 * MS; short_dl < 30 * SEC; short_dl *= 2) {
		gf_deadline_t dl = gf_timeout(short_dl);

		EXPECT_EQ(0, gf_net_set_deadline(c, dl, GF_FOREVER));
		gf_waitgroup_add(&wg, 1);
		parked = io_waiting_or_gone(gf_go(waiter_fn, &rd));
		EXPECT_EQ(0, gf_net_set_deadline(c, GF_FOREVER, GF_FOREVER));
		if (parked) {
			gf_sleep_until(gf_deadline_at(dl.ns + 50 * MS));
			EXPECT_EQ(1, gf_net_write(s, "z", 1));
		}
		EXPECT_EQ(0, gf_waitgroup_wait_until(&wg,
							gf_timeout(10 * SEC)));
		if (parked)
			break;
	}
	EXPECT_TRUE(parked);
	EXPECT_EQ(1, rd.r);
	gf_net_close(s);
	gf_net_close(c);
	return 0;
}

TEST(set_deadline_while_waiting)
{
	GFT_RUN(set_while_waiting_main, NULL);
}

/* ------------------------------------------------------------ close */

/*
 * gf_net_close wakes every fiber waiting on the socket - in accept, in
 * read, in write - with EBADF, before the number can be reused: the
 * next socket at the number (dialed at once) is nobody's but its own.
 */
static int close_main(void *arg)
{
	GFT_FIBER;
	gf_waitgroup_t wg = GF_WAITGROUP_INIT;
	struct waiter acc = { .wg = &wg }, rd = { .wg = &wg },
		      wr = { .out = true, .wg = &wg };
	int lfd, c, s, c2, s2, lfd2;
	char buf[8] = "";

	(void)arg;
	lfd = gf_net_listen("127.0.0.1:0", 0);
	EXPECT_LE(0, lfd);
	EXPECT_EQ(0, tcp_pair("127.0.0.1:0", &c, &s));
	small_buffers(c);
	small_buffers(s);
	/* both on c: one reads (s sends nothing), one fills c -> s */
	acc.fd = lfd;
	rd.fd = c;
	wr.fd = c;
	gf_waitgroup_add(&wg, 3);
	until_io_waiting(gf_go(acceptor_fn, &acc));
	until_io_waiting(gf_go(waiter_fn, &rd));
	until_io_waiting(gf_go(waiter_fn, &wr));
	EXPECT_EQ(0, gf_net_close(lfd));
	EXPECT_EQ(0, gf_net_close(c));
	EXPECT_EQ(0, gf_net_close(s));
	/* the numbers are free: new sockets take them, lowest first */
	lfd2 = gf_net_listen("127.0.0.1:0", 0);
	EXPECT_EQ(0, tcp_pair("127.0.0.1:0", &c2, &s2));
	EXPECT_EQ(lfd, lfd2);
	EXPECT_EQ(0, gf_waitgroup_wait_until(&wg, gf_timeout(10 * SEC)));
	EXPECT_EQ(-1, acc.r);
	EXPECT_EQ(EBADF, acc.err);
	EXPECT_EQ(-1, rd.r);
	EXPECT_EQ(EBADF, rd.err);
	EXPECT_LT(0, wr.r);	/* part went out before the close */
	EXPECT_EQ(EBADF, wr.err);
	/* the new sockets work, their waits are their own */
	EXPECT_EQ(2, gf_net_write(s2, "hi", 2));
	EXPECT_EQ(0, read_full(c2, buf, 2));
	EXPECT_STREQ("hi", buf);
	gf_net_close(lfd2);
	gf_net_close(c2);
	gf_net_close(s2);
	return 0;
}

TEST(close_wakes_waiters)
{
	GFT_RUN(close_main, NULL);
}

/*
 * A reader parked (its park maybe still completing: the chaos build
 * delays the points in between) when the socket is closed and the
 * number taken at once by a new connection's sockets. The reader must
 * fail with EBADF, never read the new connection's data, which goes to
 * the new reader. (A read begun after the close is the caller's use
 * after close, as read(2)'s: not tested.)
 */
static int close_race_main(void *arg)
{
	GFT_FIBER;
	int round, rounds = 300 / GFT_SCALE + 20;

	(void)arg;
	for (round = 0; round < rounds; round++) {
		gf_waitgroup_t wg = GF_WAITGROUP_INIT;
		struct waiter a = { .wg = &wg }, b = { .wg = &wg };
		int c, s, c2, s2;

		if (tcp_pair("127.0.0.1:0", &c, &s)) {
			EXPECT_TRUE(false);
			break;
		}
		a.fd = c;
		gf_waitgroup_add(&wg, 2);
		until_io_waiting(gf_go(waiter_fn, &a));
		gf_net_close(c);
		EXPECT_EQ(0, tcp_pair("127.0.0.1:0", &c2, &s2));
		b.fd = c2;
		gf_go(waiter_fn, &b);
		EXPECT_EQ(7, gf_net_write(s2, "B-data", 7));
		EXPECT_EQ(0, gf_waitgroup_wait_until(&wg,
							gf_timeout(10 * SEC)));
		EXPECT_EQ(-1, a.r);
		EXPECT_EQ(EBADF, a.err);
		EXPECT_EQ(7, b.r);
		gf_net_close(s);
		gf_net_close(c2);
		gf_net_close(s2);
		if (_metadata->passed == 0)
			break;
	}
	return 0;
}

TEST(close_race_no_crosstalk)
{
	setenv("GF_PROCS", "4", 1);
	GFT_RUN(close_race_main, NULL);
}

/* A reader of plain gf_read (a user's descriptor), for forget_main. */
static void plain_reader_fn(void *arg)
{
	struct waiter *w = arg;

	w->r = gf_read(w->fd, waiter_buf, 16);
	w->err = errno;
	gf_waitgroup_done(w->wg);
}

/*
 * What the poller knew of a closed socket is forgotten with it: the
 * next file at its number has no deadline of the old one's, and a
 * descriptor of the user's there is registered at its wait (the old
 * socket's registration for life died with it). A socket the runtime
 * makes forgets what the number knew, however the old file was closed.
 */
static int forget_main(void *arg)
{
	GFT_FIBER;
	gf_waitgroup_t wg = GF_WAITGROUP_INIT;
	struct waiter w = { .wg = &wg };
	int c, s, c2, s2, sp[2], num;

	(void)arg;
	EXPECT_EQ(0, tcp_pair("127.0.0.1:0", &c, &s));
	num = c;
	EXPECT_EQ(0, gf_net_set_deadline(c, gf_deadline_at(1), gf_deadline_at(1)));	/* long passed */
	gf_net_close(c);
	gf_net_close(s);
	/* the lowest numbers: the pair's listener, then the dialed one */
	EXPECT_EQ(0, tcp_pair("127.0.0.1:0", &c2, &s2));
	EXPECT_TRUE(c2 == num || s2 == num);
	w.fd = c2 == num ? c2 : s2;
	gf_waitgroup_add(&wg, 1);
	EXPECT_TRUE(io_waiting_or_gone(gf_go(waiter_fn, &w)));
	EXPECT_EQ(1, gf_net_write(w.fd == c2 ? s2 : c2, "a", 1));
	EXPECT_EQ(0, gf_waitgroup_wait_until(&wg, gf_timeout(10 * SEC)));
	EXPECT_EQ(1, w.r);
	gf_net_close(c2);
	gf_net_close(s2);

	EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	EXPECT_TRUE(sp[0] == num || sp[1] == num);
	w.fd = sp[0] == num ? sp[0] : sp[1];
	gf_waitgroup_add(&wg, 1);
	EXPECT_TRUE(io_waiting_or_gone(gf_go(plain_reader_fn, &w)));
	EXPECT_EQ(1, write(w.fd == sp[0] ? sp[1] : sp[0], "b", 1));
	EXPECT_EQ(0, gf_waitgroup_wait_until(&wg, gf_timeout(10 * SEC)));
	EXPECT_EQ(1, w.r);
	gf_close(sp[0]);
	gf_close(sp[1]);

	/*
	 * A deadline on a user's descriptor never waited on, closed with
	 * close(2): a socket the runtime makes at the number is new.
	 */
	EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	EXPECT_EQ(0, gf_net_set_deadline(sp[1], gf_deadline_at(1), gf_deadline_at(1)));
	close(sp[0]);
	close(sp[1]);
	/* listener at sp[0]'s number, the dialed socket at sp[1]'s */
	EXPECT_EQ(0, tcp_pair("127.0.0.1:0", &c2, &s2));
	EXPECT_EQ(sp[1], c2);
	w.fd = c2;
	gf_waitgroup_add(&wg, 1);
	EXPECT_TRUE(io_waiting_or_gone(gf_go(waiter_fn, &w)));
	EXPECT_EQ(1, gf_net_write(s2, "c", 1));
	EXPECT_EQ(0, gf_waitgroup_wait_until(&wg, gf_timeout(10 * SEC)));
	EXPECT_EQ(1, w.r);
	gf_net_close(c2);
	gf_net_close(s2);
	return 0;
}

TEST(close_forgets_the_socket)
{
	GFT_RUN(forget_main, NULL);
}

/* ------------------------------------------------------------ SIGPIPE */

static atomic_int sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	atomic_fetch_add(&sigpipes, 1);
}

/* Close with a reset (RST), not a FIN. */
static void close_reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	gf_net_close(fd);
}

static int sigpipe_main(void *arg)
{
	GFT_FIBER;
	static char buf[1 << 16];
	ssize_t r = 0;
	int c, s, i;

	(void)arg;
	EXPECT_EQ(0, tcp_pair("127.0.0.1:0", &c, &s));
	close_reset(s);
	/* the first write may still be taken; later ones fail */
	for (i = 0; i < 100 && r >= 0; i++)
		r = gf_net_write(c, buf, sizeof(buf));
	EXPECT_EQ(-1, r);
	EXPECT_TRUE(errno == EPIPE || errno == ECONNRESET) {
		TH_LOG("errno %d (%s)", errno, strerror(errno));
	}
	EXPECT_ERR(EPIPE, gf_net_write(c, buf, 1));
	gf_net_close(c);
	return 0;
}

TEST(write_to_reset_peer_no_sigpipe)
{
	struct sigaction sa = { .sa_handler = on_sigpipe };

	ASSERT_EQ(0, sigaction(SIGPIPE, &sa, NULL));
	GFT_RUN(sigpipe_main, NULL);
	ASSERT_EQ(0, atomic_load(&sigpipes));
}

/* ------------------------------------------------------------ syscalls */

/*
 * The fast path: once a connection is up, a read or write that waits
 * costs its recv/send and the park - no epoll_ctl (the socket is
 * registered once, for its life), no fcntl - and a deadline set per
 * request no syscall. Two fibers ping-pong, each read parking.
 * gf_read/gf_write on such a socket take the same path. Before, every
 * wait re-added the fd (EPOLL_CTL_ADD, EEXIST).
 */
struct pinger {
	int fd, n;
	bool plain;		/* gf_read/gf_write instead */
	gf_waitgroup_t *wg;
};

static void pong_fn(void *arg)
{
	struct pinger *p = arg;
	char b;
	int i;

	for (i = 0; i < p->n; i++) {
		if (p->plain ? gf_read(p->fd, &b, 1) != 1
			     : gf_net_read(p->fd, &b, 1) != 1)
			break;
		if (p->plain ? gf_write(p->fd, &b, 1) != 1
			     : gf_net_write(p->fd, &b, 1) != 1)
			break;
	}
	gf_waitgroup_done(p->wg);
}

static int syscalls_main(void *arg)
{
	GFT_FIBER;
	int mode = (int)(intptr_t)arg;
	bool plain = mode == 1;
	gf_waitgroup_t wg = GF_WAITGROUP_INIT;
	struct pinger p = { .n = 200, .plain = plain, .wg = &wg };
	long ctl, fc;
	int c, s, i, sp[2];
	char b = 'x';

	if (mode == 2) {
		/* sockets of the user's, registered at their first wait */
		EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
		c = sp[0];
		s = sp[1];
		/* a wait that fails registers them as any (the one ADD) */
		EXPECT_ERR(EAGAIN, gf_net_read_until(c, &b, 1, GF_NOWAIT));
		EXPECT_ERR(EAGAIN, gf_net_read_until(s, &b, 1, GF_NOWAIT));
	} else {
		EXPECT_EQ(0, tcp_pair("127.0.0.1:0", &c, &s));
	}
	p.fd = s;
	gf_waitgroup_add(&wg, 1);
	/* one round first: every lazy setup done */
	gf_go(pong_fn, &p);
	EXPECT_EQ(1, gf_net_write(c, &b, 1));
	EXPECT_EQ(1, gf_net_read(c, &b, 1));
	ctl = atomic_load(&n_epoll_ctl);
	fc = atomic_load(&n_fcntl);
	for (i = 1; i < p.n; i++) {
		/* a server's per-request deadline costs nothing either */
		EXPECT_EQ(0, gf_net_set_deadline(c, gf_timeout(10 * SEC),
						 GF_FOREVER));
		if (plain ? gf_write(c, &b, 1) != 1 || gf_read(c, &b, 1) != 1
			  : gf_net_write(c, &b, 1) != 1 ||
			    gf_net_read(c, &b, 1) != 1) {
			EXPECT_TRUE(false);
			break;
		}
	}
	EXPECT_EQ(0, atomic_load(&n_epoll_ctl) - ctl);
	EXPECT_EQ(0, atomic_load(&n_fcntl) - fc);
	EXPECT_EQ(0, gf_waitgroup_wait_until(&wg, gf_timeout(10 * SEC)));
	gf_net_close(c);
	gf_net_close(s);
	return 0;
}

TEST(fast_path_no_epoll_ctl_no_fcntl)
{
	GFT_RUN(syscalls_main, NULL);
}

TEST(fast_path_plain_read_write)
{
	GFT_RUN(syscalls_main, (void *)1);
}

TEST(fast_path_users_socket)
{
	GFT_RUN(syscalls_main, (void *)2);
}

TEST_HARNESS_MAIN
