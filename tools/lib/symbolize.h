/* SPDX-License-Identifier: MIT */
/*
 * symbolize.h - turn a PC of another (or this) process into "function+0xoff"
 * from the ELF symbol tables of the file mapped there, the way the wait
 * sites of /proc/gfibers are meant to be read: the program's own function,
 * not the runtime's park.
 *
 * Works from /proc/PID/maps and /proc/PID/root/<path>, so it needs the
 * same access as /proc/gfibers' addresses (ptrace read of the target).
 * On elfutils (dwsym.h, as gfps): the function that holds the code at pc,
 * from DWARF or the symbol table; link with GFPS_LIBS (libdw, libelf).
 * Each lookup runs on a short-lived thread of its own (libdw needs more
 * stack than a fiber has), so it may be called from a fiber.
 */
#ifndef GFIBERS_TOOLS_SYMBOLIZE_H
#define GFIBERS_TOOLS_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct gfsym_cache;

/* A cache of parsed maps and symbol tables per pid; NULL on ENOMEM. */
struct gfsym_cache *gfsym_new(void);
void gfsym_free(struct gfsym_cache *c);

/*
 * gfsym_lookup - name the function containing pc in process pid.
 * Writes "func+0xoff" into buf (or "file+0xoff" when no symbol covers pc),
 * and returns 0; -1 with errno when pc is not in any file mapping of pid
 * (ENOENT) or the process cannot be inspected (EACCES, ESRCH).
 * *func (if not NULL) gets the bare function name, "" when unknown.
 */
int gfsym_lookup(struct gfsym_cache *c, pid_t pid, uint64_t pc,
		 char *buf, size_t len, char *func, size_t funclen);

#endif /* GFIBERS_TOOLS_SYMBOLIZE_H */
