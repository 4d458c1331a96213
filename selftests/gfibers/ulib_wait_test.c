// SPDX-License-Identifier: GPL-2.0
/*
 * A real libgfiber program, registered with the loaded module: one fiber
 * parked in each blocking primitive of the library.  /proc/gfibers must
 * show each with status "waiting" (or "leaked" for the waits nothing can
 * ever end: nil channels, select with no channel), the library's wait
 * reason, and a wait
 * site that symbolizes to the function of this file that made the
 * blocking call (the seed's point: the frame to look at is the caller of
 * the park, never the park itself).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gfiber.h"
#include "lib/symbolize.h"

#define HOUR	(3600LL * 1000000000LL)

/* Everything the parked fibers wait on; main keeps every reference. */
static gf_chan_t *ch_recv, *ch_send, *ch_sel;
static gf_mutex_t mu = GF_MUTEX_INIT;
static gf_rwmutex_t rw_w = GF_RWMUTEX_INIT, rw_r = GF_RWMUTEX_INIT;
static gf_mutex_t cmu = GF_MUTEX_INIT;
static gf_cond_t cond = GF_COND_INIT;
static gf_waitgroup_t wg = GF_WAITGROUP_INIT;
static gf_sem_t sem = GF_SEM_INIT(0);
static int pipefd[2];
static int godot;
/* A store after each blocking call: no tail call, the frame stays. */
static volatile int woke;
static volatile int selected;	/* gf_select's result, never read */

static void park_chan_recv(void *a)
{
	long v;

	(void)a;
	gf_chan_recv(ch_recv, &v);
	woke++;
}

static void park_chan_send(void *a)
{
	long v = 1;

	(void)a;
	gf_chan_send(ch_send, &v);
	woke++;
}

static void park_select(void *a)
{
	gf_select_case_t cs[2] = {
		{ .chan = ch_sel, .dir = GF_SELECT_RECV },
		{ .chan = ch_sel, .dir = GF_SELECT_RECV },
	};

	(void)a;
	selected = gf_select(cs, 2);	/* never returns: nobody sends */
	woke++;
}

static void park_select_none(void *a)
{
	(void)a;
	selected = gf_select(NULL, 0);	/* never returns */
	woke++;
}

static void park_nil_recv(void *a)
{
	long v;

	(void)a;
	gf_chan_recv(NULL, &v);
	woke++;
}

static void park_nil_send(void *a)
{
	long v = 0;

	(void)a;
	gf_chan_send(NULL, &v);
	woke++;
}

static void park_sleep(void *a)
{
	(void)a;
	gf_sleep(HOUR);
	woke++;
}

static void park_mutex(void *a)
{
	(void)a;
	gf_mutex_lock(&mu);
	woke++;
}

static void park_rlock(void *a)
{
	(void)a;
	gf_rwmutex_rlock(&rw_w);
	woke++;
}

static void park_wlock(void *a)
{
	(void)a;
	gf_rwmutex_lock(&rw_r);
	woke++;
}

static void park_cond(void *a)
{
	(void)a;
	gf_mutex_lock(&cmu);
	gf_cond_wait(&cond, &cmu);
	woke++;
}

static void park_waitgroup(void *a)
{
	(void)a;
	gf_waitgroup_wait(&wg);
	woke++;
}

static void park_sem(void *a)
{
	(void)a;
	gf_sem_acquire(&sem);
	woke++;
}

static void park_io(void *a)
{
	(void)a;
	gf_wait_fd(pipefd[0], POLLIN);
	woke++;
}

static bool stay(gf_fiber_t *self, void *lock)
{
	(void)self;
	(void)lock;
	return true;
}

static void park_custom(void *a)
{
	(void)a;
	gf_park(stay, NULL, godot);
	woke++;
}

static const struct expect {
	void (*fn)(void *);
	const char *func;
	const char *reason;
	const char *status;
} expect[] = {
	{ park_chan_recv, "park_chan_recv", "chan receive", "waiting" },
	{ park_chan_send, "park_chan_send", "chan send", "waiting" },
	{ park_select, "park_select", "select", "waiting" },
	/* nothing can ever wake these: leaked from the start */
	{ park_select_none, "park_select_none", "select (no cases)", "leaked" },
	{ park_nil_recv, "park_nil_recv", "chan receive (nil chan)", "leaked" },
	{ park_nil_send, "park_nil_send", "chan send (nil chan)", "leaked" },
	{ park_sleep, "park_sleep", "sleep", "waiting" },
	{ park_mutex, "park_mutex", "sync.Mutex.Lock", "waiting" },
	{ park_rlock, "park_rlock", "sync.RWMutex.RLock", "waiting" },
	{ park_wlock, "park_wlock", "sync.RWMutex.Lock", "waiting" },
	{ park_cond, "park_cond", "sync.Cond.Wait", "waiting" },
	{ park_waitgroup, "park_waitgroup", "sync.WaitGroup.Wait", "waiting" },
	{ park_sem, "park_sem", "semacquire", "waiting" },
	{ park_io, "park_io", "IO wait", "waiting" },
	{ park_custom, "park_custom", "waiting for godot", "waiting" },
};
#define NEXPECT (sizeof(expect) / sizeof(expect[0]))

