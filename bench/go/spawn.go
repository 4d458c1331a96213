// SPDX-License-Identifier: MIT
package main

import (
	"sync"
	"time"
)

// spawn: start n goroutines that only call wg.Done, wait for all; ns per
// goroutine.
func spawn(n int) float64 {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go wg.Done()
	}
	wg.Wait()
	d := time.Since(t0)
	if n == 0 {
		return 0
	}
	return float64(d.Nanoseconds()) / float64(n)
}
