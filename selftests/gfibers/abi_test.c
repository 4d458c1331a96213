// SPDX-License-Identifier: GPL-2.0
/*
 * The ABI of /dev/gfibers: every field rendered exactly as written,
 * growth, 100,000 slots, many processes, the limits and their errnos (per
 * table, per user, in all), bad ioctls and mmaps, fork (MADV_DOFORK
 * included).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "gfibers_client.h"

#define SKIP_IF_ABSENT() do {						\
	if (!gfc_present())						\
		SKIP(return, GFC_DEV " absent: gfibers.ko not loaded");	\
} while (0)

static void hex(char *buf, uint64_t v)
{
	sprintf(buf, "0x%" PRIx64, v);
}

/* Check every column of fiber @v's line in @dump; @s: its slot. */
static void check_line(struct __test_metadata *_metadata, const char *dump,
		       const struct gfibers_slot *v,
		       const struct gfibers_slot *s, const char *reason)
{
	char cols[GFC_NCOLS][64], want[64];

	ASSERT_EQ(1, gfc_find(dump, getpid(), v->fiber_id, cols))
		TH_LOG("fiber %" PRIu64 " of pid %d not in /proc/gfibers",
		       v->fiber_id, getpid());
	EXPECT_EQ(v->parent_id, strtoull(cols[GFC_PARENT], NULL, 10));
	EXPECT_EQ(v->tid, strtoul(cols[GFC_TID], NULL, 10));
	EXPECT_STREQ("waiting", cols[GFC_STATUS]);
	hex(want, v->wait_obj);
	EXPECT_STREQ(want, cols[GFC_WAIT_OBJ]);
	hex(want, v->wait_pc);
	EXPECT_STREQ(want, cols[GFC_WAIT_PC]);
	hex(want, v->create_pc);
	EXPECT_STREQ(want, cols[GFC_CREATE_PC]);
	hex(want, v->saved_pc);
	EXPECT_STREQ(want, cols[GFC_SAVED_PC]);
	hex(want, v->saved_sp);
	EXPECT_STREQ(want, cols[GFC_SAVED_SP]);
	hex(want, v->saved_fp);
	EXPECT_STREQ(want, cols[GFC_SAVED_FP]);
	snprintf(want, sizeof(want), "%u", __atomic_load_n(&s->seq, __ATOMIC_RELAXED));
	EXPECT_STREQ(want, cols[GFC_SEQ]);
	EXPECT_STREQ(reason, cols[GFC_REASON]);
	EXPECT_LE(0, atol(cols[GFC_WAIT_MS]));
	EXPECT_GT(600000, atol(cols[GFC_WAIT_MS]));
}

TEST(header_and_columns)
{
	static const char want[] = "# gfibers 2\n# pid\tfiber\tparent\ttid\tstatus\twait_ms\twait_obj\twait_pc\tcreate_pc\tsaved_pc\tsaved_sp\tsaved_fp\tcomm\treason\tseq\n";
	char *dump;

	SKIP_IF_ABSENT();
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	EXPECT_EQ(0, strncmp(dump, want, strlen(want)))
		TH_LOG("expected header %s, got %.200s", want, dump);
	free(dump);
}

