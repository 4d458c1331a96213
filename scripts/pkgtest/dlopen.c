// SPDX-License-Identifier: MIT
/*
 * The shared library loaded by dlopen(3), not at start
 * (scripts/check-install.sh): its thread-locals use the initial-exec
 * model (ulib/runtime.h, GFI_TLS_IE), which a library loaded late must
 * find room for in glibc's static TLS surplus. Runs fibers through the
 * looked-up functions. Prints "dlopen gfiber VERSION: 2 fibers ran" and
 * exits 0.
 */
#include <dlfcn.h>
#include <gfiber.h>
#include <stdio.h>

static int64_t (*go)(void (*fn)(void *), void *);
static void (*yield)(void);
static int ran;

static void fiber(void *arg)
{
	(void)arg;
	ran++;
}

static int run(void *arg)
{
	(void)arg;
	if (go(fiber, NULL) < 0 || go(fiber, NULL) < 0)
		return 1;
	while (ran < 2)
		yield();
	return 0;
}

int main(int argc, char **argv)
{
	void *h = dlopen(argc > 1 ? argv[1] : "libgfiber.so", RTLD_NOW);
	int (*gmain)(int (*)(void *), void *);
	const char *(*version)(void);

	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	*(void **)&gmain = dlsym(h, "gf_main");
	*(void **)&go = dlsym(h, "gf_go");
	*(void **)&yield = dlsym(h, "gf_yield");
	*(void **)&version = dlsym(h, "gf_version");
	if (!gmain || !go || !yield || !version || gmain(run, NULL))
		return 1;
	printf("dlopen gfiber %s: %d fibers ran\n", version(), ran);
	return 0;
}
