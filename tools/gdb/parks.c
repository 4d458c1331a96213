// SPDX-License-Identifier: MIT
/*
 * parks.c - a workload whose parks per wait reason are known, for the
 * USDT test (tools/gdb/test.sh): bpftrace's count of gfiber:park per
 * reason must equal the counts this program prints.
 *
 * Waits for SIGUSR1 (the tracer attached), then in its main fiber parks
 * NSLEEP times in gf_sleep ("sleep") and NPARK times in gf_park under a
 * reason of its own, each woken by a second fiber once it is parked.
 * Nothing else in it parks. Prints "reason R count C" per reason, and
 * "readies N", the gfiber:ready count (one per park).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

#include "gfiber.h"

#define NSLEEP 20
#define NPARK 30

static gf_fiber_t *_Atomic parked;

/* Runs once the parker is parked: only then may it be readied. */
static bool publish(gf_fiber_t *self, void *lock)
{
	(void)lock;
	atomic_store(&parked, self);
	return true;
}

static void waker(void *arg)
{
	gf_fiber_t *f;
	int i;

	(void)arg;
	for (i = 0; i < NPARK; i++) {
		while (!(f = atomic_exchange(&parked, NULL)))
			gf_yield();
		gf_ready(f);
	}
}

static int parks_main(void *arg)
{
	int reason = gf_wait_reason("parks test"), i;

	(void)arg;
	for (i = 0; i < NSLEEP; i++)
		gf_sleep(100000);
	if (gf_go(waker, NULL) < 0)
		return 1;
	for (i = 0; i < NPARK; i++)
		gf_park(publish, NULL, reason);
	printf("reason %d count %d\n", GF_WAIT_SLEEP, NSLEEP);
	printf("reason %d count %d\n", reason, NPARK);
	/* each park ended by a gf_ready: the timer's, the waker's */
	printf("readies %d\n", NSLEEP + NPARK);
	return 0;
}

int main(void)
{
	sigset_t s;
	int sig;

	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigprocmask(SIG_BLOCK, &s, NULL);
	sigwait(&s, &sig);
	return gf_main(parks_main, NULL) ? 1 : 0;
}
