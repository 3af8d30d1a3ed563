// goservice: the Go microservice of the project's background, a plain console
// program run as a Windows service by a wrapper (tend or NSSM). It serves HTTP on
// -listen (GET /healthz answers "ok", GET / greets with its pid) and on Ctrl-C
// (os.Interrupt) shuts the server down gracefully, appends "graceful PID" to -marker
// and exits 0. Standard library only; built for Windows by bench/wine-stop.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	marker := flag.String("marker", "", "file to append \"graceful PID\" to after a graceful shutdown")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from goservice (pid %d)\n", os.Getpid())
	})
	srv := &http.Server{Addr: *listen, Handler: mux}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("goservice listening on %s (pid %d)", *listen, os.Getpid())

	select {
	case err := <-served:
		log.Fatalf("serve: %v", err)
	case <-stop:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatalf("shutdown: %v", err)
	}
	if *marker != "" {
		f, err := os.OpenFile(*marker, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			log.Fatalf("marker: %v", err)
		}
		fmt.Fprintf(f, "graceful %d\n", os.Getpid())
		f.Close()
	}
	log.Printf("goservice: graceful shutdown")
}
