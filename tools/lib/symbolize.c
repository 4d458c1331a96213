// SPDX-License-Identifier: MIT
/*
 * symbolize.c - PC to function name through /proc/PID/maps and the mapped
 * ELF file's symbol table. See symbolize.h.
 *
 * A PC maps to a file offset (pc - map start + map offset), the file
 * offset to a link-time address through the PT_LOAD segment that holds
 * it, and that address to the STT_FUNC symbol covering it. This handles
 * PIE and non-PIE executables and shared objects alike.
 *
 * Each file is parsed once per cache and each pid's maps once per cache:
 * an inspector renders thousands of fibers of a few processes.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbolize.h"

struct gfsym_func {
	uint64_t addr;
	uint64_t size;
	const char *name;	/* points into the file's mapped strtab */
};

struct gfsym_file {
	struct gfsym_file *next;
	char *path;		/* as /proc/PID/root/<path> */
	void *image;		/* the whole file, mapped read-only */
	size_t image_len;
	const Elf64_Phdr *phdr;
	unsigned int phnum;
	struct gfsym_func *funcs;	/* sorted by addr */
	size_t nfuncs;
};

struct gfsym_map {
	uint64_t start, end, offset;
	struct gfsym_file *file;	/* NULL: could not be parsed */
	char *name;			/* the path as maps shows it */
};

struct gfsym_proc {
	struct gfsym_proc *next;
	pid_t pid;
	struct gfsym_map *maps;
	size_t nmaps;
};

struct gfsym_cache {
	struct gfsym_proc *procs;
	struct gfsym_file *files;
};

struct gfsym_cache *gfsym_new(void)
{
	return calloc(1, sizeof(struct gfsym_cache));
}

void gfsym_free(struct gfsym_cache *c)
{
	struct gfsym_proc *p, *pn;
	struct gfsym_file *f, *fn;
	size_t i;

	if (!c)
		return;
	for (p = c->procs; p; p = pn) {
		pn = p->next;
		for (i = 0; i < p->nmaps; i++)
			free(p->maps[i].name);
		free(p->maps);
		free(p);
	}
	for (f = c->files; f; f = fn) {
		fn = f->next;
		if (f->image)
			munmap(f->image, f->image_len);
		free(f->funcs);
		free(f->path);
		free(f);
	}
	free(c);
}

