// SPDX-License-Identifier: GPL-2.0
/*
 * gfibers.ko - fiber tables shared with user space, shown system-wide.
 *
 * A process running fibers (libgfiber) registers them with the kernel the
 * way kcov shares its buffer: no system call on the hot path.
 *
 *	fd = open("/dev/gfibers", O_RDWR | O_CLOEXEC);
 *	ioctl(fd, GFIBERS_IOC_SETUP, &setup);
 *	hdr = mmap(NULL, GFIBERS_HEADER_SIZE, PROT_READ | PROT_WRITE,
 *		   MAP_SHARED, fd, 0);
 *	k = ioctl(fd, GFIBERS_IOC_GROW);	(as often as slots are needed)
 *	slots = mmap(NULL, GFIBERS_CHUNK_SIZE, PROT_READ | PROT_WRITE,
 *		     MAP_SHARED, fd, GFIBERS_CHUNK_OFFSET(k));
 *
 * then writes its fibers' states into the slots with the seqcount
 * protocol of include/uapi/gfibers.h. /proc/gfibers (proc.c) renders every
 * table the reader may see; the watchdog (watchdog.c) reports fibers
 * parked for too long. This file: the module parameters and the device.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "internal.h"
#include "gfibers_version.h"

/*
 * Limits on the kernel memory that fiber tables pin (GFIBERS_SLOT_SIZE
 * bytes a slot, a page a table): per table, taken when the table is set
 * up; per user (the real uid of the opener), as inotify's
 * max_user_watches, so that one user cannot take what the others need;
 * and over all tables, a last bound for the machine. Root may change them
 * at run time; lowering one never frees what is allocated.
 *
 * max_slots_per_process keeps its name: libgfiber sets up one table per
 * process, but nothing stops a process from opening the device more than
 * once, each table with this limit; the per-user limits bound them all.
 */
unsigned int gfibers_max_slots_per_process = 1U << 20;
module_param_named(max_slots_per_process, gfibers_max_slots_per_process,
		   uint, 0644);
MODULE_PARM_DESC(max_slots_per_process,
		 "Slots one table may grow to, fixed at its setup (default 1048576: 128 MiB)");

unsigned int gfibers_max_slots_per_user = 1U << 20;
module_param_named(max_slots_per_user, gfibers_max_slots_per_user, uint,
		   0644);
MODULE_PARM_DESC(max_slots_per_user,
		 "Slots in all tables of one user (default 1048576: 128 MiB)");

unsigned int gfibers_max_tables_per_user = 1024;
module_param_named(max_tables_per_user, gfibers_max_tables_per_user, uint,
		   0644);
MODULE_PARM_DESC(max_tables_per_user,
		 "Tables set up by one user's processes (default 1024)");

unsigned int gfibers_max_slots_total = 1U << 22;
module_param_named(max_slots_total, gfibers_max_slots_total, uint, 0644);
MODULE_PARM_DESC(max_slots_total,
		 "Slots in all tables together (default 4194304: 512 MiB)");

static int gfibers_open(struct inode *inode, struct file *file)
{
	struct gfibers_table *t;

	t = gfibers_table_alloc();
	if (!t)
		return -ENOMEM;
	file->private_data = t;
	return 0;
}

static int gfibers_release(struct inode *inode, struct file *file)
{
	gfibers_table_put(file->private_data);
	return 0;
}

static long gfibers_ioctl_setup(struct gfibers_table *t,
				struct gfibers_setup __user *arg)
{
	struct gfibers_setup setup;
	int err;

	if (copy_from_user(&setup, arg, sizeof(setup)))
		return -EFAULT;
	if (setup.abi_version != GFIBERS_ABI_VERSION || setup.flags ||
	    setup.reserved)
		return -EINVAL;
	err = gfibers_table_setup(t, &setup.max_slots);
	if (err)
		return err;
	if (copy_to_user(arg, &setup, sizeof(setup)))
		return -EFAULT;
	return 0;
}

static long gfibers_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct gfibers_table *t = file->private_data;

	switch (cmd) {
	case GFIBERS_IOC_SETUP:
		if (!gfibers_table_owned(t))
			return -EPERM;
		return gfibers_ioctl_setup(t, (void __user *)arg);
	case GFIBERS_IOC_GROW:
		/* _IO: no argument, whatever the register holds. */
		if (!gfibers_table_owned(t))
			return -EPERM;
		return gfibers_table_grow(t);
	default:
		return -ENOTTY;
	}
}

/*
 * Each VMA holds a reference on the table: the pages stay (and stay
 * listed) while any part of a mapping does, even after close().
 */
static void gfibers_vm_open(struct vm_area_struct *vma)
{
	gfibers_table_get(vma->vm_private_data);
}

static void gfibers_vm_close(struct vm_area_struct *vma)
{
	gfibers_table_put(vma->vm_private_data);
}