TEST(every_field_as_written)
{
	static const char * const names[] = {
		[GFIBERS_WAIT_CHAN_RECV] = "chan receive",
		[GFIBERS_WAIT_CHAN_SEND] = "chan send",
		[GFIBERS_WAIT_SELECT] = "select",
		[GFIBERS_WAIT_SELECT_NO_CASES] = "select (no cases)",
		[GFIBERS_WAIT_CHAN_RECV_NIL] = "chan receive (nil chan)",
		[GFIBERS_WAIT_CHAN_SEND_NIL] = "chan send (nil chan)",
		[GFIBERS_WAIT_SLEEP] = "sleep",
		[GFIBERS_WAIT_IO] = "IO wait",
		[GFIBERS_WAIT_SEMACQUIRE] = "semacquire",
		[GFIBERS_WAIT_MUTEX_LOCK] = "sync.Mutex.Lock",
		[GFIBERS_WAIT_RWMUTEX_RLOCK] = "sync.RWMutex.RLock",
		[GFIBERS_WAIT_RWMUTEX_LOCK] = "sync.RWMutex.Lock",
		[GFIBERS_WAIT_COND_WAIT] = "sync.Cond.Wait",
		[GFIBERS_WAIT_WAITGROUP_WAIT] = "sync.WaitGroup.Wait",
		[GFIBERS_WAIT_TIMER_IDLE] = "timer goroutine (idle)",
		[GFIBERS_WAIT_PREEMPTED] = "preempted",
		[GFIBERS_WAIT_SYSCALL] = "syscall",
		[GFIBERS_WAIT_JOIN] = "fiber join",
	};
	struct gfibers_slot v[GFIBERS_WAIT_NR_BUILTIN + 1];
	struct gfc c;
	char *dump;
	int i;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_reserve(&c, 1));
	ASSERT_EQ(1, c.nr_chunks);
	gfc_set_reason(&c, 3, "db query");
	for (i = 1; i < GFIBERS_WAIT_NR_BUILTIN; i++) {
		gfc_sample(&v[i], 100 + i);
		v[i].wait_reason = i;
		gfc_write(gfc_slot(&c, i), &v[i]);
	}
	gfc_sample(&v[0], 99);
	v[0].wait_reason = GFIBERS_WAIT_USER_BASE + 3;
	gfc_write(gfc_slot(&c, 0), &v[0]);

	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	for (i = 1; i < GFIBERS_WAIT_NR_BUILTIN; i++)
		check_line(_metadata, dump, &v[i], gfc_slot(&c, i), names[i]);
	check_line(_metadata, dump, &v[0], gfc_slot(&c, 0), "db query");
	EXPECT_EQ(GFIBERS_WAIT_NR_BUILTIN, gfc_count(dump, getpid(), NULL));

	/*
	 * seq tells a reader whether a fiber ran between two reads (gfps
	 * reads stacks between them): a write of the slot changes it, the
	 * same values written again included, and nothing else does.
	 */
	{
		char before[GFC_NCOLS][64], after[GFC_NCOLS][64];

		ASSERT_EQ(1, gfc_find(dump, getpid(), 102, before));
		free(dump);
		dump = gfc_slurp(GFC_PROC, NULL);
		ASSERT_NE(NULL, dump);
		ASSERT_EQ(1, gfc_find(dump, getpid(), 102, after));
		EXPECT_STREQ(before[GFC_SEQ], after[GFC_SEQ]);
		gfc_write(gfc_slot(&c, 2), &v[2]);
		free(dump);
		dump = gfc_slurp(GFC_PROC, NULL);
		ASSERT_NE(NULL, dump);
		ASSERT_EQ(1, gfc_find(dump, getpid(), 102, after));
		EXPECT_EQ(strtoul(before[GFC_SEQ], NULL, 10) + 2,
			  strtoul(after[GFC_SEQ], NULL, 10));
		EXPECT_STREQ(before[GFC_WAIT_PC], after[GFC_WAIT_PC]);
	}
	free(dump);

	/* Released slots disappear. */
	gfc_release(gfc_slot(&c, 1));
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	EXPECT_EQ(GFIBERS_WAIT_NR_BUILTIN - 1, gfc_count(dump, getpid(), NULL));
	free(dump);
	gfc_close(&c);
}

