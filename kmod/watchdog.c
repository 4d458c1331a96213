// SPDX-License-Identifier: GPL-2.0
/*
 * watchdog.c - the hung-fiber watchdog, after kernel/hung_task.c.
 *
 * A delayed work scans every table every GFIBERS_WATCHDOG_PERIOD(timeout)
 * and warns about each fiber that has been waiting, or was judged leaked
 * by its runtime, for more than hung_timeout_secs:
 *
 *   gfibers: pid P (comm) fiber N blocked in 'chan receive' for more than
 *   T seconds at 0xPC
 *   gfibers: pid P (comm) fiber N leaked in 'chan receive' (can never
 *   wake) for more than T seconds at 0xPC
 *
 * Once per park episode, without per-fiber state: a scan at time now
 * reports the waiting or leaked fibers whose wait_since_ns lies in
 * (cutoff of the previous scan, now - timeout], so each episode (fiber
 * id, wait_since_ns) crosses the threshold in exactly one scan. A slot
 * that is torn during that one scan is not reported. A leaked fiber can
 * never wake, but it is reported on the same schedule as a waiting one:
 * the runtime marks it leaked some time after it parked, so only its
 * park time is in the slot, and a leak judged before the timeout is then
 * never missed.
 *
 * Everything in a slot is written by its process, so nothing in a
 * message is the process's text: the reason is the kernel's name of a
 * built-in one, or "user(i)" for one the program named; comm is
 * sanitised; a table whose owner has died (its pid number may be
 * another process's by now) is not reported at all. The budget is per
 * user (struct gfibers_user): at most hung_warnings messages and 10 per
 * 5 s about one user's tables, so slots forged by one user cannot use up
 * the messages about another user's hung fibers.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/moduleparam.h>
#include <linux/ratelimit.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>

#include "internal.h"

/*
 * Seconds a fiber may wait before the watchdog reports it; 0 disables the
 * watchdog. Writable at run time; a change takes effect at once.
 */
static unsigned int gfibers_hung_timeout_secs = 120;

/*
 * Messages per user, counted while the user has tables; -1: unlimited.
 * Read at each message: a change applies at once.
 */
static int gfibers_hung_warnings = 10;
module_param_named(hung_warnings, gfibers_hung_warnings, int, 0644);
MODULE_PARM_DESC(hung_warnings,
		 "Hung-fiber messages per user (-1: unlimited, default 10)");

/*
 * Scan period: half the timeout, so a fiber is reported between T and
 * 1.5 T after it parked, capped so a long timeout still notices a change
 * of the parameter's value within a minute.
 */
#define GFIBERS_WATCHDOG_PERIOD(t)	(clamp((t) / 2, 1U, 60U) * HZ)

/* Slots scanned between two cond_resched() calls. */
#define GFIBERS_WATCHDOG_BATCH		1024

static void gfibers_watchdog_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(gfibers_watchdog_work, gfibers_watchdog_fn);

/*
 * Protects gfibers_watchdog_on, so that a write of the parameter never
 * queues the work once gfibers_watchdog_stop() has begun.
 */
static DEFINE_MUTEX(gfibers_watchdog_lock);
static bool gfibers_watchdog_on;

/* The cutoff of the previous scan; only the work touches it. */
static u64 gfibers_watchdog_cutoff;

/* Whether one more message about @u's tables may be printed; takes it. */
static bool gfibers_watchdog_budget(struct gfibers_user *u)
{
	int max = READ_ONCE(gfibers_hung_warnings);

	if (max >= 0 && u->warnings >= max)
		return false;
	if (!__ratelimit(&u->rs))
		return false;
	if (u->warnings < INT_MAX)
		u->warnings++;
	return true;
}

/*
 * The reason as the kernel names it: Go's or this ABI's string, or
 * "invalid(N)"; a program-named one as "user(i)", never its text.
 */
static void gfibers_watchdog_reason(struct gfibers_table *t, u32 reason,
				    char *buf, size_t len)
{
	u32 user = reason - GFIBERS_WAIT_USER_BASE;

	if (reason >= GFIBERS_WAIT_USER_BASE && user < GFIBERS_USER_REASONS)
		snprintf(buf, len, "user(%u)", user);
	else
		gfibers_reason_name(t, reason, buf, len);
}

