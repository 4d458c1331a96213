// SPDX-License-Identifier: GPL-2.0
/*
 * pressure_test.c - the library under resource exhaustion: address space
 * (RLIMIT_AS), mappings (vm.max_map_count) and file descriptors
 * (RLIMIT_NOFILE). Each limit hit must be an error of the call that hit
 * it (-1 with errno), never an abort or a fault later; the fibers already
 * running must go on; and once the resource is back, the same call must
 * work again.
 *
 * The harness runs every TEST in a forked child, so the limits lowered
 * and the mappings taken here end with the test. GF_PROCS=1 where the
 * address space or the map count is exhausted: a new thread would need
 * a stack of its own, and failing to start one is still fatal (see
 * docs/ulib.md). The limit is set relative to what the process holds,
 * so ASan's reserved shadow does not matter; TSan's runtime cannot live
 * without new mappings, so those two tests skip under it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "gftest.h"

/* The number after key in a small /proc file (key NULL: the first). */
static long proc_long(const char *path, const char *key)
{
	char buf[4096], *at;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	at = key ? strstr(buf, key) : buf;
	if (!at)
		return -1;
	return strtol(at + (key ? strlen(key) : 0), NULL, 10);
}

/* ------------------------------------------------------------ echo fibers */

/*
 * Fibers that prove the runtime still works: each takes values from in
 * and sends them back plus one on out, until in is closed. Both channels
 * are unbuffered, so one round with n values needs n live echo fibers.
 */
struct echo {
	gf_chan_t *in, *out;
};

static void echo_fiber(void *arg)
{
	struct echo *e = arg;
	long v;

	while (gf_chan_recv(e->in, &v) == 0) {
		v++;
		if (gf_chan_send(e->out, &v))
			break;
	}
}

/* Send 0..n-1 through n echo fibers; true when every reply came back. */
static bool echo_round(struct echo *e, long n)
{
	long i, v, sum = 0;

	for (i = 0; i < n; i++)
		if (gf_chan_send(e->in, &i))
			return false;
	for (i = 0; i < n; i++) {
		if (gf_chan_recv(e->out, &v) != 0)
			return false;
		sum += v;
	}
	return sum == n * (n + 1) / 2;
}

static bool echo_init(struct echo *e)
{
	e->in = gf_chan_new(sizeof(long), 0);
	e->out = gf_chan_new(sizeof(long), 0);
	return e->in && e->out;
}

/*
 * Close in, wait until every echo fiber has exited (they share the
 * creator's references), then drop the channels. Returns how many leaked.
 */
static int echo_fini(struct echo *e)
{
	int leaked;

	gf_chan_close(e->in);
	leaked = gf_leakcheck(2, NULL, 0, gf_timeout(2000 * MS));
	gf_chan_unref(e->in);
	gf_chan_unref(e->out);
	return leaked;
}

/*
 * Spawn echo fibers until gf_go fails or max are made. Returns how many
 * were made; *err is the failing call's errno (0: none failed).
 */
static long spawn_until_error(struct echo *e, long max, int *err)
{
	long n;

	*err = 0;
	for (n = 0; n < max; n++) {
		if (gf_go(echo_fiber, e) < 0) {
			*err = errno;
			break;
		}
	}
	return n;
}

/*
 * The resource is exhausted: spawning (both kinds of stack) fails with
 * ENOMEM, and the n echo fibers made before still run. Returns how many
 * echo fibers there are now.
 */
static long spawn_refused(struct echo *e, const gf_attr_t *big, long n)
{
	GFT_FIBER;
	int err;

	n += spawn_until_error(e, 128, &err);
	EXPECT_EQ(ENOMEM, err);
	EXPECT_EQ(-1, gf_go_attr(echo_fiber, e, big));
	EXPECT_EQ(ENOMEM, errno);
	/* What exists still runs: channels, timers, switches. */
	EXPECT_TRUE(echo_round(e, n));
	EXPECT_EQ(0, gf_sleep(MS));
	return n;
}

/* The resource is back: both kinds of stack can be had again. */
static void spawn_recovered(struct echo *e, const gf_attr_t *big, long n)
{
	GFT_FIBER;

	EXPECT_GT(gf_go(echo_fiber, e), 0);
	EXPECT_GT(gf_go_attr(echo_fiber, e, big), 0);
	EXPECT_TRUE(echo_round(e, n + 2));
	EXPECT_EQ(0, echo_fini(e));
}

