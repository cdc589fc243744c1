"use strict";
/* Shared by the report and the diff page: building DOM from report data (always as text, never as HTML),
   showing fact values with the differing tensor elements marked, and keeping the view's state in the URL. */
const AC = (function () {
  function el(tag, props, children) {
    const node = document.createElement(tag);
    if (props) for (const [k, v] of Object.entries(props)) {
      if (k === "dataset") Object.assign(node.dataset, v); else node[k] = v;
    }
    for (const child of children || []) if (child !== null && child !== undefined) node.append(child);
    return node;
  }
  function isTensor(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v) && "dtype" in v && "shape" in v;
  }
  function flat(values, depth, index, out) {
    out = out || [];
    if (depth === 0 || !Array.isArray(values)) { out.push([index || [], values]); return out; }
    values.forEach((v, i) => flat(v, depth - 1, (index || []).concat([i]), out));
    return out;
  }
  /* As the harness compares (verdict.equal): non-finite values are the strings "nan", "inf", "-inf". */
  function close(a, b, rtol, atol) {
    if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => close(x, b[i], rtol, atol));
    if (typeof a !== "number" || typeof b !== "number") return a === b;
    return a === b || Math.abs(a - b) <= atol + rtol * Math.abs(a);
  }
  /* The element indexes where a tensor differs from the other side (same shape only), as "i,j" strings. */
  function hotIndexes(value, other) {
    if (!isTensor(value) || !isTensor(other) || JSON.stringify(value.shape) !== JSON.stringify(other.shape)
        || !("values" in value) || !("values" in other)) return new Set();
    const rtol = "rtol" in other ? other.rtol : ("rtol" in value ? value.rtol : 1e-5);
    const atol = "atol" in other ? other.atol : ("atol" in value ? value.atol : 1e-8);
    const a = flat(value.values, value.shape.length), b = flat(other.values, other.shape.length);
    const hot = new Set();
    a.forEach(([index, v], k) => { if (!close(b[k][1], v, rtol, atol)) hot.add(index.join(",")); });
    return hot;
  }
  /* Values as a Python reader writes them: None, True, False; strings as their text. */
  function scalar(v) {
    if (v === null) return "None";
    if (typeof v === "boolean") return v ? "True" : "False";
    if (typeof v === "string") return v;
    return JSON.stringify(v, (k, x) => x === null ? "None" : x).replace(/"None"/g, "None")
      .replace(/\btrue\b/g, "True").replace(/\bfalse\b/g, "False");
  }
  function tensorNode(value, other) {
    const hot = hotIndexes(value, other);
    const dims = value.shape.length ? "[" + value.shape.join(", ") + "]" : "scalar";
    const head = el("div", {className: "tensor-head", textContent: value.dtype.replace("torch.", "") + " " + dims +
      ("rtol" in value || "atol" in value ? "  (rtol " + (value.rtol ?? 1e-5) + ", atol " + (value.atol ?? 1e-8) + ")" : "") +
      (hot.size ? "  · " + hot.size + " element" + (hot.size > 1 ? "s" : "") + " differ" : "")});
    if (!("values" in value)) return el("div", {}, [head, el("span", {className: "note", textContent: "(values not stated)"})]);
    const pairs = flat(value.values, value.shape.length);
    const cell = ([index, v]) => el("td", {className: hot.has(index.join(",")) ? "hot" : "",
                                          title: "[" + index.join(", ") + "]", textContent: scalar(v)});
    let table;
    if (value.shape.length === 2 && pairs.length <= 400) {
      table = el("table", {className: "tensor"}, value.values.map((row, i) =>
        el("tr", {}, row.map((v, j) => cell([[i, j], v])))));
    } else if (pairs.length <= 400) {
      table = el("table", {className: "tensor"}, [el("tr", {}, pairs.map(cell))]);
    } else {
      const shown = pairs.filter(([index]) => hot.has(index.join(","))).slice(0, 50);
      table = el("div", {}, [el("span", {className: "note", textContent: pairs.length + " elements; differing ones:"}),
        el("table", {className: "tensor"}, shown.map(p => el("tr", {}, [
          el("td", {textContent: "[" + p[0].join(", ") + "]"}), cell(p)])))]);
    }
    return el("div", {}, [head, table]);
  }
  /* A fact value as DOM: tensors as element grids (elements that differ from `other` marked), strings as
     text with their real line breaks, a missing side as a note. */
  function valueNode(value, other, missing) {
    if (value === undefined) return el("span", {className: "note", textContent: missing || "—"});
    if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && "match" in value)
      return el("span", {textContent: "/" + value.match + "/  (regex)"});
    if (isTensor(value)) return tensorNode(value, other);
    if (value !== null && typeof value === "object" && !Array.isArray(value) && JSON.stringify(value) === '{"absent":true}')
      return el("span", {className: "note", textContent: "(absent)"});
    if (Array.isArray(value) && value.every(v => typeof v === "string"))
      return el("div", {}, value.map(v => el("div", {textContent: "• " + v})));
    return document.createTextNode(scalar(value));
  }
  /* The view's state in the URL fragment: #v=mismatch,drift&f=leaf&q=text&p=probe-id */
  function readHash() {
    const state = {};
    for (const part of location.hash.replace(/^#/, "").split("&")) {
      if (!part) continue;
      const [k, v] = part.split("=");
      state[decodeURIComponent(k)] = decodeURIComponent(v || "");
    }
    return state;
  }
  function writeHash(state) {
    const parts = Object.entries(state).filter(([, v]) => v !== undefined && v !== null && v !== "")
      .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v).replace(/%2C/g, ","));
    history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname + location.search);
  }
  return {el, valueNode, readHash, writeHash, isTensor};
})();
