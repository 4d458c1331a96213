// SPDX-License-Identifier: GPL-2.0
/*
 * symbols_test.c - how a dump names code: through libdw (loaded at run
 * time) the file:line of a wait site and of a creation site, inlined
 * calls as frames of their own; the symbol table when libdw is not to be
 * had (GF_NO_LIBDW=1, a libdw.so.1 that does not load), said in the
 * dump's first line; a binary without debug info, or without any symbol.
 *
 * The last ones run this program again (a copy, stripped; or with an
 * environment read at its start) in child mode: SYMBOLS_CHILD=1 makes it
 * dump its fibers to stdout and exit, before the harness starts.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/wait.h>

#include "gftest.h"
#include "runtime.h"	/* the status, to wait until parked */

static gf_fiber_t *waiter_g;
static gf_chan_t *wake;

/* The lines the dump must name. */
enum { RECV_LINE = __LINE__ + 5 };

static inline __attribute__((always_inline)) void wait_inlined(void)
{
	__atomic_store_n(&waiter_g, gf_self(), __ATOMIC_RELEASE);
	gf_chan_recv(wake, NULL);
}

enum { INLINED_AT_LINE = __LINE__ + 5 };

static void __attribute__((noinline)) waiter(void *arg)
{
	(void)arg;
	wait_inlined();
	__asm__ volatile("" ::: "memory");	/* no tail call */
}

static void wait_parked(void)
{
	gf_fiber_t *f;

	while (!(f = __atomic_load_n(&waiter_g, __ATOMIC_ACQUIRE)) ||
	       (atomic_load(&f->status) & ~GSCAN) != GFIBERS_GWAITING)
		gf_sleep(1000000);
}

enum { GO_LINE = __LINE__ + 8 };

/* Start waiter and wait until it is parked (a function of its own in
 * the symbol table too). */
static void __attribute__((noinline)) start_waiter(void)
{
	waiter_g = NULL;
	wake = gf_chan_new(0, 0);
	gf_go(waiter, NULL);
	wait_parked();
}

static void release_waiter(void)
{
	gf_chan_close(wake);
	gf_chan_unref(wake);
}

static int child_main(void *arg)
{
	int n;

	(void)arg;
	start_waiter();
	n = gf_dump(1);
	release_waiter();
	return n == 2 ? 0 : 1;
}

/* Child mode: before the harness's main. */
__attribute__((constructor)) static void symbols_child(void)
{
	const char *c = getenv("SYMBOLS_CHILD");

	if (c && !strcmp(c, "1")) {
		setenv("GF_NOSIGQUIT", "1", 1);
		_exit(gf_main(child_main, NULL));
	}
}

/* The dump of main and waiter, as text. */
static const char *waiter_dump(void)
{
	const char *d;

	start_waiter();
	d = gft_dump();
	release_waiter();
	return d;
}

/*
 * The wait site is in an inlined function: two frames for one return
 * address, the inlined call first, with its own line and no offset (its
 * code is waiter's), then waiter at the line that calls it. The creator
 * at the line of its gf_go.
 */
static int file_line_main(void *arg)
{
	GFT_FIBER;
	const char *d = waiter_dump();

	(void)arg;
	/* the inlined call: its line, no offset; then its caller */
	EXPECT_TRUE(gft_dump_has(d, "fiber 2 [chan receive]:\n"
				    "wait_inlined(...)\n\t",
				 __FILE__, RECV_LINE, "\nwaiter(...)\n\t"));
	EXPECT_TRUE(gft_dump_has(d, "\nwaiter(...)\n\t", __FILE__,
				 INLINED_AT_LINE, " +0x"));
	EXPECT_TRUE(gft_dump_has(d, "created by start_waiter in fiber 1\n\t",
				 __FILE__, GO_LINE, " +0x"));
	if (!gft_dump_has(d, "\nwaiter(...)\n\t", __FILE__, INLINED_AT_LINE,
			  " +0x"))
		TH_LOG("dump:\n%s", d);
	EXPECT_EQ(NULL, strstr(d, "symbols:"));
	return 0;
}

TEST(file_line_and_inlined_frames)
{
	GFT_RUN(file_line_main, NULL);
}

