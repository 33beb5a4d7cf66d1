package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Nginx returns the nginx binary, requiring it (Debian installs it in
// /usr/sbin, often not on a normal user's PATH).
func Nginx(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return RequireBinary(t, "nginx")
}

// NginxMain writes dir/nginx.conf, a main configuration for a test's own
// nginx that keeps every path nginx writes (pid, logs, temp files) inside
// dir, and returns its path. main goes into the main context and http at
// the end of the http block. Each request is logged to dir/access.log as
// "MSEC pid=PID STATUS host=HOST server=SERVER_NAME upstream=ADDR "REQUEST"",
// so a test can tell which worker and which server answered.
func NginxMain(t testing.TB, dir, main, http string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`# a test's own nginx
%[2]s
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 512; }
http {
    log_format roost_test '$msec pid=$pid $status host=$host server=$server_name upstream=$upstream_addr "$request"';
    access_log %[1]s/access.log roost_test;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    default_type text/plain;
%[3]s
}
`, dir, main, http)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