TEST(every_status_name)
{
	static const char * const names[] = {
		"idle", "runnable", "running", "syscall", "waiting",
		"moribund_unused", "dead", "enqueue_unused", "copystack",
		"preempted", "leaked",
	};
	char cols[GFC_NCOLS][64];
	struct gfibers_slot v;
	struct gfc c;
	char *dump;
	int i;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_reserve(&c, 16));
	for (i = 0; i <= GFIBERS_GSTATUS_MAX; i++) {
		gfc_sample(&v, 1 + i);
		v.status = i;
		gfc_write(gfc_slot(&c, i), &v);
	}
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	for (i = 0; i <= GFIBERS_GSTATUS_MAX; i++) {
		if (i == GFIBERS_GDEAD) {
			EXPECT_EQ(0, gfc_find(dump, getpid(), 1 + i, cols));
			continue;
		}
		ASSERT_EQ(1, gfc_find(dump, getpid(), 1 + i, cols));
		EXPECT_STREQ(names[i], cols[GFC_STATUS]);
	}
	free(dump);
	gfc_close(&c);
}

TEST(growth)
{
	struct gfibers_slot v;
	long slots0 = gfc_stat("slots");
	struct gfc c;
	char *dump;
	int k;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(1, gfc_stat("slots") >= slots0);
	for (k = 0; k < 8; k++) {
		ASSERT_EQ(k, gfc_grow(&c));
		gfc_sample(&v, 1 + k);
		gfc_write(gfc_slot(&c, k * GFIBERS_CHUNK_SLOTS +
				   GFIBERS_CHUNK_SLOTS - 1), &v);
	}
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	EXPECT_EQ(8, gfc_count(dump, getpid(), NULL));
	free(dump);
	gfc_close(&c);
}

TEST(hundred_thousand_slots)
{
	const unsigned int n = 100000;
	struct timespec t0, t1;
	struct gfibers_slot v;
	struct gfc c;
	unsigned int i;
	size_t len;
	char *dump;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_reserve(&c, n));
	for (i = 0; i < n; i++) {
		gfc_sample(&v, i + 1);
		gfc_write(gfc_slot(&c, i), &v);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	dump = gfc_slurp(GFC_PROC, &len);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_NE(NULL, dump);
	EXPECT_EQ(n, gfc_count(dump, getpid(), "waiting"));
	ksft_print_msg("read %u fibers (%zu bytes) in %.1f ms\n", n, len,
		       (t1.tv_sec - t0.tv_sec) * 1e3 +
		       (t1.tv_nsec - t0.tv_nsec) / 1e6);
	fflush(stdout);
	free(dump);
	gfc_close(&c);
}

/* Reads of any size, and seeks back, resume the stream exactly. */
TEST(small_reads_resume_exactly)
{
	const unsigned int n = 500;
	static const size_t sizes[] = { 1, 37, 4095, 4097, 100000 };
	struct gfibers_slot v;
	char *whole, *part;
	size_t len, got, i;
	struct gfc c;
	unsigned int j;
	ssize_t r;
	int fd;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_reserve(&c, n));
	for (j = 0; j < n; j++) {
		gfc_sample(&v, j + 1);
		v.wait_since_ns = 0;	/* no volatile column */
		gfc_write(gfc_slot(&c, j), &v);
	}
	whole = gfc_slurp(GFC_PROC, &len);
	ASSERT_NE(NULL, whole);
	part = malloc(len + 1);
	ASSERT_NE(NULL, part);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fd = open(GFC_PROC, O_RDONLY);
		ASSERT_LE(0, fd);
		/* A first partial read, then a seek back to the start. */
		ASSERT_LT(0, read(fd, part, 10));
		ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
		for (got = 0; got < len; got += r) {
			r = read(fd, part + got,
				 len - got < sizes[i] ? len - got : sizes[i]);
			ASSERT_LT(0, r) TH_LOG("read size %zu at %zu", sizes[i],
					       got);
		}
		EXPECT_EQ(0, read(fd, part, 1));
		close(fd);
		EXPECT_EQ(0, memcmp(whole, part, len))
			TH_LOG("read size %zu: stream differs", sizes[i]);
	}
	free(part);
	free(whole);
	gfc_close(&c);
}

