// SPDX-License-Identifier: GPL-2.0
/*
 * A libgfiber program forks, and /proc/gfibers follows (ulib/registry.c,
 * fork_child; docs/ulib.md, "fork()"). Fibers parked in four ways (chan
 * receive, chan send, sync.Mutex.Lock, a reason the program names), then:
 *
 *  - fork from a fiber: the child lists, under its own pid, every fiber
 *    alive at the fork, with the parent's ids, status, wait reason, wait
 *    object, wait site and saved context; tid 0 for the parked ones (no
 *    thread of the child ran them), the child's tid for the caller. The
 *    child's copies are its own: one it wakes leaves its table only, a
 *    fiber it creates is listed under its pid only; a fiber the parent
 *    creates after the fork is listed under the parent's only. When the
 *    child exits (before it is reaped) its lines are gone and the
 *    parent's are as before;
 *  - fork from a plain thread, the fibers parked but one that runs on
 *    another thread: the same table, that one "running" with tid 0;
 *  - fork and exec: nothing of the parent in the new image's table, be
 *    it a libgfiber program (fresh fiber ids from 1) or not (no table);
 *  - the parent exits while its fork child lives: the parent's table is
 *    freed (the child must not keep it through the inherited descriptor).
 *
 * The child of a threaded program has one thread, the caller's: the tests
 * that use the runtime in the child run with one processor (GF_PROCS=1),
 * so that no other thread holds a runtime lock at the fork.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gfiber.h"
#include "gfibers_client.h"
#include "lib/symbolize.h"

#define MS		1000000LL
#define TIMEOUT_MS	20000	/* for anything to show, under emulation */

static struct __test_metadata *meta;
static const char *role = "parent";
static int failures;

/* EXPECT for fibers, threads and fork children: log, count, go on. */
#define CHECK(cond, fmt, ...) do {					\
	if (!(cond)) {							\
		struct __test_metadata *_metadata = meta;		\
		TH_LOG("%s %d: " fmt, role, getpid(), ##__VA_ARGS__);	\
		failures++;						\
	}								\
} while (0)

/* ---------------------------------------------------------- parked fibers */

static gf_chan_t *ch_recv, *ch_send;
static gf_mutex_t mu = GF_MUTEX_INIT;
static int reason_parked, reason_child, reason_parent, reason_exec;
/* A store after each blocking call: no tail call, the frame stays. */
static volatile long woke;

static bool stay(gf_fiber_t *self, void *lock)
{
	(void)self;
	(void)lock;
	return true;
}

static void park_recv(void *a)
{
	long v = 0;

	(void)a;
	gf_chan_recv(ch_recv, &v);
	woke = v;
}

static void park_send(void *a)
{
	long v = 1;

	(void)a;
	gf_chan_send(ch_send, &v);
	woke++;
}

static void park_mutex(void *a)
{
	(void)a;
	gf_mutex_lock(&mu);
	woke++;
}

static void park_custom(void *a)
{
	(void)a;
	gf_park(stay, NULL, reason_parked);
	woke++;
}

/* Created in the child: tells its creator it runs, then parks. */
static void park_child(void *a)
{
	gf_chan_t *hs = a;
	long v = 1;

	gf_chan_send(hs, &v);
	gf_chan_unref(hs);
	gf_park(stay, NULL, reason_child);
	woke++;
}

/* Created in the parent after the fork. */
static void park_parent(void *a)
{
	(void)a;
	gf_park(stay, NULL, reason_parent);
	woke++;
}

/* [0] is the main fiber (the caller of fork), the rest are parked. */
static struct fiber {
	void (*fn)(void *);
	const char *func;
	const char *reason;
	int64_t id;
	char cols[GFC_NCOLS][64];	/* its line in the parent before the fork */
} fibers[] = {
	{ .fn = NULL, .func = "main", .reason = "-" },
	{ .fn = park_recv, .func = "park_recv", .reason = "chan receive" },
	{ .fn = park_send, .func = "park_send", .reason = "chan send" },
	{ .fn = park_mutex, .func = "park_mutex", .reason = "sync.Mutex.Lock" },
	{ .fn = park_custom, .func = "park_custom", .reason = "fork test: parked" },
};
#define NFIBERS		(int)(sizeof(fibers) / sizeof(fibers[0]))
#define F_RECV		1
#define F_CUSTOM	4

