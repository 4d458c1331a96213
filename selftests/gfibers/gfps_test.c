// SPDX-License-Identifier: GPL-2.0
/*
 * gfps from outside: a child process (a real libgfiber program registered
 * with the module) leaks fibers at known lines of this file, then blocks
 * its main thread in read(2); gfps, run as a separate program on
 * /proc/gfibers, must give exact counts, status and reason, the wait and
 * creation sites as function (file:line), and the parked stacks' frames in
 * order: while the child runs, while it is SIGSTOPped, and, run by an
 * unprivileged user, one clear line and no addresses. gfps is
 * $GFPS, else /tools/gfps (the VM), else ../../tools/gfps (build/).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gfiber.h"

#define NLEAK	100
#define NSEND	3

static gf_chan_t *nobody_sends, *nobody_receives;
static gf_waitgroup_t parked = GF_WAITGROUP_INIT;
static volatile int woke;
/* The lines the test expects, set where they are (same line). */
static int line_wait, line_middle, line_leaker, line_create, line_send,
	line_send_create;
static int ready[2], block[2];

__attribute__((noinline)) static void bottom(gf_chan_t *c)
{
	long v;

	line_wait = __LINE__; gf_chan_recv(c, &v);
	woke++;
}

__attribute__((noinline)) static void middle(gf_chan_t *c)
{
	line_middle = __LINE__; bottom(c);
	woke++;
}

static void leaker(void *arg)
{
	gf_waitgroup_done(&parked);
	line_leaker = __LINE__; middle(arg);
	woke++;
}

static void sender(void *arg)
{
	long v = 1;

	(void)arg;
	gf_waitgroup_done(&parked);
	line_send = __LINE__; gf_chan_send(nobody_receives, &v);
	woke++;
}

static int child_main(void *arg)
{
	char c = 0;
	int i;

	(void)arg;
	nobody_sends = gf_chan_new(sizeof(long), 0);
	nobody_receives = gf_chan_new(sizeof(long), 0);
	if (!nobody_sends || !nobody_receives || gf_registry_mode() != 1)
		_exit(3);
	gf_waitgroup_add(&parked, NLEAK + NSEND);
	for (i = 0; i < NLEAK; i++) {
		line_create = __LINE__; gf_go(leaker, gf_chan_ref(nobody_sends));
	}
	for (i = 0; i < NSEND; i++) {
		line_send_create = __LINE__; gf_go(sender, NULL);
	}
	gf_waitgroup_wait(&parked);
	gf_sleep(50000000);	/* the last ones reach their park */
	gf_chan_unref(nobody_sends);	/* the leakers: provably leaked */
	gf_sleep(50000000);
	/* the lines, then every thread blocked: this one in read(2) */
	int lines[6] = { line_wait, line_middle, line_leaker, line_create,
			 line_send, line_send_create };
	if (write(ready[1], lines, sizeof(lines)) != sizeof(lines))
		_exit(4);
	if (read(block[0], &c, 1) < 0)
		_exit(5);
	_exit(0);
}

static const char *gfps_path(void)
{
	static const char *const cand[] = { "/tools/gfps", "../../tools/gfps" };
	const char *e = getenv("GFPS");
	size_t i;

	if (e)
		return e;
	for (i = 0; i < sizeof(cand) / sizeof(cand[0]); i++)
		if (!access(cand[i], X_OK))
			return cand[i];
	return NULL;
}

/* Run gfps with args; its stdout (and stderr into err) as a string. */
static char *run(const char *args, uid_t uid, char *err, size_t errlen)
{
	char cmd[512], *out = NULL;
	size_t cap = 0, len = 0;
	int errp[2], st;
	FILE *fp;
	pid_t pid;
	ssize_t r;

	snprintf(cmd, sizeof(cmd), "%s %s", gfps_path(), args);
	if (pipe(errp))
		return NULL;
	int outp[2];

	if (pipe(outp))
		return NULL;
	pid = fork();
	if (!pid) {
		dup2(outp[1], 1);
		dup2(errp[1], 2);
		if (uid && (setresgid(uid, uid, uid) || setresuid(uid, uid, uid)))
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(outp[1]);
	close(errp[1]);
	fp = fdopen(outp[0], "r");
	out = NULL;
	{
		char buf[4096];
		size_t k;

		while ((k = fread(buf, 1, sizeof(buf), fp)) > 0) {
			if (len + k + 1 > cap) {
				cap = 2 * (len + k + 1);
				out = realloc(out, cap);
			}
			memcpy(out + len, buf, k);
			len += k;
		}
	}
	fclose(fp);
	if (!out)
		out = calloc(1, 1);
	else
		out[len] = 0;
	r = read(errp[0], err, errlen - 1);
	err[r > 0 ? r : 0] = 0;
	close(errp[0]);
	waitpid(pid, &st, 0);
	return out;
}

FIXTURE(target) {
	pid_t child;
	int lines[6];
};

FIXTURE_SETUP(target)
{
	if (access("/proc/gfibers", R_OK))
		SKIP(return, "/proc/gfibers absent: gfibers.ko not loaded");
	if (!gfps_path())
		SKIP(return, "no gfps (build/tools/gfps; set GFPS)");
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(block));
	self->child = fork();
	ASSERT_LE(0, self->child);
	if (!self->child) {
		close(ready[0]);
		close(block[1]);
		gf_main(child_main, NULL);
		_exit(6);
	}
	close(ready[1]);
	close(block[0]);
	ASSERT_EQ(sizeof(self->lines), read(ready[0], self->lines, sizeof(self->lines)));
}

