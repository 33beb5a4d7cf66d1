package export

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"roost/config"
	"roost/cronjobs"
)

// KubernetesOptions are `roost export kubernetes`'s flags.
type KubernetesOptions struct {
	Image     string // every container's image; "" means PROJECT:latest, with a warning
	Namespace string // metadata.namespace of every object; "" leaves it out
	Port      int    // the port a proxied program listens on in its pod (PORT)
}

// The labels every object carries (the recommended app.kubernetes.io ones).
const (
	labelName      = "app.kubernetes.io/name"
	labelPartOf    = "app.kubernetes.io/part-of"
	labelComponent = "app.kubernetes.io/component"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelGroup     = "roost-group"
	managedBy      = "roost-export"
)

// Kubernetes limits on names.
const (
	maxLabel       = 63 // an RFC 1123 label: names of Deployments' pods, Services, label values
	maxCronJobName = 52 // the controller appends 11 characters for its Jobs
)

// DNSLabel turns s into an RFC 1123 label of at most max characters:
// lower case, every run of other characters a '-', no '-' at either end.
// "" when nothing is left.
func DNSLabel(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	out := b.String()
	if len(out) > max {
		out = strings.TrimRight(out[:max], "-")
	}
	return out
}

// kube is one Kubernetes export in progress.
type kube struct {
	in      *Input
	opt     KubernetesOptions
	d       diags
	project string
	docs    []File
	// name spaces: kinds whose names must differ, and the pods'
	// app.kubernetes.io/name label, which Services select on.
	deployments, services, ingresses, secrets, cronjobs *names
}

// Kubernetes renders the project as Kubernetes objects: a Secret with the
// user's variables, a Secret and a Deployment per program, a Service and
// an Ingress per [proxy:x], a CronJob per cron job. The files come in that
// order, one object each.
func Kubernetes(in Input, opt KubernetesOptions) ([]File, []Warning, error) {
	k := &kube{in: &in, opt: opt}
	k.deployments = newNames("Deployment", &k.d.errs)
	k.services = newNames("Service", &k.d.errs)
	k.ingresses = newNames("Ingress", &k.d.errs)
	k.secrets = newNames("Secret", &k.d.errs)
	k.cronjobs = newNames("CronJob", &k.d.errs)
	if k.opt.Port == 0 {
		k.opt.Port = 8080
	}
	k.project = DNSLabel(in.projectName(), maxLabel)
	if k.project == "" {
		k.d.errorf(config.Pos{File: in.Config.File}, "", "the project name %q has no letter or digit for a Kubernetes label; give one with --name", in.projectName())
		return nil, k.d.warns, &config.Error{Diagnostics: k.d.errs}
	}
	if k.opt.Namespace != "" && (DNSLabel(k.opt.Namespace, maxLabel) != k.opt.Namespace) {
		return nil, nil, fmt.Errorf("namespace %q is not an RFC 1123 label (lower-case letters, digits and '-', at most 63)", k.opt.Namespace)
	}
	if k.opt.Image == "" {
		k.opt.Image = k.project + ":latest"
		k.d.warn(config.Pos{File: in.Config.File}, "", "no --image: the containers run %s; build an image holding the project and what its commands need", k.opt.Image)
	} else if strings.ContainsAny(k.opt.Image, " \t\n\"'") {
		return nil, nil, fmt.Errorf("image %q contains a space or a quote", k.opt.Image)
	}
	envSecret := k.userSecret()
	for _, p := range in.programs(&k.d) {
		k.program(p, envSecret)
	}
	for _, px := range in.Config.Proxies {
		k.proxy(px)
	}
	for _, j := range in.jobs() {
		k.cronJob(j, envSecret)
	}
	w, err := k.d.result()
	if err != nil {
		return nil, w, err
	}
	return k.docs, w, nil
}

func (k *kube) add(kind, name string, d doc, secret bool) {
	k.docs = append(k.docs, File{Name: strings.ToLower(kind) + "-" + name + ".yaml", Data: d.render(), Secret: secret})
}

