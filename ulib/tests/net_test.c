// SPDX-License-Identifier: GPL-2.0
/*
 * net_test.c - the network calls (gf_net_*), on loopback: listen, accept
 * and dial over IPv4 and IPv6, addresses, deadlines (per call and per
 * descriptor, set while a fiber waits), closing a socket that fibers
 * wait on, writes to a reset peer without SIGPIPE, users' descriptors
 * left in their blocking mode, many connections each echoed to its own
 * peer, and the fast path's syscalls (no epoll_ctl, no fcntl).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "gftest.h"

#define MS	1000000LL
#define SEC	(1000 * MS)

/* Fails with errno e. */
#define EXPECT_ERR(e, call)						\
	do {								\
		errno = 0;						\
		EXPECT_EQ(-1, (call));					\
		EXPECT_EQ((e), errno);					\
	} while (0)

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

static bool fd_blocking(int fd)
{
	return !(fcntl(fd, F_GETFL) & O_NONBLOCK);
}

/* IPv6 loopback usable here (a container may have none). */
static bool have_ipv6(void)
{
	struct sockaddr_in6 s6 = {
		.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT,
	};
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	bool ok = fd >= 0 && !bind(fd, (struct sockaddr *)&s6, sizeof(s6));

	if (fd >= 0)
		close(fd);
	return ok;
}

/* Let fiber id reach its IO wait (no timing assumed). */
static void until_io_waiting(int64_t id)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "fiber %lld [IO wait", (long long)id);
	while (!strstr(gft_dump(), pat))
		gf_sleep(100000);
}

/* "127.0.0.1:port" of listener lfd, with prefix host. */
static const char *addr_of(const char *host, int lfd)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%s:%d", host, gf_net_port(lfd));
	return buf;
}

/* A connected pair over loopback: *c dialed, *s accepted. 0 or -1. */
static int tcp_pair(const char *host, int *c, int *s)
{
	char hp[64];
	int lfd = gf_net_listen(host, 1);

	if (lfd < 0)
		return -1;
	snprintf(hp, sizeof(hp), "%.*s:%d", (int)(strrchr(host, ':') - host),
		 host, gf_net_port(lfd));
	*c = gf_net_dial(hp);
	*s = *c < 0 ? -1 : gf_net_accept(lfd, NULL, NULL);
	gf_net_close(lfd);
	return *c < 0 || *s < 0 ? -1 : 0;
}

