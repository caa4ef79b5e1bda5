// Command spawn measures the cost of creating goroutines: it starts n
// goroutines that each immediately call wg.Done, then waits for all of them.
package main

import (
	"flag"
	"fmt"
	"sync"
	"time"
)

func run(n int) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			wg.Done()
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func report(label string, n int, d time.Duration) {
	ms := float64(d) / float64(time.Millisecond)
	per := float64(d) / float64(n)
	fmt.Printf("go spawn: %sn=%d total=%.1fms per_goroutine=%.0fns\n", label, n, ms, per)
}

func main() {
	n := flag.Int("n", 1_000_000, "number of goroutines to spawn")
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
