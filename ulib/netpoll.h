/* SPDX-License-Identifier: MIT */
/*
 * netpoll.h - what the poller (netpoll.c) gives the network calls
 * (net.c): descriptors registered once for their life (Go's
 * pollDesc.init), IO attempts that hold the number open against
 * gf_close (Go's fdMutex), waits under per-descriptor deadlines.
 */
#ifndef GF_NETPOLL_H
#define GF_NETPOLL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime.h"

/*
 * Register fd, a file the runtime just made (socket, accept4), in the
 * poller for its life: later waits on it ask nothing of the kernel.
 * nonblock: the runtime made it O_NONBLOCK (its syscalls never block).
 * Forgets what the number knew of an earlier file (its deadlines).
 * Returns 0; -1 with errno: EMFILE, ENFILE, ENOMEM (no poller), ENOMEM,
 * ENOSPC (epoll_ctl).
 */
GF_HIDDEN int gfi_netfd_init(int fd, bool nonblock);

/*
 * One attempt on fd that must not block the thread: returns as the
 * syscall, -1 with EAGAIN when not ready. nonblock: the file is
 * O_NONBLOCK (made by the runtime).
 */
typedef ssize_t (*gfi_netop)(int fd, void *arg, bool nonblock);

/*
 * op until it does not fail with EAGAIN, waiting ("IO wait" at pc) for
 * events (EPOLLIN or EPOLLOUT) in between until the earlier of until
 * and fd's deadline for that direction. A fd not registered for its
 * life is, at the first wait. Returns op's result; -1 with op's errno,
 * or ETIMEDOUT, EAGAIN (until GF_NOWAIT), EBADF (not open, or closed by
 * gf_close during the call), EPERM (it would block outside a fiber),
 * EMFILE, ENFILE, ENOMEM, ENOSPC, EPERM (epoll_ctl: not pollable).
 */
GF_HIDDEN ssize_t gfi_netfd_do(int fd, int events, gfi_netop op, void *arg,
			       int64_t until, uintptr_t pc);

/* Wait once for events on fd as gfi_netfd_do does: 0, or -1 as it. */
GF_HIDDEN int gfi_netfd_wait(int fd, int events, int64_t until,
			     uintptr_t pc);

/*
 * fd's read and write deadlines (GF_FOREVER: none), for every later
 * wait of gfi_netfd_do/gfi_netfd_wait in that direction and the ones
 * in progress (woken to start over). Forgotten when the number gets
 * another file. 0; -1 with EBADF, ENOMEM.
 */
GF_HIDDEN int gfi_netfd_set_deadline(int fd, int64_t rdl, int64_t wdl);

#endif /* GF_NETPOLL_H */