struct seen {
	char status[32];
	char reason[64];
	unsigned long long wait_pc;
	int found;
};

/* This process's lines of /proc/gfibers, by fiber id. */
static int read_own(const int64_t *ids, struct seen *seen)
{
	char line[1024], *f[16];
	FILE *fp = fopen("/proc/gfibers", "re");
	int nf, n = 0;
	size_t i;

	if (!fp)
		return -1;
	memset(seen, 0, NEXPECT * sizeof(*seen));
	while (fgets(line, sizeof(line), fp)) {
		if (line[0] == '#')
			continue;
		line[strcspn(line, "\n")] = 0;
		for (nf = 0, f[0] = line; nf < 16; ) {
			char *tab = strchr(f[nf++], '\t');

			if (!tab)
				break;
			*tab = 0;
			if (nf < 16)
				f[nf] = tab + 1;
		}
		if (nf != 15 || atoi(f[0]) != getpid())
			continue;
		for (i = 0; i < NEXPECT; i++) {
			if (strtoll(f[1], NULL, 10) != ids[i])
				continue;
			snprintf(seen[i].status, sizeof(seen[i].status), "%s", f[4]);
			snprintf(seen[i].reason, sizeof(seen[i].reason), "%s", f[13]);
			seen[i].wait_pc = strtoull(f[7], NULL, 16);
			seen[i].found = 1;
			n++;
		}
	}
	fclose(fp);
	return n;
}

static struct __test_metadata *meta;
static int failures;

static int wait_sites_main(void *arg)
{
	struct __test_metadata *_metadata = meta;
	struct seen seen[NEXPECT];
	int64_t ids[NEXPECT];
	struct gfsym_cache *syms;
	char sym[256], func[128];
	int tries, waiting = 0;
	size_t i;

	(void)arg;
	if (gf_registry_mode() != 1) {
		TH_LOG("libgfiber did not register with /dev/gfibers (mode %d)",
		       gf_registry_mode());
		failures++;
		return 1;
	}
	ch_recv = gf_chan_new(sizeof(long), 0);
	ch_send = gf_chan_new(sizeof(long), 0);
	ch_sel = gf_chan_new(sizeof(long), 0);
	godot = gf_wait_reason("waiting for godot");
	if (!ch_recv || !ch_send || !ch_sel || godot < 0 || pipe(pipefd)) {
		TH_LOG("setup failed: %m");
		failures++;
		return 1;
	}
	gf_mutex_lock(&mu);
	gf_rwmutex_lock(&rw_w);
	gf_rwmutex_rlock(&rw_r);
	gf_waitgroup_add(&wg, 1);
	for (i = 0; i < NEXPECT; i++)
		ids[i] = gf_go(expect[i].fn, NULL);

	/* Until every fiber reached its park (or 20 s under emulation). */
	for (tries = 0; tries < 200; tries++) {
		gf_sleep(100000000);
		if (read_own(ids, seen) < 0) {
			TH_LOG("/proc/gfibers: %m");
			failures++;
			return 1;
		}
		for (waiting = 0, i = 0; i < NEXPECT; i++)
			waiting += seen[i].found &&
				   !strcmp(seen[i].status, expect[i].status);
		if (waiting == (int)NEXPECT)
			break;
	}
	syms = gfsym_new();
	for (i = 0; i < NEXPECT; i++) {
		const struct seen *s = &seen[i];

		if (!s->found) {
			TH_LOG("fiber %lld (%s): not in /proc/gfibers",
			       (long long)ids[i], expect[i].func);
			failures++;
			continue;
		}
		if (strcmp(s->status, expect[i].status) ||
		    strcmp(s->reason, expect[i].reason)) {
			TH_LOG("fiber %lld (%s): expected %s/'%s', got %s/'%s'",
			       (long long)ids[i], expect[i].func, expect[i].status,
			       expect[i].reason, s->status, s->reason);
			failures++;
		}
		if (gfsym_lookup(syms, getpid(), s->wait_pc, sym, sizeof(sym),
				 func, sizeof(func))) {
			TH_LOG("fiber %lld (%s): wait_pc 0x%llx not in any mapping: %m",
			       (long long)ids[i], expect[i].func, s->wait_pc);
			failures++;
		} else if (strcmp(func, expect[i].func)) {
			TH_LOG("fiber %lld: wait site expected in %s(), got %s (0x%llx)",
			       (long long)ids[i], expect[i].func, sym, s->wait_pc);
			failures++;
		}
	}
	gfsym_free(syms);
	/* Leave the rest parked: returning from main ends the program. */
	return 0;
}

TEST(each_primitive_shows_its_reason_and_the_callers_wait_site)
{
	if (access("/proc/gfibers", R_OK))
		SKIP(return, "/proc/gfibers absent: gfibers.ko not loaded");
	meta = _metadata;
	gf_main(wait_sites_main, NULL);
	ASSERT_EQ(0, failures);
}

TEST_HARNESS_MAIN
