/* SPDX-License-Identifier: MIT */
/*
 * gfiber.h - libgfiber, Go's concurrency for C, every fiber visible to
 * the kernel (/proc/gfibers) when gfibers.ko is loaded.
 *
 * The model is Go's G-M-P: fibers (G) run on threads (M) that hold one of
 * GF_PROCS processors (P). A fiber runs until it blocks in a call of this
 * library (channel, select, sleep, sync, IO wait, gf_park) or yields;
 * there is no preemption.
 *
 * Conventions, for every call below (the table of gfiber(3) lists them
 * call by call):
 *  - Errors: every call that can fail returns -1 with errno set (a
 *    constructor: NULL with errno); success is 0, or a count or index
 *    >= 0 where the call returns one (gf_select's case, gf_wait_fd's
 *    event, gf_read's bytes, gf_go's id). Go's panics (send on a closed
 *    channel, closing twice, unlocking an unlocked mutex) are errors
 *    here, documented on each call. Runtime bugs abort with "fatal
 *    error: ...". Calls whose result must not be ignored are declared
 *    GF_MUST_CHECK (warn_unused_result).
 *  - Blocking calls come in two forms: X blocks without limit, X_until
 *    is bounded by a deadline, a gf_deadline_t: an absolute time on
 *    gf_now()'s clock (CLOCK_MONOTONIC, ns) in a struct, so that a
 *    duration passed by mistake does not compile. Make one with
 *    gf_timeout(200 * GF_MILLISECOND) (from now) or gf_deadline_at(t)
 *    (a gf_now() time). GF_FOREVER never expires (X_until(...,
 *    GF_FOREVER) is X); GF_NOWAIT never blocks: it fails with EAGAIN
 *    where the call would block (Go's select default, TryLock). A
 *    deadline that has passed (gf_timeout(0), gf_timeout(-5)) still
 *    completes a call that can complete at once, and fails with
 *    ETIMEDOUT where it would block.
 *  - Durations are int64_t nanoseconds, only where the call means a
 *    duration (gf_sleep, gf_timer_new, gf_ticker_new, gf_timer_reset,
 *    gf_after): write them with GF_MILLISECOND and friends.
 *  - Blocking calls may only be made from a fiber (inside gf_main()).
 *    A plain thread may call the non-blocking ones (GF_NOWAIT, close,
 *    gf_ready); a call that would block there fails with EPERM. A
 *    fiber must not block its thread in the kernel for long
 *    (read(2) on a pipe, sleep(3), pthread_mutex_lock...): wrap such
 *    calls with gf_syscall_enter()/gf_syscall_exit() or use gf_read()/
 *    gf_write()/gf_wait_fd(), so that its processor runs other fibers.
 *  - errno and threads: a fiber that blocks may resume on another thread.
 *    The runtime carries errno across (it is saved and restored with the
 *    fiber), but glibc declares __errno_location() const, so a compiler
 *    may keep the address of the first thread's errno across a blocking
 *    call and read another thread's errno after it (GCC -O2 does). So
 *    this header redefines errno as (*gf_errno_location()), looked up
 *    anew at each use, in every file that includes it: nothing to do.
 *    It includes <errno.h> first itself, so that a later #include
 *    <errno.h> (include-guarded) cannot restore glibc's definition. A
 *    file that defines GF_ERRNO_UNSAFE before including this header keeps
 *    glibc's errno (a little faster) and must not read errno after a
 *    call that may block, in a fiber, except through gf_errno_location().
 *    (GF_ERRNO_SAFE, the former opt-in, is accepted and changes nothing.)
 *    The same trap holds for any thread-local variable of your own: read
 *    it through a function that is not declared const.
 */
#ifndef GFIBER_H
#define GFIBER_H

#include <errno.h>	/* first: errno is redefined below */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>	/* struct sockaddr, socklen_t */
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GF_API __attribute__((visibility("default")))

/* The calling thread's errno, looked up anew at each call (never const):
 * see "errno and threads" above. */
GF_API int *gf_errno_location(void);
#ifndef GF_ERRNO_UNSAFE
#undef errno
#define errno (*gf_errno_location())
#endif

/* Calls whose result must be checked: ignoring it is a bug (a case not
 * known, a lock not taken, a deadline passed unnoticed). */
#define GF_MUST_CHECK __attribute__((warn_unused_result))

/* Durations, int64_t nanoseconds (Go's time.Nanosecond...). */
#define GF_NANOSECOND	((int64_t)1)
#define GF_MICROSECOND	((int64_t)1000)
#define GF_MILLISECOND	((int64_t)1000000)
#define GF_SECOND	((int64_t)1000000000)

/*
 * A deadline of an X_until call: ns is an absolute gf_now() time, or -1
 * (GF_FOREVER), or 0 (GF_NOWAIT); any other value <= 0 is a time long
 * passed. A struct, so that an integer (a duration meant as a timeout)
 * passed where a deadline is wanted does not compile. Make one with
 * gf_timeout() or gf_deadline_at(); compare by .ns.
 */
typedef struct gf_deadline {
	int64_t ns;
} gf_deadline_t;

#ifdef __cplusplus
#define GF_FOREVER	(gf_deadline_t{ -1 })
#define GF_NOWAIT	(gf_deadline_t{ 0 })
#else
#define GF_FOREVER	((gf_deadline_t){ .ns = -1 })
#define GF_NOWAIT	((gf_deadline_t){ .ns = 0 })
#endif

/* A fiber. Valid while the fiber lives; see gf_park() for the rules. */
typedef struct gf_fiber gf_fiber_t;

/* ------------------------------------------------------------ fibers */

