/* Vacuum plan editor: plain JavaScript over Leaflet, no build step.
 * State: the plan document (the same JSON as a plan YAML file), the selected phase, the
 * saved plan's id and version. Every edit previews the plan (POST /plans/preview). */
(function () {
  "use strict";
  const cfg = JSON.parse(document.body.dataset.config || "{}");
  const $ = (id) => document.getElementById(id);
  const state = {
    plan: { name: "New plan", phases: [newPhase(1)] },
    selected: 0, planId: null, version: null, bases: {}, markers: {}, preview: null, seq: 0,
  };

  function newPhase(k) {
    const d = new Date(cfg.as_of || Date.now());
    d.setMonth(d.getMonth() + 6 * k);
    return { name: "Phase " + k, date: d.toISOString().slice(0, 10), actions: [] };
  }
  const fmt = (v, digits) => (v === null || v === undefined || Number.isNaN(v)) ? "–" :
    Number(v).toLocaleString("en-GB", { maximumFractionDigits: digits || 0, minimumFractionDigits: digits || 0 });
  const signed = (v, digits) => (v > 0 ? "+" : "") + fmt(v, digits);

  function message(text, kind) {
    const box = $("messages");
    box.innerHTML = "";
    box.className = kind || "";
    if (!text) return;
    const lines = Array.isArray(text) ? text : String(text).split(/\n/);
    const ul = document.createElement("ul");
    lines.filter((l) => l.trim()).forEach((l) => { const li = document.createElement("li"); li.textContent = l; ul.appendChild(li); });
    box.appendChild(ul);
  }

  async function api(method, url, body, accept) {
    const headers = { Accept: accept || "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!r.ok) {
      let detail = r.status + " " + r.statusText;
      try { const j = await r.json(); detail = j.detail || JSON.stringify(j); } catch (e) { /* not JSON */ }
      const err = new Error(detail); err.status = r.status; throw err;
    }
    return accept && accept !== "application/json" ? r.text() : r.json();
  }

  // ------------------------------------------------------------------ maps
  const before = L.map("map-before", { zoomControl: false, attributionControl: false });
  const after = L.map("map-after", { attributionControl: false });
  before.setView([0, 20], 4); after.setView([0, 20], 4);  // Leaflet.Sync needs a view first
  before.sync(after); after.sync(before);
  const layers = { afterImg: null, zones: L.geoJSON(null, {
    style: { color: "#b10026", weight: 2, fill: false } }).addTo(after), sites: L.layerGroup().addTo(after),
    bases: L.layerGroup().addTo(after) };
  L.control.scale({ imperial: false }).addTo(after);

  function actionsOf(phase) {
    const steps = {};
    phase.actions.forEach((a) => {
      if (a.close) a.close.forEach((b) => { steps[b] = { kind: "close" }; });
      if (a.reduce) steps[a.reduce.base] = { kind: "reduce", strength: a.reduce.strength };
      if (a.handover) steps[a.handover.base] = { kind: "handover", readiness: a.handover.readiness, to: a.handover.to };
    });
    return steps;
  }
  function statusOf(baseId) {  // the base's fate up to the selected phase
    let st = null;
    state.plan.phases.slice(0, state.selected + 1).forEach((p, i) => {
      const s = actionsOf(p)[baseId];
      if (s) st = Object.assign({ phase: i }, s);
    });
    return st;
  }
  const colours = { close: "#b10026", reduce: "#fd8d3c", handover: "#6a51a3" };

  function drawBases() {
    layers.bases.clearLayers();
    Object.values(state.bases).forEach((f) => {
      const p = f.properties, id = p.base_id;
      const st = statusOf(id);
      const m = L.circleMarker([f.geometry.coordinates[1], f.geometry.coordinates[0]], {
        radius: 4 + Math.min(8, Math.sqrt(p.strength || 0) / 5), color: "#08306b", weight: 1.5,
        fillColor: st ? colours[st.kind] : "#2171b5", fillOpacity: 0.9 });
      m.bindTooltip(`${p.name || id}: ${fmt(p.strength)} troops` + (p.strength ? "" : " (presence only, 0 troops)") +
        (st ? ` · ${st.kind} in phase ${st.phase + 1}` : ""));
      m.on("click", () => openBase(id, m));
      m.baseId = id;
      layers.bases.addLayer(m);
      state.markers[id] = m;
    });
  }

  function openBase(id, marker) {
    const p = state.bases[id].properties;
    const div = document.createElement("div");
    div.className = "base-popup";
    div.innerHTML = `<b></b><br><span class="muted"></span><br>
      <button data-act="close">Close in phase ${state.selected + 1}</button><br>
      <label>troops <input type="number" min="0" step="10" value="${Math.round((p.strength || 0) / 2)}"></label>
      <button data-act="reduce">Reduce</button><br>
      <label>readiness <input type="number" min="0" max="1" step="0.1" value="0.5"></label>
      <label>or to <select class="to-force"><option value="">(no named force)</option></select></label>
      <button data-act="handover">Hand over</button><br>
      <button data-act="undo">Undo in this phase</button>`;
    div.querySelector("b").textContent = p.name || id;
    div.querySelector(".muted").textContent = `${id} · ${p.unit_type || ""} · ${fmt(p.strength)} troops`;
    const [troops, ready] = div.querySelectorAll("input");
    const to = div.querySelector(".to-force");
    (state.plan.national_forces || []).forEach((f) => {  // the plan's national forces (an imported plan file)
      const o = document.createElement("option"); o.value = f.id;
      o.textContent = `${f.name || f.id} (${fmt(f.strength)} ${f.kind || ""}, readiness ${fmt(f.readiness, 1)})`;
      to.appendChild(o);
    });
    div.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => {
      const act = b.dataset.act;
      setStep(id, act, act === "reduce" ? Number(troops.value) : Number(ready.value), act === "handover" ? to.value : "");
      marker.closePopup();
    }));
    marker.bindPopup(div).openPopup();
  }

  function setStep(id, kind, value, toForce) {
    const ph = state.plan.phases[state.selected];
    const keep = [];
    ph.actions.forEach((a) => {  // drop this base's step from the phase
      if (a.close) { const rest = a.close.filter((b) => b !== id); if (rest.length) keep.push({ close: rest }); }
      else if (a.reduce && a.reduce.base !== id) keep.push(a);
      else if (a.handover && a.handover.base !== id) keep.push(a);
      else if (!a.close && !a.reduce && !a.handover) keep.push(a);
    });
    if (kind === "close") {
      const c = keep.find((a) => a.close);
      if (c) c.close.push(id); else keep.unshift({ close: [id] });
    } else if (kind === "reduce") keep.push({ reduce: { base: id, strength: value } });
    else if (kind === "handover") keep.push({ handover: toForce ? { base: id, to: toForce } : { base: id, readiness: value } });
    ph.actions = keep;
    changed();
  }

  // ------------------------------------------------------------------ phases panel
  function renderPhases() {
    const box = $("phases");
    box.innerHTML = "";
    state.plan.phases.forEach((ph, i) => {
      const row = document.createElement("div");
      row.className = "phase" + (i === state.selected ? " selected" : "");
      const steps = Object.entries(actionsOf(ph)).map(([b, s]) => `${s.kind} ${b}` +
        (s.kind === "reduce" ? ` to ${s.strength}` : s.kind === "handover" ?
          (s.to ? ` to ${s.to}` : ` (readiness ${s.readiness})`) : ""));
      row.innerHTML = `<label><input type="radio" name="phase" value="${i}" ${i === state.selected ? "checked" : ""}>
        <input class="ph-name" aria-label="phase name"> <input class="ph-date" type="date" aria-label="phase date"></label>
        <button class="ph-del" type="button" title="remove this phase">×</button>
        <ol class="steps"></ol><ul class="conds"></ul>`;
      row.querySelector(".ph-name").value = ph.name;
      row.querySelector(".ph-date").value = ph.date;
      const ol = row.querySelector(".steps");
      if (!steps.length) { const li = document.createElement("li"); li.className = "muted"; li.textContent = "no steps yet: click a base"; ol.appendChild(li); }
      steps.forEach((t) => { const li = document.createElement("li"); li.textContent = t; ol.appendChild(li); });
      const ul = row.querySelector(".conds");
      (ph.conditions || []).forEach((c, j) => {
        const li = document.createElement("li");
        li.textContent = `if ${c.condition}${c.unit ? " in " + c.unit : ""} ${c.op} ${c.threshold} `;
        const x = document.createElement("button"); x.type = "button"; x.textContent = "×"; x.title = "remove this condition";
        x.addEventListener("click", () => { ph.conditions.splice(j, 1); if (!ph.conditions.length) delete ph.conditions; changed(); });
        li.appendChild(x); ul.appendChild(li);
      });
      const res = state.preview && state.preview.phases[i];
      if (res && res.status === "hold") row.classList.add("hold");
      row.querySelector("input[type=radio]").addEventListener("change", () => select(i));
      row.querySelector(".ph-name").addEventListener("change", (e) => { ph.name = e.target.value; changed(); });
      row.querySelector(".ph-date").addEventListener("change", (e) => { ph.date = e.target.value; changed(); });
      row.querySelector(".ph-del").addEventListener("click", () => {
        if (state.plan.phases.length === 1) { message("A plan needs at least one phase.", "error"); return; }
        state.plan.phases.splice(i, 1); state.selected = Math.min(state.selected, state.plan.phases.length - 1); changed();
      });
      box.appendChild(row);
    });
    const s = $("phase-slider");
    s.max = String(state.plan.phases.length); s.value = String(state.selected + 1);
    $("plan-name").value = state.plan.name;
  }
  function select(i) { state.selected = i; renderPhases(); drawBases(); showPhase(); }

  // ------------------------------------------------------------------ preview
  let timer = null;
  function changed() { renderPhases(); drawBases(); clearTimeout(timer); timer = setTimeout(preview, 120); }

  async function preview() {
    const empty = state.plan.phases.filter((p) => !p.actions.length).map((p) => p.name);
    if (empty.length) {
      message(`Phase(s) with no steps: ${empty.join(", ")}. Click a base to add a step, or remove the phase.`, "warn");
      return;
    }
    const seq = ++state.seq, t0 = performance.now();
    document.body.dataset.previewing = "1";
    try {
      const res = await api("POST", "/plans/preview", { analysis_id: cfg.analysis, plan: state.plan });
      if (seq !== state.seq) return;  // a newer edit is on its way
      state.preview = res; state.requestStart = t0;
      const held = res.phases.filter((p) => p.status === "hold");
      message(held.length ? held.map((p) => `Phase ${p.phase} (${p.name}) would HOLD: ${p.hold_reasons.join("; ")}`) : "",
        held.length ? "warn" : "");
      renderPhases();
      showPhase(t0);
    } catch (e) {
      if (seq === state.seq) { message(e.message, "error"); delete document.body.dataset.previewing; }
    }
  }

  function overlay(map, old, ov) {
    if (old) map.removeLayer(old);
    return ov ? L.imageOverlay(ov.image, ov.bounds, { opacity: 0.8 }).addTo(map) : null;
  }

  function showPhase(t0) {
    const res = state.preview;
    if (!res) return;
    const ph = res.phases[Math.min(state.selected, res.phases.length - 1)];
    layers.afterImg = overlay(after, layers.afterImg, ph.overlay);
    const done = () => {
      const ms = Math.round(performance.now() - (t0 || performance.now()));
      if (t0) { $("timing").textContent = `updated in ${ms} ms (server ${Math.round(res.timings_s.total * 1000)} ms)`; $("timing").dataset.ms = String(ms); }
      document.body.dataset.phaseShown = String(ph.phase);
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
      delete document.body.dataset.previewing;
    };
    if (layers.afterImg) { layers.afterImg.once("load", done); } else done();
    layers.zones.clearLayers(); layers.zones.addData(ph.new_zones);
    layers.zones.eachLayer((l) => l.bindTooltip(`new vacuum zone: ${fmt(l.feature.properties.area_km2)} km², ` +
      `${fmt(l.feature.properties.population)} people, max gap ${fmt(l.feature.properties.max_gap)}`));
    layers.sites.clearLayers();
    ph.lost_sites.forEach((s) => L.circleMarker([s.lat, s.lon], { radius: 5, color: "#000", fillColor: "#fee08b", fillOpacity: 1 })
      .bindTooltip(`${s.name || s.site_id} (${s.kind || "site"}) loses cover: ${fmt(s.coverage_before, 2)} → ${fmt(s.coverage_after, 2)}`)
      .addTo(layers.sites));
    renderNumbers(ph); renderBenchmarks(ph); renderSites(ph); renderAdmin(ph);
  }

  const LABELS = {
    vacuum_measure: ["vacuum measure", 2], mean_gap: ["mean gap", 2], new_high_critical_km2: ["new high/critical area, km²", 0],
    people_into_high_critical: ["people into high/critical", 0], population_losing_cover: ["people losing cover", 0],
    area_losing_cover_km2: ["area losing cover, km²", 0], population_high_critical_after: ["people in high/critical", 0],
  };
  function renderNumbers(ph) {
    const tb = $("numbers").querySelector("tbody");
    tb.innerHTML = "";
    Object.entries(LABELS).forEach(([k, [label, d]]) => {
      const tr = document.createElement("tr");
      tr.innerHTML = "<th></th><td></td><td></td>";
      tr.children[0].textContent = label; tr.children[1].textContent = fmt(ph.numbers[k], d);
      tr.children[2].textContent = signed(ph.vs_previous[k], d);
      tb.appendChild(tr);
    });
    const tr = document.createElement("tr");
    tr.innerHTML = "<th>new zones (count)</th><td></td><td></td>";
    tr.children[1].textContent = String(ph.new_zones.features.length);
    tr.children[2].textContent = signed(ph.new_since_previous_km2, 0) + " km² new since previous";
    tb.appendChild(tr);
  }
  function renderBenchmarks(ph) {
    const tb = $("benchmarks").querySelector("tbody");
    tb.innerHTML = "";
    const rows = ph.benchmarks || [];
    if (!rows.length) { tb.innerHTML = "<tr><td class='muted'>no conditions on this phase</td></tr>"; return; }
    tb.innerHTML = "<tr><th>condition</th><th>where</th><th>value</th><th>threshold</th><th>result</th></tr>";
    rows.forEach((b) => {
      const tr = document.createElement("tr");
      tr.className = b.pass ? "pass" : "fail";
      [b.condition, b.unit || "whole area", fmt(b.value, 2), `${b.op} ${fmt(b.threshold, 2)}`, b.pass ? "pass" : "HOLD"]
        .forEach((t) => { const td = document.createElement("td"); td.textContent = t; tr.appendChild(td); });
      tb.appendChild(tr);
    });
  }
  function renderSites(ph) {
    const ul = $("sites"); ul.innerHTML = "";
    if (!ph.lost_sites.length) { ul.innerHTML = "<li class='muted'>none</li>"; return; }
    ph.lost_sites.slice(0, 20).forEach((s) => { const li = document.createElement("li");
      li.textContent = `${s.name || s.site_id} (${s.kind || "site"}${s.population ? ", " + fmt(s.population) + " people" : ""})`; ul.appendChild(li); });
  }
  function renderAdmin(ph) {
    const tb = $("admin").querySelector("tbody"); tb.innerHTML = "";
    ph.admin.slice(0, 5).forEach((a) => { const tr = document.createElement("tr");
      tr.innerHTML = "<td></td><td></td>"; tr.children[0].textContent = a.name;
      tr.children[1].textContent = `${fmt(a.mean_gap_before, 1)} → ${fmt(a.mean_gap_after, 1)} (${signed(a.mean_gap_change, 2)})`;
      tb.appendChild(tr); });
  }

  // ------------------------------------------------------------------ save, export, import, submit
  async function save() {
    state.plan.name = $("plan-name").value || "New plan";
    try {
      const rec = state.planId === null
        ? await api("POST", "/plans", { analysis_id: cfg.analysis, plan: state.plan })
        : await api("PUT", `/plans/${state.planId}`, { version: state.version, plan: state.plan });
      state.planId = rec.id; state.version = rec.version;
      document.body.dataset.planId = rec.id; document.body.dataset.version = String(rec.version);
      message(`Saved ${rec.id}, version ${rec.version}.`, "ok");
    } catch (e) { message(e.message, "error"); }
  }
  async function exportYaml() {
    if (state.planId === null) await save();
    if (state.planId === null) return;
    const text = await api("GET", `/plans/${state.planId}/yaml`, undefined, "application/yaml");
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "application/yaml" }));
    a.download = (state.plan.name || "plan").replace(/[^A-Za-z0-9_-]+/g, "_") + ".yaml";
    document.body.appendChild(a); a.click(); a.remove();
  }
  async function importYaml() {
    try {
      const rec = await api("POST", "/plans/import", { analysis_id: cfg.analysis, yaml: $("import-text").value });
      state.plan = rec.plan; state.planId = rec.id; state.version = rec.version; state.selected = 0;
      document.body.dataset.planId = rec.id; document.body.dataset.version = String(rec.version);
      message(`Imported as ${rec.id}.`, "ok"); changed();
    } catch (e) { message(e.message, "error"); }
  }
  async function submit() {
    await save();
    if (state.planId === null) return;
    try {
      const job = await api("POST", `/plans/${state.planId}/submit`);
      message(`Scenario ${job.id} queued; the briefing link appears when it is done.`, "ok");
      const poll = async () => {
        const st = await api("GET", job.status_url);
        if (st.status === "done") {
          const a = $("brief"); a.hidden = false; a.href = "#"; a.dataset.url = `/scenarios/${job.id}/brief`;
          a.dataset.file = `briefing_${job.id}.pdf`;
          const h = $("brief-html"); h.href = `/scenarios/${job.id}/brief?format=html`; h.hidden = false;
          document.body.dataset.scenario = job.id;
          message(`Scenario ${job.id} done.`, "ok");
        } else if (st.status === "failed" || st.status === "interrupted") message(`Scenario ${job.id} ${st.status}: ${st.error}`, "error");
        else setTimeout(poll, 1000);
      };
      poll();
    } catch (e) { message(e.message, "error"); }
  }

  async function downloadBrief(e) {  // fetched with the page's own headers, then saved
    e.preventDefault();
    const a = $("brief");
    message("Drawing the briefing…", "ok");
    try {
      const r = await fetch(a.dataset.url, { headers: { Accept: "application/pdf" } });
      if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await r.blob()); link.download = a.dataset.file;
      document.body.appendChild(link); link.click(); link.remove();
      message("Briefing downloaded.", "ok");
    } catch (err) { message(`The briefing could not be drawn: ${err.message}`, "error"); }
  }

  // ------------------------------------------------------------------ start
  async function start() {
    if (!cfg.analysis) { message("No finished analysis to plan on yet; run one first.", "error"); return; }
    $("analysis").textContent = `${cfg.name} · as of ${cfg.as_of || "?"}`;
    const fc = await api("GET", `/analyses/${cfg.analysis}/exports/bases.geojson`, undefined, "application/geo+json")
      .then((t) => JSON.parse(t));
    fc.features.forEach((f) => { state.bases[f.properties.base_id] = f; });
    const b = L.geoJSON(fc).getBounds();
    after.fitBounds(b.pad(0.05));
    // the analysis' gap as it is (its tiles), and the admin outlines on both maps, for orientation
    const tj = await api("GET", `/analyses/${cfg.analysis}/tilejson/gap.json`);
    const [w, s, e, n] = tj.bounds;
    L.tileLayer(tj.tiles[0], { opacity: 0.8, minNativeZoom: tj.minzoom, maxNativeZoom: tj.maxzoom,
      bounds: [[s, w], [n, e]] }).addTo(before);
    const admin = await api("GET", `/analyses/${cfg.analysis}/admin?format=geojson`);
    const outline = { color: "#555", weight: 1, fill: false, interactive: false };
    L.geoJSON(admin, { style: outline }).addTo(before);
    L.geoJSON(admin, { style: outline }).addTo(after);
    $("add-phase").addEventListener("click", () => { state.plan.phases.push(newPhase(state.plan.phases.length + 1));
      state.selected = state.plan.phases.length - 1; renderPhases(); drawBases(); });
    $("phase-slider").addEventListener("input", (e) => select(Number(e.target.value) - 1));
    $("plan-name").addEventListener("change", (e) => { state.plan.name = e.target.value; });
    $("save").addEventListener("click", save);
    $("export").addEventListener("click", exportYaml);
    $("import").addEventListener("click", importYaml);
    $("submit").addEventListener("click", submit);
    $("brief").addEventListener("click", downloadBrief);
    $("add-cond").addEventListener("click", () => {
      const ph = state.plan.phases[state.selected];
      const c = { condition: $("cond-metric").value, op: $("cond-op").value, threshold: Number($("cond-threshold").value) };
      if ($("cond-unit").value) c.unit = $("cond-unit").value;
      if (!Number.isFinite(c.threshold)) { message("The condition needs a number as its threshold.", "error"); return; }
      (ph.conditions = ph.conditions || []).push(c);
      changed();
    });
    admin.features.forEach((f) => { const o = document.createElement("option"); o.value = f.properties.name;
      o.textContent = f.properties.name; $("cond-unit").appendChild(o); });
    const leg = await api("GET", "/legend/gap");
    $("legend").textContent = "gap after the phase: ";
    leg.classes.forEach((c) => {
      const s = document.createElement("span"); s.className = "sw"; s.style.background = c.color;
      $("legend").appendChild(s);
      const last = c === leg.classes[leg.classes.length - 1];
      $("legend").appendChild(document.createTextNode(` ${c.label} (${last ? "≥ " + fmt(c.min) : fmt(c.min) + "–" + fmt(c.max)}) `));
    });
    renderPhases(); drawBases();
    window.vacuumEditor = { state, before, after };  // for the browser test and the console
    document.body.dataset.ready = "1";
  }
  start().catch((e) => message(e.message, "error"));
})();
