package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A client finds its server in a configuration that is broken elsewhere:
// LoadControl reads only [unix_http_server] and [supervisorctl] (and
// [supervisord] environment= when file= needs it), which Load rejects as a
// whole.
func TestLoadControlIgnoresOtherSections(t *testing.T) {
	files := map[string]string{"supervisord.conf": `[unix_http_server]
file=%(here)s/run/%(ENV_SOCKNAME)s.sock
username=u
password=p

[supervisord]
environment=SOCKNAME="roost"
logfile=/nonexistent/dir/main.log

[supervisorctl]
serverurl=unix://%(here)s/%(ENV_USER)s.sock
username=cu
password=cp

[program:bad]
command=/bin/sleep 1
startsecs=1o
this line is not an option

[include]
files=conf.d/*.conf
`, "conf.d/x.conf": "[program:x]\nnumprocs=abc\nnot an option\n"}
	if _, err := loadMem(files); err == nil {
		t.Fatal("Load accepted a broken configuration")
	}
	got, err := loadControlMem(files)
	if err != nil {
		t.Fatalf("LoadControl: %v", err)
	}
	want := &Control{
		File:           "/p/supervisord.conf",
		UnixHTTPServer: &UnixHTTPServer{File: "/p/run/roost.sock", Chmod: 0o700, Username: "u", Password: "p", Pos: Pos{File: "supervisord.conf", Line: 1}},
		Supervisorctl:  &Supervisorctl{ServerURL: "unix:///p/alice.sock", Username: "cu", Password: "cp", Prompt: "supervisor", Pos: Pos{File: "supervisord.conf", Line: 10}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("LoadControl (-want +got):\n%s", d)
	}
}

// The sections a client reads, and what they depend on, still fail with
// file:line errors.
func TestLoadControlErrors(t *testing.T) {
	for _, tc := range []struct {
		name, conf, at, sub string
	}{
		{"no file", `[unix_http_server]
chmod=0700
`, "supervisord.conf:1", "file: required"},
		{"bad expansion", `[supervisord]
[supervisorctl]
serverurl=unix://%(ENV_NOPE)s/x.sock
`, "supervisord.conf:3", "ENV_NOPE"},
		{"environment file= needs", `[supervisord]
environment=A="unterminated
[unix_http_server]
file=/tmp/%(ENV_A)s.sock
`, "supervisord.conf:2", "environment"},
		{"include without files", `[supervisord]
[include]
file=conf.d/*.conf
`, "supervisord.conf:2", "no files setting"},
		{"text before a section", "file=/x\n[unix_http_server]\nfile=/y\n", "supervisord.conf:1", "before any [section]"},
		{"bad chown", `[unix_http_server]
file=/tmp/x.sock
chown=nosuchuser
`, "supervisord.conf:3", "chown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadControlMem(map[string]string{"supervisord.conf": tc.conf, "conf.d/.keep": ""}, "/p/conf.d")
			if err == nil {
				t.Fatal("no error")
			}
			if ds := errAt(t, err); !hasDiag(ds, tc.at, tc.sub) {
				t.Fatalf("want an error at %s containing %q, got:\n%v", tc.at, tc.sub, err)
			}
		})
	}
	// [supervisord] environment= is not read (so not checked) when file=
	// does not use it.
	if _, err := loadControlMem(map[string]string{"supervisord.conf": "[supervisord]\nenvironment=A=\"x\n[unix_http_server]\nfile=/tmp/s.sock\n"}); err != nil {
		t.Fatalf("an environment= file= does not use failed the control read: %v", err)
	}
}

// On the real file system, through the exported function, the golden
// configurations give a client what Load gives the server.
func TestLoadControlMatchesLoad(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "golden", "*"))
	n := 0
	for _, dir := range dirs {
		conf := filepath.Join(dir, "supervisord.conf")
		if _, err := os.Stat(conf); err != nil {
			continue
		}
		cfg, err := Load(conf, LoadOptions{Hostname: goldenHost})
		if err != nil {
			continue
		}
		ctl, err := LoadControl(conf, LoadOptions{Hostname: goldenHost})
		if err != nil {
			t.Errorf("%s: Load accepts it, LoadControl does not: %v", dir, err)
			continue
		}
		n++
		if d := cmp.Diff(cfg.UnixHTTPServer, ctl.UnixHTTPServer); d != "" {
			t.Errorf("%s: [unix_http_server] (-Load +LoadControl):\n%s", dir, d)
		}
		if d := cmp.Diff(cfg.Supervisorctl, ctl.Supervisorctl); d != "" {
			t.Errorf("%s: [supervisorctl] (-Load +LoadControl):\n%s", dir, d)
		}
		if ctl.File != cfg.File || !strings.HasSuffix(ctl.File, "supervisord.conf") {
			t.Errorf("%s: File %q, Load's %q", dir, ctl.File, cfg.File)
		}
	}
	if n < 10 {
		t.Fatalf("only %d golden configurations compared", n)
	}
}
