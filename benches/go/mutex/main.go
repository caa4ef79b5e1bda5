// Command mutex measures the sync workloads of gort's benches/sync.rs on the
// real Go runtime:
//
//   - mutex_uncontended: one goroutine, Lock+Unlock n times (the fast paths);
//   - mutex_contended: 8 goroutines on GOMAXPROCS Ps share one Mutex, each doing
//     n/8 Lock, counter++, Unlock (spinning, parking, starvation handoffs);
//   - rwmutex_read_uncontended: one goroutine, RLock+RUnlock n times;
//   - waitgroup_add_done_wait: one goroutine, Add(1)+Done()+Wait() n times.
//
// Prints one line per workload and rep, then the best per workload, e.g.
//
//	go mutex: mutex_contended n=1000000 total=52.1ms per_op=52.1ns
//	go mutex: best mutex_contended per_op=50.3ns
//
// Run: GOMAXPROCS=2 GOTOOLCHAIN=local GOPROXY=off go run . -n 1000000 -reps 5
package main

import (
	"flag"
	"fmt"
	"sync"
	"time"
)

const contenders = 8

func mutexUncontended(n int) time.Duration {
	var mu sync.Mutex
	start := time.Now()
	for i := 0; i < n; i++ {
		mu.Lock()
		mu.Unlock()
	}
	return time.Since(start)
}

func mutexContended(n int) time.Duration {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter := 0
	start := time.Now()
	for g := 0; g < contenders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/contenders; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	if counter != n/contenders*contenders {
		panic("lost update")
	}
	return d
}

func rwmutexRead(n int) time.Duration {
	var mu sync.RWMutex
	start := time.Now()
	for i := 0; i < n; i++ {
		mu.RLock()
		mu.RUnlock()
	}
	return time.Since(start)
}

func waitgroupCycle(n int) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		wg.Done()
		wg.Wait()
	}
	return time.Since(start)
}

func main() {
	n := flag.Int("n", 1_000_000, "operations per workload")
	reps := flag.Int("reps", 5, "number of repetitions")
	flag.Parse()

	workloads := []struct {
		name string
		f    func(int) time.Duration
	}{
		{"mutex_uncontended", mutexUncontended},
		{"mutex_contended", mutexContended},
		{"rwmutex_read_uncontended", rwmutexRead},
		{"waitgroup_add_done_wait", waitgroupCycle},
	}
	for _, w := range workloads {
		var best time.Duration
		for r := 0; r < *reps; r++ {
			d := w.f(*n)
			fmt.Printf("go mutex: %s n=%d total=%.1fms per_op=%.1fns\n", w.name, *n,
				float64(d)/float64(time.Millisecond), float64(d)/float64(*n))
			if r == 0 || d < best {
				best = d
			}
		}
		fmt.Printf("go mutex: best %s per_op=%.1fns\n", w.name, float64(best)/float64(*n))
	}
}
