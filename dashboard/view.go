package dashboard

import (
	"fmt"
	"html/template"
	"time"

	"roost/supervisor/api"
)

// funcs format the figures of the first render the way app.js formats
// the live ones.
var funcs = template.FuncMap{
	"uptime": uptime,
	"bytes":  humanBytes,
	"cpu": func(u *api.Usage) string {
		if u == nil {
			return "-"
		}
		return fmt.Sprintf("%.1fs", u.CPUSeconds)
	},
	"mem": func(u *api.Usage) string {
		if u == nil {
			return "-"
		}
		return humanBytes(u.MemoryRSS)
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format("2006-01-02 15:04:05")
	},
	"exit": exitText,
}

// uptime is a running process's time since its start, h:mm:ss.
func uptime(p api.ProcessInfo, now int64) string {
	if !p.State.IsRunning() || p.Start == 0 || p.PID == 0 {
		return "-"
	}
	s := max(now-p.Start, 0)
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}

// humanBytes is n in B, K, M or G (powers of 1024), one decimal.
func humanBytes(n int64) string {
	units := []string{"B", "K", "M", "G", "T"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d%s", n, units[0])
	}
	return fmt.Sprintf("%.1f%s", f, units[i])
}

// exitText is a process's last exit status, or its spawn error.
func exitText(p api.ProcessInfo) string {
	switch {
	case p.SpawnErr != "":
		return p.SpawnErr
	case p.Stop == 0:
		return "-"
	}
	return fmt.Sprint(p.ExitStatus)
}