// meta is an object's metadata.
func (k *kube) meta(name string, labels obj, annotations obj) obj {
	m := obj{{"name", name}}
	if k.opt.Namespace != "" {
		m = append(m, kv{"namespace", k.opt.Namespace})
	}
	m = append(m, kv{"labels", labels})
	if len(annotations) > 0 {
		m = append(m, kv{"annotations", annotations})
	}
	return m
}

// labels are the labels of the pods of name: the selector's.
func (k *kube) labels(name, component string) obj {
	return obj{{labelName, name}, {labelPartOf, k.project}, {labelComponent, component}}
}

func withManagedBy(l obj) obj { return append(append(obj{}, l...), kv{labelManagedBy, managedBy}) }

// userSecret is the Secret with the user's `roost env` variables; "" when
// there are none.
func (k *kube) userSecret() string {
	if len(k.in.UserEnv) == 0 {
		return ""
	}
	name := k.project + "-roost-env"
	if !k.secrets.claim(name, source{"the roost env variables", config.Pos{File: k.in.EnvFile}}) {
		return ""
	}
	data := map[string]string{}
	for _, e := range k.in.UserEnv {
		data[e.Name] = e.Value
	}
	comments := []string{"The user's roost env variables (" + k.in.EnvFile + "): every program and cron job gets them."}
	for _, p := range k.in.programs(&diags{}) {
		if s, ok := k.in.Services[p.name]; ok {
			if _, set := data[s.Var]; set {
				comments = append(comments, fmt.Sprintf("%s points at the roost service %s (%s) on this host: set it to the database the cluster uses.", s.Var, p.name, s.Kind))
			}
		}
	}
	k.add("Secret", name, k.secret(name, k.labelsFor(name, "env"), data, comments), true)
	return name
}

func (k *kube) labelsFor(name, component string) obj {
	return withManagedBy(k.labels(name, component))
}

func (k *kube) secret(name string, labels obj, data map[string]string, comments []string) doc {
	sd := obj{}
	for _, key := range sortedKeys(data) {
		sd = append(sd, kv{key, data[key]})
	}
	return doc{comments: comments, body: obj{
		{"apiVersion", "v1"},
		{"kind", "Secret"},
		{"metadata", k.meta(name, labels, nil)},
		{"type", "Opaque"},
		{"stringData", sd},
	}}
}

