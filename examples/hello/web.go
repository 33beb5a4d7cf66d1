// Command web is the hello example's web app: it answers on 127.0.0.1:$PORT (8080
// when unset) and logs each request to stdout, which roost captures.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s", r.Method, r.URL.Path)
		fmt.Fprintf(w, "hello from %s, pid %d\n", os.Getenv("SUPERVISOR_PROCESS_NAME"), os.Getpid())
	})
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	log.SetOutput(os.Stdout)
	// Loopback only: nginx (or you, with curl) reaches it on this host.
	log.Printf("listening on 127.0.0.1:%s", port)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, nil))
}