/*
 * Many tables, found through the kernel's index of tables by id: a reader
 * with small buffers resumes at the right table after each read() while
 * every other table is freed under it. Each table that stays is listed
 * exactly once, each freed one at most once.
 */
TEST(many_tables_read_while_freed)
{
	const unsigned int n = 300;
	unsigned int i, seen_kept = 0, dup = 0;
	char buf[200], *dump, *line, cols[GFC_NCOLS][64];
	struct gfibers_slot v;
	unsigned char *count;
	struct gfc *c;
	size_t len = 0, cap = 1 << 20;
	uint64_t id;
	ssize_t r;
	int fd;

	SKIP_IF_ABSENT();
	c = calloc(n, sizeof(*c));
	count = calloc(n, 1);
	dump = malloc(cap);
	ASSERT_TRUE(c && count && dump);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, gfc_open(&c[i])) TH_LOG("table %u", i);
		ASSERT_EQ(0, gfc_grow(&c[i]));
		gfc_sample(&v, 5550000 + i);
		gfc_write(gfc_slot(&c[i], 0), &v);
	}
	fd = open(GFC_PROC, O_RDONLY);
	ASSERT_LE(0, fd);
	for (i = 0;; i++) {
		ASSERT_GT(cap - 1, len + sizeof(buf));
		r = read(fd, dump + len, sizeof(buf));
		ASSERT_LE(0, r);
		if (!r)
			break;
		len += r;
		/* Free the odd tables, a few per read. */
		if (2 * i + 1 < n)
			gfc_close(&c[2 * i + 1]);
	}
	close(fd);
	dump[len] = '\0';
	for (line = dump; line && *line; line = strchr(line, '\n'),
	     line = line ? line + 1 : NULL) {
		if (*line == '#' || gfc_split(line, cols) != GFC_NCOLS ||
		    atoi(cols[GFC_PID]) != getpid())
			continue;
		id = strtoull(cols[GFC_FIBER], NULL, 10);
		if (id < 5550000 || id >= 5550000 + n)
			continue;
		if (count[id - 5550000]++)
			dup++;
	}
	EXPECT_EQ(0, dup) TH_LOG("a table listed twice");
	for (i = 0; i < n; i += 2)
		seen_kept += count[i] == 1;
	EXPECT_EQ((n + 1) / 2, seen_kept)
		TH_LOG("a table alive all along is missing");
	for (i = 1; i < n; i += 2)
		if (c[i].fd >= 0)
			gfc_close(&c[i]);
	for (i = 0; i < n; i += 2)
		gfc_close(&c[i]);
	free(dump);
	free(count);
	free(c);
}

TEST(many_processes)
{
	const int nproc = 16, per = 100;
	int to_parent[2], to_child[2], p, i;
	pid_t pids[16];
	char buf, cols[GFC_NCOLS][64];
	char *dump;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, pipe(to_parent));
	ASSERT_EQ(0, pipe(to_child));
	for (p = 0; p < nproc; p++) {
		pids[p] = fork();
		ASSERT_LE(0, pids[p]);
		if (pids[p] == 0) {
			struct gfibers_slot v;
			struct gfc c;

			close(to_child[1]);
			if (gfc_open(&c) || gfc_reserve(&c, per))
				_exit(1);
			for (i = 0; i < per; i++) {
				gfc_sample(&v, i + 1);
				gfc_write(gfc_slot(&c, i), &v);
			}
			if (write(to_parent[1], "x", 1) != 1)
				_exit(1);
			if (read(to_child[0], &buf, 1) < 0)
				_exit(1);
			_exit(0);
		}
	}
	for (p = 0; p < nproc; p++)
		ASSERT_EQ(1, read(to_parent[0], &buf, 1));
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	for (p = 0; p < nproc; p++) {
		EXPECT_EQ(per, gfc_count(dump, pids[p], NULL))
			TH_LOG("pid %d", pids[p]);
		EXPECT_EQ(1, gfc_find(dump, pids[p], per, cols));
	}
	free(dump);
	close(to_child[1]);
	for (p = 0; p < nproc; p++) {
		int status;

		ASSERT_EQ(pids[p], waitpid(pids[p], &status, 0));
		EXPECT_EQ(0, status);
	}
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	for (p = 0; p < nproc; p++)
		EXPECT_EQ(0, gfc_count(dump, pids[p], NULL));
	free(dump);
}

