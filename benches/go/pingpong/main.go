// Command pingpong measures channel handoff latency: two goroutines bounce a
// value back and forth over two unbuffered channels for n round trips.
package main

import (
	"flag"
	"fmt"
	"time"
)

func run(n int) time.Duration {
	ping := make(chan int)
	pong := make(chan int)
	done := make(chan struct{})

	go func() {
		for v := range ping {
			pong <- v
		}
		close(done)
	}()

	start := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	d := time.Since(start)
	close(ping)
	<-done
	return d
}

func report(label string, n int, d time.Duration) {
	ms := float64(d) / float64(time.Millisecond)
	per := float64(d) / float64(n)
	fmt.Printf("go pingpong: %sn=%d total=%.1fms per_roundtrip=%.0fns\n", label, n, ms, per)
}

func main() {
	n := flag.Int("n", 1_000_000, "number of round trips")
	reps := flag.Int("reps", 5, "number of repetitions")
	flag.Parse()

	var best time.Duration
	for r := 0; r < *reps; r++ {
		d := run(*n)
		report("", *n, d)
		if r == 0 || d < best {
			best = d
		}
	}
	report("best= ", *n, best)
}
