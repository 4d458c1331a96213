// SPDX-License-Identifier: MIT
/*
 * leak.c - fibers leaked the way goroutines leak, for /proc/gfibers.
 *
 * Usage: leak [N]   (N defaults to 3, at most 1000000)
 *
 * Starts N fibers, each blocked forever in leaker() receiving from a
 * channel nobody will ever send to, plus four more, each blocked in a
 * different way: "chan send" (stuck_sender), "select" (stuck_select),
 * "sync.Mutex.Lock" (stuck_locker) and a program-named reason
 * "waiting for godot" (stuck_custom). Once all are parked it prints
 *
 *	leak: N fibers parked
 *
 * (N: the leakers only) and drops the last reference to the leakers'
 * channel that is not held by a parked leaker: the runtime proves those
 * N fibers can never wake and marks them leaked (status 10). Then main
 * sleeps forever (in 1-hour sleeps, so it is never a deadlock) until
 * killed. Meant to run in the background while `cat /proc/gfibers`
 * shows every fiber with its wait reason and a wait site in this file.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gfiber.h"

static gf_chan_t *nobody_sends;		/* leakers wait here */
static gf_chan_t *nobody_receives;
static gf_chan_t *nobody_either;
static gf_mutex_t held = GF_MUTEX_INIT;
static gf_waitgroup_t parked = GF_WAITGROUP_INIT;

static void leaker(void *arg)
{
	gf_chan_t *c = arg;	/* our own reference, never dropped */
	long v;

	gf_waitgroup_done(&parked);
	gf_chan_recv(c, &v);		/* blocks forever */
}

static void stuck_sender(void *arg)
{
	long v = 1;

	(void)arg;
	gf_waitgroup_done(&parked);
	gf_chan_send(nobody_receives, &v);
}

static void stuck_select(void *arg)
{
	gf_select_case_t cs[2] = {
		{ .chan = nobody_either, .dir = GF_SELECT_RECV },
		{ .chan = NULL, .dir = GF_SELECT_SEND },
	};

	(void)arg;
	gf_waitgroup_done(&parked);
	if (gf_select(cs, 2) < 0)	/* never ready: parks for good */
		perror("gf_select");
}

static void stuck_locker(void *arg)
{
	(void)arg;
	gf_waitgroup_done(&parked);
	gf_mutex_lock(&held);
	gf_mutex_unlock(&held);	/* not a tail call: keeps this frame */
}

static bool keep_parked(gf_fiber_t *self, void *lock)
{
	(void)self;
	(void)lock;
	return true;
}

static void stuck_custom(void *arg)
{
	(void)arg;
	gf_waitgroup_done(&parked);
	gf_park(keep_parked, NULL, gf_wait_reason("waiting for godot"));
	gf_yield();		/* not a tail call: keeps this frame */
}

static int leak_main(void *arg)
{
	long n = (long)arg, i;
	gf_attr_t attr = { .name = "leaker" };

	nobody_sends = gf_chan_new(sizeof(long), 0);
	nobody_receives = gf_chan_new(sizeof(long), 0);
	nobody_either = gf_chan_new(sizeof(long), 0);
	if (!nobody_sends || !nobody_receives || !nobody_either) {
		perror("gf_chan_new");
		return 1;
	}
	gf_label_set("demo", "leak");
	gf_mutex_lock(&held);
	gf_waitgroup_add(&parked, n + 4);
	for (i = 0; i < n; i++) {
		if (gf_go_attr(leaker, gf_chan_ref(nobody_sends), &attr) < 0) {
			perror("gf_go");
			return 1;
		}
	}
	gf_go(stuck_sender, NULL);
	gf_go(stuck_select, NULL);
	gf_go(stuck_locker, NULL);
	gf_go(stuck_custom, NULL);
	gf_waitgroup_wait(&parked);
	gf_sleep(10000000);	/* the last ones reach their park */
	printf("leak: %ld fibers parked\n", n);
	fflush(stdout);
	/* Only the parked leakers hold the channel now: provably leaked. */
	gf_chan_unref(nobody_sends);
	for (;;)
		gf_sleep(3600LL * 1000000000LL);
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 0) : 3;

	if (n < 0 || n > 1000000) {
		fprintf(stderr, "usage: leak [N], 0 <= N <= 1000000\n");
		return 2;
	}
	if (gf_main(leak_main, (void *)n) < 0) {
		perror("gf_main");
		return 1;
	}
	return 0;
}
