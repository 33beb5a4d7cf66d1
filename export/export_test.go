package export

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"roost/config"
	"roost/cronjobs"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the exporters' output")

// project is one example project of the golden tests.
type project struct {
	name     string // the golden files' prefix
	conf     string // the configuration, relative to this directory
	home     string // HOME for %(ENV_HOME)s, relative ("" none)
	services bool   // with testdata/full/services.conf and a postgres service
	userEnv  bool   // with roost env variables
}

var projects = []project{
	// examples/hello: the seed-shaped file with a cron file.
	{name: "hello", conf: "../examples/hello/supervisord.conf"},
	// The README's dotCloud-shaped file, in ~/current.
	{name: "dotcloud", conf: "testdata/alice/current/supervisord.conf", home: "testdata/alice", userEnv: true},
	// numprocs, groups, cron, proxy, environment, limits, a service.
	{name: "full", conf: "testdata/full/supervisord.conf", services: true, userEnv: true},
}

// fixedRoot replaces the checkout's path in golden output, so the files
// do not depend on where the repository is.
const fixedRoot = "/srv/roost"

// load reads a project as `roost export` does (cmd/roost/export.go:
// exportInput), with a fixed environment.
func load(t testing.TB, p project) Input {
	t.Helper()
	conf, err := filepath.Abs(p.conf)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PORT=8080", "PATH=/usr/bin:/bin"}
	if p.home != "" {
		home, _ := filepath.Abs(p.home)
		env = append(env, "HOME="+home)
	}
	in := Input{Services: map[string]Service{}}
	opts := config.LoadOptions{Env: env, Hostname: "host.example.test", Dir: filepath.Dir(conf)}
	if p.services {
		opts.Extra = []string{filepath.Join(filepath.Dir(conf), "services.conf")}
		in.Services["db"] = Service{Kind: "postgres", Var: "DATABASE_URL"}
	}
	if p.userEnv {
		in.EnvFile = "/home/alice/.config/roost/env"
		in.UserEnv = []config.EnvVar{
			{Name: "SECRET_KEY", Value: `s3cr%t"with'quotes\and$dollar`},
			{Name: "DATABASE_URL", Value: "postgres://app:pw@127.0.0.1:5433/postgres"},
		}
	}
	cfg, err := config.Load(conf, opts)
	if err != nil {
		t.Fatalf("%s: %v", p.conf, err)
	}
	in.Config = cfg
	cronPath := filepath.Join(cfg.Here, "cron")
	if data, err := os.ReadFile(cronPath); err == nil {
		f, err := cronjobs.Parse("cron", data)
		if err != nil {
			t.Fatalf("%s: %v", cronPath, err)
		}
		in.Cron = f
	}
	return in
}

// rendered is one exporter's whole answer as the golden file holds it:
// the stream, then the warnings.
func rendered(files []File, warns []Warning, sep string) []byte {
	var b bytes.Buffer
	b.Write(Stream(files, sep))
	b.WriteString("=== warnings\n")
	for _, w := range warns {
		b.WriteString(w.String() + "\n")
	}
	return b.Bytes()
}

func exportBoth(t testing.TB, p project) (kube, sysd []byte) {
	t.Helper()
	in := load(t, p)
	files, warns, err := Kubernetes(in, KubernetesOptions{Image: "registry.example.test/" + p.name + ":v1", Namespace: "shop"})
	if err != nil {
		t.Fatalf("%s: Kubernetes: %v", p.name, err)
	}
	kube = rendered(files, warns, "---\n")
	files, warns, err = Systemd(in, SystemdOptions{RunAs: "roost-alice", LookPath: func(n string) (string, error) { return "/usr/bin/" + n, nil }})
	if err != nil {
		t.Fatalf("%s: Systemd: %v", p.name, err)
	}
	sysd = rendered(files, warns, "\n")
	return kube, sysd
}

func checkGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	root, _ := filepath.Abs("..")
	got = bytes.ReplaceAll(got, []byte(root), []byte(fixedRoot))
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./export -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test ./export -update rewrites it; review the diff):\n%s", file, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first lines that differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + itoa(i+1) + ":\n- " + a + "\n+ " + b
		}
	}
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestGolden(t *testing.T) {
	for _, p := range projects {
		t.Run(p.name, func(t *testing.T) {
			kube, sysd := exportBoth(t, p)
			checkGolden(t, filepath.Join("testdata", p.name+".kubernetes.golden"), kube)
			checkGolden(t, filepath.Join("testdata", p.name+".systemd.golden"), sysd)
		})
	}
}

// The same project exported twice gives the same bytes (maps are never
// iterated into the output).
func TestSameBytesTwice(t *testing.T) {
	for _, p := range projects {
		k1, s1 := exportBoth(t, p)
		for range 5 {
			k2, s2 := exportBoth(t, p)
			if !bytes.Equal(k1, k2) || !bytes.Equal(s1, s2) {
				t.Fatalf("%s: two exports differ", p.name)
			}
		}
	}
}

