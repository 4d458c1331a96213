// SPDX-License-Identifier: MIT
/*
 * version.c - gf_version(), and the words for a module of another ABI
 * version.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gfibers_version.h"
#include "runtime.h"

GF_API const char *gf_version(void)
{
	return GFIBERS_VERSION;
}

/*
 * GFIBERS_IOC_SETUP failed with EINVAL. This library sends flags and
 * reserved 0, so the module refused the ABI version: name both sides, the
 * module by the version it shows in sysfs (MODULE_VERSION), so that the
 * operator knows which of the two to upgrade. Called once per setup (at
 * start, or in a fork child), single-threaded there; keeps errno.
 */
const char *gfi_abi_mismatch(void)
{
	static char msg[160];
	char kver[32] = "";
	int err = errno;
	ssize_t n = -1;
	int fd;

	fd = open("/sys/module/gfibers/version", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, kver, sizeof(kver) - 1);
		close(fd);
	}
	if (n > 0) {
		kver[n] = 0;
		kver[strcspn(kver, "\n")] = 0;
	} else {
		strcpy(kver, "of unknown version");
	}
	snprintf(msg, sizeof(msg),
		 "GFIBERS_IOC_SETUP: ABI version mismatch: libgfiber %s speaks ABI %d, gfibers.ko %s does not",
		 GFIBERS_VERSION, GFIBERS_ABI_VERSION, kver);
	errno = err;
	return msg;
}
