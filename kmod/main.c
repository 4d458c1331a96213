// SPDX-License-Identifier: GPL-2.0
/*
 * gfibers: walking skeleton. Creates /dev/gfibers and /proc/gfibers; the
 * shared fiber tables and their rendering come with the gfibers.ko issue.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

static int gfibers_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, "# gfibers v0\n");
	return 0;
}

static const struct file_operations gfibers_fops = {
	.owner = THIS_MODULE,
};

static struct miscdevice gfibers_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "gfibers",
	.fops = &gfibers_fops,
	.mode = 0666,
};

static int __init gfibers_init(void)
{
	int err;

	if (!proc_create_single("gfibers", 0444, NULL, gfibers_proc_show))
		return -ENOMEM;
	err = misc_register(&gfibers_misc);
	if (err)
		remove_proc_entry("gfibers", NULL);
	return err;
}

static void __exit gfibers_exit(void)
{
	misc_deregister(&gfibers_misc);
	remove_proc_entry("gfibers", NULL);
}

module_init(gfibers_init);
module_exit(gfibers_exit);
MODULE_DESCRIPTION("Fiber tables shared with user space, shown in /proc/gfibers");
MODULE_LICENSE("GPL");
