/* Trellis admin: live parts of server-rendered pages, in plain JavaScript (no build step).
 *
 * 1. [data-trellis-refresh]: re-fetch the element's HTML from data-url every data-interval ms
 *    (the dashboard panel on the admin index).
 * 2. [data-trellis-state-url]: poll the execution's state every second; when its stamp moves,
 *    fetch the page again and swap every [data-trellis-live] element (Gantt, topology, tables).
 * 2b. [data-trellis-elapsed]: a running duration (seconds when the server rendered it) that
 *    ticks every second in the page; while the execution runs the live panels are also
 *    fetched again every few seconds, so the Gantt's running bars grow between state changes.
 * 3. #trellis-logs: the log viewer. Opens at the last page, appends new lines every second
 *    while the execution runs, loads older pages on demand, and never keeps more than
 *    MAX_LINES lines in the DOM, so a 100,000-line log stays responsive.
 */
(function () {
  "use strict";
  var MAX_LINES = 2000;

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }

  /* 1. periodic HTML refresh --------------------------------------------------------- */
  document.querySelectorAll("[data-trellis-refresh]").forEach(function (el) {
    var every = parseInt(el.getAttribute("data-interval") || "5000", 10);
    setInterval(function () {
      if (document.hidden) { return; }
      fetch(el.getAttribute("data-url"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { el.innerHTML = html; } })
        .catch(function () { /* try again next time */ });
    }, every);
  });

  /* 2. live panels of the execution page ---------------------------------------------- */
  var page = document.querySelector("[data-trellis-state-url]");
  if (page) {
    var stamp = page.getAttribute("data-stamp");
    var stopped = page.getAttribute("data-terminal") === "true";
    var swap = function () {
      return fetch(window.location.pathname, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-trellis-live]").forEach(function (el) {
            var other = fresh.getElementById(el.id);
            if (other && !el.contains(document.activeElement)) { el.innerHTML = other.innerHTML; }
          });
          armElapsed();
          localizeTimes();
          zoomTopologies();
        });
    };
    // The stamp moves on only once the panels were swapped, and polling stops only then:
    // a swap that failed (a busy server) is tried again at the next tick, even at the end.
    var lastSwap = Date.now();
    var tick = function () {
      if (stopped) { return; }
      getJSON(page.getAttribute("data-trellis-state-url")).then(function (s) {
        if (s.stamp === stamp) {
          stopped = s.terminal;
          if (stopped || Date.now() - lastSwap < 3000) { return null; }
          return swap().then(function () { lastSwap = Date.now(); });
        }
        return swap().then(function () { stamp = s.stamp; stopped = s.terminal; lastSwap = Date.now(); });
      }).catch(function () {}).then(function () { if (!stopped) { setTimeout(tick, 1000); } });
    };
    if (!stopped) { setTimeout(tick, 1000); }
  }

  /* 0. one date format: <time class="trellis-time"> in the browser's time zone ------------ */
  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function localStamp(date, millis) {
    var offset = -date.getTimezoneOffset();
    var zone = offset === 0 ? "UTC" : (offset > 0 ? "+" : "-") + pad2(Math.floor(Math.abs(offset) / 60)) +
      ":" + pad2(Math.abs(offset) % 60);
    var ms = millis ? "." + String(date.getMilliseconds() + 1000).slice(1) : "";
    return date.getFullYear() + "-" + pad2(date.getMonth() + 1) + "-" + pad2(date.getDate()) + " " +
      pad2(date.getHours()) + ":" + pad2(date.getMinutes()) + ":" + pad2(date.getSeconds()) + ms +
      (millis ? "" : "\u00a0" + zone);  // the date and the time may wrap apart, not the zone
  }
  function localizeTimes() {
    document.querySelectorAll("time.trellis-time:not([data-local])").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) { return; }
      el.setAttribute("data-local", "1");
      el.title = el.getAttribute("datetime");
      el.textContent = localStamp(date, false);
    });
  }
  localizeTimes();
  // As admin Media (changelists) the script runs in <head>, before the page's elements.
  document.addEventListener("DOMContentLoaded", function () { localizeTimes(); armElapsed(); });

  /* 0b. topology: fit to its panel, with zoom --------------------------------------------- */
  // The SVG is drawn at its natural size; by default it shrinks to its panel's width
  // (admin.css), and −/+/fit buttons scale it. The zoom survives the live swaps.
  var zooms = {};
  function zoomTopologies() {
    document.querySelectorAll(".trellis-scroll").forEach(function (scroll) {
      var svg = scroll.querySelector("svg.trellis-topology");
      if (!svg) { return; }
      var key = (scroll.closest("[id]") || { id: "" }).id;
      var natural = parseFloat(svg.getAttribute("width"));
      var apply = function () {
        var z = zooms[key];
        svg.style.maxWidth = z ? "none" : "100%";
        svg.style.width = z ? (natural * z) + "px" : "";
        svg.style.height = "auto";
      };
      apply();
      if (scroll.previousElementSibling && scroll.previousElementSibling.classList.contains("trellis-zoom")) { return; }
      var bar = document.createElement("div");
      bar.className = "trellis-zoom";
      [["−", "zoom out", 0.8], ["fit", "fit to the panel", 0], ["+", "zoom in", 1.25]].forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "button";
        button.textContent = b[0];
        button.title = b[1];
        button.addEventListener("click", function () {
          if (!b[2]) { delete zooms[key]; } else {
            var shown = svg.getBoundingClientRect().width / natural;
            zooms[key] = Math.min(Math.max((zooms[key] || shown) * b[2], 0.2), 4);
          }
          apply();
        });
        bar.appendChild(button);
      });
      scroll.parentNode.insertBefore(bar, scroll);
    });
  }
  zoomTopologies();
  document.addEventListener("DOMContentLoaded", zoomTopologies);
  window.trellisZoomTopologies = zoomTopologies;  // the flow editor's live topology too

  /* 2b. ticking durations --------------------------------------------------------------- */
  // The same format as executions.admin_common.format_duration.
  function formatDuration(seconds) {
    if (seconds < 1) { return Math.round(seconds * 1000) + "ms"; }
    if (seconds < 60) { return seconds.toFixed(2) + "s"; }
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var minutes = Math.floor(seconds / 60), secs = Math.floor(seconds % 60);
    if (minutes < 60) { return minutes + "m " + pad(secs) + "s"; }
    var hours = Math.floor(minutes / 60);
    if (hours < 48) { return hours + "h " + pad(minutes % 60) + "m"; }
    return Math.floor(hours / 24) + "d " + pad(hours % 24) + "h";
  }
  // Each running duration counts from the moment it arrived in the page (armElapsed runs at
  // load and right after every swap), so a swap never makes it lag.
  function armElapsed() {
    var now = Date.now();
    document.querySelectorAll("[data-trellis-elapsed]").forEach(function (el) {
      if (!el.trellisSince) { el.trellisSince = now - 1000 * parseFloat(el.getAttribute("data-trellis-elapsed")); }
    });
  }
  armElapsed();
  setInterval(function () {
    localizeTimes();  // panels swapped in since the last second
    armElapsed();
    var now = Date.now();
    document.querySelectorAll("[data-trellis-elapsed]").forEach(function (el) {
      el.textContent = formatDuration((now - el.trellisSince) / 1000);
    });
  }, 1000);

  /* 3. the log viewer ------------------------------------------------------------------ */
  var box = document.getElementById("trellis-logs");
  if (!box) { return; }
  var url = box.getAttribute("data-url");
  var levelSelect = document.getElementById("trellis-log-level");
  var olderButton = document.getElementById("trellis-log-older");
  var latestButton = document.getElementById("trellis-log-latest");
  var status = document.getElementById("trellis-log-status");
  var firstId = null, lastId = null, mode = "tail", done = false, generation = 0, timer = null;

  function lineNode(l) {
    var row = document.createElement("div");
    row.className = "line";
    row.id = "log-" + l.id;
    row.setAttribute("data-id", l.id);
    var parts = [["ts", localStamp(new Date(l.ts), true)], ["lvl lvl-" + l.level, l.level],
                 ["task", l.task || ""], ["msg", l.message]];
    parts.forEach(function (p) {
      var span = document.createElement("span");
      span.className = p[0];
      span.textContent = p[1];
      row.appendChild(span);
    });
    return row;
  }

  function query(extra) {
    var q = "?level=" + encodeURIComponent(levelSelect ? levelSelect.value : "");
    return url + q + (extra || "");
  }

  function setStatus() {
    var count = box.querySelectorAll(".line").length;
    status.textContent = (done ? "ended · " : "") + count + " line" + (count === 1 ? "" : "s") +
      " shown" + (mode === "history" ? " (older page: live tail paused)" : "");
    status.className = "trellis-live" + (done || mode === "history" ? "" : " on");
  }

  function trim(fromTop) {
    var lines = box.querySelectorAll(".line");
    var extra = lines.length - MAX_LINES;
    for (var i = 0; i < extra; i++) {
      lines[fromTop ? i : lines.length - 1 - i].remove();
    }
    if (extra > 0) {
      var kept = box.querySelectorAll(".line");
      if (fromTop) { firstId = parseInt(kept[0].getAttribute("data-id"), 10); olderButton.hidden = false; }
      else { lastId = parseInt(kept[kept.length - 1].getAttribute("data-id"), 10); }
    }
  }

  function append(lines) {
    var atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
    var frag = document.createDocumentFragment();
    lines.forEach(function (l) { frag.appendChild(lineNode(l)); });
    if (lines.length) { box.querySelectorAll(".notice").forEach(function (n) { n.remove(); }); }
    box.appendChild(frag);
    if (lines.length) {
      lastId = lines[lines.length - 1].id;
      if (firstId === null) { firstId = lines[0].id; }
    }
    trim(true);
    if (atBottom) { box.scrollTop = box.scrollHeight; }
  }

  function poll(gen) {
    if (gen !== generation || mode !== "tail") { return; }
    getJSON(query("&after=" + (lastId || 0))).then(function (data) {
      if (gen !== generation) { return; }
      append(data.lines);
      done = data.done;
      setStatus();
      if (!done) { timer = setTimeout(function () { poll(gen); }, data.moreAfter ? 0 : 1000); }
    }).catch(function () { timer = setTimeout(function () { poll(gen); }, 2000); });
  }

  function start() {
    generation += 1;
    clearTimeout(timer);
    var gen = generation;
    mode = "tail";
    firstId = lastId = null;
    box.textContent = "";
    latestButton.hidden = true;
    getJSON(query()).then(function (data) {
      if (gen !== generation) { return; }
      append(data.lines);
      if (!data.lines.length) {
        var empty = document.createElement("div");
        empty.className = "notice";
        empty.textContent = "No log line yet.";
        box.appendChild(empty);
      }
      olderButton.hidden = !data.moreBefore;
      box.scrollTop = box.scrollHeight;
      done = data.done;
      setStatus();
      if (!done) { timer = setTimeout(function () { poll(gen); }, 1000); }
    });
  }

  olderButton.addEventListener("click", function () {
    if (firstId === null) { return; }
    mode = "history";
    latestButton.hidden = false;
    var gen = generation;
    getJSON(query("&before=" + firstId)).then(function (data) {
      if (gen !== generation) { return; }
      var height = box.scrollHeight;
      var frag = document.createDocumentFragment();
      data.lines.forEach(function (l) { frag.appendChild(lineNode(l)); });
      box.insertBefore(frag, box.firstChild);
      if (data.lines.length) { firstId = data.lines[0].id; }
      box.scrollTop += box.scrollHeight - height;
      trim(false);
      olderButton.hidden = !data.moreBefore;
      setStatus();
    });
  });
  // A link to one line (#log-ID, from the error summary): the page of lines ending with it,
  // the line highlighted; the live tail resumes with "Back to latest".
  function showLine(id) {
    generation += 1;
    clearTimeout(timer);
    var gen = generation;
    mode = "history";
    latestButton.hidden = false;
    if (levelSelect) { levelSelect.value = "TRACE"; }
    getJSON(query("&before=" + (id + 1))).then(function (data) {
      if (gen !== generation) { return; }
      box.textContent = "";
      firstId = lastId = null;
      append(data.lines);
      olderButton.hidden = !data.moreBefore;
      setStatus();
      var target = document.getElementById("log-" + id);
      if (target) {
        target.classList.add("target");
        box.scrollTop = target.offsetTop - box.offsetTop - 40;
        document.getElementById("logs").scrollIntoView();
      }
    });
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-log-line]");
    if (!link) { return; }
    event.preventDefault();
    history.replaceState(null, "", "#log-" + link.getAttribute("data-log-line"));
    showLine(parseInt(link.getAttribute("data-log-line"), 10));
  });
  latestButton.addEventListener("click", start);
  if (levelSelect) { levelSelect.addEventListener("change", start); }
  var wanted = /^#log-(\d+)$/.exec(window.location.hash);
  if (wanted) { showLine(parseInt(wanted[1], 10)); } else { start(); }
})();
