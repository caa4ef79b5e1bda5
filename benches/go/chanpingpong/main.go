// Command chanpingpong: two goroutines bounce a value over two unbuffered
// channels for n round trips (each round trip is two hand-offs, each a park of
// one side and a ready of the other). The gort mirror is the "chanpingpong" part
// of benches/drivers/bench_chan.rs. Prints one line per rep: `chanpingpong: X ms`.
package main

import (
	"flag"
	"fmt"
	"time"
)

func run(n int) time.Duration {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	d := time.Since(start)
	close(ping)
	<-pong
	return d
}

func main() {
	n := flag.Int("n", 1_000_000, "round trips")
	reps := flag.Int("reps", 3, "repetitions")
	flag.Parse()
	for r := 0; r < *reps; r++ {
		d := run(*n)
		fmt.Printf("chanpingpong: %.1f ms\n", float64(d)/float64(time.Millisecond))
	}
}
