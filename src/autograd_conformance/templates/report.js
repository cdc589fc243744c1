"use strict";
(function () {
  const {el, valueNode, readHash, writeHash} = AC;
  const data = JSON.parse(document.getElementById("probe-data").textContent);
  const allVerdicts = Array.from(document.querySelectorAll(".verdict-filter")).map(b => b.dataset.verdict);
  const families = Array.from(document.querySelectorAll("details.family")).map(fam => ({
    node: fam, name: fam.dataset.family, initiallyOpen: fam.open,
    rows: Array.from(fam.querySelectorAll("li.probe")).map(li => ({node: li, verdict: li.dataset.verdict,
                                                                  index: Number(li.dataset.index)})),
  }));
  const rowCount = families.reduce((n, f) => n + f.rows.length, 0);
  const NOTES = {crashed: "No facts were recorded: the process died while this probe ran.",
                 timeout: "The probe ran out of time; the facts it recorded before are shown.",
                 error: "The probe broke; the facts it recorded before are shown.",
                 leaked: "The probe left torch's process-wide state changed (named above); the state was put back, so later probes were not affected.",
                 "not-run": "The probe was collected but never ran: no facts.",
                 skipped: "The probe was skipped.", missing: "The table has no row for this probe: every fact is new."};

  function searchText(p) {
    if (p._search === undefined) {
      const mismatches = (p.differs || []).join(" ");
      p._search = [p.id, Object.keys(p.observation).join(" "), Object.keys(p.expected || {}).join(" "),
                   p.message || "", mismatches, p.doc || ""].join("\n").toLowerCase();
    }
    return p._search;
  }

  // --- one probe's details, built when first opened ---------------------------------------------------------
  function mainSource(p) {
    const counts = {};
    for (const s of Object.values(p.sources || {})) counts[s] = (counts[s] || 0) + 1;
    return Object.entries(counts).sort((a, b) => b[1] - a[1]).map(e => e[0])[0] || null;
  }
  function factsTable(p) {
    const names = Array.from(new Set(Object.keys(p.observation).concat(Object.keys(p.expected || {}))));
    if (!names.length) return null;
    const differs = p.differs || [];
    const rank = name => differs.includes(name) ? differs.indexOf(name) : differs.length;
    names.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
    const main = mainSource(p);
    const sourceShown = names.some(n => (p.sources || {})[n] && p.sources[n] !== main);
    const head = ["fact", "expected", "observed"].concat(sourceShown ? ["row in force (where not the probe's row)"] : []);
    const table = el("table", {className: "facts"}, [el("tr", {}, head.map(h => el("th", {textContent: h})))]);
    for (const name of names) {
      const info = (p.info || []).includes(name);
      const expected = p.expected ? p.expected[name] : undefined;
      const observed = p.observation[name];
      const missingExpected = info ? "(kept for the reader, not compared)" : p.expected ? "(not in table)" : "(no row)";
      const cells = [
        el("td", {className: "fact", textContent: name}),
        el("td", {}, [valueNode(expected, observed, missingExpected)]),
        el("td", {}, [valueNode(observed, expected, "(not observed)")]),
      ];
      if (sourceShown) {
        const source = (p.sources || {})[name];
        cells.push(el("td", {className: "note", textContent: source && source !== main ? source : ""}));
      }
      table.append(el("tr", {className: differs.includes(name) ? "differs" : ""}, cells));
    }
    return table;
  }
  /* What the table says changes for this probe from one described torch release to the next. */
  function timeline(p) {
    const head = ["release", "fact", "before", "after", "why"].map(h => el("th", {textContent: h}));
    const table = el("table", {className: "facts timeline"}, [el("tr", {}, head)]);
    for (const c of p.timeline) {
      const exists = c.fact === "(probe exists)";
      table.append(el("tr", {}, [
        el("td", {className: "kind", textContent: c.before_release + " → " + c.after_release}),
        el("td", {className: "fact", textContent: exists ? "(the probe)" : c.fact}),
        el("td", {}, [exists ? document.createTextNode(c.before ? "exists" : "does not exist") : valueNode(c.before, c.after, "(not observed)")]),
        el("td", {}, [exists ? document.createTextNode(c.after ? "exists" : "does not exist") : valueNode(c.after, c.before, "(not observed)")]),
        el("td", {className: "note"}, [c.reason || "", c.link ? el("a", {href: c.link, textContent: " link"}) : null]),
      ]));
    }
    return el("details", {open: true}, [el("summary", {textContent: "across torch releases (" + p.timeline.length + " changes, from the table)"}), table]);
  }
  function sourceOf(p) {
    const src = data.sources[p.family];
    if (!src || !p.location.line || !p.location.end_line) return null;
    return src.text.split("\n").slice(p.location.line - 1, p.location.end_line).join("\n");
  }
  function repro(p) {
    const src = data.sources[p.family];
    if (!src || !p.repro) return null;
    return "# Repro for " + p.id + " (observed on torch " + data.torch + ")\n" + data.prelude + src.text + "\n\n" + p.repro;
  }
  function fill(li) {
    const box = li.querySelector(".detail");
    if (box.childElementCount) return;
    const p = data.probes[Number(li.dataset.index)];
    if (p.doc) box.append(el("p", {className: "doc", textContent: p.doc}));
    const where = p.location.line ? p.location.file + ":" + p.location.line + (p.location.end_line ? "–" + p.location.end_line : "")
                                  : p.location.file;
    const main = mainSource(p);
    box.append(el("p", {className: "muted", textContent: [where, p.duration.toFixed(4) + " s",
      main ? "row in force: " + main : null].filter(Boolean).join(" · ")}));
    if (p.message) box.append(el("pre", {className: "message", textContent: p.message}));
    const table = factsTable(p);
    if (NOTES[p.verdict] && (!table || p.verdict !== "missing")) box.append(el("p", {className: "note", textContent: NOTES[p.verdict]}));
    if (table) box.append(table);
    if (p.timeline && p.timeline.length) box.append(timeline(p));
    const code = sourceOf(p);
    if (code) box.append(el("details", {}, [el("summary", {textContent: "probe source"}), el("pre", {className: "source", textContent: code})]));
    const script = repro(p);
    if (script) {
      const copy = el("button", {type: "button", textContent: "copy"});
      copy.addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText(script));
      box.append(el("details", {}, [el("summary", {textContent: "repro snippet (needs torch and pytest)"}), copy,
                                    el("pre", {className: "repro", textContent: script})]));
    }
  }
  document.getElementById("probes").addEventListener("toggle", (event) => {
    const li = event.target.parentElement;
    if (li && li.classList && li.classList.contains("probe") && event.target.open) fill(li);
  }, true);

  // --- filters, kept in the URL ---------------------------------------------------------------------------
  const verdictButtons = Array.from(document.querySelectorAll(".verdict-filter"));
  const familySelect = document.getElementById("family-filter");
  const search = document.getElementById("search");
  const shown = document.getElementById("shown");
  const state = {verdicts: new Set(allVerdicts), family: "", query: "", probe: ""};
  function isDefault() {
    return state.verdicts.size === allVerdicts.length && !state.family && !state.query;
  }
  function setHidden(node, hidden) {
    if (node.hidden !== hidden) node.hidden = hidden;  // touching only what changes keeps 10k rows fast
  }
  function apply() {
    const text = state.query.trim().toLowerCase();
    let count = 0;
    for (const fam of families) {
      const famMatch = !state.family || fam.name === state.family;
      let visible = 0;
      for (const row of fam.rows) {
        const ok = famMatch && state.verdicts.has(row.verdict) && (!text || searchText(data.probes[row.index]).includes(text));
        setHidden(row.node, !ok);
        if (ok) visible++;
      }
      setHidden(fam.node, visible === 0);
      if (visible && !isDefault()) {
        if (!fam.node.open) fam.node.open = true;
        const settled = fam.node.querySelector("details.settled");
        if (settled && !settled.open && settled.querySelector("li.probe:not([hidden])")) settled.open = true;
      }
      count += visible;
    }
    shown.textContent = count + " of " + rowCount + " probes shown";
    for (const b of verdictButtons) b.setAttribute("aria-pressed", String(state.verdicts.has(b.dataset.verdict)));
  }
  function save() {
    writeHash({v: state.verdicts.size === allVerdicts.length ? "" : Array.from(state.verdicts).join(","),
               f: state.family, q: state.query, p: state.probe});
  }
  function load() {
    const h = readHash();
    state.verdicts = new Set(h.v ? h.v.split(",").filter(v => allVerdicts.includes(v)) : allVerdicts);
    if (h.v && !state.verdicts.size) state.verdicts = new Set(allVerdicts);
    state.family = h.f || "";
    state.query = h.q || "";
    state.probe = h.p || "";
    familySelect.value = state.family;
    search.value = state.query;
    apply();
    if (state.probe) reveal(state.probe);
  }
  function reveal(id) {
    const li = document.getElementById("p:" + id);
    if (!li) return;
    document.querySelectorAll("li.probe.target").forEach(n => n.classList.remove("target"));
    li.classList.add("target");
    setHidden(li, false);
    const fam = li.closest("details.family");
    setHidden(fam, false);
    fam.open = true;
    const settled = li.closest("details.settled");
    if (settled) settled.open = true;
    const details = li.querySelector("details");
    details.open = true;
    fill(li);
    li.scrollIntoView({block: "start"});
  }
  for (const b of verdictButtons) b.addEventListener("click", () => {
    if (state.verdicts.has(b.dataset.verdict)) state.verdicts.delete(b.dataset.verdict); else state.verdicts.add(b.dataset.verdict);
    state.probe = ""; save(); apply();
  });
  familySelect.addEventListener("change", () => { state.family = familySelect.value; state.probe = ""; save(); apply(); });
  let pending = null;
  search.addEventListener("input", () => {
    clearTimeout(pending);
    pending = setTimeout(() => { state.query = search.value; state.probe = ""; save(); apply(); }, 150);
  });
  document.getElementById("expand-all").addEventListener("click", () => {
    for (const fam of families) if (!fam.node.hidden) {
      fam.node.open = true;
      fam.node.querySelectorAll("details.settled").forEach(d => { d.open = true; });
    }
  });
  document.getElementById("collapse-all").addEventListener("click", () => {
    for (const fam of families) {
      fam.node.open = false;
      fam.node.querySelectorAll("details.settled").forEach(d => { d.open = false; });
    }
  });
  window.addEventListener("hashchange", load);
  load();
})();
