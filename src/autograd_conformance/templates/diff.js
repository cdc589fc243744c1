"use strict";
(function () {
  const {el, valueNode, readHash, writeHash} = AC;
  const data = JSON.parse(document.getElementById("diff-data").textContent);
  const main = document.getElementById("changes");
  if (!main) return;
  const buttons = Array.from(document.querySelectorAll(".category-filter"));
  const all = buttons.map(b => b.dataset.category);
  const familySelect = document.getElementById("family-filter");
  const search = document.getElementById("search");
  const shown = document.getElementById("shown");
  const state = {categories: new Set(all), family: "", query: ""};

  function text(item) {
    if (item._search === undefined) {
      item._search = [item.id, ...(item.changes || []).map(c => c.fact + " " + JSON.stringify(c.before) + " " +
        JSON.stringify(c.after))].join("\n").toLowerCase();
    }
    return item._search;
  }
  function changeRow(probe, c) {
    return el("tr", {className: c.category.startsWith("accepted") ? "accepted" : c.kind === "text" ? "text-change" : "differs"}, [
      el("td", {className: "fact", textContent: c.fact}),
      el("td", {className: "kind"}, [el("span", {className: "badge v-" + c.category, textContent: data.labels[c.category]})]),
      el("td", {}, [valueNode(c.in_before ? c.before : undefined, c.after, "(not observed)")]),
      el("td", {}, [valueNode(c.in_after ? c.after : undefined, c.before, "(not observed)")]),
      el("td", {className: "note"}, c.reason ? [c.reason, c.link ? " " : "", c.link ? el("a", {href: c.link, textContent: "link"}) : ""]
        : [c.category.startsWith("accepted") ? "stated by the table" : "not stated: decide"]),
    ]);
  }
  function render() {
    main.textContent = "";
    const q = state.query.trim().toLowerCase();
    let count = 0;
    for (const family of data.families) {
      if (state.family && family !== state.family) continue;
      const probes = data.changed.filter(p => p.family === family && (!q || text(p).includes(q)))
        .map(p => ({...p, changes: p.changes.filter(c => state.categories.has(c.category))}))
        .filter(p => p.changes.length);
      const added = state.categories.has("added") ? data.added.filter(p => p.family === family && (!q || text(p).includes(q))) : [];
      const removed = state.categories.has("removed") ? data.removed.filter(p => p.family === family && (!q || text(p).includes(q))) : [];
      if (!probes.length && !added.length && !removed.length) continue;
      count += probes.length + added.length + removed.length;
      const table = el("table", {className: "facts"}, [el("tr", {}, ["fact", "change", "before", "after", "why"]
        .map(h => el("th", {textContent: h})))]);
      for (const p of probes) {
        table.append(el("tr", {}, [el("td", {colSpan: 5}, [
          el("code", {textContent: p.id}),
          el("span", {className: "gist", textContent: p.verdict_before + " → " + p.verdict_after})])]));
        for (const c of p.changes) table.append(changeRow(p, c));
      }
      const section = el("details", {className: "family", open: true, dataset: {family}}, [
        el("summary", {textContent: family + " "}, [
          probes.length ? el("span", {className: "badge", textContent: probes.length + " changed"}) : null,
          added.length ? el("span", {className: "badge v-added", textContent: added.length + " added"}) : null,
          removed.length ? el("span", {className: "badge v-removed", textContent: removed.length + " removed"}) : null]),
        probes.length ? table : null,
        ...[["added", added], ["removed", removed]].filter(([, list]) => list.length).map(([what, list]) =>
          el("ul", {className: "probes " + what}, list.map(p => el("li", {}, [
            el("span", {className: "badge v-" + what, textContent: what}), " ", el("code", {textContent: p.id}),
            el("span", {className: "gist", textContent: p.verdict})])))),
      ]);
      main.append(section);
    }
    shown.textContent = count + " probes shown";
    for (const b of buttons) b.setAttribute("aria-pressed", String(state.categories.has(b.dataset.category)));
  }
  function save() {
    writeHash({c: state.categories.size === all.length ? "" : Array.from(state.categories).join(","),
               f: state.family, q: state.query});
  }
  function load() {
    const h = readHash();
    state.categories = new Set(h.c ? h.c.split(",").filter(c => all.includes(c)) : all);
    if (!state.categories.size) state.categories = new Set(all);
    state.family = h.f || "";
    state.query = h.q || "";
    familySelect.value = state.family;
    search.value = state.query;
    render();
  }
  for (const b of buttons) b.addEventListener("click", () => {
    if (state.categories.has(b.dataset.category)) state.categories.delete(b.dataset.category);
    else state.categories.add(b.dataset.category);
    save(); render();
  });
  familySelect.addEventListener("change", () => { state.family = familySelect.value; save(); render(); });
  let pending = null;
  search.addEventListener("input", () => {
    clearTimeout(pending);
    pending = setTimeout(() => { state.query = search.value; save(); render(); }, 150);
  });
  window.addEventListener("hashchange", load);
  load();
})();
