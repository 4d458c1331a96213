// SPDX-License-Identifier: GPL-2.0
/*
 * The table is untrusted input: garbage in every field, a sequence
 * counter flipping under the readers, a writer killed or stopped in the
 * middle of an update. Readers must render it, never hang.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "gfibers_client.h"

#define SKIP_IF_ABSENT() do {						\
	if (!gfc_present())						\
		SKIP(return, GFC_DEV " absent: gfibers.ko not loaded");	\
} while (0)

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 +
	       (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Every line of @dump is a comment or has exactly GFC_NCOLS columns. */
static int well_formed(const char *dump)
{
	char cols[GFC_NCOLS][64];
	const char *line;

	for (line = dump; line && *line; line = strchr(line, '\n'),
	     line = line ? line + 1 : NULL) {
		if (*line == '#')
			continue;
		if (gfc_split(line, cols) != GFC_NCOLS)
			return 0;
	}
	return 1;
}

TEST(garbage_in_every_field)
{
	char cols[GFC_NCOLS][64], want[64];
	long invalid0 = gfc_stat("invalid");
	struct gfibers_slot *s;
	unsigned int i, k;
	struct gfc c;
	char *dump;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_reserve(&c, 4 * GFIBERS_CHUNK_SLOTS));
	/* Random bytes everywhere, seq included, names included. */
	for (i = 0; i < 4 * GFIBERS_CHUNK_SLOTS; i++) {
		uint64_t *w = (uint64_t *)gfc_slot(&c, i);

		for (k = 0; k < GFIBERS_SLOT_SIZE / 8; k++)
			w[k] = rnd();
	}
	for (i = 0; i < GFIBERS_HEADER_SIZE / 8; i++)
		((uint64_t *)c.hdr)[i] = rnd() | 0x0101010101010101ull;
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	EXPECT_TRUE(well_formed(dump));
	free(dump);

	/* Specific bad values, each in a stable slot. */
	memset(c.chunks[0], 0, GFIBERS_CHUNK_SIZE);
	memset(c.hdr->reasons, 0, sizeof(c.hdr->reasons));
	s = gfc_slot(&c, 0);		/* status out of range */
	s->fiber_id = 1;
	s->status = 11;
	s = gfc_slot(&c, 1);		/* status huge, reason out of range */
	s->fiber_id = 2;
	s->status = 0xffffffff;
	s->wait_reason = GFIBERS_WAIT_NR_BUILTIN;
	s = gfc_slot(&c, 2);		/* reason between builtin and user */
	s->fiber_id = 3;
	s->status = GFIBERS_GWAITING;
	s->wait_reason = 255;
	s = gfc_slot(&c, 3);		/* user reason without a name */
	s->fiber_id = 4;
	s->status = GFIBERS_GWAITING;
	s->wait_reason = GFIBERS_WAIT_USER_BASE + 44;
	s = gfc_slot(&c, 4);		/* user reason beyond the table */
	s->fiber_id = 5;
	s->status = GFIBERS_GWAITING;
	s->wait_reason = GFIBERS_WAIT_USER_BASE + GFIBERS_USER_REASONS;
	s = gfc_slot(&c, 5);		/* name with control bytes, no NUL */
	s->fiber_id = 6;
	s->status = GFIBERS_GWAITING;
	s->wait_reason = GFIBERS_WAIT_USER_BASE + 1;
	memset(c.hdr->reasons[1].name, 'x', GFIBERS_REASON_NAME_LEN);
	memcpy(c.hdr->reasons[1].name, "a\tb\nc\x7f\xff", 7);
	s = gfc_slot(&c, 6);		/* wait_since in the future */
	s->fiber_id = 7;
	s->status = GFIBERS_GWAITING;
	s->wait_since_ns = ~0ull;
	s->wait_reason = 0xffffffff;
	s = gfc_slot(&c, 7);		/* max fiber id, parent, tid */
	s->fiber_id = ~0ull;
	s->parent_id = ~0ull;
	s->tid = ~0u;
	s->status = GFIBERS_GRUNNING;

	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	EXPECT_TRUE(well_formed(dump));
	ASSERT_EQ(1, gfc_find(dump, getpid(), 1, cols));
	EXPECT_STREQ("invalid(11)", cols[GFC_STATUS]);
	ASSERT_EQ(1, gfc_find(dump, getpid(), 2, cols));
	EXPECT_STREQ("invalid(4294967295)", cols[GFC_STATUS]);
	snprintf(want, sizeof(want), "invalid(%d)", GFIBERS_WAIT_NR_BUILTIN);
	EXPECT_STREQ(want, cols[GFC_REASON]);
	ASSERT_EQ(1, gfc_find(dump, getpid(), 3, cols));
	EXPECT_STREQ("invalid(255)", cols[GFC_REASON]);
	ASSERT_EQ(1, gfc_find(dump, getpid(), 4, cols));
	EXPECT_STREQ("user(44)", cols[GFC_REASON]);
	ASSERT_EQ(1, gfc_find(dump, getpid(), 5, cols));
	snprintf(want, sizeof(want), "invalid(%d)",
		 GFIBERS_WAIT_USER_BASE + GFIBERS_USER_REASONS);
	EXPECT_STREQ(want, cols[GFC_REASON]);
	ASSERT_EQ(1, gfc_find(dump, getpid(), 6, cols));
	memset(want, 'x', GFIBERS_REASON_NAME_LEN - 1);
	want[GFIBERS_REASON_NAME_LEN - 1] = '\0';
	memcpy(want, "a?b?c??", 7);
	EXPECT_STREQ(want, cols[GFC_REASON]);
	ASSERT_EQ(1, gfc_find(dump, getpid(), 7, cols));
	EXPECT_STREQ("-", cols[GFC_WAIT_MS]);
	EXPECT_STREQ("invalid(4294967295)", cols[GFC_REASON]);
	ASSERT_EQ(1, gfc_find(dump, getpid(), ~0ull, cols));
	EXPECT_STREQ("18446744073709551615", cols[GFC_PARENT]);
	EXPECT_STREQ("4294967295", cols[GFC_TID]);
	EXPECT_STREQ("running", cols[GFC_STATUS]);
	free(dump);
	EXPECT_LT(invalid0, gfc_stat("invalid"));
	gfc_close(&c);
}

