// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrent readers of /proc/gfibers while processes register, update,
 * grow and exit, for GFC_CHURN_SECS (default 20 s; the environment
 * variable GFIBERS_CHURN_SECS overrides it). Every read must finish and
 * be well formed; at the end, every table is gone.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "gfibers_client.h"

#define GFC_CHURN_SECS	20
#define NREADERS	3
#define NCHURNERS	3

static int churn_secs(void)
{
	const char *e = getenv("GFIBERS_CHURN_SECS");

	return e && atoi(e) > 0 ? atoi(e) : GFC_CHURN_SECS;
}

/* A short-lived process: register, update, grow, and exit or be killed. */
static void churn_once(unsigned int round)
{
	unsigned int n = 100 + (round * 997) % 1500, i, k;
	struct gfibers_slot v;
	struct gfc c;

	if (gfc_open(&c) || gfc_reserve(&c, n))
		_exit(1);
	for (k = 0; k < 5; k++)
		for (i = 0; i < n; i++) {
			gfc_sample(&v, i + 1);
			v.status = (i + k) % 2 ? GFIBERS_GWAITING :
						 GFIBERS_GRUNNABLE;
			if ((i + k) % 7 == 0)
				gfc_release(gfc_slot(&c, i));
			else
				gfc_write(gfc_slot(&c, i), &v);
		}
	if (round % 3 == 0)
		gfc_close(&c);
	_exit(0);
}

static void churner(time_t end)
{
	unsigned int round = 0;
	pid_t pid;

	while (time(NULL) < end) {
		pid = fork();
		if (pid < 0)
			_exit(1);
		if (pid == 0)
			churn_once(round);
		if (round % 4 == 1) {
			usleep(1000);
			kill(pid, SIGKILL);
		}
		waitpid(pid, NULL, 0);
		round++;
	}
	_exit(0);
}

/* Read until @end; exit 0 if every read was complete and well formed. */
static void reader(time_t end)
{
	char cols[GFC_NCOLS][64];
	unsigned long reads = 0;
	char *dump, *line;

	while (time(NULL) < end) {
		dump = gfc_slurp(GFC_PROC, NULL);
		if (!dump || strncmp(dump, "# gfibers 2\n", 12))
			_exit(2);
		for (line = dump; *line; line = strchr(line, '\n') + 1) {
			if (!strchr(line, '\n'))
				_exit(3);
			if (*line != '#' && gfc_split(line, cols) != GFC_NCOLS)
				_exit(4);
		}
		free(dump);
		reads++;
	}
	printf("# reader %d: %lu reads\n", getpid(), reads);
	fflush(stdout);
	_exit(reads ? 0 : 5);
}

FIXTURE(churn) {
	long tables0;
};

FIXTURE_SETUP(churn)
{
	if (!gfc_present())
		SKIP(return, GFC_DEV " absent: gfibers.ko not loaded");
	self->tables0 = gfc_stat("tables");
}

FIXTURE_TEARDOWN(churn)
{
}

TEST_F_TIMEOUT(churn, readers_and_churn, 100)
{
	pid_t pids[NREADERS + NCHURNERS];
	time_t end = time(NULL) + churn_secs();
	int i, status;

	for (i = 0; i < NREADERS + NCHURNERS; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			if (i < NREADERS)
				reader(end);
			churner(end);
		}
	}
	for (i = 0; i < NREADERS + NCHURNERS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status))
			TH_LOG("%s %d exited %d", i < NREADERS ? "reader" :
			       "churner", pids[i], WEXITSTATUS(status));
	}
	EXPECT_EQ(self->tables0, gfc_stat("tables"));
}

TEST_HARNESS_MAIN
