// SPDX-License-Identifier: GPL-2.0
/*
 * failslab_test - every allocation of gfibers.ko's paths made to fail.
 *
 * Two ways, both aimed at this test's own task only:
 *
 * 1. Systematically, as syzkaller does: for each path (open, SETUP, GROW,
 *    mmap of the header and of a chunk, a munmap that splits a mapping,
 *    open and read of /proc/gfibers and /proc/gfibers_stats, a write of
 *    the watchdog's hung_timeout_secs), /proc/thread-self/fail-nth makes
 *    the 1st, then the 2nd, ... fault-injection point of the call fail
 *    (slab: failslab; pages: fail_page_alloc), until the call completes
 *    with fewer points than that. Each failure must give a clean errno
 *    (ENOMEM) or succeed, leave the counters of /proc/gfibers_stats as
 *    they were, and the same call, retried, must then succeed: a failed
 *    GROW leaves the chunk index where it was, a failed SETUP leaves the
 *    table not set up, a failed read leaves the file readable.
 *
 * 2. At random: failslab and fail_page_alloc with the task filter
 *    (task-filter=Y, /proc/self/make-it-fail in one child) and a 10%
 *    probability, while that child sets tables up, grows, maps, writes
 *    slots, parks fibers for the watchdog (1 s timeout) and reads
 *    /proc/gfibers for a few seconds. Its calls must succeed or fail with
 *    ENOMEM, and once it is gone every table is gone.
 *
 * The watchdog (kmod/watchdog.c) allocates nothing: it runs in a kworker
 * during phase 2 and its scans of the failing child's tables must go on.
 * Leaks are judged by the counters here and by kmemleak after the suite.
 *
 * Needs CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC and
 * CONFIG_FAULT_INJECTION_DEBUG_FS (the debug kernel of make check-debug);
 * skips where they are absent, as on Debian's kernels.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>

#include "kselftest.h"
#include "gfibers_client.h"

#define DBG		"/sys/kernel/debug/"
#define MAX_NTH		400
#define RANDOM_SECS	4

/* The knobs we change, and what they were. */
static const char * const knobs[] = {
	DBG "failslab/verbose", DBG "failslab/ignore-gfp-wait",
	DBG "failslab/probability", DBG "failslab/interval",
	DBG "failslab/times", DBG "failslab/task-filter",
	DBG "failslab/space",
	DBG "fail_page_alloc/verbose", DBG "fail_page_alloc/ignore-gfp-wait",
	DBG "fail_page_alloc/min-order",
	DBG "fail_page_alloc/probability", DBG "fail_page_alloc/interval",
	DBG "fail_page_alloc/times", DBG "fail_page_alloc/task-filter",
	DBG "fail_page_alloc/space",
};
#define NKNOBS	(sizeof(knobs) / sizeof(knobs[0]))
static char saved[NKNOBS][32];