FIXTURE_TEARDOWN(target)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		waitpid(self->child, NULL, 0);
	}
}

/* The grouped table: exact counts, status, reason, both sites. */
static void check_table(struct __test_metadata *_metadata, pid_t child,
			const int *lines)
{
	char args[64], err[1024], want[256];
	char *out;

	snprintf(args, sizeof(args), "-p %d", child);
	out = run(args, 0, err, sizeof(err));
	ASSERT_NE(NULL, out);
	TH_LOG("gfps %s:\n%s%s", args, out, err);
	snprintf(want, sizeof(want), " %d leaked    chan receive ", NLEAK);
	EXPECT_NE(NULL, strstr(out, want));
	snprintf(want, sizeof(want), "  bottom (gfps_test.c:%d)  child_main (gfps_test.c:%d)\n",
		 lines[0], lines[3]);
	EXPECT_NE(NULL, strstr(out, want));
	snprintf(want, sizeof(want), " %d waiting   chan send ", NSEND);
	EXPECT_NE(NULL, strstr(out, want));
	snprintf(want, sizeof(want), "  sender (gfps_test.c:%d)  child_main (gfps_test.c:%d)\n",
		 lines[4], lines[5]);
	EXPECT_NE(NULL, strstr(out, want));
	/* biggest group first */
	EXPECT_LT(strstr(out, "leaked"), strstr(out, "chan send"));
	EXPECT_EQ(0, err[0]);
	free(out);
}

/* One leaked fiber's whole stack, Go's traceback, frames in order. */
static void check_stack(struct __test_metadata *_metadata, pid_t child,
			const int *lines)
{
	char args[64], err[1024], want[512];
	char *out, *p;

	snprintf(args, sizeof(args), "-p %d --leaked -o traceback", child);
	out = run(args, 0, err, sizeof(err));
	ASSERT_NE(NULL, out);
	TH_LOG("gfps %s:\n%s%s", args, out, err);
	snprintf(want, sizeof(want), "chan receive, leaked, %d fibers]: pid %d ", NLEAK, child);
	EXPECT_NE(NULL, strstr(out, want));
	snprintf(want, sizeof(want),
		 "bottom(...)\n\tselftests/gfibers/gfps_test.c:%d +0x",
		 lines[0]);
	p = strstr(out, want);
	EXPECT_NE(NULL, p);
	snprintf(want, sizeof(want),
		 "middle(...)\n\tselftests/gfibers/gfps_test.c:%d +0x", lines[1]);
	EXPECT_LT(p, strstr(out, want));
	p = strstr(out, want);
	snprintf(want, sizeof(want),
		 "leaker(...)\n\tselftests/gfibers/gfps_test.c:%d +0x", lines[2]);
	EXPECT_LT(p, strstr(out, want));
	snprintf(want, sizeof(want), "created by child_main in fiber 1\n\tselftests/gfibers/gfps_test.c:%d +0x",
		 lines[3]);
	EXPECT_NE(NULL, strstr(out, want));
	/* the runtime's frames are hidden */
	EXPECT_EQ(NULL, strstr(out, "gfi_"));
	EXPECT_EQ(NULL, strstr(out, "no stack"));
	free(out);
}

TEST_F(target, groups_sites_and_stacks_of_a_blocked_process)
{
	check_table(_metadata, self->child, self->lines);
	check_stack(_metadata, self->child, self->lines);
}

