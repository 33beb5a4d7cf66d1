#!/usr/bin/python3
"""Regenerate the golden results of roost's config tests from the real parser.

For every case directory under config/testdata/golden/, this loads
supervisord.conf with the installed supervisor package (Debian's
python3-supervisor 4.2.5: run it with /usr/bin/python3, which can import it)
exactly as `supervisord -c supervisord.conf` would, and writes what it
resolved to expected.json next to the config:

  - the [supervisord] settings, the process groups in supervisord's order and
    every process config (command, argv as shlex.split gives it, logs,
    environment, ...), the unix/inet server sections and the rpcinterfaces;
  - the [supervisorctl] settings, as supervisorctl reads them;
  - or, when supervisord refuses the file, {"error": "<its ValueError text>"}.

The environment and host name are fixed (testdata/golden/env.json, host
"roost-test-host"), the working directory is the case directory, and the
case directory's absolute path is written as "@CASE" so the goldens do not
depend on where the repository lives.

One documented transformation, mirrored by the Go test: supervisord keeps
relative log and directory paths relative and opens them against its working
directory; roost resolves them at load time against that same directory, so
the goldens store them resolved (normpath(join(cwd, path))).

Usage: /usr/bin/python3 config/testdata/goldens.py   (or: go generate ./config/)
"""

import json
import os
import platform
import pwd
import grp
import shlex
import socket
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "golden")
HOST = "roost-test-host"

# Import after fixing nothing: the package reads os.environ per ServerOptions.
from supervisor import options as supopts  # noqa: E402
from supervisor.datatypes import Automatic, RestartUnconditionally, RestartWhenExitUnexpected  # noqa: E402
from supervisor.loggers import LevelsByDescription  # noqa: E402
from supervisor.options import (  # noqa: E402
    ClientOptions,
    EventListenerPoolConfig,
    FastCGIGroupConfig,
    ServerOptions,
)

platform.node = lambda: HOST

# Tag each process config with the program section it came from.
_orig_pfs = ServerOptions.processes_from_section


def _tagged(self, parser, section, group_name, klass=None):
    procs = _orig_pfs(self, parser, section, group_name, klass)
    for p in procs:
        p._program = section.split(":", 1)[1].strip()
    return procs


ServerOptions.processes_from_section = _tagged


def _raise_usage(msg):
    raise ValueError(msg)


def level_name(num):
    for k, v in vars(LevelsByDescription).items():
        if not k.startswith("_") and v == num:
            return k
    return str(num)


def resolved(path):
    if path is None:
        return None
    return os.path.normpath(os.path.join(os.getcwd(), path))


def user_name(uid):
    if uid is None:
        return None
    return pwd.getpwuid(uid).pw_name


def env_pairs(d):
    return [[k, v] for k, v in (d or {}).items()]


def log(pc, stream):
    f = getattr(pc, stream + "_logfile")
    out = {
        "file": None,
        "auto": f is Automatic,
        "maxbytes": getattr(pc, stream + "_logfile_maxbytes"),
        "backups": getattr(pc, stream + "_logfile_backups"),
        "capture_maxbytes": getattr(pc, stream + "_capture_maxbytes"),
        "events_enabled": bool(getattr(pc, stream + "_events_enabled")),
        "syslog": bool(getattr(pc, stream + "_syslog")),
    }
    if isinstance(f, str):
        out["file"] = resolved(f)
    return out


def process(pc):
    try:
        argv = shlex.split(pc.command)
    except ValueError as e:
        argv = {"error": str(e)}
    ar = pc.autorestart
    return {
        "name": pc.name,
        "program": getattr(pc, "_program", None),
        "command": pc.command,
        "argv": argv,
        "directory": resolved(pc.directory),
        "umask": pc.umask,
        "priority": pc.priority,
        "autostart": bool(pc.autostart),
        "autorestart": "true" if ar is RestartUnconditionally else "unexpected" if ar is RestartWhenExitUnexpected else "false",
        "startsecs": pc.startsecs,
        "startretries": pc.startretries,
        "stopsignal": int(pc.stopsignal),
        "stopwaitsecs": pc.stopwaitsecs,
        "stopasgroup": bool(pc.stopasgroup),
        "killasgroup": bool(pc.killasgroup),
        "exitcodes": list(pc.exitcodes),
        "user": user_name(pc.uid),
        "redirect_stderr": bool(pc.redirect_stderr),
        "stdout": log(pc, "stdout"),
        "stderr": log(pc, "stderr"),
        "environment": env_pairs(pc.environment),
        "serverurl": pc.serverurl,
    }


