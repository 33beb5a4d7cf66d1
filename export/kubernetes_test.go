package export

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// manifests are the objects of one export, decoded strictly.
type manifests struct {
	secrets     map[string]*corev1.Secret
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	ingresses   []*networkingv1.Ingress
	cronjobs    []*batchv1.CronJob
}

// decodeStrict decodes every document of the stream into the k8s.io/api
// type its kind names: an unknown or duplicate field is an error.
func decodeStrict(t *testing.T, stream []byte) manifests {
	t.Helper()
	m := manifests{secrets: map[string]*corev1.Secret{}}
	for i, d := range bytes.Split(stream, []byte("\n---\n")) {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(d, &head); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, d)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "v1 Secret":
			s := &corev1.Secret{}
			m.secrets[nameOf(d)] = s
			obj = s
		case "apps/v1 Deployment":
			o := &appsv1.Deployment{}
			m.deployments = append(m.deployments, o)
			obj = o
		case "v1 Service":
			o := &corev1.Service{}
			m.services = append(m.services, o)
			obj = o
		case "networking.k8s.io/v1 Ingress":
			o := &networkingv1.Ingress{}
			m.ingresses = append(m.ingresses, o)
			obj = o
		case "batch/v1 CronJob":
			o := &batchv1.CronJob{}
			m.cronjobs = append(m.cronjobs, o)
			obj = o
		default:
			t.Fatalf("document %d: unexpected %s %s", i, head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict(d, obj); err != nil {
			t.Fatalf("document %d (%s): strict decode: %v\n%s", i, head.Kind, err, d)
		}
	}
	return m
}

func nameOf(d []byte) string {
	var o metav1.PartialObjectMetadata
	_ = yaml.Unmarshal(d, &o)
	return o.Name
}

// validator collects failed rules.
type validator struct{ errs []string }

func (v *validator) add(path string, msgs []string) {
	for _, m := range msgs {
		v.errs = append(v.errs, path+": "+m)
	}
}

func (v *validator) list(errs field.ErrorList) {
	for _, e := range errs {
		v.errs = append(v.errs, e.Error())
	}
}

func (v *validator) check(ok bool, format string, a ...any) {
	if !ok {
		v.errs = append(v.errs, fmt.Sprintf(format, a...))
	}
}

// meta applies the API's rules for names, namespaces, labels and
// annotations.
func (v *validator) meta(kind string, om metav1.ObjectMeta, label bool) {
	p := kind + " " + om.Name
	if label {
		v.add(p+" name", validation.IsDNS1123Label(om.Name))
	} else {
		v.add(p+" name", validation.IsDNS1123Subdomain(om.Name))
	}
	if om.Namespace != "" {
		v.add(p+" namespace", validation.IsDNS1123Label(om.Namespace))
	}
	v.list(metavalidation.ValidateLabels(om.Labels, field.NewPath(p, "metadata", "labels")))
	v.list(apivalidation.ValidateAnnotations(om.Annotations, field.NewPath(p, "metadata", "annotations")))
}

