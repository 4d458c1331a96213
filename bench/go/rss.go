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

// rssAfterExit: RSS after n goroutines, each parked on one channel
// receive, have been woken (the channel closed) and have exited, as a
// percentage of the RSS before they were created (100: all came back).
// No debug.FreeOSMemory: what a program gets without asking.
func rssAfterExit(n int) float64 {
	block := make(chan struct{})
	var parked, exited sync.WaitGroup
	r0 := rssBytes()
	parked.Add(n)
	exited.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			parked.Done()
			<-block
			exited.Done()
		}()
	}
	parked.Wait()
	close(block)
	exited.Wait()
	return 100 * rssBytes() / r0
}