/*
 * gf_main - start the runtime and run fn(arg) as the main fiber (fiber 1
 * on the first call) until it returns.
 *
 * The calling thread becomes the runtime's first thread. The runtime
 * reads, once: GF_PROCS (processors, default: online CPUs), GF_STACK_SIZE
 * (default fiber stack, bytes, default 64 KiB), GF_GUARD_STACKS (how many
 * stacks get a real 64 KiB guard, default 8192; overflow detection and
 * its limits: docs/ulib.md), GF_CTX_MXCSR=always|compare (read at load:
 * how a switch restores MXCSR; by CPU vendor otherwise),
 * GF_REQUIRE_KMOD=1 (fail when /dev/gfibers cannot be used),
 * GF_FAKE_TABLE=1 (without the device, register into a private table of
 * the same layout: for benchmarks), GF_NOSIGQUIT=1 (no SIGQUIT dump),
 * GF_TRACEBACK=all (dumps show runtime frames too), GF_RAND_SEED=n (the
 * seed of the runtime's random choices - gf_select's among ready cases,
 * the order threads steal work in - taken anew from getrandom(2) at each
 * run otherwise: fix it to replay a run's choices).
 *
 * When fn returns, gf_main returns its value. Other fibers are not
 * waited for (as Go's main): those still runnable may go on running on
 * the runtime's other threads; parked ones stay parked. gf_main may be
 * called again later, from the same thread only, but not nested.
 *
 * When every fiber is parked and nothing can wake any of them (no timer,
 * IO wait or wrapped syscall pending, and no plain thread alive: see
 * below), the runtime prints "fatal error: all fibers are asleep -
 * deadlock!" and a dump to stderr, and aborts. A plain thread (one the
 * runtime did not start) may wake fibers at any time (gf_ready, close,
 * GF_NOWAIT sends), so while the process has more threads than the
 * runtime's own and those it had when the runtime started (read from
 * /proc/self/stat), the check stays silent and a deadlock shows as a
 * hang (SIGQUIT dumps it); without a readable /proc it is never made.
 *
 * Returns fn's value; -1 with errno: EINVAL (fn NULL, or nested call,
 * or another thread than the first), ENOMEM, EAGAIN (no thread); with
 * GF_REQUIRE_KMOD=1 also ENODEV (no /dev/gfibers: the module is not
 * loaded) or the errno that made the device unusable (EMFILE, ENFILE,
 * ENOMEM, EACCES, EINVAL for a module of another ABI version, said on
 * stderr with both versions, EPROTO for a table header that does not
 * match).
 *
 * Said once on stderr at start, the program running on: a /dev/gfibers
 * that exists but cannot be used ("libgfiber: not registered with
 * gfibers.ko ..."), and SIGQUIT dumps that cannot be set up for want of
 * a descriptor or a thread ("libgfiber: SIGQUIT dumps off ...").
 */
GF_API int gf_main(int (*fn)(void *arg), void *arg);

/* Optional attributes of a new fiber. Zeroed fields take the defaults. */
typedef struct gf_attr {
	const char *name;	/* copied, at most 31 bytes kept; NULL: none */
	size_t stack_size;	/* bytes, rounded up to pages; 0: default */
} gf_attr_t;

/*
 * gf_go - create a fiber running fn(arg), runnable at once (Go's "go").
 * May be called from any fiber or, inside gf_main, from any thread.
 * The new fiber inherits the caller's labels; its creator and creation
 * site (the caller of gf_go) are recorded for dumps.
 * Returns the new fiber's id (> 0); -1 with errno: EINVAL (fn NULL or
 * stack_size over 1 GiB), ENOMEM (no memory, or the stack cannot be
 * mapped or given its guard page: RLIMIT_AS, vm.max_map_count; nothing
 * is kept and a later call may succeed), EPERM (runtime not started).
 */
GF_API int64_t gf_go(void (*fn)(void *arg), void *arg);
GF_API int64_t gf_go_attr(void (*fn)(void *arg), void *arg,
			  const gf_attr_t *attr);

/* gf_yield - let other runnable fibers run (Go's runtime.Gosched). */
GF_API void gf_yield(void);

/* gf_id - the calling fiber's id (1 for the main fiber); 0 outside. */
GF_API int64_t gf_id(void);

/* gf_self - the calling fiber; NULL outside a fiber. */
GF_API gf_fiber_t *gf_self(void);

/* gf_fiber_id - id of a fiber (its handle must be valid). */
GF_API int64_t gf_fiber_id(const gf_fiber_t *f);

/* gf_exit - end the calling fiber now (as returning from its function).
 * Exiting the main fiber ends gf_main() with value 0. Outside a fiber
 * there is nothing to end: a fatal error (abort). */
GF_API __attribute__((noreturn)) void gf_exit(void);

/* gf_num_fibers - fibers alive (created, not exited), all states. */
GF_API int64_t gf_num_fibers(void);

/* ------------------------------------------------------------ park/ready */

/*
 * Wait reasons, numbered as in include/uapi/gfibers.h (the kernel ABI).
 * Programs name their own with gf_wait_reason().
 */
enum gf_wait_reason {
	GF_WAIT_CHAN_RECV = 1,
	GF_WAIT_CHAN_SEND = 2,
	GF_WAIT_SELECT = 3,
	GF_WAIT_SELECT_NO_CASES = 4,
	GF_WAIT_CHAN_RECV_NIL = 5,
	GF_WAIT_CHAN_SEND_NIL = 6,
	GF_WAIT_SLEEP = 7,
	GF_WAIT_IO = 8,
	GF_WAIT_SEMACQUIRE = 9,
	GF_WAIT_MUTEX_LOCK = 10,
	GF_WAIT_RWMUTEX_RLOCK = 11,
	GF_WAIT_RWMUTEX_LOCK = 12,
	GF_WAIT_COND_WAIT = 13,
	GF_WAIT_WAITGROUP_WAIT = 14,
	GF_WAIT_TIMER_IDLE = 15,
	GF_WAIT_SYSCALL = 17,
	GF_WAIT_JOIN = 18,
};

/*
 * gf_wait_reason - register a program-named wait reason ("db query"),
 * shown by dumps and /proc/gfibers. The same name returns the same
 * number. Returns the reason (>= 256) or -1 with errno: EINVAL (NULL,
 * empty or longer than 55 bytes), ENOSPC (63 names already registered).
 */
GF_API int gf_wait_reason(const char *name);

/*
 * The unlock callback of gf_park: called after the parking fiber is
 * suspended (its stack saved, status waiting) and before anything else
 * runs on its thread. Return true to stay parked, false to be made
 * runnable again at once (the wake-up condition turned out to hold).
 * It must not block or park.
 */
typedef bool (*gf_unlock_fn)(gf_fiber_t *self, void *lock);

/*
 * gf_park - Go's gopark: suspend the calling fiber with a wait reason
 * until someone calls gf_ready() on it.
 *
 * The pattern (how every blocking call of this library is built): take
 * your lock, check the condition, record gf_self() where the waker will
 * find it, then gf_park(unlock, &lock, reason): the lock is released by
 * unlock() only once the fiber is fully suspended, so a waker that takes
 * the lock, finds the fiber and calls gf_ready() can never race with the
 * suspension. The wait site shown in dumps and /proc/gfibers is the
 * caller of gf_park (for built-in calls: the caller of the blocking
 * call). unlockf may be NULL (then lock is ignored). Wake-ups are not
 * spurious: a fiber returns from gf_park only after one gf_ready() (or
 * its unlock returned false); still, re-check your condition.
 * Must be called from a fiber; a call outside aborts.
 */
GF_API void gf_park(gf_unlock_fn unlockf, void *lock, int reason);

/*
 * gf_ready - Go's goready: make a fiber parked by gf_park runnable. It
 * will run soon, on the caller's processor when there is one. Exactly
 * one gf_ready per park; calling it on a fiber that is not parked, or
 * on NULL, is a bug and aborts (fatal error).
 */
GF_API void gf_ready(gf_fiber_t *f);

/* ------------------------------------------------------------ time */

