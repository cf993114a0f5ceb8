// bugimporters' one script, served by the binary (/static/app.js). Every page works without
// it; it only adds conveniences. It never inserts markup: every text goes in as textContent.
"use strict";

// The dashboard (GET /dashboard, docs/web.md "Dashboard"): redraw a tracker's row when
// GET /events names it. The row's data come from GET /api/trackers?tracker=NAME, the same
// TrackerRow JSON the server drew the page from, shown by the same rule (cellText).
(function liveDashboard() {
  const table = document.getElementById("trackers");
  if (!table || !table.tBodies.length || !window.EventSource || !window.fetch) {
    return;
  }
  const body = table.tBodies[0];
  const status = document.getElementById("live-status");
  const BATCH = 50;          // trackers per /api/trackers request
  const DELAY_MS = 250;      // events within this time share one request
  const SWEEP_MS = 60000;    // schedule changes without a bug change (an error, the next due)
  const pending = new Set();
  let timer = null;

  // The text of a cell for a JSON value: the rule of cell_text in web/dashboard.rs.
  function cellText(v) {
    if (v === null || v === undefined) {
      return "\u2014";
    }
    if (typeof v === "boolean") {
      return v ? "yes" : "no";
    }
    if (typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(v)) {
      return v.slice(0, 19).replace("T", " ");
    }
    return String(v);
  }

  function rowOf(name) {
    for (const tr of body.rows) {
      if (tr.dataset.tracker === name) {
        return tr;
      }
    }
    return null;
  }

  function draw(tr, data) {
    for (const td of tr.querySelectorAll("td[data-field]")) {
      const v = data[td.dataset.field];
      td.textContent = cellText(v);
      td.dataset.value = v === null || v === undefined ? "" : String(v);
    }
    tr.classList.add("updated");
    window.setTimeout(() => tr.classList.remove("updated"), 3000);
  }

  async function refresh(names) {
    for (let i = 0; i < names.length; i += BATCH) {
      const chunk = names.slice(i, i + BATCH);
      const query = new URLSearchParams();
      chunk.forEach((n) => query.append("tracker", n));
      const response = await fetch("/api/trackers?" + query.toString(), {
        headers: { Accept: "application/json" },
      });
      if (!response.ok) {
        continue;
      }
      const rows = (await response.json()).trackers;
      const seen = new Set();
      for (const row of rows) {
        seen.add(row.name);
        const tr = rowOf(row.name);
        if (tr) {
          draw(tr, row);
        }
      }
      for (const n of chunk) {
        const tr = rowOf(n);
        if (tr && !seen.has(n)) {
          tr.remove(); // the tracker was removed
        }
      }
    }
  }

  // The totals per project follow the same changes: redrawn from GET /api/projects (the
  // page's project filter kept), a project row added in name order or removed as needed.
  const totals = document.getElementById("projects");
  async function refreshTotals() {
    if (!totals || !totals.tBodies.length) {
      return;
    }
    const query = new URLSearchParams();
    if (totals.dataset.projectFilter) {
      query.append("project", totals.dataset.projectFilter);
    }
    const response = await fetch("/api/projects?" + query.toString(), {
      headers: { Accept: "application/json" },
    });
    if (!response.ok) {
      return;
    }
    const rows = (await response.json()).projects;
    const tbody = totals.tBodies[0];
    const fields = ["trackers", "bugs", "open", "bitesized", "documentation"];
    const seen = new Set();
    for (const p of rows) {
      seen.add(p.project);
      let tr = Array.from(tbody.rows).find((r) => r.dataset.project === p.project);
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.project = p.project;
        const th = document.createElement("th");
        th.scope = "row";
        th.dataset.field = "project";
        th.textContent = p.project;
        tr.appendChild(th);
        for (const f of fields) {
          const td = document.createElement("td");
          td.dataset.field = f;
          tr.appendChild(td);
        }
        const after = Array.from(tbody.rows).find((r) => r.dataset.project > p.project);
        tbody.insertBefore(tr, after || null);
      }
      for (const f of fields) {
        tr.querySelector("td[data-field='" + f + "']").textContent = cellText(p[f]);
      }
    }
    for (const tr of Array.from(tbody.rows)) {
      if (!seen.has(tr.dataset.project)) {
        tr.remove();
      }
    }
  }

  function schedule(name) {
    if (typeof name !== "string" || !rowOf(name)) {
      return;
    }
    pending.add(name);
    if (timer === null) {
      timer = window.setTimeout(() => {
        timer = null;
        const names = Array.from(pending);
        pending.clear();
        refresh(names)
          .then(refreshTotals)
          .catch(() => {});
      }, DELAY_MS);
    }
  }

  const everyRow = () => Array.from(body.rows, (tr) => tr.dataset.tracker).forEach(schedule);
  const events = new EventSource("/events");
  for (const kind of ["created", "updated", "deleted"]) {
    events.addEventListener(kind, (e) => {
      try {
        schedule(JSON.parse(e.data).tracker);
      } catch (_) {
        // not an event of this version: ignore it
      }
    });
  }
  events.addEventListener("reset", everyRow);
  events.addEventListener("open", () => {
    table.dataset.live = "open";
    if (status) {
      status.textContent = "Live: rows update as runs finish and imports land. Times are UTC.";
    }
  });
  events.addEventListener("error", () => {
    table.dataset.live = "reconnecting";
  });
  window.setInterval(everyRow, SWEEP_MS);
})();

// /customs/: choosing a tracker type shows that type's trackers and form (the select's form
// also has a button, for browsers without this script).
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
});
