// SPDX-License-Identifier: MIT
/*
 * server.c - the listener, one fiber per connection, graceful shutdown.
 *
 * A connection fiber loops: wait for the first byte of a request (the
 * idle timeout: on expiry the connection closes silently), then read
 * the rest of the head and the body before the request deadline (first
 * byte + request timeout: on expiry 408 and close, which cuts off a
 * slowloris client however slowly it trickles), run the handler, and
 * append the response to the output buffer. Pipelined requests already
 * in the input buffer are served before the buffer is written, so a
 * batch of them costs one write.
 *
 * Shutdown (SIGTERM, SIGINT): the signal fiber wakes the main fiber,
 * which marks the server draining, closes the listener (the acceptor
 * ends), and shuts the read side of every idle connection (its fiber
 * reads EOF and ends). A connection in the middle of a request is left
 * alone: it answers with "Connection: close" and ends. Each connection
 * publishes "idle" before it checks the draining flag, and main sets
 * the flag before it looks for idle connections (both sequentially
 * consistent), so no connection can go idle unseen by both. Main waits
 * for every connection fiber and the acceptor to end, at most the
 * shutdown timeout: 0 when all ended, 1 when some were cut off.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"

enum { CONN_BUSY, CONN_IDLE };

struct conn {
	int fd;
	atomic_int state;		/* CONN_BUSY or CONN_IDLE */
	struct conn *prev, *next;	/* on conns, under conns_lock */
	char *buf;			/* input: [0, len) received */
	size_t len, cap;
	struct http_out out;		/* responses not yet written */
};

static int listen_fd = -1;
static atomic_bool draining;
static atomic_int nconns;		/* open connections */
static struct conn conns = { .prev = &conns, .next = &conns };
static gf_mutex_t conns_lock = GF_MUTEX_INIT;
/* every connection fiber and the acceptor: shutdown waits for 0 */
static gf_waitgroup_t live = GF_WAITGROUP_INIT;
static gf_chan_t *stop;			/* closed on SIGTERM / SIGINT */
static int64_t own_ids[3];		/* main, acceptor, signals */

int server_connections(void)
{
	return atomic_load(&nconns);
}

bool server_draining(void)
{
	return atomic_load(&draining);
}

int64_t server_fiber_ids(int64_t *ids, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < 3 && k < n; i++)
		if (own_ids[i])
			ids[k++] = own_ids[i];
	return k;
}

static void conn_link(struct conn *c)
{
	gf_mutex_lock(&conns_lock);
	c->next = &conns;
	c->prev = conns.prev;
	conns.prev->next = c;
	conns.prev = c;
	gf_mutex_unlock(&conns_lock);
	atomic_fetch_add(&nconns, 1);
}

static void conn_unlink(struct conn *c)
{
	gf_mutex_lock(&conns_lock);
	c->prev->next = c->next;
	c->next->prev = c->prev;
	gf_mutex_unlock(&conns_lock);
	atomic_fetch_sub(&nconns, 1);
}

/* Room for at least one more byte, the buffer at most max bytes. */
static bool conn_grow(struct conn *c, size_t max)
{
	size_t cap = c->cap;
	char *b;

	if (c->len < cap)
		return true;
	if (cap >= max)
		return false;
	cap = cap * 2 < max ? cap * 2 : max;
	b = realloc(c->buf, cap);
	if (!b)
		return false;
	c->buf = b;
	c->cap = cap;
	return true;
}

/* Read more into the buffer: > 0 bytes, 0 at EOF, -1 (ETIMEDOUT...). */
static ssize_t conn_fill(struct conn *c, size_t max, gf_deadline_t until)
{
	ssize_t r;

	if (!conn_grow(c, max)) {
		errno = ENOBUFS;
		return -1;
	}
	r = gf_net_read_until(c->fd, c->buf + c->len, c->cap - c->len,
			      until);
	if (r > 0)
		c->len += r;
	return r;
}

