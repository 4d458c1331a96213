/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h - the differences between the kernels gfibers.ko builds for
 * (Debian 12: 6.1 and 6.12), in one place. Each is detected from the
 * kernel's headers by kmod/Kbuild (GFIBERS_HAVE_*), not guessed from
 * LINUX_VERSION_CODE: a distribution kernel may carry a backport.
 */
#ifndef _GFIBERS_COMPAT_H
#define _GFIBERS_COMPAT_H

#include <linux/mm.h>

/*
 * 6.3 made vma->vm_flags read-only and added vm_flags_set() and
 * vm_flags_clear(), which also take the per-VMA lock. Before, the flags
 * are written directly, under the mmap_lock the caller holds.
 */
#ifdef GFIBERS_HAVE_VM_FLAGS_SET
static inline void gfibers_vm_flags_set(struct vm_area_struct *vma,
					vm_flags_t flags)
{
	vm_flags_set(vma, flags);
}

static inline void gfibers_vm_flags_clear(struct vm_area_struct *vma,
					  vm_flags_t flags)
{
	vm_flags_clear(vma, flags);
}
#else
static inline void gfibers_vm_flags_set(struct vm_area_struct *vma,
					unsigned long flags)
{
	vma->vm_flags |= flags;
}

static inline void gfibers_vm_flags_clear(struct vm_area_struct *vma,
					  unsigned long flags)
{
	vma->vm_flags &= ~flags;
}
#endif

#endif /* _GFIBERS_COMPAT_H */