static int put(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

static void knobs_restore(void)
{
	unsigned int i;

	for (i = 0; i < NKNOBS; i++)
		if (saved[i][0])
			put(knobs[i], saved[i]);
}

/* Quiet (no stack dumps: the runner would call them splats), GFP_KERNEL
 * allocations and order-0 pages included, nothing random yet. */
static int knobs_setup(void)
{
	static const char * const vals[] = {
		"0", "N", "0", "1", "-1", "Y", "0",
		"0", "N", "0", "0", "1", "-1", "Y", "0",
	};
	unsigned int i;
	int err;

	for (i = 0; i < NKNOBS; i++)
		if (gfc_read_line(knobs[i], saved[i], sizeof(saved[i])))
			saved[i][0] = '\0';
	for (i = 0; i < NKNOBS; i++) {
		err = put(knobs[i], vals[i]);
		if (err) {
			ksft_print_msg("%s: %s\n", knobs[i], strerror(-err));
			return err;
		}
	}
	return 0;
}

/* --------------------------------------------------------- counters */

struct counters {
	long tables, slots, bytes;
};

static void counters_read(struct counters *k)
{
	k->tables = gfc_stat("tables");
	k->slots = gfc_stat("slots");
	k->bytes = gfc_stat("bytes");
}

static bool counters_back(const struct counters *base)
{
	struct counters now;
	int i;

	for (i = 0; i < 50; i++) {
		counters_read(&now);
		if (now.tables == base->tables && now.slots == base->slots &&
		    now.bytes == base->bytes)
			return true;
		usleep(20000);
	}
	ksft_print_msg("counters: tables %ld slots %ld bytes %ld, expected %ld %ld %ld\n",
		       now.tables, now.slots, now.bytes, base->tables,
		       base->slots, base->bytes);
	return false;
}

/* --------------------------------------------------------- fail-nth */

static int nth_fd = -1;

static void nth_set(unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	if (pwrite(nth_fd, buf, len, 0) != len)
		ksft_exit_fail_msg("fail-nth: %s\n", strerror(errno));
}

/* Injection points left; 0: the n-th one was reached (and failed). */
static unsigned int nth_left(void)
{
	char buf[16] = "";

	if (pread(nth_fd, buf, sizeof(buf) - 1, 0) <= 0)
		ksft_exit_fail_msg("fail-nth: %s\n", strerror(errno));
	return strtoul(buf, NULL, 10);
}

/*
 * A path under test: @prepare (no injection) builds the state, @op is the
 * call whose n-th allocation fails (returns 0 or -errno), @check the state
 * after a failed @op (retry the call: must succeed), @cleanup undoes all.
 */
struct path {
	const char *name;
	int (*prepare)(void);
	int (*op)(void);
	int (*retry)(void);
	void (*cleanup)(void);
};

static struct gfc c;
static void *map;
static size_t map_len;
static int pfd = -1;

static int prep_none(void)
{
	c.fd = -1;
	return 0;
}

static int prep_open(void)
{
	c.fd = open(GFC_DEV, O_RDWR | O_CLOEXEC);
	c.hdr = NULL;
	c.chunks = NULL;
	c.nr_chunks = 0;
	return c.fd < 0 ? -errno : 0;
}

static int prep_setup(void)
{
	return gfc_open(&c);
}

static int prep_grown(void)
{
	int err = gfc_open(&c);

	if (!err)
		err = gfc_reserve(&c, 2 * GFIBERS_CHUNK_SLOTS);
	return err;
}

static void clean_all(void)
{
	if (map && map != MAP_FAILED)
		munmap(map, map_len);
	map = NULL;
	if (c.fd >= 0 || c.hdr)
		gfc_close(&c);
	c.fd = -1;
	if (pfd >= 0)
		close(pfd);
	pfd = -1;
}

static int op_open(void)
{
	c.fd = open(GFC_DEV, O_RDWR | O_CLOEXEC);
	return c.fd < 0 ? -errno : 0;
}

static int retry_open(void)
{
	return c.fd >= 0 ? 0 : op_open();
}

static int op_setup(void)
{
	struct gfibers_setup s = { .abi_version = GFIBERS_ABI_VERSION };

	return ioctl(c.fd, GFIBERS_IOC_SETUP, &s) ? -errno : 0;
}

static int retry_setup(void)
{
	int err = op_setup();

	/* Either the failed call left it not set up, or it had succeeded. */
	return err == -EBUSY ? 0 : err;
}

static int grow_k = -1;

static int op_grow(void)
{
	int k = ioctl(c.fd, GFIBERS_IOC_GROW, 0);

	grow_k = k;
	return k < 0 ? -errno : 0;
}

/* A failed GROW must not have taken a chunk number. */
static int retry_grow(void)
{
	int k;

	if (grow_k >= 0)
		return grow_k == 0 ? 0 : -EPROTO;
	k = ioctl(c.fd, GFIBERS_IOC_GROW, 0);
	if (k < 0)
		return -errno;
	return k == 0 ? 0 : -EPROTO;
}

static int op_map_hdr(void)
{
	map_len = GFIBERS_HEADER_SIZE;
	map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, c.fd, 0);
	return map == MAP_FAILED ? -errno : 0;
}

static int op_map_chunk(void)
{
	map_len = GFIBERS_CHUNK_SIZE;
	map = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_POPULATE, c.fd, GFIBERS_CHUNK_OFFSET(1));
	return map == MAP_FAILED ? -errno : 0;
}

