// SPDX-License-Identifier: MIT
package main

import (
	"fmt"
	"net/http"
	"os"
)

// The HTTP workload's peer (bench/http.sh): net/http on 127.0.0.1:port,
// answering every request with examples/httpd's "/" bytes:
//
//	HTTP/1.1 200 OK\r\nContent-Length: 14\r\n
//	Content-Type: text/plain; charset=utf-8\r\n\r\nHello, World!\n
//
// (Date suppressed, as httpd sends none). Serves until killed.
var hello = []byte("Hello, World!\n")

func httpServe(port int) {
	h := func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = []string{"text/plain; charset=utf-8"}
		hd["Content-Length"] = []string{"14"}
		hd["Date"] = nil
		w.Write(hello)
	}
	err := http.ListenAndServe(fmt.Sprintf("127.0.0.1:%d", port),
		http.HandlerFunc(h))
	fmt.Fprintln(os.Stderr, "gobench: http:", err)
	os.Exit(1)
}