def group(g):
    kind = "program"
    if isinstance(g, EventListenerPoolConfig):
        kind = "eventlistener"
    elif isinstance(g, FastCGIGroupConfig):
        kind = "fcgi-program"
    out = {
        "name": g.name,
        "priority": g.priority,
        "kind": kind,
        # supervisord's ProcessGroup runs its processes sorted by priority, then name.
        "processes": [process(p) for p in sorted(g.process_configs)],
    }
    if kind == "eventlistener":
        rh = g.result_handler
        out["listener"] = {
            "buffer_size": g.buffer_size,
            "events": sorted(_event_name(e) for e in g.pool_events),
            "result_handler": "%s:%s" % (rh.__module__, rh.__name__),
        }
    if kind == "fcgi-program":
        sc = g.socket_config
        out["fcgi"] = {"url": sc.url, "backlog": sc.backlog or 0}
    return out


def _event_name(cls):
    from supervisor.events import EventTypes
    for k, v in vars(EventTypes).items():
        if v is cls:
            return k
    return cls.__name__


def server_dump(cfgs):
    unix = inet = None
    for c in cfgs:
        if c["family"] == socket.AF_UNIX and unix is None:
            uid, gid = c["chown"]
            unix = {
                "file": c["file"],
                "chmod": c["chmod"],
                "chown": [None if uid == -1 else user_name(uid), None if gid == -1 else grp.getgrgid(gid).gr_name],
                "username": c["username"],
                "password": c["password"],
            }
        elif c["family"] == socket.AF_INET and inet is None:
            inet = {"host": c["host"], "port": c["port"], "username": c["username"], "password": c["password"]}
    return unix, inet


def run_supervisord():
    opts = ServerOptions()
    opts.usage = _raise_usage
    try:
        opts.realize(args=["-c", "supervisord.conf"])
    except ValueError as e:
        return {"error": str(e)}
    sec = opts.configroot.supervisord
    unix, inet = server_dump(opts.server_configs)
    return {
        "supervisord": {
            "logfile": opts.logfile,
            "logfile_maxbytes": opts.logfile_maxbytes,
            "logfile_backups": opts.logfile_backups,
            "loglevel": level_name(opts.loglevel),
            "pidfile": opts.pidfile,
            "umask": opts.umask,
            "nodaemon": bool(opts.nodaemon),
            "silent": bool(opts.silent),
            "minfds": opts.minfds,
            "minprocs": opts.minprocs,
            "nocleanup": bool(opts.nocleanup),
            "childlogdir": resolved(opts.childlogdir),
            "user": opts.user,
            "directory": resolved(opts.directory),
            "strip_ansi": bool(opts.strip_ansi),
            "environment": env_pairs(sec.environment),
            "identifier": opts.identifier,
        },
        "groups": [group(g) for g in opts.process_group_configs],
        "unix_http_server": unix,
        "inet_http_server": inet,
        "rpcinterfaces": [name for name, _, _ in opts.rpcinterface_factories],
        "warnings": list(opts.parse_warnings),
    }


def run_supervisorctl():
    opts = ClientOptions()
    opts.usage = _raise_usage
    try:
        opts.realize(args=["-c", "supervisord.conf", "status"])
    except ValueError as e:
        if "does not include supervisorctl section" in str(e):
            return None, None
        return None, str(e)
    c = opts.configroot.supervisorctl
    return {
        "serverurl": c.serverurl,
        "username": c.username,
        "password": c.password,
        "prompt": c.prompt,
        "history_file": c.history_file,
    }, None


def main():
    with open(os.path.join(CASES, "env.json")) as f:
        base_env = json.load(f)
    names = sorted(n for n in os.listdir(CASES) if os.path.isdir(os.path.join(CASES, n)))
    if len(sys.argv) > 1:
        names = [n for n in names if n in sys.argv[1:]]
    for name in names:
        case = os.path.join(CASES, name)
        env = dict(base_env)
        side = os.path.join(case, "case.json")
        if os.path.exists(side):
            with open(side) as f:
                env.update(json.load(f).get("env", {}))
        os.chdir(case)
        os.environ.clear()
        os.environ.update(env)
        tempfile.tempdir = None  # gettempdir() re-reads $TMPDIR
        result = run_supervisord()
        if "error" not in result:
            ctl, ctl_err = run_supervisorctl()
            result["supervisorctl"] = ctl
            if ctl_err is not None:
                result["ctl_error"] = ctl_err
        text = json.dumps(result, indent=1, sort_keys=True, ensure_ascii=False)
        text = text.replace(case, "@CASE")
        with open(os.path.join(case, "expected.json"), "w") as f:
            f.write(text + "\n")
        status = "error" if "error" in result else "ok"
        print("%-40s %s" % (name, status))


if __name__ == "__main__":
    main()
