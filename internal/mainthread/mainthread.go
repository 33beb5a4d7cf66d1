// Package mainthread runs functions on the process's main thread.
//
// A user supervisor forks its programs with Pdeathsig, which the kernel
// ties to the forking *thread* (golang/go#27505), and an execve ends every
// thread but the caller's. For programs to survive their supervisor's
// re-exec (handover/), every fork and the execve itself must happen on one
// thread, and it must be the main thread: after the execve the caller
// becomes the new image's main thread, which Go never ends, and which
// therefore forks and execs again in the next generation.
//
// Package main locks its main goroutine to the main thread in an init
// function and calls Serve; code that needs the main thread calls Do. In a
// process that never calls Serve (tests), Do reports false and the caller
// uses a thread of its own.
package mainthread

import (
	"runtime"
	"sync/atomic"
)

var (
	serving atomic.Bool
	calls   = make(chan func())
)

// Serve runs f on a new goroutine and, on the calling goroutine, every
// function passed to Do until f returns; it returns f's result. The caller
// must be the main goroutine locked to the main thread (runtime.LockOSThread
// in package main's init).
func Serve(f func() int) int {
	runtime.LockOSThread() // already locked by init: this only makes sure
	done := make(chan int, 1)
	serving.Store(true)
	go func() { done <- f() }()
	for {
		select {
		case fn := <-calls:
			fn()
		case code := <-done:
			serving.Store(false)
			return code
		}
	}
}

// Serving reports whether Serve runs, so that Do would run on the main
// thread.
func Serving() bool { return serving.Load() }

// Do runs fn on the main thread and waits for it; it reports false (and
// does not run fn) when Serve does not run.
func Do(fn func()) bool {
	if !serving.Load() {
		return false
	}
	done := make(chan struct{})
	calls <- func() { defer close(done); fn() }
	<-done
	return true
}
