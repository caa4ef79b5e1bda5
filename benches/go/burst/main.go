// Command burst measures whether memory comes back after a burst of
// goroutines: it starts n goroutines that all block on one channel, reads the
// process RSS (VmRSS from /proc/self/status), lets them all exit, and then
// prints the RSS every -every seconds for -idle seconds while the program sits
// idle. Go frees the stacks of dead goroutines at the next collection (forced
// every 2 minutes in an idle program) and its scavenger returns free pages to
// the OS. benches/drivers/bench_burst.rs is the gort mirror.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// vmRSS returns the resident set size of this process in KiB.
func vmRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, "burst:", err)
		os.Exit(1)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				fmt.Fprintln(os.Stderr, "burst:", err)
				os.Exit(1)
			}
			return kib
		}
	}
	fmt.Fprintln(os.Stderr, "burst: VmRSS not found")
	os.Exit(1)
	return 0
}

func main() {
	n := flag.Int("n", 1_000_000, "number of goroutines in the burst")
	idle := flag.Int("idle", 300, "seconds to stay idle after the burst")
	every := flag.Int("every", 30, "print the RSS every this many seconds")
	flag.Parse()

	before := vmRSS()
	block := make(chan struct{})
	var started, exited sync.WaitGroup
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
	peak := vmRSS()
	close(block)
	exited.Wait()
	fmt.Printf("go burst: n=%d rss_before=%dKiB rss_parked=%dKiB rss_exited=%dKiB\n",
		*n, before, peak, vmRSS())
	idleStart := time.Now()
	for t := *every; t <= *idle; t += *every {
		time.Sleep(time.Until(idleStart.Add(time.Duration(t) * time.Second)))
		fmt.Printf("go burst: idle=%ds rss=%dKiB\n", t, vmRSS())
	}
}
