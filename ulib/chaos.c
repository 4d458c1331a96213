// SPDX-License-Identifier: MIT
/*
 * chaos.c - delay injection for the GF_CHAOS build (tests only).
 *
 * A race whose window is a few instructions wide passes every stress test
 * and every sanitizer run: the other thread never arrives in time. The
 * GF_CHAOS build calls gfi_chaos() at the points where the runtime's
 * races live (taking and dropping a lock, park, ready, a status change,
 * a timer armed, a fiber queued globally) and, at a seeded random
 * fraction of them, spins, yields the CPU or sleeps, so that the window
 * opens wide enough for the other side to walk in. The suite runs the
 * affected host tests under it with several seeds (make check) or for as
 * long as asked (make chaos DURATION=N).
 *
 * Seeding: GF_CHAOS_SEED (any strtoull base) fixes the seed; without it
 * one is taken from the clock and printed once on stderr, so that a
 * failure can be replayed. Each thread draws from its own generator,
 * seeded from the seed and the thread's creation order: a replay takes
 * the same decisions in the same threads, though the kernel's own
 * scheduling still varies. GF_CHAOS_RATE=N delays one point in N
 * (default 8; 1: every point).
 *
 * Never in a release build: without GF_CHAOS, gfi_chaos() is an empty
 * inline (runtime.h) and this file compiles to nothing.
 */
#include "runtime.h"

#ifdef GF_CHAOS

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic uint64_t chaos_seed;	/* 0: not read yet */
static _Atomic uint32_t chaos_rate;
static _Atomic uint32_t chaos_threads;	/* threads seeded so far */
static __thread uint64_t chaos_rng GFI_TLS_IE;	/* 0: this thread not seeded */

static uint64_t chaos_init(void)
{
	const char *s = getenv("GF_CHAOS_SEED");
	const char *r = getenv("GF_CHAOS_RATE");
	uint64_t seed, zero = 0;
	struct timespec ts;

	if (s && *s) {
		seed = strtoull(s, NULL, 0);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
		       ((uint64_t)getpid() << 48);
	}
	seed |= 1;	/* 0 means "not read" */
	atomic_store(&chaos_rate, r && atoi(r) > 0 ? (uint32_t)atoi(r) : 8);
	if (atomic_compare_exchange_strong(&chaos_seed, &zero, seed)) {
		if (!(s && *s)) {
			char line[96];
			int n = snprintf(line, sizeof(line),
					 "libgfiber: chaos build, GF_CHAOS_SEED=%#llx\n",
					 (unsigned long long)seed);

			if (write(2, line, (size_t)n) < 0) {
				/* nothing to do: the seed is best effort */
			}
		}
		return seed;
	}
	return atomic_load(&chaos_seed);
}

static void chaos_spin(uint64_t n)
{
	while (n--)
		__builtin_ia32_pause();
}

void gfi_chaos(enum gfi_chaos_point point)
{
	uint64_t seed = atomic_load_explicit(&chaos_seed, memory_order_relaxed);
	uint64_t r;
	int saved = errno;	/* a delay must not change what callers see */
	struct timespec ts;

	if (!seed)
		seed = chaos_init();
	if (!chaos_rng)
		chaos_rng = seed ^ (0x9e3779b97f4a7c15ull *
				    (atomic_fetch_add(&chaos_threads, 1) + 1));
	r = gfi_rand(&chaos_rng) ^ (uint64_t)point;
	if (r % atomic_load_explicit(&chaos_rate, memory_order_relaxed))
		return;
	r >>= 16;
	switch (r % 16) {
	case 0 ... 9:		/* a few hundred instructions */
		chaos_spin((r >> 8) % 2048);
		break;
	case 10 ... 14:		/* let the other thread run */
		sched_yield();
		break;
	default:		/* a preemption: up to 200 us */
		ts.tv_sec = 0;
		ts.tv_nsec = (long)((r >> 8) % 200000);
		nanosleep(&ts, NULL);
		break;
	}
	errno = saved;
}

#endif /* GF_CHAOS */
