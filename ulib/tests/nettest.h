/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nettest.h - what the network tests (net_test.c, net_io_test.c) share:
 * loopback connections, waiting for a fiber's IO wait, fibers blocked
 * in a read, a write or an accept.
 */
#ifndef NETTEST_H
#define NETTEST_H

#include <fcntl.h>
#include <sys/socket.h>

#include "gftest.h"

static inline bool fd_blocking(int fd)
{
	return !(fcntl(fd, F_GETFL) & O_NONBLOCK);
}

/* Let fiber id reach its IO wait (no timing assumed). */
static inline void until_io_waiting(int64_t id)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "fiber %lld [IO wait", (long long)id);
	while (!strstr(gft_dump(), pat))
		gf_sleep(100000);
}

/*
 * Let fiber id reach its IO wait: true; false if it exited first (it
 * did not wait: a deadline passed before it could, on a slow machine).
 */
static inline bool io_waiting_or_gone(int64_t id)
{
	char pat[64], gone[64];

	snprintf(pat, sizeof(pat), "fiber %lld [IO wait", (long long)id);
	snprintf(gone, sizeof(gone), "fiber %lld [", (long long)id);
	for (;;) {
		const char *d = gft_dump();

		if (strstr(d, pat))
			return true;
		if (!strstr(d, gone))
			return false;
		gf_sleep(100000);
	}
}

/* "127.0.0.1:port" of listener lfd, with prefix host. */
static inline const char *addr_of(const char *host, int lfd)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%s:%d", host, gf_net_port(lfd));
	return buf;
}

/* A connected pair over loopback: *c dialed, *s accepted. 0 or -1. */
static inline int tcp_pair(const char *host, int *c, int *s)
{
	char hp[64];
	int lfd = gf_net_listen(host, 1);

	*c = *s = -1;
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
static inline int read_full(int fd, void *buf, size_t n)
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

/* Small socket buffers: a peer that does not read fills them soon. */
static inline void small_buffers(int fd)
{
	int sz = 4096;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

struct waiter {
	int fd;
	bool out;		/* write (a full buffer) or read */
	ssize_t r;
	int err;
	gf_waitgroup_t *wg;
};

static char waiter_buf[1 << 20] __attribute__((unused));

/* Blocks in gf_net_read, gf_net_write (a full buffer) or accept. */
static inline void waiter_fn(void *arg)
{
	struct waiter *w = arg;

	if (w->out)
		w->r = gf_net_write(w->fd, waiter_buf, sizeof(waiter_buf));
	else
		w->r = gf_net_read(w->fd, waiter_buf, 16);
	w->err = errno;
	gf_waitgroup_done(w->wg);
}

static inline void acceptor_fn(void *arg)
{
	struct waiter *w = arg;

	w->r = gf_net_accept(w->fd, NULL, NULL);
	w->err = errno;
	gf_waitgroup_done(w->wg);
}

#endif /* NETTEST_H */
