// SPDX-License-Identifier: MIT
/*
 * limit_switch - workload `switch` [limit]: limit_swap (limit_switch.S),
 * the bare callee-saved-register switch, ping-ponged between main and one
 * partner context. Prints ns per switch; a round trip is two switches.
 *
 * Usage: limit_switch switch|switch_fpflags [N]
 */
#include "bench.h"

void limit_swap(void **save_sp, void *load_sp);

static void *main_sp, *partner_sp;
static int fpflags;	/* workload switch_fpflags (no effect: no MXCSR) */

static void partner_main(void)
{
	if (fpflags)
		bench_fp_dirty();
	for (;;)
		limit_swap(&partner_sp, main_sp);
}

static uint64_t run(uint64_t n, void *arg)
{
	uint64_t t0 = bench_now_ns();

	(void)arg;
	for (uint64_t i = 0; i < n; i++)
		limit_swap(&main_sp, partner_sp);
	return bench_now_ns() - t0;
}

int main(int argc, char **argv)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	int64_t n = bench_parse_n(argc, argv);
	void **top = (void **)(stack + sizeof(stack));

	fpflags = bench_switch_workload(argc, argv);
	if (fpflags < 0) {
		fprintf(stderr, "usage: limit_switch switch|switch_fpflags [N]\n");
		return 2;
	}
	/*
	 * The partner's first frame (see limit_switch.S): six zeroed
	 * registers, then partner_main as the return address, then a null
	 * return address for partner_main itself, which never returns; it
	 * starts with rsp = top - 8, as the ABI wants after a call.
	 */
	top[-1] = NULL;
	top[-2] = (void *)partner_main;
	for (int i = 3; i <= 8; i++)
		top[-i] = NULL;
	partner_sp = &top[-8];
	bench_fp_clear();
	printf("%.3f\n", bench_measure(run, NULL, n, 2));
	return 0;
}
