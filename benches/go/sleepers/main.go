// Command sleepers measures what sleeping goroutines cost: g goroutines each
// sleep d n times; the figure is the process's CPU time (user+sys from getrusage)
// over the run, and its wall time. The gort mirror is benches/drivers/bench_sleepers.rs.
package main

import (
	"flag"
	"fmt"
	"sync"
	"syscall"
	"time"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(g, n int, d time.Duration) (wall, used time.Duration) {
	c0, t0 := cpu(), time.Now()
	var wg sync.WaitGroup
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func() {
			for j := 0; j < n; j++ {
				time.Sleep(d)
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return time.Since(t0), cpu() - c0
}

func main() {
	g := flag.Int("g", 10_000, "goroutines")
	n := flag.Int("n", 100, "sleeps per goroutine")
	us := flag.Int("us", 1000, "sleep, microseconds")
	reps := flag.Int("reps", 3, "repetitions")
	flag.Parse()
	var best time.Duration
	for r := 0; r < *reps; r++ {
		wall, used := run(*g, *n, time.Duration(*us)*time.Microsecond)
		fmt.Printf("go sleepers: g=%d n=%d wall=%.1fms cpu=%.1fms\n", *g, *n,
			float64(wall)/1e6, float64(used)/1e6)
		if r == 0 || used < best {
			best = used
		}
	}
	fmt.Printf("go sleepers: best cpu=%.1fms\n", float64(best)/1e6)
}
