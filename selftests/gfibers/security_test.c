// SPDX-License-Identifier: GPL-2.0
/*
 * Who sees what in /proc/gfibers: addresses only for readers allowed to
 * ptrace-read the process, processes only from the reader's pid namespace.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "gfibers_client.h"

#define SKIP_IF_ABSENT() do {						\
	if (!gfc_present())						\
		SKIP(return, GFC_DEV " absent: gfibers.ko not loaded");	\
} while (0)

#define NOBODY	65534

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static const int addr_cols[] = {
	GFC_WAIT_OBJ, GFC_WAIT_PC, GFC_CREATE_PC, GFC_SAVED_PC, GFC_SAVED_SP,
	GFC_SAVED_FP,
};

/* 0: every address column of the line is 0x0; 1: none is. -1: mixed. */
static int addrs_zero(char cols[GFC_NCOLS][64])
{
	unsigned int i, zero = 0;

	for (i = 0; i < ARRAY_SIZE(addr_cols); i++)
		zero += !strcmp(cols[addr_cols[i]], "0x0");
	if (zero == ARRAY_SIZE(addr_cols))
		return 1;
	return zero ? -1 : 0;
}

TEST(root_sees_addresses)
{
	char cols[GFC_NCOLS][64];
	char *dump;
	pid_t pid;

	SKIP_IF_ABSENT();
	if (geteuid())
		SKIP(return, "needs root");
	pid = gfc_spawn_writer(3, 0, 0);
	ASSERT_LT(0, pid);
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	ASSERT_EQ(1, gfc_find(dump, pid, 2, cols));
	EXPECT_EQ(0, addrs_zero(cols)) TH_LOG("wait_pc %s", cols[GFC_WAIT_PC]);
	free(dump);
	reap(pid);
}

TEST(nobody_sees_root_fibers_without_addresses)
{
	struct gfibers_slot v;
	int status;
	pid_t pid, reader;

	SKIP_IF_ABSENT();
	if (geteuid())
		SKIP(return, "needs root");
	pid = gfc_spawn_writer(3, 0, 0);
	ASSERT_LT(0, pid);
	reader = fork();
	ASSERT_LE(0, reader);
	if (reader == 0) {
		char cols[GFC_NCOLS][64];
		int dev, proc, bad = 0;
		struct gfc c;
		char *dump;

		/*
		 * Open as root, use as nobody: the check is made when the
		 * file is read, with the reader's credentials (and the
		 * VM's initramfs root directory may not be searchable by
		 * nobody). Then try to open both as nobody too.
		 */
		dev = open(GFC_DEV, O_RDWR | O_CLOEXEC);
		proc = open(GFC_PROC, O_RDONLY | O_CLOEXEC);
		if (dev < 0 || proc < 0)
			_exit(100);
		if (setgid(NOBODY) || setuid(NOBODY))
			_exit(101);
		if (access(GFC_DEV, R_OK | W_OK) == 0) {
			close(dev);
			dev = open(GFC_DEV, O_RDWR | O_CLOEXEC);
		}
		if (access(GFC_PROC, R_OK) == 0) {
			close(proc);
			proc = open(GFC_PROC, O_RDONLY | O_CLOEXEC);
		}
		/* Its own fibers: addresses shown. */
		bad = gfc_setup(&c, dev);
		if (!bad)
			bad = gfc_reserve(&c, 1);
		if (bad) {
			fprintf(stderr, "# as nobody: %s\n", strerror(-bad));
			_exit(102);
		}
		gfc_sample(&v, 9);
		gfc_write(gfc_slot(&c, 0), &v);
		dump = gfc_slurp_fd(proc, NULL);
		if (!dump)
			_exit(103);
		if (gfc_count(dump, pid, "waiting") != 3)
			bad |= 1;
		if (!gfc_find(dump, pid, 2, cols) || addrs_zero(cols) != 1)
			bad |= 2;
		if (strcmp(cols[GFC_REASON], "chan receive") ||
		    strcmp(cols[GFC_PARENT], "1000002"))
			bad |= 4;
		if (!gfc_find(dump, getpid(), 9, cols) || addrs_zero(cols))
			bad |= 8;
		_exit(bad);
	}
	ASSERT_EQ(reader, waitpid(reader, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("bits: 1 count, 2 root's addresses shown, 4 fields, 8 own addresses hidden; >=100 setup");
	reap(pid);
}

TEST(pid_namespace_sees_only_its_own)
{
	int status;
	pid_t outer, inner;

	SKIP_IF_ABSENT();
	if (geteuid())
		SKIP(return, "needs root");
	outer = gfc_spawn_writer(5, 0, 0);
	ASSERT_LT(0, outer);
	if (unshare(CLONE_NEWPID))
		SKIP(reap(outer); return, "unshare(CLONE_NEWPID): %m");
	inner = fork();
	ASSERT_LE(0, inner);
	if (inner == 0) {
		struct gfibers_slot v;
		struct gfc c;
		char *dump;
		int bad = 0;

		/* pid 1 of the new namespace. */
		if (getpid() != 1)
			_exit(100);
		if (gfc_open(&c) || gfc_reserve(&c, 2))
			_exit(101);
		gfc_sample(&v, 1);
		gfc_write(gfc_slot(&c, 0), &v);
		gfc_sample(&v, 2);
		gfc_write(gfc_slot(&c, 1), &v);
		dump = gfc_slurp(GFC_PROC, NULL);
		if (!dump)
			_exit(102);
		if (gfc_count(dump, -1, NULL) != 2)
			bad |= 1;
		if (gfc_count(dump, 1, "waiting") != 2)
			bad |= 2;
		free(dump);
		_exit(bad);
	}
	{
		char *dump = gfc_slurp(GFC_PROC, NULL);

		ASSERT_NE(NULL, dump);
		/* The outer namespace sees both, with its own numbers. */
		EXPECT_EQ(5, gfc_count(dump, outer, NULL));
		free(dump);
	}
	ASSERT_EQ(inner, waitpid(inner, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("bits: 1 saw other namespaces, 2 own fibers missing; >=100 setup");
	reap(outer);
}

TEST_HARNESS_MAIN