// writeConf writes a one-off project and loads it.
func writeConf(t *testing.T, conf, cron string) Input {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "supervisord.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "supervisord.conf"), config.LoadOptions{Env: []string{"PORT=8080"}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Config: cfg, Project: "demo"}
	if cron != "" {
		f, err := cronjobs.Parse("cron", []byte(cron))
		if err != nil {
			t.Fatal(err)
		}
		in.Cron = f
	}
	return in
}

// Two names that sanitise to the same one are an error naming both
// sources with their file:line.
func TestCollisions(t *testing.T) {
	in := writeConf(t, "[supervisord]\n[program:my_app]\ncommand=/bin/true\n\n[program:My.App]\ncommand=/bin/true\n", "# name: a.b\n* * * * * true\n# name: a_b\n* * * * * true\n")
	_, _, err := Kubernetes(in, KubernetesOptions{Image: "x"})
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Kubernetes: %v, want a *config.Error", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`[program:My.App] (supervisord.conf:5) and [program:my_app] (supervisord.conf:2) both become the Deployment name "my-app"`,
		`cron job a.b (cron:2) and cron job a_b (cron:4) both become the CronJob name "a-b"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}

	// systemd: group "a" with process "b-c" and the program "a-b-c".
	in = writeConf(t, "[supervisord]\n[program:b-c]\ncommand=/bin/true\n[group:a]\nprograms=b-c\n[program:a-b-c]\ncommand=/bin/true\n", "")
	_, _, err = Systemd(in, SystemdOptions{})
	if err == nil || !strings.Contains(err.Error(), `both become the unit name "demo-a-b-c.service"`) ||
		!strings.Contains(err.Error(), "supervisord.conf:2") || !strings.Contains(err.Error(), "supervisord.conf:6") {
		t.Errorf("Systemd: %v, want a collision naming both sections", err)
	}
}

// Names are sanitised: RFC 1123 labels for Kubernetes, escaped unit names
// for systemd.
func TestNames(t *testing.T) {
	for in, want := range map[string]string{
		"web": "web", "Web_01": "web-01", "__a__b__": "a-b", "é": "", strings.Repeat("x", 70): strings.Repeat("x", 63),
		"a." + strings.Repeat("b", 62): "a-" + strings.Repeat("b", 61),
	} {
		if got := DNSLabel(in, maxLabel); got != want {
			t.Errorf("DNSLabel(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"web_01": "web_01", "my-app": "my-app", "a b": `a\x20b`, "a@b": `a\x40b`, ".hidden": `\x2ehidden`, `a\b`: `a\x5cb`, "a/b": "a-b",
	} {
		if got := UnitName(in); got != want {
			t.Errorf("UnitName(%q) = %q, want %q", in, got, want)
		}
	}
}

// A value with a line break cannot reach a unit file, where it would start
// a setting of its own (here: ExecStartPre=).
func TestSystemdRefusesLineBreaks(t *testing.T) {
	dir := t.TempDir()
	evil := filepath.Join(dir, "x\nExecStartPre=-/bin/false")
	if err := os.MkdirAll(evil, 0o755); err != nil {
		t.Fatal(err)
	}
	in := writeConf(t, "[supervisord]\n[program:web]\ncommand=/bin/true\ndirectory="+strings.ReplaceAll(evil, "\n", "\n  ")+"\n", "")
	if in.Config.Processes()[0].Directory != evil {
		t.Fatalf("directory %q: the test needs one with a line break", in.Config.Processes()[0].Directory)
	}
	files, _, err := Systemd(in, SystemdOptions{})
	if err == nil || !strings.Contains(err.Error(), "[program:web] process web: its WorkingDirectory= value holds a line break") {
		t.Errorf("Systemd: %v, want a refusal", err)
	}
	for _, f := range files {
		if strings.Contains(string(f.Data), "ExecStartPre") {
			t.Errorf("%s:\n%s", f.Name, f.Data)
		}
	}
}

// Every string survives the YAML writer: decoded back (by the decoder
// kubectl uses) it is the same string, plain or quoted.
func TestYAMLScalarsRoundTrip(t *testing.T) {
	words := []string{"", "web", "yes", "Y", "no", "On", "off", "null", "Null", "~", "true", "NaN", "Infinity", ".inf", "1e3", "0x10",
		"0o17", "017", "1_000", "12:30", "2026-01-02", "- a", "a: b", "#x", "a #b", "@x", "`x", "!x", "&a", "*a", "|", ">", "%x",
		"é", "\t", "a\nb", "\u2028", `"q"`, `'s'`, `\`, "{a}", "[a]", "a,b", "?", "/usr/bin/x", "x.y-z_1", " lead", "trail ", "<>&"}
	var o obj
	for i, w := range words {
		o = append(o, kv{"k" + strconv.Itoa(i), w}, kv{w + "k", "v"})
	}
	got := map[string]string{}
	if err := yamlUnmarshalStrict(doc{body: o}.render(), &got); err != nil {
		t.Fatal(err)
	}
	for i, w := range words {
		if got["k"+strconv.Itoa(i)] != w || got[w+"k"] != "v" {
			t.Errorf("%q: value %q, key %q", w, got["k"+strconv.Itoa(i)], got[w+"k"])
		}
	}
}
