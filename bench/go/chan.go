// SPDX-License-Identifier: MIT
package main

import "time"

// pingpong: unbuffered ping and pong channels; one operation is a round
// trip (main sends on ping, the partner answers on pong). The partner
// lives for the whole process, across calibration runs.
func pingpong() perOp {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	return func(n int) time.Duration {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			ping <- i
			<-pong
		}
		return time.Since(t0)
	}
}

// bufchan: one producer, one consumer, a channel of capacity 128; one
// operation is one message.
func bufchan() perOp {
	return func(n int) time.Duration {
		c := make(chan int, 128)
		done := make(chan struct{})
		go func() {
			for range c {
			}
			close(done)
		}()
		t0 := time.Now()
		for i := 0; i < n; i++ {
			c <- i
		}
		close(c)
		<-done
		return time.Since(t0)
	}
}

// selectN: a producer sends round-robin on four unbuffered channels; main
// receives with one select over the four. One operation is one select that
// completes one message.
func selectN() perOp {
	var cs [4]chan int
	for i := range cs {
		cs[i] = make(chan int)
	}
	req := make(chan int)
	go func() {
		for n := range req {
			for i := 0; i < n; i++ {
				cs[i&3] <- i
			}
		}
	}()
	return func(n int) time.Duration {
		t0 := time.Now()
		req <- n
		for i := 0; i < n; i++ {
			select {
			case <-cs[0]:
			case <-cs[1]:
			case <-cs[2]:
			case <-cs[3]:
			}
		}
		return time.Since(t0)
	}
}