static char *read_table(void)
{
	char *buf = gfc_slurp(GFC_PROC, NULL);

	CHECK(buf, "read %s: %m", GFC_PROC);
	return buf;
}

/* Sleep a little: parks in a fiber, blocks a plain thread. */
static void nap(void)
{
	if (gf_id())
		gf_sleep(20 * MS);
	else
		usleep(20000);
}

static bool all_waiting(const char *buf, int pid, int from, int to)
{
	char cols[GFC_NCOLS][64];
	int i;

	for (i = from; i < to; i++)
		if (!gfc_find(buf, pid, fibers[i].id, cols) ||
		    strcmp(cols[GFC_STATUS], "waiting"))
			return false;
	return true;
}

/* Until fibers[from..to) of this process show "waiting"; the last read. */
static char *wait_parked(int from, int to)
{
	char *buf = NULL;
	int t;

	for (t = 0; t < TIMEOUT_MS / 20; t++) {
		free(buf);
		buf = read_table();
		if (!buf || all_waiting(buf, getpid(), from, to))
			break;
		nap();
	}
	return buf;
}

/* Until /proc/gfibers_stats counts @want tables (tables free at exit). */
static long wait_tables(long want)
{
	long n = -1;
	int t;

	for (t = 0; t < TIMEOUT_MS / 20; t++) {
		n = gfc_stat("tables");
		if (n == want)
			break;
		nap();
	}
	return n;
}

/* The wait site of the line @cols in process @pid is in function @func. */
static void check_site(int pid, char cols[GFC_NCOLS][64], const char *func)
{
	struct gfsym_cache *syms = gfsym_new();
	char sym[256], fn[128];
	uint64_t pc = strtoull(cols[GFC_WAIT_PC], NULL, 16);

	if (!syms || gfsym_lookup(syms, pid, pc, sym, sizeof(sym), fn,
				  sizeof(fn)))
		CHECK(0, "fiber %s: wait_pc 0x%llx not in any mapping: %m",
		      cols[GFC_FIBER], (unsigned long long)pc);
	else
		CHECK(!strcmp(fn, func),
		      "fiber %s: wait site expected in %s(), got %s",
		      cols[GFC_FIBER], func, sym);
	gfsym_free(syms);
}

/*
 * Create the parked fibers, wait until they all wait, and keep their lines
 * (fibers[i].cols); the main fiber's line too (it is running). 0 or -1.
 */
static int setup_parked(void)
{
	char *buf;
	int i;

	CHECK(gf_registry_mode() == 1,
	      "libgfiber did not register with /dev/gfibers (mode %d)",
	      gf_registry_mode());
	ch_recv = gf_chan_new(sizeof(long), 0);
	ch_send = gf_chan_new(sizeof(long), 0);
	reason_parked = gf_wait_reason(fibers[F_CUSTOM].reason);
	CHECK(ch_recv && ch_send && reason_parked > 0, "setup: %m");
	if (failures)
		return -1;
	gf_mutex_lock(&mu);
	fibers[0].id = gf_id();
	for (i = 1; i < NFIBERS; i++)
		fibers[i].id = gf_go(fibers[i].fn, NULL);
	buf = wait_parked(1, NFIBERS);
	if (!buf)
		return -1;
	CHECK(gfc_count(buf, getpid(), NULL) == NFIBERS,
	      "%ld fibers listed before the fork, expected %d",
	      gfc_count(buf, getpid(), NULL), NFIBERS);
	for (i = 0; i < NFIBERS; i++) {
		struct fiber *f = &fibers[i];

		if (!gfc_find(buf, getpid(), f->id, f->cols)) {
			CHECK(0, "fiber %lld (%s) not listed",
			      (long long)f->id, f->func);
			continue;
		}
		CHECK(!strcmp(f->cols[GFC_STATUS], i ? "waiting" : "running") &&
		      !strcmp(f->cols[GFC_REASON], f->reason),
		      "fiber %lld (%s): %s/'%s' before the fork",
		      (long long)f->id, f->func, f->cols[GFC_STATUS],
		      f->cols[GFC_REASON]);
		if (i)
			check_site(getpid(), f->cols, f->func);
	}
	free(buf);
	return failures ? -1 : 0;
}