TEST(bad_ioctls)
{
	struct gfibers_setup setup = { .abi_version = GFIBERS_ABI_VERSION };
	int fd;

	SKIP_IF_ABSENT();
	fd = open(GFC_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	/* GROW before SETUP */
	EXPECT_EQ(-1, ioctl(fd, GFIBERS_IOC_GROW, 0));
	EXPECT_EQ(EINVAL, errno);
	/* unknown numbers */
	EXPECT_EQ(-1, ioctl(fd, _IO(GFIBERS_IOC_MAGIC, 0x7f), 0));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(fd, TCGETS, 0));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(fd, _IOWR(GFIBERS_IOC_MAGIC, 0x01, uint64_t), 0));
	EXPECT_EQ(ENOTTY, errno);
	/* bad pointers and values */
	EXPECT_EQ(-1, ioctl(fd, GFIBERS_IOC_SETUP, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(fd, GFIBERS_IOC_SETUP, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	setup.abi_version = GFIBERS_ABI_VERSION + 1;
	EXPECT_EQ(-1, ioctl(fd, GFIBERS_IOC_SETUP, &setup));
	EXPECT_EQ(EINVAL, errno);
	setup.abi_version = GFIBERS_ABI_VERSION;
	setup.flags = 1;
	EXPECT_EQ(-1, ioctl(fd, GFIBERS_IOC_SETUP, &setup));
	EXPECT_EQ(EINVAL, errno);
	setup.flags = 0;
	setup.reserved = 5;
	EXPECT_EQ(-1, ioctl(fd, GFIBERS_IOC_SETUP, &setup));
	EXPECT_EQ(EINVAL, errno);
	setup.reserved = 0;
	/* mmap before SETUP */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, GFIBERS_HEADER_SIZE,
				   PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, ioctl(fd, GFIBERS_IOC_SETUP, &setup));
	EXPECT_EQ(-1, ioctl(fd, GFIBERS_IOC_SETUP, &setup));
	EXPECT_EQ(EBUSY, errno);
	/* GROW takes no argument: a stray one is ignored. */
	EXPECT_EQ(0, ioctl(fd, GFIBERS_IOC_GROW, 12345));
	EXPECT_EQ(1, ioctl(fd, GFIBERS_IOC_GROW, 0));
	close(fd);
}

TEST(bad_mmaps)
{
	struct gfc c;
	void *p;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_open(&c));
	/* chunk 0 before GROW */
	p = mmap(NULL, GFIBERS_CHUNK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 c.fd, GFIBERS_CHUNK_OFFSET(0));
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, gfc_grow(&c));
	/* wrong length, offset, private, executable, far offset */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, GFIBERS_CHUNK_SIZE * 2, PROT_READ,
				   MAP_SHARED, c.fd, GFIBERS_CHUNK_OFFSET(0)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, c.fd,
				   GFIBERS_CHUNK_OFFSET(0) + 4096));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, GFIBERS_CHUNK_SIZE, PROT_READ,
				   MAP_PRIVATE, c.fd, GFIBERS_CHUNK_OFFSET(0)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, GFIBERS_CHUNK_SIZE,
				   PROT_READ | PROT_EXEC, MAP_SHARED, c.fd,
				   GFIBERS_CHUNK_OFFSET(0)));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, GFIBERS_CHUNK_SIZE, PROT_READ,
				   MAP_SHARED, c.fd, GFIBERS_CHUNK_OFFSET(1)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, GFIBERS_CHUNK_SIZE, PROT_READ,
				   MAP_SHARED, c.fd,
				   GFIBERS_CHUNK_OFFSET(1ull << 40)));
	/* no exec later, no growth by mremap */
	EXPECT_EQ(-1, mprotect(c.chunks[0], GFIBERS_CHUNK_SIZE,
			       PROT_READ | PROT_EXEC));
	EXPECT_EQ(MAP_FAILED, mremap(c.chunks[0], GFIBERS_CHUNK_SIZE,
				     2 * GFIBERS_CHUNK_SIZE, MREMAP_MAYMOVE));
	/* a second mapping of the same chunk is fine and shares pages */
	p = mmap(NULL, GFIBERS_CHUNK_SIZE, PROT_READ, MAP_SHARED, c.fd,
		 GFIBERS_CHUNK_OFFSET(0));
	ASSERT_NE(MAP_FAILED, p);
	c.chunks[0][5].fiber_id = 42;
	EXPECT_EQ(42ull, ((struct gfibers_slot *)p)[5].fiber_id);
	munmap(p, GFIBERS_CHUNK_SIZE);
	gfc_close(&c);
}

