// SPDX-License-Identifier: MIT
package main

import "time"

// sieve: the concurrent prime sieve of Go's documentation
// (doc/play/sieve.go): a generator and one filter goroutine per prime
// found, chained by unbuffered channels. Milliseconds to find n primes.
func sieve(n int) float64 {
	t0 := time.Now()
	ch := make(chan int)
	go func(out chan<- int) {
		for i := 2; ; i++ {
			out <- i
		}
	}(ch)
	for i := 0; i < n; i++ {
		prime := <-ch
		ch1 := make(chan int)
		go func(in <-chan int, out chan<- int, p int) {
			for {
				if v := <-in; v%p != 0 {
					out <- v
				}
			}
		}(ch, ch1, prime)
		ch = ch1
	}
	return float64(time.Since(t0).Nanoseconds()) / 1e6
}