/*
 * The line of fiber @f under @pid is its line before the fork: every
 * column but the wait time, the pid, comm, and (@tid NULL) the tid.
 */
static void check_same(const char *buf, int pid, const struct fiber *f,
		       const char *tid)
{
	static const int cmp[] = {
		GFC_FIBER, GFC_PARENT, GFC_STATUS, GFC_WAIT_OBJ, GFC_WAIT_PC,
		GFC_CREATE_PC, GFC_SAVED_PC, GFC_SAVED_SP, GFC_SAVED_FP,
		GFC_REASON,
	};
	char cols[GFC_NCOLS][64];
	size_t c;

	if (!gfc_find(buf, pid, f->id, cols)) {
		CHECK(0, "fiber %lld (%s) not listed under pid %d",
		      (long long)f->id, f->func, pid);
		return;
	}
	for (c = 0; c < sizeof(cmp) / sizeof(cmp[0]); c++)
		CHECK(!strcmp(cols[cmp[c]], f->cols[cmp[c]]),
		      "pid %d fiber %lld (%s): column %d is '%s', was '%s'",
		      pid, (long long)f->id, f->func, cmp[c] + 1,
		      cols[cmp[c]], f->cols[cmp[c]]);
	CHECK(!strcmp(cols[GFC_TID], tid ? tid : f->cols[GFC_TID]),
	      "pid %d fiber %lld (%s): tid %s, expected %s", pid,
	      (long long)f->id, f->func, cols[GFC_TID],
	      tid ? tid : f->cols[GFC_TID]);
}

/* Wait for @pid to exit without reaping it: its pid still names it. */
static int wait_exit_noreap(pid_t pid)
{
	siginfo_t si;
	int r;

	if (gf_id())
		gf_syscall_enter();
	r = waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
	if (gf_id())
		gf_syscall_exit();
	CHECK(r == 0, "waitid(%d): %m", pid);
	return r;
}

/* Reap @pid; it must have exited with status 0. */
static void reap(pid_t pid)
{
	int st = 0;

	CHECK(waitpid(pid, &st, 0) == pid, "waitpid(%d): %m", pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "child %d ended with status 0x%x", pid, st);
}

/* -------------------------------------------------- fork from a fiber */

/* In the child: read one byte from @fd, waiting at most TIMEOUT_MS. */
static int wait_byte(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	/*
	 * A blocking call in a fiber, unwrapped: the child's one thread has
	 * nothing else to run, and no other thread is left to retake it.
	 */
	if (poll(&pfd, 1, TIMEOUT_MS) != 1 || read(fd, &c, 1) != 1)
		return -1;
	return c;
}