static const struct vm_operations_struct gfibers_vm_ops = {
	.open	= gfibers_vm_open,
	.close	= gfibers_vm_close,
};

/*
 * Map the header (offset 0) or one chunk, each with its exact length.
 * The pages are inserted now, so the mapping never faults into the
 * module. VM_DONTCOPY: a fork child does not inherit the table, and
 * VM_IO keeps it so: madvise(MADV_DOFORK) fails with -EINVAL on a VM_IO
 * mapping (6.1 and 6.12 alike), which would otherwise give the child the
 * parent's slots to write under the parent's pid. VM_IO also keeps
 * get_user_pages() off the pages (no pinning, no core dump of them;
 * /proc/PID/mem and process_vm_readv() on them fail with EIO/EFAULT):
 * the process reads and writes them directly, nothing else needs to.
 * VM_DONTEXPAND: no mremap() growth; never executable.
 */
static int gfibers_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct gfibers_table *t = file->private_data;
	unsigned long size = vma->vm_end - vma->vm_start;
	unsigned long i, first, npages;
	struct page *header, *page;
	u64 off, chunk;
	int err;

	if (!gfibers_table_owned(t))
		return -EPERM;
	if (!(vma->vm_flags & VM_SHARED) || (vma->vm_flags & VM_EXEC))
		return -EINVAL;
	/* Pairs with smp_store_release() in gfibers_table_setup(). */
	header = smp_load_acquire(&t->header);
	if (!header)
		return -EINVAL;
	off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	if (off == 0) {
		if (size != PAGE_ALIGN(GFIBERS_HEADER_SIZE))
			return -EINVAL;
		first = 0;
		npages = 1;
	} else {
		if (size != GFIBERS_CHUNK_SIZE ||
		    vma->vm_pgoff > (U64_MAX >> PAGE_SHIFT) ||
		    off % GFIBERS_CHUNK_SIZE)
			return -EINVAL;
		chunk = off / GFIBERS_CHUNK_SIZE - 1;
		if (chunk >= gfibers_table_nr_slots(t) / GFIBERS_CHUNK_SLOTS)
			return -EINVAL;
		first = chunk * GFIBERS_CHUNK_PAGES;
		npages = GFIBERS_CHUNK_PAGES;
	}

	gfibers_vm_flags_set(vma, VM_IO | VM_DONTCOPY | VM_DONTEXPAND);
	gfibers_vm_flags_clear(vma, VM_MAYEXEC);
	for (i = 0; i < npages; i++) {
		page = off ? gfibers_table_page(t, first + i) : header;
		err = vm_insert_page(vma, vma->vm_start + i * PAGE_SIZE, page);
		if (err)
			return err;
	}
	/*
	 * Only a successful mmap gets vm_ops: the core does not call
	 * ->close() for a VMA whose ->mmap() failed.
	 */
	vma->vm_private_data = t;
	vma->vm_ops = &gfibers_vm_ops;
	gfibers_table_get(t);
	return 0;
}

static const struct file_operations gfibers_fops = {
	.owner		= THIS_MODULE,
	.open		= gfibers_open,
	.release	= gfibers_release,
	.unlocked_ioctl	= gfibers_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= gfibers_mmap,
	.llseek		= noop_llseek,
};

static struct miscdevice gfibers_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "gfibers",
	.fops	= &gfibers_fops,
	.mode	= 0666,
};

static int __init gfibers_init(void)
{
	int err;

	/* The ABI's sizes, as include/uapi/gfibers.h documents them. */
	BUILD_BUG_ON(sizeof(struct gfibers_slot) != GFIBERS_SLOT_SIZE);
	BUILD_BUG_ON(GFIBERS_SLOT_SIZE % 64);
	BUILD_BUG_ON(sizeof(struct gfibers_reason) != 64);
	BUILD_BUG_ON(sizeof(struct gfibers_header) != GFIBERS_HEADER_SIZE);
	BUILD_BUG_ON(sizeof(struct gfibers_setup) != 16);
	BUILD_BUG_ON(GFIBERS_CHUNK_SIZE != 65536);
	BUILD_BUG_ON(GFIBERS_HEADER_SIZE > PAGE_SIZE);
	BUILD_BUG_ON(GFIBERS_CHUNK_SIZE % PAGE_SIZE);

	err = gfibers_proc_init();
	if (err)
		return err;
	err = misc_register(&gfibers_misc);
	if (err)
		goto err_proc;
	gfibers_watchdog_start();
	return 0;

err_proc:
	gfibers_proc_exit();
	return err;
}

static void __exit gfibers_exit(void)
{
	gfibers_watchdog_stop();
	misc_deregister(&gfibers_misc);
	gfibers_proc_exit();
}

module_init(gfibers_init);
module_exit(gfibers_exit);
MODULE_DESCRIPTION("Fiber tables shared with user space, shown in /proc/gfibers");
MODULE_LICENSE("GPL");
MODULE_VERSION(GFIBERS_VERSION);
