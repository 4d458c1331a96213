/* SPDX-License-Identifier: MIT */
/*
 * gfibers_version.h - the version of gfibers, written here and nowhere
 * else: libgfiber's gf_version() (ulib/version.c), gfibers.ko's
 * MODULE_VERSION (kmod/main.c), and, read by the Makefile, the shared
 * library's file name, gfiber.pc and the packages (debian/changelog and
 * dkms.conf are checked against it by scripts/check-version.sh).
 *
 * The major number is the shared library's soname (libgfiber.so.MAJOR):
 * bump it on any incompatible change of the API in include/gfiber.h.
 * The ABI with the module has a version of its own, GFIBERS_ABI_VERSION
 * in include/uapi/gfibers.h.
 */
#ifndef _GFIBERS_VERSION_H
#define _GFIBERS_VERSION_H

#define GFIBERS_VERSION "0.1.0"

#endif /* _GFIBERS_VERSION_H */
