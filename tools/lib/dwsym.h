/* SPDX-License-Identifier: MIT */
/*
 * dwsym.h - the tools' view into another process (gfps, the selftests): names (function, file:line,
 * inlined frames) from elfutils' libdwfl, and parked fibers' stacks
 * unwound from their saved context, read with process_vm_readv(). The
 * target is never stopped nor ptrace-attached.
 */
#ifndef GFIBERS_TOOLS_DWSYM_H
#define GFIBERS_TOOLS_DWSYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gfps_proc;

/* struct dw_loc: one source-level frame; its strings live as long as the
 * gfps_proc. */
#include "../../ulib/dwnames.h"

/*
 * gfps_proc_open - the maps and files of process pid, through
 * /proc/PID/maps and /proc/PID/root. NULL with one line in err saying
 * why (no such process, or what access is needed) and errno (ESRCH,
 * EACCES, ...).
 */
struct gfps_proc *gfps_proc_open(long pid, char *err, size_t errlen);
void gfps_proc_close(struct gfps_proc *p);

/*
 * gfps_symbolize - the source frames at pc, innermost (inlined) first,
 * the function that holds the code last; at most max. A return address
 * (retaddr) is looked up one byte back, inside the call instruction.
 * Always returns at least 1: with neither debug info nor a symbol, the
 * loc has only module and modoff (or not even those).
 */
int gfps_symbolize(struct gfps_proc *p, uint64_t pc, bool retaddr,
		   struct dw_loc *out, int max);

enum gfps_unwind_result {
	GFPS_STACK_OK,		/* pcs[] is the stack */
	GFPS_STACK_RAN,		/* the fiber ran while being read: no stack */
	GFPS_STACK_GONE,	/* the process exited or unmapped the stack */
	GFPS_STACK_NOACCESS,	/* process_vm_readv() refused */
	GFPS_STACK_NOCONTEXT,	/* no saved context in the slot */
};

/* A parked fiber's context, as /proc/gfibers shows it. */
struct gfps_ctx {
	uint64_t saved_pc, saved_sp, saved_fp;
};

/*
 * gfps_unwind - the stack of parked fiber f (its saved_pc/sp/fp) into
 * pcs[], innermost first, every entry a return address. DWARF CFI
 * through libdwfl; frame pointers where that yields nothing more.
 * *n gets the number of pcs; *how "cfi" or "fp".
 */
enum gfps_unwind_result gfps_unwind(struct gfps_proc *p,
				    const struct gfps_ctx *f,
				    uint64_t *pcs, int max, int *n,
				    const char **how);

#endif /* GFIBERS_TOOLS_DWSYM_H */