// program renders one program: its environment Secret and a Deployment
// with numprocs replicas.
func (k *kube) program(p program, envSecret string) {
	first := p.procs[0]
	sec := "program:" + p.name
	src := source{"[program:" + p.name + "]", first.Pos}
	if s, ok := k.in.Services[p.name]; ok {
		k.d.warn(first.Pos, sec, "a roost service (%s): not exported; use a managed %s (or a StatefulSet of the %s image with a PersistentVolumeClaim) and point %s at it", s.Kind, s.Kind, s.Kind, s.Var)
		return
	}
	name := DNSLabel(p.name, maxLabel)
	if name == "" {
		k.d.errorf(first.Pos, sec, "the program name %q has no letter or digit for a Kubernetes name; rename the program", p.name)
		return
	}
	if !k.deployments.claim(name, src) {
		return
	}
	firstPort, _ := first.Environment.Lookup(config.EnvPort)
	for _, q := range p.procs[1:] {
		// A proxied program's processes differ by their PORT; in a pod
		// each replica has the same one.
		argv := strings.Join(q.Argv, "\x00")
		if port, ok := q.Environment.Lookup(config.EnvPort); ok && firstPort != "" {
			argv = strings.ReplaceAll(argv, port, firstPort)
		}
		if argv != strings.Join(first.Argv, "\x00") {
			k.d.warn(first.Pos, sec, "its processes run different commands (%%(process_num)d or PORT in command=); every replica runs process %s's: %s", first.Name, first.Command)
		}
		if !maps.Equal(programEnv(q), programEnv(first)) {
			k.d.warn(first.Pos, sec, "its processes have different environment= values (%%(process_num)d); every replica gets process %s's", first.Name)
		}
	}
	logWarnings(&k.d, first, "the container's log (kubectl logs)")
	k.programWarnings(first, sec)

	container := obj{{"name", name}, {"image", k.opt.Image}}
	if len(first.Argv) > 0 {
		container = append(container, kv{"command", list{first.Argv[0]}})
		if len(first.Argv) > 1 {
			args := list{}
			for _, a := range first.Argv[1:] {
				args = append(args, a)
			}
			container = append(container, kv{"args", args})
		}
	}
	container = append(container, kv{"workingDir", k.in.workDir(first)})
	proxied := len(k.in.proxiesFor(p.name)) > 0
	if proxied && (strings.Contains(first.Command, "127.0.0.1") || strings.Contains(first.Command, "localhost")) {
		k.d.warn(first.Pos, sec, "the command names 127.0.0.1 or localhost: in a pod the program must listen on 0.0.0.0 (all addresses) for its Service to reach it")
	}
	var env list
	if proxied {
		container = append(container, kv{"ports", list{obj{{"name", "http"}, {"containerPort", k.opt.Port}, {"protocol", "TCP"}}}})
		env = append(env, obj{{"name", config.EnvPort}, {"value", strconv.Itoa(k.opt.Port)}})
	}
	if len(env) > 0 {
		container = append(container, kv{"env", env})
	}
	var envFrom list
	if envSecret != "" {
		envFrom = append(envFrom, obj{{"secretRef", obj{{"name", envSecret}}}})
	}
	if pe := programEnv(first); len(pe) > 0 {
		sname := name + "-env"
		if k.secrets.claim(sname, source{"environment= of [program:" + p.name + "]", first.Pos}) {
			k.add("Secret", sname, k.secret(sname, k.labelsFor(name, "env"), pe,
				[]string{fmt.Sprintf("environment= of [program:%s] (%s)", p.name, first.Pos)}), true)
			envFrom = append(envFrom, obj{{"secretRef", obj{{"name", sname}}}})
		}
	}
	if len(envFrom) > 0 {
		container = append(container, kv{"envFrom", envFrom})
	}
	if res := k.resources(first, sec); res != nil {
		container = append(container, kv{"resources", res})
	}
	if probe := k.startupProbe(p.name, first); probe != nil {
		container = append(container, kv{"startupProbe", probe}, kv{"readinessProbe", k.readinessProbe(p.name)})
	}
	if probe := k.livenessProbe(first, sec); probe != nil {
		container = append(container, kv{"livenessProbe", probe})
	}
	if first.StopSignal != syscall.SIGTERM {
		// Kubernetes stops a container with SIGTERM; the preStop hook
		// sends the program's own signal first and waits for it to exit.
		sig := config.SignalName(first.StopSignal)
		container = append(container, kv{"lifecycle", obj{{"preStop", obj{{"exec", obj{{"command", list{
			"/bin/sh", "-c", fmt.Sprintf("kill -%s 1; while kill -0 1 2>/dev/null; do sleep 1; done", sig)}}}}}}}})
	}
	replicas := len(p.procs)
	if !first.Autostart {
		replicas = 0
		k.d.warn(first.Pos, sec, "autostart=false: replicas: 0 (kubectl scale deployment/%s --replicas=%d starts it)", name, len(p.procs))
	}
	labels := k.labels(name, "program")
	podLabels := labels
	if p.group.Explicit {
		podLabels = append(append(obj{}, labels...), kv{labelGroup, DNSLabel(p.group.Name, maxLabel)})
	}
	podSpec := obj{
		{"terminationGracePeriodSeconds", secondsCeil(first.StopWaitSecs)},
		{"containers", list{container}},
	}
	d := doc{
		comments: []string{fmt.Sprintf("[program:%s] (%s): %s", p.name, first.Pos, oneLine(first.Command))},
		body: obj{
			{"apiVersion", "apps/v1"},
			{"kind", "Deployment"},
			{"metadata", k.meta(name, withManagedBy(podLabels), nil)},
			{"spec", obj{
				{"replicas", replicas},
				{"selector", obj{{"matchLabels", labels}}},
				{"template", obj{
					{"metadata", obj{{"labels", podLabels}}},
					{"spec", podSpec},
				}},
			}},
		},
	}
	k.add("Deployment", name, d, false)
}

