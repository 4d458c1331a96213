// SPDX-License-Identifier: GPL-2.0
/*
 * table.c - the fiber tables: life cycle, growth, the index of tables,
 * the per-user accounting.
 *
 * A table is a header page and chunks of slot pages, allocated by the
 * kernel and mapped into the owning process (main.c). The process writes
 * them; the kernel reads them in place, never the process's memory, so a
 * reader never waits on the process (hung, stopped, in D state, dying).
 *
 * Every set-up table is in gfibers_tables, an xarray indexed by the
 * table's id. Readers (/proc/gfibers, the watchdog) step through it one
 * table at a time with gfibers_table_next(): a lookup under RCU of the
 * first id above the previous one, O(log tables), that takes a reference
 * on the table found; no lock is shared by readers, writers and exits.
 * Between two read() calls a reader keeps only the id: ids are never
 * reused, so "the first table with id >= cursor" is a cursor that
 * survives any churn.
 *
 * Locks, outermost first (no other nesting):
 *   gfibers_table.lock (SETUP, GROW; allocates under it)
 *     gfibers_tables_lock (SETUP: ids and the index; allocates under it)
 *       the xarray's xa_lock (inside xa_*())
 *   gfibers_users_lock (open: user lookup; a user's last put: removal),
 *     a leaf: only a kzalloc() under it.
 * The last put of a table takes the xa_lock (xa_erase()) and then
 * gfibers_users_lock, each alone; it may run under mmap_lock (munmap,
 * exit) or under a /proc/gfibers reader's seq_file mutex, neither of
 * which is ever taken under a lock of ours. Readers take no lock of ours
 * at all.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/gfp.h>
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "internal.h"

/*
 * Set-up tables by id. Entries are stored at SETUP (under
 * gfibers_tables_lock, which keeps ids in order of insertion) and erased
 * by the table's last put; readers look them up under RCU.
 */
static DEFINE_XARRAY(gfibers_tables);

/*
 * Serialises SETUP's id assignment and insertion, so that every id below
 * gfibers_next_id is in the index or gone. Never taken by readers.
 */
static DEFINE_MUTEX(gfibers_tables_lock);
/* The next id; written under gfibers_tables_lock, read by readers. */
static unsigned long gfibers_next_id = 1;

struct gfibers_stats gfibers_stats;

/*
 * The users with tables, by uid. Looked up at open() and, for removal,
 * by the last put of a user's last table; nothing else nests inside.
 */
#define GFIBERS_USERS_BITS	6
static DEFINE_HASHTABLE(gfibers_users, GFIBERS_USERS_BITS);
static DEFINE_MUTEX(gfibers_users_lock);

/* The accounting record of @uid, referenced; NULL without memory. */
static struct gfibers_user *gfibers_user_get(kuid_t uid)
{
	struct gfibers_user *u;

	mutex_lock(&gfibers_users_lock);
	hash_for_each_possible(gfibers_users, u, node, __kuid_val(uid)) {
		if (uid_eq(u->uid, uid)) {
			refcount_inc(&u->ref);
			goto out_unlock;
		}
	}
	/* Shared by all of the user's tables: charged to no one cgroup. */
	u = kzalloc(sizeof(*u), GFP_KERNEL);
	if (!u)
		goto out_unlock;
	refcount_set(&u->ref, 1);
	u->uid = uid;
	/* The watchdog's bursts: 10 messages per 5 s, per user. */
	ratelimit_state_init(&u->rs, 5 * HZ, 10);
	hash_add(gfibers_users, &u->node, __kuid_val(uid));
out_unlock:
	mutex_unlock(&gfibers_users_lock);
	return u;
}

static void gfibers_user_put(struct gfibers_user *u)
{
	if (!refcount_dec_and_mutex_lock(&u->ref, &gfibers_users_lock))
		return;
	hash_del(&u->node);
	mutex_unlock(&gfibers_users_lock);
	kfree(u);
}

/*
 * The table of a new open(): owned by the opener's thread group, charged
 * to the opener's real uid (as RLIMIT_NPROC: a set-user-ID program that
 * registers is counted for the user who ran it).
 */
struct gfibers_table *gfibers_table_alloc(void)
{
	struct gfibers_table *t;

	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return NULL;
	t->user = gfibers_user_get(current_uid());
	if (!t->user) {
		kfree(t);
		return NULL;
	}
	kref_init(&t->ref);
	t->owner = get_pid(task_tgid(current));
	mutex_init(&t->lock);
	xa_init(&t->pages);
	return t;
}

