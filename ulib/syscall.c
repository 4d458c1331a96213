// SPDX-License-Identifier: MIT
/*
 * syscall.c - blocking system calls (Go's entersyscall/exitsyscall) and
 * sysmon, the thread that takes back the P of a fiber stuck in one.
 *
 * entersyscall: the fiber becomes SYSCALL, its P becomes P_SYSCALL and
 * is left without an M (m->oldp remembers it). Nothing else changes: a
 * short call costs two stores and one CAS on the way back.
 *
 * sysmon: every 20 us .. 10 ms (doubling while nothing happens, parked
 * while no fiber is in a syscall), any P seen in P_SYSCALL twice with
 * the same syscalltick (so: in the same syscall for at least one sysmon
 * period) is CASed to P_IDLE and handed off to another M (handoffp).
 *
 * exitsyscall: CAS the old P back from P_SYSCALL (fast path); else take
 * any idle P; else the fiber goes on the global run queue and its M
 * stops (the slow path switches to g0, which publishes the fiber only
 * after its context is saved).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime.h"

static pthread_once_t sysmon_once = PTHREAD_ONCE_INIT;
static _Atomic uint32_t sysmon_note;
static _Atomic int sysmon_sleeping;

static void retake(int64_t now)
{
	int i;

	for (i = 0; i < gfi_sched.nprocs; i++) {
		struct gfi_p *p = &gfi_sched.allp[i];
		uint32_t t;
		int st = P_SYSCALL;

		if (atomic_load(&p->status) != P_SYSCALL)
			continue;
		t = atomic_load(&p->syscalltick);
		if (p->sysmontick != t) {
			p->sysmontick = t;
			p->sysmonwhen = now;
			continue;
		}
		if (atomic_compare_exchange_strong(&p->status, &st, P_IDLE))
			gfi_handoffp(p);
	}
}

static void *sysmon(void *arg)
{
	int64_t delay = 20000;
	int idle = 0;

	(void)arg;
	gfi_thread_own();	/* not a plain thread: sched.c, checkdead */
	for (;;) {
		struct timespec ts = { 0, delay };

		nanosleep(&ts, NULL);
		if (atomic_load(&gfi_sched.nmsys) == 0) {
			if (++idle > 100) {
				/* Nothing to watch: sleep until a syscall. */
				atomic_store(&sysmon_sleeping, 1);
				while (!atomic_exchange(&sysmon_note, 0) &&
				       atomic_load(&gfi_sched.nmsys) == 0)
					syscall(SYS_futex, &sysmon_note,
						FUTEX_WAIT_PRIVATE, 0, NULL,
						NULL, 0);
				atomic_store(&sysmon_sleeping, 0);
				idle = 0;
				delay = 20000;
			} else if (delay < 10000000) {
				delay *= 2;
			}
			continue;
		}
		idle = 0;
		delay = 20000;
		retake(gfi_nanotime());
	}
	return NULL;
}

static void sysmon_start(void)
{
	pthread_t t;

	if (!pthread_create(&t, NULL, sysmon, NULL))
		pthread_detach(t);
}

void gfi_sysmon_wake(void)
{
	if (atomic_load(&sysmon_sleeping)) {
		atomic_store(&sysmon_note, 1);
		syscall(SYS_futex, &sysmon_note, FUTEX_WAKE_PRIVATE, 1, NULL,
			NULL, 0);
	}
}

GF_API void gf_syscall_enter(void)
{
	struct gfi_m *m = gfi_getm();
	gfi_g *gp = m ? m->curg : NULL;
	struct gfi_p *p;
	int e = errno;

	if (!gp)
		return;
	pthread_once(&sysmon_once, sysmon_start);
	p = m->p;
	gp->waitpc = (uintptr_t)__builtin_return_address(0);
	gfi_casgstatus(gp, GFIBERS_GRUNNING, GFIBERS_GSYSCALL);
	atomic_fetch_add(&gfi_sched.nmsys, 1);
	atomic_fetch_add(&p->syscalltick, 1);
	m->oldp = p;
	m->p = NULL;
	p->m = NULL;
	atomic_store(&p->status, P_SYSCALL);
	gfi_sysmon_wake();
	errno = e;
}

GF_API void gf_syscall_exit(void)
{
	struct gfi_m *m = gfi_getm();
	gfi_g *gp = m ? m->curg : NULL;
	struct gfi_p *p;
	int st = P_SYSCALL;
	int e = errno;

	if (!gp || (atomic_load(&gp->status) & ~GSCAN) != GFIBERS_GSYSCALL)
		return;
	p = m->oldp;
	m->oldp = NULL;
	atomic_fetch_sub(&gfi_sched.nmsys, 1);
	if (atomic_compare_exchange_strong(&p->status, &st, P_RUNNING)) {
		m->p = p;
		p->m = m;
		gfi_casgstatus(gp, GFIBERS_GSYSCALL, GFIBERS_GRUNNING);
		errno = e;
		return;
	}
	p = gfi_pidleget();
	if (p) {
		gfi_acquirep(m, p);
		gfi_casgstatus(gp, GFIBERS_GSYSCALL, GFIBERS_GRUNNING);
		errno = e;
		return;
	}
	/* No P: queue globally, from g0, once our context is saved. */
	gfi_casgstatus(gp, GFIBERS_GSYSCALL, GFIBERS_GRUNNABLE);
	m->prevg = gp;
	m->prev_action = PA_GLOBRUNQ;
	m->curg = NULL;
	gp->m = NULL;
	m = gfi_switch(m, gp, NULL, false);
	gfi_after_switch(m);
	errno = e;
}
