// Command prodcons: 4 producers and 4 consumers over one channel of capacity
// 1024 move n items in total; the producers' WaitGroup closes the channel and the
// consumers range until it is drained. The gort mirror is the "prodcons" part of
// benches/drivers/bench_chan.rs. Prints `prodcons: X ms` per rep.
package main

import (
	"flag"
	"fmt"
	"sync"
	"time"
)

func run(n int) time.Duration {
	const producers, consumers = 4, 4
	ch := make(chan int, 1024)
	var pwg, cwg sync.WaitGroup
	sums := make([]int, consumers)
	start := time.Now()
	for p := 0; p < producers; p++ {
		pwg.Add(1)
		go func(p int) {
			defer pwg.Done()
			for i := p; i < n; i += producers {
				ch <- i
			}
		}(p)
	}
	for c := 0; c < consumers; c++ {
		cwg.Add(1)
		go func(c int) {
			defer cwg.Done()
			s := 0
			for v := range ch {
				s += v
			}
			sums[c] = s
		}(c)
	}
	pwg.Wait()
	close(ch)
	cwg.Wait()
	d := time.Since(start)
	total := 0
	for _, s := range sums {
		total += s
	}
	if total != n*(n-1)/2 {
		panic("prodcons: lost or duplicated items")
	}
	return d
}

func main() {
	n := flag.Int("n", 10_000_000, "items")
	reps := flag.Int("reps", 3, "repetitions")
	flag.Parse()
	for r := 0; r < *reps; r++ {
		d := run(*n)
		fmt.Printf("prodcons: %.1f ms\n", float64(d)/float64(time.Millisecond))
	}
}