static void gfibers_table_release(struct kref *ref)
{
	struct gfibers_table *t = container_of(ref, struct gfibers_table, ref);
	long slots = (long)t->nr_chunks * GFIBERS_CHUNK_SLOTS;
	unsigned long npages = 0, idx;
	struct page *page;

	/*
	 * From now on a reader may still find the table until the erase,
	 * but cannot take a reference (kref_get_unless_zero()).
	 */
	if (t->header)
		xa_erase(&gfibers_tables, t->id);

	xa_for_each(&t->pages, idx, page) {
		__free_page(page);
		npages++;
	}
	xa_destroy(&t->pages);
	if (t->header) {
		__free_page(t->header);
		npages++;
		atomic_long_dec(&gfibers_stats.tables);
		atomic_dec(&t->user->tables);
	}
	atomic_long_sub(slots, &gfibers_stats.slots);
	atomic_long_sub(slots, &t->user->slots);
	atomic_long_sub(npages * PAGE_SIZE, &gfibers_stats.bytes);
	gfibers_user_put(t->user);
	put_pid(t->owner);
	mutex_destroy(&t->lock);
	/* A reader under RCU may still be looking at t->ref. */
	kfree_rcu(t, rcu);
}

void gfibers_table_get(struct gfibers_table *t)
{
	kref_get(&t->ref);
}

/*
 * Called from file release and from vm_ops->close (mmap_lock held; see
 * the lock order at the top).
 */
void gfibers_table_put(struct gfibers_table *t)
{
	kref_put(&t->ref, gfibers_table_release);
}

/* Only the thread group that opened the device may use its table. */
bool gfibers_table_owned(const struct gfibers_table *t)
{
	return task_tgid(current) == t->owner;
}

/*
 * gfibers_table_setup - GFIBERS_IOC_SETUP: allocate the header page and
 * make the table visible. Returns 0 and the table's limit in *max_slots,
 * -EBUSY if already set up, -EDQUOT (the user's max_tables_per_user),
 * -ENOMEM.
 */
int gfibers_table_setup(struct gfibers_table *t, u32 *max_slots)
{
	struct gfibers_header *h;
	struct page *page;
	unsigned long id;
	int err = 0;

	mutex_lock(&t->lock);
	if (t->header) {
		err = -EBUSY;
		goto out_unlock;
	}
	if (atomic_inc_return(&t->user->tables) >
	    READ_ONCE(gfibers_max_tables_per_user)) {
		err = -EDQUOT;
		goto err_uncharge;
	}
	page = alloc_page(GFIBERS_GFP);
	if (!page) {
		err = -ENOMEM;
		goto err_uncharge;
	}
	h = page_address(page);
	h->magic = GFIBERS_MAGIC;
	h->abi_version = GFIBERS_ABI_VERSION;
	h->slot_size = GFIBERS_SLOT_SIZE;
	h->chunk_slots = GFIBERS_CHUNK_SLOTS;

	mutex_lock(&gfibers_tables_lock);
	id = gfibers_next_id;
	/*
	 * Room for the entry first: the header must not be published (an
	 * mmap() may map it at once) before nothing can fail any more.
	 */
	err = xa_reserve(&gfibers_tables, id, GFP_KERNEL | __GFP_NOWARN);
	if (err) {
		mutex_unlock(&gfibers_tables_lock);
		__free_page(page);
		goto err_uncharge;
	}
	t->id = id;
	t->max_chunks = READ_ONCE(gfibers_max_slots_per_process) /
			GFIBERS_CHUNK_SLOTS;
	*max_slots = t->max_chunks * GFIBERS_CHUNK_SLOTS;
	atomic_long_inc(&gfibers_stats.tables);
	atomic_long_add(PAGE_SIZE, &gfibers_stats.bytes);
	/* Pairs with smp_load_acquire() in gfibers_mmap(). */
	smp_store_release(&t->header, page);
	/* Into the reserved entry: no allocation, cannot fail. */
	xa_store(&gfibers_tables, id, t, GFP_KERNEL);
	/* Pairs with smp_load_acquire() in gfibers_table_end_id(). */
	smp_store_release(&gfibers_next_id, id + 1);
	mutex_unlock(&gfibers_tables_lock);
	goto out_unlock;

err_uncharge:
	atomic_dec(&t->user->tables);
out_unlock:
	mutex_unlock(&t->lock);
	return err;
}

/*
 * Reserve @n slots against the user's max_slots_per_user, then against
 * max_slots_total. Two tables growing at once may both be refused near a
 * limit (each sees the other's reservation): never both admitted over it.
 */
static bool gfibers_reserve_slots(struct gfibers_user *u, long n)
{
	long user_limit = READ_ONCE(gfibers_max_slots_per_user);
	long limit = READ_ONCE(gfibers_max_slots_total);

	if (atomic_long_add_return(n, &u->slots) > user_limit)
		goto err_user;
	if (atomic_long_add_return(n, &gfibers_stats.slots) > limit)
		goto err_total;
	return true;

err_total:
	atomic_long_sub(n, &gfibers_stats.slots);
err_user:
	atomic_long_sub(n, &u->slots);
	return false;
}

static void gfibers_unreserve_slots(struct gfibers_user *u, long n)
{
	atomic_long_sub(n, &gfibers_stats.slots);
	atomic_long_sub(n, &u->slots);
}

