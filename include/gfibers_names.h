/* SPDX-License-Identifier: MIT */
/*
 * gfibers_names.h - the names of the ABI's statuses and built-in wait
 * reasons (include/uapi/gfibers.h), one list for the module, which renders
 * them in /proc/gfibers, and the library, whose dumps print them. Go's
 * gStatusStrings and waitReasonStrings where the concept is Go's.
 *
 * Not part of the uapi: data, not layout. Include it in one file per side.
 */
#ifndef _GFIBERS_NAMES_H
#define _GFIBERS_NAMES_H

#include "uapi/gfibers.h"

static const char * const gfibers_status_names[GFIBERS_GSTATUS_MAX + 1] = {
	[GFIBERS_GIDLE]			= "idle",
	[GFIBERS_GRUNNABLE]		= "runnable",
	[GFIBERS_GRUNNING]		= "running",
	[GFIBERS_GSYSCALL]		= "syscall",
	[GFIBERS_GWAITING]		= "waiting",
	[GFIBERS_GMORIBUND_UNUSED]	= "moribund_unused",
	[GFIBERS_GDEAD]			= "dead",
	[GFIBERS_GENQUEUE_UNUSED]	= "enqueue_unused",
	[GFIBERS_GCOPYSTACK]		= "copystack",
	[GFIBERS_GPREEMPTED]		= "preempted",
	[GFIBERS_GLEAKED]		= "leaked",
};

static const char * const gfibers_reason_names[GFIBERS_WAIT_NR_BUILTIN] = {
	[GFIBERS_WAIT_NONE]		= "-",
	[GFIBERS_WAIT_CHAN_RECV]	= "chan receive",
	[GFIBERS_WAIT_CHAN_SEND]	= "chan send",
	[GFIBERS_WAIT_SELECT]		= "select",
	[GFIBERS_WAIT_SELECT_NO_CASES]	= "select (no cases)",
	[GFIBERS_WAIT_CHAN_RECV_NIL]	= "chan receive (nil chan)",
	[GFIBERS_WAIT_CHAN_SEND_NIL]	= "chan send (nil chan)",
	[GFIBERS_WAIT_SLEEP]		= "sleep",
	[GFIBERS_WAIT_IO]		= "IO wait",
	[GFIBERS_WAIT_SEMACQUIRE]	= "semacquire",
	[GFIBERS_WAIT_MUTEX_LOCK]	= "sync.Mutex.Lock",
	[GFIBERS_WAIT_RWMUTEX_RLOCK]	= "sync.RWMutex.RLock",
	[GFIBERS_WAIT_RWMUTEX_LOCK]	= "sync.RWMutex.Lock",
	[GFIBERS_WAIT_COND_WAIT]	= "sync.Cond.Wait",
	[GFIBERS_WAIT_WAITGROUP_WAIT]	= "sync.WaitGroup.Wait",
	[GFIBERS_WAIT_TIMER_IDLE]	= "timer goroutine (idle)",
	[GFIBERS_WAIT_PREEMPTED]	= "preempted",
	[GFIBERS_WAIT_SYSCALL]		= "syscall",
	[GFIBERS_WAIT_JOIN]		= "fiber join",
};

#endif /* _GFIBERS_NAMES_H */
