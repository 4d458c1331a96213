/* SPDX-License-Identifier: GPL-2.0 */
/*
 * internal.h - what the files of gfibers.ko share. The ABI with user space
 * is include/uapi/gfibers.h; this header is internal to the module.
 *
 *   main.c      module parameters, /dev/gfibers (open, ioctl, mmap)
 *   table.c     the tables: life cycle, growth, the index of tables,
 *               the per-user accounting
 *   proc.c      stable slot copies, /proc/gfibers, /proc/gfibers_stats
 *   watchdog.c  the hung-fiber watchdog
 */
#ifndef _GFIBERS_INTERNAL_H
#define _GFIBERS_INTERNAL_H

#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/ratelimit.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/xarray.h>

#include <uapi/gfibers.h>

/* Slots in one page; a slot never straddles a page. */
#define GFIBERS_SLOTS_PER_PAGE	(PAGE_SIZE / GFIBERS_SLOT_SIZE)
/* Pages in one chunk (at least one: PAGE_SIZE <= GFIBERS_CHUNK_SIZE). */
#define GFIBERS_CHUNK_PAGES	(GFIBERS_CHUNK_SIZE / PAGE_SIZE)

/*
 * Pages of a table: zeroed, and charged to the memory cgroup of the
 * process that sets the table up or grows it (__GFP_ACCOUNT). User space
 * asks for them, so failing is the answer to a shortage: no OOM kill on
 * the memory cgroup's limit (__GFP_RETRY_MAYFAIL), no allocation-failure
 * report in the kernel log (__GFP_NOWARN); the ioctl returns -ENOMEM.
 */
#define GFIBERS_GFP	(GFP_KERNEL_ACCOUNT | __GFP_ZERO | \
			 __GFP_RETRY_MAYFAIL | __GFP_NOWARN)

/*
 * struct gfibers_user - what the tables of one user (the real uid of the
 * process that opened the device) hold, and that user's share of the
 * watchdog's messages. Limits are per user, as inotify's
 * max_user_watches: one user cannot take what another one needs, and the
 * watchdog's budget, fed by slots the user writes, cannot be spent by
 * someone else's forged slots.
 *
 * One per uid with a table (open or set up); on gfibers_users under
 * gfibers_users_lock, freed with the last table of the user.
 */
struct gfibers_user {
	struct hlist_node node;
	refcount_t ref;
	kuid_t uid;
	/* Slots of all tables of the user, against max_slots_per_user. */
	atomic_long_t slots;
	/* Set-up tables of the user, against max_tables_per_user. */
	atomic_t tables;
	/*
	 * Watchdog messages printed about the user's tables, against
	 * hung_warnings, and their rate. Only the watchdog's work (never
	 * two at once) touches them.
	 */
	int warnings;
	struct ratelimit_state rs;
};

/*
 * struct gfibers_table - the fiber table of one process.
 *
 * Life cycle:
 *   open(/dev/gfibers)   allocated, one reference held by the file; owned
 *                        by the opener's thread group (@owner); not yet
 *                        on the global list, not visible.
 *   GFIBERS_IOC_SETUP    counted against the user's max_tables_per_user,
 *                        header page allocated, an @id assigned, stored
 *                        in gfibers_tables at @id: visible to
 *                        /proc/gfibers and to the watchdog from now on.
 *   GFIBERS_IOC_GROW     one more chunk of slot pages, counted against
 *                        the user's max_slots_per_user and against
 *                        max_slots_total.
 *   mmap()               each VMA holds a reference (vm_ops open/close).
 *   readers              /proc/gfibers and the watchdog find the table
 *                        under RCU and take a reference (unless it is
 *                        already zero) for as long as they look at it.
 *   last reference gone  (close and the last munmap, in any order; exit
 *                        and SIGKILL do both) erased from gfibers_tables,
 *                        the pages freed and uncharged, the struct freed
 *                        after an RCU grace period.
 *
 * Nothing in the table's pages is trusted: user space writes them at any
 * time. The fields of this struct are kernel-only.
 */
