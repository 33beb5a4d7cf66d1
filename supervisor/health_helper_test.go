package supervisor

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// serveUntil is the "serve-until:KIND:FILE" helper step: a server that
// stops answering once FILE exists (see helperMain).
func serveUntil(arg string) int {
	kind, flag, _ := strings.Cut(arg, ":")
	os.Remove(flag)
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	gone := func() bool { _, err := os.Stat(flag); return err == nil }
	if kind == "http" {
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if gone() {
				<-r.Context().Done() // hung: never answers
				return
			}
			fmt.Fprintln(w, "ok")
		}))
	} else {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	if os.Getenv("IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	for {
		select {
		case <-term:
			return 0
		case <-tick.C:
			if kind == "tcp" && gone() {
				ln.Close()
			}
		}
	}
}
