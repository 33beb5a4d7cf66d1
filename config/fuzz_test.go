package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse runs the whole loader (reader, includes, expansions, shlex,
// environment, validation) on arbitrary bytes, in memory. It must never
// panic, every failure must be a *Error whose diagnostics have a file, and
// every success must hold the invariants the runtime relies on.
func FuzzParse(f *testing.F) {
	confs, _ := filepath.Glob(filepath.Join("testdata", "golden", "*", "*.conf"))
	incs, _ := filepath.Glob(filepath.Join("testdata", "golden", "*", "*", "*.conf"))
	for _, p := range append(confs, incs...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("[supervisord]\n[program:a]\ncommand=/bin/echo %(process_num)02d %(ENV_PORT)s\nnumprocs=3\nprocess_name=%(program_name)s_%(process_num)d\n[proxy:a]\nhosts=*.a.test\nstatic=/s/ = s\n"))
	f.Add([]byte("[supervisord]\n[include]\nfiles=conf.d/*.conf\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		files := map[string]string{
			"supervisord.conf": string(data),
			"conf.d/a.conf":    string(data),
			"conf.d/b.conf":    "[program:included]\ncommand=/bin/true\n",
		}
		cfg, err := loadMem(files)
		ctl, cerr := loadControlMem(files)
		if cerr != nil {
			var ce *Error
			if !errors.As(cerr, &ce) || len(ce.Diagnostics) == 0 {
				t.Fatalf("LoadControl's error is not a *Error with diagnostics: %v", cerr)
			}
		}
		if err == nil {
			// What a client reads is what the server reads.
			if cerr != nil {
				t.Fatalf("Load accepts the file, LoadControl does not: %v", cerr)
			}
			if d := cmp.Diff(cfg.UnixHTTPServer, ctl.UnixHTTPServer); d != "" {
				t.Fatalf("[unix_http_server] differs between Load and LoadControl (-Load +LoadControl):\n%s", d)
			}
			if d := cmp.Diff(cfg.Supervisorctl, ctl.Supervisorctl); d != "" {
				t.Fatalf("[supervisorctl] differs between Load and LoadControl (-Load +LoadControl):\n%s", d)
			}
		}
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Diagnostics) == 0 {
				t.Fatalf("error is not a *Error with diagnostics: %v", err)
			}
			for _, d := range ce.Diagnostics {
				if d.Pos.File == "" || d.Message == "" {
					t.Fatalf("diagnostic without file or message: %+v", d)
				}
			}
			return
		}
		for _, g := range cfg.Groups {
			if _, msg := checkName(g.Name); msg != "" {
				t.Fatalf("group name %q: %s", g.Name, msg)
			}
			for _, p := range g.Processes {
				if _, msg := checkName(p.Name); msg != "" {
					t.Fatalf("process name %q: %s", p.Name, msg)
				}
				if len(p.Argv) == 0 || p.Group != g.Name {
					t.Fatalf("process %+v", p)
				}
			}
		}
		for _, px := range cfg.Proxies {
			for _, h := range px.Hosts {
				if c, err := CheckHost(h); err != nil || c != h {
					t.Fatalf("host %q passed the loader but not CheckHost: %v", h, err)
				}
			}
			for _, s := range px.Static {
				if msg := safeURLPath(s.Prefix); msg != "" || !filepath.IsAbs(s.Dir) {
					t.Fatalf("static %+v: %s", s, msg)
				}
			}
		}
		if d := Diff(cfg, cfg); !d.Empty() {
			t.Fatalf("a configuration differs from itself: %+v", d)
		}
	})
}
