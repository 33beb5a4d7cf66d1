package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"roost/internal/testutil"
)

func TestParseMasterTLS(t *testing.T) {
	dir := t.TempDir()
	root, _, _ := testutil.LoopbackCA(t, dir)
	src := `[proxy]
enabled = true
[tls]
acme = true
email = "admin@example.com"
listen = ["127.0.0.1:8443", "[::1]:8443"]
directory = "https://127.0.0.1:14000/dir"
ca_roots = ["` + root + `"]
redirect_http = true
skip_hosts = ["Static.Example.COM."]
[user.bob]
tls = false
`
	m, err := ParseMaster("roost.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := MasterTLS{ACME: true, Email: "admin@example.com", Listen: []string{"127.0.0.1:8443", "[::1]:8443"},
		Directory: "https://127.0.0.1:14000/dir", CARoots: []string{root}, RedirectHTTP: true,
		SkipHosts: []string{"static.example.com"}}
	if d := cmp.Diff(want, m.TLS); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if !m.TLSFor("alice") || m.TLSFor("bob") {
		t.Errorf("TLSFor: alice %v (want true), bob %v (want false)", m.TLSFor("alice"), m.TLSFor("bob"))
	}
}

func TestParseMasterTLSErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ src, want string }{
		{"[tls]\nacme = true\n", `roost.toml:2: [tls] acme: certificates are for the routed hosts: turn on [proxy] enabled = true`},
		{"[proxy]\nenabled = true\n[tls]\nlisten = \"443; include /etc/passwd\"\n", `roost.toml:4: [tls] listen: "443; include /etc/passwd" is not a listen address`},
		{"[proxy]\nenabled = true\n[tls]\nlisten = \"80\"\n", `roost.toml:4: [tls] listen: "80" is also [proxy] listen`},
		{"[tls]\nemail = \"a@b.c\\nx\"\n", `roost.toml:2: [tls] email: "a@b.c\nx" is not a plain e-mail address`},
		{"[tls]\nemail = \"Admin <a@b.c>\"\n", `roost.toml:2: [tls] email: "Admin <a@b.c>" is not a plain e-mail address`},
		{"[tls]\ndirectory = \"http://acme.test/dir\"\n", `roost.toml:2: [tls] directory: "http://acme.test/dir" is not an https:// URL`},
		{"[tls]\nca_roots = [\"relative.pem\"]\n", `roost.toml:2: [tls] ca_roots: "relative.pem" is not an absolute path`},
		{"[tls]\nca_roots = [\"" + notPEM + "\"]\n", `roost.toml:2: [tls] ca_roots: read ` + notPEM + `: no PEM certificate`},
		{"[tls]\nca_roots = [\"" + dir + "/missing.pem\"]\n", `roost.toml:2: [tls] ca_roots: `},
		{"[tls]\nskip_hosts = [\"*.example.com\"]\n", `roost.toml:2: [tls] skip_hosts: "*.example.com" is not a host name`},
		{"[tls]\nacmee = true\n", `roost.toml:2: [tls] acmee: unknown key (did you mean acme?)`},
		{"[user.bob]\ntls = \"no\"\n", `roost.toml:2`},
	} {
		_, err := ParseMaster("roost.toml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s", c.src, err, c.want)
		}
	}
}
