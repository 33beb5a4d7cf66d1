// roost dashboard: live table over server-sent events, buttons through
// fetch, a followed log view. Every name and log line is set with
// textContent, never parsed as HTML.
"use strict";
(function () {
  var csrf = document.querySelector('meta[name="roost-csrf"]').content;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function cell(label, text, cls) {
    var td = el("td", text, cls);
    td.setAttribute("data-label", label);
    return td;
  }
  function bytes(n) {
    var u = ["B", "K", "M", "G", "T"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return i === 0 ? n + "B" : n.toFixed(1) + u[i];
  }
  function running(s) { return s === "RUNNING" || s === "STARTING" || s === "BACKOFF"; }
  function uptime(p, now) {
    if (!running(p.statename) || !p.start || !p.pid) return "-";
    var s = Math.max(now - p.start, 0), pad = function (x) { return (x < 10 ? "0" : "") + x; };
    return Math.floor(s / 3600) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
  }
  function exit(p) { return p.spawnerr ? p.spawnerr : (p.stop ? String(p.exitstatus) : "-"); }
  function when(t) { return t ? t.replace("T", " ").replace(/(\.\d+)?(Z|[+-]\d\d:\d\d)?$/, "") : "-"; }
  function namespec(p) { return p.group === p.name ? p.name : p.group + ":" + p.name; }

  function actions(target) {
    var f = el("form");
    f.method = "post"; f.action = "action";
    [["csrf", csrf], ["target", target]].forEach(function (kv) {
      var i = el("input"); i.type = "hidden"; i.name = kv[0]; i.value = kv[1]; f.appendChild(i);
    });
    ["start", "stop", "restart"].forEach(function (a) {
      var b = el("button", a); b.name = "action"; b.value = a; f.appendChild(b);
    });
    return f;
  }
  function logButton(name) {
    var b = el("button", "log", "log"); b.type = "button"; b.setAttribute("data-name", name);
    return b;
  }

  // setRow makes tr show p, changing only the cells whose text changed,
  // so that a button under the pointer is never replaced by an update.
  function setRow(tr, p, now) {
    var u = p.usage, ns = namespec(p);
    var cells = [["name", p.name, "name"], ["group", p.group], ["state", p.statename, "state s-" + p.statename],
      ["uptime", uptime(p, now)], ["pid", p.pid ? p.pid : "-", "pid"], ["exit", exit(p)],
      ["cpu", u ? u.cpu_seconds.toFixed(1) + "s" : "-"], ["mem", u ? bytes(u.memory_rss) : "-"],
      ["peak", u ? bytes(u.memory_peak) : "-"]];
    if (tr.cells.length !== cells.length + 1) {
      tr.textContent = "";
      cells.forEach(function (c) { tr.appendChild(cell(c[0], "", c[2])); });
      var td = el("td", undefined, "act");
      td.appendChild(actions(ns)); td.appendChild(logButton(ns));
      tr.appendChild(td);
    }
    cells.forEach(function (c, i) {
      var td = tr.cells[i], text = String(c[1]);
      if (td.textContent !== text) td.textContent = text;
      if (c[2] && td.className !== c[2]) td.className = c[2];
    });
  }

  // Uptimes tick in the page between snapshots (no request is made).
  var last = null, lastAt = 0;
  setInterval(function () {
    if (!last || document.hidden) return;
    var now = last.now + Math.floor((Date.now() - lastAt) / 1000);
    last.processes.forEach(function (p) {
      var tr = document.querySelector('tr[data-name="' + CSS.escape(namespec(p)) + '"]');
      if (tr && tr.cells[3] && tr.cells[3].textContent !== uptime(p, now)) tr.cells[3].textContent = uptime(p, now);
    });
  }, 1000);

  function render(s) {
    last = s; lastAt = Date.now();
    $("ident").textContent = s.supervisor;
    var tb = $("procs").tBodies[0], old = {}, seen = {};
    Array.prototype.forEach.call(tb.rows, function (tr) { old[tr.getAttribute("data-name")] = tr; });
    s.processes.forEach(function (p, i) {
      var ns = namespec(p), tr = old[ns];
      seen[ns] = true;
      if (!tr) { tr = el("tr"); tr.setAttribute("data-name", ns); }
      setRow(tr, p, s.now);
      if (tb.rows[i] !== tr) tb.insertBefore(tr, tb.rows[i] || null);
    });
    Object.keys(old).forEach(function (ns) { if (!seen[ns]) tb.removeChild(old[ns]); });

    var gs = $("groups"), glist = (s.groups || []).join("\n");
    if (gs.getAttribute("data-groups") !== glist) {
      gs.setAttribute("data-groups", glist);
      gs.textContent = "";
      (s.groups || []).forEach(function (g) {
      var f = actions(g + ":*");
      f.className = "act group";
      f.insertBefore(el("span", g, "gname"), f.querySelector("button"));
      gs.appendChild(f);
      });
    }

    var ct = el("tbody");
    ((s.cron && s.cron.jobs) || []).forEach(function (j) {
      var tr = el("tr");
      tr.appendChild(cell("job", j.name));
      tr.appendChild(cell("schedule", j.schedule));
      tr.appendChild(cell("next", when(j.next)));
      tr.appendChild(cell("last run", when(j.last_start)));
      tr.appendChild(cell("exit", j.running ? "running" : (j.last_end ? j.last_exit_status : "-")));
      tr.appendChild(cell("runs", j.runs));
      ct.appendChild(tr);
    });
    var oc = $("crontab").tBodies[0];
    oc.parentNode.replaceChild(ct, oc);
  }

  document.querySelectorAll("button.log").forEach(function (b) { b.hidden = false; });

  var live = $("live");
  function connect() {
    var es = new EventSource("events");
    es.onopen = function () { live.textContent = "live"; };
    es.onmessage = function (e) { render(JSON.parse(e.data)); };
    es.onerror = function () { live.textContent = "reconnecting…"; };
  }
  connect();

  // Buttons post with the page's token; the table follows the events.
  document.addEventListener("submit", function (e) {
    var f = e.target, b = e.submitter;
    if (!f.matches("form.act, td.act form")) return;
    e.preventDefault();
    var body = new URLSearchParams(new FormData(f));
    if (b && b.name) body.set(b.name, b.value);
    var what = body.get("action") + " " + body.get("target");
    $("msg").textContent = what + "…";
    fetch("action", { method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Roost-CSRF": csrf } })
      .then(function (r) { return r.json().catch(function () { return { error: r.status + " " + r.statusText }; }); })
      .then(function (j) {
        var bad = (j.results || []).filter(function (x) { return x.status !== 80; });
        $("msg").textContent = j.error ? what + ": " + j.error :
          what + ": " + (bad.length ? bad.map(function (x) { return x.name + ": " + x.description; }).join("; ") : "ok");
      })
      .catch(function (err) { $("msg").textContent = what + ": " + err; });
  });

  // The log view: the last lines, then each new one while follow is on.
  var logES = null, logName = "";
  function closeLog() { if (logES) { logES.close(); logES = null; } }
  function openLog() {
    closeLog();
    var pre = $("log"), max = parseInt($("loglines").value, 10);
    pre.textContent = "";
    $("logname").textContent = logName + " " + $("logstream").value;
    var q = "log?name=" + encodeURIComponent(logName) + "&stream=" + encodeURIComponent($("logstream").value) + "&lines=" + max;
    logES = new EventSource(q);
    logES.onmessage = function (e) {
      e.data.split("\n").forEach(function (line) { pre.appendChild(document.createTextNode(line + "\n")); });
      while (pre.childNodes.length > max) pre.removeChild(pre.firstChild);
      if ($("follow").checked) pre.scrollTop = pre.scrollHeight;
    };
    logES.addEventListener("failure", function (e) {
      pre.appendChild(document.createTextNode("[" + e.data + "]\n"));
    });
    // A stream that ends is not reopened (it would repeat the tail).
    logES.onerror = function () {
      closeLog();
      pre.appendChild(document.createTextNode("[log stream ended: choose the log again to follow it]\n"));
    };
  }
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button.log");
    if (!b) return;
    logName = b.getAttribute("data-name");
    $("logview").hidden = false;
    $("follow").checked = true;
    openLog();
    $("logview").scrollIntoView();
  });
  $("logstream").onchange = openLog;
  $("loglines").onchange = openLog;
  $("follow").onchange = function () { if (this.checked) openLog(); else closeLog(); };
  $("logclose").onclick = function () { closeLog(); $("logview").hidden = true; };
})();
