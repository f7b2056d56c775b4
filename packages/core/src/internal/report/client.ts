/**
 * The page's script, inline as a string: it decodes the rows (inline JSON, or deflate-raw base64 through the
 * browser's DecompressionStream), filters them over one lowercased search string per row, renders one page of
 * 100 rows and builds a row's details only when it is picked. DOM built with textContent only; no eval.
 */
export const client = String.raw`(function () {
  "use strict";
  var PAGE = 100;
  var rows = [];
  var search = [];
  var matching = [];
  var page = 0;
  var $ = function (id) { return document.getElementById(id); };
  var el = function (tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  var tbody = $("rows").tBodies[0];
  var status = $("filter-status"), kind = $("filter-kind"), text = $("filter-text");
  var count = $("rows-count"), info = $("page-info"), prev = $("page-prev"), next = $("page-next");
  var detail = $("row-detail");

  function clip(s, n) { s = s || ""; return s.length > n ? s.slice(0, n - 1) + "\u2026" : s; }

  function apply() {
    var st = status.value, k = kind.value, q = text.value.trim().toLowerCase();
    matching = [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      if (st === "ok" && r.k) continue;
      if (st === "failed" && !r.k) continue;
      if (k !== "all" && r.k !== k) continue;
      if (q && search[i].indexOf(q) < 0) continue;
      matching.push(i);
    }
    count.setAttribute("data-value", String(matching.length));
    count.textContent = matching.length.toLocaleString("en-US") + " of " + rows.length.toLocaleString("en-US") + " rows";
    page = 0;
    render();
  }

  function render() {
    var pages = Math.max(1, Math.ceil(matching.length / PAGE));
    if (page >= pages) page = pages - 1;
    var frag = document.createDocumentFragment();
    var end = Math.min(matching.length, (page + 1) * PAGE);
    for (var j = page * PAGE; j < end; j++) {
      var i = matching[j], r = rows[i];
      var tr = el("tr");
      tr.setAttribute("data-row", String(i));
      tr.tabIndex = 0;
      tr.className = r.k ? "failed" : "ok";
      tr.appendChild(el("td", "num", i));
      tr.appendChild(el("td", "id", clip(r.id, 40)));
      tr.appendChild(el("td", "status", r.k ? r.k : "ok"));
      tr.appendChild(el("td", "text", clip(r.k ? r.e : r.o, 160)));
      tr.appendChild(el("td", "num", r.a));
      tr.appendChild(el("td", "num", Math.round(r.l)));
      tr.appendChild(el("td", "num", r.u[0] + r.u[1]));
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
    info.textContent = "page " + (page + 1) + " of " + pages;
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }

  function show(i) {
    var r = rows[i];
    var out = [];
    out.push(el("h3", null, "Row " + i + " \u00b7 " + r.id + (r.c ? " \u00b7 choice " + r.c : "")));
    var meta = el("p", "meta", "generator " + r.g + " \u00b7 template " + r.t + " \u00b7 attempts " + r.a +
      " \u00b7 latency " + Math.round(r.l) + " ms \u00b7 tokens " + r.u[0] + " in / " + r.u[1] + " out");
    out.push(meta);
    for (var m = 0; m < r.m.length; m++) {
      var msg = el("div", "message");
      msg.setAttribute("data-role", r.m[m][0]);
      msg.appendChild(el("span", "role", r.m[m][0]));
      msg.appendChild(el("pre", null, r.m[m][1]));
      out.push(msg);
    }
    if (r.k) {
      var err = el("div", "error");
      err.appendChild(el("span", "role", r.k));
      err.appendChild(el("pre", null, r.e));
      out.push(err);
    }
    if (r.o !== undefined && r.o !== null) {
      var o = el("div", "output");
      o.appendChild(el("span", "role", "output"));
      o.appendChild(el("pre", null, r.o));
      out.push(o);
    }
    if (r.p !== undefined && r.p !== null) {
      var p = el("div", "parsed");
      p.appendChild(el("span", "role", "parsed"));
      p.appendChild(el("pre", null, r.p));
      out.push(p);
    }
    detail.replaceChildren.apply(detail, out);
    detail.hidden = false;
  }

  function pick(event) {
    var tr = event.target.closest ? event.target.closest("tr[data-row]") : null;
    if (!tr) return;
    if (event.type === "keydown" && event.key !== "Enter") return;
    var selected = tbody.querySelector("tr.selected");
    if (selected) selected.classList.remove("selected");
    tr.classList.add("selected");
    show(Number(tr.getAttribute("data-row")));
  }

  function start(decoded) {
    rows = decoded;
    search = new Array(rows.length);
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i], s = r.id + "\n" + (r.o || "") + "\n" + (r.k ? r.k + " " + r.e : "");
      for (var m = 0; m < r.m.length; m++) s += "\n" + r.m[m][1];
      search[i] = s.toLowerCase();
    }
    status.addEventListener("change", apply);
    kind.addEventListener("change", apply);
    var timer = 0;
    text.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(apply, 150); });
    prev.addEventListener("click", function () { page--; render(); });
    next.addEventListener("click", function () { page++; render(); });
    tbody.addEventListener("click", pick);
    tbody.addEventListener("keydown", pick);
    apply();
  }

  function fail(error) {
    tbody.replaceChildren();
    var tr = el("tr"), td = el("td", "error", "Could not read the rows: " + (error && error.message ? error.message : error));
    td.colSpan = 7;
    tr.appendChild(td);
    tbody.appendChild(tr);
  }

  var source = $("report-rows");
  if (source.getAttribute("data-encoding") === "deflate-raw-base64") {
    var binary = atob(source.textContent.trim());
    var bytes = new Uint8Array(binary.length);
    for (var b = 0; b < binary.length; b++) bytes[b] = binary.charCodeAt(b);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    new Response(stream).text().then(function (json) { start(JSON.parse(json)); }, fail);
  } else {
    try { start(JSON.parse(source.textContent)); } catch (error) { fail(error); }
  }
})();
`