/* GF_NO_LIBDW=1: the symbol table, and the dump says so first. */
static int no_libdw_main(void *arg)
{
	GFT_FIBER;
	const char *d;

	(void)arg;
	setenv("GF_NO_LIBDW", "1", 1);
	d = waiter_dump();
	unsetenv("GF_NO_LIBDW");
	EXPECT_EQ(d, strstr(d, "symbols: symbol table only (GF_NO_LIBDW=1)\n\n"));
	/* the function that holds the code, and its offset; no line */
	EXPECT_NE(NULL, strstr(d, "fiber 2 [chan receive]:\nwaiter(...)\n\t? +0x"));
	EXPECT_NE(NULL, strstr(d, "created by start_waiter in fiber 1\n\t? +0x"));
	EXPECT_EQ(NULL, strstr(d, "symbols_test.c:")) {
		TH_LOG("got:\n%s", d);
	}
	/* the knob is read at each dump: libdw is back */
	d = waiter_dump();
	EXPECT_NE(NULL, strstr(d, "symbols_test.c:"));
	return 0;
}

TEST(no_libdw_knob)
{
	GFT_RUN(no_libdw_main, NULL);
}

/* Run exe in child mode with env added; its stdout into out. */
static void run_child(struct __test_metadata *_metadata, const char *exe,
		      const char *env, char *out, size_t n)
{
	int p[2], st = 0;
	size_t got = 0;
	ssize_t r;
	pid_t pid;

	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *e;

		dup2(p[1], 1);
		close(p[0]);
		setenv("SYMBOLS_CHILD", "1", 1);
		if (env) {
			e = strdup(env);
			putenv(e);
		}
		execl(exe, exe, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (got + 1 < n && (r = read(p[0], out + got, n - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = 0;
	close(p[0]);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		TH_LOG("child: status %#x, output:\n%s", st, out);
	}
}

/*
 * A libdw.so.1 that dlopen() finds but cannot load: the symbol table,
 * and the dump's first line says what dlopen said.
 */
TEST(libdw_that_does_not_load)
{
	char dir[] = "/tmp/gft-nolibdw-XXXXXX", path[64], env[96];
	static char out[1 << 16];
	int fd;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/libdw.so.1", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ASSERT_LE(0, fd);
	close(fd);		/* empty: not an ELF file */
	snprintf(env, sizeof(env), "LD_LIBRARY_PATH=%s", dir);
	run_child(_metadata, "/proc/self/exe", env, out, sizeof(out));
	unlink(path);
	rmdir(dir);
	EXPECT_EQ(0, strncmp(out, "symbols: symbol table only (libdw.so.1 not loaded: ",
			     51)) {
		TH_LOG("got:\n%s", out);
	}
	EXPECT_NE(NULL, strstr(out, "fiber 2 [chan receive]:\nwaiter(...)\n\t? +0x"));
}

/* A copy of this program stripped by strip(1) with flag; 0, or -1. */
static int stripped_copy(const char *flag, char *path, size_t n)
{
	char cmd[512];

	snprintf(path, n, "/tmp/gft-stripped-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "cp /proc/%d/exe %s && strip %s %s",
		 (int)getpid(), path, flag, path);
	return system(cmd) ? -1 : 0;
}

/*
 * Without debug info, libdw still names the function from the symbol
 * table (no line, no note: libdw did load); without any symbol, the
 * module and the offset in it.
 */
TEST(stripped_binaries)
{
	static char out[1 << 16];
	char path[64], want[128];

	if (system("command -v strip >/dev/null"))
		SKIP(return, "no strip(1)");
	ASSERT_EQ(0, stripped_copy("--strip-debug", path, sizeof(path)));
	run_child(_metadata, path, NULL, out, sizeof(out));
	EXPECT_NE(NULL, strstr(out, "fiber 2 [chan receive]:\nwaiter(...)\n\t? +0x")) {
		TH_LOG("got:\n%s", out);
	}
	EXPECT_EQ(NULL, strstr(out, "symbols:"));

	ASSERT_EQ(0, stripped_copy("--strip-all", path, sizeof(path)));
	run_child(_metadata, path, NULL, out, sizeof(out));
	unlink(path);
	snprintf(want, sizeof(want), "fiber 2 [chan receive]:\n%s+0x",
		 strrchr(path, '/') + 1);
	EXPECT_NE(NULL, strstr(out, want)) {
		TH_LOG("want %s in:\n%s", want, out);
	}
	EXPECT_EQ(NULL, strstr(out, "waiter"));
}

TEST_HARNESS_MAIN
