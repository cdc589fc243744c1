"use strict";
(function () {
  const data = JSON.parse(document.getElementById("probe-data").textContent);
  const rows = Array.from(document.querySelectorAll("li.probe"));
  const families = Array.from(document.querySelectorAll("details.family")).map(fam => ({
    node: fam, name: fam.dataset.family,
    rows: Array.from(fam.querySelectorAll("li.probe")).map(li => ({node: li, verdict: li.dataset.verdict,
                                                                  id: li.dataset.id.toLowerCase()})),
  }));

  function el(tag, props, children) {
    const node = document.createElement(tag);
    if (props) for (const [k, v] of Object.entries(props)) node[k] = v;
    for (const child of children || []) node.append(child);
    return node;
  }
  function show(value) {
    if (value === undefined) return "—";
    if (value === null) return "None";
    if (value && typeof value === "object" && Object.keys(value).length === 1 && "match" in value) return "/" + value.match + "/";
    return JSON.stringify(value);
  }
  function factsTable(p) {
    const names = Array.from(new Set(Object.keys(p.observation).concat(Object.keys(p.expected || {})))).sort();
    const differs = new Set(p.differs);
    const table = el("table", {className: "facts"}, [el("tr", {}, ["fact", "expected", "observed", "row in force"].map(h => el("th", {textContent: h})))]);
    for (const name of names) {
      const tr = el("tr", {className: differs.has(name) ? "differs" : ""}, [
        el("td", {className: "fact", textContent: name}),
        el("td", {textContent: p.expected ? show(p.expected[name]) : "(no row)"}),
        el("td", {textContent: show(p.observation[name])}),
        el("td", {className: "muted", textContent: (p.sources || {})[name] || ""}),
      ]);
      table.append(tr);
    }
    return table;
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
    if (p.message) box.append(el("pre", {className: "message", textContent: p.message}));
    box.append(factsTable(p));
    box.append(el("p", {className: "muted", textContent: "probe: " + p.nodeid + " · " + p.location.file + ":" + p.location.line + " · " + p.duration.toFixed(4) + " s" + (p.keys && p.keys.length ? " · table keys: " + p.keys.join(", ") : "")}));
    const code = sourceOf(p);
    if (code) box.append(el("details", {}, [el("summary", {textContent: "probe source"}), el("pre", {className: "source", textContent: code})]));
    const script = repro(p);
    if (script) {
      const pre = el("pre", {className: "repro", textContent: script});
      const copy = el("button", {type: "button", textContent: "copy"});
      copy.addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText(script));
      box.append(el("details", {}, [el("summary", {textContent: "repro snippet (needs torch and pytest)"}), copy, pre]));
    }
  }
  document.getElementById("probes").addEventListener("toggle", (event) => {
    const li = event.target.parentElement;
    if (li && li.classList && li.classList.contains("probe") && event.target.open) fill(li);
  }, true);

  const verdictBoxes = Array.from(document.querySelectorAll(".verdict-filter"));
  const familySelect = document.getElementById("family-filter");
  const search = document.getElementById("search");
  const shown = document.getElementById("shown");
  function setHidden(node, hidden) {
    if (node.hidden !== hidden) node.hidden = hidden;  // touching only what changes keeps 10k rows fast
  }
  function applyFilters() {
    const verdicts = new Set(verdictBoxes.filter(b => b.checked).map(b => b.value));
    const family = familySelect.value;
    const text = search.value.trim().toLowerCase();
    let count = 0;
    for (const fam of families) {
      const famMatch = !family || fam.name === family;
      let visible = 0;
      for (const row of fam.rows) {
        const ok = famMatch && verdicts.has(row.verdict) && (!text || row.id.includes(text));
        setHidden(row.node, !ok);
        if (ok) visible++;
      }
      setHidden(fam.node, visible === 0);
      count += visible;
    }
    shown.textContent = count + " of " + rows.length + " probes shown";
  }
  let pending = null;
  function applySoon() {
    clearTimeout(pending);
    pending = setTimeout(applyFilters, 120);
  }
  for (const b of verdictBoxes) b.addEventListener("change", applyFilters);
  familySelect.addEventListener("change", applyFilters);
  search.addEventListener("input", applySoon);
  applyFilters();
})();
