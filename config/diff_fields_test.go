package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// A field of the model, reached from a root (a *Group or a *Proxy) through
// struct fields, the first element of slices and non-nil pointers, with a
// way to change it in another copy of that root.
type modelField struct {
	name    string                   // "Processes[0].Stdout.File", "Listener=nil", "ExitCodes[+]"
	ignored bool                     // a struct field on the way is tagged diff:"-"
	change  func(root reflect.Value) // changes the field in root (the struct a root pointer points to)
}

// modelFields lists every field of v: leaves (bools, numbers, strings) are
// changed in place, a slice also gets an element appended, a pointer is set
// to nil or, when nil, to a new value. walked collects the struct types
// visited, nilTypes those behind a nil pointer (which another root must
// visit).
func modelFields(v reflect.Value, name string, ignored bool, at func(reflect.Value) reflect.Value,
	walked, nilTypes map[reflect.Type]bool) []modelField {
	var out []modelField
	switch v.Kind() {
	case reflect.Struct:
		walked[v.Type()] = true
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Tag.Get("diff") == "-" && f.Type.Kind() == reflect.Pointer && f.Type.Elem() == v.Type() {
				continue // not compared, and points back (Process.Spare)
			}
			fname := f.Name
			if name != "" {
				fname = name + "." + f.Name
			}
			out = append(out, modelFields(v.Field(i), fname, ignored || f.Tag.Get("diff") == "-",
				func(r reflect.Value) reflect.Value { return at(r).Field(i) }, walked, nilTypes)...)
		}
	case reflect.Pointer:
		if v.IsNil() {
			nilTypes[v.Type().Elem()] = true
			out = append(out, modelField{name + "=new", ignored, func(r reflect.Value) {
				at(r).Set(reflect.New(v.Type().Elem()))
			}})
			break
		}
		out = append(out, modelField{name + "=nil", ignored, func(r reflect.Value) { at(r).SetZero() }})
		out = append(out, modelFields(v.Elem(), name, ignored,
			func(r reflect.Value) reflect.Value { return at(r).Elem() }, walked, nilTypes)...)
	case reflect.Slice:
		out = append(out, modelField{name + "[+]", ignored, func(r reflect.Value) {
			s := at(r)
			e := reflect.New(s.Type().Elem()).Elem()
			changeAll(e)
			s.Set(reflect.Append(s, e))
		}})
		if v.Len() > 0 {
			// The element itself (a nil *Process in Processes is no model).
			e, atE := v.Index(0), func(r reflect.Value) reflect.Value { return at(r).Index(0) }
			if e.Kind() == reflect.Pointer {
				e, atE = e.Elem(), func(r reflect.Value) reflect.Value { return at(r).Index(0).Elem() }
			}
			out = append(out, modelFields(e, name+"[0]", ignored, atE, walked, nilTypes)...)
		} else {
			nilTypes[v.Type().Elem()] = true // walked only if another root has one
		}
	default:
		out = append(out, modelField{name, ignored, func(r reflect.Value) { bump(at(r)) }})
	}
	return out
}

// bump changes a leaf value.
func bump(v reflect.Value) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.String:
		v.SetString(v.String() + "x")
	default:
		panic(fmt.Sprintf("modelFields: cannot change a %s: teach bump about it", v.Type()))
	}
}

// changeAll makes a zero value differ from the zero value in every leaf.
func changeAll(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.Tag.Get("diff") == "-" && f.Type.Kind() == reflect.Pointer {
				continue // not compared, and may point back (Process.Spare)
			}
			changeAll(v.Field(i))
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		changeAll(v.Elem())
	case reflect.Slice:
		e := reflect.New(v.Type().Elem()).Elem()
		changeAll(e)
		v.Set(reflect.Append(v, e))
	default:
		bump(v)
	}
}

