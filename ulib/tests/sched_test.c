// SPDX-License-Identifier: GPL-2.0
/*
 * sched_test.c - the runtime around the fibers: deadlock detection,
 * dumps (format, wait sites, creators, labels), the leak check, the
 * syscall wrapper (a blocked fiber does not block its P), IO waits (a
 * fork child's among them),
 * SIGQUIT, GF_REQUIRE_KMOD and the registry's slots (in a private table
 * of the kernel's layout: GF_FAKE_TABLE=1).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "gftest.h"
#include "runtime.h"	/* the registry's slots, for the table tests */

static gf_waitgroup_t wg;

/* Until *fp (set by the fiber itself) is parked: the runtime's status. */
static void wait_parked(gf_fiber_t *const *fp)
{
	gf_fiber_t *f;

	while (!(f = __atomic_load_n(fp, __ATOMIC_ACQUIRE)) ||
	       (atomic_load(&f->status) & ~GSCAN) != GFIBERS_GWAITING)
		gf_sleep(1000000);
}

/* ------------------------------------------------------------ deadlock */

static void waits_forever(void *arg)
{
	gf_chan_recv(arg, NULL);
}

/* The lines of deadlock_main's calls, which the dump names. */
enum { DEADLOCK_GO_LINE = __LINE__ + 7, DEADLOCK_RECV_LINE };

static int deadlock_main(void *arg)
{
	gf_chan_t *c = gf_chan_new(0, 0);

	(void)arg;
	gf_go(waits_forever, c);
	gf_chan_recv(c, NULL);		/* nobody will send */
	return 0;
}

static void deadlock_child(void)
{
	setenv("GF_PROCS", "2", 1);
	gf_main(deadlock_main, NULL);
}

TEST(deadlock_detected)
{
	char out[16384];
	int st = gft_fork_capture(deadlock_child, out, sizeof(out));

	ASSERT_TRUE(WIFSIGNALED(st));
	EXPECT_EQ(SIGABRT, WTERMSIG(st));
	EXPECT_NE(NULL, strstr(out,
		"fatal error: all fibers are asleep - deadlock!"));
	EXPECT_NE(NULL, strstr(out, "fiber 1 [chan receive]"));
	/* Go's frame: the function, then its file:line and offset */
	EXPECT_TRUE(gft_dump_has(out, "deadlock_main(...)\n\t", __FILE__,
				 DEADLOCK_RECV_LINE, " +0x"));
	EXPECT_NE(NULL, strstr(out, "fiber 2 [chan receive]"));
	/* (at -O2 a tail call: named, "blocked in a tail call") */
	EXPECT_NE(NULL, strstr(out, "[chan receive]:\nwaits_forever(...)\n"));
	EXPECT_TRUE(gft_dump_has(out, "created by deadlock_main in fiber 1\n\t",
				 __FILE__, DEADLOCK_GO_LINE, " +0x")) {
		TH_LOG("dump:\n%s", out);
	}
}

/*
 * No false alarm for a plain thread's wake-up, which gfiber.h allows:
 * main parks with every M idle and no timer while a pthread is about to
 * close the channel.
 */
static void *plain_closer(void *arg)
{
	usleep(50000);
	gf_chan_close(arg);
	return NULL;
}

static int plain_waker_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *c = gf_chan_new(0, 0);
	pthread_t t;

	(void)arg;
	EXPECT_EQ(0, pthread_create(&t, NULL, plain_closer, c));
	EXPECT_EQ(-1, gf_chan_recv(c, NULL));	/* closed by the thread */
	EXPECT_EQ(EPIPE, errno);
	gf_syscall_enter();
	pthread_join(t, NULL);
	gf_syscall_exit();
	gf_chan_unref(c);
	return 0;
}

TEST(no_false_deadlock_plain_waker)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(plain_waker_main, NULL);
}

/*
 * Nor is the deadlock of the same program missed once that thread is
 * gone: the check counts plain threads alive, not ever seen.
 */
static void *plain_nothing(void *arg)
{
	(void)arg;
	return NULL;
}

static int dead_after_thread_main(void *arg)
{
	gf_chan_t *c = gf_chan_new(0, 0);
	pthread_t t;

	(void)arg;
	if (pthread_create(&t, NULL, plain_nothing, NULL) == 0)
		pthread_join(t, NULL);
	gf_chan_recv(c, NULL);		/* nobody will send */
	return 0;
}

static void dead_after_thread_child(void)
{
	setenv("GF_PROCS", "2", 1);
	gf_main(dead_after_thread_main, NULL);
}

TEST(deadlock_detected_after_plain_thread)
{
	char out[16384];
	int st = gft_fork_capture(dead_after_thread_child, out, sizeof(out));

	ASSERT_TRUE(WIFSIGNALED(st));
	EXPECT_NE(NULL, strstr(out,
		"fatal error: all fibers are asleep - deadlock!"));
}

/*
 * Every wake-up by a plain thread is seen. Its gf_ready goes on the
 * global queue, typically while the M that ran the receiver drops its
 * spinning: an M that then re-checks only the per-P queues sleeps, and
 * so does the fiber (no timer here to wake anybody). A round stuck for
 * 5 s is counted and unstuck by a gf_go (whose fiber goes on the global
 * queue too and wakes an M), so that the test fails instead of hanging.
 */
#define WAKE_ROUNDS (20000 / GFT_SCALE)

static gf_chan_t *wake_c;
static atomic_int wake_done, wake_stuck;

static void nop_fiber(void *arg)
{
	(void)arg;
}

