package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roost/config"
)

func TestParseProcfileErrors(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{"web python3 app.py\n", "Procfile:1: want NAME: COMMAND"},
		{"# c\n\nweb:\n", "Procfile:3: want NAME: COMMAND"},
		{"we b: x\n", `Procfile:1: "we b" is not a process name`},
		{"web: a\nweb: b\n", "Procfile:2: web is already defined at line 1"},
		{"# nothing\n", "Procfile: no NAME: COMMAND line"},
	} {
		if _, err := parseProcfile([]byte(tt.src)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.src, err, tt.want)
		}
	}
}

// A Procfile release: its lines become programs run by sh in the project
// (quotes and '%' survive supervisord's parsing), web is routed to the
// user's default host, release: runs after the build.
func TestProcfileRelease(t *testing.T) {
	l := layout(t)
	l.DefaultHost = "alice.example.test"
	web := `python3 -m http.server --bind 127.0.0.1 $PORT`
	worker := `printf "%s\n" 'it''s "quoted"' \ok`
	r, out, err := deployDir(t, l, tree(t, map[string]string{
		"Procfile": "# the app\nweb: " + web + "\nworker: " + worker + "\nrelease: echo migrated > migrated.txt\n",
	}))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, w := range []string{"-----> Procfile", "[program:web]", "; Procfile line 2: " + web, "[proxy:web]\nhosts = alice.example.test",
		"-----> release: /bin/sh -c echo migrated > migrated.txt (Procfile line 4)", "valid: 2 process(es)"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(l.Current, "migrated.txt")); string(b) != "migrated\n" {
		t.Errorf("release: did not run in the release: %q", b)
	}
	cfg, err := config.Load(filepath.Join(l.Releases, r.ID, "supervisord.conf"), config.LoadOptions{Env: []string{"HOME=" + l.Home}})
	if err != nil {
		t.Fatal(err)
	}
	argv := map[string][]string{}
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			argv[p.Name] = p.Argv
		}
	}
	if got := argv["web"]; len(got) != 3 || got[0] != "/bin/sh" || got[2] != "exec "+web {
		t.Errorf("web argv %q", got)
	}
	if got := argv["worker"]; len(got) != 3 || got[2] != "exec "+worker {
		t.Errorf("worker argv %q, want sh -c %q", got, "exec "+worker)
	}
	if _, ok := argv["release"]; ok {
		t.Error("release: became a program")
	}

	// A broken Procfile is refused with its line.
	var buf bytes.Buffer
	_, err = Deploy(context.Background(), l, Source{Dir: tree(t, map[string]string{"Procfile": "web: a\nweb: b\n"})}, &buf, Options{Env: os.Environ()})
	if err == nil || !strings.Contains(buf.String(), "Procfile:2: web is already defined at line 1") || currentID(l) != r.ID {
		t.Errorf("a broken Procfile: %v\n%s", err, buf.String())
	}
}
