/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gftest.h - shared helpers of libgfiber's host tests.
 *
 * kselftest_harness runs each TEST in a forked child, so each test starts
 * a fresh runtime with gf_main(). ASSERT_* longjmps out of the test: it
 * must not be used inside a fiber (the jump would cross stacks), so
 * fiber code uses EXPECT_* through GFT_FIBER (a _metadata for fibers)
 * and the test body ASSERTs on gf_main's result.
 *
 * Sanitizers: ASan and TSan make every fiber switch and every memory
 * access several times dearer, and TSan keeps a large state per fiber
 * (and at most 8128 fibers and threads alive),
 * so stress sizes are divided by GFT_SCALE under them (the same code
 * paths run, only fewer times), keeping each program under a minute on
 * a 2-core machine.
 */
#ifndef GFTEST_H
#define GFTEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
/* fibers migrate: errno through gf_errno_location() (see gfiber.h) */
#define GF_ERRNO_SAFE
#include "gfiber.h"

#if defined(__SANITIZE_ADDRESS__)
#define GFT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define GFT_TSAN 1
#endif

/*
 * The chaos build (-DGF_CHAOS, ulib/chaos.c) delays one race point in
 * eight by up to 200 us: its point is the interleavings, not the volume,
 * so its stress loops are ten times shorter again (a 64-pair ping-pong on
 * 8 Ps ran past the harness's 30 s on a loaded 2-core machine).
 */
#if defined(GF_CHAOS)
#define GFT_CHAOS_SCALE 10
#else
#define GFT_CHAOS_SCALE 1
#endif

#if defined(GFT_TSAN)
#define GFT_SCALE (100 * GFT_CHAOS_SCALE)
#elif defined(GFT_ASAN)
#define GFT_SCALE (10 * GFT_CHAOS_SCALE)
#else
#define GFT_SCALE (1 * GFT_CHAOS_SCALE)
#endif

/* Durations, short: gfiber.h's units. */
#define MS	GF_MILLISECOND
#define SEC	GF_SECOND

/* call fails with errno e. */
#define EXPECT_ERR(e, call)						\
	do {								\
		errno = 0;						\
		EXPECT_EQ(-1, (call));					\
		EXPECT_EQ((e), errno);					\
	} while (0)

static struct __test_metadata *gft_md;

/* In a fiber: declare the _metadata the EXPECT_* macros use. */
#define GFT_FIBER \
	struct __test_metadata *_metadata __attribute__((unused)) = gft_md

static inline int gft_main(struct __test_metadata *md, int (*fn)(void *),
			   void *arg)
{
	gft_md = md;
	return gf_main(fn, arg);
}

/* Run fn(arg) as the main fiber; the test fails unless it returns 0. */
#define GFT_RUN(fn, arg) ASSERT_EQ(0, gft_main(_metadata, (fn), (arg)))

/*
 * Run fn in a forked child with stderr captured into buf; returns the
 * child's wait status.
 */
static inline int gft_fork_capture(void (*fn)(void), char *buf, size_t n)
{
	int pfd[2], status = 0;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], 2);
		dup2(pfd[1], 1);
		fn();
		_exit(0);
	}
	close(pfd[1]);
	for (;;) {
		char tmp[4096];

		r = read(pfd[0], tmp, sizeof(tmp));
		if (r <= 0)
			break;
		/* keep draining once full: the child must not block */
		if (got + 1 < n) {
			size_t k = (size_t)r < n - 1 - got ? (size_t)r
							    : n - 1 - got;

			memcpy(buf + got, tmp, k);
			got += k;
		}
	}
	buf[got] = 0;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return status;
}

/*
 * gf_dump's output as a string, in a static buffer valid until the next
 * call (fiber stacks are too small for it), through a temporary file (a
 * pipe would fill up before it is read).
 */
static inline const char *gft_dump(void)
{
	static char buf[1 << 16];
	FILE *f = tmpfile();
	size_t got;

	if (!f)
		return "";
	gf_dump(fileno(f));
	rewind(f);
	got = fread(buf, 1, sizeof(buf) - 1, f);
	buf[got] = 0;
	fclose(f);
	return buf;
}

/*
 * Whether dump d has head (a fiber's header and frame, "created by fn in
 * fiber N\n\t", ...) followed on its line by file:line then tail (" +0x":
 * an offset; "\n": none, an inlined call's). The path is the compiler's:
 * gcc's as it was given, clang's absolute.
 */
static inline int gft_dump_has(const char *d, const char *head,
			       const char *file, int line, const char *tail)
{
	char want[512];
	const char *s, *w, *eol;

	snprintf(want, sizeof(want), "%s:%d%s", file, line, tail);
	for (s = d; (s = strstr(s, head)); s++) {
		s += strlen(head);
		eol = strchr(s, '\n');
		w = strstr(s, want);
		if (w && (!eol || w <= eol))
			return 1;
	}
	return 0;
}

#endif /* GFTEST_H */
