// SPDX-License-Identifier: GPL-2.0
/*
 * The hung-fiber watchdog: with hung_timeout_secs=2, a fiber parked for
 * longer is reported in the kernel log, once per park episode, within
 * the warnings budget.
 */
#define _GNU_SOURCE
#include <poll.h>

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

static void park(struct gfc *c, unsigned int i, uint64_t id, uint32_t reason)
{
	struct gfibers_slot v;

	gfc_sample(&v, id);
	v.wait_reason = reason;
	v.wait_pc = 0x4242000 + id;
	v.wait_since_ns = gfc_now_ns();
	gfc_write(gfc_slot(c, i), &v);
}

TEST_F_TIMEOUT(watchdog, reports_once_per_episode, 90)
{
	uint64_t id = 770000 + getpid();
	long warnings0 = gfc_stat("warnings");
	char want[256], comm[32] = "";
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

	/* A new park is a new episode; a program-named reason is shown. */
	gfc_set_reason(&self->c, 2, "db query");
	park(&self->c, 0, id, GFIBERS_WAIT_USER_BASE + 2);
	snprintf(want, sizeof(want),
		 "fiber %llu blocked in 'db query' for more than 2 seconds",
		 (unsigned long long)id);
	EXPECT_EQ(1, wait_for(self->kmsg, want, WAIT_MS, 1))
		TH_LOG("no kernel message \"%s\"", want);
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

TEST_HARNESS_MAIN
