/* SPDX-License-Identifier: MIT */
/*
 * ctx_x86_64.S - fiber context switch, x86_64 SysV ELF.
 *
 * Frame layout and the reasons for it: ctx.h. The MXCSR and x87
 * control word travel with the fiber because the ABI makes their control
 * bits callee-saved; they are stored always (cheap) and loaded only when
 * the resumed context's differ (expensive), but for MXCSR on CPUs where
 * loading it always is cheaper than comparing (ctx_cpu.c).
 */
#include "ctx.h"

	.text

/*
 * void *gf_ctx_switch(void **save_sp, void *to_sp, void *transfer)
 *	rdi = where to store this context's stack pointer
 *	rsi = stack pointer of the context to resume
 *	rdx = value gf_ctx_switch returns in the resumed context
 */
	.globl	gf_ctx_switch
	.hidden	gf_ctx_switch
	.type	gf_ctx_switch, @function
	.p2align 4
gf_ctx_switch:
	.cfi_startproc
	pushq	%rbp			/* sp + 48 */
	.cfi_adjust_cfa_offset 8
	pushq	%rbx			/* sp + 40 */
	.cfi_adjust_cfa_offset 8
	pushq	%r15			/* sp + 32 */
	.cfi_adjust_cfa_offset 8
	pushq	%r14			/* sp + 24 */
	.cfi_adjust_cfa_offset 8
	pushq	%r13			/* sp + 16 */
	.cfi_adjust_cfa_offset 8
	pushq	%r12			/* sp + 8 */
	.cfi_adjust_cfa_offset 8
	subq	$8, %rsp		/* sp + 0: control words */
	.cfi_adjust_cfa_offset 8
	stmxcsr	GF_CTX_OFF_MXCSR(%rsp)
	fnstcw	GF_CTX_OFF_FPUCW(%rsp)
	movzwl	GF_CTX_OFF_FPUCW(%rsp), %r9d	/* the current word, kept */
	cmpb	$0, gfi_ctx_mxcsr_always(%rip)	/* ctx_cpu.c: which CPU */
	jne	.Lmxcsr_always
	movl	GF_CTX_OFF_MXCSR(%rsp), %r8d	/* in scratch registers */

	movq	%rsp, (%rdi)		/* this context is now suspended */
	movq	%rsi, %rsp		/* the other one's frame, same shape */

	/*
	 * ldmxcsr and fldcw cost tens of cycles (they serialise the FP
	 * pipeline); the stores above cost a few. Load only what differs:
	 * almost never, as few programs change rounding or masks. Only
	 * MXCSR's control bits count (GF_CTX_MXCSR_CTRL): its exception
	 * flags are sticky status, caller-saved in the ABI, and differ as
	 * soon as one fiber has divided by zero or rounded inexactly.
	 */
	movl	GF_CTX_OFF_MXCSR(%rsp), %r10d
	xorl	%r8d, %r10d
	testl	$GF_CTX_MXCSR_CTRL, %r10d
	jnz	.Lload_mxcsr
.Lmxcsr_done:
	cmpw	GF_CTX_OFF_FPUCW(%rsp), %r9w
	jne	.Lload_fpucw
.Lfpucw_done:
	addq	$8, %rsp
	popq	%r12
	popq	%r13
	popq	%r14
	popq	%r15
	popq	%rbx
	popq	%rbp
	movq	%rdx, %rax		/* the transfer value */
	/*
	 * To the resumed call site with an indirect jump, not ret: the
	 * return-stack predictor always guesses the caller of this switch,
	 * which is never where we go (a miss on every switch, ~15 ns
	 * here); the indirect predictor learns the pattern. Boost.Context
	 * does the same.
	 */
	popq	%rcx
	jmpq	*%rcx
	/*
	 * On AMD Zen, reading back what stmxcsr has just stored stalls
	 * (~2.4 ns a switch), and ldmxcsr costs the same whatever it
	 * loads: load it always, the status flags (caller-saved) with it.
	 */
.Lmxcsr_always:
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
.Lload_mxcsr:
	ldmxcsr	GF_CTX_OFF_MXCSR(%rsp)
	jmp	.Lmxcsr_done
.Lload_fpucw:
	fldcw	GF_CTX_OFF_FPUCW(%rsp)
	jmp	.Lfpucw_done
	.cfi_endproc
	.size	gf_ctx_switch, .-gf_ctx_switch

/*
 * gf_ctx_start: where a forged frame (gf_ctx_make) returns to on the
 * first switch. rax = transfer, r12 = entry, r13 = arg. The entry never
 * returns; ud2 catches a runtime bug if it does. The return address
 * column is undefined so that unwinders stop here.
 */
	.globl	gf_ctx_start
	.hidden	gf_ctx_start
	.type	gf_ctx_start, @function
	.p2align 4
gf_ctx_start:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp		/* end of the frame-pointer chain */
	movq	%rax, %rdi		/* entry(transfer, */
	movq	%r13, %rsi		/*       arg) */
	callq	*%r12
	ud2
	.cfi_endproc
	.size	gf_ctx_start, .-gf_ctx_start

	.section .note.GNU-stack, "", @progbits
