package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"roost/internal/termsafe"
	"roost/top"
)

func init() {
	ctlCommand(&cli.Command{
		Name:      "top",
		Usage:     "a live table of the programs: CPU %, memory, peak memory, pids, restarts, uptime",
		ArgsUsage: " ",
		Description: "On a terminal, roost top redraws the table in place every --delay seconds, like\n" +
			"htop or pm2 monit; q (or Ctrl-C) quits. CPU% is of one CPU (a program busy on two\n" +
			"shows 200), measured between two samples of its CPU seconds: the first screen\n" +
			"shows '-' until the second sample. MEM is the resident memory of the program's\n" +
			"processes (its memory cgroup's usage when it has a cgroup of its own), PEAK the\n" +
			"most it used (its cgroup's peak; else the sum of each live process's own peak,\n" +
			"VmHWM, an upper bound), PIDS its tasks (threads included): the same figures as\n" +
			"`roost status --json`'s usage. On a narrow terminal PEAK, RESTARTS, PIDS, UPTIME\n" +
			"and MEM are left out in that order.\n\n" +
			"For scripts: -n N (or --once, -n 1) prints N frames and exits, each one --delay\n" +
			"after the one before, one frame after another when the output is not a terminal;\n" +
			"--json prints each frame as one JSON object per line (JSON Lines: time,\n" +
			"interval_seconds, programs with name, state, pid, cpu_percent, cpu_seconds,\n" +
			"memory, memory_peak, pids, restarts, uptime_seconds, oom_kills; cpu_percent is -1\n" +
			"when unknown).\n\n" +
			"Examples:\n  roost top\n  roost top --sort cpu -d 1\n  roost top --once\n" +
			"  roost top -n 1 --json | jq '.programs[] | select(.cpu_percent > 50) | .name'\n" +
			"  roost --user alice top     # root: alice's supervisor\n\n" +
			"Exit status: 0; 4 when no supervisor answers.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "iterations", Aliases: []string{"n"}, Usage: "print `N` frames and exit (0: until q or Ctrl-C)"},
			&cli.BoolFlag{Name: "once", Usage: "print one frame and exit (-n 1)"},
			&cli.Float64Flag{Name: "delay", Aliases: []string{"d"}, Value: 2, Usage: "`SECONDS` between frames, the window CPU% is measured over (0.1 to 3600)"},
			&cli.BoolFlag{Name: "json", Usage: "each frame as one line of JSON"},
			&cli.StringFlag{Name: "sort", Value: string(top.ByName), Usage: "row `ORDER`: name (the status order), cpu or mem (largest first)"},
		},
		Action: topAction,
	})
}