static void child_of_fiber(int go)
{
	pid_t me = getpid(), parent = getppid();
	char cols[GFC_NCOLS][64], tid[16];
	gf_chan_t *hs;
	int64_t nid;
	char *buf;
	long v;
	int i;

	snprintf(tid, sizeof(tid), "%d", me);

	/* What fork_child registered: the parent's fibers, as they were. */
	buf = read_table();
	if (!buf)
		return;
	CHECK(gfc_count(buf, me, NULL) == NFIBERS,
	      "%ld fibers listed under the child, expected %d",
	      gfc_count(buf, me, NULL), NFIBERS);
	CHECK(gfc_find(buf, me, fibers[0].id, cols) &&
	      !strcmp(cols[GFC_STATUS], "running") &&
	      !strcmp(cols[GFC_TID], tid),
	      "the forking fiber: %s with tid %s, expected running with tid %s",
	      cols[GFC_STATUS], cols[GFC_TID], tid);
	for (i = 1; i < NFIBERS; i++) {
		check_same(buf, me, &fibers[i], "0");
		check_same(buf, parent, &fibers[i], NULL);
	}
	free(buf);

	/* The copies are the child's: wake one, create one. */
	v = 42;
	gf_chan_send(ch_recv, &v);
	for (i = 0; i < 1000 && woke != 42; i++)
		gf_yield();
	CHECK(woke == 42, "the child's park_recv did not run (woke %ld)",
	      woke);
	reason_child = gf_wait_reason("child after fork");
	hs = gf_chan_new(sizeof(long), 0);
	CHECK(reason_child > 0 && hs, "setup in the child: %m");
	if (failures)
		return;
	nid = gf_go(park_child, gf_chan_ref(hs));
	gf_chan_recv(hs, &v);	/* park_child runs, then parks */
	gf_chan_unref(hs);

	buf = read_table();
	if (!buf)
		return;
	CHECK(!gfc_find(buf, me, fibers[F_RECV].id, cols),
	      "the child's park_recv returned but is still listed: %s",
	      cols[GFC_STATUS]);
	check_same(buf, parent, &fibers[F_RECV], NULL);
	for (i = 1; i < NFIBERS; i++)
		CHECK(nid > fibers[i].id, "new fiber id %lld <= %lld",
		      (long long)nid, (long long)fibers[i].id);
	if (gfc_find(buf, me, nid, cols)) {
		CHECK(!strcmp(cols[GFC_STATUS], "waiting") &&
		      !strcmp(cols[GFC_REASON], "child after fork") &&
		      strtoll(cols[GFC_PARENT], NULL, 10) == fibers[0].id &&
		      !strcmp(cols[GFC_TID], tid),
		      "the child's new fiber: %s/'%s', parent %s, tid %s",
		      cols[GFC_STATUS], cols[GFC_REASON], cols[GFC_PARENT],
		      cols[GFC_TID]);
		check_site(me, cols, "park_child");
	} else {
		CHECK(0, "the child's new fiber %lld is not listed",
		      (long long)nid);
	}
	CHECK(gfc_find(buf, me, fibers[0].id, cols) &&
	      !strcmp(cols[GFC_TID], tid),
	      "the forking fiber ran again: tid %s, expected %s",
	      cols[GFC_TID], tid);
	CHECK(gfc_count(buf, me, NULL) == NFIBERS,
	      "%ld fibers under the child, expected %d",
	      gfc_count(buf, me, NULL), NFIBERS);
	free(buf);

	/* Once the parent created its own after the fork: neither sees it. */
	CHECK(wait_byte(go) == 'g', "no word from the parent");
	buf = read_table();
	if (!buf)
		return;
	CHECK(gfc_count_col(buf, me, GFC_REASON, "parent after fork") == 0,
	      "the parent's new fiber is listed under the child");
	CHECK(gfc_count_col(buf, parent, GFC_REASON, "parent after fork") == 1,
	      "the parent's new fiber is not listed under the parent");
	CHECK(gfc_count_col(buf, parent, GFC_REASON, "child after fork") == 0,
	      "the child's new fiber is listed under the parent");
	free(buf);
}