/* All n bytes before until: 0, or -1 (ETIMEDOUT, EPIPE, ECONNRESET). */
static int write_all(int fd, const void *buf, size_t n, gf_deadline_t until)
{
	return gf_net_write_until(fd, buf, n, until) == (ssize_t)n ? 0 : -1;
}

static int conn_flush(struct conn *c)
{
	int r = 0;

	if (c->out.failed)
		return -1;
	if (c->out.len)
		r = write_all(c->fd, c->out.buf, c->out.len,
			      gf_timeout(httpd_cfg.request_timeout));
	c->out.len = 0;
	return r;
}

/*
 * Wait for the next request's first byte, idle. Returns false when the
 * connection should close: EOF, error, idle timeout, or draining.
 */
static bool conn_wait_request(struct conn *c)
{
	ssize_t r;

	atomic_store(&c->state, CONN_IDLE);
	if (atomic_load(&draining))
		return false;
	r = conn_fill(c, HTTP_MAX_HEAD, gf_timeout(httpd_cfg.idle_timeout));
	atomic_store(&c->state, CONN_BUSY);
	return r > 0;
}

/* Answer an unservable request (or 408) and close. */
static void conn_fail(struct conn *c, int status)
{
	char body[16];
	int n = snprintf(body, sizeof(body), "%d\n", status);

	http_reply(&c->out, status, "text/plain; charset=utf-8", body, n,
		   false, false);
	conn_flush(c);
}

/*
 * Read the body (Content-Length bytes after the head) before until.
 * Returns 0, or the status to fail with (408), or -1 to close quietly.
 */
static int conn_read_body(struct conn *c, struct http_request *req,
			  gf_deadline_t until)
{
	size_t need = req->head_len + req->content_length;
	size_t hl;
	const char *v;

	if (c->len >= need)
		return 0;
	v = http_header_get(req, "expect", &hl);
	if (v) {
		if (hl != 12 || strncasecmp(v, "100-continue", 12))
			return 417;
		/* after the responses before it, a bare status line */
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		if (conn_flush(c) ||
		    write_all(c->fd, cont, sizeof(cont) - 1, until))
			return -1;
	}
	while (c->len < need) {
		ssize_t r = conn_fill(c, need, until);

		if (r == 0 || (r < 0 && errno != ETIMEDOUT))
			return -1;
		if (r < 0)
			return 408;
	}
	return 0;
}

/*
 * One request from the buffer (more read as needed): returns true to
 * serve the next one on this connection.
 */
static bool conn_serve_one(struct conn *c, struct http_request *req)
{
	gf_deadline_t until = gf_timeout(httpd_cfg.request_timeout);
	struct http_ctx ctx = { .req = req, .out = &c->out };
	int n, st;

	while ((n = http_parse(c->buf, c->len, req)) == 0) {
		ssize_t r = conn_fill(c, HTTP_MAX_HEAD, until);

		if (r == 0 || (r < 0 && errno != ETIMEDOUT))
			return false;
		if (r < 0) {
			conn_fail(c, 408);
			return false;
		}
	}
	if (n < 0) {
		conn_fail(c, -n);
		return false;
	}
	st = conn_read_body(c, req, until);
	if (st) {
		if (st > 0)
			conn_fail(c, st);
		return false;
	}
	/* the buffer may have moved as it grew for the body: point the
	 * request into the new one */
	if (req->content_length)
		http_parse(c->buf, c->len, req);
	req->body = c->buf + req->head_len;
	ctx.keep_alive = req->keep_alive && !atomic_load(&draining);
	route(&ctx);
	n = req->head_len + req->content_length;
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
	return ctx.keep_alive && !c->out.failed;
}

/*
 * Close without losing the last response: a client still sending (a
 * body we refused) would get an RST for its unread bytes, and an RST
 * may destroy the response before it is read. So: no more writes,
 * drain what comes for a moment, then close.
 */
static void conn_close(struct conn *c)
{
	gf_deadline_t until = gf_timeout(500 * NS_PER_MS);
	char sink[4096];

	shutdown(c->fd, SHUT_WR);
	while (gf_net_read_until(c->fd, sink, sizeof(sink), until) > 0)
		;
	gf_net_close(c->fd);
}