static int func_cmp(const void *a, const void *b)
{
	const struct gfsym_func *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Does [off, off + len) lie inside the image? Overflow-safe. */
static int in_image(const struct gfsym_file *f, uint64_t off, uint64_t len)
{
	return off <= f->image_len && len <= f->image_len - off;
}

/* Collect the STT_FUNC symbols of one symbol table section. */
static int load_symtab(struct gfsym_file *f, const Elf64_Shdr *sh,
		       const Elf64_Shdr *strsh)
{
	const Elf64_Sym *sym = (const void *)((char *)f->image + sh->sh_offset);
	const char *str = (const char *)f->image + strsh->sh_offset;
	size_t n = sh->sh_size / sizeof(*sym), i;
	struct gfsym_func *funcs;

	funcs = calloc(n ? n : 1, sizeof(*funcs));
	if (!funcs)
		return -1;
	f->funcs = funcs;
	for (i = 0; i < n; i++) {
		if (ELF64_ST_TYPE(sym[i].st_info) != STT_FUNC ||
		    !sym[i].st_value || sym[i].st_name >= strsh->sh_size)
			continue;
		funcs[f->nfuncs].addr = sym[i].st_value;
		funcs[f->nfuncs].size = sym[i].st_size;
		funcs[f->nfuncs].name = str + sym[i].st_name;
		f->nfuncs++;
	}
	qsort(funcs, f->nfuncs, sizeof(*funcs), func_cmp);
	return 0;
}

static int parse_elf(struct gfsym_file *f)
{
	const Elf64_Ehdr *eh = f->image;
	const Elf64_Shdr *sh, *dynsym = NULL, *symtab = NULL;
	unsigned int i;

	if (f->image_len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    !in_image(f, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)) ||
	    !in_image(f, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
		return -1;
	f->phdr = (const void *)((char *)f->image + eh->e_phoff);
	f->phnum = eh->e_phnum;
	sh = (const void *)((char *)f->image + eh->e_shoff);
	for (i = 0; i < eh->e_shnum; i++) {
		if (!in_image(f, sh[i].sh_offset, sh[i].sh_size) ||
		    sh[i].sh_link >= eh->e_shnum ||
		    !in_image(f, sh[sh[i].sh_link].sh_offset,
			      sh[sh[i].sh_link].sh_size))
			continue;
		if (sh[i].sh_type == SHT_SYMTAB)
			symtab = &sh[i];
		else if (sh[i].sh_type == SHT_DYNSYM)
			dynsym = &sh[i];
	}
	if (!symtab)
		symtab = dynsym;
	if (!symtab)
		return 0;	/* stripped: file+offset only */
	return load_symtab(f, symtab, &sh[symtab->sh_link]);
}

static struct gfsym_file *get_file(struct gfsym_cache *c, pid_t pid,
				   const char *name)
{
	struct gfsym_file *f;
	struct stat st;
	char *path;
	int fd;

	if (asprintf(&path, "/proc/%d/root%s", (int)pid, name) < 0)
		return NULL;
	for (f = c->files; f; f = f->next) {
		if (!strcmp(f->path, path)) {
			free(path);
			return f->image ? f : NULL;
		}
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		free(path);
		return NULL;
	}
	f->path = path;
	f->next = c->files;
	c->files = f;		/* cached even when unreadable: tried once */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		f->image = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (f->image == MAP_FAILED)
			f->image = NULL;
		else
			f->image_len = st.st_size;
	}
	close(fd);
	if (f->image && parse_elf(f)) {
		munmap(f->image, f->image_len);
		f->image = NULL;
	}
	return f->image ? f : NULL;
}

static struct gfsym_proc *get_proc(struct gfsym_cache *c, pid_t pid)
{
	unsigned long long start, end, off;
	struct gfsym_proc *p;
	char path[64], *line = NULL, *name;
	size_t cap = 0;
	FILE *fp;
	int n;

	for (p = c->procs; p; p = p->next)
		if (p->pid == pid)
			return p;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fp = fopen(path, "re");
	if (!fp)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto out;
	p->pid = pid;
	while (getline(&line, &cap, fp) > 0) {
		struct gfsym_map *m;

		n = 0;
		if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n",
			   &start, &end, &off, &n) < 3 || !n)
			continue;
		name = line + n;
		name[strcspn(name, "\n")] = 0;
		if (name[0] != '/')
			continue;	/* anonymous, [stack], [vdso], ... */
		m = realloc(p->maps, (p->nmaps + 1) * sizeof(*m));
		if (!m)
			break;
		p->maps = m;
		m = &p->maps[p->nmaps];
		m->name = strdup(name);
		if (!m->name)
			break;
		m->start = start;
		m->end = end;
		m->offset = off;
		m->file = NULL;
		p->nmaps++;
	}
	p->next = c->procs;
	c->procs = p;
out:
	free(line);
	fclose(fp);
	return p;
}

int gfsym_lookup(struct gfsym_cache *c, pid_t pid, uint64_t pc,
		 char *buf, size_t len, char *func, size_t funclen)
{
	struct gfsym_proc *p = get_proc(c, pid);
	const struct gfsym_func *best = NULL;
	struct gfsym_map *m = NULL;
	uint64_t off, addr = 0;
	const char *base;
	size_t i, lo, hi;
	int found = 0;

	if (func && funclen)
		func[0] = 0;
	if (!p) {
		errno = errno == ENOENT ? ESRCH : errno;
		return -1;
	}
	for (i = 0; i < p->nmaps; i++) {
		if (pc >= p->maps[i].start && pc < p->maps[i].end) {
			m = &p->maps[i];
			break;
		}
	}
	if (!m) {
		errno = ENOENT;
		return -1;
	}
	off = pc - m->start + m->offset;
	base = strrchr(m->name, '/') + 1;
	if (!m->file)
		m->file = get_file(c, pid, m->name);
	if (m->file) {
		for (i = 0; i < m->file->phnum; i++) {
			const Elf64_Phdr *ph = &m->file->phdr[i];

			if (ph->p_type == PT_LOAD && off >= ph->p_offset &&
			    off - ph->p_offset < ph->p_filesz) {
				addr = off - ph->p_offset + ph->p_vaddr;
				found = 1;
				break;
			}
		}
	}
	if (found && m->file->nfuncs) {
		/* the last function starting at or before addr */
		lo = 0;
		hi = m->file->nfuncs;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (m->file->funcs[mid].addr <= addr)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo) {
			best = &m->file->funcs[lo - 1];
			/* sized symbols must cover addr; size 0: take it */
			if (best->size && addr - best->addr >= best->size)
				best = NULL;
		}
	}
	if (best) {
		snprintf(buf, len, "%s+0x%llx", best->name,
			 (unsigned long long)(addr - best->addr));
		if (func && funclen)
			snprintf(func, funclen, "%s", best->name);
	} else {
		snprintf(buf, len, "%s+0x%llx", base, (unsigned long long)off);
	}
	return 0;
}