// pod applies the container rules the API server would: names, images,
// ports, env names, envFrom Secrets that exist, probe ports that name a
// container port.
func (v *validator) pod(p string, spec corev1.PodSpec, m manifests) {
	v.check(len(spec.Containers) > 0, "%s: no containers", p)
	seen := map[string]bool{}
	for _, c := range spec.Containers {
		cp := p + " container " + c.Name
		v.add(cp+" name", validation.IsDNS1123Label(c.Name))
		v.check(!seen[c.Name], "%s: duplicate container name", cp)
		seen[c.Name] = true
		v.check(strings.TrimSpace(c.Image) == c.Image && c.Image != "", "%s: image %q", cp, c.Image)
		v.check(len(c.Command) > 0 && c.Command[0] != "", "%s: no command", cp)
		ports := map[string]bool{}
		for _, port := range c.Ports {
			v.add(cp+" port", validation.IsValidPortNum(int(port.ContainerPort)))
			v.add(cp+" port name", validation.IsValidPortName(port.Name))
			ports[port.Name] = true
		}
		for _, e := range c.Env {
			v.add(cp+" env", validation.IsEnvVarName(e.Name))
		}
		for _, ef := range c.EnvFrom {
			v.check(ef.SecretRef != nil && m.secrets[ef.SecretRef.Name] != nil, "%s: envFrom names no Secret of the export: %+v", cp, ef)
		}
		for name, pr := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
			if pr == nil {
				continue
			}
			h := pr.ProbeHandler
			n := 0
			for _, set := range []bool{h.HTTPGet != nil, h.TCPSocket != nil, h.Exec != nil, h.GRPC != nil} {
				if set {
					n++
				}
			}
			v.check(n == 1, "%s %s: %d handlers, want one", cp, name, n)
			v.check(pr.PeriodSeconds >= 1 && pr.FailureThreshold >= 1 && pr.InitialDelaySeconds >= 0, "%s %s: bad timing %+v", cp, name, pr)
			if h.HTTPGet != nil {
				v.check(strings.HasPrefix(h.HTTPGet.Path, "/"), "%s %s: path %q", cp, name, h.HTTPGet.Path)
				if ps := h.HTTPGet.Port.StrVal; ps != "" {
					v.check(ports[ps], "%s %s: port %q names no container port", cp, name, ps)
				} else {
					v.add(cp+" "+name, validation.IsValidPortNum(h.HTTPGet.Port.IntValue()))
				}
			}
		}
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
			v.check(c.Lifecycle.PreStop.Exec != nil && len(c.Lifecycle.PreStop.Exec.Command) > 0, "%s: empty preStop", cp)
		}
	}
	if spec.TerminationGracePeriodSeconds != nil {
		v.check(*spec.TerminationGracePeriodSeconds >= 0, "%s: negative grace period", p)
	}
}

