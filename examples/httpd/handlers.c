// SPDX-License-Identifier: MIT
/*
 * handlers.c - the router and the handlers.
 *
 *	GET /			"Hello, World!\n" (bench/go's bytes)
 *	GET /fanout?n=&ms=&deadline=
 *				n worker fibers, fed jobs over a channel;
 *				worker i works i*ms ms and replies over
 *				another; the handler collects until the
 *				deadline (ms) and says how many replied
 *	GET /sleep?ms=		answers after ms (shutdown tests)
 *	POST /echo		the request body back (Content-Length)
 *	GET /stats		gf_num_fibers() and open connections
 *	GET /leakcheck?ms=	gf_leakcheck(): fibers other than the
 *				server's own and this one that do not end
 *				within ms, with their dumps
 *
 * --leak makes /fanout return on timeout without its cleanup: the job
 * channel is never closed, so workers that replied wait for another
 * job forever ("chan receive" in fanout_worker), and the late replies
 * are never received, so late workers wait in "chan send" forever.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "httpd.h"

/*
 * Decided as the response is written, not as the request arrived: a
 * request in flight when shutdown begins is answered "Connection: close".
 */
static bool ctx_keep_alive(struct http_ctx *c)
{
	c->keep_alive = c->keep_alive && !server_draining();
	return c->keep_alive;
}

static const char hello[] = "Hello, World!\n";
#define TEXT "text/plain; charset=utf-8"

static bool path_is(const struct http_request *r, const char *p)
{
	return r->path_len == strlen(p) && !memcmp(r->path, p, r->path_len);
}

static bool method_is(const struct http_request *r, const char *m)
{
	return r->method_len == strlen(m) && !memcmp(r->method, m, r->method_len);
}

