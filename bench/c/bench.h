/* SPDX-License-Identifier: MIT */
/*
 * bench.h - what every C benchmark program shares: the clock, the
 * calibration loop, RSS and CPU time, and the command-line convention.
 *
 * Every program is run as `PROG WORKLOAD [N]` and prints one number on
 * stdout in the unit bench/run.sh records for that workload, exactly as
 * the Go peer (bench/go/main.go) does:
 *  - per-operation workloads run N operations when N is given (callgrind
 *    runs N and 0 and subtracts), otherwise they calibrate as Go's
 *    testing.B: N grows until one run lasts BENCH_TIME seconds (default
 *    0.3) and the last run is reported;
 *  - fixed-size workloads (spawn, sieve, timers, rss_parked_*) use the
 *    issue's sizes unless N is given.
 * Header-only (static functions) so each program is one translation unit
 * plus this file.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

/* run(n, arg) performs n operations and returns the elapsed nanoseconds. */
typedef uint64_t (*bench_run_fn)(uint64_t n, void *arg);

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double bench_target_s(void)
{
	const char *s = getenv("BENCH_TIME");
	double v = s ? strtod(s, NULL) : 0;

	return v > 0 ? v : 0.3;
}

/*
 * Clear the sticky exception flags of MXCSR (and the x87 status word).
 *
 * A switch that saves and restores MXCSR (Boost's, and any that follows
 * the SysV rule that its control bits are callee-saved) pays about 45 ns
 * per switch on this machine, against ~4 ns, when the two sides' saved
 * MXCSR values differ, even only in the status flags: ldmxcsr of a value
 * that changes the register is slow, of the same value cheap. The
 * harness's own floating point (calibration arithmetic between timed runs)
 * sets the "inexact" flag in the timing side only; every timed run and
 * every context creation starts from clean flags so that no
 * implementation is charged for the harness's arithmetic.
 */
static inline void bench_fp_clear(void)
{
	unsigned int mxcsr;

	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	mxcsr &= ~0x3fu;
	__asm__ volatile("ldmxcsr %0; fnclex" : : "m"(mxcsr));
}

/*
 * Set MXCSR's "precision" (inexact) flag, as any float division of a
 * real program does: used by workload switch_fpflags, where the partner
 * context carries the flag and the timing side does not, to measure what
 * a switch that restores MXCSR pays when fibers do floating point.
 */
static inline void bench_fp_dirty(void)
{
	volatile double x = 1.0;

	x = x / 3.0;
	(void)x;
}

/*
 * The switch programs' workload from argv[1]: 0 "switch", 1
 * "switch_fpflags" (the partner's MXCSR differs in its flags), -1
 * anything else.
 */
static inline int bench_switch_workload(int argc, char **argv)
{
	if (argc < 2)
		return -1;
	if (!strcmp(argv[1], "switch"))
		return 0;
	if (!strcmp(argv[1], "switch_fpflags"))
		return 1;
	return -1;
}

/*
 * ns per operation of run: exactly n operations when n >= 0, calibrated
 * to BENCH_TIME otherwise. ops is the number of operations in one unit of
 * n (a switch round trip of n is 2n switches).
 */
static inline double bench_measure(bench_run_fn run, void *arg, int64_t n,
				   double ops)
{
	double target = bench_target_s();
	uint64_t m = 1000, d;

	if (n >= 0) {
		bench_fp_clear();
		d = run((uint64_t)n, arg);
		return n ? (double)d / ((double)n * ops) : 0;
	}
	for (;;) {
		uint64_t next;

		bench_fp_clear();
		d = run(m, arg);
		if ((double)d >= target * 1e9 || m >= (1ull << 34))
			return (double)d / ((double)m * ops);
		/* Aim for 1.2x the target from the measured rate, <= 100x. */
		next = (uint64_t)((double)m * 1.2 * target * 1e9 /
				  ((double)d + 1));
		if (next > 100 * m)
			next = 100 * m;
		if (next <= m)
			next = 2 * m;
		m = next;
	}
}

/* Resident set size in bytes, from /proc/self/statm. */
static inline double bench_rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f || fscanf(f, "%lu %lu", &size, &resident) != 2) {
		perror("bench: /proc/self/statm");
		exit(1);
	}
	fclose(f);
	return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

/* User + system CPU time of the process so far, in ms. */
static inline double bench_cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* N from argv[2]: -1 when absent. Exits on garbage. */
static inline int64_t bench_parse_n(int argc, char **argv)
{
	char *end;
	long long v;

	if (argc < 3)
		return -1;
	v = strtoll(argv[2], &end, 10);
	if (*end || v < 0) {
		fprintf(stderr, "%s: bad N: %s\n", argv[0], argv[2]);
		exit(2);
	}
	return v;
}

#endif /* BENCH_H */
