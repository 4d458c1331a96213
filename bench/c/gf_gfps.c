// SPDX-License-Identifier: MIT
/*
 * gf_gfps - workload `gfps_100k` (in the VM, with gfibers.ko loaded, by
 * bench/vm-bench.sh): what `gfps -p PID -s` costs, the grouped view with
 * the stack of one fiber per group, read from outside the process, for N
 * fibers parked at three sites (chan receive, chan send, mutex), against
 * Go's pprof.Lookup("goroutine").WriteTo(w, 1) on as many goroutines
 * (bench/go/gprofile.go), which does the same from inside.
 *
 * Usage: gf_gfps N GFPS   (GFPS: the gfps binary)
 * Prints ms per gfps run, the median of 5 (after one warm-up run), or
 * "not available: <reason>" and exits 3.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "gfiber.h"

#define NOT_AVAILABLE 3
#define RUNS 5

static gf_chan_t *recv_c, *send_c;
static gf_mutex_t mu = GF_MUTEX_INIT;
static gf_waitgroup_t parked = GF_WAITGROUP_INIT;
static volatile int woke;

__attribute__((noinline)) static void park_recv(void *a)
{
	long v;

	(void)a;
	gf_waitgroup_done(&parked);
	gf_chan_recv(recv_c, &v);
	woke++;
}

__attribute__((noinline)) static void park_send(void *a)
{
	long v = 1;

	(void)a;
	gf_waitgroup_done(&parked);
	gf_chan_send(send_c, &v);
	woke++;
}

__attribute__((noinline)) static void park_lock(void *a)
{
	(void)a;
	gf_waitgroup_done(&parked);
	gf_mutex_lock(&mu);
	woke++;
}

struct job {
	long n;
	const char *gfps;
	double ms;
	const char *unavailable;
};

/* One gfps run on this process, output discarded; -1 when it failed. */
static double run_gfps(const struct job *j)
{
	char pid[32];
	uint64_t t0;
	pid_t c;
	int st;

	snprintf(pid, sizeof(pid), "%d", getpid());
	t0 = bench_now_ns();
	c = fork();
	if (c < 0)
		return -1;
	if (!c) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(127);
		execl(j->gfps, j->gfps, "-p", pid, "-s", (char *)NULL);
		_exit(127);
	}
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	return (double)(bench_now_ns() - t0) / 1e6;
}

static int gfps_main(void *arg)
{
	struct job *j = arg;
	double ms[RUNS], t;
	int r, a, b;
	long i;

	if (gf_registry_mode() != 1) {
		j->unavailable = "libgfiber did not register (gfibers.ko not loaded?)";
		return 0;
	}
	recv_c = gf_chan_new(sizeof(long), 0);
	send_c = gf_chan_new(sizeof(long), 0);
	if (!recv_c || !send_c)
		return 1;
	gf_mutex_lock(&mu);
	gf_waitgroup_add(&parked, j->n);
	for (i = 0; i < j->n; i++)
		if (gf_go(i % 3 == 0 ? park_recv : i % 3 == 1 ? park_send : park_lock,
			  NULL) < 0)
			return 1;
	gf_waitgroup_wait(&parked);
	gf_sleep(50000000);	/* the last ones reach their park */
	if (run_gfps(j) < 0) {
		j->unavailable = "gfps failed";
		return 0;
	}
	for (r = 0; r < RUNS; r++) {
		ms[r] = run_gfps(j);
		if (ms[r] < 0) {
			j->unavailable = "gfps failed";
			return 0;
		}
	}
	for (a = 1; a < RUNS; a++)
		for (b = a; b > 0 && ms[b - 1] > ms[b]; b--) {
			t = ms[b];
			ms[b] = ms[b - 1];
			ms[b - 1] = t;
		}
	j->ms = ms[RUNS / 2];
	return 0;
}

int main(int argc, char **argv)
{
	struct job j = { 0 };

	if (argc != 3 || (j.n = strtol(argv[1], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: gf_gfps N GFPS\n");
		return 2;
	}
	j.gfps = argv[2];
	if (access(j.gfps, X_OK)) {
		printf("not available: no gfps at %s\n", j.gfps);
		return NOT_AVAILABLE;
	}
	int rc = gf_main(gfps_main, &j);

	if (rc < 0) {
		fprintf(stderr, "gf_gfps: gf_main: %s\n", strerror(errno));
		return 1;
	}
	if (rc) {
		fprintf(stderr, "gf_gfps: setting up the fibers failed\n");
		return 1;
	}
	if (j.unavailable) {
		printf("not available: %s\n", j.unavailable);
		return NOT_AVAILABLE;
	}
	printf("%.3f\n", j.ms);
	return 0;
}
