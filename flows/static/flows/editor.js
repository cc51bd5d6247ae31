/* Trellis flow editor: CodeMirror 6 over the flow page's source textarea.
 *
 * Progressive enhancement: the textarea stays in the form and is kept in sync with the
 * editor, so the form submits exactly as it does without JavaScript. On top of it:
 *   - YAML highlighting (the vendored bundle, vendor/codemirror/README.md);
 *   - validation as you type through POST /api/v1/flows/validate (never saves): each
 *     problem is underlined at its line and column and listed once under the editor;
 *   - completion of task types, of the properties of the task under the cursor and of their
 *     enumerated values, from the plugins' JSON Schemas (GET /api/v1/plugins);
 *   - a live topology beside the editor, drawn by the server (FlowAdmin.topology_preview);
 *   - Ctrl-S / Cmd-S saves and stays on the page ("Save and continue editing").
 */
(function () {
  "use strict";
  var CM = window.TrellisCodeMirror;
  var root = document.getElementById("trellis-editor");
  var textarea = document.getElementById("id_source");
  if (!CM || !root || !textarea) { return; }

  var validateUrl = root.getAttribute("data-validate-url");
  var pluginsUrl = root.getAttribute("data-plugins-url");
  var topologyUrl = root.getAttribute("data-topology-url");
  var problemsBox = document.getElementById("trellis-editor-problems");
  var topologyBox = document.getElementById("trellis-editor-topology");
  var form = textarea.form;
  // Beside the source field's row (its error list stays visible above the editor).
  var row = textarea.closest(".form-row") || textarea.parentNode;
  row.parentNode.insertBefore(root, row.nextSibling);
  root.hidden = false;

  function csrfToken() {
    var field = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function post(url, body, accept) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "Content-Type": "application/x-yaml", Accept: accept, "X-CSRFToken": csrfToken() }
    });
  }

  /* --- validation ----------------------------------------------------------------------- */
  function offset(doc, line, column) {
    var n = Math.min(Math.max(line || 1, 1), doc.lines);
    var l = doc.line(n);
    return Math.min(l.from + Math.max((column || 1) - 1, 0), l.to);
  }

  function showProblems(items) {
    problemsBox.innerHTML = "";
    problemsBox.className = items.length ? "trellis-editor-problems bad" : "trellis-editor-problems ok";
    if (!items.length) { problemsBox.textContent = "No problems found."; return; }
    items.forEach(function (p) {
      var row = document.createElement("div");
      row.className = "problem " + p.severity;
      row.setAttribute("data-line", p.line);
      row.textContent = "line " + p.line + ", col " + p.column + ": " + p.message +
        (p.path ? " (" + p.path + ")" : "");
      row.addEventListener("click", function () {
        var at = offset(view.state.doc, p.line, p.column);
        view.dispatch({ selection: { anchor: at }, scrollIntoView: true });
        view.focus();
      });
      problemsBox.appendChild(row);
    });
  }

  var lastTopologySource = null;
  function refreshTopology(source) {
    if (!topologyBox || source === lastTopologySource) { return; }
    lastTopologySource = source;
    post(topologyUrl, source, "text/html").then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html !== null && source === lastTopologySource) {
        topologyBox.innerHTML = html;
        if (window.trellisZoomTopologies) { window.trellisZoomTopologies(); }  // admin.js
      }
    }).catch(function () {});
  }

  function validate(view) {
    var source = view.state.doc.toString();
    return post(validateUrl, source, "application/json").then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      var items = [];
      if (res.ok && Array.isArray(res.body)) {
        res.body.forEach(function (doc) {
          (doc.errors || []).forEach(function (e) { items.push(Object.assign({ severity: "error" }, e)); });
          (doc.warnings || []).forEach(function (w) { items.push(Object.assign({ severity: "warning" }, w)); });
        });
        if (res.body.length === 1 && res.body[0].valid) { refreshTopology(source); }
      } else {
        var detail = (res.body && (res.body.detail || res.body.title)) || "the source cannot be checked";
        items.push({ severity: "error", line: 1, column: 1, message: String(detail) });
      }
      showProblems(items);
      var doc = view.state.doc;
      return items.map(function (p) {
        var from = offset(doc, p.line, p.column);
        var to = Math.max(from, doc.lineAt(from).to);
        return { from: from, to: to, severity: p.severity, message: p.message };
      });
    }).catch(function () { return []; });
  }

  /* --- completion ----------------------------------------------------------------------- */
  var FLOW_KEYS = ["id", "namespace", "description", "labels", "inputs", "variables", "tasks",
    "errors", "finally", "afterExecution", "triggers", "outputs", "concurrency", "retry",
    "disabled", "pluginDefaults", "taskDefaults"];
  var plugins = null;  // type name (and alias) -> plugin JSON
  var pluginsLoading = null;

  function loadPlugins() {
    if (plugins) { return Promise.resolve(plugins); }
    if (!pluginsLoading) {
      pluginsLoading = fetch(pluginsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (list) {
          var rows = Array.isArray(list) ? list : (list.results || []);
          plugins = { list: rows, byName: {} };
          rows.forEach(function (p) {
            plugins.byName[p.type] = p;
            (p.aliases || []).forEach(function (a) { plugins.byName[a] = p; });
          });
          return plugins;
        })
        .catch(function () { pluginsLoading = null; return { list: [], byName: {} }; });
    }
    return pluginsLoading;
  }

  // The column where a line's key starts: after its indentation and an optional "- ".
  function keyColumn(text) {
    var m = /^(\s*)(-\s+)?/.exec(text);
    return m[0].length;
  }

  // The keys (and the type) of the YAML map whose keys start at column `col` around `lineNo`.
  function mapAround(doc, lineNo, col) {
    var keys = {}, type = null;
    function look(n) {
      var text = doc.line(n).text;
      if (!text.trim() || /^\s*#/.test(text)) { return "skip"; }
      var indent = /^\s*/.exec(text)[0].length;
      var kc = keyColumn(text);
      if (kc === col) {
        var m = /^\s*(?:-\s+)?([A-Za-z_][\w-]*)\s*:\s*(.*)$/.exec(text);
        if (m) {
          keys[m[1]] = true;
          if (m[1] === "type") { type = m[2].replace(/["']/g, "").trim(); }
        }
        return text.charAt(indent) === "-" ? "item" : "same";
      }
      return indent < col ? "stop" : "skip";
    }
    for (var up = lineNo - 1; up >= 1; up--) {
      var r = look(up);
      if (r === "stop" || r === "item") { break; }
    }
    for (var down = lineNo + 1; down <= doc.lines; down++) {
      var r2 = look(down);
      if (r2 === "stop" || r2 === "item") { break; }
    }
    return { keys: keys, type: type };
  }

  function completeFlow(context) {
    var line = context.state.doc.lineAt(context.pos);
    var before = line.text.slice(0, context.pos - line.from);
    var typeMatch = /^(\s*(?:-\s+)?type\s*:\s*)(\S*)$/.exec(before);
    var keyMatch = /^(\s*(?:-\s+)?)([A-Za-z_][\w-]*)?$/.exec(before);
    var valueMatch = /^(\s*(?:-\s+)?)([A-Za-z_][\w-]*)(\s*:\s*)(\w*)$/.exec(before);
    if (!typeMatch && !keyMatch && !valueMatch) { return null; }
    if (valueMatch && !typeMatch) {  // a property's value: its enum, when it has one
      return loadPlugins().then(function (p) {
        var around = mapAround(context.state.doc, line.number, valueMatch[1].length);
        var plugin = around.type && p.byName[around.type];
        var prop = plugin && plugin.schema && (plugin.schema.properties || {})[valueMatch[2]];
        if (!prop || !prop["enum"]) { return null; }
        return {
          from: context.pos - valueMatch[4].length,
          options: prop["enum"].map(function (v) { return { label: String(v), type: "enum" }; }),
          validFor: /^\w*$/
        };
      });
    }
    if (keyMatch && !keyMatch[2] && !context.explicit) { return null; }
    return loadPlugins().then(function (p) {
      if (typeMatch) {
        return {
          from: line.from + typeMatch[1].length,
          options: p.list.map(function (plugin) {
            return { label: plugin.type, type: "class", detail: plugin.kind };
          }),
          validFor: /^[\w.]*$/
        };
      }
      var col = keyMatch[1].length;
      var around = mapAround(context.state.doc, line.number, col);
      var options;
      if (col === 0) {
        options = FLOW_KEYS.filter(function (k) { return !around.keys[k]; }).map(function (k) {
          return { label: k, type: "property", apply: k + ": " };
        });
      } else {
        var plugin = around.type && p.byName[around.type];
        if (!plugin) { return null; }
        var props = (plugin.schema && plugin.schema.properties) || {};
        var required = (plugin.schema && plugin.schema.required) || [];
        options = Object.keys(props).filter(function (k) { return !around.keys[k]; }).map(function (k) {
          var s = props[k] || {};
          var doc = s.description || "";
          return {
            label: k, type: "property", apply: k + ": ",
            detail: required.indexOf(k) >= 0 ? "required" : (s["x-alias-of"] ? "alias of " + s["x-alias-of"] : ""),
            info: doc || undefined,
            boost: required.indexOf(k) >= 0 ? 1 : 0
          };
        });
      }
      return { from: line.from + col, options: options, validFor: /^[\w-]*$/ };
    });
  }

  /* --- the editor ----------------------------------------------------------------------- */
  function save() {
    if (!form) { return true; }
    textarea.value = view.state.doc.toString();
    var button = form.querySelector("input[name=_continue]") || form.querySelector("input[type=submit]");
    if (form.requestSubmit) { form.requestSubmit(button || undefined); } else { form.submit(); }
    return true;
  }

  var view = new CM.EditorView({
    doc: textarea.value,
    parent: document.getElementById("trellis-editor-code"),
    extensions: [
      CM.basicSetup,
      CM.yaml(),
      CM.keymap.of([{ key: "Mod-s", preventDefault: true, run: save }]),
      CM.lintGutter(),
      CM.linter(validate, { delay: 400 }),
      CM.autocompletion({ override: [completeFlow], activateOnTyping: true }),
      CM.EditorState.tabSize.of(2),
      CM.EditorView.updateListener.of(function (u) {
        if (u.docChanged) { textarea.value = u.state.doc.toString(); }
      })
    ]
  });
  textarea.style.display = "none";
  var label = row.querySelector("label[for=id_source]");
  if (label) { label.style.display = "none"; }
  textarea.setAttribute("data-trellis-editor", "on");
  root.classList.add("trellis-editor-on");
  // The server's table of problems repeats what the editor now shows at each line.
  var serverProblems = document.getElementById("source-problems-module");
  if (serverProblems) { serverProblems.style.display = "none"; }
  window.trellisEditor = view;  // for tests and the browser console
  loadPlugins();
})();
