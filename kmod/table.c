// SPDX-License-Identifier: GPL-2.0
/*
 * table.c - the fiber tables: life cycle, growth, the global list.
 *
 * A table is a header page and chunks of slot pages, allocated by the
 * kernel and mapped into the owning process (main.c). The process writes
 * them; the kernel reads them in place, never the process's memory, so a
 * reader never waits on the process (hung, stopped, in D state, dying).
 *
 * Every set-up table is on gfibers_tables, in id order. Readers
 * (/proc/gfibers, the watchdog) walk it one table at a time with
 * gfibers_table_next(): the list lock is held only to find the next table
 * and take a reference, never while a table is read. A referenced table
 * stays on the list, so stepping from it is O(1); between two read()
 * calls a reader keeps only the id: ids are never reused, so "the first
 * table with id >= cursor" is a cursor that survives any churn.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "internal.h"

/*
 * Protects gfibers_tables (adding at SETUP, removing on the last put) and
 * gfibers_next_id. Held only for list operations: no allocation, no user
 * copy, no table reading under it.
 */
static DEFINE_MUTEX(gfibers_tables_lock);
static LIST_HEAD(gfibers_tables);
static u64 gfibers_next_id = 1;

struct gfibers_stats gfibers_stats;

struct gfibers_table *gfibers_table_alloc(void)
{
	struct gfibers_table *t;

	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return NULL;
	kref_init(&t->ref);
	INIT_LIST_HEAD(&t->node);
	t->owner = get_pid(task_tgid(current));
	mutex_init(&t->lock);
	xa_init(&t->pages);
	return t;
}

/* Called by kref_put_mutex() with gfibers_tables_lock held; drops it. */
static void gfibers_table_release(struct kref *ref)
{
	struct gfibers_table *t = container_of(ref, struct gfibers_table, ref);
	unsigned long npages = 0, idx;
	struct page *page;

	list_del_init(&t->node);
	mutex_unlock(&gfibers_tables_lock);

	xa_for_each(&t->pages, idx, page) {
		__free_page(page);
		npages++;
	}
	xa_destroy(&t->pages);
	if (t->header) {
		__free_page(t->header);
		npages++;
		atomic_long_dec(&gfibers_stats.tables);
	}
	atomic_long_sub(t->nr_chunks * GFIBERS_CHUNK_SLOTS,
			&gfibers_stats.slots);
	atomic_long_sub(npages * PAGE_SIZE, &gfibers_stats.bytes);
	put_pid(t->owner);
	mutex_destroy(&t->lock);
	kfree(t);
}

void gfibers_table_get(struct gfibers_table *t)
{
	kref_get(&t->ref);
}

/*
 * The last put removes the table from the list with gfibers_tables_lock
 * held, so a reader that finds a table on the list under that lock may
 * take a reference: the count is not zero. Called from file release and
 * from vm_ops->close (mmap_lock held: the lock order is mmap_lock, then
 * gfibers_tables_lock; no reader takes mmap_lock).
 */
void gfibers_table_put(struct gfibers_table *t)
{
	kref_put_mutex(&t->ref, gfibers_table_release, &gfibers_tables_lock);
}

/* Only the thread group that opened the device may use its table. */
bool gfibers_table_owned(const struct gfibers_table *t)
{
	return task_tgid(current) == t->owner;
}

/*
 * gfibers_table_setup - GFIBERS_IOC_SETUP: allocate the header page and
 * make the table visible. Returns 0 and the table's limit in *max_slots,
 * -EBUSY if already set up, -ENOMEM.
 */
int gfibers_table_setup(struct gfibers_table *t, u32 *max_slots)
{
	struct gfibers_header *h;
	struct page *page;
	int err = 0;

	mutex_lock(&t->lock);
	if (t->header) {
		err = -EBUSY;
		goto out_unlock;
	}
	page = alloc_page(GFIBERS_GFP);
	if (!page) {
		err = -ENOMEM;
		goto out_unlock;
	}
	h = page_address(page);
	h->magic = GFIBERS_MAGIC;
	h->abi_version = GFIBERS_ABI_VERSION;
	h->slot_size = GFIBERS_SLOT_SIZE;
	h->chunk_slots = GFIBERS_CHUNK_SLOTS;
	t->max_chunks = READ_ONCE(gfibers_max_slots_per_process) /
			GFIBERS_CHUNK_SLOTS;
	*max_slots = t->max_chunks * GFIBERS_CHUNK_SLOTS;
	atomic_long_inc(&gfibers_stats.tables);
	atomic_long_add(PAGE_SIZE, &gfibers_stats.bytes);

	mutex_lock(&gfibers_tables_lock);
	t->id = gfibers_next_id++;
	/* Pairs with smp_load_acquire() in gfibers_mmap(). */
	smp_store_release(&t->header, page);
	list_add_tail(&t->node, &gfibers_tables);
	mutex_unlock(&gfibers_tables_lock);
out_unlock:
	mutex_unlock(&t->lock);
	return err;
}

/* Reserve @n slots against the max_slots_total parameter. */
static bool gfibers_reserve_slots(long n)
{
	long limit = READ_ONCE(gfibers_max_slots_total);

	if (atomic_long_add_return(n, &gfibers_stats.slots) <= limit)
		return true;
	atomic_long_sub(n, &gfibers_stats.slots);
	return false;
}

/*
 * gfibers_table_grow - GFIBERS_IOC_GROW: add one chunk of zeroed slot
 * pages. Returns the new chunk's index, or -EINVAL (not set up), -ENOSPC
 * (the table's limit), -EDQUOT (max_slots_total), -ENOMEM.
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
	if (!gfibers_reserve_slots(GFIBERS_CHUNK_SLOTS)) {
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
	atomic_long_sub(GFIBERS_CHUNK_SLOTS, &gfibers_stats.slots);
out_unlock:
	mutex_unlock(&t->lock);
	return err;
}

/*
 * gfibers_table_end_id - the id the next table set up will get. A reader
 * that starts now stops before it, so that a read ends however fast new
 * tables come.
 */
u64 gfibers_table_end_id(void)
{
	u64 id;

	mutex_lock(&gfibers_tables_lock);
	id = gfibers_next_id;
	mutex_unlock(&gfibers_tables_lock);
	return id;
}

/*
 * gfibers_table_first - the set-up table with the smallest id >= @min_id,
 * with a reference the caller drops with gfibers_table_put() or passes to
 * gfibers_table_next(); NULL when there is none. O(tables): readers call
 * it once per read() call, to resume at their cursor.
 */
struct gfibers_table *gfibers_table_first(u64 min_id)
{
	struct gfibers_table *t, *found = NULL;

	mutex_lock(&gfibers_tables_lock);
	list_for_each_entry(t, &gfibers_tables, node) {
		if (t->id >= min_id) {
			gfibers_table_get(t);
			found = t;
			break;
		}
	}
	mutex_unlock(&gfibers_tables_lock);
	return found;
}

/*
 * gfibers_table_next - the table after @prev, referenced, or NULL; drops
 * the caller's reference on @prev, which may free it. O(1): a referenced
 * table is still on the list (only the last put removes it).
 */
struct gfibers_table *gfibers_table_next(struct gfibers_table *prev)
{
	struct gfibers_table *t = NULL;

	mutex_lock(&gfibers_tables_lock);
	if (!list_is_last(&prev->node, &gfibers_tables)) {
		t = list_next_entry(prev, node);
		gfibers_table_get(t);
	}
	mutex_unlock(&gfibers_tables_lock);
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
