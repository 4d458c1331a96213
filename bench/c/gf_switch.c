// SPDX-License-Identifier: MIT
/*
 * gf_switch - workload `switch` [gfibers]: the library's own context
 * switch, gf_ctx_switch (ulib/ctx_x86_64.S), ping-ponged between the
 * program's stack and one forged context, exactly as boost_switch.cpp
 * and limit_switch.c do for their switches. No scheduler: this is the
 * floor under every park/ready of the runtime.
 *
 * gf_ctx_switch is hidden from the shared library's users; it links
 * from the static archive (hidden visibility only bounds the final
 * link's exports). Its prototype and frame forger come from ulib/ctx.h.
 * A program of its own, so that it runs as soon as the switch exists,
 * whatever the state of the rest of the library.
 *
 * Usage: gf_switch switch|switch_fpflags [N]; prints ns per switch.
 */
#include "bench.h"
#include "ctx.h"

static void *main_sp, *partner_sp;
static int fpflags;	/* workload switch_fpflags */

/* The partner switches straight back, forever. */
static void partner_main(void *transfer, void *arg)
{
	(void)transfer;
	(void)arg;
	if (fpflags)
		bench_fp_dirty();
	for (;;)
		gf_ctx_switch(&partner_sp, main_sp, NULL);
}

static uint64_t run(uint64_t n, void *arg)
{
	uint64_t t0 = bench_now_ns();

	(void)arg;
	for (uint64_t i = 0; i < n; i++)
		gf_ctx_switch(&main_sp, partner_sp, NULL);
	return bench_now_ns() - t0;
}

int main(int argc, char **argv)
{
	static char stack[64 * 1024] __attribute__((aligned(64)));
	int64_t n = bench_parse_n(argc, argv);

	fpflags = bench_switch_workload(argc, argv);
	if (fpflags < 0) {
		fprintf(stderr, "usage: gf_switch switch|switch_fpflags [N]\n");
		return 2;
	}
	bench_fp_clear();
	partner_sp = gf_ctx_make(stack + sizeof(stack), partner_main, NULL);
	/* Enter the partner once: every timed switch is a steady-state one. */
	gf_ctx_switch(&main_sp, partner_sp, NULL);
	printf("%.3f\n", bench_measure(run, NULL, n, 2));
	return 0;
}
