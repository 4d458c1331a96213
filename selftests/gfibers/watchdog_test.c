// SPDX-License-Identifier: GPL-2.0
/*
 * The hung-fiber watchdog: with hung_timeout_secs=2, a fiber parked (or
 * leaked) for longer is reported in the kernel log, once per park
 * episode, within its user's warnings budget; never with text the
 * program chose, never under the pid of an owner that died.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "gfibers_client.h"

/* How long to wait for a message: timeout + scan period + TCG slack. */
#define WAIT_MS		15000

FIXTURE(watchdog) {
	char timeout[32];
	char warnings[32];
	int kmsg;
	struct gfc c;
};

FIXTURE_SETUP(watchdog)
{
	self->kmsg = -1;
	self->c.fd = -1;
	if (!gfc_present())
		SKIP(return, GFC_DEV " absent: gfibers.ko not loaded");
	self->kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (self->kmsg < 0)
		SKIP(return, "/dev/kmsg: %m");
	/* Only messages from now on. */
	lseek(self->kmsg, 0, SEEK_END);
	ASSERT_EQ(0, gfc_param_get("hung_timeout_secs", self->timeout,
				   sizeof(self->timeout)));
	ASSERT_EQ(0, gfc_param_get("hung_warnings", self->warnings,
				   sizeof(self->warnings)));
	ASSERT_EQ(0, gfc_param_set("hung_warnings", "-1"));
	ASSERT_EQ(0, gfc_open(&self->c));
	ASSERT_EQ(0, gfc_reserve(&self->c, 4));
}

FIXTURE_TEARDOWN(watchdog)
{
	if (self->kmsg >= 0) {
		gfc_param_set("hung_timeout_secs", self->timeout);
		gfc_param_set("hung_warnings", self->warnings);
		close(self->kmsg);
	}
	if (self->c.fd >= 0)
		gfc_close(&self->c);
}

/* Count kernel log lines containing @needle within @ms milliseconds. */
static int wait_for(int kmsg, const char *needle, int ms, int stop_at_first)
{
	struct pollfd pfd = { .fd = kmsg, .events = POLLIN };
	uint64_t end = gfc_now_ns() + (uint64_t)ms * 1000000;
	char rec[2048];
	int found = 0;
	ssize_t n;

	while (gfc_now_ns() < end) {
		n = read(kmsg, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno == EPIPE)
				continue;	/* overwritten: go on */
			poll(&pfd, 1, 100);
			continue;
		}
		rec[n] = '\0';
		if (strstr(rec, needle)) {
			found++;
			if (stop_at_first)
				break;
		}
	}
	return found;
}

/*
 * Read the kernel log for up to @ms milliseconds, until a line with
 * @stop; count the lines with @other on the way into *@nother. Returns
 * whether @stop was seen.
 */
static int watch(int kmsg, const char *stop, const char *other, int ms,
		 int *nother)
{
	struct pollfd pfd = { .fd = kmsg, .events = POLLIN };
	uint64_t end = gfc_now_ns() + (uint64_t)ms * 1000000;
	char rec[2048];
	ssize_t n;

	while (gfc_now_ns() < end) {
		n = read(kmsg, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno != EPIPE)
				poll(&pfd, 1, 100);
			continue;
		}
		rec[n] = '\0';
		if (strstr(rec, other))
			++*nother;
		if (strstr(rec, stop))
			return 1;
	}
	return 0;
}

static void park_as(struct gfc *c, unsigned int i, uint64_t id,
		    uint32_t reason, uint32_t status)
{
	struct gfibers_slot v;

	gfc_sample(&v, id);
	v.status = status;
	v.wait_reason = reason;
	v.wait_pc = 0x4242000 + id;
	v.wait_since_ns = gfc_now_ns();
	gfc_write(gfc_slot(c, i), &v);
}

