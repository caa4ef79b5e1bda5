// Command alloc measures small-object allocation throughput (mallocgc) the way
// gort-alloc's bench_alloc example does: batches of n pointer-free objects whose
// sizes cycle through a fixed pseudo-random list in [16, 512] bytes (the same
// xorshift sequence on both sides), from one goroutine and from two at once.
// Run with GOGC=off: the timed batch never collects; runtime.GC() between batches
// (untimed) frees the previous batch and finishes its sweep, so every batch
// allocates from warm, reused memory.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"time"
)

var sizes [4096]int

func init() {
	x := uint64(0x9e3779b97f4a7c15)
	for i := range sizes {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		sizes[i] = 16 + int(x%497)
	}
}

var sink [2][][]byte

func batch(w, n int) {
	keep := sink[w]
	for i := 0; i < n; i++ {
		keep[i] = make([]byte, sizes[i&4095])
	}
}

func clear() {
	for w := range sink {
		for i := range sink[w] {
			sink[w][i] = nil
		}
	}
	runtime.GC()
}

func main() {
	n := flag.Int("n", 20_000, "objects per batch (per goroutine)")
	reps := flag.Int("reps", 200, "batches")
	flag.Parse()
	sink[0] = make([][]byte, *n)
	sink[1] = make([][]byte, *n)

	best1 := time.Duration(1 << 62)
	for r := 0; r < *reps; r++ {
		clear()
		start := time.Now()
		batch(0, *n)
		if d := time.Since(start); d < best1 {
			best1 = d
		}
	}
	best2 := time.Duration(1 << 62)
	for r := 0; r < *reps; r++ {
		clear()
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func(w int) {
				batch(w, *n)
				wg.Done()
			}(w)
		}
		wg.Wait()
		if d := time.Since(start); d < best2 {
			best2 = d
		}
	}
	one := float64(*n) / best1.Seconds() / 1e6
	two := float64(2**n) / best2.Seconds() / 1e6
	fmt.Printf("go alloc: mixed16-512 one-thread ns/op=%.2f Mops/s=%.1f\n", float64(best1)/float64(*n), one)
	fmt.Printf("go alloc: mixed16-512 two-threads Mops/s=%.1f scaling=%.2fx\n", two, two/one)
}