/* gf_now - CLOCK_MONOTONIC in nanoseconds: the clock of every deadline. */
GF_API int64_t gf_now(void);

/*
 * gf_timeout - the deadline ns nanoseconds from now (gf_now() + ns,
 * saturating at INT64_MAX: never, in practice). ns <= 0 gives a deadline
 * already passed: the call it bounds completes if it can at once, and
 * times out where it would block (see the conventions above for how
 * that differs from GF_NOWAIT). Never fails.
 */
GF_API gf_deadline_t gf_timeout(int64_t ns);
/* gf_deadline_at - the deadline at when, a gf_now() time; when <= 0 is a
 * time long passed (never GF_FOREVER or GF_NOWAIT). Never fails. */
GF_API gf_deadline_t gf_deadline_at(int64_t when);

/*
 * gf_sleep - park for at least ns nanoseconds ("sleep"); ns <= 0 yields.
 * gf_sleep_until - park until the deadline; one already passed (and
 * GF_NOWAIT) yields.
 * Return 0; -1 with EPERM outside a fiber, EINVAL for
 * gf_sleep_until(GF_FOREVER) (a sleep without end: park instead).
 */
GF_API int gf_sleep(int64_t ns);
GF_API int gf_sleep_until(gf_deadline_t until);

/* ------------------------------------------------------------ channels */

/*
 * A channel of elemsize-byte values (Go's chan), reference counted: the
 * creator holds one reference; gf_chan_ref() adds one, gf_chan_unref()
 * drops one and frees the channel with the last. A NULL channel is Go's
 * nil channel: send and receive block forever (reasons "chan send (nil
 * chan)", "chan receive (nil chan)"; without a deadline the fiber is
 * leaked from the start, as in a select with no channel), close fails
 * with EINVAL.
 *
 * Leaks proven by references: the convention is that a fiber given a
 * channel takes its own reference (gf_chan_ref) and drops it when done.
 * When every remaining reference is then held by fibers parked on the
 * channel, nothing can ever wake them: the runtime marks them leaked
 * (status 10 in /proc/gfibers, "(leaked)" in dumps) at that moment - the
 * last other reference dropped, or the last of them parking. Channels on
 * which gf_chan_ref was never called (one handle shared by everybody)
 * are only judged when their last reference is dropped with fibers still
 * parked on them. A fiber in gf_select without a deadline is judged over
 * all its channels: leaked when each is held only by fibers parked on it
 * (not in a select) and by this select; selects sharing a channel are
 * not judged. A leaked fiber woken after all (the convention broken)
 * simply runs again.
 *
 * The rule for new fibers: a fiber handed a channel takes its reference
 * before it first blocks, yields or returns - best in the creator,
 * gf_go(worker, gf_chan_ref(c)), or as the worker's first statement.
 * While a fiber exists that was created and has not yet parked, yielded
 * or exited, no fiber is marked leaked: the judgment waits until none
 * is, then is made again (a true leak is marked then, a little later).
 * A fiber that runs long without ever blocking delays marks so. Sync
 * objects (below) are the caller's memory, which a deferred judgment
 * could outlive: a judgment of theirs that falls while some fiber is
 * fresh is skipped, and made again only at the object's next park or
 * unref (a leak may then stay unmarked; never a false mark).
 * An armed timer's channel (gf_timer_*, gf_after) is never judged: the
 * timer will send; once it fired or was stopped, it is judged as any.
 * A leaked mark so always means "can never wake" for programs that
 * follow the convention.
 *
 * Lifetime: the channel is freed when its last reference is dropped and
 * no fiber waits on it; with fibers still waiting it lives on until the
 * last of them leaves (a deadline waiter times out). A handle must not
 * be used after its holder's last gf_chan_unref, as after free(3).
 */
typedef struct gf_chan gf_chan_t;

/*
 * gf_chan_new - a channel of cap elements of elemsize bytes; cap 0 is
 * unbuffered (a send waits for a receiver). elemsize may be 0. Every
 * send copies elemsize bytes from its elem, every receive into it: the
 * element type is the caller's to keep (timer channels carry an int64_t).
 * Returns the channel; NULL with errno: EINVAL (elemsize over 65536 or
 * cap over 2^31), ENOMEM.
 */
GF_API GF_MUST_CHECK gf_chan_t *gf_chan_new(size_t elemsize, size_t cap);

/* gf_chan_ref - take one more reference; returns c (NULL: NULL). */
GF_API gf_chan_t *gf_chan_ref(gf_chan_t *c);

/* gf_chan_elemsize - the size of c's elements, as made (0: nil). */
GF_API size_t gf_chan_elemsize(gf_chan_t *c);

/*
 * gf_chan_unref - drop one reference. The last one frees the channel,
 * unless fibers are parked on it: they keep it (they are then leaked,
 * and marked so). If the references left are all held by fibers parked
 * on the channel, they are marked leaked. Dropping more references than
 * were taken is a fatal error. NULL: nothing.
 */
GF_API void gf_chan_unref(gf_chan_t *c);

/*
 * gf_chan_send - send the elemsize bytes at elem (Go's c <- v): FIFO
 * among senders; blocks ("chan send") until a receiver takes it or
 * buffer space frees. elem may be NULL only when elemsize is 0.
 * Returns 0; -1 with errno EPIPE if the channel is or becomes closed
 * (Go panics), EINVAL (elem NULL, elemsize > 0: nothing is sent), EPERM
 * (it would block outside a fiber). gf_chan_send_until: also EAGAIN
 * (GF_NOWAIT and no room), ETIMEDOUT. Neither is GF_MUST_CHECK: a send
 * that may be dropped (gf_chan_send_until(c, &v, GF_NOWAIT), Go's select
 * with a default) is an idiom.
 */
GF_API int gf_chan_send(gf_chan_t *c, const void *elem);
GF_API int gf_chan_send_until(gf_chan_t *c, const void *elem,
			      gf_deadline_t until);

/*
 * gf_chan_recv - receive into elem (may be NULL to discard) (Go's
 * v, ok := <-c): FIFO; blocks ("chan receive"). Returns 0 with a value;
 * -1 with errno EPIPE when the channel is closed and drained (elem
 * zeroed; ok == false in Go: the same errno as a send on a closed
 * channel), EPERM (it would block outside a fiber). gf_chan_recv_until:
 * also EAGAIN (GF_NOWAIT, nothing to receive), ETIMEDOUT. The loop:
 *
 *	while (gf_chan_recv(c, &v) == 0)
 *		use(v);
 *	if (errno != EPIPE)
 *		fail();
 *
 * Neither is GF_MUST_CHECK: gf_chan_recv(done, NULL), Go's <-done,
 * waits for a close or a value and needs no result, and
 * gf_chan_recv_until(c, NULL, GF_NOWAIT) drains a value that may be
 * there (a timer's, before gf_timer_reset).
 */
