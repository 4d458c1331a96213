// SPDX-License-Identifier: MIT
/*
 * http.c - HTTP/1.1 request heads in, responses out (RFC 9112).
 *
 * The parser works on the connection's input buffer as it fills: it
 * returns 0 until the blank line that ends the head has arrived, then
 * checks the whole head at once and points the request's fields into
 * the buffer (no copy). A head that does not fit in HTTP_MAX_HEAD bytes
 * is refused: 414 when the request line itself does not fit, 431 when
 * the header fields do not. Strict where leniency smuggles requests:
 * CRLF line ends only, no obsolete line folding, no space before the
 * colon, one Content-Length (or equal duplicates), never with
 * Transfer-Encoding. Chunked request bodies are not implemented: 501
 * (a client must send Content-Length).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpd.h"

/* RFC 9110 token characters. */
static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* field-value octets: visible, obs-text, space, tab */
static bool is_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool name_is(const struct http_header *h, const char *name)
{
	return h->name_len == strlen(name) &&
	       !strncasecmp(h->name, name, h->name_len);
}

/* Does the comma-separated list v[0..n) hold token tok? */
static bool list_has(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i = 0, j;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		j = i;
		while (j < n && v[j] != ',')
			j++;
		size_t e = j;

		while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - i == tl && !strncasecmp(v + i, tok, tl))
			return true;
		i = j;
	}
	return false;
}

/* Request line: method SP origin-form SP HTTP/1.d CRLF, at p[0..n). */
static int parse_request_line(const char *p, size_t n, struct http_request *r)
{
	size_t i = 0, s;

	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return -400;
	r->method = p;
	r->method_len = i++;
	s = i;
	while (i < n && p[i] > 0x20 && p[i] < 0x7f)
		i++;
	if (i == s || i >= n || p[i] != ' ' || p[s] != '/')
		return -400;
	r->target = p + s;
	r->target_len = i - s;
	i++;
	if (n - i != 8 || memcmp(p + i, "HTTP/", 5) || p[i + 6] != '.' ||
	    p[i + 5] < '0' || p[i + 5] > '9' || p[i + 7] < '0' || p[i + 7] > '9')
		return -400;
	if (p[i + 5] != '1')
		return -505;
	r->minor = p[i + 7] - '0';

	const char *q = memchr(r->target, '?', r->target_len);

	r->path = r->target;
	r->path_len = q ? (size_t)(q - r->target) : r->target_len;
	r->query = q ? q + 1 : r->target + r->target_len;
	r->query_len = r->target + r->target_len - r->query;
	r->head = r->method_len == 4 && !memcmp(r->method, "HEAD", 4);
	return 0;
}

/* One field line "name: value" at p[0..n), no CRLF. */
static int parse_field(const char *p, size_t n, struct http_header *h)
{
	size_t i = 0, e;

	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ':')
		return -400;	/* also obs-fold and "name :" */
	h->name = p;
	h->name_len = i++;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	e = n;
	while (e > i && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	for (size_t k = i; k < e; k++)
		if (!is_vchar(p[k]))
			return -400;
	h->value = p + i;
	h->value_len = e - i;
	return 0;
}

/* What the fields mean for framing and the connection. */
static int check_fields(struct http_request *r)
{
	int hosts = 0, lengths = 0;
	bool te = false, close = false, keep = false;

	r->content_length = 0;
	for (int i = 0; i < r->nheaders; i++) {
		const struct http_header *h = &r->headers[i];

		if (name_is(h, "host")) {
			hosts++;
		} else if (name_is(h, "content-length")) {
			int64_t v = 0;

			if (h->value_len == 0 || h->value_len > 18)
				return h->value_len > 18 ? -413 : -400;
			for (size_t k = 0; k < h->value_len; k++) {
				if (h->value[k] < '0' || h->value[k] > '9')
					return -400;
				v = v * 10 + (h->value[k] - '0');
			}
			if (lengths++ && v != r->content_length)
				return -400;
			r->content_length = v;
		} else if (name_is(h, "transfer-encoding")) {
			te = true;
		} else if (name_is(h, "connection")) {
			close |= list_has(h->value, h->value_len, "close");
			keep |= list_has(h->value, h->value_len, "keep-alive");
		}
	}
	if (r->minor >= 1 && hosts != 1)
		return -400;	/* RFC 9112 3.2: exactly one Host */
	if (hosts > 1)
		return -400;
	if (te)
		return lengths ? -400 : -501;	/* smuggling; chunked */
	if (r->content_length > HTTP_MAX_BODY)
		return -413;
	r->keep_alive = r->minor >= 1 ? !close : keep && !close;
	return 0;
}

