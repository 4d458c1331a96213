// SPDX-License-Identifier: MIT
/*
 * registry.c - the writer of the table shared with gfibers.ko (the only
 * code that stores into it). Protocol and layout: include/uapi/gfibers.h;
 * the reader it pairs with is gfibers_slot_read() in kmod/proc.c.
 *
 * Setup (once, at runtime start): open /dev/gfibers, GFIBERS_IOC_SETUP,
 * mmap the header; reserve address space for max_slots slots and, as Gs
 * are created, GFIBERS_IOC_GROW + mmap each chunk MAP_FIXED after the
 * previous one, so slot i is at base + i * 128. A G is allocated once
 * and recycled, never freed: G number i (its allgs index) owns slot i
 * for the life of the process, and a recycled G claims the slot again
 * with its new fiber id.
 *
 * Every status change (gfi_casgstatus, fiber.c) calls
 * gfi_registry_write() (runtime.h): a seqcount write of a few plain
 * stores, no syscall, no atomic read-modify-write; inline for the hot
 * changes (run, yield, ready), which store only what can differ. Only the G's owner at that
 * moment writes its slot (status changes are serialised by the G's
 * ownership and GSCAN, see fiber.c), so there is one writer per slot.
 *
 * Without the device the runtime runs unregistered (slots NULL), as a
 * program does on a machine without the module; GF_REQUIRE_KMOD=1 turns
 * that into a gf_main error (ENODEV). A device that is there but cannot
 * be used (no free descriptor, no memory, an ABI of another version) is
 * not the same: an operator expects the program in /proc/gfibers, so it
 * is said on stderr once, and GF_REQUIRE_KMOD=1 makes it gf_main's error
 * with the errno of the step that failed.
 * GF_FAKE_TABLE=1 (used only when the kernel's table is not) registers into
 * a private anonymous table of the same layout, so benchmarks measure
 * the cost of registration on a machine without the module.
 *
 * fork(): the kernel's mappings are not inherited (VM_DONTCOPY) and the
 * parent's descriptor is of no use to the child (EPERM). The child
 * handler (fork_child) closes that descriptor (kept, it would keep the
 * parent's table alive and listed after the parent's exit), opens the
 * device again and maps a table of its own at the same addresses, with
 * the reasons the program named and a slot for every G alive at the
 * fork: the child's memory holds them all. Each is listed under the
 * child's pid with the parent's fiber id, parent id, status, wait
 * reason, wait object, wait site and saved PC/SP/FP; tid is the child's
 * for the G that called fork and 0 for the others (no thread of the
 * child ran them). A G that was running on another thread stays
 * "running" with tid 0 and never runs: its thread was not copied. From
 * then on the two tables are apart: a G the child wakes, creates or ends
 * changes its table only, and the parent's likewise. If the device
 * cannot be set up again the handler maps anonymous memory where the
 * table was and the child runs unregistered. execve() closes the
 * descriptor (O_CLOEXEC) and drops the mappings, which frees the table:
 * a new image registers afresh, or not at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gfibers_names.h"
#include "runtime.h"

_Static_assert(sizeof(struct gfibers_slot) == GFIBERS_SLOT_SIZE, "slot");
_Static_assert(sizeof(struct gfibers_header) <= GFIBERS_HEADER_SIZE, "hdr");
_Static_assert(sizeof(struct gfibers_reason) == 64, "reason");
_Static_assert((int)GF_WAIT_JOIN == (int)GFIBERS_WAIT_JOIN, "reason numbering");
_Static_assert((int)GF_WAIT_CHAN_RECV == (int)GFIBERS_WAIT_CHAN_RECV, "reason numbering");
_Static_assert((int)GF_WAIT_SYSCALL == (int)GFIBERS_WAIT_SYSCALL, "reason numbering");

#define FAKE_SLOTS (1u << 22)	/* 512 MiB of address space, lazily used */