// programWarnings reports what a Deployment does not do.
func (k *kube) programWarnings(p *config.Process, sec string) {
	if p.Autorestart == config.AutorestartFalse {
		k.d.warn(p.Pos, sec, "autorestart=false has no Kubernetes equivalent: a Deployment's pods always restart (a Job runs once)")
	}
	if p.User != "" {
		k.d.warn(p.Pos, sec, "user=%s is not exported: set the pod's securityContext.runAsUser to its uid", p.User)
	}
	if p.Umask >= 0 {
		k.d.warn(p.Pos, sec, "umask=%03o is not exported: Kubernetes has no umask setting (set it in the image's entrypoint)", p.Umask)
	}
	if len(p.DependsOn) > 0 {
		k.d.warn(p.Pos, sec, "depends_on=%s is not exported: pods start in no order (let the program retry, or add an init container)", strings.Join(p.DependsOn, ","))
	}
	if p.Notify {
		k.d.warn(p.Pos, sec, "notify=true is not exported: Kubernetes has no sd_notify; readiness comes from a probe")
	}
}

// resources maps the program's limits: memory_max and cpu_max are
// limits; pids_max has no per-container equivalent.
func (k *kube) resources(p *config.Process, sec string) obj {
	l := p.Limits
	lim := obj{}
	if l.CPUMax > 0 {
		lim = append(lim, kv{"cpu", strconv.Itoa(l.CPUMax*10) + "m"})
	}
	if l.MemoryMax > 0 {
		lim = append(lim, kv{"memory", quantity(l.MemoryMax)})
	}
	req := obj{}
	if l.MemoryHigh > 0 {
		req = append(req, kv{"memory", quantity(l.MemoryHigh)})
	}
	if l.PidsMax > 0 {
		k.d.warn(p.Pos, sec, "pids_max=%d is not exported: Kubernetes limits pids per node (kubelet podPidsLimit), not per container", l.PidsMax)
	}
	if l.CPUWeight > 0 || l.IOWeight > 0 {
		k.d.warn(p.Pos, sec, "cpu_weight and io_weight are not exported: Kubernetes derives CPU shares from requests")
	}
	if len(lim) == 0 && len(req) == 0 {
		return nil
	}
	res := obj{}
	if len(lim) > 0 {
		res = append(res, kv{"limits", lim})
	}
	if len(req) > 0 {
		res = append(res, kv{"requests", req})
	}
	return res
}

