package handover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"roost/internal/mainthread"
)

// ProbeTimeout bounds the probe of a new binary: a Go binary's start, even
// on a host busy enough to take seconds over it.
const ProbeTimeout = 15 * time.Second

// probeReply is the first word of a probe's answer.
const probeReply = "roost-handover"

// Probe runs `path handover-probe` with the state on its stdin and returns
// the version the new binary reports. Any other outcome (it cannot start,
// exits non-zero, says something else, takes longer than ProbeTimeout)
// is an error that quotes what it said. st is read from its current
// offset and left there.
func Probe(ctx context.Context, path string, st *os.File) (string, error) {
	off, err := st.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", err
	}
	defer st.Seek(off, io.SeekStart)
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, path, ProbeCommand)
	cmd.Stdin = st
	cmd.Stdout = &limited{w: &out, n: 4096}
	cmd.Stderr = &limited{w: &errOut, n: 4096}
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	err = cmd.Run()
	said := strings.TrimSpace(errOut.String() + " " + out.String())
	if ctx.Err() != nil {
		return "", fmt.Errorf("%s did not answer the handover probe within %s", path, ProbeTimeout)
	}
	if err != nil {
		if said != "" {
			return "", fmt.Errorf("%s failed the handover probe (%v): %s", path, err, said)
		}
		return "", fmt.Errorf("%s failed the handover probe: %w", path, err)
	}
	f := strings.Fields(out.String())
	if len(f) != 3 || f[0] != probeReply || f[1] != strconv.Itoa(Protocol) {
		return "", fmt.Errorf("%s is not a roost that takes this handover (protocol %d); it said %q", path, Protocol, said)
	}
	return f[2], nil
}

// Answer is the new binary's side of the probe: it decodes the state on r,
// lets check (if any) look at it as the new image would, and writes the
// reply with its version.
func Answer(r io.Reader, w io.Writer, version string, check func(*State) error) error {
	st, err := Decode(r)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(st); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(w, "%s %d %s\n", probeReply, Protocol, version)
	return err
}

// limited keeps the first n bytes written and drops the rest.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	k := min(len(p), l.n)
	l.n -= k
	_, _ = l.w.Write(p[:k])
	return len(p), nil
}

// ErrNoMainThread says the process cannot exec with its programs: it does
// not run its forks on the main thread (internal/mainthread).
var ErrNoMainThread = errors.New("handover: this process does not fork on its main thread (not the roost binary); cannot re-exec")

// Exec replaces the process image with path, argv and env plus EnvFD=state,
// on the main thread. It returns only on failure; the descriptors the
// state names must have been Inherited.
func Exec(path string, argv, env []string, state *os.File) error {
	fd, err := Inherit(state)
	if err != nil {
		return err
	}
	env = append(withoutVar(env, EnvFD), EnvFD+"="+strconv.Itoa(fd))
	ran := mainthread.Do(func() { err = syscall.Exec(path, argv, env) })
	if !ran {
		return ErrNoMainThread
	}
	return fmt.Errorf("handover: exec %s: %w", path, err)
}

func withoutVar(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