static void *plain_sender(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < WAKE_ROUNDS; i++) {
		int64_t t0;

		/* fails (EAGAIN) until the receiver is parked */
		while (gf_chan_send_until(wake_c, &i, GF_NOWAIT))
			sched_yield();
		t0 = gf_now();
		while (atomic_load(&wake_done) <= i) {
			if (gf_now() - t0 > 5000000000LL) {
				atomic_fetch_add(&wake_stuck, 1);
				gf_go(nop_fiber, NULL);
				t0 = gf_now();
			}
			sched_yield();
		}
	}
	return NULL;
}

static int plain_wakes_main(void *arg)
{
	GFT_FIBER;
	pthread_t t;
	int i, v;

	(void)arg;
	wake_c = gf_chan_new(sizeof(int), 0);
	EXPECT_EQ(0, pthread_create(&t, NULL, plain_sender, NULL));
	for (i = 0; i < WAKE_ROUNDS; i++) {
		EXPECT_EQ(0, gf_chan_recv(wake_c, &v));
		EXPECT_EQ(i, v);
		atomic_fetch_add(&wake_done, 1);
	}
	gf_syscall_enter();
	pthread_join(t, NULL);
	gf_syscall_exit();
	EXPECT_EQ(0, atomic_load(&wake_stuck));
	gf_chan_unref(wake_c);
	return 0;
}

TEST(plain_thread_wakeups_not_lost)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(plain_wakes_main, NULL);
}

/* No false alarm: a sleeper, a timer, an IO wait and a syscall all
 * count as "something can still wake a fiber". */
static void slow_syscall(void *arg)
{
	(void)arg;
	gf_syscall_enter();
	usleep(30000);
	gf_syscall_exit();
	gf_waitgroup_done(&wg);
}

static int not_dead_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *t = gf_after(20000000);
	int p[2];

	(void)arg;
	EXPECT_EQ(0, gf_chan_recv(t, NULL));	/* only a timer pending */
	gf_chan_unref(t);
	gf_waitgroup_add(&wg, 1);
	gf_go(slow_syscall, NULL);
	gf_waitgroup_wait(&wg);			/* only a syscall pending */
	EXPECT_EQ(0, pipe(p));
	EXPECT_EQ(-1, gf_wait_fd_until(p[0], EPOLLIN, gf_timeout(20000000)));
	EXPECT_EQ(ETIMEDOUT, errno);
	close(p[0]);
	close(p[1]);
	return 0;
}

TEST(no_false_deadlock)
{
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(not_dead_main, NULL);
}

/* ------------------------------------------------------------ dumps */

static gf_mutex_t held;

static gf_fiber_t *locker_g, *sleepy_g, *leaky_g;

enum { LOCK_LINE = __LINE__ + 7 };	/* blocked_in_mutex's wait site */

static void __attribute__((noinline)) blocked_in_mutex(void *arg)
{
	(void)arg;
	gf_label_set("role", "locker");
	__atomic_store_n(&locker_g, gf_self(), __ATOMIC_RELEASE);
	gf_mutex_lock(&held);
	gf_mutex_unlock(&held);
}

static void __attribute__((noinline)) sleepy(void *arg)
{
	(void)arg;
	__atomic_store_n(&sleepy_g, gf_self(), __ATOMIC_RELEASE);
	gf_sleep(5LL * 1000000000);
}

enum { LOCKER_GO_LINE = __LINE__ + 11 };	/* dump_main's gf_go */

static int dump_main(void *arg)
{
	GFT_FIBER;
	gf_attr_t a = { .name = "sleepy-one" };
	const char *d;

	(void)arg;
	gf_mutex_lock(&held);
	gf_go(blocked_in_mutex, NULL);
	gf_go_attr(sleepy, NULL, &a);
	wait_parked(&locker_g);
	wait_parked(&sleepy_g);
	d = gft_dump();
	/* the caller's own frames from its call of gf_dump: the
	 * dump's are not shown */
	EXPECT_NE(NULL, strstr(d, "fiber 1 [running] \"main\":\ngft_dump(...)\n"));
	EXPECT_EQ(NULL, strstr(d, "snap_fiber"));
	/* the wait site: the line of the call (a return address is looked
	 * up one byte back), with the offset in the function */
	EXPECT_TRUE(gft_dump_has(d, "fiber 2 [sync.Mutex.Lock]:\n"
				    "blocked_in_mutex(...)\n\t",
				 __FILE__, LOCK_LINE, " +0x"));
	EXPECT_TRUE(gft_dump_has(d, "created by dump_main in fiber 1\n\t",
				 __FILE__, LOCKER_GO_LINE, " +0x"));
	EXPECT_NE(NULL, strstr(d, "\nlabels: {role=locker}"));
	EXPECT_NE(NULL, strstr(d, "fiber 3 [sleep] \"sleepy-one\":\n"
				  "sleepy(...)\n"));
	/* runtime frames hidden: the first frame is the user's */
	EXPECT_EQ(NULL, strstr(d, "gfi_park"));
	/* libdw found: no note */
	EXPECT_EQ(NULL, strstr(d, "symbols: symbol table only"));
	if (!gft_dump_has(d, "blocked_in_mutex(...)\n\t", __FILE__,
			  LOCK_LINE, " +0x"))
		TH_LOG("dump:\n%s", d);
	gf_mutex_unlock(&held);
	return 0;
}

TEST(dump_format)
{
	GFT_RUN(dump_main, NULL);
}

static int traceback_all_main(void *arg)
{
	GFT_FIBER;
	const char *d;

	(void)arg;
	locker_g = NULL;
	gf_mutex_lock(&held);
	gf_go(blocked_in_mutex, NULL);
	wait_parked(&locker_g);
	d = gft_dump();
	/* the runtime's own frames, down to the fiber's entry */
	EXPECT_NE(NULL, strstr(d, "\ngfi_schedule_from(...)\n\t"));
	EXPECT_NE(NULL, strstr(d, "\nblocked_in_mutex(...)\n"));
	EXPECT_NE(NULL, strstr(d, "\ngfi_fiber_main(...)\n\t"));
	EXPECT_NE(NULL, strstr(d, "ulib/fiber.c:"));
	gf_mutex_unlock(&held);
	return 0;
}