/* The mapping works: write a fiber, see it in /proc/gfibers. */
static int see_fiber(struct gfibers_slot *s, uint64_t id)
{
	char cols[GFC_NCOLS][64];
	struct gfibers_slot v;
	char *dump;
	int found;

	gfc_sample(&v, id);
	gfc_write(s, &v);
	dump = gfc_slurp(GFC_PROC, NULL);
	if (!dump)
		return -errno;
	found = gfc_find(dump, getpid(), id, cols);
	free(dump);
	gfc_release(s);
	return found ? 0 : -ENOENT;
}

static int retry_map_chunk(void)
{
	if (map == MAP_FAILED && op_map_chunk())
		return -errno;
	return see_fiber(map, 424242);
}

static int retry_map_hdr(void)
{
	if (map == MAP_FAILED && op_map_hdr())
		return -errno;
	return ((struct gfibers_header *)map)->magic == GFIBERS_MAGIC ? 0 :
	       -EPROTO;
}

/* munmap() of a middle page: splits the VMA (vm_ops->open on the new one). */
static int op_split(void)
{
	return munmap((char *)c.chunks[0] + 4 * getpagesize(),
		      getpagesize()) ? -errno : 0;
}

static int retry_split(void)
{
	/* Both pieces (or the whole) still write the table. */
	int err = see_fiber(&c.chunks[0][0], 515151);

	return err ? err : see_fiber(&c.chunks[0][GFIBERS_CHUNK_SLOTS - 1],
				     525252);
}

static char rbuf[1 << 16];

static int op_proc_open(void)
{
	pfd = open(GFC_PROC, O_RDONLY | O_CLOEXEC);
	return pfd < 0 ? -errno : 0;
}

static int op_proc_read(void)
{
	return read(pfd, rbuf, sizeof(rbuf)) < 0 ? -errno : 0;
}

/* A table with a fiber, so that there is a line to render. */
static int prep_fiber(void)
{
	int err = prep_grown();

	if (!err)
		gfc_write(gfc_slot(&c, 3), &(struct gfibers_slot){
			  .fiber_id = 31337, .status = GFIBERS_GWAITING,
			  .wait_reason = GFIBERS_WAIT_USER_BASE + 1 });
	return err;
}

static int prep_proc(void)
{
	int err = prep_fiber();

	return err ? err : op_proc_open();
}

/* After a failed read, the same file reads whole and well formed. */
static int retry_proc(void)
{
	char cols[GFC_NCOLS][64];
	char *dump;
	int found;

	if (pfd < 0 && op_proc_open())
		return -errno;
	dump = gfc_slurp_fd(pfd, NULL);
	pfd = -1;
	if (!dump)
		return -errno;
	found = !strncmp(dump, "# gfibers 2\n", 12) &&
		gfc_find(dump, getpid(), 31337, cols);
	free(dump);
	return found ? 0 : -ENOENT;
}

static int op_stats(void)
{
	int fd = open(GFC_STATS, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, rbuf, sizeof(rbuf));
	close(fd);
	return n < 0 ? -errno : 0;
}

static int retry_stats(void)
{
	return gfc_stat("tables") >= 0 ? 0 : -ENOENT;
}

static char timeout0[32];

static int op_param(void)
{
	return gfc_param_set("hung_timeout_secs", "3");
}

/* The parameter holds its old value or the new one, and is writable. */
static int retry_param(void)
{
	char v[32];
	int err = gfc_param_get("hung_timeout_secs", v, sizeof(v));

	if (err)
		return err;
	if (strcmp(v, "3") && strcmp(v, timeout0))
		return -EPROTO;
	return gfc_param_set("hung_timeout_secs", timeout0);
}

