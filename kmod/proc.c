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
 *
 * Which processes a reader sees, and whose addresses, is decided by
 * procfs itself, in the mount the file was opened through and with the
 * opener's credentials: see gfibers_view().
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/moduleparam.h>
#include <linux/mount.h>
#include <linux/nospec.h>
#include <linux/pid_namespace.h>
#include <linux/proc_fs.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/sysfs.h>
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

/*
 * Version of the /proc/gfibers format, in its first line. 2: the slot's
 * sequence count (column seq, appended after reason: columns 1-14 keep
 * their numbers) added, so that a reader who reads a fiber's stack
 * between two reads of this file can tell that the fiber did not run in
 * between (docs/proc-gfibers.md).
 */
#define GFIBERS_PROC_VERSION	2

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
	const struct file *file;	/* the open /proc/gfibers */
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
 * Who sees the addresses of a process's fibers (the addresses= parameter):
 * readers that may ptrace-read it, as for /proc/PID/wchan (the default);
 * only the process itself; or nobody.
 */
enum gfibers_addrs_policy {
	GFIBERS_ADDRS_PTRACE,
	GFIBERS_ADDRS_SELF,
	GFIBERS_ADDRS_NONE,
};

static const char * const gfibers_addrs_names[] = {
	[GFIBERS_ADDRS_PTRACE]	= "ptrace",
	[GFIBERS_ADDRS_SELF]	= "self",
	[GFIBERS_ADDRS_NONE]	= "none",
};

static int gfibers_addrs = GFIBERS_ADDRS_PTRACE;

static int gfibers_addrs_set(const char *val, const struct kernel_param *kp)
{
	int i = sysfs_match_string(gfibers_addrs_names, val);

	if (i < 0)
		return -EINVAL;
	WRITE_ONCE(gfibers_addrs, i);
	return 0;
}

static int gfibers_addrs_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n",
			  gfibers_addrs_names[READ_ONCE(gfibers_addrs)]);
}

static const struct kernel_param_ops gfibers_addrs_ops = {
	.set	= gfibers_addrs_set,
	.get	= gfibers_addrs_get,
};

module_param_cb(addresses, &gfibers_addrs_ops, NULL, 0644);
MODULE_PARM_DESC(addresses,
		 "Who sees fiber addresses in /proc/gfibers: ptrace (readers that may ptrace-read the process), self (the process itself), none");

/*
 * Look @name up in the procfs mount that @file was opened in, with the
 * credentials of whoever opened @file, following a trailing link if
 * @follow. 0 if the walk succeeds.
 *
 * Modules cannot call ptrace_may_access() or has_pid_permissions() (not
 * exported), so the mount's own /proc/PID is asked: walking into PID
 * applies the mount's hidepid= and gid= (proc_pid_lookup() and
 * proc_pid_permission()), and following the PID/exe link calls
 * ptrace_may_access(task, PTRACE_MODE_READ_FSCREDS), LSM hook included
 * (proc_pid_get_link()). The walk starts at the mount's root, so it sees
 * the mount's pid namespace and options whatever the caller's root is.
 * An O_PATH open is the walk alone: no ->open(), no file access checks;
 * its struct file is freed when the reader returns to user space.
 *
 * Returns 0, -ENOMEM or -ENFILE if the walk could not be made (the caller
 * fails the read rather than hide a process for it), or another error if
 * the walk was refused.
 */
static int gfibers_proc_walk(const struct file *file, const char *name,
			     bool follow)
{
	const struct cred *old;
	struct file *f;

	old = override_creds(file->f_cred);
	f = file_open_root_mnt(file->f_path.mnt, name,
			       O_PATH | (follow ? 0 : O_NOFOLLOW), 0);
	revert_creds(old);
	if (IS_ERR(f))
		return PTR_ERR(f);
	fput(f);
	return 0;
}

/* Whether gfibers_proc_walk() could not walk, rather than was refused. */
static bool gfibers_walk_failed(int err)
{
	return err == -ENOMEM || err == -ENFILE;
}

/*
 * gfibers_view - what the opener of @file sees of the process that owns
 * @t: its pid in @ns (the opener's pid namespace) in @pid, and, if @addrs
 * is not NULL, whether its addresses are shown in @addrs.
 *
 * A process is shown if it is alive, has a pid in @ns and in the pid
 * namespace of the procfs mount of @file, and the opener may look into
 * its /proc/PID in that mount (hidepid=). Returns 1 if shown, 0 if not,
 * -ENOMEM or -ENFILE if it could not be decided.
 */
static int gfibers_view(const struct file *file, struct pid_namespace *ns,
			struct gfibers_table *t, pid_t *pid, bool *addrs)
{
	struct proc_fs_info *fs_info = proc_sb_info(file_inode(file)->i_sb);
	int policy = READ_ONCE(gfibers_addrs);
	char name[32];
	pid_t mpid;
	int err;

	if (addrs)
		*addrs = false;
	*pid = pid_nr_ns(t->owner, ns);
	mpid = pid_nr_ns(t->owner, fs_info->pid_ns);
	if (!*pid || !mpid || !pid_has_task(t->owner, PIDTYPE_TGID))
		return 0;
	snprintf(name, sizeof(name), "%d/exe", mpid);

