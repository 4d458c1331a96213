// SPDX-License-Identifier: MIT
/*
 * parked.c - a process with one parked context at known lines, for
 * gfps's host tests (no gfibers.ko needed).
 *
 * It switches, with libgfiber's own gf_ctx_switch(), to a context that
 * calls outer() -> waiter() -> wait_inlined() (inlined) -> park(), where it
 * switches back and stays suspended forever. Then it prints the
 * /proc/gfibers text a module would show for that context (the saved
 * PC/SP/FP of the switch, the wait site and the creation site, both return
 * addresses as libgfiber records them) and sleeps until killed: gfps -L
 * names and unwinds it from outside. The "LINE:" comments are what the
 * test greps for the expected file:line.
 */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "ctx.h"

static void *main_sp, *fiber_sp;
static uintptr_t wait_pc, create_pc;
static char stack[256 << 10] __attribute__((aligned(64)));

__attribute__((noinline)) static void park(void)
{
	wait_pc = (uintptr_t)__builtin_return_address(0);
	gf_ctx_switch(&fiber_sp, main_sp, NULL);
	for (;;)
		pause();	/* never resumed */
}

static inline __attribute__((always_inline)) void wait_inlined(void)
{
	park();		/* LINE:wait */
}

__attribute__((noinline)) static void waiter(int n)
{
	if (n)
		wait_inlined();	/* LINE:inlined-at */
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void outer(int n)
{
	waiter(n);	/* LINE:outer */
	__asm__ volatile("" ::: "memory");
}

static void entry(void *transfer, void *arg)
{
	(void)transfer;
	outer(arg != NULL);	/* LINE:entry */
}

__attribute__((noinline)) static void spawn(void)
{
	create_pc = (uintptr_t)__builtin_return_address(0);
	gf_ctx_switch(&main_sp, gf_ctx_make(stack + sizeof(stack), entry, stack),
		      NULL);
}

int main(void)
{
	const struct gf_ctx_frame *f;

	spawn();	/* LINE:create */
	f = fiber_sp;
	printf("# gfibers 2\n");
	printf("# pid\tfiber\tparent\ttid\tstatus\twait_ms\twait_obj\twait_pc\tcreate_pc\tsaved_pc\tsaved_sp\tsaved_fp\tcomm\treason\tseq\n");
	printf("%d\t2\t1\t%d\twaiting\t61000\t0x0\t0x%lx\t0x%lx\t0x%lx\t0x%lx\t0x%lx\tparked\tchan receive\t6\n",
	       getpid(), getpid(), (unsigned long)wait_pc,
	       (unsigned long)create_pc, (unsigned long)f->rip,
	       (unsigned long)fiber_sp, (unsigned long)f->rbp);
	fflush(stdout);
	for (;;)
		pause();
}
