// SPDX-License-Identifier: MIT
//
// boost_switch - workload `switch` [boost]: Boost.Context's fcontext, the
// raw switch under boost::context (jump_fcontext saves the callee-saved
// registers, MXCSR and the x87 control word, and passes a transfer_t).
//
// Usage: boost_switch switch|switch_fpflags [N]; prints ns per switch. One round trip
// (main -> partner -> main) is two switches.
#include <boost/context/detail/fcontext.hpp>

#include "bench.h"

namespace bcd = boost::context::detail;

static bcd::fcontext_t partner;
static int fpflags;	// workload switch_fpflags

// The partner jumps straight back, forever.
static void partner_main(bcd::transfer_t t)
{
	if (fpflags)
		bench_fp_dirty();
	for (;;)
		t = bcd::jump_fcontext(t.fctx, nullptr);
}

static uint64_t run(uint64_t n, void *)
{
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < n; i++)
		partner = bcd::jump_fcontext(partner, nullptr).fctx;
	return bench_now_ns() - t0;
}

int main(int argc, char **argv)
{
	static char stack[64 * 1024] __attribute__((aligned(64)));
	int64_t n = bench_parse_n(argc, argv);

	fpflags = bench_switch_workload(argc, argv);
	if (fpflags < 0) {
		fprintf(stderr, "usage: boost_switch switch|switch_fpflags [N]\n");
		return 2;
	}
	bench_fp_clear();
	partner = bcd::make_fcontext(stack + sizeof(stack), sizeof(stack),
				     partner_main);
	// Enter the partner once so every timed jump is a steady-state one.
	partner = bcd::jump_fcontext(partner, nullptr).fctx;
	printf("%.3f\n", bench_measure(run, nullptr, n, 2));
	return 0;
}