// diffRoots are configurations whose groups and proxies between them have
// every pointer of the model set and every slice non-empty, and every
// option away from its zero value where that is possible.
var diffRoots = []string{`
[program:web]
command=/bin/web --port %(process_num)d
process_name=web%(process_num)d
numprocs=2
directory=/p
umask=022
priority=10
autostart=false
autorestart=true
startsecs=3
startretries=4
stopsignal=INT
stopwaitsecs=5
stopasgroup=true
killasgroup=true
exitcodes=0,2
user=alice
redirect_stderr=false
stdout_logfile=/p/logs/web.log
stdout_logfile_maxbytes=1MB
stdout_logfile_backups=3
stdout_capture_maxbytes=1KB
stdout_events_enabled=true
stdout_syslog=true
stderr_logfile=AUTO
environment=A="1",B="2"
serverurl=unix:///p/s.sock
[proxy:web]
hosts=a.test,b.test
static=/static/=static/
websocket=true
max_body_size=10MB
health_path=/healthz
`, `
[program:a]
command=/bin/a
depends_on=b
notify=true
watchdog_sec=30
healthcheck=exec:/bin/check --quiet
healthcheck_interval=7
healthcheck_timeout=2
healthcheck_retries=4
[program:b]
command=/bin/b
[group:app]
programs=a,b
priority=5
`, `
[eventlistener:listener]
command=/bin/listen
events=PROCESS_STATE,TICK_60
buffer_size=20
`, `
[fcgi-program:php]
command=/usr/bin/php-cgi
socket=tcp://localhost:9009
socket_backlog=64
`}

// TestDiffSeesEveryField changes every field of the model of groups,
// processes and proxies in turn and asserts that Diff reports it, except
// for the fields tagged diff:"-", which it must not report. A field added
// to the model without a decision fails here.
func TestDiffSeesEveryField(t *testing.T) {
	walked, nilTypes := map[reflect.Type]bool{}, map[reflect.Type]bool{}
	seen, reported := map[string]bool{}, map[string]bool{}
	for i, conf := range diffRoots {
		base := mustLoad(t, conf)
		type root struct {
			kind string
			get  func(*Config) any // the root in a configuration loaded from conf
		}
		var roots []root
		for gi := range base.Groups {
			roots = append(roots, root{"Group", func(c *Config) any { return c.Groups[gi] }})
		}
		for pi := range base.Proxies {
			roots = append(roots, root{"Proxy", func(c *Config) any { return c.Proxies[pi] }})
		}
		for _, r := range roots {
			top := reflect.ValueOf(r.get(base)).Elem()
			self := func(v reflect.Value) reflect.Value { return v }
			for _, f := range modelFields(top, "", false, self, walked, nilTypes) {
				seen[r.kind+"."+f.name] = true
				old, cur := mustLoad(t, conf), mustLoad(t, conf)
				f.change(reflect.ValueOf(r.get(cur)).Elem())
				if reflect.DeepEqual(r.get(old), r.get(cur)) {
					t.Fatalf("root %d %s.%s: the change changed nothing", i, r.kind, f.name)
				}
				d := Diff(old, cur)
				// A process's own change is a changed process, not only a
				// changed group (a renamed process is a new one).
				opt, isOpt := strings.CutPrefix(f.name, "Processes[0].")
				isOpt = isOpt && r.kind == "Group" && opt != "Name"
				var problem string
				switch {
				case f.ignored && !d.Empty():
					problem = fmt.Sprintf("is tagged diff:\"-\", but Diff reports its change: %+v", d)
				case !f.ignored && d.Empty():
					problem = "Diff does not see it change: compare it in config/diff.go, " +
						"or tag it diff:\"-\" in config/model.go saying why a change of it restarts nothing"
				case !f.ignored && isOpt && (len(d.Changed) != 1 || len(d.Changed[0].Changed) != 1):
					problem = fmt.Sprintf("not reported as a changed process: %+v", d)
				}
				if problem != "" && !reported[r.kind+"."+f.name] {
					reported[r.kind+"."+f.name] = true
					t.Errorf("%s.%s (root %d): %s", r.kind, f.name, i, problem)
				}
			}
		}
	}
	for typ := range nilTypes {
		if typ.Kind() == reflect.Struct && !walked[typ] {
			t.Errorf("no root of diffRoots has a %s: add one, so its fields are checked", typ)
		}
	}
	// The fields this issue was about, to show the walk reaches them.
	for _, name := range []string{"Group.Processes[0].Stdout.Auto", "Group.Processes[0].Stdout.File",
		"Group.Processes[0].Stderr.Auto", "Group.Processes[0].Environment[0].Value", "Group.FCGI.Backlog", "Proxy.Ports[+]",
		"Group.Processes[0].Health.Argv[0]", "Group.Processes[0].DependsOn[0]", "Group.Processes[0].WatchdogSec"} {
		if !seen[name] {
			t.Errorf("the walk missed %s", name)
		}
	}
}
