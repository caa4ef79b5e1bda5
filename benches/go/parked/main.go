// Command parked measures the memory cost of a blocked goroutine: it starts n
// goroutines that all block receiving from one shared channel and compares
// the process RSS (VmRSS from /proc/self/status) before and after.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// vmRSS returns the resident set size of this process in KiB.
func vmRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, "parked:", err)
		os.Exit(1)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(rest) // e.g. ["1234", "kB"]
			kib, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				fmt.Fprintln(os.Stderr, "parked:", err)
				os.Exit(1)
			}
			return kib
		}
	}
	fmt.Fprintln(os.Stderr, "parked: VmRSS not found")
	os.Exit(1)
	return 0
}

func main() {
	n := flag.Int("n", 100_000, "number of parked goroutines")
	flag.Parse()

	block := make(chan struct{})
	var started, exited sync.WaitGroup

	before := vmRSS()

	started.Add(*n)
	exited.Add(*n)
	for i := 0; i < *n; i++ {
		go func() {
			defer exited.Done()
			started.Done()
			<-block
		}()
	}
	started.Wait()

	after := vmRSS()
	per := float64(after-before) * 1024 / float64(*n)
	fmt.Printf("go parked: n=%d rss_before=%dKiB rss_after=%dKiB per_goroutine=%.0fB\n",
		*n, before, after, per)

	close(block)
	exited.Wait()
}
