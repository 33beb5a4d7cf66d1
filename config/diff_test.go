package config

import (
	"strings"
	"testing"
)

func mustLoad(t *testing.T, conf string) *Config {
	t.Helper()
	cfg, err := loadMem(map[string]string{"supervisord.conf": "[supervisord]\n" + conf}, "/p/logs")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func groupNames(gs []*Group) string {
	var out []string
	for _, g := range gs {
		out = append(out, g.Name)
	}
	return strings.Join(out, ",")
}

func procNames(ps []*Process) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return strings.Join(out, ",")
}

func TestDiff(t *testing.T) {
	const base = `
[program:web]
command=/bin/web
process_name=web%(process_num)d
numprocs=2
environment=A="1",B="2"
[program:worker]
command=/bin/worker
[program:gone]
command=/bin/gone
[proxy:web]
hosts=a.test
`
	old := mustLoad(t, base)
	if d := Diff(old, mustLoad(t, base)); !d.Empty() {
		t.Errorf("same text, changes %+v", d)
	}

	d := Diff(nil, old)
	if groupNames(d.Added) != "gone,web,worker" || !d.Proxies || len(d.Changed)+len(d.Removed) != 0 {
		t.Errorf("from nothing: %+v", d)
	}

	changed := strings.NewReplacer(
		"numprocs=2", "numprocs=3",
		"environment=A=\"1\",B=\"2\"", "environment=B=\"2\",A=\"1\"", // order does not matter
		"[program:gone]\ncommand=/bin/gone\n", "[program:new]\ncommand=/bin/new\n",
		"command=/bin/worker", "command=/bin/worker --v2",
	).Replace(base)
	d = Diff(old, mustLoad(t, changed))
	// web's third process is a third port behind [proxy:web]: nginx must know.
	if groupNames(d.Added) != "new" || groupNames(d.Removed) != "gone" || !d.Proxies {
		t.Errorf("added %s removed %s proxies %v", groupNames(d.Added), groupNames(d.Removed), d.Proxies)
	}
	if len(d.Changed) != 2 || d.Changed[0].New.Name != "web" || d.Changed[1].New.Name != "worker" {
		t.Fatalf("changed: %+v", d.Changed)
	}
	if web := d.Changed[0]; procNames(web.Added) != "web2" || len(web.Changed) != 0 || len(web.Removed) != 0 {
		t.Errorf("web: added %s changed %s removed %s", procNames(web.Added), procNames(web.Changed), procNames(web.Removed))
	}
	if w := d.Changed[1]; procNames(w.Changed) != "worker" || w.Old.Processes[0].Command != "/bin/worker" {
		t.Errorf("worker: %+v", w)
	}

	// A log path switched between AUTO, a file and NONE changes the
	// process, whichever way (supervisord 4.2.5 misses file -> AUTO:
	// SameProcess); AUTO -> AUTO does not.
	logs := map[string]*Config{"AUTO": old}
	for _, v := range []string{"/p/logs/w.log", "NONE", "AUTO"} {
		logs[v] = mustLoad(t, strings.Replace(base, "command=/bin/worker", "command=/bin/worker\nstdout_logfile="+v, 1))
	}
	for _, from := range []string{"AUTO", "/p/logs/w.log", "NONE"} {
		for _, to := range []string{"AUTO", "/p/logs/w.log", "NONE"} {
			d := Diff(logs[from], logs[to])
			if from == to {
				if !d.Empty() {
					t.Errorf("%s -> %s: %+v", from, to, d)
				}
			} else if len(d.Changed) != 1 || procNames(d.Changed[0].Changed) != "worker" {
				t.Errorf("%s -> %s should change worker, got %+v", from, to, d)
			}
		}
	}
	if d := Diff(old, logs["AUTO"]); !d.Empty() {
		t.Errorf("AUTO written out -> AUTO by default: %+v", d)
	}

	// A group's priority is part of it.
	prio := strings.Replace(base, "[program:gone]\n", "[program:gone]\npriority=5\n", 1)
	if d := Diff(old, mustLoad(t, prio)); len(d.Changed) != 1 || d.Changed[0].New.Name != "gone" {
		t.Errorf("priority change: %+v", d)
	}

	// Proxies alone.
	px := strings.Replace(base, "hosts=a.test", "hosts=b.test", 1)
	if d := Diff(old, mustLoad(t, px)); !d.Proxies || len(d.Changed)+len(d.Added)+len(d.Removed) != 0 {
		t.Errorf("proxy change: %+v", d)
	}

	// Moving programs into a [group:x] removes their homogeneous groups.
	grouped := base + "[group:app]\nprograms=web,worker\n"
	d = Diff(old, mustLoad(t, grouped))
	if groupNames(d.Added) != "app" || groupNames(d.Removed) != "web,worker" {
		t.Errorf("regrouping: added %s removed %s", groupNames(d.Added), groupNames(d.Removed))
	}
}
