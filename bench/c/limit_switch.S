/* SPDX-License-Identifier: MIT */
/*
 * limit_switch.S - the least a context switch can do on x86_64 SysV: save
 * the six callee-saved integer registers and the stack pointer, load the
 * other side's. No MXCSR / x87 control word, no argument passing; the
 * floor that gfibers' and Boost's switches are measured against
 * (workload `switch` [limit]).
 *
 * void limit_swap(void **save_sp, void *load_sp)
 *
 * Frame of a suspended side, from its saved sp upwards:
 *
 *	sp+0	r15
 *	sp+8	r14
 *	sp+16	r13
 *	sp+24	r12
 *	sp+32	rbx
 *	sp+40	rbp
 *	sp+48	return address (into the caller of limit_swap)
 *
 * The resume address is popped and jumped to, not returned to, as Boost's
 * jump_fcontext does: a `ret` that lands somewhere other than where the
 * matching `call` came from mispredicts in the return stack buffer every
 * time (about 13 ns per switch here instead of about 3).
 */
	.text
	.globl	limit_swap
	.type	limit_swap, @function
	.p2align 4
limit_swap:
	pushq	%rbp		/* callee-saved, in frame order */
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, (%rdi)	/* *save_sp = our frame */
	movq	%rsi, %rsp	/* switch to the other side's frame */
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	popq	%rax		/* the other side's resume address */
	jmpq	*%rax		/* jmp, not ret: see above */
	.size	limit_swap, .-limit_swap

	.section .note.GNU-stack,"",@progbits
