// SPDX-License-Identifier: MIT
/*
 * gf_bench - the gfibers side of every workload of bench/ but switch
 * (gf_switch.c) (bench/run.sh
 * drives it; bench/go/ holds the same workloads in Go, written alike so
 * that the two compare one for one).
 *
 * Usage: gf_bench WORKLOAD [N]; prints one number (bench.h says how N
 * and calibration work), or "not available: <reason>" and exits 3.
 * Processors come from GF_PROCS, set by the driver.
 *
 * BENCH_EXPECT_MODE=M (set by the driver) makes the program check that
 * the library registered its fibers as the label of the run says
 * (gf_registry_mode(): 0 nowhere, 1 the kernel's table, 2 the host-fake
 * table), and refuse to print a number otherwise: a "gfibers-reg" figure
 * that was in fact unregistered would be a lie.
 */
#include <errno.h>

#include "bench.h"
#include "gfiber.h"

#define NOT_AVAILABLE 3

static void die(const char *what)
{
	fprintf(stderr, "gf_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void go(void (*fn)(void *), void *arg)
{
	if (gf_go(fn, arg) < 0)
		die("gf_go");
}

static gf_chan_t *chan(size_t elemsize, size_t cap)
{
	gf_chan_t *c = gf_chan_new(elemsize, cap);

	if (!c)
		die("gf_chan_new");
	return c;
}

static void chsend(gf_chan_t *c, int64_t v)
{
	if (gf_chan_send(c, &v))
		die("gf_chan_send");
}

/* -------------------------------------------------------------- yield */

/* Two fibers each yield n times: with GF_PROCS=1, 2n hand-offs. */
struct yield_arg {
	uint64_t n;
	gf_waitgroup_t wg;
};

static void yielder(void *p)
{
	struct yield_arg *a = p;

	for (uint64_t i = 0; i < a->n; i++)
		gf_yield();
	gf_waitgroup_done(&a->wg);
}

static uint64_t yield_run(uint64_t n, void *unused)
{
	struct yield_arg a = { .n = n, .wg = GF_WAITGROUP_INIT };
	uint64_t t0 = bench_now_ns();

	(void)unused;
	gf_waitgroup_add(&a.wg, 2);
	go(yielder, &a);
	go(yielder, &a);
	gf_waitgroup_wait(&a.wg);
	return bench_now_ns() - t0;
}

/* ----------------------------------------------------------- pingpong */

/* One round trip: main sends on ping, the partner answers on pong. */
static gf_chan_t *ping, *pong;

static void ponger(void *unused)
{
	int64_t v;

	(void)unused;
	while (gf_chan_recv(ping, &v) == 0)
		chsend(pong, v);
}

static uint64_t pingpong_run(uint64_t n, void *unused)
{
	uint64_t t0 = bench_now_ns();
	int64_t v;

	(void)unused;
	for (uint64_t i = 0; i < n; i++) {
		chsend(ping, (int64_t)i);
		gf_chan_recv(pong, &v);
	}
	return bench_now_ns() - t0;
}

/* ------------------------------------------------------------ bufchan */

/* One producer (main), one consumer, capacity 128; ns per message. */
struct bufchan_arg {
	gf_chan_t *c;
	gf_waitgroup_t wg;
};

static void consumer(void *p)
{
	struct bufchan_arg *a = p;
	int64_t v;

	while (gf_chan_recv(a->c, &v) == 0)
		;
	gf_waitgroup_done(&a->wg);
}

static uint64_t bufchan_run(uint64_t n, void *unused)
{
	struct bufchan_arg a = { .c = chan(sizeof(int64_t), 128),
				 .wg = GF_WAITGROUP_INIT };
	uint64_t t0 = bench_now_ns();

	(void)unused;
	gf_waitgroup_add(&a.wg, 1);
	go(consumer, &a);
	for (uint64_t i = 0; i < n; i++)
		chsend(a.c, (int64_t)i);
	gf_chan_close(a.c);
	gf_waitgroup_wait(&a.wg);
	uint64_t d = bench_now_ns() - t0;

	gf_chan_unref(a.c);
	return d;
}

/* ------------------------------------------------------------- select */

/*
 * A producer sends round-robin on four unbuffered channels; main
 * receives with one gf_select over the four. Requests (how many to send)
 * reach the producer on req.
 */
static gf_chan_t *sel[4], *req;

static void producer(void *unused)
{
	int64_t n;

	(void)unused;
	while (gf_chan_recv(req, &n) == 0)
		for (int64_t i = 0; i < n; i++)
			chsend(sel[i & 3], i);
}

static uint64_t select_run(uint64_t n, void *unused)
{
	gf_select_case_t c[4];
	int64_t v[4];
	uint64_t t0 = bench_now_ns();

	(void)unused;
	for (int i = 0; i < 4; i++)
		c[i] = (gf_select_case_t){ .chan = sel[i],
					   .dir = GF_SELECT_RECV,
					   .elem = &v[i] };
	chsend(req, (int64_t)n);
	for (uint64_t i = 0; i < n; i++)
		if (gf_select(c, 4) < 0)
			die("gf_select");
	return bench_now_ns() - t0;
}

/* -------------------------------------------------------------- spawn */

static void done(void *wg)
{
	gf_waitgroup_done(wg);
}

/* n fibers that only call gf_waitgroup_done; ns per fiber. */
static double spawn(int64_t n)
{
	gf_waitgroup_t wg = GF_WAITGROUP_INIT;
	uint64_t t0 = bench_now_ns();

	gf_waitgroup_add(&wg, n);
	for (int64_t i = 0; i < n; i++)
		go(done, &wg);
	gf_waitgroup_wait(&wg);
	return n ? (double)(bench_now_ns() - t0) / (double)n : 0;
}

/* -------------------------------------------------------------- sieve */

/*
 * Go's concurrent prime sieve (doc/play/sieve.go): a generator and one
 * filter fiber per prime, chained by unbuffered channels. They are left
 * running when main returns, as in Go. ms to find n primes.
 */
struct filter_arg {
	gf_chan_t *in, *out;
	int64_t prime;
};

static void generate(void *out)
{
	for (int64_t i = 2;; i++)
		chsend(out, i);
}

static void filter(void *p)
{
	struct filter_arg *a = p;
	int64_t v;

	for (;;) {
		gf_chan_recv(a->in, &v);
		if (v % a->prime)
			chsend(a->out, v);
	}
}

static double sieve(int64_t n)
{
	uint64_t t0 = bench_now_ns();
	gf_chan_t *ch = chan(sizeof(int64_t), 0);

	go(generate, ch);
	for (int64_t i = 0; i < n; i++) {
		struct filter_arg *a = malloc(sizeof(*a));

		if (!a)
			die("malloc");
		a->in = ch;
		gf_chan_recv(ch, &a->prime);
		a->out = ch = chan(sizeof(int64_t), 0);
		go(filter, a);
	}
	return (double)(bench_now_ns() - t0) / 1e6;
}

/* ------------------------------------------------------------- timers */

struct sleeper_arg {
	int64_t ns;
	gf_waitgroup_t *wg;
};

static void sleeper(void *p)
{
	struct sleeper_arg *a = p;

	gf_sleep(a->ns);
	gf_waitgroup_done(a->wg);
}

/*
 * n fibers each sleep 1-100 ms (uniform, fixed seed); the process's CPU
 * time (user + system) from before the first spawn until the last one
 * wakes, in ms.
 */
static double timers(int64_t n)
{
	struct sleeper_arg *a = calloc((size_t)n + 1, sizeof(*a));
	gf_waitgroup_t wg = GF_WAITGROUP_INIT;
	uint64_t x = 88172645463325252ull;	/* xorshift64 */
	double c0;

	if (!a)
		die("calloc");
	for (int64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		a[i].ns = (int64_t)(1 + x % 100) * 1000000;
		a[i].wg = &wg;
	}
	c0 = bench_cpu_ms();
	gf_waitgroup_add(&wg, n);
	for (int64_t i = 0; i < n; i++)
		go(sleeper, &a[i]);
	gf_waitgroup_wait(&wg);
	c0 = bench_cpu_ms() - c0;
	free(a);
	return c0;
}

/* ---------------------------------------------------------- rss_parked */

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

struct parked_exit_arg {
	struct parked_arg *a;
	gf_waitgroup_t *exited;
};

/* parked(), then gone. */
static void parked_exit(void *p)
{
	struct parked_exit_arg *x = p;

	parked(x->a);
	gf_waitgroup_done(x->exited);
}

/*
 * RSS growth per fiber with n fibers parked on one channel receive, in
 * bytes. They stay parked when main returns (the process then exits).
 */
static double rss_parked(int64_t n)
{
	struct parked_arg a = { .block = chan(0, 0), .wg = GF_WAITGROUP_INIT };
	double r0 = bench_rss_bytes();

	gf_waitgroup_add(&a.wg, n);
	for (int64_t i = 0; i < n; i++)
		go(parked, &a);
	gf_waitgroup_wait(&a.wg);
	/* Each has run to its receive; let the last ones park. */
	gf_yield();
	return n ? (bench_rss_bytes() - r0) / (double)n : 0;
}

/*
 * RSS after n fibers, each parked on one channel receive, have all been
 * woken (the channel closed) and have exited, as a percentage of the RSS
 * before they were created: 100 means every byte came back. The page
 * faults of the whole run go to stderr (the spawn cost on a machine
 * where a first touch is dear).
 */
static double rss_after_exit(int64_t n)
{
	struct parked_arg a = { .block = chan(0, 0), .wg = GF_WAITGROUP_INIT };
	gf_waitgroup_t exited = GF_WAITGROUP_INIT;
	struct parked_exit_arg x = { &a, &exited };
	double r0 = bench_rss_bytes(), r1, r2;
	struct rusage ru0, ru1;

	getrusage(RUSAGE_SELF, &ru0);
	gf_waitgroup_add(&a.wg, n);
	gf_waitgroup_add(&exited, n);
	for (int64_t i = 0; i < n; i++)
		go(parked_exit, &x);
	gf_waitgroup_wait(&a.wg);
	gf_yield();
	r1 = bench_rss_bytes();
	gf_chan_close(a.block);
	gf_waitgroup_wait(&exited);
	r2 = bench_rss_bytes();
	getrusage(RUSAGE_SELF, &ru1);
	fprintf(stderr, "rss_after_exit: n %ld, rss before %.0f, parked %.0f, "
		"after exit %.0f bytes, %ld minor faults\n", (long)n, r0, r1,
		r2, ru1.ru_minflt - ru0.ru_minflt);
	return 100.0 * r2 / r0;
}

/* --------------------------------------------------------------- main */

struct job {
	const char *workload;
	int64_t n;		/* -1: calibrate / default size */
	int expect_mode;	/* -1: do not check */
	double result;
	const char *unavailable;	/* why no result */
};

static int64_t fixed(const struct job *j, int64_t def)
{
	return j->n >= 0 ? j->n : def;
}

static int bench_main(void *p)
{
	struct job *j = p;
	const char *w = j->workload;
	int mode = gf_registry_mode();

	if (j->expect_mode >= 0 && mode != j->expect_mode) {
		static char why[96];

		snprintf(why, sizeof(why),
			 "registry mode is %d, the run expects %d", mode,
			 j->expect_mode);
		j->unavailable = why;
		return 0;
	}
	if (!strcmp(w, "yield")) {
		j->result = bench_measure(yield_run, NULL, j->n, 2);
	} else if (!strcmp(w, "pingpong")) {
		ping = chan(sizeof(int64_t), 0);
		pong = chan(sizeof(int64_t), 0);
		go(ponger, NULL);
		j->result = bench_measure(pingpong_run, NULL, j->n, 1);
	} else if (!strcmp(w, "bufchan")) {
		j->result = bench_measure(bufchan_run, NULL, j->n, 1);
	} else if (!strcmp(w, "select")) {
		for (int i = 0; i < 4; i++)
			sel[i] = chan(sizeof(int64_t), 0);
		req = chan(sizeof(int64_t), 0);
		go(producer, NULL);
		j->result = bench_measure(select_run, NULL, j->n, 1);
	} else if (!strcmp(w, "spawn")) {
		j->result = spawn(fixed(j, 1000000));
	} else if (!strcmp(w, "sieve")) {
		j->result = sieve(fixed(j, 5000));
	} else if (!strcmp(w, "timers")) {
		j->result = timers(fixed(j, 100000));
	} else if (!strcmp(w, "rss_parked_100k")) {
		j->result = rss_parked(fixed(j, 100000));
	} else if (!strcmp(w, "rss_parked_1m")) {
		j->result = rss_parked(fixed(j, 1000000));
	} else if (!strcmp(w, "rss_after_exit_1m")) {
		j->result = rss_after_exit(fixed(j, 1000000));
	} else {
		fprintf(stderr, "gf_bench: unknown workload %s\n", w);
		exit(2);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *e = getenv("BENCH_EXPECT_MODE");
	struct job j = { .n = bench_parse_n(argc, argv),
			 .expect_mode = e && *e ? atoi(e) : -1 };

	if (argc < 2) {
		fprintf(stderr, "usage: gf_bench WORKLOAD [N]\n");
		return 2;
	}
	j.workload = argv[1];
	if (gf_main(bench_main, &j) < 0)
		die("gf_main");
	if (j.unavailable) {
		printf("not available: %s\n", j.unavailable);
		fflush(stdout);
		_exit(NOT_AVAILABLE);
	}
	printf("%.3f\n", j.result);
	/*
	 * Fibers may be left parked (rss_parked) or running (sieve), as Go
	 * leaves its goroutines at exit: leave without running destructors
	 * under them.
	 */
	fflush(stdout);
	_exit(0);
}