static void reply_text(struct http_ctx *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reply_text(struct http_ctx *c, int status, const char *fmt, ...)
{
	char body[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(body))
		n = sizeof(body) - 1;
	http_reply(c->out, status, TEXT, body, n, ctx_keep_alive(c),
		   c->req->head);
}

/* ------------------------------------------------------------ fan-out */

struct fanout_job {
	int idx;		/* which worker's share */
	int64_t work;		/* ns of "work" (a sleep) */
};

/* A worker's own references to the request's two channels. */
struct fanout_refs {
	gf_chan_t *jobs, *replies;
};

static void fanout_worker(void *arg)
{
	struct fanout_refs *f = arg;
	struct fanout_job job;

	while (gf_chan_recv(f->jobs, &job) == 0) {	/* leak: chan receive */
		gf_sleep(job.work);
		if (gf_chan_send(f->replies, &job.idx))	/* leak: chan send */
			break;
	}
	gf_chan_unref(f->jobs);
	gf_chan_unref(f->replies);
	free(f);
}

/* Receives the replies the handler stopped waiting for, so that the
 * late workers can finish (Go: a buffered reply channel does this). */
struct fanout_drain {
	gf_chan_t *replies;
	long left;
};

static void fanout_drainer(void *arg)
{
	struct fanout_drain *d = arg;

	while (d->left-- > 0 && gf_chan_recv(d->replies, NULL) == 0)
		;
	gf_chan_unref(d->replies);
	free(d);
}

static struct fanout_refs *fanout_refs(gf_chan_t *jobs, gf_chan_t *replies)
{
	struct fanout_refs *f = malloc(sizeof(*f));

	if (f) {
		f->jobs = gf_chan_ref(jobs);
		f->replies = gf_chan_ref(replies);
	}
	return f;
}

static void handle_fanout(struct http_ctx *c)
{
	long n = http_query_int(c->req, "n", 4);
	long ms = http_query_int(c->req, "ms", 1);
	long dl = http_query_int(c->req, "deadline", 100);
	gf_attr_t attr = { .name = "fanout" };
	gf_chan_t *jobs, *replies;
	struct fanout_drain *d;
	gf_deadline_t deadline;
	long i, started = 0, got = 0;
	int idx;

	if (n < 1 || n > 1000 || ms < 0 || ms > 60000 || dl < 0 || dl > 60000) {
		reply_text(c, 400, "n 1-1000, ms and deadline 0-60000\n");
		return;
	}
	/* jobs buffered: dispatch never waits; replies unbuffered */
	jobs = gf_chan_new(sizeof(struct fanout_job), n);
	replies = gf_chan_new(sizeof(int), 0);
	if (!jobs || !replies)
		goto out_err;
	for (i = 0; i < n; i++) {
		struct fanout_refs *f = fanout_refs(jobs, replies);

		if (!f)
			break;
		if (gf_go_attr(fanout_worker, f, &attr) < 0) {
			gf_chan_unref(f->jobs);
			gf_chan_unref(f->replies);
			free(f);
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		struct fanout_job job = { .idx = i, .work = i * ms * NS_PER_MS };

		gf_chan_send(jobs, &job);
	}
	deadline = gf_timeout(dl * NS_PER_MS);
	while (got < started &&
	       gf_chan_recv_until(replies, &idx, deadline) == 0)
		got++;
	reply_text(c, 200, "fanout: %ld of %ld replied\n", got, n);
	if (got < started && httpd_cfg.leak) {
		/* The bug --leak shows: an early return on timeout that
		 * skips the cleanup below. */
		gf_chan_unref(jobs);
		gf_chan_unref(replies);
		return;
	}
	gf_chan_close(jobs);	/* workers end after their job */
	if (got < started) {
		d = malloc(sizeof(*d));
		if (d) {
			d->replies = gf_chan_ref(replies);
			d->left = started - got;
			if (gf_go(fanout_drainer, d) < 0) {
				gf_chan_unref(replies);
				free(d);
			}
		}
	}
	gf_chan_unref(jobs);
	gf_chan_unref(replies);
	return;
out_err:
	gf_chan_unref(jobs);
	gf_chan_unref(replies);
	reply_text(c, 500, "out of memory\n");
}

/* ------------------------------------------------------------ debug */

static void handle_leakcheck(struct http_ctx *c)
{
	long ms = http_query_int(c->req, "ms", 1000);
	int64_t ids[8];
	int64_t nids = server_fiber_ids(ids, 8);
	int fd = memfd_create("leakcheck", MFD_CLOEXEC);
	char *body = NULL;
	off_t size;
	int n;

	if (fd < 0)
		goto out_err;
	n = gf_leakcheck(fd, ids, nids, gf_timeout(ms * NS_PER_MS));
	size = lseek(fd, 0, SEEK_CUR);
	if (n < 0 || size < 0)
		goto out_err;
	body = malloc(size + 32);
	if (!body)
		goto out_err;
	int h = snprintf(body, 32, "leaked %d\n", n);

	if (pread(fd, body + h, size, 0) != size)
		goto out_err;
	http_reply(c->out, 200, TEXT, body, h + size, ctx_keep_alive(c),
		   c->req->head);
	free(body);
	close(fd);
	return;
out_err:
	free(body);
	if (fd >= 0)
		close(fd);
	reply_text(c, 500, "leakcheck: %s\n", strerror(errno));
}

static void handle_stats(struct http_ctx *c)
{
	reply_text(c, 200, "fibers %lld\nconnections %d\n",
		   (long long)gf_num_fibers(), server_connections());
}

static void handle_sleep(struct http_ctx *c)
{
	long ms = http_query_int(c->req, "ms", 100);

	if (ms < 0 || ms > 600000) {
		reply_text(c, 400, "ms 0-600000\n");
		return;
	}
	gf_sleep(ms * NS_PER_MS);
	reply_text(c, 200, "slept %ld ms\n", ms);
}

static void handle_echo(struct http_ctx *c)
{
	http_reply(c->out, 200, "application/octet-stream", c->req->body,
		   c->req->content_length, ctx_keep_alive(c), c->req->head);
}

/* ------------------------------------------------------------ router */

static const struct route {
	const char *path;
	const char *method;	/* and HEAD, for GET */
	void (*fn)(struct http_ctx *c);
} routes[] = {
	{ "/fanout", "GET", handle_fanout },
	{ "/sleep", "GET", handle_sleep },
	{ "/echo", "POST", handle_echo },
	{ "/stats", "GET", handle_stats },
	{ "/leakcheck", "GET", handle_leakcheck },
};

void route(struct http_ctx *c)
{
	const struct http_request *r = c->req;

	/* the benchmark's path first */
	if (path_is(r, "/")) {
		if (method_is(r, "GET") || r->head)
			http_reply(c->out, 200, TEXT, hello, sizeof(hello) - 1,
				   ctx_keep_alive(c), r->head);
		else
			reply_text(c, 405, "method not allowed\n");
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!path_is(r, routes[i].path))
			continue;
		if (method_is(r, routes[i].method) ||
		    (r->head && !strcmp(routes[i].method, "GET")))
			routes[i].fn(c);
		else
			reply_text(c, 405, "method not allowed\n");
		return;
	}
	reply_text(c, 404, "not found\n");
}