/* ------------------------------------------------------------ RLIMIT_AS */

/* Less than one arena (64 default stacks: 4.25 MiB), more than the heap
 * and the G descriptors need meanwhile. */
#define AS_SLACK (1l << 20)

static int as_main(void *arg)
{
	GFT_FIBER;
	gf_attr_t big = { .name = "big", .stack_size = 2 << 20 };
	struct rlimit old, low;
	struct echo e;
	long n, vm_kb;
	int err;

	(void)arg;
	EXPECT_TRUE(echo_init(&e));
	n = spawn_until_error(&e, 2, &err);
	EXPECT_EQ(0, err);
	vm_kb = proc_long("/proc/self/status", "VmSize:");
	EXPECT_GT(vm_kb, 0);
	EXPECT_EQ(0, getrlimit(RLIMIT_AS, &old));
	low = old;
	low.rlim_cur = (rlim_t)(vm_kb << 10) + AS_SLACK;
	EXPECT_EQ(0, setrlimit(RLIMIT_AS, &low));

	/* The current arena's free slots serve, then a new one is refused. */
	n = spawn_refused(&e, &big, n);
	EXPECT_LT(n, 64);

	EXPECT_EQ(0, setrlimit(RLIMIT_AS, &old));
	spawn_recovered(&e, &big, n);
	return 0;
}

TEST(rlimit_as_spawn_fails_then_recovers)
{
#ifdef GFT_TSAN
	SKIP(return, "TSan maps its own state for each fiber, and dies "
	     "(\"internal allocator is out of memory\") under the limit");
#endif
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(as_main, NULL);
}

/* ------------------------------------------------------------ max_map_count */

/* Above this the test would spend seconds (and kernel memory) mapping. */
#define MAP_COUNT_MAX (1l << 18)

struct maps {
	long max;		/* vm.max_map_count */
	void **pages;		/* the pages mapped to reach it */
	long n;
};

/*
 * Take mappings until mmap fails: single pages, alternately readable and
 * not, so that no two neighbours merge into one VMA. Returns mmap's errno.
 */
static int maps_fill(struct maps *m)
{
	long pg = sysconf(_SC_PAGESIZE);

	for (m->n = 0; m->n < m->max + 16; m->n++) {
		int prot = m->n & 1 ? PROT_READ : PROT_NONE;
		void *p = mmap(NULL, (size_t)pg, prot,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return errno;
		m->pages[m->n] = p;
	}
	return 0;
}

static void maps_release(struct maps *m, long keep)
{
	long pg = sysconf(_SC_PAGESIZE);

	while (m->n > keep)
		munmap(m->pages[--m->n], (size_t)pg);
}

static int maps_main(void *arg)
{
	GFT_FIBER;
	gf_attr_t big = { .name = "big", .stack_size = 128 << 10 };
	struct maps *m = arg;
	struct echo e;
	long n;
	int err;

	EXPECT_TRUE(echo_init(&e));
	n = spawn_until_error(&e, 2, &err);
	EXPECT_EQ(0, err);

	EXPECT_EQ(ENOMEM, maps_fill(m));
	EXPECT_LT(m->n, m->max);
	/*
	 * A few VMAs back: some guards may be made, then a guard's split
	 * (or a new arena, or a stack of its own) is refused.
	 */
	maps_release(m, m->n - 4);
	n = spawn_refused(&e, &big, n);

	maps_release(m, 0);
	spawn_recovered(&e, &big, n);
	return 0;
}

TEST(max_map_count_spawn_fails_then_recovers)
{
	struct maps m = {
		.max = proc_long("/proc/sys/vm/max_map_count", NULL),
	};

#ifdef GFT_TSAN
	SKIP(return, "TSan maps its own state for each fiber, and dies "
	     "(\"can not mmap thread trace\") when no mapping is left");
#endif
	if (m.max <= 0 || m.max > MAP_COUNT_MAX)
		SKIP(return, "vm.max_map_count is %ld: too many mappings to "
		     "fill in a test (at most %ld)", m.max, MAP_COUNT_MAX);
	/* allocated now: nothing can be once the mappings are gone */
	m.pages = calloc((size_t)m.max + 16, sizeof(*m.pages));
	ASSERT_NE(NULL, m.pages);
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(maps_main, &m);
	free(m.pages);
}

/* ------------------------------------------------------------ RLIMIT_NOFILE */

/* Low enough to fill in no time, above what the harness and the
 * sanitizers hold. */
#define NOFILE_LOW 256

struct fds {
	int pipe[2];		/* empty: its read end would block */
	int held[NOFILE_LOW];	/* /dev/null, opened until EMFILE */
	int n;
};

/* Open /dev/null until EMFILE; returns open's errno. */
static int fds_fill(struct fds *f)
{
	while (f->n < NOFILE_LOW) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return errno;
		f->held[f->n++] = fd;
	}
	return 0;
}