static int fork_from_fiber_main(void *arg)
{
	int go[2], i;
	int64_t pid_fiber;
	pid_t pid;
	char *buf;

	(void)arg;
	if (setup_parked() || pipe2(go, O_CLOEXEC))
		return 1;
	pid = fork();
	if (pid == 0) {
		role = "child";
		close(go[1]);
		child_of_fiber(go[0]);
		_exit(failures ? 1 : 0);
	}
	close(go[0]);
	CHECK(pid > 0, "fork: %m");
	if (pid < 0)
		return 1;

	/* Same reason number as the child's own, another name. */
	reason_parent = gf_wait_reason("parent after fork");
	pid_fiber = gf_go(park_parent, NULL);
	for (i = 0; i < TIMEOUT_MS / 20; i++) {
		char cols[GFC_NCOLS][64];
		bool ok;

		buf = read_table();
		ok = buf && gfc_find(buf, getpid(), pid_fiber, cols) &&
		     !strcmp(cols[GFC_STATUS], "waiting");
		free(buf);
		if (ok)
			break;
		nap();
	}
	CHECK(write(go[1], "g", 1) == 1, "write: %m");
	close(go[1]);

	if (wait_exit_noreap(pid) == 0) {
		buf = read_table();
		if (buf) {
			CHECK(gfc_count(buf, pid, NULL) == 0,
			      "the exited child still has %ld lines",
			      gfc_count(buf, pid, NULL));
			for (i = 1; i < NFIBERS; i++)
				check_same(buf, getpid(), &fibers[i], NULL);
			CHECK(gfc_count(buf, getpid(), NULL) == NFIBERS + 1,
			      "%ld fibers under the parent, expected %d",
			      gfc_count(buf, getpid(), NULL), NFIBERS + 1);
			CHECK(gfc_count_col(buf, getpid(), GFC_REASON,
					    "child after fork") == 0,
			      "the child's new fiber is listed under the parent");
			free(buf);
		}
	}
	reap(pid);
	return 0;
}

TEST(fork_from_a_fiber)
{
	if (access(GFC_PROC, R_OK))
		SKIP(return, "%s absent: gfibers.ko not loaded", GFC_PROC);
	meta = _metadata;
	setenv("GF_PROCS", "1", 1);
	gf_main(fork_from_fiber_main, NULL);
	ASSERT_EQ(0, failures);
}

/* --------------------------------------------- fork from a plain thread */

static gf_chan_t *ch_done;
static volatile int spin_stop;
static int64_t spin_id;

/* Runs, never parks, on the other processor, until told to stop. */
static void spin(void *a)
{
	(void)a;
	while (!spin_stop)
		__builtin_ia32_pause();
}

/* Forks once the main fiber waits for it too: every other fiber parked. */
static void *fork_thread(void *arg)
{
	struct fiber *m = &fibers[0];
	char spun[GFC_NCOLS][64], *buf = NULL;
	long ok = 0;
	pid_t pid;
	int i;

	(void)arg;
	for (i = 0; i < TIMEOUT_MS / 20; i++) {
		free(buf);
		buf = read_table();
		if (!buf || (gfc_find(buf, getpid(), m->id, m->cols) &&
			     !strcmp(m->cols[GFC_STATUS], "waiting") &&
			     gfc_find(buf, getpid(), spin_id, spun) &&
			     !strcmp(spun[GFC_STATUS], "running")))
			break;
		nap();
	}
	free(buf);
	CHECK(!strcmp(m->cols[GFC_STATUS], "waiting") &&
	      !strcmp(spun[GFC_STATUS], "running") &&
	      strcmp(spun[GFC_TID], "0"),
	      "main fiber %s/'%s', spinner %s tid %s: expected waiting, "
	      "running on a thread", m->cols[GFC_STATUS],
	      m->cols[GFC_REASON], spun[GFC_STATUS], spun[GFC_TID]);

	pid = fork();
	if (pid == 0) {
		role = "child";
		buf = read_table();
		if (!buf)
			_exit(1);
		CHECK(gfc_count(buf, getpid(), NULL) == NFIBERS + 1,
		      "%ld fibers listed under the child, expected %d",
		      gfc_count(buf, getpid(), NULL), NFIBERS + 1);
		for (i = 0; i < NFIBERS; i++) {
			check_same(buf, getpid(), &fibers[i], "0");
			check_same(buf, getppid(), &fibers[i], NULL);
		}
		/* Its thread was not copied: it will never run here. */
		CHECK(gfc_find(buf, getpid(), spin_id, spun) &&
		      !strcmp(spun[GFC_STATUS], "running") &&
		      !strcmp(spun[GFC_TID], "0"),
		      "the spinner: %s with tid %s, expected running with tid 0",
		      spun[GFC_STATUS], spun[GFC_TID]);
		free(buf);
		_exit(failures ? 1 : 0);
	}
	CHECK(pid > 0, "fork: %m");
	if (pid > 0 && wait_exit_noreap(pid) == 0) {
		buf = read_table();
		CHECK(buf && gfc_count(buf, pid, NULL) == 0,
		      "the exited child still has lines");
		free(buf);
		reap(pid);
	}
	CHECK(gf_chan_send_until(ch_done, &ok, GF_NOWAIT) == 0,
	      "send: %m");
	gf_chan_unref(ch_done);
	return NULL;
}