static const struct path paths[] = {
	{ "open(/dev/gfibers)", prep_none, op_open, retry_open, clean_all },
	{ "GFIBERS_IOC_SETUP", prep_open, op_setup, retry_setup, clean_all },
	{ "GFIBERS_IOC_GROW", prep_setup, op_grow, retry_grow, clean_all },
	{ "mmap of the header", prep_setup, op_map_hdr, retry_map_hdr,
	  clean_all },
	{ "mmap of a chunk", prep_grown, op_map_chunk, retry_map_chunk,
	  clean_all },
	{ "munmap splitting a chunk", prep_grown, op_split, retry_split,
	  clean_all },
	{ "open(/proc/gfibers)", prep_fiber, op_proc_open, retry_proc,
	  clean_all },
	{ "read(/proc/gfibers)", prep_proc, op_proc_read, retry_proc,
	  clean_all },
	{ "/proc/gfibers_stats", prep_none, op_stats, retry_stats,
	  clean_all },
	{ "write hung_timeout_secs", prep_none, op_param, retry_param,
	  clean_all },
};

/* Fail each injection point of @p in turn. Returns the failures seen. */
static bool run_path(const struct path *p, const struct counters *base)
{
	unsigned int n, failed = 0, points = 0;
	int err, rerr;
	bool ok = true;

	for (n = 1; n <= MAX_NTH; n++) {
		err = p->prepare();
		if (err) {
			ksft_print_msg("%s: preparing (no injection): %s\n",
				       p->name, strerror(-err));
			p->cleanup();
			return false;
		}
		nth_set(n);
		err = p->op();
		if (nth_left()) {	/* fewer than n points: all done */
			nth_set(0);
			points = n - 1;
			if (err) {
				ksft_print_msg("%s failed without injection: %s\n",
					       p->name, strerror(-err));
				ok = false;
			}
			p->cleanup();
			break;
		}
		if (err) {
			failed++;
			if (err != -ENOMEM) {
				ksft_print_msg("%s, allocation %u failed: %s, not ENOMEM\n",
					       p->name, n, strerror(-err));
				ok = false;
			}
		}
		rerr = p->retry();
		if (rerr) {
			ksft_print_msg("%s, allocation %u failed (%s): the call retried gives %s\n",
				       p->name, n, strerror(-err),
				       strerror(-rerr));
			ok = false;
		}
		p->cleanup();
		if (!counters_back(base)) {
			ksft_print_msg("%s, allocation %u failed (%s): counters not back\n",
				       p->name, n, strerror(-err));
			ok = false;
		}
		if (!ok)
			break;
	}
	if (n > MAX_NTH)
		points = MAX_NTH;
	ksft_print_msg("%s: %u injection points, %u made the call fail\n",
		       p->name, points, failed);
	if (ok && !failed) {
		ksft_print_msg("%s: no allocation failure reached the caller\n",
			       p->name);
		ok = false;
	}
	return ok;
}

/* --------------------------------------------------------- phase 2 */

/* The child of the random phase: everything, with allocations failing. */
static void random_child(void)
{
	unsigned int round = 0, ops = 0, enomem = 0, i;
	struct gfibers_slot v;
	struct timespec t0;
	struct gfc t, keep;
	char *dump;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/*
	 * Fibers parked now, in a table that lives through the phase: the
	 * watchdog (1 s) reports them while our allocations fail.
	 */
	if (gfc_open(&keep) || gfc_grow(&keep) < 0)
		_exit(11);
	for (i = 0; i < 4; i++) {
		gfc_sample(&v, 900 + i);
		gfc_write(gfc_slot(&keep, i), &v);
	}
	mlockall(MCL_CURRENT);
	if (put("/proc/self/make-it-fail", "1"))
		_exit(10);
	while (gfc_now_ns() - (t0.tv_sec * 1000000000ull + t0.tv_nsec) <
	       RANDOM_SECS * 1000000000ull) {
		int err = gfc_open(&t);

		ops++;
		if (err) {
			if (err != -ENOMEM)
				_exit(20 + (-err & 63));
			enomem++;
			continue;
		}
		for (i = 0; i < 8; i++) {
			err = gfc_grow(&t);
			ops++;
			if (err >= 0)
				continue;
			/* (gfc_grow() cannot go on after a failed mmap) */
			if (err != -ENOMEM)
				_exit(100 + (-err & 63));
			enomem++;
			break;
		}
		for (i = 0; i < t.nr_chunks * GFIBERS_CHUNK_SLOTS; i += 37) {
			gfc_sample(&v, round * 100000 + i + 1);
			v.wait_since_ns -= 3000000000ull;	/* the watchdog */
			gfc_write(gfc_slot(&t, i), &v);
		}
		dump = gfc_slurp(GFC_PROC, NULL);
		ops++;
		if (!dump && errno != ENOMEM)
			_exit(200);
		free(dump);
		dump = gfc_slurp(GFC_STATS, NULL);
		if (!dump && errno != ENOMEM)
			_exit(201);
		free(dump);
		gfc_close(&t);
		round++;
	}
	put("/proc/self/make-it-fail", "0");
	printf("# random phase: %u rounds, %u calls, %u ENOMEM\n", round, ops,
	       enomem);
	fflush(stdout);
	_exit(enomem ? 0 : 202);
}

