// SPDX-License-Identifier: MIT
/*
 * net.c - the network calls (Go's net package over internal/poll), on
 * the poller's descriptors (netpoll.c).
 *
 * Shape (Go's netFD): a socket the runtime makes (gf_net_listen,
 * gf_net_accept, gf_net_dial) is non-blocking and close-on-exec from
 * its socket(2)/accept4(2) on, and registered in the poller once, for
 * its life (one EPOLL_CTL_ADD, edge-triggered, both directions): a read
 * or write is then one recv/send, and when it would block one park
 * ("IO wait") until the poller's edge - no fcntl, no epoll_ctl. A
 * socket of the user's passed in is registered the same way at its
 * first wait and keeps its blocking mode: recv/send with MSG_DONTWAIT
 * never block whatever the file's O_NONBLOCK (which is shared with
 * every fd of the open file), and gf_net_accept on a blocking listener
 * asks poll(2) first and accepts as a syscall (gf_syscall_enter/exit).
 * A descriptor registered for its life must be closed with gf_net_close
 * (= gf_close): that evicts its waiters (EBADF) before the number can be
 * reused, and makes the number's next file register anew.
 *
 * Deadlines: every blocking call has an _until variant taking an
 * absolute deadline (gf_now() ns, GF_FOREVER, GF_NOWAIT); each
 * descriptor has a read and a write deadline too (gf_net_set_deadline,
 * Go's SetReadDeadline/SetWriteDeadline), and a wait ends at the
 * earlier of the two. What a deadline value means is decided in one
 * place, netpoll.c (deadline_min, deadline_passed): this file passes
 * them through.
 *
 * Writes: gf_net_write writes all n bytes or fails, with MSG_NOSIGNAL
 * (a peer gone is EPIPE, never SIGPIPE). A failure after some bytes
 * went out returns their count (short of n) with errno set, as Go's
 * Write returns n and an error: "!= n" is the one test of success.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netpoll.h"
#include "runtime.h"

#define PC()	((uintptr_t)__builtin_return_address(0))

/*
 * Split "host:port", "[v6]:port", ":port" into host (empty for none)
 * and port (decimal, 0-65535). Returns 0; -1 with EINVAL for anything
 * else (no colon, an unbracketed host with a colon, an empty or
 * non-numeric port, a port over 65535, a host over NI_MAXHOST).
 */
static int hostport_split(const char *hp, char host[NI_MAXHOST],
			  char port[6])
{
	const char *colon, *h = hp;
	size_t hlen, plen;
	unsigned long v = 0;

	if (!hp)
		goto inval;
	if (hp[0] == '[') {
		const char *end = strchr(hp, ']');

		if (!end || end[1] != ':')
			goto inval;
		h = hp + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
		if (!hlen || !memchr(h, ':', hlen))
			goto inval;	/* "[]", "[host]": not an IPv6 */
	} else {
		colon = strrchr(hp, ':');
		if (!colon)
			goto inval;
		hlen = (size_t)(colon - hp);
		if (memchr(hp, ':', hlen) || memchr(hp, '[', hlen) ||
		    memchr(hp, ']', hlen))
			goto inval;	/* "::1:80": brackets needed */
	}
	plen = strlen(colon + 1);
	if (!plen || plen > 5 || hlen >= NI_MAXHOST ||
	    strspn(colon + 1, "0123456789") != plen)
		goto inval;
	v = strtoul(colon + 1, NULL, 10);
	if (v > 65535)
		goto inval;
	memcpy(host, h, hlen);
	host[hlen] = 0;
	memcpy(port, colon + 1, plen + 1);
	return 0;
inval:
	errno = EINVAL;
	return -1;
}

/*
 * getaddrinfo(3) for TCP, as a syscall: a name may take a DNS round
 * trip, which must not hold the fiber's processor. host "" is NULL
 * (passive: every interface; else the loopback). Returns 0; -1 with
 * errno: ENXIO (no such host, or no address of its family), EAGAIN (a
 * temporary failure of the resolver), EIO (a permanent one), ENOMEM,
 * EINVAL, or the errno of a system error.
 */
static int resolve(const char *host, const char *port, bool passive,
		   struct addrinfo **res)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
		.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	int r;

	gf_syscall_enter();
	r = getaddrinfo(host[0] ? host : NULL, port, &hints, res);
	gf_syscall_exit();
	switch (r) {
	case 0:
		return 0;
	case EAI_SYSTEM:
		break;
	case EAI_AGAIN:
		errno = EAGAIN;
		break;
	case EAI_MEMORY:
		errno = ENOMEM;
		break;
	case EAI_FAIL:
		errno = EIO;
		break;
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		errno = ENXIO;
		break;
	default:
		errno = EINVAL;
		break;
	}
	return -1;
}

