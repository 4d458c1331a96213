// SPDX-License-Identifier: MIT
/*
 * ctx_cpu.c - how the context switch (ctx_x86_64.S) restores MXCSR on
 * this CPU, chosen once at load.
 *
 * The switch must give the resumed context its MXCSR control bits (the
 * ABI makes them callee-saved). Two ways, each the fast one on one kind
 * of CPU (bench/RESULTS.md, "The switch sequence on AMD"):
 *  - compare: read back the MXCSR that stmxcsr has just stored and load
 *    the other context's only when the control bits differ. On Intel an
 *    ldmxcsr that changes MXCSR, even only its sticky status flags, costs
 *    ~45 ns (a fiber that once divided doubles has them set, the
 *    scheduler's context not), and the read-back costs nothing.
 *  - always: load the other context's MXCSR unconditionally. On AMD Zen
 *    ldmxcsr costs the same whatever it loads, and reading back what
 *    stmxcsr stored stalls: 7.5 -> 5.1 ns per switch (EPYC, KVM guest).
 * AMD and Hygon (Zen) CPUs get "always", every other CPU "compare".
 * GF_CTX_MXCSR=always|compare overrides it (benchmarks, tests); another
 * value is a fatal error at start, not a silent default.
 */
#include <cpuid.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"

uint8_t gfi_ctx_mxcsr_always;

static int vendor_is_zen(void)
{
	unsigned int max, b, c, d;
	char v[13];

	if (!__get_cpuid(0, &max, &b, &c, &d))
		return 0;
	memcpy(v, &b, 4);
	memcpy(v + 4, &d, 4);
	memcpy(v + 8, &c, 4);
	v[12] = 0;
	return !strcmp(v, "AuthenticAMD") || !strcmp(v, "HygonGenuine");
}

/* Early (101: the first priority a program may use), so that a
 * program's own constructors that start fibers find it set. */
__attribute__((constructor(101))) static void ctx_cpu_init(void)
{
	const char *s = getenv("GF_CTX_MXCSR");
	static const char bad[] =
		"gfiber: GF_CTX_MXCSR must be \"always\" or \"compare\"\n";

	if (!s || !*s) {
		gfi_ctx_mxcsr_always = (uint8_t)vendor_is_zen();
	} else if (!strcmp(s, "always")) {
		gfi_ctx_mxcsr_always = 1;
	} else if (!strcmp(s, "compare")) {
		gfi_ctx_mxcsr_always = 0;
	} else {
		/* before main: no stdio, no runtime yet */
		ssize_t r = write(2, bad, sizeof(bad) - 1);

		(void)r;
		_exit(2);
	}
}