static bool random_phase(const struct counters *base)
{
	long warnings0 = gfc_stat("warnings");
	char warnings[32] = "";
	int status = 0;
	pid_t pid;
	bool ok;

	gfc_param_get("hung_warnings", warnings, sizeof(warnings));
	gfc_param_set("hung_warnings", "5");
	gfc_param_set("hung_timeout_secs", "1");
	put(DBG "failslab/probability", "10");
	put(DBG "fail_page_alloc/probability", "10");
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		random_child();
	waitpid(pid, &status, 0);
	put(DBG "failslab/probability", "0");
	put(DBG "fail_page_alloc/probability", "0");
	/* The watchdog scans every second: give it two. */
	sleep(2);
	gfc_param_set("hung_timeout_secs", timeout0);
	if (warnings[0])
		gfc_param_set("hung_warnings", warnings);
	ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (!ok)
		ksft_print_msg("random child: status 0x%x (exit 2x/1xx/20x: a call failed with another errno than ENOMEM)\n",
			       status);
	warnings0 = gfc_stat("warnings") - warnings0;
	ksft_print_msg("watchdog: %ld messages during the random phase\n",
		       warnings0);
	if (warnings0 < 1) {
		ksft_print_msg("the watchdog reported none of the 4 parked fibers\n");
		ok = false;
	}
	return counters_back(base) && ok;
}

int main(void)
{
	struct counters base;
	char path[64];
	unsigned int i;
	bool ok;

	ksft_print_header();
	if (!gfc_present())
		ksft_exit_skip(GFC_DEV " absent: gfibers.ko not loaded\n");
	if (geteuid())
		ksft_exit_skip("needs root (debugfs, module parameters)\n");
	if (access(DBG "failslab", F_OK) || access(DBG "fail_page_alloc", F_OK))
		ksft_exit_skip("no " DBG "failslab or fail_page_alloc: kernel without CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS (or debugfs not mounted)\n");
	snprintf(path, sizeof(path), "/proc/self/task/%d/fail-nth", gettid());
	nth_fd = open(path, O_RDWR | O_CLOEXEC);
	if (nth_fd < 0)
		ksft_exit_skip("%s: %s\n", path, strerror(errno));
	if (gfc_param_get("hung_timeout_secs", timeout0, sizeof(timeout0)))
		ksft_exit_fail_msg("hung_timeout_secs unreadable\n");
	ksft_set_plan(sizeof(paths) / sizeof(paths[0]) + 1);
	if (knobs_setup()) {
		knobs_restore();
		ksft_exit_fail_msg("cannot configure fault injection\n");
	}
	/* No page faults of our own between fail-nth and the call. */
	mlockall(MCL_CURRENT | MCL_FUTURE);
	counters_read(&base);
	memset(rbuf, 0, sizeof(rbuf));

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		ok = run_path(&paths[i], &base);
		ksft_test_result(ok, "%s: each allocation failure gives ENOMEM or success, no leak, the call works again\n",
				 paths[i].name);
	}
	ok = random_phase(&base);
	ksft_test_result(ok, "random failures (10%%, task filter) in a process using the module for %d s: ENOMEM or success, no leak\n",
			 RANDOM_SECS);
	nth_set(0);
	knobs_restore();
	gfc_param_set("hung_timeout_secs", timeout0);
	ksft_finished();
	return 0;
}
