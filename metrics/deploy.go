package metrics

import (
	"os"
	"path/filepath"

	"roost/deploy"
)

// Deploys are read from the release records (deploy/), when the project
// directory is a deploy's symlink to RELEASES/<id>: the supervisor runs as
// the user who deployed, and the master never reads them. The records of
// old releases are removed (beyond 4×keep_releases), so there is no honest
// deploy counter: Prometheus' changes() over the last success time counts
// them.

var (
	descDeployReleases = &metricDesc{typ: gauge, name: "roost_deploy_releases",
		help: "Recorded releases by state: current, previous, ready, failed, pruned.", labels: []string{"state"}}
	descDeployOK = &metricDesc{typ: gauge, name: "roost_deploy_last_success_time_seconds",
		help: "Unix time of the newest release that built (0: none recorded).", labels: nil}
	descDeployFail = &metricDesc{typ: gauge, name: "roost_deploy_last_failure_time_seconds",
		help: "Unix time of the newest release whose build failed (0: none recorded).", labels: nil}
	descDeployBuild = &metricDesc{typ: gauge, name: "roost_deploy_last_build_seconds",
		help: "How long the newest recorded release took to build.", labels: nil}
	deployStates = []string{deploy.StateCurrent, deploy.StatePrevious, deploy.StateReady, deploy.StateFailed, deploy.StatePruned}
)

// SetProject tells the metrics the project directory (~/current), whose
// deploys they report. Call it before the first scrape.
func (s *Supervisor) SetProject(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.project = dir
}

// collectDeploys reports the deploys of the project, if it is a deploy's.
func (s *Supervisor) collectDeploys(e *exposition) {
	s.mu.Lock()
	project := s.project
	s.mu.Unlock()
	if project == "" {
		return
	}
	t, err := os.Readlink(project)
	if err != nil {
		return // not a symlink: not deployed
	}
	if !filepath.IsAbs(t) {
		t = filepath.Join(filepath.Dir(project), t)
	}
	rels, err := deploy.Releases(deploy.Layout{Current: project, Releases: filepath.Dir(filepath.Clean(t))})
	if err != nil || len(rels) == 0 {
		return
	}
	byState := map[string]float64{}
	var ok, fail float64
	for _, r := range rels { // oldest first
		byState[r.State]++
		at := float64(r.Time.UnixNano()) / 1e9
		if r.State == deploy.StateFailed {
			fail = at
		} else {
			ok = at
		}
	}
	for _, st := range deployStates {
		e.add(descDeployReleases, byState[st], st)
	}
	e.add(descDeployOK, ok)
	e.add(descDeployFail, fail)
	e.add(descDeployBuild, rels[len(rels)-1].BuildSeconds)
}