TEST(dump_traceback_all)
{
	setenv("GF_TRACEBACK", "all", 1);
	GFT_RUN(traceback_all_main, NULL);
}

static void sigquit_child(void)
{
	gf_main(dump_main, NULL);	/* any program: dump on SIGQUIT */
}

static gf_fiber_t *quit_main_g;
static gf_chan_t *quit_release;

static int quit_pipe[2], quit_stderr;

/*
 * The dump goes to stderr, here a pipe that quitter reads until the dump
 * is complete (its last fiber, quitter itself, printed), then copies to
 * the real stderr: the process must not exit before the dumper thread
 * is done, however long loading libdw takes (under ASan, more than the
 * 200 ms this waited before).
 */
static void quitter(void *arg)
{
	static char buf[16384];
	size_t got = 0;
	ssize_t r;
	char *q;

	(void)arg;
	/* main parked for sure (the status is the runtime's, see above) */
	while ((atomic_load(&quit_main_g->status) & ~GSCAN) !=
	       GFIBERS_GWAITING)
		gf_sleep(1000000);
	kill(getpid(), SIGQUIT);
	while (got + 1 < sizeof(buf) &&
	       (r = read(quit_pipe[0], buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)r;
		buf[got] = 0;
		q = strstr(buf, "fiber 2 [");
		if (q && strstr(q, "\n\n"))
			break;
	}
	if (write(quit_stderr, buf, got) < 0)
		(void)0;	/* the parent's check says it */
	gf_chan_close(quit_release);
}

static int quit_main(void *arg)
{
	(void)arg;
	if (pipe(quit_pipe))
		return 1;
	quit_stderr = dup(2);
	dup2(quit_pipe[1], 2);
	quit_main_g = gf_self();
	quit_release = gf_chan_new(0, 0);
	gf_go(quitter, NULL);
	gf_chan_recv(quit_release, NULL);
	return 0;
}

static void sigquit_child2(void)
{
	gf_main(quit_main, NULL);
}

TEST(sigquit_dumps)
{
	char out[16384];
	int st;

	(void)sigquit_child;
	st = gft_fork_capture(sigquit_child2, out, sizeof(out));
	ASSERT_TRUE(WIFEXITED(st));	/* goes on after the dump */
	EXPECT_NE(NULL, strstr(out, "SIGQUIT: fiber dump"));
	EXPECT_NE(NULL, strstr(out, "fiber 1 [chan receive] \"main\":\n"
				    "quit_main(...)\n\t"));
	EXPECT_NE(NULL, strstr(out, "ulib/tests/sched_test.c:"));
}

/*
 * SIGQUIT for an M asleep in its futex (an idle M; a terminal's ^\ may
 * pick its thread): TSan runs a handler that interrupts a call it does
 * not intercept (the runtime's raw futex) only at the thread's next
 * intercepted call, and with SA_RESTART the futex does not even return:
 * the dump waited for the M's next wake-up, for good where nothing else
 * woke it (chaos-tsan's sigquit_dumps hung so, one run in three). The
 * child: main parked, a fiber blocked in read(2) (so that no deadlock is
 * found and the other M sleeps for good). The test, from outside, sends
 * SIGQUIT to a thread asleep in a futex without a timeout, waits up to
 * 10 s for the dump, then lets the child end.
 */
static int idle_block[2];

static void idle_blocker(void *arg)
{
	char c;

	(void)arg;
	if (read(idle_block[0], &c, 1) < 0)
		(void)0;
	gf_chan_close(quit_release);
}

static int idle_quit_main(void *arg)
{
	(void)arg;
	quit_release = gf_chan_new(0, 0);
	gf_go(idle_blocker, NULL);
	gf_chan_recv(quit_release, NULL);
	return 0;
}

/* A thread of pid asleep in a private futex wait (an M's note: other
 * waits here are pthread's, FUTEX_WAIT_BITSET); 0: none. */
static pid_t note_sleeper(pid_t pid)
{
	char path[300], buf[128];
	struct dirent *e;
	pid_t found = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		unsigned long nr, uaddr, op;
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/syscall",
			 (int)pid, e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = 0;
		if (sscanf(buf, "%lu %lx %lx", &nr, &uaddr, &op) == 3 &&
		    nr == SYS_futex && op == (FUTEX_WAIT | FUTEX_PRIVATE_FLAG))
			found = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	return found;
}

TEST(sigquit_to_an_idle_m)
{
	char out[16384] = "";
	struct pollfd pfd;
	int errp[2], i, st = 0;
	size_t got = 0;
	pid_t child, tid = 0;
	ssize_t r;

	ASSERT_EQ(0, pipe(errp));
	ASSERT_EQ(0, pipe(idle_block));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		close(errp[0]);
		dup2(errp[1], 2);
		setenv("GF_PROCS", "2", 1);
		_exit(gf_main(idle_quit_main, NULL));
	}
	close(errp[1]);
	close(idle_block[0]);
	/* from here on the child is always let go, then reaped */
	for (i = 0; i < 2000 && !tid; i++) {
		usleep(5000);
		tid = note_sleeper(child);
	}
	EXPECT_NE(0, tid) TH_LOG("no thread of the child asleep on its note");
	if (tid) {
		usleep(100000);		/* settled */
		tid = note_sleeper(child);
		EXPECT_NE(0, tid);
	}
	if (tid && !syscall(SYS_tgkill, child, tid, SIGQUIT)) {
		pfd.fd = errp[0];
		pfd.events = POLLIN;
		while (got + 1 < sizeof(out) && poll(&pfd, 1, 10000) == 1 &&
		       (r = read(errp[0], out + got, sizeof(out) - 1 - got)) > 0) {
			got += (size_t)r;
			out[got] = 0;
			if (strstr(out, "fiber 2 [") &&
			    strstr(strstr(out, "fiber 2 ["), "\n\n"))
				break;
		}
	}
	EXPECT_NE(NULL, strstr(out, "SIGQUIT: fiber dump"))
		TH_LOG("no dump within 10 s of SIGQUIT to idle thread %d", (int)tid);
	EXPECT_NE(NULL, strstr(out, "fiber 1 [chan receive] \"main\":\n"
				    "idle_quit_main(...)\n\t"));
	EXPECT_EQ(1, write(idle_block[1], "x", 1));
	for (i = 0; i < 500 && !waitpid(child, &st, WNOHANG); i++)
		usleep(10000);
	if (i == 500) {
		kill(child, SIGKILL);
		waitpid(child, &st, 0);
	}
	EXPECT_TRUE(WIFEXITED(st)) TH_LOG("the child did not end: killed");
	close(errp[0]);
	close(idle_block[1]);
}

