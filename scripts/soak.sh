#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make soak DURATION=3600`: churn processes of FIBERS (default 100,000)
# fibers each, readers of /proc/gfibers and the hung-fiber watchdog, on the
# debug kernel by default, for DURATION seconds; then check that the
# module's counters and the kernel's memory (MemAvailable, SUnreclaim,
# VmallocUsed, after dropping caches; kmemleak) are back where they
# started.  fuzz_test's soak mode does the work; scripts/fuzz.sh boots the
# VM.  Environment: DURATION (default 3600), PROCS (churners, default 2),
# READERS (default 2), FIBERS, SEED, VMK (debug, 6.1 or 6.12), VM_MEM.
exec "$(dirname "$0")/fuzz.sh" soak
