// SPDX-License-Identifier: GPL-2.0
/*
 * proc.c - reading the tables: stable slot copies, /proc/gfibers and
 * /proc/gfibers_stats.
 *
 * /proc/gfibers is a seq_file with one record per live fiber. The cursor
 * is (table id, slot index), kept in the iterator between read() calls:
 * a table is referenced only from ->start() to ->stop(), the next table
 * is found under RCU (table.c), and no lock at all is held while a
 * table is read, so a reader never blocks table creation or exit, and a
 * huge table streams one buffer at a time. See docs/proc-gfibers.md for
 * the format.
 *
 * Every value comes from user space: statuses and reasons are checked
 * against their tables before use as an index, names are sanitised,
 * nothing is dereferenced.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/nospec.h>
#include <linux/pid_namespace.h>
#include <linux/proc_fs.h>
#include <linux/sched/coredump.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

#include "gfibers_names.h"
#include "internal.h"

/*
 * Attempts at a stable copy before a slot is called torn. A writer's
 * critical section is a dozen stores, so one retry almost always suffices;
 * a slot still odd after this many is being written by a process that was
 * stopped, killed or is writing garbage, and waiting would let it block
 * the reader.
 */
#define GFIBERS_READ_RETRIES	8

/* Slots looked at between two cond_resched() calls of a reader. */
#define GFIBERS_RESCHED_BATCH	1024

/* Version of the /proc/gfibers format, in its first line. */
#define GFIBERS_PROC_VERSION	1

/* gfibers_status_names[], gfibers_reason_names[]: see gfibers_names.h. */

/*
 * gfibers_slot_read - copy slot @s to @c, consistently.
 *
 * The reader side of the seqcount protocol of include/uapi/gfibers.h; the
 * writer is ulib/registry.c. Returns false, and counts a torn read, if no
 * stable copy was seen in GFIBERS_READ_RETRIES attempts. Never waits.
 */
bool gfibers_slot_read(const struct gfibers_slot *s, struct gfibers_slot *c)
{
	unsigned int try;
	u32 seq;

	for (try = 0; try < GFIBERS_READ_RETRIES; try++) {
		/* Pairs with the writer's release store of the even count. */
		seq = smp_load_acquire(&s->seq);
		if (!(seq & 1)) {
			c->status = READ_ONCE(s->status);
			c->fiber_id = READ_ONCE(s->fiber_id);
			c->parent_id = READ_ONCE(s->parent_id);
			c->wait_reason = READ_ONCE(s->wait_reason);
			c->tid = READ_ONCE(s->tid);
			c->wait_obj = READ_ONCE(s->wait_obj);
			c->wait_pc = READ_ONCE(s->wait_pc);
			c->saved_pc = READ_ONCE(s->saved_pc);
			c->saved_sp = READ_ONCE(s->saved_sp);
			c->saved_fp = READ_ONCE(s->saved_fp);
			c->wait_since_ns = READ_ONCE(s->wait_since_ns);
			c->create_pc = READ_ONCE(s->create_pc);
			/*
			 * Pairs with the writer's release fence after its
			 * odd count: if a store above saw a new value, the
			 * load below sees the odd (or a later) count.
			 */
			smp_rmb();
			if (READ_ONCE(s->seq) == seq) {
				c->seq = seq;
				return true;
			}
		}
		cpu_relax();
	}
	atomic_long_inc(&gfibers_stats.torn);
	return false;
}

/* Go's name of @status, or NULL if it is not one. */
const char *gfibers_status_name(u32 status)
{
	if (status >= ARRAY_SIZE(gfibers_status_names))
		return NULL;
	return gfibers_status_names[array_index_nospec(status,
			ARRAY_SIZE(gfibers_status_names))];
}

/* Make @s printable in place: no control bytes, tabs or newlines. */
void gfibers_sanitize(char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			*s = '?';
}

/*
 * Copy program-named reason @idx of @t into @buf (at least
 * GFIBERS_REASON_NAME_LEN bytes), sanitised. Returns false if it is
 * empty or was never seen stable (its own seqcount, same protocol).
 */
