// SPDX-License-Identifier: MIT
/*
 * netio.c - socket IO with absolute deadlines, on gf_wait_fd.
 *
 * Every socket is non-blocking (SOCK_NONBLOCK at creation): a call tries
 * the syscall and, on EAGAIN, parks the fiber in gf_wait_fd ("IO wait")
 * until the socket is ready or the deadline passes (ETIMEDOUT).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"

/* "host:port" with a numeric IPv4 host ("" or "*": any). */
int net_listen(const char *hostport, int backlog)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const char *colon = strrchr(hostport, ':');
	char host[64];
	char *end;
	long port;
	int fd, one = 1;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(host, hostport, colon - hostport);
	host[colon - hostport] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535) {
		errno = EINVAL;
		return -1;
	}
	sa.sin_port = htons(port);
	if (host[0] && strcmp(host, "*") &&
	    inet_pton(AF_INET, strcmp(host, "localhost") ? host : "127.0.0.1",
		      &sa.sin_addr) != 1) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, backlog)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int net_accept(int lfd)
{
	int fd, one = 1;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno != EAGAIN)
			return -1;
		if (gf_wait_fd(lfd, EPOLLIN, GF_FOREVER) < 0)
			return -1;
	}
	/* responses are written whole, one write per batch */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

ssize_t net_read_until(int fd, void *buf, size_t n, int64_t until)
{
	ssize_t r;

	for (;;) {
		r = recv(fd, buf, n, MSG_DONTWAIT);
		if (r >= 0 || errno != EAGAIN)
			return r;
		if (gf_wait_fd(fd, EPOLLIN, until) < 0)
			return -1;
	}
}

/* All n bytes, or -1 (ETIMEDOUT, EPIPE, ECONNRESET...). */
int net_write_until(int fd, const void *buf, size_t n, int64_t until)
{
	const char *p = buf;
	ssize_t w;

	while (n) {
		w = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w >= 0) {
			p += w;
			n -= w;
			continue;
		}
		if (errno != EAGAIN)
			return -1;
		if (gf_wait_fd(fd, EPOLLOUT, until) < 0)
			return -1;
	}
	return 0;
}