GF_API int gf_chan_recv(gf_chan_t *c, void *elem);
GF_API int gf_chan_recv_until(gf_chan_t *c, void *elem, gf_deadline_t until);

/*
 * gf_chan_close - close: buffered values can still be received, then
 * receives fail with EPIPE; every waiting receiver is woken (EPIPE),
 * every waiting sender fails with EPIPE. Returns 0; -1 with errno EPIPE
 * if already closed, EINVAL for a nil channel (Go panics in both cases).
 */
GF_API int gf_chan_close(gf_chan_t *c);

/* gf_chan_len, gf_chan_cap - buffered values now, buffer size (0: nil). */
GF_API size_t gf_chan_len(gf_chan_t *c);
GF_API size_t gf_chan_cap(gf_chan_t *c);

/* ------------------------------------------------------------ select */

enum gf_select_dir { GF_SELECT_RECV = 1, GF_SELECT_SEND = 2 };

/* One case of gf_select(); chan NULL is a nil channel (never ready). */
typedef struct gf_select_case {
	gf_chan_t *chan;
	int dir;		/* GF_SELECT_RECV or GF_SELECT_SEND */
	void *elem;		/* value to send (NULL only for elemsize 0) /
				 * where to receive (or NULL: discard) */
	bool ok;		/* out: received a value (recv), sent (send) */
} gf_select_case_t;

/*
 * gf_select - Go's select over n cases: when several are ready one is
 * chosen uniformly at random; otherwise blocks ("select", or "select (no
 * cases)" when every channel is nil: leaked from the start unless a
 * deadline bounds it) until one is. gf_select_until(..., GF_NOWAIT) is
 * Go's default clause. A receive on a closed channel is ready (ok false);
 * a send on a closed channel is ready and fails (ok false; Go panics).
 * Returns the chosen index (>= 0); -1 with errno EINVAL (n < 0,
 * n > 65536, cases NULL with n > 0, bad dir, a send case on a channel
 * with elemsize > 0 and elem NULL), ENOMEM (more than 8 cases need
 * memory), EPERM (it would block outside a fiber); gf_select_until
 * also EAGAIN (GF_NOWAIT, none ready), ETIMEDOUT. cases may be NULL
 * when n is 0 (an empty select).
 */
GF_API GF_MUST_CHECK int gf_select(gf_select_case_t *cases, int n);
GF_API GF_MUST_CHECK int gf_select_until(gf_select_case_t *cases, int n,
					 gf_deadline_t until);

/* ------------------------------------------------------------ timers */

/*
 * Timers and tickers deliver the firing time on a channel of capacity 1
 * (Go's time.Timer, time.Ticker): an int64_t, the gf_now() time it
 * fired, so receive into an int64_t:
 *
 *	int64_t when;
 *
 *	if (gf_chan_recv(gf_timer_chan(t), &when) == 0)
 *		...
 *
 * They run from a heap per processor: starting, stopping and resetting
 * cost O(log n). Durations (ns) are relative; one that would pass
 * INT64_MAX nanoseconds of the clock saturates there: never, in practice.
 */
typedef struct gf_timer gf_timer_t;

/* gf_timer_new - fire once after ns (<= 0: at once). NULL with ENOMEM. */
GF_API GF_MUST_CHECK gf_timer_t *gf_timer_new(int64_t ns);
/* gf_ticker_new - fire every period ns (> 0, else EINVAL); a slow reader
 * drops ticks, as Go. */
GF_API GF_MUST_CHECK gf_timer_t *gf_ticker_new(int64_t period);
/* gf_timer_chan - the channel (owned by the timer, valid until free);
 * NULL with EINVAL for t NULL. */
GF_API gf_chan_t *gf_timer_chan(gf_timer_t *t);
/*
 * gf_timer_stop - stop it. Returns 1 if that prevented a firing, 0 if
 * it had already fired (its value may sit in the channel, as in Go
 * before 1.23) or been stopped; -1 with errno EINVAL for t NULL.
 */
GF_API int gf_timer_stop(gf_timer_t *t);
/*
 * gf_timer_reset - restart with a new duration (period for tickers; a
 * timer's ns <= 0 fires at once). Returns 1 if the timer was active, 0
 * if not; -1 with errno EINVAL for t NULL or a ticker with ns <= 0 (a
 * period must be > 0; the ticker is left as it was).
 */
GF_API int gf_timer_reset(gf_timer_t *t, int64_t ns);
/*
 * gf_timer_free - stop and free it, and its channel reference; NULL:
 * nothing. As with free(3), t is gone after: a second gf_timer_free or
 * any other call on it is undefined; the runtime catches it (fatal
 * error "not a live timer (already freed)") while the memory was not
 * reused.
 */
GF_API void gf_timer_free(gf_timer_t *t);
/*
 * gf_after - Go's time.After: a new channel receiving the time once,
 * after ns (<= 0: at once). The caller owns one reference (gf_chan_unref
 * it); the timer holds another until it fired, which does not count as
 * gf_chan_ref having been called. NULL with ENOMEM.
 */
GF_API GF_MUST_CHECK gf_chan_t *gf_after(int64_t ns);

/* ------------------------------------------------------------ sync */

/*
 * Synchronisation objects, Go's sync package. All are plain structs,
 * zero-initialised ({0} or GF_*_INIT) ready to use, never copied once
 * used, no destroy call. Each parks with its own wait reason.
 *
 * Leaks proven by references, as for channels: each object (but once)
 * has gf_<type>_ref / gf_<type>_unref (or the type-generic gf_ref /
 * gf_unref below). A program that follows the convention - every fiber
 * that will lock, signal, release, Done or wait on the object holds a
 * reference while it may still do so, and drops it when done - gets its
 * fibers parked on the object marked leaked (status 10, "(leaked)" in
 * dumps) at the moment every reference left is held by fibers parked on
 * it in a call without a deadline: nobody who could wake them is left.
 * Objects on which ref was never called are never judged. References
 * are counts, not ownership: an object stays the caller's memory.
 * Dropping more references than were taken is a fatal error.
 *
 * Errors common to every call below: a NULL object fails with EINVAL
 * (gf_*_ref returns NULL; gf_*_unref(NULL) does nothing). A call that
 * would block fails outside a fiber with EPERM (the uncontended ones -
 * a free mutex, a positive semaphore, a zero wait group - succeed from
 * any thread). Deadlines as everywhere: each blocking call X has
 * X_until; GF_NOWAIT fails with EAGAIN where the call would block, a
 * deadline passed with ETIMEDOUT. The calls Go declares without a
 * result (Lock, Wait, Signal...) return 0 here, or -1 with these errnos.
 * No call touches its object once its waiter can return from the wait:
 * an object may live on the waiter's stack (see gf_waitgroup_done_unref
 * for the reference of the fiber that wakes it).
 *
 * Where a referenced object may live: every gf_*_unref touches the
 * object, so it must outlive the last one. A wait returns as soon as
 * its condition holds - gf_waitgroup_wait once the count is 0 - while
 * the fiber whose Done made it so may still have to drop its reference:
 * with gf_waitgroup_done then gf_waitgroup_unref, a wait group on the
 * waiter's stack is written after the waiter returned (use-after-return:
 * crashes, hangs). Either drop the reference in the same step
 * (gf_waitgroup_done_unref), or put referenced objects in static storage
 * or in memory that outlives every holder:
 *
 *	static void worker(void *arg)
 *	{
 *		gf_waitgroup_t *wg = arg;
 *
 *		do_work();
 *		gf_waitgroup_done_unref(wg);	// never touches wg after
 *	}
 *
 *	gf_waitgroup_t wg = GF_WAITGROUP_INIT;	// on this fiber's stack
 *
 *	gf_waitgroup_add(&wg, n);
 *	for (i = 0; i < n; i++)
 *		gf_go(worker, gf_waitgroup_ref(&wg));
 *	gf_waitgroup_wait(&wg);			// wg may end here
 *
 * The same holds for a mutex, cond or semaphore on a stack: the last
 * fiber to unref it must do so before the owner of the stack can return.
 */