/*
 * A dump into a full pipe blocks in write(2); it must not hold the
 * fiber it prints meanwhile. Main parks on a channel; a plain thread
 * dumps into a full pipe (main is printed first); a fiber sends to main
 * while that thread is blocked in its write. The send must complete:
 * before, the dump held main with GSCAN across the write and the
 * sender's gf_ready spun until the pipe was read. A watchdog thread
 * reads the pipe after 10 s of no progress, so that the test fails
 * instead of hanging.
 */
static int fullpipe[2];
static atomic_int dumper_tid, dump_done, send_done, send_stuck;
static gf_chan_t *dump_c;
static gf_fiber_t *dump_main_g;

static void *full_dumper(void *arg)
{
	(void)arg;
	atomic_store(&dumper_tid, (int)gettid());
	gf_dump(fullpipe[1]);
	atomic_store(&dump_done, 1);
	return NULL;
}

/* Whether thread tid is inside write(2) now. */
static bool in_write(int tid)
{
	char path[64], buf[32] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return !strncmp(buf, "1 ", 2);
}

static void *pipe_watchdog(void *arg)
{
	char buf[4096];
	int i;

	(void)arg;
	for (i = 0; i < 10000 && !atomic_load(&send_done); i++)
		usleep(1000);
	if (!atomic_load(&send_done))
		atomic_store(&send_stuck, 1);
	while (!atomic_load(&dump_done))
		if (read(fullpipe[0], buf, sizeof(buf)) <= 0)
			usleep(1000);
	return NULL;
}

static void dump_sender(void *arg)
{
	GFT_FIBER;
	pthread_t t, w;
	int i, one = 1;

	(void)arg;
	wait_parked(&dump_main_g);
	EXPECT_EQ(0, pthread_create(&t, NULL, full_dumper, NULL));
	for (i = 0; i < 10000; i++) {
		int tid = atomic_load(&dumper_tid);

		if (tid && in_write(tid))
			break;
		gf_sleep(1000000);
	}
	EXPECT_LT(i, 10000);		/* the dump is blocked in write */
	EXPECT_EQ(0, pthread_create(&w, NULL, pipe_watchdog, NULL));
	EXPECT_EQ(0, gf_chan_send(dump_c, &one));
	atomic_store(&send_done, 1);
	gf_syscall_enter();
	pthread_join(w, NULL);
	pthread_join(t, NULL);
	gf_syscall_exit();
	gf_waitgroup_done(&wg);
}

static int dump_full_pipe_main(void *arg)
{
	GFT_FIBER;
	char junk[4096] = { 0 };
	int v = 0;

	(void)arg;
	EXPECT_EQ(0, pipe(fullpipe));
	fcntl(fullpipe[0], F_SETFL, O_NONBLOCK);
	fcntl(fullpipe[1], F_SETFL, O_NONBLOCK);
	while (write(fullpipe[1], junk, sizeof(junk)) > 0)
		;
	while (write(fullpipe[1], junk, 1) > 0)
		;
	fcntl(fullpipe[1], F_SETFL, 0);	/* the dump's writes block */
	dump_c = gf_chan_new(sizeof(int), 0);
	gf_waitgroup_add(&wg, 1);
	gf_go(dump_sender, NULL);
	__atomic_store_n(&dump_main_g, gf_self(), __ATOMIC_RELEASE);
	EXPECT_EQ(0, gf_chan_recv(dump_c, &v));
	EXPECT_EQ(1, v);
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(0, atomic_load(&send_stuck)) {
		TH_LOG("gf_chan_send waited for the dump's write");
	}
	close(fullpipe[0]);
	close(fullpipe[1]);
	gf_chan_unref(dump_c);
	return 0;
}

TEST(dump_does_not_hold_wakers)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(dump_full_pipe_main, NULL);
}

/* gf_dump's errors are gfiber.h's: -1 and errno, not a count. */
static int dump_errors_main(void *arg)
{
	GFT_FIBER;
	int p[2];

	(void)arg;
	EXPECT_EQ(-1, gf_dump(-1));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(0, pipe(p));
	close(p[1]);
	EXPECT_EQ(-1, gf_dump(p[0]));	/* read end: not writable */
	EXPECT_EQ(EBADF, errno);
	close(p[0]);
	EXPECT_EQ(-1, gf_leakcheck(2, NULL, 1, gf_timeout(0)));
	EXPECT_EQ(EINVAL, errno);
	/* the bound is required: forever would hang on the first leak */
	EXPECT_EQ(-1, gf_leakcheck(2, NULL, 0, GF_FOREVER));
	EXPECT_EQ(EINVAL, errno);
	return 0;
}

TEST(dump_errors)
{
	GFT_RUN(dump_errors_main, NULL);
}

