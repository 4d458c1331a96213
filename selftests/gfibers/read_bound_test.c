// SPDX-License-Identifier: GPL-2.0
/*
 * A read of /proc/gfibers ends: it shows the tables that existed when it
 * began and does not follow tables set up after that. Without the bound,
 * processes registering faster than one read renders (the soak's
 * 100,000-fiber clients) kept a read going past 64 MiB.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "gfibers_client.h"

#define OWN_FIBERS	1000
#define LATE_FIBER	4242

TEST(a_read_does_not_follow_tables_set_up_after_it_began)
{
	char cols[GFC_NCOLS][64], one;
	struct gfibers_slot v;
	size_t len = 0, cap = 1 << 20;
	char *buf, *fresh;
	int fd, p[2], status, i;
	struct gfc c;
	ssize_t n;
	pid_t pid;

	if (!gfc_present())
		SKIP(return, GFC_DEV " absent: gfibers.ko not loaded");
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_reserve(&c, OWN_FIBERS));
	for (i = 0; i < OWN_FIBERS; i++) {
		gfc_sample(&v, i + 1);
		gfc_write(gfc_slot(&c, i), &v);
	}
	buf = malloc(cap);
	ASSERT_NE(NULL, buf);

	/* The read begins: ~100 KiB of lines, many read() calls. */
	fd = open("/proc/gfibers", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	n = read(fd, buf, 256);
	ASSERT_LT(0, n);
	len = n;

	/* A table set up in the middle of it. */
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct gfc late;

		if (gfc_open(&late) || gfc_reserve(&late, 1))
			_exit(1);
		gfc_sample(&v, LATE_FIBER);
		gfc_write(gfc_slot(&late, 0), &v);
		if (write(p[1], "x", 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	ASSERT_EQ(1, read(p[0], &one, 1));

	while ((n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += n;
	ASSERT_EQ(0, n);
	buf[len] = 0;
	close(fd);
	/* The read reached the end of what existed, and only that. */
	EXPECT_TRUE(gfc_find(buf, getpid(), OWN_FIBERS, cols));
	EXPECT_FALSE(gfc_find(buf, pid, LATE_FIBER, cols))
		TH_LOG("a table set up during the read was shown by it");
	/* A new read shows the new table. */
	fresh = gfc_slurp("/proc/gfibers", NULL);
	ASSERT_NE(NULL, fresh);
	EXPECT_TRUE(gfc_find(fresh, pid, LATE_FIBER, cols));

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	free(fresh);
	free(buf);
	gfc_close(&c);
}

TEST_HARNESS_MAIN
