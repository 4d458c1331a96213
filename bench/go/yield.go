// SPDX-License-Identifier: MIT
package main

import (
	"runtime"
	"sync"
	"time"
)

// yield: two goroutines each call runtime.Gosched n times, so with
// GOMAXPROCS=1 every Gosched hands the P to the other one: 2n yields.
func yield(n int) time.Duration {
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Add(2)
	for i := 0; i < 2; i++ {
		go func() {
			defer wg.Done()
			<-start
			for j := 0; j < n; j++ {
				runtime.Gosched()
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	return time.Since(t0)
}
