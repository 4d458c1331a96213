/* SPDX-License-Identifier: MIT */
/*
 * symbolize.h - names for the dumps (dump.c): function, file:line and
 * inlined frames through the tools' symbolizer (dwnames.h) on libdw.so.1,
 * loaded at run time, or the ELF symbol tables when it cannot be.
 */
#ifndef GFIBERS_SYMBOLIZE_H
#define GFIBERS_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime.h"

/* One source-level frame, its strings copied ("": unknown). */
struct gfi_frame {
	char func[128];
	char file[192];
	char module[64];
	int line;
	uintptr_t funcoff;	/* pc - function start; 0: unknown or none */
	uintptr_t modoff;	/* pc - the module's load address */
	bool inlined;		/* inlined into the next frame */
};

/* At most this many frames per pc: the function and what it inlined. */
#define GFI_MAXINLINE	8

/* At the runtime's start: what a fork child must reset. */
GF_HIDDEN void gfi_sym_init(void);

/*
 * gfi_sym_begin - get libdw ready for one dump: loaded (first call:
 * dlopen), and its view of the modules brought up to date (a library
 * dlopen()ed since the last dump). NULL when the dump may name its code
 * through libdw: gfi_sym_call() then runs its formatting; else why not
 * (a line for the dump's header), and names come from the symbol tables.
 * Never in a signal handler.
 */
GF_HIDDEN const char *gfi_sym_begin(void);

/*
 * gfi_sym_call - run fn(arg) on the symbolizer thread, the only thread
 * that calls libdw: it has a thread's stack (libdw's DWARF parsing is not
 * written for a fiber's 64 KiB) and one thread needs no lock around
 * libdw. Waits for it; only after gfi_sym_begin() returned NULL.
 */
GF_HIDDEN void gfi_sym_call(void (*fn)(void *), void *arg);

/*
 * gfi_sym_frames - the frames at pc, innermost (inlined) first, the
 * function last; at least 1, at most max. A return address (retaddr) is
 * looked up one byte back: the line of the call, not of the next one.
 * dwarf: through libdw (on the symbolizer thread only), else the ELF
 * symbol table (function and offset, no file:line; any thread).
 */
GF_HIDDEN int gfi_sym_frames(uintptr_t pc, bool retaddr, bool dwarf,
			     struct gfi_frame *out, int max);

#endif /* GFIBERS_SYMBOLIZE_H */