/*
 * A fork child's SIGQUIT dumps the child, on the child's stderr: before,
 * the child had no dumper thread and wrote its byte into the parent's
 * pipe, and the parent dumped itself. The child waits (10 s at most) to
 * be killed once its dump was read.
 */
static int fork_quit_main(void *arg)
{
	GFT_FIBER;
	static char out[16384];
	size_t got = 0;
	int64_t deadline;
	int p[2], st = 0, i;
	pid_t pid;

	(void)arg;
	EXPECT_EQ(0, pipe(p));
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		kill(getpid(), SIGQUIT);
		for (i = 0; i < 1000; i++)
			usleep(10000);
		_exit(0);
	}
	close(p[1]);
	EXPECT_LT(0, pid);
	deadline = gf_now() + 10000000000LL;
	while (got + 1 < sizeof(out) &&
	       !strstr(out, "fiber 1 [running]:\n") &&
	       gf_wait_fd_until(p[0], EPOLLIN, gf_deadline_at(deadline)) > 0) {
		ssize_t r = read(p[0], out + got, sizeof(out) - 1 - got);

		if (r <= 0)
			break;
		got += (size_t)r;
		out[got] = 0;
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(p[0]);
	EXPECT_NE(NULL, strstr(out, "SIGQUIT: fiber dump")) {
		TH_LOG("the child's SIGQUIT did not dump the child: %s", out);
	}
	/* the child's own fibers: the caller of fork, running */
	EXPECT_NE(NULL, strstr(out, "fiber 1 [running]:\n"));
	return 0;
}

TEST(fork_child_sigquit_dumps_child)
{
#ifdef GFT_TSAN
	SKIP(return, "TSan kills a fork child that starts a thread, so the "
	     "child of a TSan build has no dumper");
#endif
#ifdef GFT_ASAN
	/*
	 * GCC 12's ASan does not take its allocator's locks around fork():
	 * the child's dumper thread, which ASan allocates for as it starts,
	 * waits forever on a lock a parent thread held at the fork (seen in
	 * the chaos build, whose delays keep the parent's threads busy).
	 * glibc's malloc is fork-safe: the plain and clang builds test this.
	 */
	SKIP(return, "ASan's allocator is not fork-safe for a thread the "
	     "child starts");
#endif
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(fork_quit_main, NULL);
}

/* ------------------------------------------------------------ leakcheck */

static void short_lived(void *arg)
{
	(void)arg;
	gf_sleep(2000000);
}

static void leaky(void *arg)
{
	__atomic_store_n(&leaky_g, gf_self(), __ATOMIC_RELEASE);
	gf_chan_recv(arg, NULL);
}

static int leakcheck_main(void *arg)
{
	GFT_FIBER;
	gf_chan_t *c = gf_chan_new(0, 0);
	int p[2];
	int64_t id;
	ssize_t n;
	static char buf[8192];

	(void)arg;
	EXPECT_EQ(0, pipe(p));
	gf_go(short_lived, NULL);
	/* exits within the grace period: no leak */
	EXPECT_EQ(0, gf_leakcheck(p[1], NULL, 0, gf_timeout(1000000000)));
	id = gf_go(leaky, c);
	wait_parked(&leaky_g);
	EXPECT_EQ(1, gf_leakcheck(p[1], NULL, 0, gf_timeout(5000000)));
	n = read(p[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	EXPECT_NE(NULL, strstr(buf, "found unexpected fibers"));
	EXPECT_NE(NULL, strstr(buf, "[chan receive]:\nleaky(...)\n"));
	EXPECT_NE(NULL, strstr(buf, "created by leakcheck_main in fiber 1\n"));
	/* an expected one is ignored */
	EXPECT_EQ(0, gf_leakcheck(p[1], &id, 1, gf_timeout(0)));
	gf_chan_close(c);
	EXPECT_EQ(0, gf_leakcheck(p[1], NULL, 0, gf_timeout(1000000000)));
	close(p[0]);
	close(p[1]);
	return 0;
}

TEST(leakcheck)
{
	ASSERT_EQ(-1, gf_leakcheck(2, NULL, 0, gf_timeout(0)));
	ASSERT_EQ(EPERM, errno);
	GFT_RUN(leakcheck_main, NULL);
}

/* ------------------------------------------------------------ syscalls */

static atomic_int progress;

static void blocker(void *arg)
{
	int i;

	(void)arg;
	gf_syscall_enter();
	/* the kernel holds this thread until the others made progress
	 * (or 3 s: then the check below fails) */
	for (i = 0; i < 300 && atomic_load(&progress) == 0; i++)
		usleep(10000);
	gf_syscall_exit();
	gf_waitgroup_done(&wg);
}

static void worker(void *arg)
{
	(void)arg;
	while (atomic_load(&progress) < 1000000) {
		atomic_fetch_add(&progress, 1);
		if (atomic_load(&progress) % 100 == 0)
			gf_sleep(100000);
		else
			gf_yield();
	}
}

static int syscall_main(void *arg)
{
	GFT_FIBER;
	int before;

	(void)arg;
	gf_waitgroup_add(&wg, 1);
	gf_go(blocker, NULL);
	gf_yield();		/* blocker now in its syscall, holding P0 */
	gf_go(worker, NULL);
	before = 0;
	gf_waitgroup_wait(&wg);
	/* with one P, only the hand-off let anything run meanwhile */
	EXPECT_GT(atomic_load(&progress), before);
	atomic_store(&progress, 1000000);
	gf_sleep(1000000);
	return 0;
}

TEST(syscall_hands_off_p)
{
	setenv("GF_PROCS", "1", 1);
	GFT_RUN(syscall_main, NULL);
}

/* ------------------------------------------------------------ netpoll */

static int pipefd[2];

static void pipe_writer(void *arg)
{
	char buf[4096];
	long left = (long)arg;

	memset(buf, 'x', sizeof(buf));
	while (left > 0) {
		ssize_t w = gf_write(pipefd[1], buf,
				     left < 4096 ? (size_t)left : 4096);

		if (w <= 0)
			break;
		left -= w;
	}
	close(pipefd[1]);
	gf_waitgroup_done(&wg);
}

static int io_main(void *arg)
{
	GFT_FIBER;
	long total = 0, want = 4L << 20;
	char buf[4096];
	ssize_t r;

	(void)arg;
	EXPECT_EQ(0, pipe(pipefd));
	EXPECT_EQ(-1, gf_wait_fd_until(pipefd[0], EPOLLIN, GF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	gf_waitgroup_add(&wg, 1);
	gf_go(pipe_writer, (void *)want);	/* fills the pipe, parks */
	while ((r = gf_read(pipefd[0], buf, sizeof(buf))) > 0)
		total += r;
	EXPECT_EQ(0, r);
	EXPECT_EQ(want, total);
	gf_waitgroup_wait(&wg);
	close(pipefd[0]);
	EXPECT_EQ(-1, gf_wait_fd_until(-1, EPOLLIN, GF_NOWAIT));
	EXPECT_EQ(EBADF, errno);
	return 0;
}

TEST(io_waits_through_pipe)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(io_main, NULL);
}

/*
 * A fork child polls with an epoll instance of its own: sharing the
 * parent's, it would take edge-triggered events meant for the parent's
 * fibers (docs/ulib.md, "fork()"). Its instance watches the fds fibers
 * were parked on at the fork, and the fds it waits on from then on.
 */
static int p1[2];
static gf_fiber_t *p1_waiter_g;

static void p1_waiter(void *arg)
{
	__atomic_store_n(&p1_waiter_g, gf_self(), __ATOMIC_RELEASE);
	*(int *)arg = gf_wait_fd_until(p1[0], EPOLLIN, gf_timeout(30000000000));
	gf_waitgroup_done(&wg);
}

/* Which of fds a (bit 0) and b (bit 1) an epoll instance we hold watches. */
static int epoll_watches(int a, int b)
{
	char path[sizeof("/proc/self/fdinfo/") + 256], link[64], line[256];
	struct dirent *e;
	int bits = 0, t;
	DIR *d;
	FILE *f;

	d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = 0;
		if (strcmp(link, "anon_inode:[eventpoll]"))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "tfd: %d", &t) == 1)
				bits |= (t == a) | (t == b) << 1;
		fclose(f);
	}
	closedir(d);
	return bits;
}