struct gfibers_table {
	struct kref ref;
	/*
	 * Unique, increasing, never reused: the table's index in
	 * gfibers_tables and the readers' cursor. 0 until SETUP.
	 */
	unsigned long id;
	/*
	 * The thread group that opened the device; the only one served.
	 * A reference on the struct pid, not a number: after the owner's
	 * death its number may name another process.
	 */
	struct pid *owner;
	/* The real uid of the opener, charged for the table. */
	struct gfibers_user *user;
	/* Frees the struct after the readers under RCU are done with it. */
	struct rcu_head rcu;
	/*
	 * Serialises SETUP and GROW, the only writers of @header, @pages
	 * and @nr_chunks. Readers take no lock: see @header, @nr_chunks.
	 */
	struct mutex lock;
	/*
	 * The header page; NULL until SETUP. Published with
	 * smp_store_release() after the page is filled in, read with
	 * smp_load_acquire() (mmap) or after finding the table in
	 * gfibers_tables (readers: the xarray's store and load order it).
	 */
	struct page *header;
	/*
	 * Slot pages, index = page number within the slots area. Entries are
	 * only added (GROW) and freed with the table; xa_load() is safe
	 * without @lock.
	 */
	struct xarray pages;
	/* This table's limit in chunks, fixed at SETUP. */
	unsigned int max_chunks;
	/*
	 * Chunks whose pages are all in @pages. Written under @lock with
	 * smp_store_release() after the xa_store()s of the chunk; pairs
	 * with smp_load_acquire() in gfibers_table_nr_slots().
	 */
	unsigned int nr_chunks;
};

/* Counters for tests and operators, shown in /proc/gfibers_stats. */
struct gfibers_stats {
	atomic_long_t tables;		/* set-up tables alive */
	atomic_long_t slots;		/* slots allocated, all tables */
	atomic_long_t bytes;		/* table pages, bytes */
	atomic_long_t torn;		/* slot reads never stable */
	atomic_long_t invalid;		/* rendered invalid(N) */
	atomic_long_t warnings;		/* watchdog messages printed */
};

extern struct gfibers_stats gfibers_stats;

/* Module parameters (main.c, watchdog.c; proc.c has addresses=). */
extern unsigned int gfibers_max_slots_per_process;
extern unsigned int gfibers_max_slots_per_user;
extern unsigned int gfibers_max_tables_per_user;
extern unsigned int gfibers_max_slots_total;

/* table.c */
struct gfibers_table *gfibers_table_alloc(void);
void gfibers_table_put(struct gfibers_table *t);
void gfibers_table_get(struct gfibers_table *t);
bool gfibers_table_owned(const struct gfibers_table *t);
int gfibers_table_setup(struct gfibers_table *t, u32 *max_slots);
int gfibers_table_grow(struct gfibers_table *t);
u64 gfibers_table_end_id(void);
void gfibers_sanitize(char *s);
struct gfibers_table *gfibers_table_first(u64 min_id);
struct gfibers_table *gfibers_table_next(struct gfibers_table *prev);
u32 gfibers_table_nr_slots(struct gfibers_table *t);
const struct gfibers_slot *gfibers_table_slot(struct gfibers_table *t,
					      u32 idx);
struct page *gfibers_table_page(struct gfibers_table *t, unsigned long idx);

/* proc.c */
bool gfibers_slot_read(const struct gfibers_slot *s, struct gfibers_slot *c);
const char *gfibers_status_name(u32 status);
void gfibers_reason_name(struct gfibers_table *t, u32 reason, char *buf,
			 size_t len);
int gfibers_proc_init(void);
void gfibers_proc_exit(void);

/* watchdog.c */
void gfibers_watchdog_start(void);
void gfibers_watchdog_stop(void);

#endif /* _GFIBERS_INTERNAL_H */