/* Read exactly n bytes: 0, or -1 (EOF or an error). */
static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = gf_net_read(fd, (char *)buf + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* ------------------------------------------------ listen, accept, dial */

struct roundtrip {
	const char *listen;	/* gf_net_listen's address */
	const char *dial;	/* host of the dial, port appended */
	int family;		/* the peer's, seen by accept */
};

static int roundtrip_main(void *arg)
{
	GFT_FIBER;
	struct roundtrip *rt = arg;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char buf[8] = "";
	int lfd, c, s;

	lfd = gf_net_listen(rt->listen, 0);
	EXPECT_LE(0, lfd);
	if (lfd < 0)
		return 0;
	EXPECT_LT(0, gf_net_port(lfd));
	/* made by the runtime: non-blocking, close-on-exec */
	EXPECT_FALSE(fd_blocking(lfd));
	EXPECT_EQ(FD_CLOEXEC, fcntl(lfd, F_GETFD) & FD_CLOEXEC);
	c = gf_net_dial(addr_of(rt->dial, lfd));
	EXPECT_LE(0, c);
	s = gf_net_accept(lfd, (struct sockaddr *)&ss, &sslen);
	EXPECT_LE(0, s);
	if (rt->family)
		EXPECT_EQ(rt->family, ss.ss_family);
	EXPECT_FALSE(fd_blocking(s));
	EXPECT_FALSE(fd_blocking(c));
	EXPECT_EQ(FD_CLOEXEC, fcntl(s, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(FD_CLOEXEC, fcntl(c, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(5, gf_net_write(c, "hello", 5));
	EXPECT_EQ(0, read_full(s, buf, 5));
	EXPECT_STREQ("hello", buf);
	EXPECT_EQ(3, gf_net_write(s, "bye", 3));
	EXPECT_EQ(0, read_full(c, buf, 3));
	EXPECT_EQ(0, memcmp(buf, "bye", 3));
	/* the end of the stream */
	EXPECT_EQ(0, gf_net_close(s));
	EXPECT_EQ(0, gf_net_read(c, buf, sizeof(buf)));
	EXPECT_EQ(0, gf_net_close(c));
	EXPECT_EQ(0, gf_net_close(lfd));
	return 0;
}

TEST(ipv4)
{
	struct roundtrip rt = { "127.0.0.1:0", "127.0.0.1", AF_INET };

	GFT_RUN(roundtrip_main, &rt);
}

/* a name: looked up; the first of its addresses that binds, any family */
TEST(localhost)
{
	struct roundtrip rt = { "localhost:0", "localhost", 0 };

	GFT_RUN(roundtrip_main, &rt);
}

TEST(ipv6)
{
	struct roundtrip rt = { "[::1]:0", "[::1]", AF_INET6 };

	if (!have_ipv6())
		SKIP(return, "no IPv6 loopback here");
	GFT_RUN(roundtrip_main, &rt);
}

/* ":port" listens on every interface, IPv6 and IPv4 on one socket. */
TEST(all_interfaces_dual_stack)
{
	struct roundtrip rt4 = { ":0", "127.0.0.1", AF_INET6 };
	struct roundtrip rt6 = { ":0", "[::1]", AF_INET6 };

	if (!have_ipv6()) {
		/* an IPv4 socket then */
		rt4.family = AF_INET;
		GFT_RUN(roundtrip_main, &rt4);
		SKIP(return, "no IPv6 loopback here: IPv4 only");
	}
	/* an IPv4 peer of a dual-stack socket is a v4-mapped IPv6 one */
	GFT_RUN(roundtrip_main, &rt4);
	GFT_RUN(roundtrip_main, &rt6);
}

static int bad_main(void *arg)
{
	GFT_FIBER;
	static const char *const bad[] = {
		"", ":", "host", "[::1", "[::1]", "[::1]80", "::1:80",
		"[]:80", "[127.0.0.1]:80", "h:", "h:http", "h:65536",
		"h:-1", "h:123456", "h: 80", "h:80 ",
	};
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int p[2], lfd;
	size_t i;

	(void)arg;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		EXPECT_EQ(-1, gf_net_listen(bad[i], 0)) {
			TH_LOG("listen \"%s\"", bad[i]);
		}
		EXPECT_EQ(EINVAL, errno);
		errno = 0;
		EXPECT_EQ(-1, gf_net_dial(bad[i])) {
			TH_LOG("dial \"%s\"", bad[i]);
		}
		EXPECT_EQ(EINVAL, errno);
	}
	EXPECT_ERR(EINVAL, gf_net_listen(NULL, 0));
	EXPECT_ERR(EINVAL, gf_net_dial(NULL));
	EXPECT_ERR(EBADF, gf_net_read(-1, p, 1));
	EXPECT_ERR(EBADF, gf_net_write(-1, "x", 1));
	EXPECT_ERR(EBADF, gf_net_accept(-1, NULL, NULL));
	EXPECT_ERR(EBADF, gf_net_set_deadline(-1, 0, 0));
	EXPECT_ERR(EBADF, gf_net_port(-1));
	EXPECT_EQ(0, pipe(p));
	EXPECT_ERR(ENOTSOCK, gf_net_read(p[0], &i, 1));
	EXPECT_ERR(ENOTSOCK, gf_net_write(p[1], "x", 1));
	EXPECT_ERR(ENOTSOCK, gf_net_accept(p[0], NULL, NULL));
	EXPECT_ERR(ENOTSOCK, gf_net_port(p[0]));
	close(p[0]);
	close(p[1]);
	lfd = gf_net_listen("127.0.0.1:0", 0);
	EXPECT_LE(0, lfd);
	EXPECT_ERR(EINVAL, gf_net_accept(lfd, (struct sockaddr *)&sa, NULL));
	EXPECT_ERR(EINVAL, gf_net_accept(lfd, NULL, &len));
	/* nobody dialed */
	EXPECT_ERR(EAGAIN, gf_net_accept_until(lfd, NULL, NULL, GF_NOWAIT));
	EXPECT_ERR(ETIMEDOUT, gf_net_accept_until(lfd, NULL, NULL,
						  gf_now() + MS));
	/* the port is taken (SO_REUSEADDR does not share a listener) */
	EXPECT_ERR(EADDRINUSE, gf_net_listen(addr_of("127.0.0.1", lfd), 0));
	gf_net_close(lfd);
	return 0;
}

TEST(bad_input)
{
	GFT_RUN(bad_main, NULL);
}

static int outside_main(void *arg)
{
	(void)arg;
	return 0;
}

/* Outside a fiber, a call that would wait fails with EPERM. */
TEST(outside_a_fiber)
{
	int lfd, sp[2];

	GFT_RUN(outside_main, NULL);
	lfd = gf_net_listen("127.0.0.1:0", 0);
	ASSERT_LE(0, lfd);
	errno = 0;
	ASSERT_EQ(-1, gf_net_accept(lfd, NULL, NULL));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	errno = 0;
	ASSERT_EQ(-1, gf_net_read(sp[0], &lfd, 1));
	ASSERT_EQ(EPERM, errno);
	/* one that need not wait works */
	ASSERT_EQ(1, gf_net_write(sp[1], "x", 1));
	ASSERT_EQ(1, gf_net_read(sp[0], &lfd, 1));
	gf_net_close(sp[0]);
	gf_net_close(sp[1]);
	gf_net_close(lfd);
}

/* SO_REUSEADDR: a port with a connection in TIME_WAIT binds again. */
static int reuse_main(void *arg)
{
	GFT_FIBER;
	char hp[64];
	int lfd, c, s;

	(void)arg;
	lfd = gf_net_listen("127.0.0.1:0", 0);
	EXPECT_LE(0, lfd);
	snprintf(hp, sizeof(hp), "%s", addr_of("127.0.0.1", lfd));
	c = gf_net_dial(hp);
	s = gf_net_accept(lfd, NULL, NULL);
	EXPECT_LE(0, c);
	EXPECT_LE(0, s);
	/* the server closes first: its side goes to TIME_WAIT */
	gf_net_close(s);
	EXPECT_EQ(0, gf_net_read(c, hp + 60, 1));
	gf_net_close(c);
	gf_net_close(lfd);
	lfd = gf_net_listen(hp, 0);
	EXPECT_LE(0, lfd);
	gf_net_close(lfd);
	return 0;
}

TEST(reuseaddr)
{
	GFT_RUN(reuse_main, NULL);
}

/* ------------------------------------------------------------ dial */

static int refused_main(void *arg)
{
	GFT_FIBER;
	char hp[64];
	int lfd;

	(void)arg;
	lfd = gf_net_listen("127.0.0.1:0", 0);
	EXPECT_LE(0, lfd);
	snprintf(hp, sizeof(hp), "%s", addr_of("127.0.0.1", lfd));
	gf_net_close(lfd);
	EXPECT_ERR(ECONNREFUSED, gf_net_dial(hp));
	EXPECT_ERR(ECONNREFUSED, gf_net_dial_until(hp, gf_now() + 10 * SEC));
	return 0;
}

TEST(dial_refused)
{
	GFT_RUN(refused_main, NULL);
}

/*
 * A listener that never accepts, backlog 1: once its queue is full the
 * kernel drops further SYNs, and a dial waits for a SYN-ACK that does
 * not come, until its deadline.
 */
static int dial_deadline_main(void *arg)
{
	GFT_FIBER;
	int fds[64], n = 0, i, err = 0;
	char hp[64];
	int lfd;

	(void)arg;
	lfd = gf_net_listen("127.0.0.1:0", 1);
	EXPECT_LE(0, lfd);
	snprintf(hp, sizeof(hp), "%s", addr_of("127.0.0.1", lfd));
	while (n < 64) {
		errno = 0;
		fds[n] = gf_net_dial_until(hp, gf_now() + 200 * MS);
		if (fds[n] < 0) {
			err = errno;
			break;
		}
		n++;
	}
	EXPECT_EQ(ETIMEDOUT, err);
	EXPECT_LT(n, 64);
	for (i = 0; i < n; i++)
		gf_net_close(fds[i]);
	gf_net_close(lfd);
	return 0;
}

TEST(dial_deadline)
{
	GFT_RUN(dial_deadline_main, NULL);
}

/* ------------------------------------------------------------ deadlines */

/* Small socket buffers: a peer that does not read fills them soon. */
static void small_buffers(int fd)
{
	int sz = 4096;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

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
						gf_now() + 20 * MS));
	EXPECT_ERR(ETIMEDOUT, gf_net_read_until(c, buf, sizeof(buf), -5));
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
	r = gf_net_write_until(c, big, sizeof(big), gf_now() + 50 * MS);
	EXPECT_LT(0, r);
	EXPECT_GT((ssize_t)sizeof(big), r);
	EXPECT_EQ(ETIMEDOUT, errno);
	/* nothing more fits: nothing written */
	EXPECT_ERR(ETIMEDOUT, gf_net_write_until(c, big, sizeof(big),
						 gf_now() + MS));
	EXPECT_ERR(EAGAIN, gf_net_write_until(c, big, 1, GF_NOWAIT));
	/*
	 * Per descriptor: a passed one fails a call that would wait at
	 * once, not one that can complete (s has data); GF_FOREVER clears.
	 */
	EXPECT_EQ(0, gf_net_set_deadline(c, 1, 1));
	EXPECT_ERR(ETIMEDOUT, gf_net_read(c, buf, 1));
	EXPECT_ERR(ETIMEDOUT, gf_net_write(c, "x", 1));
	EXPECT_EQ(0, gf_net_set_deadline(s, 1, 1));
	EXPECT_EQ(1, gf_net_read(s, buf, 1));
	EXPECT_EQ(0, gf_net_set_deadline(s, GF_FOREVER, GF_FOREVER));
	EXPECT_EQ(0, gf_net_set_deadline(c, GF_FOREVER, GF_FOREVER));
	/* the earlier of the call's and the descriptor's */
	EXPECT_EQ(0, gf_net_set_deadline(c, gf_now() + 20 * MS, GF_FOREVER));
	EXPECT_ERR(ETIMEDOUT, gf_net_read_until(c, buf, 1, GF_FOREVER));
	EXPECT_EQ(0, gf_net_set_deadline(c, GF_FOREVER, GF_FOREVER));
	EXPECT_ERR(ETIMEDOUT, gf_net_read_until(c, buf, 1, gf_now() + MS));
	gf_net_close(c);
	gf_net_close(s);
	return 0;
}

TEST(deadlines)
{
	GFT_RUN(deadline_main, NULL);
}

struct waiter {
	int fd;
	bool out;		/* write (a full buffer) or read */
	ssize_t r;
	int err;
	gf_waitgroup_t *wg;
};

static char waiter_buf[1 << 20];

/* Blocks in gf_net_read, gf_net_write (a full buffer) or accept. */
static void waiter_fn(void *arg)
{
	struct waiter *w = arg;

	if (w->out)
		w->r = gf_net_write(w->fd, waiter_buf, sizeof(waiter_buf));
	else
		w->r = gf_net_read(w->fd, waiter_buf, 16);
	w->err = errno;
	gf_waitgroup_done(w->wg);
}

static void acceptor_fn(void *arg)
{
	struct waiter *w = arg;

	w->r = gf_net_accept(w->fd, NULL, NULL);
	w->err = errno;
	gf_waitgroup_done(w->wg);
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
	EXPECT_EQ(0, gf_net_set_deadline(c, gf_now() + 10 * MS,
					 gf_now() + 10 * MS));
	EXPECT_EQ(0, gf_waitgroup_wait_deadline(&wg, gf_now() + 10 * SEC));
	EXPECT_EQ(-1, rd.r);
	EXPECT_EQ(ETIMEDOUT, rd.err);
	EXPECT_LT(0, wr.r);	/* part of it went out */
	EXPECT_GT((ssize_t)sizeof(waiter_buf), wr.r);
	EXPECT_EQ(ETIMEDOUT, wr.err);

	/*
	 * A short deadline moved out of the way while the reader waits:
	 * the read waits on, and gets its data.
	 */
	EXPECT_EQ(0, gf_net_set_deadline(c, gf_now() + 50 * MS, GF_FOREVER));
	gf_waitgroup_add(&wg, 1);
	until_io_waiting(gf_go(waiter_fn, &rd));
	EXPECT_EQ(0, gf_net_set_deadline(c, GF_FOREVER, GF_FOREVER));
	gf_sleep(100 * MS);
	EXPECT_EQ(1, gf_net_write(s, "z", 1));
	EXPECT_EQ(0, gf_waitgroup_wait_deadline(&wg, gf_now() + 10 * SEC));
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
	EXPECT_EQ(0, gf_waitgroup_wait_deadline(&wg, gf_now() + 10 * SEC));
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
		EXPECT_EQ(0, gf_waitgroup_wait_deadline(&wg,
							gf_now() + 10 * SEC));
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

/* ------------------------------------------------------------ user fds */

/*
 * A socket of the user's keeps its blocking mode: a blocking
 * socketpair read and written through gf_net_*, a blocking listener
 * accepted from (poll first, then accept as a syscall).
 */
static int user_fd_main(void *arg)
{
	GFT_FIBER;
	struct sockaddr_in sa = {
		.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001),
	};
	socklen_t len = sizeof(sa);
	gf_waitgroup_t wg = GF_WAITGROUP_INIT;
	struct waiter rd = { .wg = &wg }, acc = { .wg = &wg };
	char buf[8] = "", hp[64];
	int sp[2], lfd, c;

	(void)arg;
	EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	rd.fd = sp[0];
	gf_waitgroup_add(&wg, 1);
	until_io_waiting(gf_go(waiter_fn, &rd));
	EXPECT_EQ(3, gf_net_write(sp[1], "abc", 3));
	EXPECT_EQ(0, gf_waitgroup_wait_deadline(&wg, gf_now() + 10 * SEC));
	EXPECT_EQ(3, rd.r);
	EXPECT_TRUE(fd_blocking(sp[0]));
	EXPECT_TRUE(fd_blocking(sp[1]));
	EXPECT_ERR(ETIMEDOUT, gf_net_read_until(sp[0], buf, 1,
						gf_now() + MS));
	gf_net_close(sp[0]);
	gf_net_close(sp[1]);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT_EQ(0, bind(lfd, (struct sockaddr *)&sa, sizeof(sa)));
	EXPECT_EQ(0, listen(lfd, 4));
	EXPECT_EQ(0, getsockname(lfd, (struct sockaddr *)&sa, &len));
	snprintf(hp, sizeof(hp), "127.0.0.1:%d", ntohs(sa.sin_port));
	acc.fd = lfd;
	gf_waitgroup_add(&wg, 1);
	until_io_waiting(gf_go(acceptor_fn, &acc));
	c = gf_net_dial(hp);
	EXPECT_LE(0, c);
	EXPECT_EQ(0, gf_waitgroup_wait_deadline(&wg, gf_now() + 10 * SEC));
	EXPECT_LE(0, acc.r);
	EXPECT_TRUE(fd_blocking(lfd));
	/* the accepted socket is the runtime's: non-blocking */
	EXPECT_FALSE(fd_blocking((int)acc.r));
	EXPECT_EQ(2, gf_net_write(c, "hi", 2));
	EXPECT_EQ(0, read_full((int)acc.r, buf, 2));
	gf_net_close((int)acc.r);
	gf_net_close(c);
	gf_net_close(lfd);
	return 0;
}

TEST(user_fd_blocking_mode)
{
	GFT_RUN(user_fd_main, NULL);
}

/* ------------------------------------------------------------ many */

/* The echo side of a connection: until EOF. */
static void echo_fn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[256];
	ssize_t r;

	while ((r = gf_net_read(fd, buf, sizeof(buf))) > 0)
		if (gf_net_write(fd, buf, (size_t)r) != r)
			break;
	gf_net_close(fd);
}

struct server {
	int lfd, n;
};

static void server_fn(void *arg)
{
	struct server *sv = arg;
	int i, fd;

	for (i = 0; i < sv->n; i++) {
		fd = gf_net_accept(sv->lfd, NULL, NULL);
		if (fd < 0)
			break;
		gf_go(echo_fn, (void *)(intptr_t)fd);
	}
}

struct client {
	const char *hp;
	int id, ok;
	gf_waitgroup_t *wg;
};

/* Its own pattern, in pieces, must come back to it, in order. */
static void client_fn(void *arg)
{
	struct client *cl = arg;
	char out[512], in[512];
	int fd, i;

	for (i = 0; i < (int)sizeof(out); i++)
		out[i] = (char)(cl->id * 31 + i);
	fd = gf_net_dial(cl->hp);
	if (fd >= 0) {
		cl->ok = 1;
		for (i = 0; i < 4 && cl->ok; i++) {
			if (gf_net_write(fd, out + i * 128, 128) != 128 ||
			    read_full(fd, in + i * 128, 128) ||
			    memcmp(in + i * 128, out + i * 128, 128))
				cl->ok = 0;
			gf_yield();
		}
		gf_net_close(fd);
	}
	gf_waitgroup_done(cl->wg);
}

static int many_main(void *arg)
{
	GFT_FIBER;
	int n = 1000 / (GFT_SCALE > 10 ? 10 : GFT_SCALE), i, bad = 0;
	gf_waitgroup_t wg = GF_WAITGROUP_INIT;
	struct client *cl = calloc((size_t)n, sizeof(*cl));
	struct server sv = { .n = n };
	char hp[64];

	(void)arg;
	sv.lfd = gf_net_listen("127.0.0.1:0", 0);
	EXPECT_LE(0, sv.lfd);
	snprintf(hp, sizeof(hp), "%s", addr_of("127.0.0.1", sv.lfd));
	gf_go(server_fn, &sv);
	gf_waitgroup_add(&wg, n);
	for (i = 0; i < n; i++) {
		cl[i] = (struct client){ hp, i, 0, &wg };
		gf_go(client_fn, &cl[i]);
	}
	EXPECT_EQ(0, gf_waitgroup_wait_deadline(&wg, gf_now() + 30 * SEC));
	for (i = 0; i < n; i++)
		bad += !cl[i].ok;
	EXPECT_EQ(0, bad);
	gf_net_close(sv.lfd);
	free(cl);
	return 0;
}

TEST(many_connections_echo)
{
	struct rlimit rl;

	/* 2 descriptors a connection */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 2100) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	GFT_RUN(many_main, NULL);
}

