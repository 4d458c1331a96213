// SPDX-License-Identifier: MIT
package main

import (
	"bytes"
	"os"
	"strconv"
	"sync"
)

// rssBytes reads the resident set size from /proc/self/statm.
func rssBytes() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		panic(err)
	}
	f := bytes.Fields(b)
	pages, err := strconv.ParseFloat(string(f[1]), 64)
	if err != nil {
		panic(err)
	}
	return pages * float64(os.Getpagesize())
}

// rssParked: RSS growth per goroutine with n goroutines parked on one
// channel receive, in bytes.
func rssParked(n int) float64 {
	block := make(chan struct{})
	var wg sync.WaitGroup
	r0 := rssBytes()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			wg.Done()
			<-block
		}()
	}
	wg.Wait()
	r1 := rssBytes()
	close(block)
	if n == 0 {
		return 0
	}
	return (r1 - r0) / float64(n)
}
