// SPDX-License-Identifier: MIT
/* The installed headers compile by themselves, together, warning-free. */
#include <gfiber.h>
#include <gfibers/gfibers.h>

int main(void)
{
	struct gfibers_setup su = { .abi_version = GFIBERS_ABI_VERSION };

	return (int)su.flags + (gf_version() ? 0 : 1);
}
