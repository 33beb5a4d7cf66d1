package config

import (
	"fmt"
	"strings"
	"testing"
)

// portsConf has three programs behind proxies (web twice), one that is not.
const portsConf = `[supervisord]
[program:worker]
command=/bin/sh -c 'echo %(ENV_PORT)s'
[program:web]
command=/srv/web --port %(ENV_PORT)s
process_name=web_%(process_num)d
numprocs=3
numprocs_start=1
environment=ADDR="127.0.0.1:%(ENV_PORT)s"
stdout_logfile=/tmp/web-%(ENV_PORT)s.log
[program:api]
command=/srv/api
[proxy:api]
hosts = api.alice.example.test
[proxy:web]
hosts = alice.example.test
[proxy:web-again]
program = web
hosts = www.alice.example.test
`

func envOf(p *Process) map[string]string {
	out := map[string]string{}
	for _, kv := range p.Environment {
		out[kv.Name] = kv.Value
	}
	return out
}

// The master's block: slices in proxy section order, a program named twice
// gets one slice, and %(ENV_PORT)s is the process's own port within a
// proxied program and the supervisor's PORT elsewhere.
func TestPortsFromMasterBlock(t *testing.T) {
	cfg, err := loadMemEnv([]string{"PORT=20000", "ROOST_PORT_BASE=20000", "ROOST_PORT_COUNT=10"},
		map[string]string{"supervisord.conf": portsConf})
	if err != nil {
		t.Fatal(err)
	}
	api := cfg.ProcessesOf("api")[0]
	if env := envOf(api); env["PORT"] != "20000" {
		t.Errorf("api env %v", env)
	}
	for i, p := range cfg.ProcessesOf("web") {
		port := 20001 + i
		want := fmt.Sprintf("/srv/web --port %d", port)
		env := envOf(p)
		if p.Command != want || env["PORT"] != fmt.Sprint(port) || env["ADDR"] != fmt.Sprintf("127.0.0.1:%d", port) ||
			p.Stdout.File != fmt.Sprintf("/tmp/web-%d.log", port) {
			t.Errorf("process %s: command %q env %v log %s; want port %d", p.Name, p.Command, env, p.Stdout.File, port)
		}
	}
	w := cfg.ProcessesOf("worker")[0]
	if w.Command != "/bin/sh -c 'echo 20000'" || envOf(w)["PORT"] != "" {
		t.Errorf("an unproxied program keeps supervisord's rules: %q %v", w.Command, envOf(w))
	}
	got := map[string]string{}
	for _, px := range cfg.Proxies {
		got[px.Name] = fmt.Sprint(px.Ports)
	}
	if got["api"] != "[20000]" || got["web"] != "[20001 20002 20003]" || got["web-again"] != "[20001 20002 20003]" {
		t.Errorf("proxy ports %v", got)
	}
}

// A block too small is an error at the section that does not fit; without
// a block the sections are only validated; PORT alone starts a block; a
// user's own PORT= in environment= is replaced, with a warning.
func TestPortsEdges(t *testing.T) {
	_, err := loadMemEnv([]string{"ROOST_PORT_BASE=20000", "ROOST_PORT_COUNT=3"}, map[string]string{"supervisord.conf": portsConf})
	if err == nil || !strings.Contains(err.Error(), "supervisord.conf:15: [proxy:web] program web needs 3 ports (numprocs=3) from 20001, but the port block is 20000-20002") {
		t.Errorf("small block: %v", err)
	}

	conf := strings.ReplaceAll(portsConf, "%(ENV_PORT)s", "$PORT")
	cfg, err := loadMemEnv([]string{"HOME=/home/alice"}, map[string]string{"supervisord.conf": conf})
	if err != nil {
		t.Fatal(err)
	}
	for _, px := range cfg.Proxies {
		if px.Ports != nil {
			t.Errorf("no block, yet %s has ports %v", px.Name, px.Ports)
		}
	}
	if env := envOf(cfg.ProcessesOf("web")[0]); env["PORT"] != "" {
		t.Errorf("no block, yet PORT=%s", env["PORT"])
	}

	cfg, err = loadMemEnv([]string{"PORT=8000"}, map[string]string{"supervisord.conf": portsConf})
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Proxies[1].Ports; fmt.Sprint(p) != "[8001 8002 8003]" {
		t.Errorf("PORT=8000 alone: web ports %v", p)
	}

	cfg, err = loadMemEnv([]string{"ROOST_PORT_BASE=20000", "ROOST_PORT_COUNT=10"}, map[string]string{"supervisord.conf": `[supervisord]
[program:web]
command=/srv/web
environment=PORT="9999"
[proxy:web]
hosts = a.test
`})
	if err != nil {
		t.Fatal(err)
	}
	if env := envOf(cfg.ProcessesOf("web")[0]); env["PORT"] != "20000" {
		t.Errorf("PORT %q", env["PORT"])
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].String(), "supervisord.conf:4: [program:web] environment: PORT=9999 is replaced by 20000") {
		t.Errorf("warnings: %v", cfg.Warnings)
	}

	_, err = loadMemEnv([]string{"ROOST_PORT_BASE=x", "ROOST_PORT_COUNT=10"}, map[string]string{"supervisord.conf": portsConf})
	if err == nil || !strings.Contains(err.Error(), "ENV_PORT") {
		t.Errorf("a bad block leaves ENV_PORT unset (supervisord's error): %v", err)
	}
}

// Spare ports: under the master each proxied numprocs=1 program gets one
// from the top of the block, and its process a Spare expanded with it;
// numprocs >= 2 programs, unproxied ones, a block with no room left and a
// hand-run PORT get none.
func TestSparePorts(t *testing.T) {
	conf := portsConf + "[program:admin]\ncommand=/srv/admin --port %(ENV_PORT)s\n[proxy:admin]\nhosts = admin.alice.example.test\n"
	cfg, err := loadMemEnv([]string{"PORT=20000", "ROOST_PORT_BASE=20000", "ROOST_PORT_COUNT=10"}, map[string]string{"supervisord.conf": conf})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	api, admin := cfg.ProcessesOf("api")[0], cfg.ProcessesOf("admin")[0]
	if api.Spare == nil || envOf(api.Spare)["PORT"] != "20009" || envOf(api)["PORT"] != "20000" {
		t.Errorf("api: %+v spare %+v", api, api.Spare)
	}
	if admin.Spare == nil || admin.Spare.Command != "/srv/admin --port 20008" || admin.Command != "/srv/admin --port 20004" ||
		admin.Spare.Name != admin.Name || admin.Spare.Spare != admin {
		t.Errorf("admin: %q spare %+v", admin.Command, admin.Spare)
	}
	for _, p := range append(cfg.ProcessesOf("web"), cfg.ProcessesOf("worker")...) {
		if p.Spare != nil {
			t.Errorf("%s has a spare", p.Name)
		}
	}
	// Five ports: api 0, web 1-3, admin 4; none left for spares.
	cfg, err = loadMemEnv([]string{"PORT=20000", "ROOST_PORT_BASE=20000", "ROOST_PORT_COUNT=5"}, map[string]string{"supervisord.conf": conf})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ProcessesOf("api")[0].Spare != nil || cfg.ProcessesOf("admin")[0].Spare != nil {
		t.Error("spares outside a full block")
	}
	cfg, err = loadMemEnv([]string{"PORT=20000"}, map[string]string{"supervisord.conf": conf})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ProcessesOf("api")[0].Spare != nil {
		t.Error("a spare without the master's block")
	}
}