struct gf__waitq { void *head, *tail; };

/* Leak-proof bookkeeping of one object, under its spinlock. */
struct gf__leak {
	int refs;		/* references held (gf_*_ref) */
	int nplain;		/* fibers parked on it without a deadline */
	bool counted;		/* ref was called once: judged from then on */
};

/* Mutex ("sync.Mutex.Lock"): FIFO hand-off, not recursive. */
typedef struct gf_mutex {
	int lock;		/* internal spinlock */
	int locked;
	struct gf__waitq q;
	struct gf__leak leak;
} gf_mutex_t;
#define GF_MUTEX_INIT { 0 }
/* gf_mutex_lock - blocks until acquired: 0; -1 with EINVAL (NULL),
 * EPERM (locked, and the caller is not a fiber). */
GF_API int gf_mutex_lock(gf_mutex_t *m);
/* gf_mutex_trylock - 0 when acquired, -1 with EBUSY, EINVAL (NULL). */
GF_API GF_MUST_CHECK int gf_mutex_trylock(gf_mutex_t *m);
/* gf_mutex_lock_until - 0; -1 with EAGAIN (GF_NOWAIT), ETIMEDOUT,
 * EINVAL (NULL), EPERM (it would block outside a fiber). */
GF_API GF_MUST_CHECK int gf_mutex_lock_until(gf_mutex_t *m,
					     gf_deadline_t until);
/* gf_mutex_unlock - 0; -1 with EPERM when not locked (Go: fatal),
 * EINVAL (NULL). Any fiber or thread may unlock (no owner, as Go's).
 * Not GF_MUST_CHECK, as gf_mutex_lock: their errors are bugs of the
 * caller's, never conditions of a correct program to handle. */
GF_API int gf_mutex_unlock(gf_mutex_t *m);
/* gf_mutex_ref / gf_mutex_unref - leak-proof references (above). */
GF_API gf_mutex_t *gf_mutex_ref(gf_mutex_t *m);
GF_API void gf_mutex_unref(gf_mutex_t *m);

/* Readers-writer mutex ("sync.RWMutex.RLock", "sync.RWMutex.Lock"):
 * a waiting writer blocks new readers, as Go's. */
typedef struct gf_rwmutex {
	int lock;
	int readers;		/* > 0 readers, -1 a writer */
	int writers_waiting;
	struct gf__waitq rq, wq;
	struct gf__leak leak;
} gf_rwmutex_t;
#define GF_RWMUTEX_INIT { 0 }
/* rlock / lock - block until acquired: 0; -1 with EINVAL (NULL), EPERM
 * (it would block outside a fiber). */
GF_API int gf_rwmutex_rlock(gf_rwmutex_t *rw);
/* 0; -1 with EPERM when not read-locked, EINVAL (NULL). */
GF_API int gf_rwmutex_runlock(gf_rwmutex_t *rw);
GF_API int gf_rwmutex_lock(gf_rwmutex_t *rw);
/* 0; -1 with EPERM when not write-locked, EINVAL (NULL). */
GF_API int gf_rwmutex_unlock(gf_rwmutex_t *rw);
/*
 * gf_rwmutex_rlock_until / gf_rwmutex_lock_until - as rlock / lock
 * with a deadline: 0 when acquired; -1 with EAGAIN (GF_NOWAIT, not free
 * now: Go's TryRLock / TryLock), ETIMEDOUT, EINVAL, EPERM. A writer that
 * gives up lets in the readers that queued behind it.
 */
GF_API GF_MUST_CHECK int gf_rwmutex_rlock_until(gf_rwmutex_t *rw,
						gf_deadline_t until);
GF_API GF_MUST_CHECK int gf_rwmutex_lock_until(gf_rwmutex_t *rw,
					       gf_deadline_t until);
GF_API gf_rwmutex_t *gf_rwmutex_ref(gf_rwmutex_t *rw);
GF_API void gf_rwmutex_unref(gf_rwmutex_t *rw);

/* Condition variable ("sync.Cond.Wait") tied to a gf_mutex_t. */
typedef struct gf_cond {
	int lock;
	struct gf__waitq q;
	struct gf__leak leak;
} gf_cond_t;
#define GF_COND_INIT { 0 }
/*
 * gf_cond_wait - unlock m, wait for a signal, relock m: 0. m must be
 * locked (no owner is kept, as in Go: a mutex locked by another fiber
 * is not told apart). -1 with errno, and m left as it was: EINVAL (c or
 * m NULL), EPERM (m not locked, or the caller is not a fiber).
 */
GF_API int gf_cond_wait(gf_cond_t *c, gf_mutex_t *m);
/* gf_cond_wait_until - as wait; -1 also with EAGAIN (GF_NOWAIT) or
 * ETIMEDOUT, m locked again (a deadline passed at the call: m never
 * unlocked). */
GF_API GF_MUST_CHECK int gf_cond_wait_until(gf_cond_t *c, gf_mutex_t *m,
					    gf_deadline_t until);
/* wake one waiter (FIFO) / all: 0; -1 with EINVAL (NULL). */
GF_API int gf_cond_signal(gf_cond_t *c);
GF_API int gf_cond_broadcast(gf_cond_t *c);
GF_API gf_cond_t *gf_cond_ref(gf_cond_t *c);
GF_API void gf_cond_unref(gf_cond_t *c);

/* Wait group ("sync.WaitGroup.Wait"). */
typedef struct gf_waitgroup {
	int lock;
	int64_t count;
	struct gf__waitq q;
	struct gf__leak leak;
} gf_waitgroup_t;
#define GF_WAITGROUP_INIT { 0 }
/* gf_waitgroup_add - add delta; 0, or -1 with EINVAL if the counter
 * would go negative (Go panics; the counter is left unchanged) or wg is
 * NULL. When it reaches 0 every waiter is woken. */