struct flipper {
	struct gfc *c;
	unsigned int n;
	int stop;		/* __atomic */
};

static void *flip(void *arg)
{
	struct flipper *f = arg;
	unsigned int i;

	while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED))
		for (i = 0; i < f->n; i++)
			__atomic_fetch_add(&gfc_slot(f->c, i)->seq, 1,
					   __ATOMIC_RELEASE);
	return NULL;
}

TEST(seq_flipping_under_readers)
{
	const unsigned int n = 64;
	struct flipper f = { .n = n };
	char cols[GFC_NCOLS][64];
	struct gfibers_slot v;
	struct timespec t0;
	long torn0 = gfc_stat("torn_reads");
	struct gfc c;
	pthread_t th;
	unsigned int i, r, bad = 0;
	char *dump, *line;

	SKIP_IF_ABSENT();
	ASSERT_EQ(0, gfc_open(&c));
	ASSERT_EQ(0, gfc_reserve(&c, n + 1));
	for (i = 0; i < n; i++) {
		gfc_sample(&v, i + 1);
		gfc_write(gfc_slot(&c, i), &v);
	}
	/* Slot n: a writer that never finishes (seq stays odd). */
	gfc_sample(&v, n + 1);
	gfc_write(gfc_slot(&c, n), &v);
	gfc_begin(&gfc_slot(&c, n)->seq);

	f.c = &c;
	ASSERT_EQ(0, pthread_create(&th, NULL, flip, &f));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (r = 0; r < 50; r++) {
		dump = gfc_slurp(GFC_PROC, NULL);
		ASSERT_NE(NULL, dump);
		EXPECT_TRUE(well_formed(dump));
		/* n + 1 lines: each fiber, or "torn"; never garbage. */
		EXPECT_EQ(n + 1, gfc_count(dump, getpid(), NULL));
		for (line = dump; line && *line; line = strchr(line, '\n'),
		     line = line ? line + 1 : NULL) {
			if (*line == '#' || gfc_split(line, cols) != GFC_NCOLS ||
			    atoi(cols[GFC_PID]) != getpid())
				continue;
			if (strcmp(cols[GFC_STATUS], "torn") &&
			    strcmp(cols[GFC_STATUS], "waiting"))
				bad++;
		}
		free(dump);
	}
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	/* Leave the flipped slots stable again. */
	for (i = 0; i < n; i++)
		if (gfc_slot(&c, i)->seq & 1)
			gfc_end(&gfc_slot(&c, i)->seq);
	EXPECT_EQ(0u, bad);
	/* The stuck slot alone is torn in each of the 50 reads. */
	EXPECT_LE(torn0 + 50, gfc_stat("torn_reads"));
	TH_LOG("50 reads under a flipping writer in %.0f ms", ms_since(&t0));
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	EXPECT_EQ(n, gfc_count(dump, getpid(), "waiting"));
	EXPECT_EQ(1, gfc_count(dump, getpid(), "torn"));
	free(dump);
	gfc_close(&c);
}

