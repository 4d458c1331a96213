// SPDX-License-Identifier: MIT
//
// The Go peer of every gfibers workload (bench/run.sh drives it).
//
// Usage: gobench WORKLOAD [N]
//
// Prints one number on stdout, in the unit bench/run.sh records for the
// workload. Per-operation workloads (yield, pingpong, bufchan, select) take
// N operations when N is given; otherwise they calibrate, as Go's
// testing.B does: N doubles until one run lasts BENCH_TIME seconds
// (default 0.3), and the last run is reported. The others (spawn, sieve,
// timers, rss_parked_*) have the fixed sizes of the issue unless N is given.
// "http N" serves HTTP on port N until killed (bench/http.sh).
// Procs is GOMAXPROCS, set by the driver through the environment.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// perOp is a workload measured per operation: run(n) performs n operations.
type perOp func(n int) time.Duration

// measure returns ns per operation of run, either for exactly n operations
// (n >= 0) or calibrated to last about BENCH_TIME seconds (n < 0).
// ops is how many operations one unit of n is (a yield ping of n rounds is
// 2n yields).
func measure(run perOp, n int, ops float64) float64 {
	if n >= 0 {
		d := run(n)
		if n == 0 {
			return 0
		}
		return float64(d.Nanoseconds()) / (float64(n) * ops)
	}
	target := 0.3
	if s := os.Getenv("BENCH_TIME"); s != "" {
		if v, err := strconv.ParseFloat(s, 64); err == nil && v > 0 {
			target = v
		}
	}
	n = 1000
	for {
		d := run(n)
		if d.Seconds() >= target || n >= 1<<30 {
			return float64(d.Nanoseconds()) / (float64(n) * ops)
		}
		// Aim for 1.2x the target from the measured rate, at most 100x.
		next := int(float64(n) * 1.2 * target / (d.Seconds() + 1e-9))
		if next > 100*n {
			next = 100 * n
		}
		if next <= n {
			next = 2 * n
		}
		n = next
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gobench WORKLOAD [N]")
		os.Exit(2)
	}
	n := -1
	if len(os.Args) > 2 {
		v, err := strconv.Atoi(os.Args[2])
		if err != nil || v < 0 {
			fmt.Fprintln(os.Stderr, "gobench: bad N:", os.Args[2])
			os.Exit(2)
		}
		n = v
	}
	fixed := func(def int) int {
		if n >= 0 {
			return n
		}
		return def
	}
	var v float64
	switch os.Args[1] {
	case "yield":
		v = measure(yield, n, 2)
	case "pingpong":
		v = measure(pingpong(), n, 1)
	case "bufchan":
		v = measure(bufchan(), n, 1)
	case "select":
		v = measure(selectN(), n, 1)
	case "spawn":
		v = spawn(fixed(1000000))
	case "sieve":
		v = sieve(fixed(5000))
	case "timers":
		v = timers(fixed(100000))
	case "rss_parked_100k":
		v = rssParked(fixed(100000))
	case "gfps_100k":
		v = goroutineProfile(fixed(100000))
	case "rss_parked_1m":
		v = rssParked(fixed(1000000))
	case "rss_after_exit_1m":
		v = rssAfterExit(fixed(1000000))
	case "http":
		httpServe(fixed(8080)) // N: the port; never returns
	default:
		fmt.Fprintln(os.Stderr, "gobench: unknown workload", os.Args[1])
		os.Exit(2)
	}
	fmt.Printf("%.3f\n", v)
}
