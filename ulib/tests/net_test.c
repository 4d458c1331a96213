// SPDX-License-Identifier: GPL-2.0
/*
 * net_test.c - the network calls (gf_net_*) on loopback: listen, accept
 * and dial over IPv4 and IPv6, addresses, dial errors and deadlines,
 * users' descriptors left in their blocking mode, many connections each
 * echoed to its own peer, the wait reason. Reads, writes, deadlines and
 * close: net_io_test.c.
 */
#define _GNU_SOURCE
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "nettest.h"

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
	EXPECT_ERR(EBADF, gf_net_set_deadline(-1, GF_NOWAIT, GF_NOWAIT));
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
						  gf_timeout(MS)));
	/* the port is taken (SO_REUSEADDR does not share a listener) */
	EXPECT_ERR(EADDRINUSE, gf_net_listen(addr_of("127.0.0.1", lfd), 0));
	gf_net_close(lfd);
	/* closed: the number is nobody's */
	EXPECT_ERR(EBADF, gf_net_set_deadline(lfd, gf_deadline_at(1), gf_deadline_at(1)));
	EXPECT_ERR(EBADF, gf_net_read(lfd, &len, 1));
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
	EXPECT_ERR(ECONNREFUSED, gf_net_dial_until(hp, gf_timeout(10 * SEC)));
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
		fds[n] = gf_net_dial_until(hp, gf_timeout(200 * MS));
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
	EXPECT_EQ(0, gf_waitgroup_wait_until(&wg, gf_timeout(10 * SEC)));
	EXPECT_EQ(3, rd.r);
	EXPECT_TRUE(fd_blocking(sp[0]));
	EXPECT_TRUE(fd_blocking(sp[1]));
	EXPECT_ERR(ETIMEDOUT, gf_net_read_until(sp[0], buf, 1,
						gf_timeout(MS)));
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
	EXPECT_EQ(0, gf_waitgroup_wait_until(&wg, gf_timeout(10 * SEC)));
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
	int n = 1000 / GFT_SCALE < 20 ? 20 : 1000 / GFT_SCALE, i, bad = 0;
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
	EXPECT_EQ(0, gf_waitgroup_wait_until(&wg, gf_timeout(30 * SEC)));
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
	EXPECT_EQ(0, gf_waitgroup_wait_until(&wg, gf_timeout(10 * SEC)));
	EXPECT_EQ(0, w.r);
	gf_net_close(c);
	return 0;
}

TEST(wait_reason_io_wait)
{
	GFT_RUN(reason_main, NULL);
}

TEST_HARNESS_MAIN