TEST(sigkill_mid_update)
{
	long tables0 = gfc_stat("tables"), slots0 = gfc_stat("slots");
	long bytes0 = gfc_stat("bytes"), torn0 = gfc_stat("torn_reads");
	char cols[GFC_NCOLS][64];
	char *dump;
	pid_t pid;

	SKIP_IF_ABSENT();
	pid = gfc_spawn_writer(1000, 1, 0);
	ASSERT_LT(0, pid);
	EXPECT_EQ(tables0 + 1, gfc_stat("tables"));
	EXPECT_EQ(slots0 + 1024, gfc_stat("slots"));
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	EXPECT_EQ(999, gfc_count(dump, pid, "waiting"));
	EXPECT_EQ(1, gfc_count(dump, pid, "torn"));
	EXPECT_EQ(1, gfc_find(dump, pid, 1000, cols));
	free(dump);
	EXPECT_LT(torn0, gfc_stat("torn_reads"));

	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	EXPECT_EQ(0, gfc_count(dump, pid, NULL));
	free(dump);
	EXPECT_EQ(tables0, gfc_stat("tables"));
	EXPECT_EQ(slots0, gfc_stat("slots"));
	EXPECT_EQ(bytes0, gfc_stat("bytes"));
}

TEST(sigstopped_process_readable)
{
	char cols[GFC_NCOLS][64], want[64];
	struct gfibers_slot v;
	int status, i;
	char *dump;
	pid_t pid;

	SKIP_IF_ABSENT();
	pid = gfc_spawn_writer(300, 0, 1);
	ASSERT_LT(0, pid);
	ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
	ASSERT_TRUE(WIFSTOPPED(status));
	dump = gfc_slurp(GFC_PROC, NULL);
	ASSERT_NE(NULL, dump);
	EXPECT_EQ(300, gfc_count(dump, pid, "waiting"));
	for (i = 0; i < 300; i += 37) {
		gfc_sample(&v, i + 1);
		ASSERT_EQ(1, gfc_find(dump, pid, i + 1, cols));
		snprintf(want, sizeof(want), "0x%llx",
			 (unsigned long long)v.saved_sp);
		EXPECT_STREQ(want, cols[GFC_SAVED_SP]);
		EXPECT_STREQ("chan receive", cols[GFC_REASON]);
	}
	free(dump);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

TEST_HARNESS_MAIN
