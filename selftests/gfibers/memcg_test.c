// SPDX-License-Identifier: GPL-2.0
/*
 * Tables are charged to the memory cgroup of their process: in a cgroup
 * limited to 8 MiB, growing fails with ENOMEM (no OOM kill) long before
 * the module's own limits, and the memory is uncharged when the process
 * exits. Needs cgroup v2 with the memory controller; skipped otherwise.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "gfibers_client.h"

#define CGROOT	"/sys/fs/cgroup"
#define CG	CGROOT "/gfibers-selftest"

static int put(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		err = -errno;
	close(fd);
	return err;
}

static long get(const char *path)
{
	char buf[64] = "";
	long v = -1;
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) > 0)
			v = atol(buf);
		close(fd);
	}
	return v;
}

FIXTURE(memcg) {
	int made;
};

FIXTURE_SETUP(memcg)
{
	self->made = 0;
	if (!gfc_present())
		SKIP(return, GFC_DEV " absent: gfibers.ko not loaded");
	if (access(CGROOT "/cgroup.controllers", F_OK))
		mount("none", CGROOT, "cgroup2", 0, NULL);
	if (access(CGROOT "/cgroup.controllers", F_OK))
		SKIP(return, "no cgroup v2 at " CGROOT);
	if (put(CGROOT "/cgroup.subtree_control", "+memory"))
		SKIP(return, "memory controller unavailable");
	if (mkdir(CG, 0755) && errno != EEXIST)
		SKIP(return, "mkdir " CG ": %m");
	self->made = 1;
	if (put(CG "/memory.max", "8388608"))
		SKIP(return, "memory.max: %m");
}

FIXTURE_TEARDOWN(memcg)
{
	if (self->made)
		rmdir(CG);
}

/*
 * What the child reports through a shared page, touched before fork():
 * once the cgroup is full, any new page the child needs is a charge that
 * cannot fail but OOM-kills (a user page fault, a pipe buffer: pipe_write
 * allocates GFP_HIGHUSER | __GFP_ACCOUNT). So past the limit the child
 * only makes GROW ioctls, which fail cleanly, and stores to this page.
 */
struct memcg_report {
	int chunks;
	int err;
	int done;
};

TEST_F_TIMEOUT(memcg, grow_fails_at_the_cgroup_limit, 60)
{
	volatile struct memcg_report *r;
	int status = 0, chunks, err, i;
	long before, during;
	pid_t pid;

	r = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		 -1, 0);
	ASSERT_NE(MAP_FAILED, (void *)r);
	memset((void *)r, 0, sizeof(*r));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char pidbuf[16];
		struct gfc c;
		int k;

		snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
		if (put(CG "/cgroup.procs", pidbuf))
			_exit(100);
		if (gfc_open(&c))
			_exit(101);
		/* GROW allocates; mapping the chunks is not needed here. */
		for (k = 0; ioctl(c.fd, GFIBERS_IOC_GROW, 0) >= 0; k++)
			;
		r->err = errno;
		r->chunks = k;
		__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
		/* Hold the table until the parent kills us. */
		for (;;)
			pause();
	}
	for (i = 0; i < 3000 && !__atomic_load_n(&r->done, __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	ASSERT_TRUE(r->done) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		TH_LOG("child did not report (killed by the OOM killer? status %#x)",
		       status);
	}
	chunks = r->chunks;
	err = r->err;
	before = gfc_stat("bytes");
	TH_LOG("grow stopped with %s after %d chunks", strerror(err), chunks);
	EXPECT_EQ(ENOMEM, err);
	/* 8 MiB of cgroup is at most 128 chunks of 64 KiB, binary included. */
	EXPECT_LT(chunks, 128);
	EXPECT_LT(0, chunks);
	during = get(CG "/memory.current");
	EXPECT_LE((long)chunks * GFIBERS_CHUNK_SIZE, during)
		TH_LOG("memory.current %ld for %d chunks", during, chunks);
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	/* Killed by us, not by the OOM killer (which would have stopped it
	 * before it reported). */
	EXPECT_TRUE(WIFSIGNALED(status));
	munmap((void *)r, 4096);
	/* Freed with the process. */
	EXPECT_LE(gfc_stat("bytes") + (long)chunks * GFIBERS_CHUNK_SIZE, before);
}

TEST_HARNESS_MAIN