	err = -EACCES;
	if (addrs && policy == GFIBERS_ADDRS_PTRACE) {
		err = gfibers_proc_walk(file, name, true);
		if (!err)
			*addrs = true;
	}
	/* Without the link: is PID itself visible to the opener? */
	if (err && !gfibers_walk_failed(err))
		err = gfibers_proc_walk(file, name, false);
	if (err)
		return gfibers_walk_failed(err) ? err : 0;
	if (addrs && policy == GFIBERS_ADDRS_SELF)
		*addrs = t->owner == task_tgid(current);
	/*
	 * The walks looked at whoever had number mpid. The owner still alive
	 * now was alive throughout (a pid never gets its task back), so that
	 * was the owner, not a process that got its number after it died.
	 */
	if (!pid_has_task(t->owner, PIDTYPE_TGID)) {
		if (addrs)
			*addrs = false;
		return 0;
	}
	return 1;
}

/*
 * Look up who owns @t, as this reader sees it. Returns 1, 0 if the owner
 * is gone or hidden from the reader (its fibers are skipped), or an error
 * (gfibers_view()).
 */
static int gfibers_iter_enter(struct gfibers_iter *it, struct gfibers_table *t)
{
	struct task_struct *task;

	task = get_pid_task(t->owner, PIDTYPE_TGID);
	if (!task)
		return 0;
	get_task_comm(it->comm, task);
	put_task_struct(task);
	gfibers_sanitize(it->comm);
	return gfibers_view(it->file, it->ns, t, &it->pid, &it->addrs);
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
	int shown;
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
		shown = entered ? 1 : gfibers_iter_enter(it, t);
		if (shown < 0) {
			/* The cursor stays: the next read() tries again. */
			gfibers_table_put(t);
			it->table = NULL;
			return ERR_PTR(shown);
		}
		if (shown) {
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
		seq_puts(m, "# pid\tfiber\tparent\ttid\tstatus\twait_ms\twait_obj\twait_pc\tcreate_pc\tsaved_pc\tsaved_sp\tsaved_fp\tcomm\treason\tseq\n");
		return 0;
	}
	if (it->torn) {
		seq_printf(m, "%d\t-\t-\t-\ttorn\t-\t-\t-\t-\t-\t-\t-\t%s\t-\t-\n",
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
	seq_printf(m, "\t%s\t%s", it->comm, reason);
	/*
	 * The count of the slot's writes: how often the fiber ran and
	 * parked, shown only with the addresses (a reader who may not read
	 * the process's memory learns nothing of its activity from it).
	 */
	if (it->addrs)
		seq_printf(m, "\t%u\n", c->seq);
	else
		seq_puts(m, "\t-\n");
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
	it->file = file;
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

/*
 * Whether the opener of @file, in pid namespace @ns, sees every process
 * in /proc/gfibers: in the initial pid namespace, through a procfs mount
 * of it without hidepid=.
 */
static bool gfibers_sees_all(const struct file *file, struct pid_namespace *ns)
{
	struct proc_fs_info *fs_info = proc_sb_info(file_inode(file)->i_sb);

	return ns == &init_pid_ns && fs_info->pid_ns == &init_pid_ns &&
	       fs_info->hide_pid == HIDEPID_OFF;
}

/*
 * /proc/gfibers_stats for a reader who does not see every process: the
 * tables, slots and bytes of the processes it sees in /proc/gfibers. The
 * event counters are of the whole module and not shown.
 */
static int gfibers_stats_show_view(struct seq_file *m, struct pid_namespace *ns)
{
	long tables = 0, slots = 0, bytes = 0;
	struct gfibers_table *t;
	u64 end_id = gfibers_table_end_id();
	int shown;
	pid_t pid;
	u32 nr;

	for (t = gfibers_table_first(0); t && t->id < end_id;
	     t = gfibers_table_next(t)) {
		shown = gfibers_view(m->file, ns, t, &pid, NULL);
		if (shown < 0) {
			gfibers_table_put(t);
			return shown;
		}
		if (shown) {
			nr = gfibers_table_nr_slots(t);
			tables++;
			slots += nr;
			bytes += PAGE_SIZE +
				 nr / GFIBERS_CHUNK_SLOTS * GFIBERS_CHUNK_SIZE;
		}
		cond_resched();
	}
	if (t)
		gfibers_table_put(t);
	seq_printf(m, "tables %ld\n", tables);
	seq_printf(m, "slots %ld\n", slots);
	seq_printf(m, "bytes %ld\n", bytes);
	return 0;
}

static int gfibers_stats_show(struct seq_file *m, void *v)
{
	struct pid_namespace *ns = m->private;

	if (!gfibers_sees_all(m->file, ns))
		return gfibers_stats_show_view(m, ns);
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

static int gfibers_stats_open(struct inode *inode, struct file *file)
{
	struct pid_namespace *ns = get_pid_ns(task_active_pid_ns(current));
	int err;

	err = single_open(file, gfibers_stats_show, ns);
	if (err)
		put_pid_ns(ns);
	return err;
}

static int gfibers_stats_release(struct inode *inode, struct file *file)
{
	struct seq_file *m = file->private_data;

	put_pid_ns(m->private);
	return single_release(inode, file);
}

static const struct proc_ops gfibers_stats_proc_ops = {
	.proc_open	= gfibers_stats_open,
	.proc_read_iter	= seq_read_iter,
	.proc_lseek	= seq_lseek,
	.proc_release	= gfibers_stats_release,
};

int gfibers_proc_init(void)
{
	if (!proc_create("gfibers", 0444, NULL, &gfibers_proc_ops))
		return -ENOMEM;
	if (!proc_create("gfibers_stats", 0444, NULL,
			 &gfibers_stats_proc_ops)) {
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