static void park(struct gfc *c, unsigned int i, uint64_t id, uint32_t reason)
{
	park_as(c, i, id, reason, GFIBERS_GWAITING);
}

TEST_F_TIMEOUT(watchdog, reports_once_per_episode, 90)
{
	uint64_t id = 770000 + getpid();
	long warnings0 = gfc_stat("warnings");
	char want[256], comm[32] = "";
	int n = 0;
	FILE *f;

	f = fopen("/proc/self/comm", "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(comm, sizeof(comm), f));
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';

	ASSERT_EQ(0, gfc_param_set("hung_timeout_secs", "2"));
	park(&self->c, 0, id, GFIBERS_WAIT_CHAN_RECV);
	snprintf(want, sizeof(want),
		 "gfibers: pid %d (%s) fiber %llu blocked in 'chan receive' for more than 2 seconds at 0x%llx",
		 getpid(), comm, (unsigned long long)id,
		 (unsigned long long)(0x4242000 + id));
	EXPECT_EQ(1, wait_for(self->kmsg, want, WAIT_MS, 1))
		TH_LOG("no kernel message \"%s\"", want);
	/* The same episode is not reported again. */
	EXPECT_EQ(0, wait_for(self->kmsg, want, 4000, 0))
		TH_LOG("\"%s\" reported twice", want);
	EXPECT_LT(warnings0, gfc_stat("warnings"));

	/*
	 * A new park is a new episode. A program-named reason is the
	 * program's text: the log gets its number only.
	 */
	gfc_set_reason(&self->c, 2, "db query\nfake: line");
	park(&self->c, 0, id, GFIBERS_WAIT_USER_BASE + 2);
	snprintf(want, sizeof(want),
		 "fiber %llu blocked in 'user(2)' for more than 2 seconds",
		 (unsigned long long)id);
	EXPECT_EQ(1, watch(self->kmsg, want, "db query", WAIT_MS, &n))
		TH_LOG("no kernel message \"%s\"", want);
	EXPECT_EQ(0, n) TH_LOG("the program's reason text is in the log");
}

TEST_F_TIMEOUT(watchdog, budget_and_off, 90)
{
	uint64_t id = 880000 + getpid();
	char want[128];

	snprintf(want, sizeof(want), "fiber %llu blocked",
		 (unsigned long long)id);
	/* No budget left: silent. */
	ASSERT_EQ(0, gfc_param_set("hung_warnings", "0"));
	ASSERT_EQ(0, gfc_param_set("hung_timeout_secs", "2"));
	park(&self->c, 1, id, GFIBERS_WAIT_SLEEP);
	EXPECT_EQ(0, wait_for(self->kmsg, want, 5000, 1));
	/* Off: silent too. */
	ASSERT_EQ(0, gfc_param_set("hung_warnings", "-1"));
	ASSERT_EQ(0, gfc_param_set("hung_timeout_secs", "0"));
	park(&self->c, 1, id, GFIBERS_WAIT_SLEEP);
	EXPECT_EQ(0, wait_for(self->kmsg, want, 4000, 1));
}

/*
 * The budget is per user: one user's forged "waiting" slots (more than
 * hung_warnings of them, parked at once) do not use up the messages
 * about another user's hung fiber.
 */
#define UID_A	61001
#define UID_B	61002

static int open_as(struct gfc *c, uid_t uid, unsigned int n)
{
	int err;

	if (setresuid(uid, uid, 0))
		return -errno;
	err = gfc_open(c);
	if (setresuid(0, 0, 0))
		return -errno;
	return err ?: gfc_reserve(c, n);
}

TEST_F_TIMEOUT(watchdog, budget_per_user, 90)
{
	uint64_t forged = 1100000 + (uint64_t)getpid() * 100, real;
	char want[128];
	struct gfc a, b;
	int i, na = 0;

	if (geteuid())
		SKIP(return, "needs root: changes uid");
	real = forged + 99;
	ASSERT_EQ(0, open_as(&a, UID_A, 12));
	ASSERT_EQ(0, open_as(&b, UID_B, 1));
	ASSERT_EQ(0, gfc_param_set("hung_warnings", "10"));
	ASSERT_EQ(0, gfc_param_set("hung_timeout_secs", "2"));
	/* The forger's table comes first in every scan. */
	for (i = 0; i < 12; i++)
		park(&a, i, forged + i, GFIBERS_WAIT_SLEEP);
	park(&b, 0, real, GFIBERS_WAIT_CHAN_RECV);
	snprintf(want, sizeof(want), "fiber %llu blocked in 'chan receive'",
		 (unsigned long long)real);
	EXPECT_EQ(1, watch(self->kmsg, want, "blocked in 'sleep'", WAIT_MS,
			   &na))
		TH_LOG("user B's hung fiber was not reported");
	/* The forger's, all before B's (same scan): at most its budget. */
	EXPECT_GE(10, na);
	gfc_close(&a);
	gfc_close(&b);
}

/*
 * A table outlives its owner when another process holds the descriptor
 * (here a grandchild that inherited it). The owner's pid may be another
 * process's by now: no report under it. A fiber of a live owner, parked
 * at the same time, shows that the watchdog did scan.
 */
TEST_F_TIMEOUT(watchdog, dead_owner_not_reported, 90)
{
	uint64_t dead = 1200000 + getpid(), live = dead + 1;
	char want_dead[128], want_live[128];
	int p[2], status, n = 0;
	pid_t child, grandchild = -1;

	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, gfc_param_set("hung_timeout_secs", "2"));
	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		struct gfc c;
		pid_t g;

		close(p[0]);
		if (gfc_open(&c) || gfc_reserve(&c, 1))
			_exit(1);
		park(&c, 0, dead, GFIBERS_WAIT_CHAN_RECV);
		g = fork();
		if (g == 0) {
			/* Keeps the descriptor, and so the table. */
			for (;;)
				pause();
		}
		if (g < 0 || write(p[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	EXPECT_EQ(sizeof(grandchild), read(p[0], &grandchild,
					   sizeof(grandchild)));
	close(p[0]);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_EQ(0, status);
	park(&self->c, 2, live, GFIBERS_WAIT_CHAN_RECV);
	snprintf(want_dead, sizeof(want_dead), "fiber %llu blocked",
		 (unsigned long long)dead);
	snprintf(want_live, sizeof(want_live), "fiber %llu blocked",
		 (unsigned long long)live);
	EXPECT_EQ(1, watch(self->kmsg, want_live, want_dead, WAIT_MS, &n));
	n += wait_for(self->kmsg, want_dead, 3000, 0);
	EXPECT_EQ(0, n) TH_LOG("reported under the pid of its dead owner");
	if (grandchild > 0) {
		kill(grandchild, SIGKILL);
		waitpid(grandchild, NULL, 0);
	}
}

/* A fiber its runtime judged leaked is reported, once, as leaked. */
TEST_F_TIMEOUT(watchdog, leaked_reported, 90)
{
	uint64_t id = 1300000 + getpid();
	char want[256];

	ASSERT_EQ(0, gfc_param_set("hung_timeout_secs", "2"));
	park_as(&self->c, 3, id, GFIBERS_WAIT_CHAN_RECV, GFIBERS_GLEAKED);
	snprintf(want, sizeof(want),
		 "fiber %llu leaked in 'chan receive' (can never wake) for more than 2 seconds at 0x%llx",
		 (unsigned long long)id,
		 (unsigned long long)(0x4242000 + id));
	EXPECT_EQ(1, wait_for(self->kmsg, want, WAIT_MS, 1))
		TH_LOG("no kernel message \"%s\"", want);
	EXPECT_EQ(0, wait_for(self->kmsg, want, 4000, 0))
		TH_LOG("\"%s\" reported twice", want);
}

TEST_HARNESS_MAIN