/* The table outlives close() while mapped, and goes with the last unmap. */
TEST(close_then_unmap)
{
	long tables0 = gfc_stat("tables");
	struct gfibers_slot v;
	char cols[GFC_NCOLS][64];
	struct gfc c;
	char *dump;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_reserve(&c, 1));
	EXPECT_EQ(tables0 + 1, gfc_stat("tables"));
	close(c.fd);
	c.fd = -1;
	gfc_sample(&v, 7);
	gfc_write(gfc_slot(&c, 0), &v);
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	EXPECT_EQ(1, gfc_find(dump, getpid(), 7, cols));
	free(dump);
	gfc_close(&c);
	EXPECT_EQ(tables0, gfc_stat("tables"));
}

static void restore_param(const char *name, const char *val)
{
	gfc_param_set(name, val);
}

TEST(limit_per_process)
{
	char old[32];
	struct gfc c;
	int k;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_param_get("max_slots_per_process", old, sizeof(old)));
	ASSERT_EQ(0, gfc_param_set("max_slots_per_process", "1536"));
	k = gfc_open(&c);
	restore_param("max_slots_per_process", old);
	ASSERT_EQ(0, k);
	EXPECT_EQ(1536u, c.max_slots);
	for (k = 0; k < 3; k++)
		ASSERT_EQ(k, gfc_grow(&c));
	EXPECT_EQ(-ENOSPC, gfc_grow(&c));
	EXPECT_EQ(-ENOSPC, gfc_grow(&c));
	gfc_close(&c);

	/* Rounded down to whole chunks; 0 allows none. */
	ASSERT_EQ(0, gfc_param_set("max_slots_per_process", "511"));
	k = gfc_open(&c);
	restore_param("max_slots_per_process", old);
	ASSERT_EQ(0, k);
	EXPECT_EQ(0u, c.max_slots);
	EXPECT_EQ(-ENOSPC, gfc_grow(&c));
	gfc_close(&c);
}

TEST(limit_total)
{
	char old[32], val[32];
	struct gfc c, d;
	long used;
	int k;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_param_get("max_slots_total", old, sizeof(old)));
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_open(&d));
	used = gfc_stat("slots");
	snprintf(val, sizeof(val), "%ld", used + 2 * GFIBERS_CHUNK_SLOTS);
	ASSERT_EQ(0, gfc_param_set("max_slots_total", val));
	EXPECT_EQ(0, gfc_grow(&c));
	EXPECT_EQ(0, gfc_grow(&d));
	k = gfc_grow(&c);
	EXPECT_EQ(-EDQUOT, k);
	EXPECT_EQ(-EDQUOT, gfc_grow(&d));
	/* Freeing slots makes room again. */
	gfc_close(&d);
	EXPECT_EQ(1, gfc_grow(&c));
	restore_param("max_slots_total", old);
	gfc_close(&c);
}