func topAction(c *cli.Context) error {
	if c.Args().Present() {
		return usageError(c, fmt.Sprintf("roost top: unexpected argument %q", c.Args().First()), "top [-n N|--once] [-d SECONDS] [--json] [--sort name|cpu|mem]", exitInvalidArgs)
	}
	order, err := top.ParseSort(c.String("sort"))
	if err != nil {
		return cli.Exit("roost top: --sort: "+err.Error(), exitInvalidArgs)
	}
	secs := c.Float64("delay")
	if secs < 0.1 || secs > 3600 {
		return cli.Exit(fmt.Sprintf("roost top: --delay %g: give 0.1 to 3600 seconds", secs), exitInvalidArgs)
	}
	n := c.Int("iterations")
	if c.Bool("once") {
		n = 1
	}
	if n < 0 {
		return cli.Exit(fmt.Sprintf("roost top: -n %d: give a count of frames, or 0 for until q", n), exitInvalidArgs)
	}
	x, err := connect(c, exitStatusUnknown)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(x.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	t := &topLoop{x: x, order: order, delay: time.Duration(secs * float64(time.Second)), frames: n, json: c.Bool("json")}
	return t.run(ctx)
}

// topLoop is one `roost top`: it samples the supervisor every delay and
// prints a frame, until frames are printed (0: until q or a signal).
type topLoop struct {
	x      *ctl
	order  top.Sort
	delay  time.Duration
	frames int
	json   bool

	screen bool       // redraw in place on a terminal
	last   *top.Frame // for a redraw on resize
	note   string     // why the figures are old (the supervisor went away)
	keys   chan byte  // key presses, on a terminal
	winch  chan os.Signal
}

func (t *topLoop) sample(ctx context.Context) (top.Sample, error) {
	procs, err := t.x.client.ProcessesWithUsage(ctx)
	return top.Sample{At: time.Now(), Procs: procs}, err
}

func (t *topLoop) run(ctx context.Context) error {
	prev, err := t.sample(ctx)
	if err != nil {
		t.x.fail(err)
		return t.x.done()
	}
	t.screen = t.frames == 0 && !t.json && isTerminal(t.x.out)
	if t.screen {
		defer t.enterScreen()()
		f := top.Build(top.Sample{}, prev, t.order)
		t.draw(f)
	}
	tick := time.NewTicker(t.delay)
	defer tick.Stop()
	for shown := 0; t.frames == 0 || shown < t.frames; {
		select {
		case <-ctx.Done():
			return nil
		case k := <-t.keys:
			if k == 'q' || k == 'Q' {
				return nil
			}
			continue
		case <-t.winch:
			if t.last != nil {
				t.draw(*t.last)
			}
			continue
		case <-tick.C:
		}
		cur, err := t.sample(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if !t.screen {
				t.x.fail(err)
				return t.x.done()
			}
			// On screen: keep the last figures, say why, try again next tick.
			t.note = "(" + err.Error() + ")  "
			if t.last != nil {
				t.draw(*t.last)
			}
			continue
		}
		t.note = ""
		f := top.Build(prev, cur, t.order)
		prev = cur
		shown++
		if err := t.print(f, shown); err != nil {
			return err
		}
	}
	return nil
}

// print writes one frame: drawn in place, as JSON, or as a table after
// the one before.
func (t *topLoop) print(f top.Frame, shown int) error {
	switch {
	case t.screen:
		t.draw(f)
		return nil
	case t.json:
		if err := json.NewEncoder(t.x.out).Encode(f); err != nil {
			return fmt.Errorf("top: %w", err)
		}
		return nil
	}
	width := 1 << 16 // a pipe: nothing cut
	if _, cols, ok := termSize(t.x.out); ok {
		width = cols
	}
	var b strings.Builder
	if shown > 1 {
		b.WriteString("\n")
	}
	for _, l := range top.Render(f, width, 0, "") {
		b.WriteString(strings.TrimRight(l, " ") + "\n")
	}
	_, err := io.WriteString(t.x.out, b.String()) // termsafe: names are the user's words
	return err
}

// enterScreen switches to the terminal's alternate screen (the shell's
// screen comes back on exit, as with htop), hides the cursor, starts
// reading keys when stdin is the terminal and watching for resizes; it
// returns what undoes it.
func (t *topLoop) enterScreen() func() {
	raw := rawWriter(t.x.out)
	io.WriteString(raw, "\x1b[?1049h\x1b[?25l")
	t.winch = make(chan os.Signal, 1)
	signal.Notify(t.winch, syscall.SIGWINCH)
	restore := func() {}
	if isTerminal(os.Stdin) {
		if r, err := keysMode(os.Stdin); err == nil {
			restore = r
			t.keys = make(chan byte, 8)
			go readKeys(os.Stdin, t.keys)
		}
	}
	return func() {
		signal.Stop(t.winch)
		restore()
		io.WriteString(raw, "\x1b[?25h\x1b[?1049l")
	}
}

// readKeys sends each byte read from r to keys until r fails. It is left
// blocked in its read when top ends (the process ends with it).
func readKeys(r io.Reader, keys chan<- byte) {
	buf := make([]byte, 16)
	for {
		n, err := r.Read(buf)
		for _, k := range buf[:n] {
			select {
			case keys <- k:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

// draw redraws the screen with f: home, each line cleaned of control
// characters (names are the user's words) and cleared to its end, the
// rest of the screen cleared, in one write.
func (t *topLoop) draw(f top.Frame) {
	t.last = &f
	rows, cols, ok := termSize(t.x.out)
	if !ok {
		rows, cols = 24, 80
	}
	var b bytes.Buffer
	b.WriteString("\x1b[H")
	for i, l := range top.Render(f, cols, rows, t.note+"q quits") {
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.Write(termsafe.Append(nil, []byte(l)))
		b.WriteString("\x1b[K")
	}
	b.WriteString("\x1b[J")
	rawWriter(t.x.out).Write(b.Bytes())
}
