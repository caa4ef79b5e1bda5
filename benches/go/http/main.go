// Command http is the Go twin of gort's examples/http_server.rs, for
// benches/http.sh: the same two handlers on net/http, bound to 127.0.0.1.
//
//	/healthz            answers "ok"
//	/debug/goroutines   every goroutine (net/http/pprof's goroutine?debug=2)
//	anything else       the request's headers, as response headers and body
//
// Usage: http [PORT] [IDLE_SECS]   (defaults 8081 and 30)
package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	port, idle := 8081, 30
	var err error
	if len(os.Args) > 1 {
		if port, err = strconv.Atoi(os.Args[1]); err != nil || port < 0 || port > 65535 {
			fmt.Fprintf(os.Stderr, "http: invalid port %q\n", os.Args[1])
			os.Exit(2)
		}
	}
	if len(os.Args) > 2 {
		if idle, err = strconv.Atoi(os.Args[2]); err != nil || idle <= 0 {
			fmt.Fprintf(os.Stderr, "http: invalid idle timeout %q\n", os.Args[2])
			os.Exit(2)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/debug/goroutines", func(w http.ResponseWriter, r *http.Request) {
		pprof.Handler("goroutine").ServeHTTP(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		for name, values := range r.Header {
			for _, v := range values {
				w.Header().Add(name, v)
				fmt.Fprintf(&b, "%s: %s\n", name, v)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(b.String()))
	})
	srv := &http.Server{
		Addr:              fmt.Sprintf("127.0.0.1:%d", port),
		Handler:           mux,
		ReadHeaderTimeout: time.Duration(idle) * time.Second,
		IdleTimeout:       time.Duration(idle) * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	fmt.Printf("listening on http://%s\n", srv.Addr)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		os.Exit(1)
	}
}