static int fork_from_thread_main(void *arg)
{
	pthread_t th;
	char *buf;
	long v;
	int i;

	(void)arg;
	if (setup_parked())
		return 1;
	spin_id = gf_go(spin, NULL);
	ch_done = gf_chan_new(sizeof(long), 1);
	if (!ch_done || pthread_create(&th, NULL, fork_thread,
				       gf_chan_ref(ch_done))) {
		CHECK(0, "setup: %m");
		return 1;
	}
	/*
	 * A deadline, far enough never to pass: deadlock detection takes
	 * only timers, IO and fibers for wakers, not a plain thread.
	 */
	CHECK(gf_chan_recv_until(ch_done, &v, gf_timeout(60000 * MS)) == 0,
	      "no word from the forking thread: %m");
	gf_syscall_enter();
	pthread_join(th, NULL);
	gf_syscall_exit();
	spin_stop = 1;
	for (i = 0; i < TIMEOUT_MS / 20; i++) {
		buf = read_table();
		if (!buf || gfc_count(buf, getpid(), NULL) == NFIBERS)
			break;
		free(buf);
		nap();
	}
	if (buf) {
		for (i = 1; i < NFIBERS; i++)
			check_same(buf, getpid(), &fibers[i], NULL);
		CHECK(gfc_count(buf, getpid(), NULL) == NFIBERS,
		      "%ld fibers under the parent, expected %d",
		      gfc_count(buf, getpid(), NULL), NFIBERS);
		free(buf);
	}
	return 0;
}

TEST(fork_from_a_plain_thread)
{
	if (access(GFC_PROC, R_OK))
		SKIP(return, "%s absent: gfibers.ko not loaded", GFC_PROC);
	meta = _metadata;
	setenv("GF_PROCS", "2", 1);	/* one for the spinner */
	gf_main(fork_from_thread_main, NULL);
	ASSERT_EQ(0, failures);
}

/* ------------------------------------------------------ fork, then exec */

/*
 * The new image: "--exec-gfiber W R" runs one parked fiber, "--exec-plain
 * W R" no runtime at all; each writes 'r' to W once set up and exits at
 * the end of R.
 */
static int exec_fds[2];

static void park_exec(void *a)
{
	(void)a;
	gf_park(stay, NULL, reason_exec);
	woke++;
}

static int exec_gfiber_main(void *arg)
{
	char c;

	(void)arg;
	reason_exec = gf_wait_reason("exec child");
	gf_go(park_exec, NULL);
	if (write(exec_fds[0], "r", 1) != 1)
		return 1;
	gf_syscall_enter();
	while (read(exec_fds[1], &c, 1) > 0)
		;
	gf_syscall_exit();
	return 0;
}

static int exec_image(char **argv)
{
	char c;

	exec_fds[0] = atoi(argv[2]);
	exec_fds[1] = atoi(argv[3]);
	if (!strcmp(argv[1], "--exec-gfiber"))
		return gf_main(exec_gfiber_main, NULL);
	if (write(exec_fds[0], "r", 1) != 1)
		return 1;
	while (read(exec_fds[1], &c, 1) > 0)
		;
	return 0;
}