static int fork_poll_main(void *arg)
{
	GFT_FIBER;
	int p2[2], status = 0, got = 0;
	pid_t pid;

	(void)arg;
	/* EXPECT, not ASSERT: an ASSERT would longjmp off this fiber. */
	EXPECT_EQ(0, pipe(p1));
	EXPECT_EQ(0, pipe(p2));
	if (_metadata->passed == 0)
		return -1;
	gf_waitgroup_add(&wg, 1);
	gf_go(p1_waiter, &got);
	wait_parked(&p1_waiter_g);
	EXPECT_EQ(1, epoll_watches(p1[0], p2[0]));
	pid = fork();
	if (pid == 0) {
		/*
		 * GF_NOWAIT registers p2 with the child's poller without
		 * parking: the child has one thread, and the other Ms'
		 * scheduler state came along stale.
		 */
		if (gf_wait_fd_until(p2[0], EPOLLIN, GF_NOWAIT) != -1 ||
		    errno != EAGAIN)
			_exit(3);
		/*
		 * 3: p2, and p1 for the fiber parked on it at the fork (or
		 * nothing would wake it here).
		 */
		_exit(epoll_watches(p1[0], p2[0]) == 3 ? 0 :
		      10 + epoll_watches(p1[0], p2[0]));
	}
	EXPECT_LT(0, pid);
	if (pid < 0)
		return -1;
	EXPECT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) {
		TH_LOG("child's epoll watches %s", WEXITSTATUS(status) == 12 ?
		       "p2 only: p1's parked fiber cannot wake" :
		       "not p2: no poller of its own");
	}
	/* The child's fd went into the child's instance, not ours. */
	EXPECT_EQ(1, epoll_watches(p1[0], p2[0])) {
		TH_LOG("the child registered with the parent's epoll instance");
	}
	/* The parent's poller is its own still: p1's waiter wakes. */
	EXPECT_EQ(1, write(p1[1], "x", 1));
	gf_waitgroup_wait(&wg);
	EXPECT_EQ(EPOLLIN, got);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
	return 0;
}

TEST(fork_child_polls_alone)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(fork_poll_main, NULL);
}

/* ------------------------------------------------------------ random seed */

/* Print the choices of 32 selects among 8 ready cases. */
static void select_seq(gf_chan_t **c)
{
	gf_select_case_t cs[8];
	int i, k, one = 1;

	for (k = 0; k < 32; k++) {
		/* every channel full: 8 receives ready */
		for (i = 0; i < 8; i++)
			cs[i] = (gf_select_case_t){ .chan = c[i],
						    .dir = GF_SELECT_RECV };
		i = gf_select(cs, 8);
		printf("%d", i);
		gf_chan_send(c[i], &one);
	}
	printf("\n");
	fflush(stdout);
}

/* The same from a plain thread: a select there has no M's generator. */
static void *select_seq_thread(void *c)
{
	select_seq(c);
	return NULL;
}

static int select_seq_main(void *arg)
{
	gf_chan_t *c[8];
	pthread_t th;
	int i, one = 1;

	(void)arg;
	for (i = 0; i < 8; i++) {
		c[i] = gf_chan_new(sizeof(int), 1);
		gf_chan_send(c[i], &one);
	}
	select_seq(c);
	pthread_create(&th, NULL, select_seq_thread, c);
	pthread_join(th, NULL);	/* never parks: every case is ready */
	return 0;
}

