// SPDX-License-Identifier: MIT
/*
 * gf_procread - workload `procread` (run inside the VM, with gfibers.ko
 * loaded, by bench/vm-bench.sh): what it costs an operator to list every
 * fiber through /proc/gfibers, against what listing every thread through
 * /proc/PID/task/TID/stat costs, per fiber / thread.
 *
 * Usage:
 *   gf_procread gfibers-proc N	N fibers parked on a channel receive;
 *				ns per fiber of one full read of
 *				/proc/gfibers (after one warm-up read)
 *   gf_procread linux-taskstat N	N threads blocked on a mutex; ns per
 *				thread of one walk of /proc/self/task
 *				reading every TID's stat (after a
 *				warm-up walk)
 * Prints one number, or "not available: <reason>" and exits 3.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "bench.h"
#include "gfiber.h"

#define NOT_AVAILABLE 3
#define PROC_GFIBERS "/proc/gfibers"

static char buf[1 << 16];

static void die(const char *what)
{
	fprintf(stderr, "gf_procread: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void not_available(const char *why)
{
	printf("not available: %s\n", why);
	fflush(stdout);
	_exit(NOT_AVAILABLE);
}

/* Read path to its end; returns the number of lines. */
static int64_t read_all(const char *path)
{
	int64_t lines = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		die(path);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < r; i++)
			lines += buf[i] == '\n';
	if (r < 0)
		die(path);
	close(fd);
	return lines;
}

/* ------------------------------------------------------- /proc/gfibers */

struct parked_arg {
	gf_chan_t *block;
	gf_waitgroup_t wg;
};

static void parked(void *p)
{
	struct parked_arg *a = p;

	gf_waitgroup_done(&a->wg);
	gf_chan_recv(a->block, NULL);
}

struct job {
	int64_t n;
	double result;
	const char *unavailable;
};

static int proc_main(void *p)
{
	static char why[128];
	struct job *j = p;
	struct parked_arg a = { .block = gf_chan_new(0, 0),
				.wg = GF_WAITGROUP_INIT };
	int64_t lines;
	uint64_t t0;

	if (!a.block)
		die("gf_chan_new");
	if (gf_registry_mode() != 1) {
		snprintf(why, sizeof(why), "fibers not registered with the "
			 "kernel (registry mode %d)", gf_registry_mode());
		j->unavailable = why;
		return 0;
	}
	gf_waitgroup_add(&a.wg, j->n);
	for (int64_t i = 0; i < j->n; i++)
		if (gf_go(parked, &a) < 0)
			die("gf_go");
	gf_waitgroup_wait(&a.wg);
	gf_yield();
	read_all(PROC_GFIBERS);			/* warm-up */
	t0 = bench_now_ns();
	lines = read_all(PROC_GFIBERS);
	j->result = (double)(bench_now_ns() - t0) / (double)j->n;
	if (lines < j->n) {
		snprintf(why, sizeof(why), PROC_GFIBERS " showed %lld lines "
			 "for %lld parked fibers", (long long)lines,
			 (long long)j->n);
		j->unavailable = why;
	}
	return 0;
}

static double gfibers_proc(int64_t n)
{
	struct job j = { .n = n };

	if (access(PROC_GFIBERS, R_OK))
		not_available(PROC_GFIBERS " is missing (gfibers.ko not loaded)");
	if (gf_main(proc_main, &j) < 0)
		die("gf_main");
	if (j.unavailable)
		not_available(j.unavailable);
	return j.result;
}

/* ------------------------------------------------------ /proc/PID/task */

static pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
static atomic_long started;

static void *blocked(void *unused)
{
	(void)unused;
	atomic_fetch_add(&started, 1);
	pthread_mutex_lock(&hold);	/* main holds it until exit */
	pthread_mutex_unlock(&hold);
	return NULL;
}

/* One walk of /proc/self/task reading every stat; returns threads seen. */
static int64_t walk_tasks(void)
{
	char path[300];
	struct dirent *d;
	int64_t n = 0;
	DIR *dir = opendir("/proc/self/task");

	if (!dir)
		die("/proc/self/task");
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
			 d->d_name);
		read_all(path);
		n++;
	}
	closedir(dir);
	return n;
}

static double linux_taskstat(int64_t n)
{
	pthread_attr_t attr;
	pthread_t t;
	int64_t seen;
	uint64_t t0;

	pthread_mutex_lock(&hold);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (int64_t i = 0; i < n; i++) {
		errno = pthread_create(&t, &attr, blocked, NULL);
		if (errno)
			die("pthread_create");
	}
	while (atomic_load(&started) < n)
		usleep(1000);
	walk_tasks();				/* warm-up */
	t0 = bench_now_ns();
	seen = walk_tasks();
	return (double)(bench_now_ns() - t0) / (double)seen;
}

int main(int argc, char **argv)
{
	int64_t n = bench_parse_n(argc, argv);
	double v;

	if (argc < 3 || n <= 0) {
		fprintf(stderr, "usage: gf_procread gfibers-proc|linux-taskstat N\n");
		return 2;
	}
	if (!strcmp(argv[1], "gfibers-proc"))
		v = gfibers_proc(n);
	else if (!strcmp(argv[1], "linux-taskstat"))
		v = linux_taskstat(n);
	else {
		fprintf(stderr, "gf_procread: unknown mode %s\n", argv[1]);
		return 2;
	}
	printf("%.3f\n", v);
	/* Parked fibers and blocked threads are left as they are. */
	fflush(stdout);
	_exit(0);
}