TEST(fork_child_does_not_share)
{
	struct gfibers_setup setup = { .abi_version = GFIBERS_ABI_VERSION };
	struct gfibers_slot v;
	struct gfc c;
	int status;
	pid_t pid;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_grow(&c));
	gfc_sample(&v, 1);
	gfc_write(gfc_slot(&c, 0), &v);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *dump;
		int bad = 0;

		/* The inherited descriptor serves only its opener. */
		if (ioctl(c.fd, GFIBERS_IOC_GROW, 0) != -1 || errno != EPERM)
			bad |= 1;
		if (ioctl(c.fd, GFIBERS_IOC_SETUP, &setup) != -1 ||
		    errno != EPERM)
			bad |= 2;
		if (mmap(NULL, GFIBERS_HEADER_SIZE, PROT_READ, MAP_SHARED,
			 c.fd, 0) != MAP_FAILED || errno != EPERM)
			bad |= 4;
		/* The mapping is not inherited. */
		if (msync(c.chunks[0], GFIBERS_CHUNK_SIZE, MS_ASYNC) != -1 ||
		    errno != ENOMEM)
			bad |= 8;
		/* Its own table works, and shows under its pid. */
		close(c.fd);
		if (gfc_open(&c) || gfc_grow(&c) != 0)
			bad |= 16;
		gfc_sample(&v, 2);
		gfc_write(gfc_slot(&c, 0), &v);
		dump = gfc_slurp(GFC_PROC, NULL);
		if (!dump || gfc_count(dump, getpid(), NULL) != 1)
			bad |= 32;
		free(dump);
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	gfc_close(&c);
}

/*
 * MADV_DOFORK must not undo VM_DONTCOPY: a child that got the parent's
 * chunk could write fibers into the parent's table, listed under the
 * parent's pid.
 */
TEST(madv_dofork_refused)
{
	struct gfibers_slot v;
	struct gfc c;
	char *dump;
	int status;
	pid_t pid;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_grow(&c));
	EXPECT_EQ(-1, madvise(c.chunks[0], GFIBERS_CHUNK_SIZE, MADV_DOFORK));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, madvise(c.hdr, GFIBERS_HEADER_SIZE, MADV_DOFORK));
	EXPECT_EQ(EINVAL, errno);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* Write fiber 4242 if the parent's chunk came along. */
		if (msync(c.chunks[0], GFIBERS_CHUNK_SIZE, MS_ASYNC) == 0) {
			gfc_sample(&v, 4242);
			gfc_write(gfc_slot(&c, 1), &v);
			_exit(1);
		}
		_exit(errno == ENOMEM ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("the fork child had the parent's chunk mapped");
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	EXPECT_EQ(0, gfc_count_col(dump, getpid(), GFC_FIBER, "4242"))
		TH_LOG("the child's fiber 4242 is listed under the parent");
	free(dump);
	gfc_close(&c);
}

/*
 * Per-user limits: two uids nobody else in the VM uses. The tables are
 * charged to the real uid of the process at open(); the test switches
 * its real and effective uid around each open and keeps 0 as its saved
 * uid to come back (it sets parameters as root).
 */
#define UID_A	61001
#define UID_B	61002

static int open_as(struct gfc *c, uid_t uid)
{
	int err;

	if (setresuid(uid, uid, 0))
		return -errno;
	err = gfc_open(c);
	if (setresuid(0, 0, 0))
		return -errno;
	return err;
}

struct saved_params {
	char per_user[32], tables[32], total[32];
};

static int save_params(struct saved_params *p)
{
	return gfc_param_get("max_slots_per_user", p->per_user,
			     sizeof(p->per_user)) ?:
	       gfc_param_get("max_tables_per_user", p->tables,
			     sizeof(p->tables)) ?:
	       gfc_param_get("max_slots_total", p->total, sizeof(p->total));
}