static void select_seq_child(void)
{
	setenv("GF_PROCS", "1", 1);
	gf_main(select_seq_main, NULL);
}

/* select's random choice differs from run to run; GF_RAND_SEED replays */
TEST(select_seed_per_run)
{
	char a[256], b[256], c[256], d[256];

	unsetenv("GF_RAND_SEED");
	ASSERT_EQ(0, gft_fork_capture(select_seq_child, a, sizeof(a)));
	ASSERT_EQ(0, gft_fork_capture(select_seq_child, b, sizeof(b)));
	ASSERT_EQ(66, strlen(a));
	EXPECT_STRNE(a, b);		/* equal: 1 chance in 8^32 */
	EXPECT_NE(0, strncmp(a + 33, b + 33, 33));	/* the plain thread's */
	setenv("GF_RAND_SEED", "12345", 1);
	ASSERT_EQ(0, gft_fork_capture(select_seq_child, c, sizeof(c)));
	ASSERT_EQ(0, gft_fork_capture(select_seq_child, d, sizeof(d)));
	EXPECT_STREQ(c, d);
	ASSERT_EQ(66, strlen(c));
}

/* ------------------------------------------------------------ registry */

static int ret0_never(void *arg)
{
	(void)arg;
	return 0;
}

TEST(require_kmod_fails_without_device)
{
	if (access("/dev/gfibers", F_OK) == 0)
		SKIP(return, "/dev/gfibers exists here");
	setenv("GF_REQUIRE_KMOD", "1", 1);
	ASSERT_EQ(-1, gf_main(ret0_never, NULL));
	ASSERT_EQ(ENODEV, errno);
}

static gf_chan_t *regc;
static uintptr_t expected_pc;

static gf_fiber_t *reg_waiter_g;
static atomic_int reg_release;

static void __attribute__((noinline)) reg_waiter(void *arg)
{
	(void)arg;
	__atomic_store_n(&reg_waiter_g, gf_self(), __ATOMIC_RELEASE);
	gf_chan_recv(regc, NULL);
	__asm__ volatile("");
	/* running, its slot unchanged, until released */
	while (!atomic_load(&reg_release))
		__builtin_ia32_pause();
}

static int registry_main(void *arg)
{
	GFT_FIBER;
	int64_t id;
	struct gfibers_slot *s = NULL;
	uint32_t i;
	gfi_g **all;

	(void)arg;
	EXPECT_EQ(2, gf_registry_mode());
	regc = gf_chan_new(0, 0);
	id = gf_go(reg_waiter, NULL);
	wait_parked(&reg_waiter_g);
	all = atomic_load(&gfi_sched.allgs);
	for (i = 0; i < atomic_load(&gfi_sched.nallgs); i++)
		if (all[i]->id == id)
			s = gfi_registry_slot(i);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(0, __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) & 1);
	EXPECT_EQ((uint64_t)id, s->fiber_id);
	EXPECT_EQ(1, s->parent_id);
	EXPECT_EQ(GFIBERS_GWAITING, s->status);
	EXPECT_EQ(GFIBERS_WAIT_CHAN_RECV, s->wait_reason);
	EXPECT_EQ((uintptr_t)regc, s->wait_obj);
	/* the wait site is in reg_waiter, not in the library */
	EXPECT_GT(s->wait_pc, (uintptr_t)reg_waiter);
	EXPECT_LT(s->wait_pc, (uintptr_t)reg_waiter + 256);
	EXPECT_NE(0, s->saved_sp);
	EXPECT_NE(0, s->saved_pc);
	EXPECT_NE(0, s->wait_since_ns);
	EXPECT_NE(0, s->create_pc);
	gf_chan_close(regc);
	/* (the status word is written after the slot, with release) */
	while (atomic_load(&reg_waiter_g->status) != GFIBERS_GRUNNING)
		gf_sleep(1000000);
	/* The wait is over: its object and site are gone from the slot. */
	EXPECT_EQ(0, __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) & 1);
	EXPECT_EQ(GFIBERS_GRUNNING, s->status);
	EXPECT_EQ(GFIBERS_WAIT_NONE, s->wait_reason);
	EXPECT_EQ(0, s->wait_obj);
	EXPECT_EQ(0, s->wait_pc);
	EXPECT_EQ(0, s->wait_since_ns);
	atomic_store(&reg_release, 1);
	/* (the count drops after the slot's release) */
	while (gf_num_fibers() > 1)
		gf_sleep(1000000);
	/* exited: the slot is free */
	EXPECT_EQ(0, s->fiber_id);
	EXPECT_EQ(GFIBERS_GDEAD, s->status);
	(void)expected_pc;
	return 0;
}

TEST(registry_slots_in_fake_table)
{
	if (access("/dev/gfibers", F_OK) == 0)
		SKIP(return, "/dev/gfibers exists: the fake table is unused");
	setenv("GF_FAKE_TABLE", "1", 1);
	setenv("GF_PROCS", "2", 1);	/* main beside a running fiber */
	GFT_RUN(registry_main, NULL);
}

/*
 * The park/ready fast paths against a concurrent dump: a dump holds a
 * parked fiber with GSCAN while it copies it, and a ready (one CAS
 * WAITING -> RUNNABLE when unregistered) must then fail and wait for it,
 * never lose the wake-up nor find the fiber "not parked". Pairs of
 * fibers ping-pong over unbuffered channels (every receive parks, every
 * send readies straight into runnext) while a plain thread dumps them
 * without pause; the chaos build widens the status windows.
 */
