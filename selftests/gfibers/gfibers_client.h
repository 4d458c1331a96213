/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gfibers_client.h - a raw client of the gfibers ABI for the selftests:
 * open /dev/gfibers, set a table up, grow and map it, write slots with the
 * seqcount protocol, and read /proc/gfibers back. No libgfiber.
 */
#ifndef GFIBERS_CLIENT_H
#define GFIBERS_CLIENT_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uapi/gfibers.h"

#define GFC_DEV		"/dev/gfibers"
#define GFC_PROC	"/proc/gfibers"
#define GFC_STATS	"/proc/gfibers_stats"
#define GFC_PARAMS	"/sys/module/gfibers/parameters/"

/* Columns of /proc/gfibers, version 1. */
enum {
	GFC_PID, GFC_FIBER, GFC_PARENT, GFC_TID, GFC_STATUS, GFC_WAIT_MS,
	GFC_WAIT_OBJ, GFC_WAIT_PC, GFC_CREATE_PC, GFC_SAVED_PC, GFC_SAVED_SP,
	GFC_SAVED_FP, GFC_COMM, GFC_REASON, GFC_SEQ, GFC_NCOLS
};

struct gfc {
	int fd;
	struct gfibers_header *hdr;
	struct gfibers_slot **chunks;
	unsigned int nr_chunks;
	unsigned int max_slots;
};

static inline int gfc_present(void)
{
	return access(GFC_DEV, F_OK) == 0;
}

/* Set up the table of descriptor @fd, map its header. 0 or -errno. */
static inline int gfc_setup(struct gfc *c, int fd)
{
	struct gfibers_setup setup = { .abi_version = GFIBERS_ABI_VERSION };
	int err;

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	if (ioctl(c->fd, GFIBERS_IOC_SETUP, &setup))
		goto err_close;
	c->max_slots = setup.max_slots;
	c->hdr = mmap(NULL, GFIBERS_HEADER_SIZE, PROT_READ | PROT_WRITE,
		      MAP_SHARED, c->fd, 0);
	if (c->hdr == MAP_FAILED)
		goto err_close;
	return 0;
err_close:
	err = -errno;
	close(c->fd);
	c->fd = -1;
	c->hdr = NULL;
	return err;
}

/* Open and set up a table, map its header. 0 or -errno. */
static inline int gfc_open(struct gfc *c)
{
	int fd = open(GFC_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		memset(c, 0, sizeof(*c));
		c->fd = -1;
		return -errno;
	}
	return gfc_setup(c, fd);
}

/* Add and map one chunk. Its index, or -errno. */
static inline int gfc_grow(struct gfc *c)
{
	struct gfibers_slot **chunks;
	void *p;
	int k;

	k = ioctl(c->fd, GFIBERS_IOC_GROW, 0);
	if (k < 0)
		return -errno;
	if ((unsigned int)k != c->nr_chunks)
		return -EPROTO;
	p = mmap(NULL, GFIBERS_CHUNK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 c->fd, GFIBERS_CHUNK_OFFSET(k));
	if (p == MAP_FAILED)
		return -errno;
	chunks = realloc(c->chunks, (k + 1) * sizeof(*chunks));
	if (!chunks)
		return -ENOMEM;
	chunks[k] = p;
	c->chunks = chunks;
	c->nr_chunks = k + 1;
	return k;
}

/* Grow until at least @n slots exist. 0 or -errno. */
static inline int gfc_reserve(struct gfc *c, unsigned int n)
{
	int k;

	while (c->nr_chunks * GFIBERS_CHUNK_SLOTS < n) {
		k = gfc_grow(c);
		if (k < 0)
			return k;
	}
	return 0;
}

static inline struct gfibers_slot *gfc_slot(struct gfc *c, unsigned int i)
{
	return &c->chunks[i / GFIBERS_CHUNK_SLOTS][i % GFIBERS_CHUNK_SLOTS];
}

static inline void gfc_close(struct gfc *c)
{
	unsigned int k;

	for (k = 0; k < c->nr_chunks; k++)
		munmap(c->chunks[k], GFIBERS_CHUNK_SIZE);
	if (c->hdr && c->hdr != MAP_FAILED)
		munmap(c->hdr, GFIBERS_HEADER_SIZE);
	free(c->chunks);
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* The writer side of the seqcount protocol (as ulib/registry.c). */
static inline void gfc_begin(uint32_t *seq)
{
	__atomic_store_n(seq, *seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void gfc_end(uint32_t *seq)
{
	__atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE);
}

/* Store every field of @v (but seq) into @s. */
static inline void gfc_write(struct gfibers_slot *s,
			     const struct gfibers_slot *v)
{
	gfc_begin(&s->seq);
	s->status = v->status;
	s->fiber_id = v->fiber_id;
	s->parent_id = v->parent_id;
	s->wait_reason = v->wait_reason;
	s->tid = v->tid;
	s->wait_obj = v->wait_obj;
	s->wait_pc = v->wait_pc;
	s->saved_pc = v->saved_pc;
	s->saved_sp = v->saved_sp;
	s->saved_fp = v->saved_fp;
	s->wait_since_ns = v->wait_since_ns;
	s->create_pc = v->create_pc;
	gfc_end(&s->seq);
}

static inline void gfc_release(struct gfibers_slot *s)
{
	gfc_begin(&s->seq);
	s->status = GFIBERS_GDEAD;
	s->fiber_id = 0;
	gfc_end(&s->seq);
}

static inline void gfc_set_reason(struct gfc *c, unsigned int i,
				  const char *name)
{
	struct gfibers_reason *r = &c->hdr->reasons[i];

	gfc_begin(&r->seq);
	strncpy(r->name, name, sizeof(r->name) - 1);
	gfc_end(&r->seq);
}

static inline uint64_t gfc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* A fully populated waiting slot, every field distinct, from @id. */
static inline void gfc_sample(struct gfibers_slot *v, uint64_t id)
{
	memset(v, 0, sizeof(*v));
	v->status = GFIBERS_GWAITING;
	v->fiber_id = id;
	v->parent_id = id + 1000000;
	v->wait_reason = GFIBERS_WAIT_CHAN_RECV;
	v->tid = getpid();
	v->wait_obj = 0x7f0000001000ull + id * 16;
	v->wait_pc = 0x401000ull + id;
	v->saved_pc = 0x402000ull + id;
	v->saved_sp = 0x7ffd00000000ull + id * 64;
	v->saved_fp = 0x7ffd00001000ull + id * 64;
	v->wait_since_ns = gfc_now_ns();
	v->create_pc = 0x403000ull + id;
}

/*
 * Read all of @fd from offset 0 into a NUL-terminated malloc'd buffer and
 * close it; NULL on error.
 */
static inline char *gfc_slurp_fd(int fd, size_t *lenp)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap), *nb;
	ssize_t n;

	if (fd < 0 || !buf || lseek(fd, 0, SEEK_SET)) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				close(fd);
				return NULL;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			free(buf);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	if (lenp)
		*lenp = len;
	return buf;
}

