/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h - the differences between the kernels gfibers.ko builds for
 * (Debian 12: 6.1 and 6.12), in one place. No other file of the module
 * tests LINUX_VERSION_CODE.
 *
 * checkpatch warns here (LINUX_VERSION_CODE, CONSTANT_COMPARISON): the
 * first is the point of this file for an out-of-tree module, the second
 * mistakes LINUX_VERSION_CODE for the constant. `make checkpatch` checks
 * this file with those two ignored and every other file in full.
 */
#ifndef _GFIBERS_COMPAT_H
#define _GFIBERS_COMPAT_H

#include <linux/mm.h>
#include <linux/version.h>

/*
 * 6.3 made vma->vm_flags read-only and added vm_flags_set() and
 * vm_flags_clear(), which also take the per-VMA lock. Before 6.3 the
 * flags are written directly, under the mmap_lock the caller holds.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
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
#else
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
#endif

#endif /* _GFIBERS_COMPAT_H */