int http_parse(const char *buf, size_t len, struct http_request *r)
{
	size_t lim = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
	const char *end = memmem(buf, lim, "\r\n\r\n", 4);
	const char *line = buf, *eol;
	int err;

	if (!end) {
		if (len < HTTP_MAX_HEAD) {
			/* a bad request line is answered before the head ends */
			eol = memmem(buf, len, "\r\n", 2);
			if (eol && (err = parse_request_line(buf, eol - buf, r)))
				return err;
			return 0;
		}
		return memmem(buf, lim, "\r\n", 2) ? -431 : -414;
	}
	memset(r, 0, offsetof(struct http_request, headers));
	r->nheaders = 0;
	eol = memmem(line, end + 2 - line, "\r\n", 2);
	err = parse_request_line(line, eol - line, r);
	if (err)
		return err;
	for (line = eol + 2; line < end + 2; line = eol + 2) {
		eol = memmem(line, end + 2 - line, "\r\n", 2);
		if (memchr(line, '\n', eol - line) || memchr(line, '\r', eol - line))
			return -400;	/* bare LF or CR */
		if (r->nheaders == HTTP_MAX_HEADERS)
			return -431;
		err = parse_field(line, eol - line, &r->headers[r->nheaders++]);
		if (err)
			return err;
	}
	err = check_fields(r);
	if (err)
		return err;
	r->head_len = end + 4 - buf;
	return (int)r->head_len;
}

const char *http_header_get(const struct http_request *r, const char *name,
			    size_t *len)
{
	for (int i = 0; i < r->nheaders; i++)
		if (name_is(&r->headers[i], name)) {
			*len = r->headers[i].value_len;
			return r->headers[i].value;
		}
	return NULL;
}

long http_query_int(const struct http_request *r, const char *key, long def)
{
	size_t kl = strlen(key), i = 0;

	while (i < r->query_len) {
		const char *p = r->query + i;
		const char *amp = memchr(p, '&', r->query_len - i);
		size_t n = amp ? (size_t)(amp - p) : r->query_len - i;

		if (n > kl && p[kl] == '=' && !memcmp(p, key, kl)) {
			long v = 0;
			size_t k;

			for (k = kl + 1; k < n && k < kl + 10; k++) {
				if (p[k] < '0' || p[k] > '9')
					return def;
				v = v * 10 + (p[k] - '0');
			}
			return k == n ? v : def;
		}
		i += n + 1;
	}
	return def;
}

static const char *reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static bool out_reserve(struct http_out *o, size_t n)
{
	if (o->failed)
		return false;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *b;

		while (cap < o->len + n)
			cap *= 2;
		b = realloc(o->buf, cap);
		if (!b) {
			o->failed = true;
			return false;
		}
		o->buf = b;
		o->cap = cap;
	}
	return true;
}

/*
 * The header fields in Go's order (sorted by name) and without Date, so
 * that "/" is byte for byte what bench/go's net/http peer sends.
 */
void http_reply(struct http_out *o, int status, const char *ctype,
		const char *body, size_t body_len, bool keep_alive, bool head)
{
	char h[256];
	int n = snprintf(h, sizeof(h),
			 "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\n"
			 "Content-Type: %s\r\n\r\n",
			 status, reason(status),
			 keep_alive ? "" : "Connection: close\r\n",
			 body_len, ctype);
	size_t blen = head ? 0 : body_len;

	if (!out_reserve(o, n + blen))
		return;
	memcpy(o->buf + o->len, h, n);
	if (blen)
		memcpy(o->buf + o->len + n, body, blen);
	o->len += n + blen;
}

void http_out_free(struct http_out *o)
{
	free(o->buf);
	o->buf = NULL;
	o->len = o->cap = 0;
}