GF_API int gf_waitgroup_add(gf_waitgroup_t *wg, int64_t delta);
GF_API int gf_waitgroup_done(gf_waitgroup_t *wg);	/* add(-1) */
/*
 * gf_waitgroup_done_unref - Done, dropping the caller's reference in the
 * same step (errors as add; on error the reference is kept). A wait
 * group on the waiter's stack ends when the wait returns, which may be
 * at once after the last Done: a gf_waitgroup_unref after it would
 * touch freed memory. Use this instead of done + unref.
 */
GF_API int gf_waitgroup_done_unref(gf_waitgroup_t *wg);
/* gf_waitgroup_wait - until 0: 0; -1 with EINVAL (NULL), EPERM (not 0,
 * outside a fiber). */
GF_API int gf_waitgroup_wait(gf_waitgroup_t *wg);
/* gf_waitgroup_wait_until - 0 once the counter is 0; -1 with EAGAIN
 * (GF_NOWAIT and not 0), ETIMEDOUT, EINVAL, EPERM. */
GF_API GF_MUST_CHECK int gf_waitgroup_wait_until(gf_waitgroup_t *wg,
						 gf_deadline_t until);
GF_API gf_waitgroup_t *gf_waitgroup_ref(gf_waitgroup_t *wg);
GF_API void gf_waitgroup_unref(gf_waitgroup_t *wg);

/* Once: fn runs exactly once; concurrent callers wait for it to end.
 * Never judged for leaks: its waiters wait for fn, run by a live fiber. */
typedef struct gf_once {
	int done;
	gf_mutex_t m;
} gf_once_t;
#define GF_ONCE_INIT { 0 }
/* gf_once - 0 once fn has run (here or in a concurrent caller); -1 with
 * EINVAL (o or fn NULL), EPERM (fn running elsewhere, and the caller is
 * not a fiber: it cannot wait). */
GF_API int gf_once(gf_once_t *o, void (*fn)(void *arg), void *arg);

/* Counting semaphore ("semacquire"), FIFO. */
typedef struct gf_sem {
	int lock;
	int64_t count;
	struct gf__waitq q;
	struct gf__leak leak;
} gf_sem_t;
#define GF_SEM_INIT(n) { .count = (n) }
/* gf_sem_acquire - take one unit, waiting until available: 0; -1 with
 * EINVAL (NULL), EPERM (it would block outside a fiber).
 * gf_sem_acquire_until - the same, bounded: -1 also with EAGAIN
 * (GF_NOWAIT: Go's TryAcquire), ETIMEDOUT. */
GF_API int gf_sem_acquire(gf_sem_t *s);
GF_API GF_MUST_CHECK int gf_sem_acquire_until(gf_sem_t *s,
					      gf_deadline_t until);
/* gf_sem_release - give one back: 0; -1 with EINVAL (NULL). */
GF_API int gf_sem_release(gf_sem_t *s);
GF_API gf_sem_t *gf_sem_ref(gf_sem_t *s);
GF_API void gf_sem_unref(gf_sem_t *s);

#ifndef __cplusplus
/* gf_ref(x) / gf_unref(x) - the reference calls of x's type (channel or
 * sync object); gf_ref returns x. */
#define gf_ref(x) _Generic((x),						\
	gf_chan_t *: gf_chan_ref, gf_mutex_t *: gf_mutex_ref,		\
	gf_rwmutex_t *: gf_rwmutex_ref, gf_cond_t *: gf_cond_ref,	\
	gf_waitgroup_t *: gf_waitgroup_ref, gf_sem_t *: gf_sem_ref)(x)
#define gf_unref(x) _Generic((x),					\
	gf_chan_t *: gf_chan_unref, gf_mutex_t *: gf_mutex_unref,	\
	gf_rwmutex_t *: gf_rwmutex_unref, gf_cond_t *: gf_cond_unref,	\
	gf_waitgroup_t *: gf_waitgroup_unref, gf_sem_t *: gf_sem_unref)(x)
#endif

/* ------------------------------------------------------------ labels */

/*
 * Labels (pprof's): key=value strings on the calling fiber, inherited by
 * the fibers it creates, shown in dumps. gf_label_set with value NULL
 * deletes. At most 8 labels per fiber, 63 bytes per key and value.
 * Return 0; -1 with errno EINVAL (bad key/too long), ENOSPC, EPERM
 * (outside a fiber).
 */
GF_API int gf_label_set(const char *key, const char *value);
/* gf_label_get - the value, valid until changed; NULL if none. */
GF_API const char *gf_label_get(const char *key);

/* ------------------------------------------------------------ dumps */

/*
 * gf_dump - write every live fiber to fd, Go style:
 *
 *	fiber 7 [chan receive, 5 minutes]:
 *	user_fn(...)
 *		/src/server.c:88 +0x2a
 *	...
 *	created by spawner in fiber 1
 *		/src/server.c:41 +0x18
 *	labels: {req=42}
 *
 * Frames are the user's (runtime frames hidden unless GF_TRACEBACK=all),
 * walked through frame pointers: compile with -fno-omit-frame-pointer
 * for full traces; the wait site (first frame) is always exact. Each
 * frame is the function, then its file:line (of the call, for a caller)
 * and offset; an inlined call is a frame of its own, with no offset.
 * Names come from DWARF through libdw.so.1 (elfutils; Debian's libdw1),
 * loaded at the first dump, never linked: debug info in the binary or in
 * a separate file found by build-id under /usr/lib/debug. Without it
 * (not installed, GF_NO_LIBDW=1, a static binary) the ELF symbol tables
 * name the functions ("user_fn(...)" then "\t? +0x2a"), and the dump's
 * first line says so and why: "symbols: symbol table only (...)". A
 * fiber whose function blocked in a tail call shows "(blocked in a tail
 * call)" after its function's line. Fibers not parked show their id and status only (they may be
 * running: the dump does not stop the world). A parked fiber is held
 * still only while what is printed of it is copied, never while it is
 * written: a slow or full fd delays the dump, not the fiber's wakers.
 * SIGQUIT prints the same to stderr and goes on (GF_NOSIGQUIT=1: not
 * installed), from a thread of the runtime's (the handler only tells
 * it); a fork child gets its own, so that its SIGQUIT dumps the child.
 * Returns the number of fibers written; -1 with errno: EBADF (fd < 0),
 * or what write(2) failed with (the dump stops at the first failure).
 */
GF_API int gf_dump(int fd);

