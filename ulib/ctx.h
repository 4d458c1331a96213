/* SPDX-License-Identifier: MIT */
/*
 * ctx.h - the context switch (ctx_x86_64.S), its frame layout pinned.
 *
 * A suspended context is nothing but a stack pointer: gf_ctx_switch()
 * pushes what the x86_64 SysV ABI says a callee must preserve (rbx, rbp,
 * r12-r15, the MXCSR control bits and the x87 control word) onto the
 * current stack, stores the stack pointer, loads the other one and pops
 * the same frame from there. Everything else is caller-saved, so the C
 * compiler has already spilled it around the call.
 *
 * The frame gf_ctx_switch() leaves at the saved stack pointer:
 *
 *	sp + 0	 MXCSR			(stmxcsr, 4 bytes)
 *	sp + 4	 x87 control word	(fnstcw, 2 bytes, then 2 of padding)
 *	sp + 8	 r12
 *	sp + 16	 r13
 *	sp + 24	 r14
 *	sp + 32	 r15
 *	sp + 40	 rbx
 *	sp + 48	 rbp
 *	sp + 56	 return address		(pushed by the call)
 *	sp + 64	 the caller's frame
 *
 * A new context (gf_ctx_make) is a forged frame of the same shape whose
 * return address is gf_ctx_start, r12 = the entry function, r13 = its
 * second argument: the first switch to it "returns" into gf_ctx_start,
 * which calls entry(transfer, arg); entry never returns.
 */
#ifndef GF_CTX_H
#define GF_CTX_H

#define GF_CTX_OFF_MXCSR	0
#define GF_CTX_OFF_FPUCW	4
#define GF_CTX_OFF_R12		8
#define GF_CTX_OFF_R13		16
#define GF_CTX_OFF_R14		24
#define GF_CTX_OFF_R15		32
#define GF_CTX_OFF_RBX		40
#define GF_CTX_OFF_RBP		48
#define GF_CTX_OFF_RIP		56
#define GF_CTX_FRAME_SIZE	64

/* The control state every new context starts with (the ABI's defaults). */
#define GF_CTX_MXCSR_INIT	0x1f80	/* all exceptions masked, RN */
#define GF_CTX_MXCSR_CTRL	0xffc0	/* control bits; 0-5 are status flags */
#define GF_CTX_FPUCW_INIT	0x037f	/* all masked, 64-bit, RN */

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <stdint.h>

/* The frame as C sees it; offsets pinned against the asm's below. */
struct gf_ctx_frame {
	uint32_t mxcsr;
	uint16_t fpucw;
	uint16_t pad;
	uint64_t r12, r13, r14, r15, rbx, rbp;
	uint64_t rip;
};

_Static_assert(offsetof(struct gf_ctx_frame, mxcsr) == GF_CTX_OFF_MXCSR, "");
_Static_assert(offsetof(struct gf_ctx_frame, fpucw) == GF_CTX_OFF_FPUCW, "");
_Static_assert(offsetof(struct gf_ctx_frame, r12) == GF_CTX_OFF_R12, "");
_Static_assert(offsetof(struct gf_ctx_frame, r13) == GF_CTX_OFF_R13, "");
_Static_assert(offsetof(struct gf_ctx_frame, r14) == GF_CTX_OFF_R14, "");
_Static_assert(offsetof(struct gf_ctx_frame, r15) == GF_CTX_OFF_R15, "");
_Static_assert(offsetof(struct gf_ctx_frame, rbx) == GF_CTX_OFF_RBX, "");
_Static_assert(offsetof(struct gf_ctx_frame, rbp) == GF_CTX_OFF_RBP, "");
_Static_assert(offsetof(struct gf_ctx_frame, rip) == GF_CTX_OFF_RIP, "");
_Static_assert(sizeof(struct gf_ctx_frame) == GF_CTX_FRAME_SIZE, "");

/*
 * 1: the switch loads the resumed context's MXCSR always; 0: only when
 * its control bits differ from the current ones (ctx_cpu.c says which
 * CPU wants which; set before main, read by every switch).
 */
extern uint8_t gfi_ctx_mxcsr_always __attribute__((visibility("hidden")));

/*
 * Save the current context's stack pointer in *save_sp, resume the
 * context whose stack pointer is to_sp. Returns, in the resumed context,
 * the transfer value its resumer passed.
 */
void *gf_ctx_switch(void **save_sp, void *to_sp, void *transfer);

/* Entry of a new context: entry(transfer of the first switch, arg). */
typedef void (*gf_ctx_entry_fn)(void *transfer, void *arg);

/* First instruction run by a new context (asm, never called from C). */
void gf_ctx_start(void);

/*
 * Forge a new context at the top of [lo, hi): returns the stack pointer
 * to pass to gf_ctx_switch().
 */
static inline void *gf_ctx_make(void *hi, gf_ctx_entry_fn entry, void *arg)
{
	uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
	struct gf_ctx_frame *f = (struct gf_ctx_frame *)(top - 64 - sizeof(*f));

	/*
	 * f + 1 must be 16-byte aligned: gf_ctx_start's call then enters
	 * entry with rsp + 8 aligned, as the ABI wants. 64 bytes of slack
	 * above stay zero (a null return address ends every unwind).
	 */
	f->mxcsr = GF_CTX_MXCSR_INIT;
	f->fpucw = GF_CTX_FPUCW_INIT;
	f->pad = 0;
	f->r12 = (uintptr_t)entry;
	f->r13 = (uintptr_t)arg;
	f->r14 = f->r15 = f->rbx = f->rbp = 0;
	f->rip = (uintptr_t)gf_ctx_start;
	return f;
}
#endif /* __ASSEMBLER__ */
#endif /* GF_CTX_H */
