// SPDX-License-Identifier: GPL-2.0
/*
 * Who sees what in /proc/gfibers: addresses only for readers allowed to
 * ptrace-read the process (LSM included, with the opener's credentials,
 * or as the addresses= parameter says), processes only from the reader's
 * pid namespace and as the procfs mount's hidepid= allows, and
 * /proc/gfibers_stats counting only what the reader sees.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <linux/landlock.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "gfibers_client.h"

#define SKIP_IF_ABSENT() do {						\
	if (!gfc_present())						\
		SKIP(return, GFC_DEV " absent: gfibers.ko not loaded");	\
} while (0)

#define NOBODY	65534
/* A group only the readers of the gid= test are in. */
#define PIDGID	4242

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Counter @key of the gfibers_stats file @path; -1 if absent. */
static long stat_at(const char *path, const char *key)
{
	char *buf = gfc_slurp(path, NULL), *p;
	size_t klen = strlen(key);
	long v = -1;

	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == ' ') {
			v = atol(p + klen + 1);
			break;
		}
	}
	free(buf);
	return v;
}

static const int addr_cols[] = {
	GFC_WAIT_OBJ, GFC_WAIT_PC, GFC_CREATE_PC, GFC_SAVED_PC, GFC_SAVED_SP,
	GFC_SAVED_FP,
};

/* 0: every address column of the line is 0x0; 1: none is. -1: mixed. */
static int addrs_zero(char cols[GFC_NCOLS][64])
{
	unsigned int i, zero = 0;

	for (i = 0; i < ARRAY_SIZE(addr_cols); i++)
		zero += !strcmp(cols[addr_cols[i]], "0x0");
	if (zero == ARRAY_SIZE(addr_cols))
		return 1;
	return zero ? -1 : 0;
}

TEST(root_sees_addresses)
{
	char cols[GFC_NCOLS][64];
	char *dump;
	pid_t pid;

	SKIP_IF_ABSENT();
	if (geteuid())
		SKIP(return, "needs root");
	pid = gfc_spawn_writer(3, 0, 0);
	ASSERT_LT(0, pid);
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	ASSERT_EQ(1, gfc_find(dump, pid, 2, cols));
	EXPECT_EQ(0, addrs_zero(cols)) TH_LOG("wait_pc %s", cols[GFC_WAIT_PC]);
	free(dump);
	reap(pid);
}