// quantity writes bytes as a Kubernetes quantity, in Gi/Mi/Ki when whole.
func quantity(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// healthPath is the health_path of a [proxy:x] routing to prog, "" when none.
func (k *kube) healthPath(prog string) string {
	for _, px := range k.in.proxiesFor(prog) {
		if px.HealthPath != "" {
			return px.HealthPath
		}
	}
	return ""
}

// startupProbe: where a proxy health path exists, the program is started
// once it answers there, not before startsecs (initialDelaySeconds).
func (k *kube) startupProbe(prog string, p *config.Process) obj {
	path := k.healthPath(prog)
	if path == "" {
		return nil
	}
	return obj{
		{"httpGet", obj{{"path", path}, {"port", "http"}}},
		{"initialDelaySeconds", secondsCeil(p.StartSecs)},
		{"periodSeconds", 1},
		{"failureThreshold", 60},
	}
}

func (k *kube) readinessProbe(prog string) obj {
	return obj{{"httpGet", obj{{"path", k.healthPath(prog)}, {"port", "http"}}}, {"periodSeconds", 10}, {"failureThreshold", 3}}
}

// livenessProbe maps healthcheck=: an UNHEALTHY program is restarted, as
// a failed liveness probe restarts its container.
func (k *kube) livenessProbe(p *config.Process, sec string) obj {
	hc := p.Health
	if hc == nil {
		return nil
	}
	var action kv
	switch hc.Kind {
	case config.HealthHTTP:
		u, err := url.Parse(hc.Target)
		if err != nil || u.Port() == "" {
			k.d.warn(p.Pos, sec, "healthcheck %s is not exported: the URL needs a port", hc.Target)
			return nil
		}
		port, _ := strconv.Atoi(u.Port())
		path := u.RequestURI()
		action = kv{"httpGet", obj{{"path", path}, {"port", port}}}
	case config.HealthTCP:
		_, ps, err := net.SplitHostPort(hc.Target)
		port, _ := strconv.Atoi(ps)
		if err != nil || port == 0 {
			k.d.warn(p.Pos, sec, "healthcheck %s is not exported: no port", hc.Target)
			return nil
		}
		action = kv{"tcpSocket", obj{{"port", port}}}
	case config.HealthExec:
		cmd := list{}
		for _, a := range hc.Argv {
			cmd = append(cmd, a)
		}
		action = kv{"exec", obj{{"command", cmd}}}
	default:
		return nil
	}
	return obj{action,
		{"periodSeconds", max(1, secondsCeil(hc.Interval))},
		{"timeoutSeconds", max(1, secondsCeil(hc.Timeout))},
		{"failureThreshold", max(1, hc.Retries)},
	}
}

// proxy renders a [proxy:x] as a Service and an Ingress.
func (k *kube) proxy(px *config.Proxy) {
	sec := "proxy:" + px.Name
	src := source{"[proxy:" + px.Name + "]", px.Pos}
	if _, ok := k.in.Services[px.Program]; ok {
		return
	}
	name := DNSLabel(px.Name, maxLabel)
	prog := DNSLabel(px.Program, maxLabel)
	if name == "" {
		k.d.errorf(px.Pos, sec, "the proxy name %q has no letter or digit for a Kubernetes name; rename the section", px.Name)
		return
	}
	if px.Socket != "" {
		k.d.warn(px.Pos, sec, "socket=%s is not exported: in a pod the program listens on TCP port $PORT (%d)", px.Socket, k.opt.Port)
	}
	if !k.services.claim(name, src) || !k.ingresses.claim(name, src) {
		return
	}
	labels := k.labels(name, "proxy")
	svc := doc{
		comments: []string{fmt.Sprintf("[proxy:%s] (%s): the program's port", px.Name, px.Pos)},
		body: obj{
			{"apiVersion", "v1"},
			{"kind", "Service"},
			{"metadata", k.meta(name, withManagedBy(labels), nil)},
			{"spec", obj{
				{"selector", k.labels(prog, "program")},
				{"ports", list{obj{{"name", "http"}, {"port", 80}, {"targetPort", "http"}, {"protocol", "TCP"}}}},
			}},
		},
	}
	k.add("Service", name, svc, false)

	comments := []string{fmt.Sprintf("[proxy:%s] (%s): %s", px.Name, px.Pos, strings.Join(px.Hosts, " "))}
	for _, s := range px.Static {
		comments = append(comments, fmt.Sprintf("static %s = %s: roost's nginx serves it; here the program must (or a bucket, a CDN)", s.Prefix, s.Dir))
		k.d.warn(s.Pos, sec, "static %s = %s is not exported: nginx served it from the disk; serve it from the program or a bucket", s.Prefix, s.Dir)
	}
	var annotations obj
	if px.MaxBodySize > 0 {
		annotations = obj{{"nginx.ingress.kubernetes.io/proxy-body-size", strconv.FormatInt(px.MaxBodySize, 10)}}
	}
	rules := list{}
	for _, h := range px.Hosts {
		rules = append(rules, obj{
			{"host", h},
			{"http", obj{{"paths", list{obj{
				{"path", "/"},
				{"pathType", "Prefix"},
				{"backend", obj{{"service", obj{{"name", name}, {"port", obj{{"name", "http"}}}}}}},
			}}}}},
		})
	}
	ing := doc{comments: comments, body: obj{
		{"apiVersion", "networking.k8s.io/v1"},
		{"kind", "Ingress"},
		{"metadata", k.meta(name, withManagedBy(labels), annotations)},
		{"spec", obj{{"rules", rules}}},
	}}
	k.add("Ingress", name, ing, false)
}

// cronSchedule is the job's schedule in CronJob syntax: five fields or a
// descriptor as written; @every as the five fields that repeat at the same
// interval where there are such; "" (with a warning) otherwise.
func (k *kube) cronSchedule(j cronjobs.Job, pos config.Pos) string {
	if j.Reboot {
		k.d.warn(pos, "", "cron job %s: @reboot has no Kubernetes equivalent (an init container, or a Job you run at deploy): not exported", j.Name)
		return ""
	}
	dur, every := strings.CutPrefix(j.Spec, "@every ")
	if !every {
		return j.Spec
	}
	d, err := time.ParseDuration(dur)
	switch {
	case err != nil:
	case d%time.Minute == 0 && d < time.Hour && time.Hour%d == 0:
		return fmt.Sprintf("*/%d * * * *", d/time.Minute)
	case d%time.Hour == 0 && d < 24*time.Hour && (24*time.Hour)%d == 0:
		return fmt.Sprintf("0 */%d * * *", d/time.Hour)
	case d == 24*time.Hour:
		return "0 0 * * *"
	}
	k.d.warn(pos, "", "cron job %s: %s has no CronJob schedule (intervals that divide an hour or a day do): not exported", j.Name, j.Spec)
	return ""
}

// cronJob renders one cron line as a CronJob.
func (k *kube) cronJob(j cronjobs.Job, envSecret string) {
	pos := k.in.cronPos(j)
	schedule := k.cronSchedule(j, pos)
	if schedule == "" {
		return
	}
	name := DNSLabel(j.Name, maxCronJobName)
	if name == "" {
		k.d.errorf(pos, "", "cron job %q has no letter or digit for a Kubernetes name; name it with a # name: comment", j.Name)
		return
	}
	if !k.cronjobs.claim(name, source{"cron job " + j.Name, pos}) {
		return
	}
	if j.Stdin != "" {
		k.d.warn(pos, "", "cron job %s: its input (the text after %%) is not exported: a CronJob's container has no stdin", j.Name)
	}
	env := list{obj{{"name", "ROOST_CRON_JOB"}, {"value", j.Name}}}
	for _, e := range j.Env {
		n, v, _ := strings.Cut(e, "=")
		if n == "TZ" || n == "CRON_TZ" || n == "SHELL" || n == "MAILTO" {
			continue
		}
		env = append(env, obj{{"name", n}, {"value", v}})
	}
	container := obj{
		{"name", "job"},
		{"image", k.opt.Image},
		{"command", list{j.Shell(), "-c", j.Command}},
		{"workingDir", k.in.Config.Here},
		{"env", env},
	}
	if envSecret != "" {
		container = append(container, kv{"envFrom", list{obj{{"secretRef", obj{{"name", envSecret}}}}}})
	}
	labels := k.labels(name, "cron-job")
	spec := obj{
		{"schedule", schedule},
	}
	if zone := j.Location.String(); zone != "Local" && zone != "" {
		spec = append(spec, kv{"timeZone", zone})
	}
	spec = append(spec,
		// roost skips a run while the last one still runs.
		kv{"concurrencyPolicy", "Forbid"},
		kv{"jobTemplate", obj{{"spec", obj{
			{"backoffLimit", 0},
			{"template", obj{
				{"metadata", obj{{"labels", labels}}},
				{"spec", obj{
					{"restartPolicy", "Never"},
					{"containers", list{container}},
				}},
			}},
		}}}})
	d := doc{
		comments: []string{fmt.Sprintf("cron job %s (%s): %s", j.Name, pos, j.Spec)},
		body: obj{
			{"apiVersion", "batch/v1"},
			{"kind", "CronJob"},
			{"metadata", k.meta(name, withManagedBy(labels), nil)},
			{"spec", spec},
		},
	}
	k.add("CronJob", name, d, false)
}

// oneLine shows a multi-line command on one line.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }
