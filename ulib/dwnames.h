/* SPDX-License-Identifier: MIT */
/*
 * dwnames.h - the one symbolizer's naming, on elfutils' libdwfl: the
 * function, file:line and inlined frames of a pc, from DWARF where there
 * is some (libdwfl finds separate debug files by build-id and debuglink
 * under /usr/lib/debug, as gdb does), else the symbol table, else
 * module+0xoffset.
 *
 * Two users compile this code, each against its own Dwfl:
 *  - the tools (tools/lib/dwsym.c: gfps, the selftests), linked with
 *    libdw: another process, through /proc/PID/maps and /proc/PID/root;
 *  - libgfiber's own dumps (ulib/symbolize.c), which must not depend on
 *    libdw at link time: libdw.so.1 is dlopen()ed on first need and every
 *    call goes through a pointer that dlsym() filled.
 * So every libdw call below is written DW(name)(...): the includer
 * defines DW (the pointer table), or gets the plain call. A call not
 * written so is an undefined reference in libgfiber.so (-z defs).
 *
 * struct dw_loc alone needs no libdw header; the code is compiled where
 * the includer defines DWNAMES_CODE (with <elfutils/libdwfl.h> at hand).
 */
#ifndef GFIBERS_DWNAMES_H
#define GFIBERS_DWNAMES_H

#include <stdbool.h>
#include <stdint.h>

/* One source-level frame. The strings are the Dwfl's. */
struct dw_loc {
	uint64_t pc;		/* as given (a return address for callers) */
	const char *func;	/* NULL: unknown */
	uint64_t funcoff;	/* pc - function start, with func from the symtab */
	const char *file;	/* NULL: no line information */
	int line;
	const char *module;	/* basename of the mapped file; NULL: none */
	uint64_t modoff;	/* pc - module's load address */
	bool inlined;		/* inlined into the next loc */
};

#endif /* GFIBERS_DWNAMES_H */

#if defined(DWNAMES_CODE) && !defined(GFIBERS_DWNAMES_CODE)
#define GFIBERS_DWNAMES_CODE

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <string.h>

#ifndef DW
#define DW(f) f
#endif

static const char *dwn_die_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *s;

	s = DW(dwarf_formstring)(DW(dwarf_attr_integrate)(die, DW_AT_linkage_name, &a));
	if (!s)
		s = DW(dwarf_formstring)(DW(dwarf_attr_integrate)(die, DW_AT_name, &a));
	return s;
}

#define DWN_MAXDEPTH	32

/*
 * The DIEs whose code holds pc, outermost first, as the code nests them:
 * a function, the inlined calls in it, their inlined calls. (libdw's
 * dwarf_getscopes() continues from an inlined call's abstract origin,
 * losing the function it was inlined into.)
 */
static int dwn_concrete_scopes(Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die *out,
			       int max)
{
	Dwarf_Die parent = *cu, child;
	int n = 0;

	while (n < max && DW(dwarf_child)(&parent, &child) == 0) {
		bool found = false;

		do {
			int tag = DW(dwarf_tag)(&child);

			if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine &&
			    tag != DW_TAG_lexical_block && tag != DW_TAG_namespace &&
			    tag != DW_TAG_entry_point)
				continue;
			if (tag != DW_TAG_namespace && DW(dwarf_haspc)(&child, pc) != 1)
				continue;
			if (tag == DW_TAG_namespace) {
				Dwarf_Die inner;

				/* descend only if something inside holds pc */
				if (DW(dwarf_child)(&child, &inner))
					continue;
			}
			out[n++] = child;
			parent = child;
			found = true;
			break;
		} while (DW(dwarf_siblingof)(&child, &child) == 0);
		if (!found)
			break;
	}
	return n;
}

/*
 * dwn_symbolize - the source frames at pc, innermost (inlined) first,
 * the function that holds the code last; at most max. A return address
 * (retaddr) is looked up one byte back, inside the call instruction: the
 * line of the call, not the line after it. Always returns at least 1:
 * with neither debug info nor a symbol, the loc has only module and
 * modoff (or not even those).
 */
static int dwn_symbolize(Dwfl *dwfl, uint64_t pc, bool retaddr,
			 struct dw_loc *out, int max)
{
	Dwarf_Addr a = retaddr && pc ? pc - 1 : pc, lo = 0, bias;
	const char *mname, *symname, *slash;
	Dwfl_Module *m;
	Dwarf_Die *cu;
	GElf_Off off = 0;
	GElf_Sym sym;
	int n = 0;

	memset(out, 0, sizeof(*out));
	out->pc = pc;
	m = DW(dwfl_addrmodule)(dwfl, a);
	if (!m)
		return 1;
	mname = DW(dwfl_module_info)(m, NULL, &lo, NULL, NULL, NULL, NULL, NULL);
	slash = mname ? strrchr(mname, '/') : NULL;
	symname = DW(dwfl_module_addrinfo)(m, a, &off, &sym, NULL, NULL, NULL);

	cu = DW(dwfl_module_addrdie)(m, a, &bias);
	/*
	 * libdwfl takes an address in a gap between two .debug_aranges
	 * sets for the set below it, so the CU it names may not hold the
	 * address at all (a gcc-built constructor in .text.startup, placed
	 * below clang-built code that has no aranges, took the whole
	 * program's addresses): a CU whose ranges say no is not the one.
	 */
	if (cu && DW(dwarf_haspc)(cu, a - bias) == 0)
		cu = NULL;
	if (!cu) {
		/*
		 * libdw trusts .debug_aranges when there is one, and clang
		 * emits none: a clang program linked with gcc's crt files has
		 * aranges for those alone. Every CU's own ranges, then.
		 */
		Dwarf_Die *c = NULL;

		while ((c = DW(dwfl_module_nextcu)(m, c, &bias)))
			if (DW(dwarf_haspc)(c, a - bias) == 1) {
				cu = c;
				break;
			}
	}
	if (cu) {
		Dwarf_Die scopes[DWN_MAXDEPTH];
		int ns = dwn_concrete_scopes(cu, a - bias, scopes, DWN_MAXDEPTH), i;
		Dwfl_Line *l = DW(dwfl_module_getsrc)(m, a);
		const char *file = NULL;
		int line = 0;

		if (l) {
			file = DW(dwfl_lineinfo)(l, NULL, &line, NULL, NULL, NULL);
		} else {
			/* (the same aranges: the CU's own line table) */
			Dwarf_Line *dl = DW(dwarf_getsrc_die)(cu, a - bias);

			if (dl) {
				file = DW(dwarf_linesrc)(dl, NULL, NULL);
				DW(dwarf_lineno)(dl, &line);
			}
		}
		/* innermost first: scopes[] is outermost first */
		for (i = ns - 1; i >= 0 && n < max; i--) {
			int tag = DW(dwarf_tag)(&scopes[i]);
			Dwarf_Attribute at;
			Dwarf_Word w;

			if (tag != DW_TAG_subprogram &&
			    tag != DW_TAG_inlined_subroutine)
				continue;
			out[n].pc = pc;
			out[n].func = dwn_die_name(&scopes[i]);
			out[n].file = file;
			out[n].line = line;
			out[n].inlined = tag == DW_TAG_inlined_subroutine;
			n++;
			if (tag != DW_TAG_inlined_subroutine)
				break;
			/* the caller's position: where this was inlined */
			file = NULL;
			line = 0;
			if (!DW(dwarf_formudata)(DW(dwarf_attr)(&scopes[i], DW_AT_call_file, &at), &w)) {
				Dwarf_Files *files;
				size_t nf;

				if (!DW(dwarf_getsrcfiles)(cu, &files, &nf) && w < nf)
					file = DW(dwarf_filesrc)(files, w, NULL, NULL);
			}
			if (!DW(dwarf_formudata)(DW(dwarf_attr)(&scopes[i], DW_AT_call_line, &at), &w))
				line = (int)w;
		}
		if (n && !out[n - 1].inlined && symname && out[n - 1].func &&
		    !strcmp(out[n - 1].func, symname))
			out[n - 1].funcoff = off + (pc - a);
		if (!n && file) {
			/* line info but no scope (assembly): the symbol's name */
			out[0].file = file;
			out[0].line = line;
		}
	}
	if (!n) {
		n = 1;
		out[0].pc = pc;
		if (symname) {
			out[0].func = symname;
			out[0].funcoff = off + (pc - a);
		}
	}
	for (int i = 0; i < n; i++) {
		out[i].module = slash ? slash + 1 : mname;
		out[i].modoff = pc - lo;
	}
	return n;
}

#endif /* DWNAMES_CODE */