/* Close a socket of ours that failed on the way, keeping its errno. */
static void net_abandon(int fd)
{
	int err = errno;

	gf_close(fd);
	errno = err;
}

/*
 * A TCP socket of the runtime's: non-blocking, close-on-exec, registered
 * for its life. Returns the fd; -1 with socket(2)'s errno or
 * gfi_netfd_init's.
 */
static int net_socket(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			IPPROTO_TCP);

	if (fd < 0)
		return -1;
	if (gfi_netfd_init(fd, true)) {
		net_abandon(fd);
		return -1;
	}
	return fd;
}

/*
 * Send small writes at once (Go's default): a request and its reply are
 * not held back by Nagle's algorithm waiting for an ACK. A TCP socket
 * always takes it.
 */
static void net_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Bind a new socket of sa's family to sa and listen: the fd, or -1. */
static int listen_on(const struct sockaddr *sa, socklen_t len, int backlog,
		     bool dualstack)
{
	int fd = net_socket(sa->sa_family), one = 1, zero = 0;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (dualstack && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
				     sizeof(zero))) ||
	    bind(fd, sa, len) || listen(fd, backlog)) {
		net_abandon(fd);
		return -1;
	}
	return fd;
}

GF_API int gf_net_listen(const char *hostport, int backlog)
{
	char host[NI_MAXHOST], port[6];
	struct addrinfo *res, *ai;
	int fd = -1;

	if (hostport_split(hostport, host, port))
		return -1;
	if (backlog <= 0)
		backlog = SOMAXCONN;
	if (!host[0]) {
		/* every interface: [::] taking IPv4 too, or 0.0.0.0 */
		struct sockaddr_in6 s6 = {
			.sin6_family = AF_INET6, .sin6_addr = in6addr_any,
			.sin6_port = htons((uint16_t)atoi(port)),
		};
		struct sockaddr_in s4 = {
			.sin_family = AF_INET,
			.sin_addr.s_addr = htonl(INADDR_ANY),
			.sin_port = s6.sin6_port,
		};

		fd = listen_on((struct sockaddr *)&s6, sizeof(s6), backlog,
			       true);
		if (fd < 0 && errno == EAFNOSUPPORT)	/* no IPv6 here */
			fd = listen_on((struct sockaddr *)&s4, sizeof(s4),
				       backlog, false);
		return fd;
	}
	if (resolve(host, port, true, &res))
		return -1;
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = listen_on(ai->ai_addr, ai->ai_addrlen, backlog, false);
	freeaddrinfo(res);
	return fd;
}

struct accept_arg {
	struct sockaddr *sa;
	socklen_t *salen;
};

/*
 * accept4(2) that does not block the thread: on a listener of the
 * user's (blocking, maybe), SO_ACCEPTCONN says whether it is one,
 * poll(2) whether a connection waits, and accept4 runs as a syscall (another acceptor may take it first: then
 * this thread blocks, its processor handed on, as gf_read's). A
 * connection that went away before it was accepted is skipped.
 */
static ssize_t accept_op(int fd, void *arg, bool nonblock)
{
	struct accept_arg *a = arg;
	int r;

	for (;;) {
		if (!nonblock) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			socklen_t len = sizeof(r);

			/* what accept4 would say at once: poll waits on */
			if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &r, &len))
				return -1;	/* ENOTSOCK */
			if (!r) {
				errno = EINVAL;	/* not listening */
				return -1;
			}
			r = poll(&pfd, 1, 0);
			if (r < 0)
				return -1;
			if (r == 0) {
				errno = EAGAIN;
				return -1;
			}
			gf_syscall_enter();
		}
		r = accept4(fd, a->sa, a->salen,
			    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (!nonblock)
			gf_syscall_exit();
		if (r >= 0 || errno != ECONNABORTED)
			return r;
	}
}

static int net_accept(int lfd, struct sockaddr *sa, socklen_t *salen,
		      int64_t until, uintptr_t pc)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct accept_arg a = { (struct sockaddr *)&ss, &sslen };
	int fd;

	if ((sa && !salen) || (salen && !sa)) {
		errno = EINVAL;
		return -1;
	}
	fd = (int)gfi_netfd_do(lfd, EPOLLIN, accept_op, &a, until, pc);
	if (fd < 0)
		return -1;
	if (gfi_netfd_init(fd, true)) {
		net_abandon(fd);
		return -1;
	}
	if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
		net_nodelay(fd);
	if (sa) {
		memcpy(sa, &ss, *salen < sslen ? *salen : sslen);
		*salen = sslen;
	}
	return fd;
}