/* ------------------------------------------------------------ syscalls */

/*
 * The fast path: once a connection is up, a read or write that waits
 * costs its recv/send and the park - no epoll_ctl (the socket is
 * registered once, for its life), no fcntl. Two fibers ping-pong, each
 * read parking. gf_read/gf_write on such a socket take the same path.
 * Before, every wait re-added the fd (EPOLL_CTL_ADD, EEXIST).
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
	bool plain = arg != NULL;
	gf_waitgroup_t wg = GF_WAITGROUP_INIT;
	struct pinger p = { .n = 200, .plain = plain, .wg = &wg };
	long ctl, fc;
	int c, s, i;
	char b = 'x';

	EXPECT_EQ(0, tcp_pair("127.0.0.1:0", &c, &s));
	p.fd = s;
	gf_waitgroup_add(&wg, 1);
	/* one round first: every lazy setup done */
	gf_go(pong_fn, &p);
	EXPECT_EQ(1, gf_net_write(c, &b, 1));
	EXPECT_EQ(1, gf_net_read(c, &b, 1));
	ctl = atomic_load(&n_epoll_ctl);
	fc = atomic_load(&n_fcntl);
	for (i = 1; i < p.n; i++) {
		if (plain ? gf_write(c, &b, 1) != 1 || gf_read(c, &b, 1) != 1
			  : gf_net_write(c, &b, 1) != 1 ||
			    gf_net_read(c, &b, 1) != 1) {
			EXPECT_TRUE(false);
			break;
		}
	}
	EXPECT_EQ(0, atomic_load(&n_epoll_ctl) - ctl);
	EXPECT_EQ(0, atomic_load(&n_fcntl) - fc);
	EXPECT_EQ(0, gf_waitgroup_wait_deadline(&wg, gf_now() + 10 * SEC));
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