static void restore_params(const struct saved_params *p)
{
	gfc_param_set("max_slots_per_user", p->per_user);
	gfc_param_set("max_tables_per_user", p->tables);
	gfc_param_set("max_slots_total", p->total);
}

/*
 * One user cannot take the whole max_slots_total: its own tables stop at
 * max_slots_per_user (EDQUOT, over all of its tables), another user's
 * still grow.
 */
TEST(limit_per_user_slots)
{
	struct saved_params saved;
	struct gfc a1, a2, b;
	char val[32];
	int k;

	SKIP_IF_ABSENT();
	if (geteuid())
		SKIP(return, "needs root: sets parameters, changes uid");
	ASSERT_EQ(0, save_params(&saved))
		TH_LOG("no max_slots_per_user/max_tables_per_user parameter");
	ASSERT_EQ(0, open_as(&a1, UID_A));
	ASSERT_EQ(0, open_as(&a2, UID_A));
	ASSERT_EQ(0, open_as(&b, UID_B));
	/* Room for 4 more chunks in all, 2 per user. */
	snprintf(val, sizeof(val), "%ld",
		 gfc_stat("slots") + 4 * GFIBERS_CHUNK_SLOTS);
	ASSERT_EQ(0, gfc_param_set("max_slots_total", val));
	snprintf(val, sizeof(val), "%d", 2 * GFIBERS_CHUNK_SLOTS);
	ASSERT_EQ(0, gfc_param_set("max_slots_per_user", val));

	/* User A takes what it may, over two tables, and no more. */
	EXPECT_EQ(0, gfc_grow(&a1));
	EXPECT_EQ(0, gfc_grow(&a2));
	k = gfc_grow(&a1);
	EXPECT_EQ(-EDQUOT, k);
	EXPECT_EQ(-EDQUOT, gfc_grow(&a2));
	/* User B is not shut out. */
	EXPECT_EQ(0, gfc_grow(&b));
	EXPECT_EQ(1, gfc_grow(&b));
	EXPECT_EQ(-EDQUOT, gfc_grow(&b));
	/* A's freed slots are A's again. */
	gfc_close(&a2);
	EXPECT_EQ(1, gfc_grow(&a1));
	EXPECT_EQ(-EDQUOT, gfc_grow(&a1));
	restore_params(&saved);
	gfc_close(&a1);
	gfc_close(&b);
}

/*
 * A table set up but never grown costs a page and a line of every read:
 * each counts against max_tables_per_user (EDQUOT at SETUP); an opened
 * descriptor not set up does not.
 */
TEST(limit_per_user_tables)
{
	struct gfibers_setup setup = { .abi_version = GFIBERS_ABI_VERSION };
	struct saved_params saved;
	struct gfc a[3], b;
	int i, fd;

	SKIP_IF_ABSENT();
	if (geteuid())
		SKIP(return, "needs root: sets parameters, changes uid");
	ASSERT_EQ(0, save_params(&saved))
		TH_LOG("no max_slots_per_user/max_tables_per_user parameter");
	ASSERT_EQ(0, gfc_param_set("max_tables_per_user", "3"));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, open_as(&a[i], UID_A));
	/* The fourth is refused at SETUP; open() itself is not. */
	ASSERT_EQ(0, setresuid(UID_A, UID_A, 0));
	fd = open(GFC_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_EQ(0, setresuid(0, 0, 0));
	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, ioctl(fd, GFIBERS_IOC_SETUP, &setup));
	EXPECT_EQ(EDQUOT, errno);
	/* Another user is not limited by A's tables. */
	EXPECT_EQ(0, open_as(&b, UID_B));
	/* A table gone is room again, for the same descriptor too. */
	gfc_close(&a[0]);
	EXPECT_EQ(0, ioctl(fd, GFIBERS_IOC_SETUP, &setup));
	restore_params(&saved);
	close(fd);
	gfc_close(&a[1]);
	gfc_close(&a[2]);
	gfc_close(&b);
}

TEST_HARNESS_MAIN
