// SPDX-License-Identifier: GPL-2.0
/*
 * ctx_test.c - the raw context switch (ulib/ctx_x86_64.S): transfer
 * values, callee-saved registers, MXCSR and x87 control word per context,
 * stack alignment at entry.
 */
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

static void fp_control_is_per_context(struct __test_metadata *_metadata)
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

/* Both ways of restoring MXCSR (ctx_cpu.c), whichever this CPU uses. */
TEST(fp_control_is_per_context_mxcsr_compared)
{
	gfi_ctx_mxcsr_always = 0;
	fp_control_is_per_context(_metadata);
}

TEST(fp_control_is_per_context_mxcsr_always_loaded)
{
	gfi_ctx_mxcsr_always = 1;
	fp_control_is_per_context(_metadata);
}

/*
 * The way follows the CPU: AMD and Hygon load always, others compare;
 * GF_CTX_MXCSR overrides it, and a value it does not know is an error.
 */
static int zen(void)
{
	unsigned int a, regs[3] = { 0 };	/* ebx, edx, ecx: the vendor */
	char v[13] = "";

	if (__get_cpuid(0, &a, &regs[0], &regs[2], &regs[1]))
		memcpy(v, regs, 12);
	return !strcmp(v, "AuthenticAMD") || !strcmp(v, "HygonGenuine");
}

/* With GFT_MXCSR_PROBE set, this program prints the way it got and
 * exits (ctx_cpu.c's constructor runs first: it has a priority). */
__attribute__((constructor)) static void mxcsr_probe(void)
{
	if (getenv("GFT_MXCSR_PROBE")) {
		puts(gfi_ctx_mxcsr_always ? "always" : "compare");
		exit(0);
	}
}

static int run_self(const char *mode, const char *want)
{
	char cmd[512], out[64] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "GF_CTX_MXCSR='%s' GFT_MXCSR_PROBE=1 "
		 "/proc/%d/exe 2>&1", mode, (int)getpid());
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (!fgets(out, sizeof(out), f))
		out[0] = 0;
	return (pclose(f) == 0) + 2 * !strncmp(out, want, strlen(want));
}

TEST(mxcsr_mode_follows_cpu_and_env)
{
	EXPECT_EQ(3, run_self("", zen() ? "always" : "compare"));
	EXPECT_EQ(3, run_self("always", "always"));
	EXPECT_EQ(3, run_self("compare", "compare"));
	/* exit status 2, and the message names the variable */
	EXPECT_EQ(2, run_self("fast", "gfiber: GF_CTX_MXCSR must be"));
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