static bool gfibers_user_reason(struct gfibers_table *t, u32 idx, char *buf)
{
	const struct gfibers_header *h = page_address(t->header);
	const struct gfibers_reason *r;
	unsigned int try;
	u32 seq;

	idx = array_index_nospec(idx, GFIBERS_USER_REASONS);
	r = &h->reasons[idx];
	for (try = 0; try < GFIBERS_READ_RETRIES; try++) {
		/* Pairs with the writer's release store of the even count. */
		seq = smp_load_acquire(&r->seq);
		if (!(seq & 1)) {
			memcpy(buf, r->name, GFIBERS_REASON_NAME_LEN);
			/* Pairs with the writer's fence after the odd count. */
			smp_rmb();
			if (READ_ONCE(r->seq) == seq) {
				buf[GFIBERS_REASON_NAME_LEN - 1] = '\0';
				gfibers_sanitize(buf);
				return buf[0] != '\0';
			}
		}
		cpu_relax();
	}
	return false;
}

/*
 * gfibers_reason_name - render wait reason @reason of a fiber of @t into
 * @buf (@len >= GFIBERS_REASON_NAME_LEN): Go's string, the program's
 * name, "user(i)" or "invalid(N)".
 */
void gfibers_reason_name(struct gfibers_table *t, u32 reason, char *buf,
			 size_t len)
{
	u32 user = reason - GFIBERS_WAIT_USER_BASE;

	if (reason < ARRAY_SIZE(gfibers_reason_names) &&
	    gfibers_reason_names[reason]) {
		reason = array_index_nospec(reason,
					    ARRAY_SIZE(gfibers_reason_names));
		strscpy(buf, gfibers_reason_names[reason], len);
	} else if (reason >= GFIBERS_WAIT_USER_BASE &&
		   user < GFIBERS_USER_REASONS) {
		if (!gfibers_user_reason(t, user, buf))
			snprintf(buf, len, "user(%u)", user);
	} else {
		atomic_long_inc(&gfibers_stats.invalid);
		snprintf(buf, len, "invalid(%u)", reason);
	}
}

/*
 * struct gfibers_iter - a reader of /proc/gfibers (seq_file private).
 *
 * @pos, @table_id, @end_id and @slot persist between read() calls: the
 * record at seq_file index @pos is slot @slot of the first table whose id
 * is >= @table_id. Tables set up after the read began (id >= @end_id) are
 * not shown: with processes registering faster than one read renders,
 * the read would never end. The rest is valid from ->start() to ->stop()
 * only.
 */
struct gfibers_iter {
	struct pid_namespace *ns;	/* the opener's; pids shown in it */
	loff_t pos;
	u64 table_id;
	u64 end_id;
	u32 slot;

	struct gfibers_table *table;	/* referenced, or NULL */
	pid_t pid;			/* table owner's pid in @ns */
	bool addrs;			/* reader may see its addresses */
	bool torn;			/* @copy is not a stable copy */
	u64 now;			/* CLOCK_MONOTONIC ns at ->start() */
	char comm[TASK_COMM_LEN];
	struct gfibers_slot copy;
};

/*
 * Whether the reader may see the addresses of @task's fibers: what
 * ptrace_may_access(task, PTRACE_MODE_READ_FSCREDS) decides, which
 * modules cannot call (not exported), without its LSM hook. Same thread
 * group; or the reader's fs ids match all of the target's ids and the
 * target is dumpable; or CAP_SYS_PTRACE over the target's user namespace
 * (over the initial one, if the target is not dumpable). Never wider
 * than ptrace_may_access() without an LSM.
 */
static bool gfibers_may_see_addrs(struct task_struct *task)
{
	const struct cred *cred = current_cred(), *tcred;
	struct mm_struct *mm;
	bool ids, dumpable, ok;

	if (same_thread_group(task, current))
		return true;

	task_lock(task);
	mm = task->mm;
	dumpable = !mm || get_dumpable(mm) == SUID_DUMP_USER;
	task_unlock(task);

	tcred = get_task_cred(task);
	ids = uid_eq(cred->fsuid, tcred->euid) &&
	      uid_eq(cred->fsuid, tcred->suid) &&
	      uid_eq(cred->fsuid, tcred->uid) &&
	      gid_eq(cred->fsgid, tcred->egid) &&
	      gid_eq(cred->fsgid, tcred->sgid) &&
	      gid_eq(cred->fsgid, tcred->gid);
	if (!ids)
		ids = ns_capable_noaudit(tcred->user_ns, CAP_SYS_PTRACE);
	put_cred(tcred);

	ok = ids && dumpable;
	if (ids && !dumpable)
		ok = ns_capable_noaudit(&init_user_ns, CAP_SYS_PTRACE);
	return ok;
}

