// SPDX-License-Identifier: MIT
package main

import (
	"math/rand"
	"sync"
	"syscall"
	"time"
)

func cpuMs() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

// timers: n goroutines each sleep a random 1-100 ms (fixed seed); the
// process's CPU time (user + system, getrusage) from before the first
// spawn until the last one wakes, in ms.
func timers(n int) float64 {
	r := rand.New(rand.NewSource(1))
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = time.Duration(1+r.Intn(100)) * time.Millisecond
	}
	var wg sync.WaitGroup
	c0 := cpuMs()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(d time.Duration) {
			time.Sleep(d)
			wg.Done()
		}(d[i])
	}
	wg.Wait()
	return cpuMs() - c0
}