/* Read a whole file into a NUL-terminated malloc'd buffer; NULL on error. */
static inline char *gfc_slurp(const char *path, size_t *lenp)
{
	return gfc_slurp_fd(open(path, O_RDONLY | O_CLOEXEC), lenp);
}

/*
 * Split the line at @line (up to '\n') into its tab-separated columns,
 * copied into @cols (each up to 63 bytes). Returns the number of columns.
 */
static inline int gfc_split(const char *line, char cols[GFC_NCOLS][64])
{
	int n = 0, j = 0;

	memset(cols, 0, GFC_NCOLS * 64);
	for (; *line && *line != '\n'; line++) {
		if (*line == '\t') {
			if (++n >= GFC_NCOLS)
				return n;
			j = 0;
			continue;
		}
		if (j < 63)
			cols[n][j++] = *line;
	}
	return n + 1;
}

/*
 * Find the line of fiber @fiber of pid @pid in @buf (a /proc/gfibers
 * dump); fill @cols. Returns 1 if found, 0 if not.
 */
static inline int gfc_find(const char *buf, int pid, uint64_t fiber,
			   char cols[GFC_NCOLS][64])
{
	const char *line;

	for (line = buf; line && *line; line = strchr(line, '\n'),
	     line = line ? line + 1 : NULL) {
		if (*line == '#')
			continue;
		if (gfc_split(line, cols) != GFC_NCOLS)
			continue;
		if (atoi(cols[GFC_PID]) == pid &&
		    strtoull(cols[GFC_FIBER], NULL, 10) == fiber)
			return 1;
	}
	return 0;
}

/*
 * Count the data lines of pid @pid (any pid if @pid < 0) in @buf whose
 * column @col is @val (any value if @val is NULL).
 */
static inline long gfc_count_col(const char *buf, int pid, int col,
				 const char *val)
{
	char cols[GFC_NCOLS][64];
	const char *line;
	long n = 0;

	for (line = buf; line && *line; line = strchr(line, '\n'),
	     line = line ? line + 1 : NULL) {
		if (*line == '#' || *line == '\n')
			continue;
		if (gfc_split(line, cols) != GFC_NCOLS)
			continue;
		if (pid >= 0 && atoi(cols[GFC_PID]) != pid)
			continue;
		if (val && strcmp(cols[col], val))
			continue;
		n++;
	}
	return n;
}

/* Count the data lines of pid @pid (any pid if @pid < 0) in @buf. */
static inline long gfc_count(const char *buf, int pid, const char *status)
{
	return gfc_count_col(buf, pid, GFC_STATUS, status);
}

/* A counter of /proc/gfibers_stats, or -1. */
static inline long gfc_stat(const char *key)
{
	char *buf = gfc_slurp(GFC_STATS, NULL), *p;
	size_t klen = strlen(key);
	long v = -1;

	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == ' ') {
			v = atol(p + klen + 1);
			break;
		}
	}
	free(buf);
	return v;
}

/* Read module parameter @name into @val (size @len). 0 or -errno. */
/* Read a small text file (first line, no newline) into @val. 0 or -errno. */
static inline int gfc_read_line(const char *path, char *val, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, val, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	val[n] = '\0';
	val[strcspn(val, "\n")] = '\0';
	return 0;
}

static inline int gfc_param_get(const char *name, char *val, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), GFC_PARAMS "%s", name);
	return gfc_read_line(path, val, len);
}

static inline int gfc_param_set(const char *name, const char *val)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), GFC_PARAMS "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

/*
 * A child sets up @n fibers, leaves slot 0 mid-update if @odd, reports
 * through a pipe and then stops itself or waits to be killed.
 */
static inline pid_t gfc_spawn_writer(int n, int odd, int stop)
{
	int p[2];
	pid_t pid;
	char x;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct gfibers_slot v;
		struct gfc c;
		int i;

		close(p[0]);
		if (gfc_open(&c) || gfc_reserve(&c, n))
			_exit(1);
		for (i = 0; i < n; i++) {
			gfc_sample(&v, i + 1);
			gfc_write(gfc_slot(&c, i), &v);
		}
		if (odd)
			gfc_begin(&gfc_slot(&c, 0)->seq);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		if (stop)
			raise(SIGSTOP);
		for (;;)
			pause();
	}
	close(p[1]);
	if (pid > 0 && read(p[0], &x, 1) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(p[0]);
	return pid;
}

#endif /* GFIBERS_CLIENT_H */
