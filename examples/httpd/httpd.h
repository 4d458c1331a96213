/* SPDX-License-Identifier: MIT */
/*
 * httpd.h - an HTTP/1.1 server on gfibers: one fiber per connection.
 *
 * The pieces, one per file:
 *	main.c		flags, signals (SIGTERM: graceful shutdown), start
 *	server.c	the listener, the connection fibers (keep-alive,
 *			pipelining, idle and request timeouts), shutdown
 *	http.c		the request parser and the response writer
 *	handlers.c	the router and the handlers (/, /fanout, /sleep,
 *			/echo, /stats, /leakcheck)
 *
 * Deadlines are gf_deadline_t (gf_timeout(duration)), as everywhere in
 * the library; they are computed in server.c (request, idle, shutdown) and
 * handlers.c (the fan-out's own) only. Sockets are the library's
 * (gf_net_*): every wait on them parks the fiber in "IO wait".
 */
#ifndef HTTPD_H
#define HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gfiber.h"

#define NS_PER_MS	1000000LL

/* Limits of one request. */
#define HTTP_MAX_HEAD	8192	/* request line and headers, bytes */
#define HTTP_MAX_HEADERS 64	/* header fields */
#define HTTP_MAX_BODY	(1 << 20)	/* Content-Length bodies */

/* The server's settings, from the command line (main.c). */
struct httpd_config {
	const char *addr;		/* "host:port" */
	int64_t request_timeout;	/* ns: first byte to full request */
	int64_t idle_timeout;		/* ns: keep-alive wait for a request */
	int64_t shutdown_timeout;	/* ns: in-flight requests after SIGTERM */
	bool leak;			/* /fanout leaks its workers */
};
extern struct httpd_config httpd_cfg;

/* One header field, pointing into the connection's input buffer. */
struct http_header {
	const char *name, *value;
	size_t name_len, value_len;
};

/* A parsed request; every pointer points into the input buffer. */
struct http_request {
	const char *method, *target, *path, *query;
	size_t method_len, target_len, path_len, query_len;
	int minor;			/* HTTP/1.minor */
	struct http_header headers[HTTP_MAX_HEADERS];
	int nheaders;
	size_t head_len;		/* bytes of request line and headers */
	int64_t content_length;		/* 0 when absent */
	bool keep_alive;		/* as the request asks */
	bool head;			/* method HEAD: no body in the reply */
	const char *body;		/* content_length bytes, once read */
};

/*
 * http_parse - parse the request head at buf[0..len).
 * Returns the head's length (> 0) with *req filled, 0 when more bytes
 * are needed, or an error status to answer with (400, 414, 431, 501,
 * 505, 413, > 0 but negated: -400...) for a request that cannot be
 * served. The body, if any, follows the head in the buffer.
 */
int http_parse(const char *buf, size_t len, struct http_request *req);

/* http_header_get - value of the first field named name, or NULL. */
const char *http_header_get(const struct http_request *req,
			    const char *name, size_t *len);

/* http_query_int - integer parameter key of the query string, or def. */
long http_query_int(const struct http_request *req, const char *key,
		    long def);

/* An output buffer: responses are appended, written when no further
 * pipelined request is already waiting (one write per batch). */
struct http_out {
	char *buf;
	size_t len, cap;
	bool failed;			/* out of memory: the conn closes */
};

/* http_reply - append a whole response: status line, Content-Length,
 * Content-Type, Connection: close when !keep_alive, then the body
 * (unless head). The same bytes as bench/go's net/http for "/". */
void http_reply(struct http_out *o, int status, const char *ctype,
		const char *body, size_t body_len, bool keep_alive, bool head);
void http_out_free(struct http_out *o);

/* The handler's view of one request: it answers with http_reply. */
struct http_ctx {
	struct http_request *req;
	struct http_out *out;
	bool keep_alive;	/* the connection may stay open */
};

/* route - run the handler of req's path (handlers.c). */
void route(struct http_ctx *ctx);

/* server.c */
int server_run(void);
int64_t server_fiber_ids(int64_t *ids, size_t n);	/* long-lived ones */
int server_connections(void);			/* open now */
bool server_draining(void);			/* shutdown began */

#endif /* HTTPD_H */
