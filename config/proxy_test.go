package config

import (
	"strings"
	"testing"
)

func TestCheckHost(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	for in, want := range map[string]string{
		"example.com": "example.com", "Alice.Example.TEST": "alice.example.test", "*.example.com": "*.example.com",
		"localhost": "localhost", "a-b.c0": "a-b.c0", "xn--caf-dma.test": "xn--caf-dma.test", "127.0.0.1": "127.0.0.1",
		long63 + ".test": long63 + ".test",
	} {
		if got, err := CheckHost(in); err != nil || got != want {
			t.Errorf("CheckHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "example.com.", "-a.com", "a-.com", "a..com", ".a.com", "*.", "*", "a.*.com", "*a.com", "**.a.com",
		"a b.com", "a;b.com", `a".com`, "a'b.com", "a{b}.com", "$host", "café.test", "a_b.com", "a/b",
		strings.Repeat("a", 64) + ".test", strings.Repeat("abcdefghi.", 26) + "com", "host:80", "a\nb",
	} {
		if got, err := CheckHost(in); err == nil {
			t.Errorf("CheckHost(%q) accepted as %q", in, got)
		}
	}
}

func TestProxy(t *testing.T) {
	cfg, err := loadMem(map[string]string{"supervisord.conf": `[supervisord]
[program:web]
command=/bin/true
process_name=web%(process_num)d
numprocs=2
[program:api]
command=/bin/true
[group:app]
programs=web
[proxy:web]
hosts = Alice.example.test, www.alice.example.test
    *.preview.alice.example.test
static = /static/ = static/
    /media = %(here)s/media
static = /docs/ = ./site/../docs
websocket = yes
max_body_size = 10MB
health_path = /healthz
[proxy:api-public]
program = api
hosts = api.%(ENV_USER)s.example.test
`})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Proxies) != 2 {
		t.Fatalf("proxies: %+v", cfg.Proxies)
	}
	web := cfg.Proxies[0]
	if web.Name != "web" || web.Program != "web" || !web.Websocket || web.MaxBodySize != 10<<20 || web.HealthPath != "/healthz" ||
		strings.Join(web.Hosts, " ") != "alice.example.test www.alice.example.test *.preview.alice.example.test" ||
		web.Pos.String() != "supervisord.conf:10" {
		t.Errorf("web proxy: %+v", web)
	}
	wantStatic := []StaticRoute{
		{Prefix: "/static/", Dir: "/p/static", Pos: Pos{"supervisord.conf", 13}},
		{Prefix: "/media/", Dir: "/p/media", Pos: Pos{"supervisord.conf", 14}},
		{Prefix: "/docs/", Dir: "/p/docs", Pos: Pos{"supervisord.conf", 15}},
	}
	if len(web.Static) != 3 {
		t.Fatalf("static: %+v", web.Static)
	}
	for i, s := range wantStatic {
		if web.Static[i] != s {
			t.Errorf("static %d: %+v, want %+v", i, web.Static[i], s)
		}
	}
	api := cfg.Proxies[1]
	if api.Program != "api" || strings.Join(api.Hosts, ",") != "api.alice.example.test" {
		t.Errorf("api proxy: %+v", api)
	}
	if got := cfg.ProcessesOf(web.Program); len(got) != 2 || got[0].Namespec() != "app:web0" {
		t.Errorf("ProcessesOf(web): %v", got)
	}
}

func TestProxyErrors(t *testing.T) {
	cases := []struct{ name, body, pos, sub string }{
		{"no program", "[proxy:nope]\nhosts=a.test", "supervisord.conf:5", "no [program:nope]"},
		{"unknown program", "[proxy:x]\nprogram=wbe\nhosts=a.test", "supervisord.conf:6", "did you mean web?"},
		{"no hosts", "[proxy:web]\nwebsocket=true", "supervisord.conf:5", "hosts"},
		{"bad host", "[proxy:web]\nhosts=ok.test, evil.test;include", "supervisord.conf:6", "contains ';'"},
		{"injection", "[proxy:web]\nhosts=a.test}server{", "supervisord.conf:6", "contains '}'"},
		{"trailing dot", "[proxy:web]\nhosts=a.test.", "supervisord.conf:6", "ends with a dot"},
		{"unicode", "[proxy:web]\nhosts=café.test", "supervisord.conf:6", "punycode"},
		{"host twice", "[proxy:web]\nhosts=a.test\n[proxy:other]\nprogram=web\nhosts=A.test", "supervisord.conf:9", "already routed by [proxy:web]"},
		{"static escape", "[proxy:web]\nhosts=a.test\nstatic=/s/ = ../other", "supervisord.conf:7", "outside the project"},
		{"static absolute outside", "[proxy:web]\nhosts=a.test\nstatic=/s/ = /etc", "supervisord.conf:7", "outside the project"},
		{"static prefix", "[proxy:web]\nhosts=a.test\nstatic=static = dir", "supervisord.conf:7", "must start with '/'"},
		{"static prefix dotdot", "[proxy:web]\nhosts=a.test\nstatic=/a/../b = dir", "supervisord.conf:7", `".." segment`},
		{"static root", "[proxy:web]\nhosts=a.test\nstatic=/ = dir", "supervisord.conf:7", "would hide the program"},
		{"static dollar", "[proxy:web]\nhosts=a.test\nstatic=/s/ = $document_root", "supervisord.conf:7", "contains '$'"},
		{"static no equals", "[proxy:web]\nhosts=a.test\nstatic=/s/", "supervisord.conf:7", "PREFIX = DIR"},
		{"static continuation line", "[proxy:web]\nhosts=a.test\nstatic=/a/ = a\n    /b/ = ../b", "supervisord.conf:8", "outside the project"},
		{"static twice", "[proxy:web]\nhosts=a.test\nstatic=/a/ = a\nstatic=/a = b", "supervisord.conf:8", "given twice"},
		{"health path", "[proxy:web]\nhosts=a.test\nhealth_path=/h?x=$1", "supervisord.conf:7", "contains '?'"},
		{"body size", "[proxy:web]\nhosts=a.test\nmax_body_size=lots", "supervisord.conf:7", "not a byte size"},
		{"bad name", "[proxy:we@b]\nprogram=web\nhosts=a.test", "supervisord.conf:5", "may only use letters"},
		{"socket path", "[proxy:web]\nhosts=a.test\nsocket=/tmp/other.sock", "supervisord.conf:7", "must be a file name"},
		{"socket dotdot", "[proxy:web]\nhosts=a.test\nsocket=..", "supervisord.conf:7", "must be a file name"},
		{"socket numprocs", "[proxy:x]\nprogram=many\nhosts=a.test\nsocket=x.sock\n[program:many]\ncommand=/bin/true\nprocess_name=m%(process_num)d\nnumprocs=2", "supervisord.conf:8", "numprocs = 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf := "[supervisord]\n[program:web]\ncommand=/bin/true\n\n" + c.body + "\n"
			_, err := loadMem(map[string]string{"supervisord.conf": conf})
			if err == nil {
				t.Fatalf("accepted:\n%s", conf)
			}
			if ds := errAt(t, err); !hasDiag(ds, c.pos, c.sub) {
				t.Errorf("want an error at %s containing %q, got:\n%s", c.pos, c.sub, diagLines(ds))
			}
		})
	}
}

// socket = FILE names a socket in the directory the master made
// ($ROOST_SOCKET_DIR); without one it is only checked.
func TestProxySocket(t *testing.T) {
	conf := "[supervisord]\n[program:web]\ncommand=/bin/true\n[proxy:web]\nhosts=a.test\nsocket = web.sock\n"
	cfg, err := loadMemEnv(append(append([]string{}, memEnv...), EnvSocketDir+"=/run/roost/sockets/alice"), map[string]string{"supervisord.conf": conf})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Proxies[0].Socket; got != "/run/roost/sockets/alice/web.sock" {
		t.Errorf("socket: %q", got)
	}
	cfg, err = loadMem(map[string]string{"supervisord.conf": conf})
	if err != nil || cfg.Proxies[0].Socket != "" {
		t.Errorf("without a socket directory: %+v %v", cfg, err)
	}
}