/* Fork and exec this program as @mode; *down ends it when closed. */
static pid_t spawn_exec(const char *mode, int *down)
{
	int up[2], dn[2];
	char a[16], b[16], c = 0;
	pid_t pid;

	if (pipe2(up, O_CLOEXEC) || pipe2(dn, O_CLOEXEC)) {
		CHECK(0, "pipe2: %m");
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		fcntl(up[1], F_SETFD, 0);
		fcntl(dn[0], F_SETFD, 0);
		snprintf(a, sizeof(a), "%d", up[1]);
		snprintf(b, sizeof(b), "%d", dn[0]);
		execl("/proc/self/exe", "fork_test", mode, a, b, (char *)NULL);
		_exit(127);
	}
	close(up[1]);
	close(dn[0]);
	gf_syscall_enter();
	if (pid > 0 && read(up[0], &c, 1) != 1)
		c = 0;
	gf_syscall_exit();
	close(up[0]);
	*down = dn[1];
	CHECK(pid > 0 && c == 'r', "%s: fork or exec failed: %m", mode);
	return pid;
}

static int fork_exec_main(void *arg)
{
	char cols[GFC_NCOLS][64], *buf = NULL;
	long tables;
	pid_t pid;
	int down, i, t;

	(void)arg;
	if (setup_parked())
		return 1;
	tables = gfc_stat("tables");

	/* A libgfiber image: its own table, its own fibers only. */
	pid = spawn_exec("--exec-gfiber", &down);
	for (t = 0; pid > 0 && t < TIMEOUT_MS / 20; t++) {
		free(buf);
		buf = read_table();
		if (!buf || gfc_count(buf, pid, "waiting") >= 1)
			break;
		nap();
	}
	if (pid > 0 && buf) {
		CHECK(gfc_count(buf, pid, NULL) == 2,
		      "%ld fibers under the exec'd child, expected 2",
		      gfc_count(buf, pid, NULL));
		CHECK(gfc_find(buf, pid, 2, cols) &&
		      !strcmp(cols[GFC_STATUS], "waiting") &&
		      !strcmp(cols[GFC_REASON], "exec child") &&
		      !strcmp(cols[GFC_PARENT], "1"),
		      "the exec'd child's fiber 2: %s/'%s', parent %s",
		      cols[GFC_STATUS], cols[GFC_REASON], cols[GFC_PARENT]);
		for (i = 1; i < NFIBERS; i++)
			CHECK(gfc_count_col(buf, pid, GFC_REASON,
					    fibers[i].reason) == 0,
			      "a parent's fiber ('%s') in the exec'd child",
			      fibers[i].reason);
		CHECK(wait_tables(tables + 1) == tables + 1,
		      "%ld tables, expected %ld", gfc_stat("tables"),
		      tables + 1);
	}
	free(buf);
	if (pid > 0) {
		close(down);
		if (wait_exit_noreap(pid) == 0) {
			buf = read_table();
			CHECK(buf && gfc_count(buf, pid, NULL) == 0,
			      "the exited exec'd child still has lines");
			free(buf);
			CHECK(wait_tables(tables) == tables,
			      "%ld tables after the exec'd child, expected %ld",
			      gfc_stat("tables"), tables);
		}
		reap(pid);
	}

	/* Another program: no table, no line. */
	pid = spawn_exec("--exec-plain", &down);
	if (pid > 0) {
		buf = read_table();
		CHECK(buf && gfc_count(buf, pid, NULL) == 0,
		      "the exec'd plain program has lines");
		free(buf);
		CHECK(wait_tables(tables) == tables,
		      "%ld tables with the exec'd plain program, expected %ld",
		      gfc_stat("tables"), tables);
		close(down);
		reap(pid);
	}
	return 0;
}