/*
 * Look up who owns @t, as this reader sees it. Returns false if the owner
 * is gone or outside the reader's pid namespace: its fibers are skipped.
 */
static bool gfibers_iter_enter(struct gfibers_iter *it,
			       struct gfibers_table *t)
{
	struct task_struct *task;

	it->pid = pid_nr_ns(t->owner, it->ns);
	if (!it->pid)
		return false;
	task = get_pid_task(t->owner, PIDTYPE_TGID);
	if (!task)
		return false;
	get_task_comm(it->comm, task);
	gfibers_sanitize(it->comm);
	it->addrs = gfibers_may_see_addrs(task);
	put_task_struct(task);
	return true;
}

static bool gfibers_slot_live(const struct gfibers_slot *c)
{
	return c->fiber_id != 0 && c->status != GFIBERS_GDEAD;
}

/*
 * Move the cursor to the first live or torn slot at or after it, with a
 * stable copy in @it->copy. Returns @it, with @it->table referenced, or
 * NULL at the end of all tables.
 */
static void *gfibers_iter_find(struct gfibers_iter *it)
{
	struct gfibers_table *t = it->table;
	const struct gfibers_slot *s;
	bool entered = !!t;
	unsigned int batch = 0;
	u32 nr;

	if (!t) {
		t = gfibers_table_first(it->table_id);
		if (t && t->id != it->table_id)
			it->slot = 0;
	}
	if (t && t->id >= it->end_id) {
		gfibers_table_put(t);
		t = NULL;
	}
	while (t) {
		it->table = t;
		it->table_id = t->id;
		if (entered || gfibers_iter_enter(it, t)) {
			nr = gfibers_table_nr_slots(t);
			for (; it->slot < nr; it->slot++) {
				if (++batch % GFIBERS_RESCHED_BATCH == 0)
					cond_resched();
				s = gfibers_table_slot(t, it->slot);
				if (!s)
					continue;
				it->torn = !gfibers_slot_read(s, &it->copy);
				if (it->torn || gfibers_slot_live(&it->copy))
					return it;
			}
		}
		/* On to the next table; the step may free t. */
		it->table_id = t->id + 1;
		it->slot = 0;
		entered = false;
		t = gfibers_table_next(t);
		if (t && t->id >= it->end_id) {
			gfibers_table_put(t);
			t = NULL;
		}
	}
	it->table = NULL;
	return NULL;
}

static void *gfibers_seq_start(struct seq_file *m, loff_t *pos)
{
	struct gfibers_iter *it = m->private;

	it->now = ktime_get_ns();
	if (*pos == 0) {
		it->pos = 0;
		it->table_id = 0;
		it->end_id = gfibers_table_end_id();
		it->slot = 0;
		return SEQ_START_TOKEN;
	}
	/* Only a continuation: seq_file restarts any other read at 0. */
	if (*pos != it->pos)
		return NULL;
	return gfibers_iter_find(it);
}

static void *gfibers_seq_next(struct seq_file *m, void *v, loff_t *pos)
{
	struct gfibers_iter *it = m->private;

	it->pos = ++*pos;
	if (v != SEQ_START_TOKEN)
		it->slot++;
	return gfibers_iter_find(it);
}

static void gfibers_seq_stop(struct seq_file *m, void *v)
{
	struct gfibers_iter *it = m->private;

	if (it->table) {
		gfibers_table_put(it->table);
		it->table = NULL;
	}
}

static void gfibers_show_addr(struct seq_file *m, struct gfibers_iter *it,
			      u64 addr)
{
	seq_printf(m, "\t0x%llx", it->addrs ? addr : 0);
}

