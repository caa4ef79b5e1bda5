// Command threadring is the benchmarks-game thread-ring: 503 goroutines in a
// ring, each with its own unbuffered channel, pass a token n times; the one
// holding it when it reaches zero reports its id. The gort mirror is the
// "threadring" part of benches/drivers/bench_chan.rs. Prints `threadring: X ms` per rep
// (and the winner's id on stderr, which both sides must agree on).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

const ring = 503

func worker(id int, in <-chan int, out chan<- int, done chan<- int) {
	for {
		t := <-in
		if t == 0 {
			done <- id
			return
		}
		out <- t - 1
	}
}

func run(n int) (time.Duration, int) {
	chans := make([]chan int, ring)
	for i := range chans {
		chans[i] = make(chan int)
	}
	done := make(chan int)
	for i := 0; i < ring; i++ {
		go worker(i+1, chans[i], chans[(i+1)%ring], done)
	}
	start := time.Now()
	chans[0] <- n
	id := <-done
	return time.Since(start), id
}

func main() {
	n := flag.Int("n", 10_000_000, "token passes")
	reps := flag.Int("reps", 3, "repetitions")
	flag.Parse()
	for r := 0; r < *reps; r++ {
		d, id := run(*n)
		fmt.Fprintf(os.Stderr, "threadring: winner %d\n", id)
		fmt.Printf("threadring: %.1f ms\n", float64(d)/float64(time.Millisecond))
	}
}
