/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _UAPI_GFIBERS_H
#define _UAPI_GFIBERS_H

/*
 * gfibers.h - the ABI between libgfiber and gfibers.ko
 *
 * A process opens /dev/gfibers, sets a table up with GFIBERS_IOC_SETUP,
 * mmap()s the header page, and, each time it needs slots, asks for one
 * more chunk with GFIBERS_IOC_GROW and mmap()s it. From then on it
 * describes every fiber it runs with plain stores into its slots; the
 * module reads the same pages (its own memory: it never touches the
 * process's address space) to render /proc/gfibers and to run the
 * hung-fiber watchdog.
 *
 * Everything in the shared pages is written by user space and is
 * untrusted input for the kernel: it validates every value it renders
 * and uses none as a pointer, length or unchecked index.
 *
 * Who is who in the comments below:
 *   writer: the library, ulib/registry.c, the only code that stores
 *           into a slot or a reason name (user space, any thread of the
 *           owning process, one writer per slot at a time);
 *   reader: the module, kmod/proc.c (/proc/gfibers) and kmod/watchdog.c,
 *           through gfibers_slot_read() in kmod/proc.c; any number of
 *           readers, concurrently with the writer, never blocking it.
 *
 * Layout of the mapping (offsets are mmap() offsets on the device file;
 * all multiples of 64 KiB, so page aligned for any page size up to 64K):
 *
 *   offset 0                       struct gfibers_header (4096 bytes):
 *                                  the program-named wait-reason table.
 *                                  Map with length GFIBERS_HEADER_SIZE.
 *   GFIBERS_CHUNK_OFFSET(k)        chunk k: GFIBERS_CHUNK_SLOTS slots,
 *                                  GFIBERS_CHUNK_SIZE bytes; slot number
 *                                  k * GFIBERS_CHUNK_SLOTS + i is slot i
 *                                  of chunk k. Map with length
 *                                  GFIBERS_CHUNK_SIZE, after GROW
 *                                  returned k.
 *
 * Each region must be mapped by itself, MAP_SHARED, not PROT_EXEC, at
 * exactly its offset and length (anything else: -EINVAL); the writer maps
 * it PROT_READ | PROT_WRITE. A region may be mapped more than once.
 * Where the chunks land in the address space is the library's choice
 * (e.g. reserve a range and MAP_FIXED each chunk after the previous one
 * to index slots linearly). Mappings are not inherited across fork()
 * (VM_DONTCOPY; VM_IO, so madvise(MADV_DOFORK) fails with -EINVAL),
 * cannot be grown with mremap() and never executable.
 *
 * Lifetime and ownership: the table belongs to the process (thread
 * group) that opened the device. ioctl() and mmap() from any other
 * process, e.g. a fork() child using the inherited descriptor, fail
 * with -EPERM: the child opens the device and registers its own table.
 * The table lives until the descriptor is closed and every mapping is
 * gone (exit and SIGKILL included). Its memory is charged to the
 * opener's memory cgroup.
 */

#include <linux/types.h>
#include <linux/ioctl.h>

/*
 * Version of this ABI. Bumped on any incompatible change of the layout,
 * numbering or protocol below. GFIBERS_IOC_SETUP takes the version the
 * caller was compiled with and fails with -EINVAL on a mismatch.
 */
#define GFIBERS_ABI_VERSION	1

/* Sizes, pinned: the library _Static_asserts them, the module BUILD_BUG_ONs. */
#define GFIBERS_SLOT_SIZE	128	/* sizeof(struct gfibers_slot) */
#define GFIBERS_HEADER_SIZE	4096	/* sizeof(struct gfibers_header) */
#define GFIBERS_CHUNK_SLOTS	512	/* slots per chunk */
#define GFIBERS_CHUNK_SIZE	(GFIBERS_CHUNK_SLOTS * GFIBERS_SLOT_SIZE)
					/* 65536 bytes per chunk */