/*
 * gfibers_table_grow - GFIBERS_IOC_GROW: add one chunk of zeroed slot
 * pages. Returns the new chunk's index, or -EINVAL (not set up), -ENOSPC
 * (the table's limit), -EDQUOT (the user's max_slots_per_user, or
 * max_slots_total), -ENOMEM.
 */
int gfibers_table_grow(struct gfibers_table *t)
{
	unsigned long first, i;
	struct page *page;
	int err;

	mutex_lock(&t->lock);
	if (!t->header) {
		err = -EINVAL;
		goto out_unlock;
	}
	if (t->nr_chunks >= t->max_chunks) {
		err = -ENOSPC;
		goto out_unlock;
	}
	if (!gfibers_reserve_slots(t->user, GFIBERS_CHUNK_SLOTS)) {
		err = -EDQUOT;
		goto out_unlock;
	}
	first = (unsigned long)t->nr_chunks * GFIBERS_CHUNK_PAGES;
	for (i = 0; i < GFIBERS_CHUNK_PAGES; i++) {
		page = alloc_page(GFIBERS_GFP);
		if (!page) {
			err = -ENOMEM;
			goto err_free_pages;
		}
		err = xa_err(xa_store(&t->pages, first + i, page,
				      GFP_KERNEL_ACCOUNT | __GFP_NOWARN));
		if (err) {
			__free_page(page);
			goto err_free_pages;
		}
	}
	atomic_long_add(GFIBERS_CHUNK_SIZE, &gfibers_stats.bytes);
	err = t->nr_chunks;
	/* Pairs with smp_load_acquire() in gfibers_table_nr_slots(). */
	smp_store_release(&t->nr_chunks, t->nr_chunks + 1);
	goto out_unlock;

err_free_pages:
	while (i--)
		__free_page(xa_erase(&t->pages, first + i));
	gfibers_unreserve_slots(t->user, GFIBERS_CHUNK_SLOTS);
out_unlock:
	mutex_unlock(&t->lock);
	return err;
}

/*
 * gfibers_table_end_id - the id the next table set up will get. A reader
 * that starts now stops before it, so that a read ends however fast new
 * tables come. Every table with a smaller id is in the index or gone.
 */
u64 gfibers_table_end_id(void)
{
	/* Pairs with smp_store_release() in gfibers_table_setup(). */
	return smp_load_acquire(&gfibers_next_id);
}

/*
 * gfibers_table_first - the set-up table with the smallest id >= @min_id,
 * with a reference the caller drops with gfibers_table_put() or passes to
 * gfibers_table_next(); NULL when there is none. O(log tables), under
 * RCU only: a table whose last reference is gone is skipped.
 */
struct gfibers_table *gfibers_table_first(u64 min_id)
{
	unsigned long idx = min_id;
	struct gfibers_table *t;

	/* Beyond any id this kernel can hand out. */
	if (idx != min_id)
		return NULL;
	rcu_read_lock();
	for (;;) {
		t = xa_find(&gfibers_tables, &idx, ULONG_MAX, XA_PRESENT);
		if (!t || kref_get_unless_zero(&t->ref))
			break;
		/* Being freed: kfree_rcu() keeps it readable until unlock. */
		if (idx == ULONG_MAX) {
			t = NULL;
			break;
		}
		idx++;
	}
	rcu_read_unlock();
	return t;
}

/*
 * gfibers_table_next - the table after @prev, referenced, or NULL; drops
 * the caller's reference on @prev, which may free it.
 */
struct gfibers_table *gfibers_table_next(struct gfibers_table *prev)
{
	struct gfibers_table *t = gfibers_table_first((u64)prev->id + 1);

	gfibers_table_put(prev);
	return t;
}

/* Slots a reader may look at now: all chunks published by GROW. */
u32 gfibers_table_nr_slots(struct gfibers_table *t)
{
	/* Pairs with smp_store_release() in gfibers_table_grow(). */
	return smp_load_acquire(&t->nr_chunks) * GFIBERS_CHUNK_SLOTS;
}

/* Page @idx of the slots area; NULL if not (yet) allocated. */
struct page *gfibers_table_page(struct gfibers_table *t, unsigned long idx)
{
	return xa_load(&t->pages, idx);
}

/*
 * Slot @idx, in kernel memory shared with the process, for
 * gfibers_slot_read(); NULL if @idx is beyond gfibers_table_nr_slots().
 */
const struct gfibers_slot *gfibers_table_slot(struct gfibers_table *t,
					      u32 idx)
{
	struct page *page;

	if (idx >= gfibers_table_nr_slots(t))
		return NULL;
	page = gfibers_table_page(t, idx / GFIBERS_SLOTS_PER_PAGE);
	if (!page)
		return NULL;
	return (const struct gfibers_slot *)page_address(page) +
	       idx % GFIBERS_SLOTS_PER_PAGE;
}