/*
 * gf_leakcheck - goleak for tests: waits until the deadline (required:
 * gf_timeout(GF_SECOND); GF_NOWAIT or a passed one checks once) for
 * every fiber other than the caller and the ids in ignore[] to exit;
 * then, if some are still alive, writes them to fd as gf_dump does
 * (each with its creator) and returns how many; 0 when none leaked; -1
 * with errno EPERM outside a fiber, EINVAL (ignore NULL with nignore >
 * 0, or GF_FOREVER: a leaked fiber would hang the check).
 */
GF_API GF_MUST_CHECK int gf_leakcheck(int fd, const int64_t *ignore,
				      size_t nignore, gf_deadline_t until);

/* ------------------------------------------------------------ syscalls, IO */

/*
 * gf_syscall_enter / gf_syscall_exit - bracket a call that may block the
 * thread in the kernel (Go's entersyscall/exitsyscall). In between the
 * fiber is "syscall"; if it stays there for more than ~20 us its
 * processor is handed to another thread so that other fibers run. No
 * other gf_ call may be made in between. errno is preserved.
 */
GF_API void gf_syscall_enter(void);
GF_API void gf_syscall_exit(void);

/*
 * gf_wait_fd - park ("IO wait") until fd is ready for events (EPOLLIN
 * and/or EPOLLOUT, no other bit); gf_wait_fd_until: or the deadline.
 * The fd may be blocking or not (its flags are not touched). Readiness
 * is edge-triggered and remembered while nobody waits, so a wake-up may
 * be stale (the data already taken): retry the IO, and wait again on
 * EAGAIN. Returns the ready event (> 0); -1 with errno: ETIMEDOUT and
 * EAGAIN (gf_wait_fd_until: the deadline passed, GF_NOWAIT), EINVAL (no
 * event, or another bit), EBADF (fd negative or not open; or closed
 * with gf_close while waiting; or closed with close(2) while waiting,
 * reported once the number is waited on again), EPERM (fd not pollable,
 * a regular file: from epoll_ctl; or it would block outside a fiber),
 * ENOSPC/ENOMEM from epoll_ctl, EMFILE/ENFILE/ENOMEM when the poller
 * cannot be made (the first wait makes it: an epoll instance and an
 * eventfd, two descriptors; on failure nothing is kept and the next
 * call tries again).
 *
 * One registration per fd number: waiting on a fd of a file that is
 * later closed with close(2) leaves the waiter parked until someone
 * waits on that number again (then EBADF; never the next file's
 * readiness): close a fd that fibers may wait on with gf_close. To
 * notice such a close, each wait re-registers the fd (one epoll_ctl,
 * which finds it registered), except on a socket registered for its
 * life by the network calls (below), whose waits make no syscall.
 */
GF_API int gf_wait_fd(int fd, int events);
GF_API GF_MUST_CHECK int gf_wait_fd_until(int fd, int events,
					  gf_deadline_t until);

/*
 * gf_read / gf_write - read(2)/write(2) that park the fiber ("IO wait")
 * instead of blocking its thread while fd is not ready. The fd's
 * O_NONBLOCK flag is never changed (it is shared by every fd of the
 * open file, a shell's terminal for one). Sockets are tried with
 * MSG_DONTWAIT; any other fd is polled (timeout 0) and, once ready,
 * read or written as a syscall (gf_syscall_enter/exit): a blocking fd
 * emptied meanwhile by another reader then blocks this thread only, its
 * processor handed to other fibers; a regular file is always ready.
 * A socket's attempt is its recv/send alone; a wait registers the fd
 * as gf_wait_fd's (not at all on a network call's socket, below).
 * gf_write on a socket raises SIGPIPE as write(2) (gf_net_write: not).
 * Return as read(2)/write(2) (so a blocking fd's write may take several
 * waits, as write(2) would block); -1 with read(2)/write(2)'s errno or
 * gf_wait_fd's (EBADF also when gf_close closed fd during the call,
 * EPERM when it would block outside a fiber, EMFILE, ENFILE, ENOMEM if
 * the poller cannot be made).
 */
GF_API GF_MUST_CHECK ssize_t gf_read(int fd, void *buf, size_t n);
GF_API GF_MUST_CHECK ssize_t gf_write(int fd, const void *buf, size_t n);

/*
 * gf_close - close(2) for a fd that fibers may wait on (Go's
 * poll.FD.Close): first every fiber waiting on fd in gf_wait_fd,
 * gf_read, gf_write or a network call (gf_net_*) is woken with EBADF and new waits on the number
 * are held off, then fd leaves the poller and is closed; only then can
 * the number be reused. A gf_read/gf_write that began before and had
 * not parked yet fails with EBADF too; one inside its read/write(2) on
 * fd at that moment holds the number open, and the close(2) is done as
 * it returns (as Go's last reference does): gf_close then returns 0 at
 * once. Until the close(2) is done, waits on the number are held off.
 * May be called from any thread. Returns close(2)'s result: 0; -1 with
 * its errno (EBADF: fd negative or not open, EINTR, EIO).
 */
GF_API int gf_close(int fd);

/* ------------------------------------------------------------ network */

/*
 * TCP over the poller, in Go's shape (net.Listen, Accept, Dial, Conn's
 * Read/Write/SetDeadline/Close). A socket made by these calls (listen,
 * accept, dial) is non-blocking and close-on-exec, with TCP_NODELAY
 * (accepted and dialed TCP connections, as Go's), and registered in
 * the poller once for its life: a read or write is one recv(2)/send(2),
 * plus one park ("IO wait", shown at the caller's line) when it would
 * block - no fcntl(2), no epoll_ctl(2). A socket of your own may be
 * passed to the calls that take a fd: it keeps its blocking mode (the
 * O_NONBLOCK flag is never changed) and is registered for its life at
 * its first wait. Either way close it with gf_net_close() (or
 * gf_close()), never close(2): a number registered for its life whose
 * file went away with close(2) is not noticed, and waits on the
 * number's next file would not wake. These calls need a socket: any
 * other fd fails with ENOTSOCK (use gf_read/gf_write).
 *
 * Addresses are "host:port": "127.0.0.1:8080", "[::1]:8080",
 * "localhost:0" (port 0: the kernel picks one, see gf_net_port), or
 * ":8080" (gf_net_listen: every interface, IPv6 and IPv4 on one
 * socket; gf_net_dial: the local system). The port is decimal, 0 to
 * 65535; an IPv6 address is bracketed; a host name is looked up with
 * getaddrinfo(3), as a syscall (gf_syscall_enter/exit: it may take a
 * DNS round trip). A malformed address ("", ":", "host", "[::1",
 * "::1:80", "h:http", "h:65536") fails with EINVAL; a name that cannot
 * be looked up with ENXIO (no such host, or no address), EAGAIN (the
 * resolver failed for now), EIO (it failed for good).
 *
 * Every blocking call has an _until variant taking an absolute deadline
 * as its last argument (as everywhere: gf_now() + timeout, GF_FOREVER,
 * GF_NOWAIT); the plain call waits without limit. A socket also has a
 * read and a write deadline of its own (gf_net_set_deadline, Go's
 * SetReadDeadline/SetWriteDeadline): a wait ends at the earlier of the
 * two, with ETIMEDOUT (EAGAIN when that is GF_NOWAIT).
 *
 * Errors common to the calls that take a fd: EBADF (fd negative or not
 * open, or closed with gf_net_close/gf_close during the call: every
 * fiber waiting on it is woken with EBADF before the number can be
 * reused), ENOTSOCK (not a socket), ETIMEDOUT, EAGAIN (GF_NOWAIT, or a
 * deadline of GF_NOWAIT, and not ready), EPERM (it would block outside
 * a fiber), EMFILE, ENFILE, ENOMEM (the poller cannot be made: see
 * gf_wait_fd), ENOSPC (epoll_ctl: the user's epoll limit).
 */

