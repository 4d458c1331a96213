// SPDX-License-Identifier: MIT
/*
 * epoll_http.c - the HTTP workload's limit: a bare epoll loop per core.
 *
 * Usage: epoll_http PORT     (threads: GF_PROCS, default every CPU)
 *
 * Each thread has its own SO_REUSEPORT listener on 127.0.0.1:PORT and
 * its own epoll set, and serves its connections start to end with no
 * sharing, no allocation per request and no context switch: what a
 * hand-written event loop costs, the floor under any fiber design
 * (bench/http.sh). Every request head (up to the blank line; bodies are
 * not expected: wrk sends GETs) is answered with examples/httpd's "/"
 * 94 bytes; pipelined heads are answered in one write. Serves until
 * killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, World!\n";
#define RESP_LEN (sizeof(resp) - 1)
#define BUF 8192
#define MAX_PIPE (BUF / 4)	/* heads per read: "\r\n\r\n" at least */

struct conn {
	size_t len;		/* bytes of an unfinished head kept */
	char *out;		/* output not yet written (malloc'd), or NULL */
	size_t olen, ooff;
	char in[BUF];
};

/* Responses are built here and written at once; only what the socket
 * did not take is copied into the connection. */
static __thread char obuf[MAX_PIPE * RESP_LEN];

static int port;

static int listener(void)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;

	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096)) {
		perror("epoll_http: listen");
		exit(1);
	}
	return fd;
}

static void drop(int ep, int fd, struct conn **conns)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(conns[fd]->out);
	free(conns[fd]);
	conns[fd] = NULL;
}

/* Write buf[off..len); keep what the socket does not take in c->out.
 * 0, or -1 to drop the connection. */
static int flush(int ep, int fd, struct conn *c, const char *buf,
		 size_t off, size_t len)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.fd = fd };
	ssize_t w;

	while (off < len) {
		w = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			if (buf != c->out) {
				c->out = malloc(len - off);
				if (!c->out)
					return -1;
				memcpy(c->out, buf + off, len - off);
				c->olen = len - off;
				c->ooff = 0;
			} else {
				c->ooff = off;
			}
			/* stop reading until written */
			return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
		}
		if (w < 0)
			return -1;
		off += w;
	}
	if (buf == c->out) {
		free(c->out);
		c->out = NULL;
		ev.events = EPOLLIN;
		return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
	}
	return 0;
}

/* Read, answer each complete head; 0, or -1 to drop. */
static int serve(int ep, int fd, struct conn *c)
{
	ssize_t r = read(fd, c->in + c->len, BUF - c->len);
	char *p, *end, *e;
	size_t olen = 0;

	if (r == 0 || (r < 0 && errno != EAGAIN))
		return -1;
	if (r < 0)
		return 0;
	c->len += r;
	p = c->in;
	end = c->in + c->len;
	while ((e = memmem(p, end - p, "\r\n\r\n", 4))) {
		memcpy(obuf + olen, resp, RESP_LEN);
		olen += RESP_LEN;
		p = e + 4;
	}
	c->len = end - p;
	if (c->len == BUF)
		return -1;	/* a head over 8 KiB */
	memmove(c->in, p, c->len);
	return flush(ep, fd, c, obuf, 0, olen);
}

static void *loop(void *arg)
{
	struct epoll_event evs[256], ev = { .events = EPOLLIN };
	struct conn **conns;
	struct rlimit rl;
	int lfd = listener(), ep = epoll_create1(0), n, i, fd, one = 1;

	(void)arg;
	getrlimit(RLIMIT_NOFILE, &rl);
	conns = calloc(rl.rlim_cur, sizeof(*conns));
	ev.data.fd = lfd;
	if (ep < 0 || !conns || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev)) {
		perror("epoll_http: epoll");
		exit(1);
	}
	for (;;) {
		n = epoll_wait(ep, evs, 256, -1);
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == lfd) {
				while ((fd = accept4(lfd, NULL, NULL,
						     SOCK_NONBLOCK)) >= 0) {
					if ((rlim_t)fd >= rl.rlim_cur ||
					    !(conns[fd] = malloc(sizeof(struct conn)))) {
						close(fd);
						continue;
					}
					conns[fd]->len = 0;
					conns[fd]->out = NULL;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
						   &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.fd = fd;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if (conns[fd]->out) {
				if (flush(ep, fd, conns[fd], conns[fd]->out,
					  conns[fd]->ooff, conns[fd]->olen))
					drop(ep, fd, conns);
				continue;
			}
			if (serve(ep, fd, conns[fd]))
				drop(ep, fd, conns);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *procs = getenv("GF_PROCS");
	long n = procs ? atol(procs) : sysconf(_SC_NPROCESSORS_ONLN);
	struct rlimit rl;
	pthread_t t;

	if (argc != 2 || (port = atoi(argv[1])) <= 0 || n < 1) {
		fprintf(stderr, "usage: epoll_http PORT (GF_PROCS threads)\n");
		return 2;
	}
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	while (--n > 0)
		if (pthread_create(&t, NULL, loop, NULL)) {
			perror("epoll_http: pthread_create");
			return 1;
		}
	loop(NULL);
	return 0;
}