TEST(nobody_sees_root_fibers_without_addresses)
{
	struct gfibers_slot v;
	int status;
	pid_t pid, reader;

	SKIP_IF_ABSENT();
	if (geteuid())
		SKIP(return, "needs root");
	pid = gfc_spawn_writer(3, 0, 0);
	ASSERT_LT(0, pid);
	reader = fork();
	ASSERT_LE(0, reader);
	if (reader == 0) {
		char cols[GFC_NCOLS][64];
		int dev, proc, bad = 0;
		struct gfc c;
		char *dump;

		/*
		 * /proc/gfibers is opened as nobody: what a reader sees is
		 * decided with the credentials of whoever opened the file.
		 * The device may be opened by anyone; root opens it here in
		 * case devtmpfs gave it another mode.
		 */
		dev = open(GFC_DEV, O_RDWR | O_CLOEXEC);
		if (dev < 0)
			_exit(100);
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
			_exit(101);
		proc = open(GFC_PROC, O_RDONLY | O_CLOEXEC);
		if (proc < 0)
			_exit(100);
		/* Its own fibers: addresses shown. */
		bad = gfc_setup(&c, dev);
		if (!bad)
			bad = gfc_reserve(&c, 1);
		if (bad) {
			fprintf(stderr, "# as nobody: %s\n", strerror(-bad));
			_exit(102);
		}
		gfc_sample(&v, 9);
		gfc_write(gfc_slot(&c, 0), &v);
		dump = gfc_slurp_fd(proc, NULL);
		if (!dump)
			_exit(103);
		if (gfc_count(dump, pid, "waiting") != 3)
			bad |= 1;
		/* nor how often they ran: seq is hidden with them */
		if (!gfc_find(dump, pid, 2, cols) || addrs_zero(cols) != 1 ||
		    strcmp(cols[GFC_SEQ], "-"))
			bad |= 2;
		if (strcmp(cols[GFC_REASON], "chan receive") ||
		    strcmp(cols[GFC_PARENT], "1000002"))
			bad |= 4;
		if (!gfc_find(dump, getpid(), 9, cols) || addrs_zero(cols) ||
		    strcmp(cols[GFC_SEQ], "2"))
			bad |= 8;
		_exit(bad);
	}
	ASSERT_EQ(reader, waitpid(reader, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("bits: 1 count, 2 root's addresses shown, 4 fields, 8 own addresses hidden; >=100 setup");
	reap(pid);
}

TEST(pid_namespace_sees_only_its_own)
{
	int status;
	pid_t outer, inner;

	SKIP_IF_ABSENT();
	if (geteuid())
		SKIP(return, "needs root");
	outer = gfc_spawn_writer(5, 0, 0);
	ASSERT_LT(0, outer);
	if (unshare(CLONE_NEWPID))
		SKIP(reap(outer); return, "unshare(CLONE_NEWPID): %m");
	inner = fork();
	ASSERT_LE(0, inner);
	if (inner == 0) {
		struct gfibers_slot v;
		struct gfc c;
		char *dump;
		int bad = 0;

		/* pid 1 of the new namespace. */
		if (getpid() != 1)
			_exit(100);
		if (gfc_open(&c) || gfc_reserve(&c, 2))
			_exit(101);
		gfc_sample(&v, 1);
		gfc_write(gfc_slot(&c, 0), &v);
		gfc_sample(&v, 2);
		gfc_write(gfc_slot(&c, 1), &v);
		dump = gfc_slurp(GFC_PROC, NULL);
		if (!dump)
			_exit(102);
		if (gfc_count(dump, -1, NULL) != 2)
			bad |= 1;
		if (gfc_count(dump, 1, "waiting") != 2)
			bad |= 2;
		free(dump);
		/* Its statistics count its own table only. */
		if (stat_at(GFC_STATS, "tables") != 1 ||
		    stat_at(GFC_STATS, "slots") != GFIBERS_CHUNK_SLOTS)
			bad |= 4;
		if (stat_at(GFC_STATS, "torn_reads") != -1)
			bad |= 8;
		_exit(bad);
	}
	{
		char *dump = gfc_slurp(GFC_PROC, NULL);

		ASSERT_NE(NULL, dump);
		/* The outer namespace sees both, with its own numbers. */
		EXPECT_EQ(5, gfc_count(dump, outer, NULL));
		free(dump);
	}
	ASSERT_EQ(inner, waitpid(inner, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("bits: 1 saw other namespaces, 2 own fibers missing, 4 stats count other namespaces, 8 module-wide counters shown; >=100 setup");
	reap(outer);
}

/* A new procfs instance mounted with @opts on a new directory, or NULL. */
static char *proc_mount(const char *opts)
{
	char *dir = strdup("/tmp/gfproc.XXXXXX");

	if (!dir || !mkdtemp(dir)) {
		free(dir);
		return NULL;
	}
	/* mkdtemp() makes it 0700: the readers are nobody. */
	if (chmod(dir, 0755) ||
	    mount("proc", dir, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts)) {
		rmdir(dir);
		free(dir);
		return NULL;
	}
	return dir;
}

static void proc_umount(char *dir)
{
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	free(dir);
}

/*
 * In a new process: become nobody (also in group PIDGID if @in_group),
 * register a fiber (id 9), read the gfibers files of the procfs mounted
 * at @dir and check what it sees of @writer's three fibers: @want lines,
 * never their addresses; and the statistics: the module's if @all (the
 * mount hides nothing), else counted over what it sees. Returns the exit
 * status, 0 if all is well.
 */
static int hidden_reader(const char *dir, pid_t writer, int in_group,
			 long want, int all)
{
	char path[64], spath[64], cols[GFC_NCOLS][64];
	gid_t groups[] = { PIDGID };
	struct gfibers_slot v;
	int status, dev, bad = 0;
	long tables;
	struct gfc c;
	char *dump;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return 200;
	if (pid) {
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
			return 201;
		return WEXITSTATUS(status);
	}
	snprintf(path, sizeof(path), "%s/gfibers", dir);
	snprintf(spath, sizeof(spath), "%s/gfibers_stats", dir);
	dev = open(GFC_DEV, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		_exit(100);
	if (setgroups(in_group ? 1 : 0, groups) || setgid(NOBODY) ||
	    setuid(NOBODY))
		_exit(101);
	if (gfc_setup(&c, dev) || gfc_reserve(&c, 1))
		_exit(102);
	gfc_sample(&v, 9);
	gfc_write(gfc_slot(&c, 0), &v);
	dump = gfc_slurp(path, NULL);
	if (!dump)
		_exit(103);
	if (gfc_count(dump, writer, NULL) != want)
		bad |= 1;
	if (gfc_find(dump, writer, 2, cols) && addrs_zero(cols) != 1)
		bad |= 2;
	if (!gfc_find(dump, getpid(), 9, cols) || addrs_zero(cols))
		bad |= 4;
	free(dump);
	/* The statistics count the tables it sees: its own, the writer's. */
	tables = stat_at(spath, "tables");
	if (want ? tables < 2 : tables != 1)
		bad |= 8;
	if ((stat_at(spath, "torn_reads") >= 0) != all)
		bad |= 16;
	_exit(bad);
}

/*
 * /proc/gfibers honours the hidepid= of the procfs mount it is read
 * through, as /proc/PID does: with hidepid=1, 2 or 4 a user sees only the
 * processes it may ptrace-read, unless it is in the mount's gid= group.
 */
TEST(hidepid_hides_other_users)
{
	static const struct {
		const char *opts;
		int in_group;
		long want;
		int all;
	} cases[] = {
		{ "hidepid=1", 0, 0, 0 },
		{ "hidepid=2", 0, 0, 0 },
		{ "hidepid=invisible", 0, 0, 0 },
		{ "hidepid=4", 0, 0, 0 },
		{ "hidepid=2,gid=4242", 0, 0, 0 },
		{ "hidepid=2,gid=4242", 1, 3, 0 },
		{ "hidepid=0", 0, 3, 1 },
	};
	char cols[GFC_NCOLS][64], path[64];
	unsigned int i;
	char *dir, *dump;
	pid_t writer;

	SKIP_IF_ABSENT();
	if (geteuid())
		SKIP(return, "needs root");
	writer = gfc_spawn_writer(3, 0, 0);
	ASSERT_LT(0, writer);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		dir = proc_mount(cases[i].opts);
		if (!dir) {
			TH_LOG("mount -t proc -o %s: %m", cases[i].opts);
			EXPECT_TRUE(0);
			continue;
		}
		EXPECT_EQ(0, hidden_reader(dir, writer, cases[i].in_group,
					   cases[i].want, cases[i].all))
			TH_LOG("%s%s: bits: 1 writer's lines, 2 writer's addresses, 4 own line or addresses, 8 stats tables, 16 module-wide counters or not; >=100 setup",
			       cases[i].opts,
			       cases[i].in_group ? ", reader in gid" : "");
		proc_umount(dir);
	}

	/* Root may ptrace-read everything: all of it, addresses too. */
	dir = proc_mount("hidepid=2");
	ASSERT_NE(NULL, dir);
	snprintf(path, sizeof(path), "%s/gfibers", dir);
	dump = gfc_slurp(path, NULL);
	ASSERT_NE(NULL, dump);
	EXPECT_EQ(3, gfc_count(dump, writer, NULL));
	EXPECT_EQ(1, gfc_find(dump, writer, 2, cols));
	EXPECT_EQ(0, addrs_zero(cols));
	free(dump);
	proc_umount(dir);

	/* A procfs with subset=pid has no /proc/gfibers at all. */
	dir = proc_mount("subset=pid");
	if (dir) {
		snprintf(path, sizeof(path), "%s/gfibers", dir);
		EXPECT_EQ(-1, open(path, O_RDONLY | O_CLOEXEC));
		EXPECT_EQ(ENOENT, errno);
		proc_umount(dir);
	}
	reap(writer);
}

/*
 * Addresses are decided with the credentials of whoever opened the file:
 * a privileged program reading a descriptor that an unprivileged user
 * opened sees no more than that user.
 */
TEST(addresses_follow_the_opener)
{
	char cols[GFC_NCOLS][64];
	int fd, fd_root;
	char *dump;
	pid_t writer;

	SKIP_IF_ABSENT();
	if (geteuid())
		SKIP(return, "needs root");
	writer = gfc_spawn_writer(3, 0, 0);
	ASSERT_LT(0, writer);
	/* seteuid() keeps the saved uid 0 to come back with. */
	ASSERT_EQ(0, setegid(NOBODY));
	ASSERT_EQ(0, seteuid(NOBODY));
	fd = open(GFC_PROC, O_RDONLY | O_CLOEXEC);
	ASSERT_EQ(0, seteuid(0));
	ASSERT_EQ(0, setegid(0));
	ASSERT_LE(0, fd);
	fd_root = open(GFC_PROC, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd_root);

	dump = gfc_slurp_fd(fd, NULL);
	ASSERT_NE(NULL, dump);
	ASSERT_EQ(1, gfc_find(dump, writer, 2, cols));
	EXPECT_EQ(1, addrs_zero(cols)) TH_LOG("opened by nobody, read by root: wait_pc %s",
					      cols[GFC_WAIT_PC]);
	free(dump);

	dump = gfc_slurp_fd(fd_root, NULL);
	ASSERT_NE(NULL, dump);
	ASSERT_EQ(1, gfc_find(dump, writer, 2, cols));
	EXPECT_EQ(0, addrs_zero(cols));
	free(dump);
	reap(writer);
}

#ifndef landlock_create_ruleset
static inline int landlock_create_ruleset(const struct landlock_ruleset_attr *attr,
					  size_t size, __u32 flags)
{
	return syscall(__NR_landlock_create_ruleset, attr, size, flags);
}
#endif

#ifndef landlock_restrict_self
static inline int landlock_restrict_self(int ruleset_fd, __u32 flags)
{
	return syscall(__NR_landlock_restrict_self, ruleset_fd, flags);
}
#endif

/*
 * The LSM has its say: a process in a Landlock domain may not ptrace-read
 * processes outside it, root or not, and so does not see their addresses.
 */
TEST(landlock_domain_hides_addresses)
{
	struct landlock_ruleset_attr attr = {
		/* Any right: the domain matters, not what it allows. */
		.handled_access_fs = LANDLOCK_ACCESS_FS_MAKE_SOCK,
	};
	int status, ruleset;
	pid_t writer, reader;

	SKIP_IF_ABSENT();
	if (geteuid())
		SKIP(return, "needs root");
	if (landlock_create_ruleset(NULL, 0,
				    LANDLOCK_CREATE_RULESET_VERSION) < 1)
		SKIP(return, "Landlock not enabled: %m");
	writer = gfc_spawn_writer(3, 0, 0);
	ASSERT_LT(0, writer);
	reader = fork();
	ASSERT_LE(0, reader);
	if (reader == 0) {
		char cols[GFC_NCOLS][64];
		struct gfibers_slot v;
		struct gfc c;
		char *dump;
		int bad = 0;

		if (gfc_open(&c) || gfc_reserve(&c, 1))
			_exit(100);
		gfc_sample(&v, 9);
		gfc_write(gfc_slot(&c, 0), &v);
		ruleset = landlock_create_ruleset(&attr, sizeof(attr), 0);
		if (ruleset < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    landlock_restrict_self(ruleset, 0))
			_exit(101);
		dump = gfc_slurp(GFC_PROC, NULL);
		if (!dump)
			_exit(102);
		if (gfc_count(dump, writer, NULL) != 3)
			bad |= 1;
		if (!gfc_find(dump, writer, 2, cols) || addrs_zero(cols) != 1)
			bad |= 2;
		if (!gfc_find(dump, getpid(), 9, cols) || addrs_zero(cols))
			bad |= 4;
		_exit(bad);
	}
	ASSERT_EQ(reader, waitpid(reader, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("bits: 1 writer's lines, 2 writer's addresses shown, 4 own addresses hidden; >=100 setup");
	reap(writer);
}

/* The addresses= parameter, put back to its default whatever happens. */
FIXTURE(addresses_parameter) {
	pid_t writer;
};

FIXTURE_SETUP(addresses_parameter)
{
	self->writer = -1;
}

FIXTURE_TEARDOWN(addresses_parameter)
{
	if (self->writer > 0)
		reap(self->writer);
	if (gfc_present())
		gfc_param_set("addresses", "ptrace");
}

/* addresses=self shows only a process's own, addresses=none nothing. */
TEST_F(addresses_parameter, self_and_none)
{
	static const struct {
		const char *value;
		int own_zero;
	} cases[] = { { "self", 0 }, { "none", 1 }, { "ptrace", 0 } };
	char cols[GFC_NCOLS][64], val[32];
	struct gfibers_slot v;
	unsigned int i;
	struct gfc c;
	char *dump;

	SKIP_IF_ABSENT();
	if (geteuid())
		SKIP(return, "needs root");
	ASSERT_EQ(0, gfc_param_get("addresses", val, sizeof(val)));
	ASSERT_STREQ("ptrace", val);
	EXPECT_EQ(-EINVAL, gfc_param_set("addresses", "cap_sys_admin"));
	self->writer = gfc_spawn_writer(3, 0, 0);
	ASSERT_LT(0, self->writer);
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_reserve(&c, 1));
	gfc_sample(&v, 9);
	gfc_write(gfc_slot(&c, 0), &v);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		ASSERT_EQ(0, gfc_param_set("addresses", cases[i].value));
		ASSERT_EQ(0, gfc_param_get("addresses", val, sizeof(val)));
		EXPECT_STREQ(cases[i].value, val);
		dump = gfc_slurp(GFC_PROC, NULL);
		ASSERT_NE(NULL, dump);
		EXPECT_EQ(1, gfc_find(dump, self->writer, 2, cols));
		/* Root may ptrace-read the writer: only "ptrace" shows it. */
		EXPECT_EQ(i != 2, addrs_zero(cols)) TH_LOG("%s", cases[i].value);
		EXPECT_EQ(1, gfc_find(dump, getpid(), 9, cols));
		EXPECT_EQ(cases[i].own_zero, addrs_zero(cols))
			TH_LOG("%s: own", cases[i].value);
		free(dump);
	}
	gfc_close(&c);
}

TEST_HARNESS_MAIN
