// Package master is roost's only root code: `roost master` starts, for
// every user roost.toml names, that user's own supervisor (`roost run
// --managed`) and keeps it alive.
//
// What it does as root, and only that:
//
//   - reads roost.toml (root-owned, not writable by others) and the user
//     database; refuses root, uids below min_uid, members of group 0;
//   - keeps each user's port block in state_dir/ports.json, written
//     atomically, stable across restarts and edits;
//   - makes {run_dir}/users/{user} (0700, the user's) with openat and
//     O_NOFOLLOW under a run_dir it checked is root's all the way up;
//   - starts the user supervisor with the user's uid, primary gid and
//     supplementary groups, in its own session, stdin /dev/null, stdout and
//     stderr into a bounded in-memory buffer, the home as working directory,
//     an allow-listed environment (HOME USER LOGNAME SHELL PATH LANG PORT
//     ROOST_PORT_BASE ROOST_PORT_COUNT) and no other descriptor;
//   - restarts it with backoff when it exits (at once, then 1 s, 2 s, …
//     up to 60 s; forgotten after 10 s up), after killing whatever it left:
//     the master is a child subreaper, so a dead supervisor's programs are
//     reparented to it and found among its descendants by uid;
//   - re-reads roost.toml on SIGHUP or when it changes: new users start,
//     removed users stop, a user whose settings changed restarts alone, an
//     invalid file changes nothing;
//   - with [proxy] enabled, follows each running supervisor's routes over
//     its socket, checks who listens on their ports (/proc/net/tcp{,6}),
//     renders one nginx configuration for everyone, installs it beside
//     nginx's configuration, tests it with nginx -t, rolls it back exactly
//     on failure (leaving out the routes of the user to blame) and reloads
//     nginx (router.go, nginxfile.go);
//   - serves the admin socket {run_dir}/master.sock to root only;
//   - on shutdown stops every supervisor (each stops its programs), then
//     kills anything left.
//
// The master never opens, stats or follows anything in a user's home: the
// project, its supervisord.conf, the log directory are strings handed to
// the user's supervisor, which reads them as the user. What a supervisor
// says back (its output, its socket's answers) is untrusted: bounded,
// sanitized, only counted.
package master