/*
 * gf_net_listen - a TCP socket bound to hostport, listening (Go's
 * net.Listen("tcp", hostport)), SO_REUSEADDR set (a restarted server
 * binds at once while old connections linger in TIME_WAIT). A host
 * name binds the first of its addresses that takes it. backlog <= 0:
 * SOMAXCONN. Returns the fd; -1 with errno: EINVAL (hostport malformed
 * or NULL), ENXIO, EAGAIN, EIO (lookup, above), EADDRINUSE,
 * EADDRNOTAVAIL (not an address of this host), EACCES (a port below
 * 1024), EAFNOSUPPORT, EMFILE, ENFILE, ENOMEM, ENOSPC.
 */
GF_API int gf_net_listen(const char *hostport, int backlog);

/*
 * gf_net_accept - the next connection on listening socket lfd (Go's
 * Listener.Accept), a new fd as gf_net_listen's. sa and salen: where to
 * store the peer's address, as accept(2) (both NULL: not wanted). A
 * connection reset before it was taken is skipped. Returns the fd; -1
 * with errno: the common ones, EINVAL (lfd not listening; only one of
 * sa, salen NULL), EMFILE, ENFILE (no descriptor for the connection:
 * it stays queued), ENOBUFS, ENOMEM.
 */
GF_API int gf_net_accept(int lfd, struct sockaddr *sa, socklen_t *salen);
GF_API int gf_net_accept_until(int lfd, struct sockaddr *sa,
			       socklen_t *salen, gf_deadline_t until);

/*
 * gf_net_dial - connect to hostport (Go's net.Dial("tcp", hostport)),
 * trying its addresses in getaddrinfo's order until one connects; a
 * deadline, or a failure of this process (no descriptor, no memory),
 * ends the whole dial. Returns the fd, a socket as gf_net_listen's;
 * -1 with errno: the lookup's (EINVAL, ENXIO, EAGAIN, EIO, above), the
 * last address's (ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL,
 * EAFNOSUPPORT), ETIMEDOUT, EAGAIN (GF_NOWAIT and not connected at
 * once), EPERM (it would block outside a fiber), EMFILE, ENFILE,
 * ENOMEM, ENOSPC.
 */
GF_API int gf_net_dial(const char *hostport);
GF_API int gf_net_dial_until(const char *hostport, gf_deadline_t until);

/*
 * gf_net_read - read up to n bytes (Go's Conn.Read): parks until some
 * arrive. Returns how many (> 0), 0 at the end of the stream (the peer
 * shut down its side), or -1 with errno: the common ones, ECONNRESET,
 * ETIMEDOUT (also a socket's own deadline, gf_net_set_deadline),
 * recv(2)'s.
 */
GF_API ssize_t gf_net_read(int fd, void *buf, size_t n);
GF_API ssize_t gf_net_read_until(int fd, void *buf, size_t n,
				 gf_deadline_t until);

/*
 * gf_net_write - write all n bytes (Go's Conn.Write), parking while the
 * socket's buffer is full, never raising SIGPIPE (MSG_NOSIGNAL: a peer
 * gone is EPIPE or ECONNRESET). Returns n; on a failure after part of
 * the data went out, how much did (less than n, errno says why: a
 * deadline, a reset); -1 with errno when nothing did: the common ones,
 * EPIPE, ECONNRESET, ETIMEDOUT, EINVAL (n over SSIZE_MAX), send(2)'s.
 * So "!= n" is the one test of failure.
 */
GF_API ssize_t gf_net_write(int fd, const void *buf, size_t n);
GF_API ssize_t gf_net_write_until(int fd, const void *buf, size_t n,
				  gf_deadline_t until);

/*
 * gf_net_set_deadline - fd's read and write deadlines (Go's
 * SetReadDeadline/SetWriteDeadline; GF_FOREVER: none) for every later
 * gf_net_read/gf_net_accept (read) and gf_net_write (write) on it, and
 * for those waiting now: a fiber waiting on fd waits until the new
 * deadline (one already passed wakes it with ETIMEDOUT). Set both, as
 * wanted, at each call (pass the old one to keep it). They belong to
 * the file and are forgotten when it is closed (gf_net_close). The
 * plain calls gf_read/gf_write/gf_wait_fd do not use them. Returns 0;
 * -1 with errno: EBADF (not open), ENOMEM.
 */
GF_API int gf_net_set_deadline(int fd, gf_deadline_t read_until,
			       gf_deadline_t write_until);

/*
 * gf_net_close - close a socket (Go's Conn.Close): gf_close's, which
 * see: every fiber waiting on fd in any call of this library is woken
 * with EBADF (the error of a use after close, as gf_close's), then fd
 * leaves the poller and is closed, and only then can the number be
 * reused. Returns 0; -1 with errno: EBADF, EINTR, EIO.
 */
GF_API int gf_net_close(int fd);

/*
 * gf_net_port - the local port fd is bound to (after gf_net_listen on
 * port 0: the one the kernel chose). Returns it (0-65535); -1 with
 * errno: EBADF, ENOTSOCK, EAFNOSUPPORT (not an IPv4 or IPv6 socket).
 */
GF_API int gf_net_port(int fd);

/* ------------------------------------------------------------ registry */

/*
 * gf_registry_mode - where fibers are registered: 0 nowhere (no
 * /dev/gfibers, or one that could not be used: said on stderr at start),
 * 1 the kernel's table, 2 a private table of the same layout
 * (GF_FAKE_TABLE=1, for benchmarks), -1 not started yet.
 */
GF_API int gf_registry_mode(void);

/*
 * gf_version - libgfiber's version, "MAJOR.MINOR.PATCH"; the shared
 * library's soname is libgfiber.so.MAJOR. A gfibers.ko of another ABI
 * version refuses the registration: said on stderr at start, naming both
 * versions, and gf_main's error (EINVAL) under GF_REQUIRE_KMOD=1.
 */
GF_API const char *gf_version(void);

#ifdef __cplusplus
}
#endif
#endif /* GFIBER_H */