static void gfibers_watchdog_report(struct gfibers_table *t,
				    const struct gfibers_slot *c,
				    unsigned int timeout)
{
	char reason[GFIBERS_REASON_NAME_LEN];
	char comm[TASK_COMM_LEN];
	struct task_struct *task;
	bool alive;

	/*
	 * The owner must still be alive: once its last thread has exited
	 * its pid number may be freed and reused, and a table outlives its
	 * owner when another process holds the descriptor. Checked right
	 * before the message: a number is reused only after its process
	 * has exited and been reaped, not within these few instructions.
	 */
	task = get_pid_task(t->owner, PIDTYPE_TGID);
	if (!task)
		return;
	alive = atomic_read(&task->signal->live) > 0;
	if (alive) {
		get_task_comm(comm, task);
		/* user-controlled: no newline or control byte in the log */
		gfibers_sanitize(comm);
	}
	if (!alive || !gfibers_watchdog_budget(t->user))
		goto out;
	gfibers_watchdog_reason(t, c->wait_reason, reason, sizeof(reason));
	atomic_long_inc(&gfibers_stats.warnings);
	if (c->status == GFIBERS_GLEAKED)
		pr_warn("pid %d (%s) fiber %llu leaked in '%s' (can never wake) for more than %u seconds at 0x%llx\n",
			pid_nr(t->owner), comm, c->fiber_id, reason, timeout,
			c->wait_pc);
	else
		pr_warn("pid %d (%s) fiber %llu blocked in '%s' for more than %u seconds at 0x%llx\n",
			pid_nr(t->owner), comm, c->fiber_id, reason, timeout,
			c->wait_pc);
	pr_warn("\"echo 0 > /sys/module/gfibers/parameters/hung_timeout_secs\" disables this message.\n");
out:
	put_task_struct(task);
}

static void gfibers_watchdog_scan(unsigned int timeout)
{
	u64 now = ktime_get_ns(), span = (u64)timeout * NSEC_PER_SEC;
	u64 prev = gfibers_watchdog_cutoff, cutoff;
	const struct gfibers_slot *s;
	struct gfibers_slot c;
	struct gfibers_table *t;
	u32 i, nr;

	/* Nothing can have waited that long yet. */
	if (now <= span)
		return;
	cutoff = now - span;
	/* Keep the cutoff monotonic when the timeout grows. */
	if (cutoff <= prev)
		return;
	for (t = gfibers_table_first(0); t; t = gfibers_table_next(t)) {
		nr = gfibers_table_nr_slots(t);
		for (i = 0; i < nr; i++) {
			if ((i + 1) % GFIBERS_WATCHDOG_BATCH == 0)
				cond_resched();
			s = gfibers_table_slot(t, i);
			if (!s || !gfibers_slot_read(s, &c))
				continue;
			if (c.fiber_id &&
			    (c.status == GFIBERS_GWAITING ||
			     c.status == GFIBERS_GLEAKED) &&
			    c.wait_since_ns > prev && c.wait_since_ns <= cutoff)
				gfibers_watchdog_report(t, &c, timeout);
		}
		cond_resched();
	}
	gfibers_watchdog_cutoff = cutoff;
}

static void gfibers_watchdog_fn(struct work_struct *work)
{
	unsigned int timeout = READ_ONCE(gfibers_hung_timeout_secs);

	if (!timeout)
		return;
	gfibers_watchdog_scan(timeout);
	queue_delayed_work(system_long_wq, &gfibers_watchdog_work,
			   GFIBERS_WATCHDOG_PERIOD(timeout));
}

/* Run a scan now if the watchdog is on and enabled. */
static void gfibers_watchdog_kick(void)
{
	mutex_lock(&gfibers_watchdog_lock);
	if (gfibers_watchdog_on && READ_ONCE(gfibers_hung_timeout_secs))
		mod_delayed_work(system_long_wq, &gfibers_watchdog_work, 0);
	mutex_unlock(&gfibers_watchdog_lock);
}

static int gfibers_hung_timeout_set(const char *val,
				    const struct kernel_param *kp)
{
	int err = param_set_uint(val, kp);

	if (!err)
		gfibers_watchdog_kick();
	return err;
}

static const struct kernel_param_ops gfibers_hung_timeout_ops = {
	.set	= gfibers_hung_timeout_set,
	.get	= param_get_uint,
};

module_param_cb(hung_timeout_secs, &gfibers_hung_timeout_ops,
		&gfibers_hung_timeout_secs, 0644);
MODULE_PARM_DESC(hung_timeout_secs,
		 "Report fibers waiting longer than this, in seconds (0: off, default 120)");

void gfibers_watchdog_start(void)
{
	mutex_lock(&gfibers_watchdog_lock);
	gfibers_watchdog_on = true;
	mutex_unlock(&gfibers_watchdog_lock);
	gfibers_watchdog_kick();
}

void gfibers_watchdog_stop(void)
{
	mutex_lock(&gfibers_watchdog_lock);
	gfibers_watchdog_on = false;
	mutex_unlock(&gfibers_watchdog_lock);
	cancel_delayed_work_sync(&gfibers_watchdog_work);
}
