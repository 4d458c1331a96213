// SPDX-License-Identifier: MIT
package main

import (
	"io"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// Three wait sites, as gf_gfps.c parks its fibers (noinline: each keeps
// its frame, as a real program's would).

//go:noinline
func parkRecv(c chan int, wg *sync.WaitGroup) {
	wg.Done()
	<-c
}

//go:noinline
func parkSend(c chan int, wg *sync.WaitGroup) {
	wg.Done()
	c <- 1
}

//go:noinline
func parkLock(mu *sync.Mutex, wg *sync.WaitGroup) {
	wg.Done()
	mu.Lock()
}

// goroutineProfile: n goroutines parked at three sites, then the time of
// one pprof.Lookup("goroutine").WriteTo(w, 1) (grouped stacks with
// counts, what `gfps -s` shows from outside), in ms: the median of 5.
func goroutineProfile(n int) float64 {
	recv, send := make(chan int), make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	mu.Lock()
	wg.Add(n)
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			go parkRecv(recv, &wg)
		case 1:
			go parkSend(send, &wg)
		default:
			go parkLock(&mu, &wg)
		}
	}
	wg.Wait()
	for i := 0; i < 100; i++ {
		runtime.Gosched() // the last ones reach their park
	}
	time.Sleep(50 * time.Millisecond)
	p := pprof.Lookup("goroutine")
	var ms [5]float64
	for r := range ms {
		t0 := time.Now()
		if err := p.WriteTo(io.Discard, 1); err != nil {
			panic(err)
		}
		ms[r] = float64(time.Since(t0).Nanoseconds()) / 1e6
	}
	for a := 1; a < len(ms); a++ {
		for b := a; b > 0 && ms[b-1] > ms[b]; b-- {
			ms[b], ms[b-1] = ms[b-1], ms[b]
		}
	}
	return ms[len(ms)/2]
}
