/* SPDX-License-Identifier: MIT */
/* gf_bench.h - what gf_bench.c and gf_switch.c share. */
#ifndef GF_BENCH_H
#define GF_BENCH_H

#include <stdint.h>

/* Workload `switch` [gfibers]: ns per gf_ctx_switch (gf_switch.c). */
double gf_switch_bench(int64_t n);

#endif /* GF_BENCH_H */
