package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"roost/config"
	"roost/cronjobs"
	"roost/supervisor"
)

// The cron file's part of `roost check`: its problems as "cron:LINE: ...",
// the jobs it defines and when each runs next.

// cronDiag is a cron file problem as --json prints it: its parts and its text.
type cronDiag struct {
	cronjobs.Error
	Text string `json:"text"`
}

// cronCheckJob is a job as --json prints it.
type cronCheckJob struct {
	Name     string    `json:"name"`
	Line     int       `json:"line"`
	Schedule string    `json:"schedule"`
	Command  string    `json:"command"`
	Stdin    string    `json:"stdin,omitempty"`
	Zone     string    `json:"zone"`
	Next     time.Time `json:"next,omitzero"` // none for @reboot: it runs when the supervisor starts
}

// cronCheck is what check found in the cron file.
type cronCheck struct {
	File     string         `json:"file"`
	Exists   bool           `json:"exists"`
	Valid    bool           `json:"valid"`
	Errors   []cronDiag     `json:"errors"`
	Warnings []cronDiag     `json:"warnings"`
	Jobs     []cronCheckJob `json:"jobs"`

	name     string // as messages name the file
	explicit bool   // given with --cron
}

// checkCron reads the cron file of the configuration at confPath (absolute),
// or override.
func checkCron(confPath, override string, now time.Time) cronCheck {
	path := supervisor.CronFile(&config.Config{Here: filepath.Dir(confPath)}, override)
	r := cronCheck{File: path, name: path, explicit: override != "", Errors: []cronDiag{}, Warnings: []cronDiag{}, Jobs: []cronCheckJob{}}
	_, err := os.Stat(path)
	r.Exists = !errors.Is(err, fs.ErrNotExist)
	f, err := supervisor.ReadCron(path, filepath.Dir(confPath))
	var errs cronjobs.Errors
	switch {
	case errors.As(err, &errs):
		for _, e := range errs {
			r.Errors = append(r.Errors, cronDiag{e, e.Error()})
		}
		r.name = errs[0].File
		return r
	case err != nil:
		e := cronjobs.Error{File: path, Message: err.Error()}
		r.Errors = append(r.Errors, cronDiag{e, e.Error()})
		return r
	}
	r.Valid, r.name = true, f.Name
	for _, w := range f.Warnings {
		r.Warnings = append(r.Warnings, cronDiag{w, w.Error()})
	}
	for _, j := range f.Jobs {
		cj := cronCheckJob{Name: j.Name, Line: j.Line, Schedule: j.Spec, Command: j.Command, Stdin: j.Stdin, Zone: j.Location.String()}
		if !j.Reboot {
			cj.Next = j.Schedule.Next(now)
		}
		r.Jobs = append(r.Jobs, cj)
	}
	return r
}

// writeText prints the cron file's problems and jobs; nothing for a
// missing file that was not asked for.
func (r cronCheck) writeText(w io.Writer) {
	if !r.Exists && !r.explicit {
		return
	}
	if !r.Valid {
		for _, d := range r.Errors {
			fmt.Fprintln(w, d.Text)
		}
		fmt.Fprintf(w, "%s: invalid: %d error(s)\n", r.name, len(r.Errors))
		return
	}
	for _, d := range r.Warnings {
		fmt.Fprintln(w, "warning: "+d.Text)
	}
	if !r.Exists {
		fmt.Fprintf(w, "%s: no such file: no cron jobs\n", r.name)
		return
	}
	fmt.Fprintf(w, "%s: valid: %d job(s)", r.name, len(r.Jobs))
	if len(r.Warnings) > 0 {
		fmt.Fprintf(w, ", %d warning(s)", len(r.Warnings))
	}
	fmt.Fprintln(w)
	if len(r.Jobs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCHEDULE\tNEXT\tCOMMAND")
	for _, j := range r.Jobs {
		next := "at start"
		if !j.Next.IsZero() {
			next = j.Next.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", j.Name, oneLine(j.Schedule), next, oneLine(j.Command))
	}
	tw.Flush()
}