// validate applies the rules the API server would apply that need no
// cluster, and the cross-object ones kubectl apply would trip over.
func validate(t *testing.T, m manifests) {
	t.Helper()
	var v validator
	for name, s := range m.secrets {
		v.meta("Secret", s.ObjectMeta, false)
		v.check(s.Type == corev1.SecretTypeOpaque, "Secret %s: type %q", name, s.Type)
		for k := range s.StringData {
			v.add("Secret "+name+" key", validation.IsConfigMapKey(k))
		}
	}
	podLabels := map[string]labels.Set{}
	for _, d := range m.deployments {
		p := "Deployment " + d.Name
		v.meta("Deployment", d.ObjectMeta, true)
		v.check(d.Spec.Replicas != nil && *d.Spec.Replicas >= 0, "%s: replicas", p)
		v.check(d.Spec.Selector != nil && len(d.Spec.Selector.MatchLabels) > 0, "%s: empty selector", p)
		v.list(metavalidation.ValidateLabelSelector(d.Spec.Selector, metavalidation.LabelSelectorValidationOptions{}, field.NewPath(p, "spec", "selector")))
		v.list(metavalidation.ValidateLabels(d.Spec.Template.Labels, field.NewPath(p, "spec", "template", "labels")))
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		v.check(err == nil && sel.Matches(labels.Set(d.Spec.Template.Labels)), "%s: the selector does not match the template's labels", p)
		rp := d.Spec.Template.Spec.RestartPolicy
		v.check(rp == "" || rp == corev1.RestartPolicyAlways, "%s: restartPolicy %q", p, rp)
		v.pod(p, d.Spec.Template.Spec, m)
		podLabels[d.Name] = labels.Set(d.Spec.Template.Labels)
	}
	services := map[string]*corev1.Service{}
	for _, s := range m.services {
		p := "Service " + s.Name
		v.meta("Service", s.ObjectMeta, true)
		services[s.Name] = s
		var target *appsv1.Deployment
		for _, d := range m.deployments {
			if labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels[d.Name]) {
				target = d
			}
		}
		v.check(len(s.Spec.Selector) > 0 && target != nil, "%s: its selector matches no Deployment's pods", p)
		for _, port := range s.Spec.Ports {
			v.add(p+" port", validation.IsValidPortNum(int(port.Port)))
			v.add(p+" port name", validation.IsValidPortName(port.Name))
			if target != nil && port.TargetPort.StrVal != "" {
				found := false
				for _, c := range target.Spec.Template.Spec.Containers {
					for _, cp := range c.Ports {
						found = found || cp.Name == port.TargetPort.StrVal
					}
				}
				v.check(found, "%s: targetPort %q is no container port of Deployment %s", p, port.TargetPort.StrVal, target.Name)
			}
		}
	}
	for _, ing := range m.ingresses {
		p := "Ingress " + ing.Name
		v.meta("Ingress", ing.ObjectMeta, false)
		v.check(len(ing.Spec.Rules) > 0, "%s: no rules", p)
		for _, r := range ing.Spec.Rules {
			if strings.HasPrefix(r.Host, "*.") {
				v.add(p+" host", validation.IsWildcardDNS1123Subdomain(r.Host))
			} else {
				v.add(p+" host", validation.IsDNS1123Subdomain(r.Host))
			}
			v.check(r.HTTP != nil && len(r.HTTP.Paths) > 0, "%s: host %s has no paths", p, r.Host)
			if r.HTTP == nil {
				continue
			}
			for _, path := range r.HTTP.Paths {
				v.check(strings.HasPrefix(path.Path, "/"), "%s: path %q", p, path.Path)
				v.check(path.PathType != nil && (*path.PathType == networkingv1.PathTypePrefix || *path.PathType == networkingv1.PathTypeExact || *path.PathType == networkingv1.PathTypeImplementationSpecific), "%s: pathType", p)
				b := path.Backend.Service
				v.check(b != nil && services[b.Name] != nil, "%s: backend names no Service of the export", p)
				if b != nil && services[b.Name] != nil {
					found := false
					for _, sp := range services[b.Name].Spec.Ports {
						found = found || sp.Name == b.Port.Name
					}
					v.check(found, "%s: backend port %q is no port of Service %s", p, b.Port.Name, b.Name)
				}
			}
		}
	}
	for _, cj := range m.cronjobs {
		p := "CronJob " + cj.Name
		v.meta("CronJob", cj.ObjectMeta, false)
		v.check(len(cj.Name) <= 52, "%s: name longer than 52", p)
		_, err := cron.ParseStandard(cj.Spec.Schedule)
		v.check(cj.Spec.Schedule != "" && err == nil, "%s: schedule %q: %v", p, cj.Spec.Schedule, err)
		if cj.Spec.TimeZone != nil {
			_, err := time.LoadLocation(*cj.Spec.TimeZone)
			v.check(err == nil && *cj.Spec.TimeZone != "Local", "%s: timeZone %q: %v", p, *cj.Spec.TimeZone, err)
		}
		v.check(cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent, "%s: concurrencyPolicy %q", p, cj.Spec.ConcurrencyPolicy)
		ps := cj.Spec.JobTemplate.Spec.Template.Spec
		v.check(ps.RestartPolicy == corev1.RestartPolicyNever || ps.RestartPolicy == corev1.RestartPolicyOnFailure, "%s: restartPolicy %q", p, ps.RestartPolicy)
		v.list(metavalidation.ValidateLabels(cj.Spec.JobTemplate.Spec.Template.Labels, field.NewPath(p, "jobTemplate", "labels")))
		v.pod(p, ps, m)
	}
	for _, e := range v.errs {
		t.Error(e)
	}
}

// Every project's Kubernetes output decodes strictly into k8s.io/api's
// types and passes the API's offline rules.
func TestKubernetesStrict(t *testing.T) {
	for _, p := range projects {
		t.Run(p.name, func(t *testing.T) {
			in := load(t, p)
			files, _, err := Kubernetes(in, KubernetesOptions{Image: "registry.example.test/app:v1", Namespace: "shop"})
			if err != nil {
				t.Fatal(err)
			}
			m := decodeStrict(t, Stream(files, "---\n"))
			if len(m.deployments) == 0 {
				t.Fatal("no Deployment")
			}
			validate(t, m)
			// What the full project must have produced.
			if p.name == "full" {
				checkFull(t, m)
			}
		})
	}
}

