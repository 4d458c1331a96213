// SPDX-License-Identifier: GPL-2.0
/* The module's two user-visible files exist once it is loaded. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"

TEST(dev_gfibers_is_a_world_writable_char_device)
{
	struct stat st;

	ASSERT_EQ(0, stat("/dev/gfibers", &st)) TH_LOG("/dev/gfibers: %m");
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0666, st.st_mode & 0777);
}

TEST(proc_gfibers_is_readable)
{
	char buf[256];
	int fd = open("/proc/gfibers", O_RDONLY);

	ASSERT_LE(0, fd) TH_LOG("/proc/gfibers: %m");
	EXPECT_LT(0, read(fd, buf, sizeof(buf)));
	close(fd);
}

TEST_HARNESS_MAIN
