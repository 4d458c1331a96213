// SPDX-License-Identifier: GPL-2.0
/*
 * Versions: gfibers.ko shows its version (MODULE_VERSION, the one of
 * include/gfibers_version.h) in sysfs, and a libgfiber whose ABI version
 * the module does not speak is refused with a message that names both
 * (ulib/version.c), which GF_REQUIRE_KMOD=1 turns into gf_main's error.
 *
 * A library of another ABI version is this very library with the version
 * it sends changed on the way: this program's ioctl() (a static link
 * takes it before libc's weak one) adds one to the abi_version of
 * GFIBERS_IOC_SETUP while other_abi is set, and forwards every call to
 * the kernel unchanged otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gfiber.h"
#include "gfibers_version.h"
#include "uapi/gfibers.h"

static int other_abi;

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (other_abi && req == GFIBERS_IOC_SETUP)
		((struct gfibers_setup *)arg)->abi_version += 1;
	return syscall(SYS_ioctl, fd, req, arg);
}

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

static void run_main(struct run *r)
{
	FILE *cap = tmpfile();
	int saved = dup(2);
	ssize_t got;

	if (!cap || saved < 0) {
		r->ret = -2;
		return;
	}
	fflush(stderr);
	dup2(fileno(cap), 2);
	errno = 0;
	r->ret = gf_main(note_mode, NULL);
	r->err = errno;
	fflush(stderr);
	dup2(saved, 2);
	got = pread(fileno(cap), r->said, sizeof(r->said) - 1, 0);
	r->said[got > 0 ? got : 0] = 0;
	fclose(cap);
	fputs(r->said, stderr);
}

TEST(module_shows_its_version)
{
	char v[64] = "";
	FILE *f;

	NEED_MODULE();
	f = fopen("/sys/module/gfibers/version", "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(v, sizeof(v), f));
	fclose(f);
	v[strcspn(v, "\n")] = 0;
	EXPECT_STREQ(GFIBERS_VERSION, v);
	EXPECT_STREQ(GFIBERS_VERSION, gf_version());
}

/* The raw ABI: a setup of another version is EINVAL. */
TEST(setup_of_other_abi_is_einval)
{
	struct gfibers_setup su = { .abi_version = GFIBERS_ABI_VERSION + 1 };
	int fd;

	NEED_MODULE();
	fd = open("/dev/gfibers", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, syscall(SYS_ioctl, fd, GFIBERS_IOC_SETUP, &su));
	EXPECT_EQ(EINVAL, errno);
	su.abi_version = GFIBERS_ABI_VERSION;
	EXPECT_EQ(0, syscall(SYS_ioctl, fd, GFIBERS_IOC_SETUP, &su));
	close(fd);
}

static void expect_names_both(struct __test_metadata *_metadata,
			      const char *said)
{
	char want[128];

	snprintf(want, sizeof(want),
		 "ABI version mismatch: libgfiber %s speaks ABI %d, gfibers.ko %s does not",
		 GFIBERS_VERSION, GFIBERS_ABI_VERSION, GFIBERS_VERSION);
	EXPECT_NE(NULL, strstr(said, want)) {
		TH_LOG("stderr: %s", said);
	}
}

/* Unregistered, and said so, naming both versions. */
TEST(other_abi_runs_unregistered_and_says_so)
{
	struct run r;

	NEED_MODULE();
	unsetenv("GF_REQUIRE_KMOD");
	other_abi = 1;
	run_main(&r);
	EXPECT_EQ(0, r.ret);
	EXPECT_EQ(0, mode_seen);
	expect_names_both(_metadata, r.said);
}

/* GF_REQUIRE_KMOD=1: gf_main's error, EINVAL, the same words. */
TEST(other_abi_is_an_error_with_require_kmod)
{
	struct run r;

	NEED_MODULE();
	setenv("GF_REQUIRE_KMOD", "1", 1);
	other_abi = 1;
	run_main(&r);
	EXPECT_EQ(-1, r.ret);
	EXPECT_EQ(EINVAL, r.err);
	EXPECT_EQ(-2, mode_seen);
	expect_names_both(_metadata, r.said);
}

/* The same program, same ABI: registered (the wrapper changes nothing). */
TEST(same_abi_registers)
{
	struct run r;

	NEED_MODULE();
	setenv("GF_REQUIRE_KMOD", "1", 1);
	other_abi = 0;
	run_main(&r);
	EXPECT_EQ(0, r.ret);
	EXPECT_EQ(1, mode_seen);
}

TEST_HARNESS_MAIN