static int gfibers_seq_show(struct seq_file *m, void *v)
{
	struct gfibers_iter *it = m->private;
	const struct gfibers_slot *c = &it->copy;
	char reason[GFIBERS_REASON_NAME_LEN];
	const char *status;

	if (v == SEQ_START_TOKEN) {
		seq_printf(m, "# gfibers %d\n", GFIBERS_PROC_VERSION);
		seq_puts(m, "# pid\tfiber\tparent\ttid\tstatus\twait_ms\twait_obj\twait_pc\tcreate_pc\tsaved_pc\tsaved_sp\tsaved_fp\tcomm\treason\n");
		return 0;
	}
	if (it->torn) {
		seq_printf(m, "%d\t-\t-\t-\ttorn\t-\t-\t-\t-\t-\t-\t-\t%s\t-\n",
			   it->pid, it->comm);
		return 0;
	}

	seq_printf(m, "%d\t%llu\t%llu\t%u", it->pid, c->fiber_id,
		   c->parent_id, c->tid);
	status = gfibers_status_name(c->status);
	if (status) {
		seq_printf(m, "\t%s", status);
	} else {
		atomic_long_inc(&gfibers_stats.invalid);
		seq_printf(m, "\tinvalid(%u)", c->status);
	}
	if (c->wait_since_ns && c->wait_since_ns <= it->now)
		seq_printf(m, "\t%llu",
			   div_u64(it->now - c->wait_since_ns, NSEC_PER_MSEC));
	else
		seq_puts(m, "\t-");
	gfibers_show_addr(m, it, c->wait_obj);
	gfibers_show_addr(m, it, c->wait_pc);
	gfibers_show_addr(m, it, c->create_pc);
	gfibers_show_addr(m, it, c->saved_pc);
	gfibers_show_addr(m, it, c->saved_sp);
	gfibers_show_addr(m, it, c->saved_fp);
	gfibers_reason_name(it->table, c->wait_reason, reason, sizeof(reason));
	seq_printf(m, "\t%s\t%s\n", it->comm, reason);
	return 0;
}

static const struct seq_operations gfibers_seq_ops = {
	.start	= gfibers_seq_start,
	.next	= gfibers_seq_next,
	.stop	= gfibers_seq_stop,
	.show	= gfibers_seq_show,
};

static int gfibers_proc_open(struct inode *inode, struct file *file)
{
	struct gfibers_iter *it;

	it = __seq_open_private(file, &gfibers_seq_ops, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->ns = get_pid_ns(task_active_pid_ns(current));
	return 0;
}

static int gfibers_proc_release(struct inode *inode, struct file *file)
{
	struct seq_file *m = file->private_data;
	struct gfibers_iter *it = m->private;

	put_pid_ns(it->ns);
	return seq_release_private(inode, file);
}

static const struct proc_ops gfibers_proc_ops = {
	.proc_open	= gfibers_proc_open,
	.proc_read_iter	= seq_read_iter,
	.proc_lseek	= seq_lseek,
	.proc_release	= gfibers_proc_release,
};

static int gfibers_stats_show(struct seq_file *m, void *v)
{
	seq_printf(m, "tables %ld\n", atomic_long_read(&gfibers_stats.tables));
	seq_printf(m, "slots %ld\n", atomic_long_read(&gfibers_stats.slots));
	seq_printf(m, "bytes %ld\n", atomic_long_read(&gfibers_stats.bytes));
	seq_printf(m, "torn_reads %ld\n",
		   atomic_long_read(&gfibers_stats.torn));
	seq_printf(m, "invalid %ld\n",
		   atomic_long_read(&gfibers_stats.invalid));
	seq_printf(m, "warnings %ld\n",
		   atomic_long_read(&gfibers_stats.warnings));
	return 0;
}

int gfibers_proc_init(void)
{
	if (!proc_create("gfibers", 0444, NULL, &gfibers_proc_ops))
		return -ENOMEM;
	if (!proc_create_single("gfibers_stats", 0444, NULL,
				gfibers_stats_show)) {
		remove_proc_entry("gfibers", NULL);
		return -ENOMEM;
	}
	return 0;
}

void gfibers_proc_exit(void)
{
	remove_proc_entry("gfibers_stats", NULL);
	remove_proc_entry("gfibers", NULL);
}