static void fds_release(struct fds *f, int keep)
{
	while (f->n > keep)
		close(f->held[--f->n]);
}

static void write_later(void *arg)
{
	GFT_FIBER;
	int *fd = arg;

	gf_sleep(MS);
	EXPECT_EQ(1, gf_write(*fd, "x", 1));
}

static int nofile_main(void *arg)
{
	GFT_FIBER;
	struct fds *f = arg;
	char c = 0;
	int fd;

	/*
	 * The runtime started without a free fd: the poller is made by the
	 * first IO wait, and that wait reports why it cannot be.
	 */
	EXPECT_EQ(-1, gf_wait_fd_until(f->pipe[0], EPOLLIN, gf_timeout(MS)));
	EXPECT_EQ(EMFILE, errno);
	EXPECT_EQ(-1, gf_read(f->pipe[0], &c, 1));
	EXPECT_EQ(EMFILE, errno);
	/* Timers do not need it. */
	EXPECT_EQ(0, gf_sleep(MS));

	/* One fd free: the epoll fd, but no eventfd; the first is closed. */
	fds_release(f, f->n - 1);
	EXPECT_EQ(-1, gf_wait_fd_until(f->pipe[0], EPOLLIN, GF_NOWAIT));
	EXPECT_EQ(EMFILE, errno);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	EXPECT_GE(fd, 0);
	EXPECT_EQ(-1, open("/dev/null", O_RDONLY | O_CLOEXEC));
	close(fd);

	/* Two: a later call makes the poller, and it works. */
	fds_release(f, f->n - 1);
	EXPECT_EQ(-1, gf_wait_fd_until(f->pipe[0], EPOLLIN, gf_timeout(MS)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_GT(gf_go(write_later, &f->pipe[1]), 0);
	EXPECT_EQ(1, gf_read(f->pipe[0], &c, 1));
	EXPECT_EQ('x', c);

	/* Once made, it needs no new fd: exhaustion no longer matters. */
	EXPECT_EQ(EMFILE, fds_fill(f));
	EXPECT_EQ(-1, gf_wait_fd_until(f->pipe[0], EPOLLIN, gf_timeout(MS)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_GT(gf_go(write_later, &f->pipe[1]), 0);
	EXPECT_EQ(1, gf_read(f->pipe[0], &c, 1));
	EXPECT_EQ(0, gf_leakcheck(2, NULL, 0, gf_timeout(2000 * MS)));
	return 0;
}

/*
 * Also: the SIGQUIT dumper's pipe could not be had at start, and that
 * is said on stderr (captured here in a file made before the fill).
 */
TEST(nofile_poller_fails_then_recovers)
{
	struct rlimit low;
	static struct fds f;
	static char said[4096];
	FILE *cap = tmpfile();
	int saved = dup(2), ret;
	ssize_t n;

	ASSERT_TRUE(cap && saved >= 0);
	ASSERT_EQ(0, pipe2(f.pipe, O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &low));
	ASSERT_GT(low.rlim_max, (rlim_t)NOFILE_LOW);
	low.rlim_cur = NOFILE_LOW;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
	ASSERT_EQ(EMFILE, fds_fill(&f));
	fflush(stderr);
	dup2(fileno(cap), 2);
	ret = gft_main(_metadata, nofile_main, &f);
	fflush(stderr);
	dup2(saved, 2);
	fds_release(&f, 0);
	n = pread(fileno(cap), said, sizeof(said) - 1, 0);
	said[n > 0 ? n : 0] = 0;
	fclose(cap);
	fputs(said, stderr);	/* the run's own log, as it would have been */
	ASSERT_EQ(0, ret);
	EXPECT_NE(NULL, strstr(said, "libgfiber: SIGQUIT dumps off: pipe2: Too many open files"));
	/* No module here: nothing to say of it, EMFILE or not. */
	if (access("/dev/gfibers", F_OK))
		EXPECT_EQ(NULL, strstr(said, "not registered"));
}

TEST_HARNESS_MAIN