/* ------------------------------------------------------------ dumps */

static void dumped_reader(void *arg)
{
	struct waiter *w = arg;

	w->r = gf_net_read(w->fd, waiter_buf, 1);
	w->err = errno;
	gf_waitgroup_done(w->wg);
}

/* "IO wait", at the caller's line: the reader's function, not ours. */
static int reason_main(void *arg)
{
	GFT_FIBER;
	gf_waitgroup_t wg = GF_WAITGROUP_INIT;
	struct waiter w = { .wg = &wg };
	char pat[64];
	const char *d, *at;
	int64_t id;
	int c, s;

	(void)arg;
	EXPECT_EQ(0, tcp_pair("127.0.0.1:0", &c, &s));
	w.fd = c;
	gf_waitgroup_add(&wg, 1);
	id = gf_go(dumped_reader, &w);
	until_io_waiting(id);
	snprintf(pat, sizeof(pat), "fiber %lld [IO wait", (long long)id);
	d = gft_dump();
	at = strstr(d, pat);
	EXPECT_TRUE(at && strstr(at, "dumped_reader")) {
		TH_LOG("%s", d);
	}
	gf_net_close(s);
	EXPECT_EQ(0, gf_waitgroup_wait_deadline(&wg, gf_now() + 10 * SEC));
	EXPECT_EQ(0, w.r);
	gf_net_close(c);
	return 0;
}

TEST(wait_reason_io_wait)
{
	GFT_RUN(reason_main, NULL);
}

TEST_HARNESS_MAIN
