// SPDX-License-Identifier: GPL-2.0
/*
 * ctx_test.c - the raw context switch (ulib/ctx_x86_64.S): transfer
 * values, callee-saved registers, MXCSR and x87 control word per context,
 * stack alignment at entry.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <xmmintrin.h>

#include "gftest.h"
#include "ctx.h"

static void *main_sp, *co_sp;
static uintptr_t entry_align;

static void co_entry(void *transfer, void *arg)
{
	long n = (long)transfer;

	entry_align = (uintptr_t)__builtin_frame_address(0);
	(void)arg;
	for (;;)
		n = (long)gf_ctx_switch(&co_sp, main_sp, (void *)(n + 1));
}

TEST(transfer_roundtrip)
{
	static char stack[64 << 10] __attribute__((aligned(16)));
	long i, v;

	co_sp = gf_ctx_make(stack + sizeof(stack), co_entry, NULL);
	for (i = 0; i < 1000; i++) {
		v = (long)gf_ctx_switch(&main_sp, co_sp, (void *)i);
		ASSERT_EQ(i + 1, v);
	}
	/* frame address + 16 is 16-aligned at a SysV function entry */
	EXPECT_EQ(0, (entry_align + 16) % 16);
}

static uint32_t co_mxcsr;
static uint16_t co_fpucw;

static void fp_entry(void *transfer, void *arg)
{
	(void)transfer;
	(void)arg;
	for (;;) {
		uint16_t cw;

		co_mxcsr = _mm_getcsr();
		__asm__ volatile("fnstcw %0" : "=m"(cw));
		co_fpucw = cw;
		/* change ours: must not leak to the other context */
		_mm_setcsr(0x1f80 | 0x6000);	/* round toward zero */
		cw = 0x0c7f;
		__asm__ volatile("fldcw %0" : : "m"(cw));
		gf_ctx_switch(&co_sp, main_sp, NULL);
	}
}

TEST(fp_control_is_per_context)
{
	static char stack[64 << 10] __attribute__((aligned(16)));
	uint32_t mine = 0x1f80 | 0x2000;	/* round down */
	uint16_t cw = 0x077f, got;

	_mm_setcsr(mine);
	__asm__ volatile("fldcw %0" : : "m"(cw));
	co_sp = gf_ctx_make(stack + sizeof(stack), fp_entry, NULL);
	gf_ctx_switch(&main_sp, co_sp, NULL);
	/* a new context starts with the ABI defaults */
	EXPECT_EQ(GF_CTX_MXCSR_INIT, co_mxcsr & 0xffc0);
	EXPECT_EQ(GF_CTX_FPUCW_INIT, co_fpucw);
	/* ours survived its changes */
	EXPECT_EQ(mine, _mm_getcsr() & 0xffc0);
	__asm__ volatile("fnstcw %0" : "=m"(got));
	EXPECT_EQ(cw, got);
	gf_ctx_switch(&main_sp, co_sp, NULL);
	/* and its changes survived ours */
	EXPECT_EQ(0x1f80 | 0x6000, co_mxcsr & 0xffc0);
	EXPECT_EQ(0x0c7f, co_fpucw);
	_mm_setcsr(0x1f80);
	cw = 0x037f;
	__asm__ volatile("fldcw %0" : : "m"(cw));
}

static void clobber_entry(void *transfer, void *arg)
{
	(void)transfer;
	(void)arg;
	for (;;) {
		/* trash every callee-saved register, then switch back */
		__asm__ volatile("mov $1, %%rbx\n\tmov $2, %%r12\n\t"
				 "mov $3, %%r13\n\tmov $4, %%r14\n\t"
				 "mov $5, %%r15\n\t"
				 : : : "rbx", "r12", "r13", "r14", "r15");
		gf_ctx_switch(&co_sp, main_sp, NULL);
	}
}

TEST(callee_saved_preserved)
{
	static char stack[64 << 10] __attribute__((aligned(16)));
	uint64_t out[5];

	co_sp = gf_ctx_make(stack + sizeof(stack), clobber_entry, NULL);
	__asm__ volatile(
		"push %%rbx\n\tpush %%r12\n\tpush %%r13\n\t"
		"push %%r14\n\tpush %%r15\n\t"
		"mov $11, %%rbx\n\tmov $12, %%r12\n\tmov $13, %%r13\n\t"
		"mov $14, %%r14\n\tmov $15, %%r15\n\t"
		"push %%rdi\n\tsub $8, %%rsp\n\t"
		"lea main_sp(%%rip), %%rdi\n\t"
		"mov co_sp(%%rip), %%rsi\n\t"
		"xor %%edx, %%edx\n\t"
		"call gf_ctx_switch\n\t"
		"add $8, %%rsp\n\tpop %%rdi\n\t"
		"mov %%rbx, 0(%%rdi)\n\tmov %%r12, 8(%%rdi)\n\t"
		"mov %%r13, 16(%%rdi)\n\tmov %%r14, 24(%%rdi)\n\t"
		"mov %%r15, 32(%%rdi)\n\t"
		"pop %%r15\n\tpop %%r14\n\tpop %%r13\n\tpop %%r12\n\t"
		"pop %%rbx\n\t"
		: : "D"(out)
		: "memory", "rax", "rcx", "rdx", "rsi", "r8", "r9", "r10",
		  "r11", "cc");
	EXPECT_EQ(11, out[0]);
	EXPECT_EQ(12, out[1]);
	EXPECT_EQ(13, out[2]);
	EXPECT_EQ(14, out[3]);
	EXPECT_EQ(15, out[4]);
}

TEST(frame_layout_pinned)
{
	/* The asm's offsets are the header's (also _Static_asserted). */
	EXPECT_EQ(64, sizeof(struct gf_ctx_frame));
	EXPECT_EQ(56, offsetof(struct gf_ctx_frame, rip));
}

TEST_HARNESS_MAIN