enum { MODE_NONE = 0, MODE_KERNEL = 1, MODE_FAKE = 2 };

static int mode = -1;
static int devfd = -1;
static struct gfibers_header *hdr;
static char *base;			/* slot 0 */
static uint32_t max_slots;
static uint32_t nchunks;		/* chunks mapped */
static int reason_lock;
static char reason_names[GFIBERS_USER_REASONS][GFIBERS_REASON_NAME_LEN];
static int nreasons;

GF_API int gf_registry_mode(void)
{
	return mode;
}

/*
 * Open the device, set the table up and map its header (at hdr again in
 * a fork child). Returns 0, or -1 with errno and *step naming the call
 * that failed.
 */
static int kernel_setup(const char **step)
{
	struct gfibers_setup su = { .abi_version = GFIBERS_ABI_VERSION };
	void *h;
	int err;

	*step = "open /dev/gfibers";
	devfd = open("/dev/gfibers", O_RDWR | O_CLOEXEC);
	if (devfd < 0)
		return -1;
	*step = "GFIBERS_IOC_SETUP";
	if (ioctl(devfd, GFIBERS_IOC_SETUP, &su)) {
		if (errno == EINVAL)
			*step = gfi_abi_mismatch();
		goto err_close;
	}
	*step = "mmap of the table header";
	h = mmap(hdr ? (void *)hdr : NULL, GFIBERS_HEADER_SIZE,
		 PROT_READ | PROT_WRITE, MAP_SHARED | (hdr ? MAP_FIXED : 0),
		 devfd, 0);
	if (h == MAP_FAILED)
		goto err_close;
	hdr = h;
	*step = "table header (module of another ABI version)";
	if (hdr->magic != GFIBERS_MAGIC ||
	    hdr->abi_version != GFIBERS_ABI_VERSION ||
	    hdr->slot_size != GFIBERS_SLOT_SIZE ||
	    hdr->chunk_slots != GFIBERS_CHUNK_SLOTS) {
		errno = EPROTO;
		goto err_close;
	}
	if (!base) {
		*step = "address space for the table";
		max_slots = su.max_slots;
		base = mmap(NULL, (size_t)max_slots * GFIBERS_SLOT_SIZE + 1,
			    PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (base == MAP_FAILED) {
			base = NULL;
			goto err_close;
		}
	}
	return 0;
err_close:
	err = errno;
	close(devfd);
	devfd = -1;
	errno = err;
	return -1;
}

/*
 * No module here: no device node, or a node with no driver behind it.
 * An open that failed for want of a descriptor says nothing of that:
 * the node's existence, checked without one, does.
 */
static bool device_absent(const char *step, int err)
{
	if (strcmp(step, "open /dev/gfibers"))
		return false;
	return err == ENOENT || err == ENXIO || err == ENODEV ||
	       (access("/dev/gfibers", F_OK) && errno == ENOENT);
}

/* Map one more chunk (allglock held, or the fork child). */
static int grow(void)
{
	int k = ioctl(devfd, GFIBERS_IOC_GROW);
	void *at;

	if (k < 0)
		return -1;
	if ((uint32_t)k != nchunks || (uint64_t)(k + 1) * GFIBERS_CHUNK_SLOTS >
					      max_slots) {
		errno = EPROTO;
		return -1;
	}
	at = mmap(base + (size_t)k * GFIBERS_CHUNK_SIZE, GFIBERS_CHUNK_SIZE,
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, devfd,
		  (off_t)GFIBERS_CHUNK_OFFSET(k));
	if (at == MAP_FAILED)
		return -1;
	nchunks++;
	return 0;
}

static void fork_child(void);

int gfi_registry_init(void)
{
	const char *req = getenv("GF_REQUIRE_KMOD");
	const char *fake = getenv("GF_FAKE_TABLE");
	bool absent, required = req && !strcmp(req, "1");
	const char *step;
	int err;

	if (!kernel_setup(&step)) {
		mode = MODE_KERNEL;
		pthread_atfork(NULL, NULL, fork_child);
		return 0;
	}
	err = errno;
	if (hdr) {
		/* Mapped before a later step failed: it would keep an empty
		 * table listed for this process. */
		munmap(hdr, GFIBERS_HEADER_SIZE);
		hdr = NULL;
	}
	absent = device_absent(step, err);
	if (required) {
		/* EINVAL alone would not say which side to upgrade. */
		if (!absent && err == EINVAL)
			gfi_printf(2, "libgfiber: gfibers.ko cannot be used: %s\n", step);
		errno = absent ? ENODEV : err;
		return -1;
	}
	if (!absent)
		gfi_printf(2, "libgfiber: not registered with gfibers.ko, so not in /proc/gfibers: %s: %s (GF_REQUIRE_KMOD=1 makes this an error)\n",
			   step, strerror(err));
	mode = MODE_NONE;
	if (fake && !strcmp(fake, "1")) {
		hdr = mmap(NULL, GFIBERS_HEADER_SIZE +
				 (size_t)FAKE_SLOTS * GFIBERS_SLOT_SIZE,
			   PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (hdr == MAP_FAILED) {
			hdr = NULL;
			return 0;
		}
		hdr->magic = GFIBERS_MAGIC;
		hdr->abi_version = GFIBERS_ABI_VERSION;
		hdr->slot_size = GFIBERS_SLOT_SIZE;
		hdr->chunk_slots = GFIBERS_CHUNK_SLOTS;
		base = (char *)hdr + GFIBERS_HEADER_SIZE;
		max_slots = FAKE_SLOTS;
		nchunks = FAKE_SLOTS / GFIBERS_CHUNK_SLOTS;
		mode = MODE_FAKE;
	}
	return 0;
}

struct gfibers_slot *gfi_registry_slot(uint32_t i)
{
	if (mode <= MODE_NONE || i >= max_slots)
		return NULL;
	while (i / GFIBERS_CHUNK_SLOTS >= nchunks)
		if (mode != MODE_KERNEL || grow())
			return NULL;
	return (struct gfibers_slot *)(base + (size_t)i * GFIBERS_SLOT_SIZE);
}

/* The seqcount writer: gfi_seq_begin/gfi_seq_end (runtime.h), shared
 * with the inline status writes. */
#define write_begin gfi_seq_begin
#define write_end gfi_seq_end

void gfi_registry_claim(gfi_g *gp)
{
	struct gfibers_slot *sl = gp->slot;
	uint32_t s;

	if (!sl)
		return;
	s = write_begin(&sl->seq);
	sl->status = GFIBERS_GRUNNABLE;
	sl->fiber_id = (uint64_t)gp->id;
	sl->parent_id = (uint64_t)gp->parent_id;
	sl->wait_reason = GFIBERS_WAIT_NONE;
	sl->tid = 0;
	sl->wait_obj = 0;
	sl->wait_pc = 0;
	sl->saved_pc = sl->saved_sp = sl->saved_fp = 0;
	sl->wait_since_ns = 0;
	sl->create_pc = gp->create_pc;
	memset(sl->reserved, 0, sizeof(sl->reserved));
	write_end(&sl->seq, s);
}

void gfi_registry_write_slot(gfi_g *gp, uint32_t status)
{
	struct gfibers_slot *sl = gp->slot;
	uint32_t s;

	s = write_begin(&sl->seq);
	sl->status = status;
	if (status == GFIBERS_GWAITING || status == GFIBERS_GLEAKED) {
		const struct gf_ctx_frame *f = gp->sp;

		sl->wait_reason = gp->waitreason;
		sl->wait_obj = (uintptr_t)gp->waitobj;
		sl->wait_pc = gp->waitpc;
		sl->saved_pc = f->rip;
		sl->saved_sp = (uintptr_t)gp->sp;
		sl->saved_fp = f->rbp;
		sl->wait_since_ns = (uint64_t)gp->waitsince;
		write_end(&sl->seq, s);	/* (a park's path: no jump) */
		return;
	}
	/*
	 * Syscall, dead, idle: RUNNABLE and RUNNING are written inline
	 * (runtime.h), never here. Leaving a wait always goes through
	 * runnable, which cleared the object and site of the wait; saved_*
	 * stay: the ABI keeps the last park's context for unwinding.
	 */
	sl->wait_reason = status == GFIBERS_GSYSCALL ? GFIBERS_WAIT_SYSCALL
						     : GFIBERS_WAIT_NONE;
	sl->wait_since_ns = 0;
	write_end(&sl->seq, s);
}

void gfi_registry_release(gfi_g *gp)
{
	struct gfibers_slot *sl = gp->slot;
	uint32_t s;

	if (!sl)
		return;
	s = write_begin(&sl->seq);
	sl->status = GFIBERS_GDEAD;
	sl->fiber_id = 0;
	write_end(&sl->seq, s);
}

/* ---------------------------------------------------------- reasons */


const char *gfi_status_name(uint32_t st)
{
	st &= ~GSCAN;
	return st <= GFIBERS_GSTATUS_MAX ? gfibers_status_names[st]
					 : "invalid";
}

const char *gfi_reason_name(uint32_t r, char *buf, size_t n)
{
	if (r < GFIBERS_WAIT_NR_BUILTIN)
		return gfibers_reason_names[r];
	if (r >= GFIBERS_WAIT_USER_BASE &&
	    r < GFIBERS_WAIT_USER_BASE + (uint32_t)nreasons)
		return reason_names[r - GFIBERS_WAIT_USER_BASE];
	gfi_assert(n > 0);
	buf[0] = 0;
	return "invalid";
}

GF_API int gf_wait_reason(const char *name)
{
	size_t len = name ? strlen(name) : 0;
	int i, r;

	if (!len || len >= GFIBERS_REASON_NAME_LEN) {
		errno = EINVAL;
		return -1;
	}
	gfi_lock(&reason_lock);
	for (i = 0; i < nreasons; i++) {
		if (!strcmp(reason_names[i], name)) {
			gfi_unlock(&reason_lock);
			return GFIBERS_WAIT_USER_BASE + i;
		}
	}
	if (nreasons == GFIBERS_USER_REASONS) {
		gfi_unlock(&reason_lock);
		errno = ENOSPC;
		return -1;
	}
	i = nreasons;
	memcpy(reason_names[i], name, len + 1);
	if (hdr && mode > MODE_NONE) {
		struct gfibers_reason *rr = &hdr->reasons[i];
		uint32_t s = write_begin(&rr->seq);

		rr->pad = 0;
		memset(rr->name, 0, sizeof(rr->name));
		memcpy(rr->name, name, len);
		write_end(&rr->seq, s);
	}
	/* Published to dumps after the name is complete. */
	__atomic_store_n(&nreasons, i + 1, __ATOMIC_RELEASE);
	r = GFIBERS_WAIT_USER_BASE + i;
	gfi_unlock(&reason_lock);
	return r;
}

/* ---------------------------------------------------------- fork */

static void fork_child(void)
{
	uint32_t want = nchunks, i, n;
	struct gfi_m *self = gfi_getm();
	const char *step;
	bool ok = false;
	int err;
	gfi_g **all;

	/* The child's one thread: the M (if any) that called fork. */
	if (self)
		self->tid = (pid_t)syscall(SYS_gettid);
	if (mode != MODE_KERNEL)
		return;
	/*
	 * The parent's descriptor: useless here (EPERM), and it would keep
	 * the parent's table, listed with its last contents, for as long as
	 * the child lives, the parent's exit notwithstanding.
	 */
	close(devfd);
	devfd = -1;
	nchunks = 0;
	if (kernel_setup(&step) == 0) {
		step = "GFIBERS_IOC_GROW or mmap of a chunk";
		while (nchunks < want && !grow())
			;
		ok = nchunks == want;
	}
	if (!ok) {
		err = errno;
		gfi_printf(2, "libgfiber: fork child %d not registered with gfibers.ko, so not in /proc/gfibers: %s: %s\n",
			   (int)getpid(), step, strerror(err));
		if (devfd >= 0) {
			close(devfd);
			devfd = -1;
		}
		/* Unregistered: anonymous memory where the table was, so
		 * that slot stores land somewhere harmless. */
		mmap(hdr, GFIBERS_HEADER_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (want)
			mmap(base, (size_t)want * GFIBERS_CHUNK_SIZE,
			     PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		mode = MODE_NONE;
		return;
	}
	for (i = 0; i < (uint32_t)nreasons; i++) {
		struct gfibers_reason *rr = &hdr->reasons[i];
		uint32_t s = write_begin(&rr->seq);

		memcpy(rr->name, reason_names[i], sizeof(rr->name));
		write_end(&rr->seq, s);
	}
	n = atomic_load(&gfi_sched.nallgs);
	all = atomic_load(&gfi_sched.allgs);
	for (i = 0; i < n; i++) {
		gfi_g *gp = all[i];
		uint32_t st = atomic_load(&gp->status) & ~GSCAN;

		if (!gp->slot || st == GFIBERS_GDEAD)
			continue;
		gfi_registry_claim(gp);
		gfi_registry_write(gp, st);
		if (st == GFIBERS_GRUNNING && gp->m != self) {
			/* Its thread was not copied: no tid of the child's. */
			uint32_t s = write_begin(&gp->slot->seq);

			gp->slot->tid = 0;
			write_end(&gp->slot->seq, s);
		}
	}
}

/* ---------------------------------------------------------- debuggers */

/*
 * gfi_debug: what tools/gdb/libgfiber-gdb.py reads to find every fiber
 * of a live process or a core file with no help from the runtime: where
 * the Gs and the names are, and the offsets of the fields it reads. It
 * needs the symbol table only, not the debug info, so that a program
 * stripped with --strip-debug still shows its fibers (with function
 * names for sites). version changes whenever a field's meaning does; the
 * script refuses a version it does not know.
 */
struct gfi_debug {
	char magic[8];			/* "gfibers" */
	uint32_t version, size;
	gfi_g **_Atomic *allgs;
	_Atomic uint32_t *nallgs;
	const char * const *status_names;
	const char * const *reason_names;
	const char *user_reason_names;	/* [nuser][user_reason_len] */
	const int *nuser_reasons;
	uint32_t nstatus, nreasons, user_reason_base, user_reason_len;
	uint32_t gscan, g_size;
	/* struct gf_fiber */
	uint32_t g_sp, g_m, g_status, g_waitreason, g_id, g_parent_id;
	uint32_t g_create_pc, g_fn, g_waitpc, g_waitsince, g_waitobj;
	uint32_t g_stack_lo, g_stack_hi, g_is_main, g_name, g_name_len;
	uint32_t g_labels;
	/* struct gfi_labels */
	uint32_t labels_n, labels_kv, labels_kv_size, labels_key_len,
		 labels_val;
	/* struct gfi_m */
	uint32_t m_curg, m_id, m_tid;
	/* the frame gf_ctx_switch leaves at a saved sp (ctx.h) */
	uint32_t ctx_rip, ctx_rbp, ctx_rbx, ctx_r12, ctx_r13, ctx_r14,
		 ctx_r15, ctx_frame_size;
};

#define GF_SIZEOF_FIELD(t, f) sizeof(((t *)0)->f)

GF_HIDDEN __attribute__((used)) const struct gfi_debug gfi_debug = {
	.magic = "gfibers",
	.version = 1,
	.size = sizeof(struct gfi_debug),
	.allgs = &gfi_sched.allgs,
	.nallgs = &gfi_sched.nallgs,
	.status_names = gfibers_status_names,
	.reason_names = gfibers_reason_names,
	.user_reason_names = &reason_names[0][0],
	.nuser_reasons = &nreasons,
	.nstatus = GFIBERS_GSTATUS_MAX + 1,
	.nreasons = GFIBERS_WAIT_NR_BUILTIN,
	.user_reason_base = GFIBERS_WAIT_USER_BASE,
	.user_reason_len = GFIBERS_REASON_NAME_LEN,
	.gscan = GSCAN,
	.g_size = sizeof(gfi_g),
	.g_sp = offsetof(gfi_g, sp),
	.g_m = offsetof(gfi_g, m),
	.g_status = offsetof(gfi_g, status),
	.g_waitreason = offsetof(gfi_g, waitreason),
	.g_id = offsetof(gfi_g, id),
	.g_parent_id = offsetof(gfi_g, parent_id),
	.g_create_pc = offsetof(gfi_g, create_pc),
	.g_fn = offsetof(gfi_g, fn),
	.g_waitpc = offsetof(gfi_g, waitpc),
	.g_waitsince = offsetof(gfi_g, waitsince),
	.g_waitobj = offsetof(gfi_g, waitobj),
	.g_stack_lo = offsetof(gfi_g, stack_lo),
	.g_stack_hi = offsetof(gfi_g, stack_hi),
	.g_is_main = offsetof(gfi_g, is_main),
	.g_name = offsetof(gfi_g, name),
	.g_name_len = GF_SIZEOF_FIELD(gfi_g, name),
	.g_labels = offsetof(gfi_g, labels),
	.labels_n = offsetof(struct gfi_labels, n),
	.labels_kv = offsetof(struct gfi_labels, kv),
	.labels_kv_size = GF_SIZEOF_FIELD(struct gfi_labels, kv[0]),
	.labels_key_len = GF_SIZEOF_FIELD(struct gfi_labels, kv[0].key),
	.labels_val = offsetof(struct gfi_labels, kv[0].val) -
		      offsetof(struct gfi_labels, kv[0]),
	.m_curg = offsetof(struct gfi_m, curg),
	.m_id = offsetof(struct gfi_m, id),
	.m_tid = offsetof(struct gfi_m, tid),
	.ctx_rip = GF_CTX_OFF_RIP,
	.ctx_rbp = GF_CTX_OFF_RBP,
	.ctx_rbx = GF_CTX_OFF_RBX,
	.ctx_r12 = GF_CTX_OFF_R12,
	.ctx_r13 = GF_CTX_OFF_R13,
	.ctx_r14 = GF_CTX_OFF_R14,
	.ctx_r15 = GF_CTX_OFF_R15,
	.ctx_frame_size = GF_CTX_FRAME_SIZE,
};

/* The USDT probes' semaphores (runtime.h): raised by an attached tracer. */
#ifndef GF_NO_USDT
#define GFI_PROBE_SEM_DEF(name) \
	__attribute__((section(".probes"))) unsigned short \
		gfiber_##name##_semaphore
GFI_PROBE_SEM_DEF(create);
GFI_PROBE_SEM_DEF(park);
GFI_PROBE_SEM_DEF(ready);
GFI_PROBE_SEM_DEF(exit);
GFI_PROBE_SEM_DEF(leak);
#endif

/*
 * gdb loads tools/gdb/libgfiber-gdb.py for every program linked with the
 * library, static or shared, when it finds the file: in the current
 * directory or the source search path (`directory DIR`), and within
 * `auto-load safe-path` (docs/gdb.md). "MS": one entry however many
 * objects carry it.
 */
__asm__(".pushsection \".debug_gdb_scripts\", \"MS\", @progbits, 1\n"
	".byte 1\n"
	".asciz \"libgfiber-gdb.py\"\n"
	".popsection\n");