TEST_F(target, sigstopped_process)
{
	ASSERT_EQ(0, kill(self->child, SIGSTOP));
	check_table(_metadata, self->child, self->lines);
	check_stack(_metadata, self->child, self->lines);
	ASSERT_EQ(0, kill(self->child, SIGCONT));
}

TEST_F(target, unprivileged_reader_gets_one_line_and_no_addresses)
{
	char args[64], err[1024], *out;

	snprintf(args, sizeof(args), "-p %d -s", self->child);
	out = run(args, 65534, err, sizeof(err));
	ASSERT_NE(NULL, out);
	TH_LOG("gfps %s (as nobody):\n%s%s", args, out, err);
	EXPECT_NE(NULL, strstr(err, "no access to its memory maps"));
	/* one line */
	EXPECT_EQ(strchr(err, '\n'), strrchr(err, '\n'));
	EXPECT_EQ(NULL, strstr(out, "0x"));
	/* counts and reasons are everybody's */
	EXPECT_NE(NULL, strstr(out, " 100 leaked    chan receive "));
	free(out);
}

TEST_F(target, target_exits_while_watched)
{
	char args[64], err[1024], *out;

	/* the second sample finds the process gone (or going): no crash */
	snprintf(args, sizeof(args), "-p %d -s -w 1 -n 2 & sleep 0.5; kill -9 %d; wait",
		 self->child, self->child);
	out = run(args, 0, err, sizeof(err));
	ASSERT_NE(NULL, out);
	TH_LOG("gfps %s:\n%s%s", args, out, err);
	EXPECT_NE(NULL, strstr(out, "# sample 1"));
	EXPECT_NE(NULL, strstr(out, "# sample 2"));
	waitpid(self->child, NULL, 0);
	self->child = 0;
	free(out);
}

/*
 * Fibers that park and wake all the time: every stack gfps shows must be
 * one of theirs, whole, of the park /proc/gfibers showed (its top frame at
 * the line of that wait reason), or be reported as one that ran while
 * being read; never frames of two moments (a garbage stack), never the
 * stack of another park under this one's reason. Then again with gfps
 * sleeping between reading the switch frame and walking the stack
 * (GFPS_TEST_DELAY_US), so that the fibers run, and park again at the
 * same depth, while their stacks are read: the window in which a stack of
 * another moment used to pass gfps's checks (before format 2's seq).
 */
static gf_chan_t *ping;
/* [0] pinger's send, [1] its sleep, [2] ponger's receive, [3] its sleep */
static int busy_lines[4];

/*
 * Mostly 1 ms parks, which always run while gfps reads them; every 8th
 * sleep 200 ms, a park that a read can see whole (its partner then waits
 * as long in its receive).
 */
__attribute__((noinline)) static void pinger(void *arg)
{
	long v = 0, i;

	(void)arg;
	for (i = 1;; i++) {
		busy_lines[0] = __LINE__; gf_chan_send(ping, &v);
		busy_lines[1] = __LINE__; gf_sleep(i % 8 ? 1000000 : 200000000);
		woke++;
	}
}

__attribute__((noinline)) static void ponger(void *arg)
{
	long v;

	(void)arg;
	for (;;) {
		busy_lines[2] = __LINE__; gf_chan_recv(ping, &v);
		busy_lines[3] = __LINE__; gf_sleep(1000000);
		woke++;
	}
}

static int busy_main(void *arg)
{
	char c;
	int i;

	(void)arg;
	ping = gf_chan_new(sizeof(long), 0);
	if (!ping || gf_registry_mode() != 1)
		_exit(3);
	for (i = 0; i < 4; i++) {
		gf_go(pinger, NULL);
		gf_go(ponger, NULL);
	}
	gf_sleep(50000000);
	if (write(ready[1], busy_lines, sizeof(busy_lines)) != sizeof(busy_lines))
		_exit(4);
	/* main parks too (a fiber's read), its thread stays free */
	if (gf_read(block[0], &c, 1) < 0)
		_exit(5);
	_exit(0);
}

struct busy_count {
	int stacks, ran, bad;
};

/* The end of one fiber's block: its top frame at the wait of its reason. */
static void busy_block(struct __test_metadata *_metadata, const char *reason,
		       const char *fn, int line, bool ran, const int *lines,
		       int round, struct busy_count *n)
{
	int want;

	if (!fn)
		return;
	if (!strcmp(fn, "pinger"))
		want = lines[strcmp(reason, "sleep") ? 0 : 1];
	else if (!strcmp(fn, "ponger"))
		want = lines[strcmp(reason, "sleep") ? 2 : 3];
	else
		return;
	if (line != want) {
		TH_LOG("round %d: %s [%s] shown at line %d, its wait is at %d (%s)",
		       round, fn, reason, line, want, ran ? "no stack" : "stack");
		n->bad++;
	}
	if (ran)
		n->ran++;
	else
		n->stacks++;
}