GF_API int gf_net_accept(int lfd, struct sockaddr *sa, socklen_t *salen)
{
	return net_accept(lfd, sa, salen, GF_FOREVER, PC());
}

GF_API int gf_net_accept_until(int lfd, struct sockaddr *sa,
			       socklen_t *salen, int64_t until)
{
	return net_accept(lfd, sa, salen, until, PC());
}

/*
 * Connect a new socket to ai: the fd, or -1 with the error that ends
 * this address (connect's, SO_ERROR's) or the wait's (ETIMEDOUT...).
 */
static int dial_one(const struct addrinfo *ai, int64_t until, uintptr_t pc)
{
	int fd = net_socket(ai->ai_family), err = 0;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto out;
	if (errno != EINPROGRESS && errno != EINTR)
		goto err;
	if (gfi_netfd_wait(fd, EPOLLOUT, until, pc))
		goto err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		goto err;
	if (err) {
		errno = err;
		goto err;
	}
out:
	net_nodelay(fd);
	return fd;
err:
	net_abandon(fd);
	return -1;
}

static int net_dial(const char *hostport, int64_t until, uintptr_t pc)
{
	char host[NI_MAXHOST], port[6];
	struct addrinfo *res, *ai;
	int fd = -1;

	if (hostport_split(hostport, host, port) ||
	    resolve(host, port, false, &res))
		return -1;
	/*
	 * Each address in getaddrinfo's order until one connects; the
	 * error is the last address's. A deadline or a gf_close ends the
	 * whole dial.
	 */
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = dial_one(ai, until, pc);
		if (fd < 0 && (errno == ETIMEDOUT || errno == EAGAIN ||
			       errno == EPERM || errno == EMFILE ||
			       errno == ENFILE || errno == ENOMEM))
			break;
	}
	freeaddrinfo(res);
	return fd;
}

GF_API int gf_net_dial(const char *hostport)
{
	return net_dial(hostport, GF_FOREVER, PC());
}

GF_API int gf_net_dial_until(const char *hostport, int64_t until)
{
	return net_dial(hostport, until, PC());
}

struct io_arg {
	void *buf;
	size_t n;
};

static ssize_t read_op(int fd, void *arg, bool nonblock)
{
	struct io_arg *a = arg;

	(void)nonblock;		/* MSG_DONTWAIT either way */
	return recv(fd, a->buf, a->n, MSG_DONTWAIT);
}

static ssize_t write_op(int fd, void *arg, bool nonblock)
{
	struct io_arg *a = arg;

	(void)nonblock;
	return send(fd, a->buf, a->n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

GF_API ssize_t gf_net_read(int fd, void *buf, size_t n)
{
	struct io_arg a = { buf, n };

	return gfi_netfd_do(fd, EPOLLIN, read_op, &a, GF_FOREVER, PC());
}

GF_API ssize_t gf_net_read_until(int fd, void *buf, size_t n, int64_t until)
{
	struct io_arg a = { buf, n };

	return gfi_netfd_do(fd, EPOLLIN, read_op, &a, until, PC());
}

static ssize_t net_write(int fd, const void *buf, size_t n, int64_t until,
			 uintptr_t pc)
{
	size_t done = 0;

	if (n > SSIZE_MAX) {
		errno = EINVAL;
		return -1;
	}
	do {
		struct io_arg a = { (char *)buf + done, n - done };
		ssize_t r = gfi_netfd_do(fd, EPOLLOUT, write_op, &a, until,
					 pc);

		if (r < 0)
			return done ? (ssize_t)done : -1;
		done += (size_t)r;
	} while (done < n);
	return (ssize_t)n;
}

GF_API ssize_t gf_net_write(int fd, const void *buf, size_t n)
{
	return net_write(fd, buf, n, GF_FOREVER, PC());
}

GF_API ssize_t gf_net_write_until(int fd, const void *buf, size_t n,
				  int64_t until)
{
	return net_write(fd, buf, n, until, PC());
}

GF_API int gf_net_set_deadline(int fd, int64_t read_until,
			       int64_t write_until)
{
	return gfi_netfd_set_deadline(fd, read_until, write_until);
}

GF_API int gf_net_close(int fd)
{
	return gf_close(fd);
}

GF_API int gf_net_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	errno = EAFNOSUPPORT;
	return -1;
}