#define CHURN_PAIRS 3
#define CHURN_TRIPS (CHURN_PAIRS * (20000 / GFT_SCALE))
static atomic_int churn_stop, churn_done;
static gf_chan_t *churn_c[CHURN_PAIRS][2], *churn_fin;
static atomic_long churn_trips, churn_dumps;

static void churn_ponger(void *arg)
{
	gf_chan_t **c = arg;
	long v;

	while (gf_chan_recv(c[0], &v) == 0)
		if (gf_chan_send(c[1], &v))
			break;
}

static void churn_pinger(void *arg)
{
	GFT_FIBER;
	gf_chan_t **c = arg;
	long i, v;

	/* until main has seen enough trips, and the other thread work */
	for (i = 0; !atomic_load(&churn_done); i++) {
		v = i;
		EXPECT_EQ(0, gf_chan_send(c[0], &v));
		EXPECT_EQ(0, gf_chan_recv(c[1], &v));
		EXPECT_EQ(i, v);
		if (i % 7 == 0)
			gf_yield();
		atomic_fetch_add(&churn_trips, 1);
	}
	gf_chan_close(c[0]);
	EXPECT_EQ(0, gf_chan_send(churn_fin, &i));
}

static void *churn_dumper(void *arg)
{
	int fd = open("/dev/null", O_WRONLY);

	(void)arg;
	while (!atomic_load(&churn_stop)) {
		gf_dump(fd);
		atomic_fetch_add(&churn_dumps, 1);
	}
	close(fd);
	return NULL;
}

/*
 * The slot writes' invariant, read as gfibers.ko reads it (seqcount:
 * even and unchanged around the copy): outside a wait the wait fields
 * are zero (run, yield and ready store only what can differ, relying on
 * it), a running fiber has its thread's id, a waiting one its channel,
 * wait site and park time.
 */
static atomic_long churn_reads;

static void *churn_reader(void *arg)
{
	struct __test_metadata *_metadata = gft_md;
	uint32_t i, n;

	(void)arg;
	while (!atomic_load(&churn_stop)) {
		gfi_g **all = atomic_load(&gfi_sched.allgs);

		n = atomic_load(&gfi_sched.nallgs);
		for (i = 0; i < n; i++) {
			struct gfibers_slot *sl = all[i]->slot, c;
			uint32_t s1;

			if (!sl)
				continue;
			s1 = __atomic_load_n(&sl->seq, __ATOMIC_ACQUIRE);
			if (s1 & 1)
				continue;
			memcpy(&c, sl, sizeof(c));
#ifdef GFT_TSAN
			__asm__ volatile("" ::: "memory");	/* (skipped) */
#else
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
#endif
			if (__atomic_load_n(&sl->seq, __ATOMIC_RELAXED) != s1 ||
			    !c.fiber_id)
				continue;
			atomic_fetch_add(&churn_reads, 1);
			if (c.status == GFIBERS_GRUNNING ||
			    c.status == GFIBERS_GRUNNABLE) {
				EXPECT_EQ(GFIBERS_WAIT_NONE, c.wait_reason);
				EXPECT_EQ(0, c.wait_obj);
				EXPECT_EQ(0, c.wait_pc);
				EXPECT_EQ(0, c.wait_since_ns);
			}
			if (c.status == GFIBERS_GRUNNING)
				EXPECT_NE(0, c.tid);
			if (c.status == GFIBERS_GWAITING) {
				/* (main sleeps: no object) */
				if (c.wait_reason == GFIBERS_WAIT_CHAN_RECV ||
				    c.wait_reason == GFIBERS_WAIT_CHAN_SEND)
					EXPECT_NE(0, c.wait_obj);
				EXPECT_NE(0, c.wait_pc);
				EXPECT_NE(0, c.wait_since_ns);
				EXPECT_NE(0, c.saved_sp);
			}
		}
	}
	return NULL;
}

static int churn_main(void *arg)
{
	GFT_FIBER;
	pthread_t t;
	long i, v;

	churn_fin = gf_chan_new(sizeof(long), CHURN_PAIRS);
	ASSERT_EQ(0, pthread_create(&t, NULL, arg ? churn_reader
						  : churn_dumper, NULL));
	for (i = 0; i < CHURN_PAIRS; i++) {
		churn_c[i][0] = gf_chan_new(sizeof(long), 0);
		churn_c[i][1] = gf_chan_new(sizeof(long), 0);
		gf_go(churn_ponger, churn_c[i]);
		gf_go(churn_pinger, churn_c[i]);
	}
	/* The other thread must have raced the churn, however loaded the
	 * machine: it may start late. */
	while (atomic_load(&churn_trips) < CHURN_TRIPS ||
	       (arg ? atomic_load(&churn_reads) < 1000
		    : atomic_load(&churn_dumps) < 10))
		gf_sleep(1000000);
	atomic_store(&churn_done, 1);
	for (i = 0; i < CHURN_PAIRS; i++)
		EXPECT_EQ(0, gf_chan_recv(churn_fin, &v));
	atomic_store(&churn_stop, 1);
	pthread_join(t, NULL);
	EXPECT_LE(CHURN_TRIPS, atomic_load(&churn_trips));
	return 0;
}

TEST(ready_races_dump)
{
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(churn_main, NULL);
}

TEST(registry_slots_under_churn)
{
	if (access("/dev/gfibers", F_OK) == 0)
		SKIP(return, "/dev/gfibers exists: the fake table is unused");
#ifdef GFT_TSAN
	/* The writer's plain stores are for the kernel, not for a thread. */
	SKIP(return, "the slots' reader races by design (seqcount)");
#endif
	setenv("GF_FAKE_TABLE", "1", 1);
	setenv("GF_PROCS", "2", 1);
	GFT_RUN(churn_main, (void *)1);
}

TEST_HARNESS_MAIN