/*
 * One gfps -o traceback output: each fiber's block is "fiber N [REASON,
 * ...]: ...", its frames ("fn(...)", "\tfile:line +0xoff") or, for one
 * without a stack, its wait site and "\t(no stack: why)", then "created
 * by" and its line.
 */
static void busy_check(struct __test_metadata *_metadata, char *out,
		       const int *lines, int round, struct busy_count *n)
{
	char reason[64] = "", *line, *save;
	const char *fn = NULL;
	bool ran = false, top = false;
	int at = -1;

	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "fiber ", 6)) {
			const char *b = strchr(line, '[');
			size_t k = b ? strcspn(b + 1, ",]") : 0;

			busy_block(_metadata, reason, fn, at, ran, lines, round, n);
			snprintf(reason, sizeof(reason), "%.*s", (int)k, b ? b + 1 : "");
			fn = NULL;
			ran = false;
			top = true;
			at = -1;
			continue;
		}
		if (strstr(line, "(no stack: the fiber ran while being read)")) {
			ran = true;
			continue;
		}
		if (!strncmp(line, "created by ", 11)) {
			top = false;
			continue;
		}
		if (line[0] == '\t') {
			const char *c = strstr(line, "gfps_test.c:");

			if (top && fn && at < 0)
				at = c ? atoi(c + 12) : 0;
			continue;
		}
		/* a frame: one of the test's functions, nothing else */
		if (top && !fn)
			fn = !strcmp(line, "pinger(...)") ? "pinger" :
			     !strcmp(line, "ponger(...)") ? "ponger" : "other";
		if (strcmp(line, "pinger(...)") && strcmp(line, "ponger(...)") &&
		    strcmp(line, "busy_main(...)") &&
		    strcmp(line, "stacks_of_busy_fibers_are_whole_or_reported_as_ran(...)")) {
			TH_LOG("round %d: unexpected frame '%s'", round, line);
			n->bad++;
		}
	}
	busy_block(_metadata, reason, fn, at, ran, lines, round, n);
}

TEST(stacks_of_busy_fibers_are_whole_or_reported_as_ran)
{
	struct busy_count plain = { 0 }, delayed = { 0 };
	char args[64], err[1024], *out;
	struct timespec t0, t1;
	double elapsed = 0;
	int round, lines[4];
	pid_t child;

	if (access("/proc/gfibers", R_OK))
		SKIP(return, "/proc/gfibers absent: gfibers.ko not loaded");
	if (!gfps_path())
		SKIP(return, "no gfps (build/tools/gfps; set GFPS)");
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(block));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		gf_main(busy_main, NULL);
		_exit(6);
	}
	ASSERT_EQ(sizeof(lines), read(ready[0], lines, sizeof(lines)));
	snprintf(args, sizeof(args), "-p %d -a -o traceback", child);
	/*
	 * 20 plain rounds, then up to 40 delayed ones: as many as fit in
	 * 20 s of the harness's 30 (at least 5), so that a slow machine
	 * runs fewer rounds instead of timing out.
	 */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (round = 0; round < 60; round++) {
		struct busy_count *n = round < 20 ? &plain : &delayed;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		elapsed = (double)(t1.tv_sec - t0.tv_sec) +
			  (t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (round >= 25 && elapsed > 20)
			break;
		if (round == 20)
			setenv("GFPS_TEST_DELAY_US", "3000", 1);
		out = run(args, 0, err, sizeof(err));
		ASSERT_NE(NULL, out);
		busy_check(_metadata, out, lines, round, n);
		free(out);
	}
	unsetenv("GFPS_TEST_DELAY_US");
	TH_LOG("%d whole stacks, %d reported as ran while being read; with a 3 ms delay in the read, %d rounds: %d and %d; %.1f s",
	       plain.stacks, plain.ran, round - 20, delayed.stacks, delayed.ran,
	       elapsed);
	EXPECT_EQ(0, plain.bad + delayed.bad);
	/* the long parks are read whole, with or without the delay */
	EXPECT_LT(0, plain.stacks);
	EXPECT_LT(0, delayed.stacks);
	/* the short ones run while read: said so */
	EXPECT_LT(0, plain.ran + delayed.ran);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

TEST_HARNESS_MAIN