#define GFIBERS_CHUNK_OFFSET(k)	(((__u64)(k) + 1) * GFIBERS_CHUNK_SIZE)

/*
 * Fiber status, numbered as Go's _G* constants (runtime/runtime2.go),
 * rendered with Go's names. Values the runtime never enters stay here,
 * unused, as in Go. Any other value renders as "invalid(N)".
 */
#define GFIBERS_GIDLE			0	/* "idle": just allocated */
#define GFIBERS_GRUNNABLE		1	/* "runnable": on a run queue */
#define GFIBERS_GRUNNING		2	/* "running": on a thread */
#define GFIBERS_GSYSCALL		3	/* "syscall": in a blocking call */
#define GFIBERS_GWAITING		4	/* "waiting": parked */
#define GFIBERS_GMORIBUND_UNUSED	5	/* "moribund_unused": unused */
#define GFIBERS_GDEAD			6	/* "dead": exited, slot free */
#define GFIBERS_GENQUEUE_UNUSED		7	/* "enqueue_unused": unused */
#define GFIBERS_GCOPYSTACK		8	/* "copystack" */
#define GFIBERS_GPREEMPTED		9	/* "preempted" */
#define GFIBERS_GLEAKED			10	/* "leaked": can never wake */
#define GFIBERS_GSTATUS_MAX		10

/*
 * Wait reasons: this ABI's numbering (Go's own numbering is not stable);
 * the module renders Go's strings where the concept is Go's. Any value
 * not listed here and below GFIBERS_WAIT_USER_BASE renders as
 * "invalid(N)".
 */
enum gfibers_wait_reason {
	GFIBERS_WAIT_NONE		= 0,	/* "-": not waiting */
	GFIBERS_WAIT_CHAN_RECV		= 1,	/* "chan receive" */
	GFIBERS_WAIT_CHAN_SEND		= 2,	/* "chan send" */
	GFIBERS_WAIT_SELECT		= 3,	/* "select" */
	GFIBERS_WAIT_SELECT_NO_CASES	= 4,	/* "select (no cases)" */
	GFIBERS_WAIT_CHAN_RECV_NIL	= 5,	/* "chan receive (nil chan)" */
	GFIBERS_WAIT_CHAN_SEND_NIL	= 6,	/* "chan send (nil chan)" */
	GFIBERS_WAIT_SLEEP		= 7,	/* "sleep" */
	GFIBERS_WAIT_IO			= 8,	/* "IO wait" */
	GFIBERS_WAIT_SEMACQUIRE		= 9,	/* "semacquire" */
	GFIBERS_WAIT_MUTEX_LOCK		= 10,	/* "sync.Mutex.Lock" */
	GFIBERS_WAIT_RWMUTEX_RLOCK	= 11,	/* "sync.RWMutex.RLock" */
	GFIBERS_WAIT_RWMUTEX_LOCK	= 12,	/* "sync.RWMutex.Lock" */
	GFIBERS_WAIT_COND_WAIT		= 13,	/* "sync.Cond.Wait" */
	GFIBERS_WAIT_WAITGROUP_WAIT	= 14,	/* "sync.WaitGroup.Wait" */
	GFIBERS_WAIT_TIMER_IDLE		= 15,	/* "timer goroutine (idle)" */
	GFIBERS_WAIT_PREEMPTED		= 16,	/* "preempted" */
	GFIBERS_WAIT_SYSCALL		= 17,	/* "syscall" (not Go's) */
	GFIBERS_WAIT_JOIN		= 18,	/* "fiber join" (not Go's) */
	GFIBERS_WAIT_NR_BUILTIN		= 19,	/* first unused number */

	/*
	 * Program-named reasons: GFIBERS_WAIT_USER_BASE + i names entry i
	 * of gfibers_header.reasons[], for i < GFIBERS_USER_REASONS.
	 * Rendered as the name, or "user(i)" while the name is empty or
	 * never read stable.
	 */
	GFIBERS_WAIT_USER_BASE		= 256,
};

