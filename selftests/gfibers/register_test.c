// SPDX-License-Identifier: GPL-2.0
/*
 * A libgfiber program and the loaded module: registered when
 * /dev/gfibers can be used; when it exists but cannot be (no free
 * descriptor at start), the program runs unregistered and says so on
 * stderr, and GF_REQUIRE_KMOD=1 makes it gf_main's error with the errno
 * that stopped it (ulib/registry.c; include/gfiber.h, gf_main). Each
 * TEST runs in a process of its own: the runtime reads its environment
 * once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gfiber.h"

#define NOFILE_LOW 64

#define NEED_MODULE() do {						\
	if (access("/dev/gfibers", F_OK))				\
		SKIP(return, "/dev/gfibers absent: gfibers.ko not loaded"); \
} while (0)

static int mode_seen = -2;

static int note_mode(void *arg)
{
	(void)arg;
	mode_seen = gf_registry_mode();
	return 0;
}

struct run {
	int ret, err;		/* gf_main's */
	char said[4096];	/* its stderr */
};

/*
 * gf_main(note_mode) with stderr in a file; with @starve, every
 * descriptor below RLIMIT_NOFILE is taken first (kept until it returns).
 */
static void run_main(struct run *r, bool starve)
{
	FILE *cap = tmpfile();
	int saved = dup(2), held[NOFILE_LOW], n = 0, fd;
	struct rlimit lim;
	ssize_t got;

	if (!cap || saved < 0) {
		r->ret = -2;
		return;
	}
	if (starve) {
		getrlimit(RLIMIT_NOFILE, &lim);
		lim.rlim_cur = NOFILE_LOW;
		setrlimit(RLIMIT_NOFILE, &lim);
		while (n < NOFILE_LOW &&
		       (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
			held[n++] = fd;
	}
	fflush(stderr);
	dup2(fileno(cap), 2);
	errno = 0;
	r->ret = gf_main(note_mode, NULL);
	r->err = errno;
	fflush(stderr);
	dup2(saved, 2);
	while (n > 0)
		close(held[--n]);
	got = pread(fileno(cap), r->said, sizeof(r->said) - 1, 0);
	r->said[got > 0 ? got : 0] = 0;
	fclose(cap);
	fputs(r->said, stderr);
}

TEST(registered_and_quiet_when_the_device_is_usable)
{
	static struct run r;

	NEED_MODULE();
	unsetenv("GF_REQUIRE_KMOD");
	run_main(&r, false);
	ASSERT_EQ(0, r.ret) TH_LOG("gf_main: %s", strerror(r.err));
	EXPECT_EQ(1, mode_seen);
	EXPECT_EQ(NULL, strstr(r.said, "libgfiber:"));
}

TEST(unusable_device_is_said_and_the_program_runs)
{
	static struct run r;

	NEED_MODULE();
	unsetenv("GF_REQUIRE_KMOD");
	setenv("GF_NOSIGQUIT", "1", 1);	/* only the registry's line */
	run_main(&r, true);
	ASSERT_EQ(0, r.ret) TH_LOG("gf_main: %s", strerror(r.err));
	EXPECT_EQ(0, mode_seen);
	EXPECT_NE(NULL, strstr(r.said, "libgfiber: not registered with gfibers.ko, so not in /proc/gfibers: open /dev/gfibers: Too many open files"));
}

TEST(unusable_device_with_require_kmod_fails_with_its_errno)
{
	static struct run r;

	NEED_MODULE();
	setenv("GF_REQUIRE_KMOD", "1", 1);
	setenv("GF_NOSIGQUIT", "1", 1);
	run_main(&r, true);
	EXPECT_EQ(-1, r.ret);
	EXPECT_EQ(EMFILE, r.err) TH_LOG("errno %s, not EMFILE",
					 strerror(r.err));
	EXPECT_EQ(-2, mode_seen);	/* fn never ran */
	EXPECT_EQ(NULL, strstr(r.said, "libgfiber:"));
}

TEST_HARNESS_MAIN