// checkFull checks the mapping of the full project's options, field by
// field, on the decoded objects.
func checkFull(t *testing.T, m manifests) {
	byName := map[string]*appsv1.Deployment{}
	for _, d := range m.deployments {
		byName[d.Name] = d
	}
	web, worker, migrate := byName["web"], byName["worker"], byName["migrate"]
	if web == nil || worker == nil || migrate == nil || byName["db"] != nil {
		t.Fatalf("deployments %v: want web, worker, migrate and no db (a service)", byName)
	}
	if *web.Spec.Replicas != 2 || *worker.Spec.Replicas != 3 || *migrate.Spec.Replicas != 0 {
		t.Errorf("replicas web %d worker %d migrate %d, want 2 3 0", *web.Spec.Replicas, *worker.Spec.Replicas, *migrate.Spec.Replicas)
	}
	c := web.Spec.Template.Spec.Containers[0]
	if got := strings.Join(append(c.Command, c.Args...), "|"); got != "gunicorn|--bind|127.0.0.1:8080|--workers|4|app:wsgi" {
		t.Errorf("web command %q", got)
	}
	if wc := worker.Spec.Template.Spec.Containers[0]; strings.Join(wc.Args, "|") != "worker.py|--queue|high priority|--rate|50%" {
		t.Errorf("worker args %q: want supervisord's shlex split", wc.Args)
	}
	if *web.Spec.Template.Spec.TerminationGracePeriodSeconds != 30 {
		t.Errorf("web grace %d, want stopwaitsecs 30", *web.Spec.Template.Spec.TerminationGracePeriodSeconds)
	}
	if c.Lifecycle == nil || !strings.Contains(strings.Join(c.Lifecycle.PreStop.Exec.Command, " "), "kill -INT 1") {
		t.Errorf("web preStop %+v, want kill -INT 1 (stopsignal=INT)", c.Lifecycle)
	}
	if mem, cpu := c.Resources.Limits.Memory(), c.Resources.Limits.Cpu(); mem.Value() != 512<<20 || cpu.MilliValue() != 1500 {
		t.Errorf("web limits memory %v cpu %v, want 512Mi 1500m", mem, cpu)
	}
	if c.StartupProbe == nil || c.StartupProbe.HTTPGet.Path != "/healthz" || c.StartupProbe.InitialDelaySeconds != 1 {
		t.Errorf("web startupProbe %+v, want /healthz after startsecs", c.StartupProbe)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz?deep=1" || c.LivenessProbe.FailureThreshold != 3 {
		t.Errorf("web livenessProbe %+v, want the healthcheck", c.LivenessProbe)
	}
	if c.WorkingDir == "" || len(c.EnvFrom) != 2 {
		t.Errorf("web workingDir %q envFrom %+v", c.WorkingDir, c.EnvFrom)
	}
	if s := m.secrets["web-env"]; s == nil || s.StringData["GREETING"] != "hello, world" || s.StringData["APP_ENV"] != "production" {
		t.Errorf("Secret web-env %+v", s)
	}
	if s := m.secrets["full-roost-env"]; s == nil || s.StringData["SECRET_KEY"] != `s3cr%t"with'quotes\and$dollar` {
		t.Errorf("Secret full-roost-env %+v: want the roost env values byte for byte", s)
	}
	if len(m.ingresses) != 1 || len(m.ingresses[0].Spec.Rules) != 2 || m.ingresses[0].Spec.Rules[1].Host != "www.shop.example.test" {
		t.Errorf("ingresses %+v", m.ingresses)
	}
	zones := map[string]string{}
	for _, cj := range m.cronjobs {
		z := ""
		if cj.Spec.TimeZone != nil {
			z = *cj.Spec.TimeZone
		}
		zones[cj.Name] = cj.Spec.Schedule + " " + z
	}
	for name, want := range map[string]string{"report": "30 8 1,15 * mon-fri Europe/Paris", "hourly-sync": "0 */2 * * * Europe/Paris", "weekly": "@weekly Europe/Paris"} {
		if zones[name] != want {
			t.Errorf("CronJob %s: %q, want %q", name, zones[name], want)
		}
	}
	if _, ok := zones["warmup"]; ok {
		t.Error("@reboot exported as a CronJob")
	}
}

func yamlUnmarshalStrict(b []byte, v any) error { return yaml.UnmarshalStrict(b, v) }