#define GFIBERS_USER_REASONS	63
#define GFIBERS_REASON_NAME_LEN	56	/* bytes, NUL included */

/*
 * The sequence-counter protocol, used for every struct gfibers_slot and
 * every struct gfibers_reason (a seqcount, as the kernel's seqcount_t):
 *
 * Writer (ulib/registry.c), the only writer of the record at that time:
 *
 *	s = rec->seq;                          (the writer's own value)
 *	__atomic_store_n(&rec->seq, s + 1, __ATOMIC_RELAXED);    (odd)
 *	__atomic_thread_fence(__ATOMIC_RELEASE);
 *		pairs with the reader's smp_rmb(): the odd count is visible
 *		before any of the stores below (smp_wmb()).
 *	... stores to the fields, any width, any order ...
 *	__atomic_store_n(&rec->seq, s + 2, __ATOMIC_RELEASE);    (even)
 *		pairs with the reader's acquire load of seq: the fields are
 *		visible before the even count.
 *
 * Reader (kmod/proc.c, gfibers_slot_read()), bounded, never waits:
 *
 *	for (try = 0; try < GFIBERS_READ_RETRIES (kernel-side); try++) {
 *		s0 = smp_load_acquire(&rec->seq);
 *		if (s0 & 1)
 *			continue;                  (write in progress)
 *		copy = *rec;                       (READ_ONCE per field)
 *		smp_rmb();
 *		if (READ_ONCE(rec->seq) == s0)
 *			return stable copy;
 *	}
 *	the record is "torn": rendered as such and counted.
 *
 * A record written without the protocol is still safe for the kernel,
 * but may be shown torn or as a mix of old and new values.
 * seq starts at 0 (the kernel hands out zeroed pages) and wraps.
 */

/*
 * struct gfibers_slot - one fiber, 128 bytes, two 64-byte cache lines.
 *
 * Slots are 128-byte aligned in the mapping (chunks are page aligned),
 * so every field is naturally aligned and a slot never straddles a page.
 *
 * A slot is free when fiber_id is 0 or status is GFIBERS_GDEAD; free
 * slots are not shown. Claiming a slot: seq odd, every field written,
 * seq even. Releasing it: seq odd, status = GFIBERS_GDEAD, fiber_id = 0,
 * seq even. The reader uses only a stable copy (see the protocol above);
 * every field except seq is written by the writer only between an odd and
 * the next even seq, and read by the reader only through that copy.
 */
struct gfibers_slot {
	/* Sequence counter, see above. Written by the writer only. */
	__u32 seq;
	/* GFIBERS_G*: the fiber's status. */
	__u32 status;
	/*
	 * Fiber id, unique within the process for its whole life (never
	 * reused); 0 marks a free slot.
	 */
	__u64 fiber_id;
	/* Id of the fiber that created this one; 0: none (main/scheduler). */
	__u64 parent_id;
	/* enum gfibers_wait_reason, while status is GFIBERS_GWAITING. */
	__u32 wait_reason;
	/*
	 * Thread id (gettid(), in the process's own pid namespace) of the
	 * thread that last ran the fiber; 0: never ran. Shown as written.
	 */
	__u32 tid;
	/* Address of the object waited on (channel, mutex, ...); 0: none. */
	__u64 wait_obj;
	/*
	 * Wait site: the PC in the program's code that called the blocking
	 * API (the caller of the park, not the park itself); 0: unknown.
	 */
	__u64 wait_pc;
	/* Context switch of the last park: saved PC, SP and frame pointer. */
	__u64 saved_pc;
	__u64 saved_sp;
	__u64 saved_fp;
	/*
	 * CLOCK_MONOTONIC time, in ns, when the fiber parked (status became
	 * GFIBERS_GWAITING); 0: not waiting. The module renders now minus
	 * this, and its watchdog keys a park episode by (fiber_id,
	 * wait_since_ns). (A process in a time namespace should not use
	 * this ABI: its monotonic clock is offset from the kernel's.)
	 */
	__u64 wait_since_ns;
	/* PC of the code that created the fiber (the gf_go() call site). */
	__u64 create_pc;
	/* Reserved: the writer stores 0, the reader ignores them. */
	__u64 reserved[5];
};

/*
 * struct gfibers_reason - a program-named wait reason, 64 bytes.
 *
 * Written by the writer with the seqcount protocol above (typically once,
 * before the first slot uses GFIBERS_WAIT_USER_BASE + index). name is
 * NUL-terminated; the reader stops at the first NUL or at
 * GFIBERS_REASON_NAME_LEN bytes and renders bytes outside printable
 * ASCII, and tabs, as '?'.
 */
struct gfibers_reason {
	__u32 seq;
	__u32 pad;				/* writer stores 0 */
	char name[GFIBERS_REASON_NAME_LEN];
};

/*
 * struct gfibers_header - the first 4096 bytes of the mapping (offset 0).
 *
 * magic, abi_version, slot_size and chunk_slots are written by the
 * kernel at GFIBERS_IOC_SETUP, for the library to check; the kernel
 * never reads them back. reasons[] is written by the writer and read by
 * the reader with the seqcount protocol.
 */
struct gfibers_header {
	__u32 magic;				/* GFIBERS_MAGIC */
	__u32 abi_version;			/* GFIBERS_ABI_VERSION */
	__u32 slot_size;			/* GFIBERS_SLOT_SIZE */
	__u32 chunk_slots;			/* GFIBERS_CHUNK_SLOTS */
	__u64 reserved[6];			/* 0 */
	struct gfibers_reason reasons[GFIBERS_USER_REASONS];
};

#define GFIBERS_MAGIC		0x42494647	/* "GFIB", little endian */

/*
 * struct gfibers_setup - argument of GFIBERS_IOC_SETUP.
 *
 * in:  abi_version must be GFIBERS_ABI_VERSION; flags and reserved 0.
 * out: max_slots: this table's slot limit (the max_slots_per_process
 *      module parameter at setup time, rounded down to whole chunks).
 */
struct gfibers_setup {
	__u32 abi_version;
	__u32 flags;
	__u32 max_slots;
	__u32 reserved;
};

/*
 * GFIBERS_IOC_SETUP: create the table of this open file, once.
 *	0 on success, then mmap() offset 0 for the header.
 *	-EINVAL  abi_version mismatch, flags or reserved not 0
 *	-EBUSY   the table is already set up
 *	-EDQUOT  the user (real uid of the opener) has max_tables_per_user
 *	         tables set up
 *	-EPERM   caller is not the process that opened the device
 *	-EFAULT  bad argument pointer
 *	-ENOMEM  no memory (or memory cgroup limit)
 *
 * GFIBERS_IOC_GROW: add one chunk of GFIBERS_CHUNK_SLOTS zeroed slots.
 *	No argument (any value is ignored).
 *	returns k >= 0, the new chunk's index: mmap() it at
 *	GFIBERS_CHUNK_OFFSET(k). Chunks are numbered 0, 1, 2, ...
 *	-EINVAL  table not set up
 *	-ENOSPC  the table's own limit (max_slots) is reached
 *	-EDQUOT  the user's limit (max_slots_per_user, over all tables of
 *	         the opener's real uid) or the system-wide one
 *	         (max_slots_total) is reached
 *	-EPERM   caller is not the process that opened the device
 *	-ENOMEM  no memory (or memory cgroup limit)
 *
 * Any other ioctl number: -ENOTTY.
 */
#define GFIBERS_IOC_MAGIC	0xB7
#define GFIBERS_IOC_SETUP	_IOWR(GFIBERS_IOC_MAGIC, 0x01, struct gfibers_setup)
#define GFIBERS_IOC_GROW	_IO(GFIBERS_IOC_MAGIC, 0x02)

#endif /* _UAPI_GFIBERS_H */
