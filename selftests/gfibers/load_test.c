// SPDX-License-Identifier: GPL-2.0
/*
 * 20 unload/load cycles of gfibers.ko, each with a table in use between
 * them. Needs the module file at /gfibers.ko (where the VM runner puts
 * it) or at $GFIBERS_KO; skipped otherwise. Leaves the module loaded.
 */
#define _GNU_SOURCE
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "gfibers_client.h"

#define CYCLES	20

static const char *ko_path(void)
{
	const char *p = getenv("GFIBERS_KO");

	return p ? p : "/gfibers.ko";
}

static int load(void)
{
	int fd = open(ko_path(), O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, "", 0))
		err = -errno;
	close(fd);
	return err;
}

static int unload(void)
{
	return syscall(SYS_delete_module, "gfibers", O_NONBLOCK) ? -errno : 0;
}

/* Register one fiber and find it in /proc/gfibers. 0 or a step number. */
static int use_once(void)
{
	char cols[GFC_NCOLS][64];
	struct gfibers_slot v;
	struct gfc c;
	char *dump;
	int found;

	if (gfc_open(&c))
		return 1;
	if (gfc_grow(&c) != 0) {
		gfc_close(&c);
		return 2;
	}
	gfc_sample(&v, 1);
	gfc_write(gfc_slot(&c, 0), &v);
	dump = gfc_slurp(GFC_PROC, NULL);
	found = dump && gfc_find(dump, getpid(), 1, cols);
	free(dump);
	gfc_close(&c);
	return found ? 0 : 3;
}

TEST(load_unload_cycles)
{
	int i, err;

	if (!gfc_present())
		SKIP(return, GFC_DEV " absent: gfibers.ko not loaded");
	if (access(ko_path(), R_OK))
		SKIP(return, "%s: %m", ko_path());
	if (geteuid())
		SKIP(return, "needs root");

	for (i = 0; i < CYCLES; i++) {
		EXPECT_EQ(0, use_once()) TH_LOG("cycle %d", i);
		err = unload();
		ASSERT_EQ(0, err) TH_LOG("cycle %d: delete_module: %s", i,
					 strerror(-err));
		EXPECT_EQ(0, gfc_present());
		EXPECT_NE(0, access(GFC_PROC, F_OK));
		err = load();
		ASSERT_EQ(0, err) TH_LOG("cycle %d: finit_module: %s", i,
					 strerror(-err));
	}
	EXPECT_EQ(0, use_once());
}

/* An open descriptor or a mapping pins the module. */
TEST(busy_module_stays)
{
	struct gfc c;
	int fd;

	if (!gfc_present())
		SKIP(return, GFC_DEV " absent: gfibers.ko not loaded");
	if (geteuid())
		SKIP(return, "needs root");
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_grow(&c));
	fd = c.fd;
	EXPECT_EQ(-EWOULDBLOCK, unload());
	close(fd);
	c.fd = -1;
	EXPECT_EQ(-EWOULDBLOCK, unload());
	gfc_close(&c);
}

TEST_HARNESS_MAIN
