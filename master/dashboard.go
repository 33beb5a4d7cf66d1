package master

import (
	"context"
	"net"
	"net/http"
	"path/filepath"

	"roost/audit"
	"roost/dashboard"
	"roost/supervisor/api"
)

// dashboardPrefix is where root finds each user's dashboard on the admin
// socket: /admin/v1/users/NAME/ui/ serves NAME's /ui/.
const dashboardPrefix = adminPrefix + "/users/{name}/ui/"

// dashboardProxy forwards /admin/v1/users/NAME/ui/… to /ui/… on NAME's
// control socket, whose server must run as NAME's uid. The master only
// relays bytes: the page is the user's supervisor's, and the requests are
// root's (the admin socket lets only root in; the user's lets root in).
func (m *Master) dashboardProxy() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		m.mu.Lock()
		s, ok := m.slots[name]
		m.mu.Unlock()
		if !ok {
			http.Error(w, "no such user in roost.toml: "+name, http.StatusNotFound)
			return
		}
		uid := s.status.Load().UID
		path := filepath.Join(m.usersDir, name, SocketName)
		dial := func(ctx context.Context) (net.Conn, error) { return api.DialSocket(ctx, path, []int{uid}) }
		// The user's audit log says root acted through the master.
		r = r.Clone(r.Context())
		r.Header.Set(audit.HeaderFrontEnd, audit.FrontAdmin)
		dashboard.Proxy(dial, adminPrefix+"/users/"+name+"/ui/", dashboard.Prefix).ServeHTTP(w, r)
	})
}

// DashboardPath is where user name's dashboard is on the admin socket.
func DashboardPath(name string) string { return adminPrefix + "/users/" + name + "/ui/" }