TEST(fork_then_exec)
{
	if (access(GFC_PROC, R_OK))
		SKIP(return, "%s absent: gfibers.ko not loaded", GFC_PROC);
	meta = _metadata;
	gf_main(fork_exec_main, NULL);
	ASSERT_EQ(0, failures);
}

/* ---------------------------------------- the parent exits, the child not */

static int pexit_fds[3];	/* to the test, from the test, child's */

static int pexit_main(void *arg)
{
	char c;
	pid_t pid;

	(void)arg;
	reason_parked = gf_wait_reason(fibers[F_CUSTOM].reason);
	fibers[F_CUSTOM].id = gf_go(park_custom, NULL);
	free(wait_parked(F_CUSTOM, F_CUSTOM + 1));
	pid = fork();
	if (pid == 0) {
		close(pexit_fds[0]);
		close(pexit_fds[1]);
		while (read(pexit_fds[2], &c, 1) > 0)
			;
		_exit(0);
	}
	close(pexit_fds[2]);
	if (write(pexit_fds[0], &pid, sizeof(pid)) != sizeof(pid))
		return 1;
	gf_syscall_enter();
	while (read(pexit_fds[1], &c, 1) > 0)
		;
	gf_syscall_exit();
	return 0;
}

TEST(parent_exit_frees_its_table_while_the_child_lives)
{
	int up[2], dn[2], cdn[2], t;
	pid_t p, c = -1;
	long tables;
	char *buf;

	if (access(GFC_PROC, R_OK))
		SKIP(return, "%s absent: gfibers.ko not loaded", GFC_PROC);
	meta = _metadata;
	tables = gfc_stat("tables");
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	ASSERT_EQ(0, pipe2(up, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(dn, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(cdn, O_CLOEXEC));
	p = fork();
	ASSERT_LE(0, p);
	if (p == 0) {
		close(up[0]);
		close(dn[1]);
		close(cdn[1]);
		pexit_fds[0] = up[1];
		pexit_fds[1] = dn[0];
		pexit_fds[2] = cdn[0];
		setenv("GF_PROCS", "1", 1);
		_exit(gf_main(pexit_main, NULL));
	}
	close(up[1]);
	close(dn[0]);
	close(cdn[0]);
	ASSERT_EQ(sizeof(c), (size_t)read(up[0], &c, sizeof(c)));
	close(up[0]);
	ASSERT_LT(0, c);

	/* Both list the parked fiber; each has its table. */
	for (t = 0; t < TIMEOUT_MS / 20; t++) {
		bool ok;

		buf = gfc_slurp(GFC_PROC, NULL);
		ok = buf && gfc_count(buf, p, "waiting") == 1 &&
		     gfc_count(buf, c, "waiting") == 1;
		free(buf);
		if (ok)
			break;
		usleep(20000);
	}
	EXPECT_EQ(tables + 2, wait_tables(tables + 2));

	/* The parent exits: its table goes, even though the child lives. */
	close(dn[1]);
	ASSERT_EQ(0, wait_exit_noreap(p));
	EXPECT_EQ(tables + 1, wait_tables(tables + 1));
	buf = gfc_slurp(GFC_PROC, NULL);
	ASSERT_TRUE(buf != NULL);
	EXPECT_EQ(0, gfc_count(buf, p, NULL));
	EXPECT_EQ(2, gfc_count(buf, c, NULL));
	EXPECT_EQ(1, gfc_count_col(buf, c, GFC_REASON, fibers[F_CUSTOM].reason));
	free(buf);
	reap(p);

	close(cdn[1]);
	reap(c);
	EXPECT_EQ(tables, wait_tables(tables));
	EXPECT_EQ(0, failures);
}

int main(int argc, char **argv)
{
	if (argc == 4 && (!strcmp(argv[1], "--exec-gfiber") ||
			  !strcmp(argv[1], "--exec-plain")))
		return exec_image(argv);
	return test_harness_run(argc, argv);
}