static void conn_main(void *arg)
{
	struct conn *c = arg;
	struct http_request req;

	c->cap = 4096;
	c->buf = malloc(c->cap);
	if (!c->buf)
		goto out;
	for (;;) {
		if (c->len == 0 && !conn_wait_request(c))
			break;
		if (!conn_serve_one(c, &req))
			break;
		/* pipelined: answer the next one before writing */
		if (c->len && http_parse(c->buf, c->len, &req) != 0)
			continue;
		if (conn_flush(c))
			break;
	}
	conn_flush(c);
out:
	conn_unlink(c);
	conn_close(c);
	free(c->buf);
	http_out_free(&c->out);
	free(c);
	gf_waitgroup_done(&live);
}

static void acceptor(void *arg)
{
	gf_attr_t attr = { .name = "conn" };
	struct conn *c;
	int fd;

	(void)arg;
	for (;;) {
		fd = gf_net_accept(listen_fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EBADF || atomic_load(&draining))
				break;	/* the listener was closed */
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* out of descriptors: let some close */
				gf_sleep(10 * NS_PER_MS);
				continue;
			}
			continue;	/* ECONNABORTED, EPROTO... */
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			gf_net_close(fd);
			continue;
		}
		c->fd = fd;
		atomic_init(&c->state, CONN_BUSY);
		conn_link(c);
		gf_waitgroup_add(&live, 1);
		if (gf_go_attr(conn_main, c, &attr) < 0) {
			conn_unlink(c);
			gf_net_close(fd);
			free(c);
			gf_waitgroup_done(&live);
		}
	}
	gf_waitgroup_done(&live);
}

/* SIGTERM and SIGINT, blocked in every thread by main(), arrive here. */
static void signals(void *arg)
{
	sigset_t *set = arg;
	struct signalfd_siginfo si;
	int fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);

	if (fd < 0) {
		perror("httpd: signalfd");
		return;
	}
	while (gf_read(fd, &si, sizeof(si)) != sizeof(si))
		if (errno != EAGAIN && errno != EINTR)
			return;
	fprintf(stderr, "httpd: %s: shutting down\n", strsignal(si.ssi_signo));
	gf_chan_close(stop);
}

/* Wake every idle connection so that its fiber ends (see the top). */
static void shut_idle(void)
{
	struct conn *c;

	gf_mutex_lock(&conns_lock);
	for (c = conns.next; c != &conns; c = c->next)
		if (atomic_load(&c->state) == CONN_IDLE)
			shutdown(c->fd, SHUT_RD);
	gf_mutex_unlock(&conns_lock);
}

int server_run(void)
{
	static sigset_t set;
	int64_t id;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	listen_fd = gf_net_listen(httpd_cfg.addr, 4096);
	if (listen_fd < 0) {
		fprintf(stderr, "httpd: listen %s: %s\n", httpd_cfg.addr,
			strerror(errno));
		return 1;
	}
	stop = gf_chan_new(0, 0);
	if (!stop)
		return 1;
	own_ids[0] = gf_id();
	gf_waitgroup_add(&live, 1);
	own_ids[1] = gf_go(acceptor, NULL);
	own_ids[2] = gf_go(signals, &set);
	if (own_ids[1] < 0 || own_ids[2] < 0) {
		perror("httpd: gf_go");
		return 1;
	}
	fprintf(stderr, "httpd: listening on %s (pid %d)\n", httpd_cfg.addr,
		getpid());
	gf_chan_recv(stop, NULL);

	atomic_store(&draining, true);
	gf_net_close(listen_fd);
	shut_idle();
	if (gf_waitgroup_wait_until(&live,
			gf_timeout(httpd_cfg.shutdown_timeout)) == 0) {
		fprintf(stderr, "httpd: every connection ended\n");
		return 0;
	}
	id = atomic_load(&nconns);
	fprintf(stderr, "httpd: shutdown timeout: %lld connections cut off\n",
		(long long)id);
	return 1;
}
