package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"roost/internal/termsafe"
	"roost/supervisor/api"
)

func init() {
	ctlCommand(&cli.Command{
		Name:      "logs",
		Usage:     "print the logs of several programs merged, one line at a time, name-prefixed (like pm2 logs)",
		ArgsUsage: "[NAME|GROUP:*|all ...]",
		Description: "Every named process (all by default), stdout and stderr, each line\n" +
			"prefixed with the process name; names are coloured on a terminal unless\n" +
			"NO_COLOR is set.\n\nExamples:\n  roost logs\n  roost logs -f web 'workers:*'\n  roost logs -n 100 web",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines until Ctrl-C"},
			&cli.IntFlag{Name: "lines", Aliases: []string{"n"}, Value: 15, Usage: "print the last `N` lines of each log first"},
		},
		Action: logsAction,
	})
}

// maxLogLine bounds a line logs holds while waiting for its end; a longer
// one is printed in pieces, each with its prefix.
const maxLogLine = 64 << 10

// the colours names get on a terminal, in turn.
var logColours = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

func logsAction(c *cli.Context) error {
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	all, err := x.client.Processes(x.ctx)
	if err != nil {
		x.fail(err)
		return x.done()
	}
	procs := selectProcesses(x, all, names(c), exitGeneric, true)
	if len(procs) == 0 {
		return x.done()
	}
	return x.showLogs(procs, nil, c.Int("lines"), c.Bool("follow"))
}

// logSource is one log of one process, with the prefix its lines get.
type logSource struct {
	name   string
	stream api.Stream
	prefix string
}

// showLogs prints the last n lines of each process's logs (only stream
// when it is not nil; else stdout and stderr when they are two files),
// each line prefixed with the process's name; with follow it then follows
// them all until interrupted, across restarts and rotations.
func (x *ctl) showLogs(procs []api.ProcessInfo, stream *api.Stream, n int, follow bool) error {
	colour := isTerminal(x.out) && os.Getenv("NO_COLOR") == ""
	width := 0
	for _, p := range procs {
		width = max(width, utf8.RuneCountInString(p.Namespec()))
	}
	// The lines are cleaned by lineWriter, and go out raw beside our own
	// colours.
	out := &lockedWriter{w: rawWriter(x.out)}
	var sources []logSource
	for i, p := range procs {
		name := string(termsafe.Append(nil, []byte(p.Namespec()))) // the prefix goes out raw
		prefix := fmt.Sprintf("%-*s | ", width, name)
		if colour {
			prefix = "\x1b[" + logColours[i%len(logColours)] + "m" + fmt.Sprintf("%-*s", width, name) + "\x1b[0m | "
		}
		switch {
		case stream != nil:
			sources = append(sources, logSource{p.Namespec(), *stream, prefix})
		default:
			if p.StdoutLogfile != "" {
				sources = append(sources, logSource{p.Namespec(), api.Stdout, prefix})
			}
			if p.StderrLogfile != "" && p.StderrLogfile != p.StdoutLogfile {
				sources = append(sources, logSource{p.Namespec(), api.Stderr, prefix})
			}
		}
	}
	if !follow {
		for _, s := range sources {
			data, err := x.client.LastLines(x.ctx, s.name, s.stream, n)
			if err != nil {
				x.logError(s.name, err)
				continue
			}
			lw := &lineWriter{out: out, prefix: s.prefix}
			lw.Write(data)
			lw.Flush()
		}
		return x.done()
	}
	ctx, stop := signal.NotifyContext(x.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	for _, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lw := &lineWriter{out: out, prefix: s.prefix}
			defer lw.Flush()
			err := func() error {
				last, err := x.client.LastLines(ctx, s.name, s.stream, n)
				if err != nil {
					return err
				}
				return x.client.FollowLog(ctx, s.name, s.stream, int64(len(last)), lw)
			}()
			if err != nil && ctx.Err() == nil {
				out.mu.Lock() // x.out and x.status
				x.logError(s.name, err)
				out.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		fmt.Fprintln(out)
		return nil
	}
	return x.done()
}

// selectProcesses resolves names (all when none, or "all") to processes
// the way supervisorctl's status does, printing an error for an unknown one
// and setting the exit status to unknown. A process named twice is listed
// twice, as status lists it, unless once.
func selectProcesses(x *ctl, all []api.ProcessInfo, args []string, unknown int, once bool) []api.ProcessInfo {
	if len(args) == 0 || slices.Contains(args, "all") {
		return all
	}
	var out []api.ProcessInfo
	for _, name := range args {
		group, process, isGroup := api.SplitNamespec(name)
		found := false
		for _, in := range all {
			if in.Group == group && (isGroup || in.Name == process) {
				found = true
				if !once || !slices.ContainsFunc(out, func(o api.ProcessInfo) bool { return o.Namespec() == in.Namespec() }) {
					out = append(out, in)
				}
			}
		}
		if !found {
			if isGroup {
				x.println(group + ": ERROR (no such group)")
			} else {
				x.println(name + ": ERROR (no such process)")
			}
			x.status = unknown
		}
	}
	return out
}

// lockedWriter serializes writes from several followers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lineWriter prints whole lines, each with its prefix, in one write, so
// that lines from several logs never interleave within a line.
// It strips control characters from the lines (termsafe), not from the
// prefix, which may be coloured.
type lineWriter struct {
	out    io.Writer
	prefix string
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	var batch bytes.Buffer
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		batch.WriteString(l.prefix)
		batch.Write(termsafe.Append(nil, l.buf[:i+1]))
		l.buf = l.buf[i+1:]
	}
	for len(l.buf) >= maxLogLine {
		batch.WriteString(l.prefix)
		batch.Write(termsafe.Append(nil, l.buf[:maxLogLine]))
		batch.WriteString(" [line continues]\n")
		l.buf = l.buf[maxLogLine:]
	}
	if batch.Len() > 0 {
		if _, err := l.out.Write(batch.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush prints a last line that has no newline.
func (l *lineWriter) Flush() {
	if len(l.buf) > 0 {
		l.out.Write(append(termsafe.Append([]byte(l.prefix), l.buf), '\n'))
		l.buf = nil
	}
}
