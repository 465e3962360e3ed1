/* The convlab explorer: nn.Conv2d, nn.MaxPool2d and nn.ConvTranspose2d arithmetic
 * to play with in a static page. Plain JavaScript and SVG: no framework, no kernel,
 * nothing fetched from anywhere.
 *
 * The book adds this file (and explorer.css) to its pages through html_js_files
 * and html_css_files in _config.yml. It mounts every
 *     <div class="convlab-explorer" data-config='{"kind": "conv", ...}'>
 * on the page: convlab.explorer.embed(...) writes those in a notebook's output,
 * book/explorer.md holds one by hand. In Jupyter, embed(..., inline=True) carries
 * this file inline instead.
 *
 * window.convlabExplorer.outputShape(config) is the arithmetic, the same rules as
 * convlab.arithmetic: it returns [oh, ow] or throws an Error whose message says why
 * torch refuses ("problem\n  Fix: fix"). tests/site/test_explorer.py compares it
 * with torch on thousands of configurations.
 */
(function () {
  "use strict";
  if (window.convlabExplorer) {
    // A second copy (inline in a notebook, on a page that loads this file too).
    window.convlabExplorer.mountAll();
    return;
  }

  // ------------------------------------------------------------------ the arithmetic

  const LIMIT = 10000000; // the largest number outputShape computes with
  const KINDS = ["conv", "pool", "transposed"];
  const LAYER = { conv: "nn.Conv2d", pool: "nn.MaxPool2d", transposed: "nn.ConvTranspose2d" };
  const ARG = {
    input: "input",
    kernel: "kernel_size",
    stride: "stride",
    padding: "padding",
    dilation: "dilation",
    output_padding: "output_padding",
  };
  const ONE = {
    input: "a single pixel",
    kernel: "the smallest size",
    stride: "move one pixel at a time",
    dilation: "no gaps between kernel taps",
  };

  function refuse(problem, fix) {
    const error = new Error(problem + "\n  Fix: " + fix);
    error.name = "ConvlabError";
    error.problem = problem;
    error.fix = fix;
    return error;
  }

  const size = (v) => v[0] + "×" + v[1];
  const tuple = (v) => "(" + v.join(", ") + ")";
  const floorDiv = (a, b) => (a - (((a % b) + b) % b)) / b;
  const ceilDiv = (a, b) => -floorDiv(-a, b);
  const big = (n) => n.toLocaleString("en").replace(/,/g, " ");

  function repr(value) {
    if (typeof value === "string") return JSON.stringify(value);
    try {
      const text = JSON.stringify(value);
      return text === undefined ? String(value) : text;
    } catch (e) {
      return String(value);
    }
  }

  function whole(x, name, raw) {
    if (typeof x !== "number" || !Number.isInteger(x)) {
      throw refuse(
        `${name} must be a whole number, got ${repr(raw)}.`,
        `give a whole number such as ${name}=3.`
      );
    }
    if (Math.abs(x) > LIMIT) {
      throw refuse(
        `${name}=${repr(raw)} is more than the explorer computes with (at most ${big(LIMIT)}).`,
        `use numbers up to ${big(LIMIT)}.`
      );
    }
    return x;
  }

  function pair(raw, key, fallback) {
    const name = ARG[key];
    if (raw === undefined || raw === null) {
      if (fallback) return fallback.slice();
      throw refuse(`${name} is missing from the config.`, `give ${key}: [h, w], for example ${key}: [3, 3].`);
    }
    let v = Array.isArray(raw) ? raw.slice() : [raw, raw];
    if (v.length === 1) v = [v[0], v[0]];
    if (v.length !== 2) {
      throw refuse(
        `${name} must be a number or an [h, w] pair, got ${repr(raw)} with ${v.length} entries.`,
        `give one number for both sides, or exactly two: ${key}: [h, w].`
      );
    }
    v.forEach((x) => whole(x, name, raw));
    return v;
  }

  /** The config with every default filled in; throws on anything that is not a whole number. */
  function normalize(raw) {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      throw refuse(
        `outputShape needs a config object, got ${repr(raw)}.`,
        'pass e.g. {kind: "conv", input: [5, 5], kernel: [3, 3]}.'
      );
    }
    const kind = raw.kind === undefined ? "conv" : raw.kind;
    if (!KINDS.includes(kind)) {
      throw refuse(
        `kind must be "conv", "pool" or "transposed", got ${repr(kind)}.`,
        'use "conv" (nn.Conv2d), "pool" (nn.MaxPool2d) or "transposed" (nn.ConvTranspose2d).'
      );
    }
    const c = { kind };
    c.input = pair(raw.input, "input");
    c.kernel = pair(raw.kernel, "kernel");
    c.stride = pair(raw.stride, "stride", kind === "pool" ? c.kernel : [1, 1]);
    c.padding = pair(raw.padding, "padding", [0, 0]);
    c.dilation = pair(raw.dilation, "dilation", [1, 1]);
    c.output_padding = pair(raw.output_padding, "output_padding", [0, 0]);
    for (const key of ["groups", "in_channels", "out_channels"]) {
      c[key] = raw[key] === undefined || raw[key] === null ? 1 : whole(raw[key], key, raw[key]);
    }
    if (raw.ceil_mode !== undefined && raw.ceil_mode !== null && typeof raw.ceil_mode !== "boolean") {
      throw refuse(`ceil_mode must be true or false, got ${repr(raw.ceil_mode)}.`, "pass ceil_mode: true or false.");
    }
    c.ceil_mode = raw.ceil_mode === true;
    return c;
  }

  function positive(c, key) {
    const v = c[key];
    if (Math.min(v[0], v[1]) > 0) return;
    const name = ARG[key];
    const negative = Math.min(v[0], v[1]) < 0 ? ", which is negative" : "";
    throw refuse(
      `${name} must be at least 1 in each dimension, got ${name}=${tuple(v)}${negative}.`,
      `use a positive ${name}; 1 means ${ONE[key]}.`
    );
  }

  function nonnegative(c, key) {
    const v = c[key];
    if (Math.min(v[0], v[1]) >= 0) return;
    throw refuse(
      `${key} must be 0 or more in each dimension, got ${key}=${tuple(v)}, which is negative; ` +
        "PyTorch does not support negative padding.",
      key === "padding"
        ? "use padding=0 or more, or crop the input first (x[..., a:-a, b:-b])."
        : "use output_padding=0 or more."
    );
  }

  function divisors(a, b) {
    let g = a;
    for (let r = b; r; ) [g, r] = [r, g % r];
    const found = [];
    for (let d = 1; d <= g; d++) if (g % d === 0) found.push(d);
    return found;
  }

  function channels(c) {
    for (const key of ["in_channels", "out_channels", "groups"]) {
      if (c[key] < 1) throw refuse(`${key} must be at least 1, got ${c[key]}.`, `use a positive ${key}.`);
    }
    for (const key of ["in_channels", "out_channels"]) {
      if (c[key] % c.groups) {
        throw refuse(
          `groups=${c.groups} must divide ${key}=${c[key]}: each group takes ${key}/groups ` +
            `channels, and ${c[key]}/${c.groups} is not whole.`,
          `use groups among the common divisors of in_channels=${c.in_channels} and ` +
            `out_channels=${c.out_channels}: [${divisors(c.in_channels, c.out_channels).join(", ")}].`
        );
      }
    }
  }

  function convSizes(c, dims) {
    const padded = dims.map((d) => d.i + 2 * d.p);
    if (dims.some((d, j) => padded[j] < d.span)) {
      const needed = dims.map((d) => Math.max(0, Math.ceil((d.span - d.i) / 2)));
      throw refuse(
        `The kernel does not fit: the input is ${size(c.input)}, padded to ${size(padded)} ` +
          `(padding ${size(c.padding)} per side), but kernel_size ${size(c.kernel)} with dilation ` +
          `${size(c.dilation)} spans ${size(dims.map((d) => d.span))} (k + (k - 1)(d - 1)).`,
        `use a kernel of at most ${size(padded)}, less dilation, or padding of at least ` +
          `${size(needed)} per side.`
      );
    }
    dims.forEach((d) => {
      d.num = d.i + 2 * d.p - d.span;
      d.o = floorDiv(d.num, d.s) + 1;
    });
  }

  function poolSizes(c, dims) {
    const most = dims.map((d) => Math.floor(d.k / 2));
    if (dims.some((d, j) => d.p > most[j])) {
      throw refuse(
        `Pooling padding must be at most half the kernel size: got padding ${size(c.padding)} ` +
          `with kernel_size ${size(c.kernel)} (at most ${size(most)}).`,
        "use less padding or a larger kernel; a window made mostly of padding pools nothing."
      );
    }
    dims.forEach((d) => {
      d.num = d.i + 2 * d.p - d.span;
      d.o = (c.ceil_mode ? ceilDiv(d.num, d.s) : floorDiv(d.num, d.s)) + 1;
      d.rounded = d.o;
      if (c.ceil_mode && (d.o - 1) * d.s >= d.i + d.p) {
        d.o -= 1; // the last window would start in the right-hand padding
        d.dropped = true;
      }
    });
    if (dims.some((d) => d.o < 1)) {
      throw refuse(
        `Pooling leaves nothing: the input is ${size(c.input)}, padding ${size(c.padding)} per side, ` +
          `but the window spans ${size(dims.map((d) => d.span))}, so the output would be ` +
          `${size(dims.map((d) => d.o))}.`,
        "use a smaller kernel or dilation, more padding (up to half the kernel)" +
          (c.ceil_mode ? "." : ", or ceil_mode=True (which keeps a partial window).")
      );
    }
  }

  function transposedSizes(c, dims) {
    const most = dims.map((d) => Math.max(d.s, d.d) - 1);
    if (dims.some((d, j) => d.a > most[j])) {
      throw refuse(
        `output_padding must be smaller than stride or dilation: got output_padding ` +
          `${size(c.output_padding)}, stride ${size(c.stride)}, dilation ${size(c.dilation)}.`,
        "output_padding only picks among the input sizes a strided conv maps to one size; " +
          `use at most ${size(most)}.`
      );
    }
    dims.forEach((d) => {
      d.full = (d.i - 1) * d.s + d.span; // every stamp, before padding crops it
      d.o = d.full - 2 * d.p + d.a;
    });
    if (dims.some((d) => d.o < 1)) {
      throw refuse(
        `The transposed convolution's output would be ${size(dims.map((d) => d.o))}: padding ` +
          `${size(c.padding)} crops more than the ${size(dims.map((d) => d.full + d.a))} it produces.`,
        "use less padding, a larger kernel or a larger stride."
      );
    }
  }

  /** Sizes per dimension of a normalized config, or a ConvlabError as torch would refuse it. */
  function compute(c) {
    positive(c, "input");
    positive(c, "kernel");
    positive(c, "stride");
    nonnegative(c, "padding");
    positive(c, "dilation");
    if (c.kind === "transposed") nonnegative(c, "output_padding");
    if (c.kind !== "pool") channels(c);
    const dims = [0, 1].map((j) => ({
      i: c.input[j],
      k: c.kernel[j],
      s: c.stride[j],
      p: c.padding[j],
      d: c.dilation[j],
      a: c.output_padding[j],
      span: c.dilation[j] * (c.kernel[j] - 1) + 1,
    }));
    ({ conv: convSizes, pool: poolSizes, transposed: transposedSizes })[c.kind](c, dims);
    return { config: c, dims, output: dims.map((d) => d.o) };
  }

  function outputShape(config) {
    return compute(normalize(config)).output;
  }

  /** The formula for one dimension, with its numbers filled in. */
  function formula(kind, d, ceil) {
    if (kind === "transposed") {
      return (
        "o = (i − 1)·s − 2p + d·(k − 1) + output_padding + 1 = " +
        `(${d.i} − 1)·${d.s} − 2·${d.p} + ${d.d}·(${d.k} − 1) + ${d.a} + 1 = ${d.o}`
      );
    }
    const [l, r] = ceil ? ["⌈", "⌉"] : ["⌊", "⌋"];
    let text =
      `o = ${l}(i + 2p − d·(k − 1) − 1) / s${r} + 1 = ` +
      `${l}(${d.i} + 2·${d.p} − ${d.d}·(${d.k} − 1) − 1) / ${d.s}${r} + 1 = ` +
      `${l}${d.num} / ${d.s}${r} + 1 = ${ceil ? d.rounded : d.o}`;
    if (d.dropped) {
      text +=
        `; window ${d.rounded} would start at (o − 1)·s = ${(d.rounded - 1) * d.s} ≥ i + p = ` +
        `${d.i + d.p}, in the right-hand padding, so torch drops it: o = ${d.o}`;
    }
    return text;
  }

  // ------------------------------------------------------------------ the page

  const SVG = "http" + "://www.w3.org/2000/svg"; // a namespace name, never fetched
  const DRAW = 64; // cells per side drawn one by one; larger grids are drawn to scale
  const FIT = 300; // px: the widest a grid is drawn (fits a 390 px phone)
  const FIELDS = [
    { key: "input", label: "input", pair: true, kinds: "conv pool transposed", max: 100000 },
    { key: "kernel", label: "kernel_size", pair: true, kinds: "conv pool transposed", max: 100000 },
    { key: "stride", label: "stride", pair: true, kinds: "conv pool transposed", max: 100000 },
    { key: "padding", label: "padding", pair: true, kinds: "conv pool transposed", max: 100000 },
    { key: "dilation", label: "dilation", pair: true, kinds: "conv pool transposed", max: 100000 },
    { key: "output_padding", label: "output_padding", pair: true, kinds: "transposed", max: 100000 },
    { key: "ceil_mode", label: "ceil_mode", check: true, kinds: "pool" },
    { key: "in_channels", label: "in_channels", kinds: "conv transposed", max: 4096 },
    { key: "out_channels", label: "out_channels", kinds: "conv transposed", max: 4096 },
    { key: "groups", label: "groups", kinds: "conv transposed", max: 4096 },
  ];
  const DEFAULTS = {
    input: [5, 5],
    kernel: [3, 3],
    stride: [1, 1],
    padding: [0, 0],
    dilation: [1, 1],
    output_padding: [0, 0],
    groups: 1,
    in_channels: 1,
    out_channels: 1,
    ceil_mode: false,
  };
  const KIND_TEXT = {
    conv: "convolution (nn.Conv2d)",
    pool: "max pooling (nn.MaxPool2d)",
    transposed: "transposed convolution (nn.ConvTranspose2d)",
  };
  let counter = 0;

  function html(tag, attrs, parent, text) {
    const node = document.createElement(tag);
    for (const name in attrs || {}) node.setAttribute(name, attrs[name]);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function svg(tag, attrs, parent, text) {
    const node = document.createElementNS(SVG, tag);
    for (const name in attrs || {}) node.setAttribute(name, attrs[name]);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  /** "0, 2, 4" or, for long lists, "0, 2, …, 18" */
  function list(values) {
    if (values.length <= 6) return values.join(", ");
    return values.slice(0, 3).join(", ") + ", …, " + values[values.length - 1];
  }

  const range = (n, f) => Array.from({ length: n }, (_, j) => f(j));
  const clampInt = (n, lo, hi) => Math.min(hi, Math.max(lo, n));

  /** A grid of cells: rows r0..r0+rows-1, cols c0..c0+cols-1, each cell px wide (drawn to scale when large). */
  function view(rows, cols, r0, c0) {
    const summary = rows > DRAW || cols > DRAW;
    const cell = summary ? Math.min(FIT / cols, 180 / rows) : clampInt(Math.floor(FIT / Math.max(rows, cols)), 8, 28);
    return { rows, cols, r0, c0, cell, summary, width: Math.max(cols * cell, 24), height: Math.max(rows * cell, 24) };
  }

  function box(v, r, c, h, w, attrs, parent) {
    const x = (c - v.c0) * v.cell;
    const y = (r - v.r0) * v.cell;
    const min = v.summary ? 2 : 0;
    return svg(
      "rect",
      Object.assign(
        { x: x.toFixed(2), y: y.toFixed(2), width: Math.max(w * v.cell, min).toFixed(2), height: Math.max(h * v.cell, min).toFixed(2) },
        attrs
      ),
      parent
    );
  }

  class Explorer {
    constructor(root, preset) {
      this.root = root;
      this.id = "cx" + ++counter;
      this.kind = "conv";
      this.chooseKind = preset.choose_kind === true;
      this.cases = Array.isArray(preset.cases) ? preset.cases.filter((c) => c && typeof c === "object") : [];
      this.values = {};
      this.apply(preset);
      this.problems = {};
      this.step = 0;
      this.pick = null; // transposed: the output cell clicked, [r, c]
      this.channel = { row: "out", index: 0 };
      this.timer = null;
      this.build(preset.title);
      this.update();
    }

    /** Take the settings of a preset or a case (torch's defaults for the rest). */
    apply(settings) {
      if (KINDS.includes(settings.kind)) this.kind = settings.kind;
      for (const f of FIELDS) {
        let v = settings[f.key] === undefined ? DEFAULTS[f.key] : settings[f.key];
        if (f.key === "stride" && settings.stride === undefined && this.kind === "pool") {
          v = settings.kernel === undefined ? DEFAULTS.kernel : settings.kernel; // torch: stride=None means the kernel
        }
        if (f.pair && !Array.isArray(v)) v = [v, v];
        this.values[f.key] = f.pair ? [v[0], v.length > 1 ? v[1] : v[0]] : v;
      }
    }

    /** Show the current values in the controls. */
    sync() {
      for (const input of this.root.querySelectorAll(".cx-num")) {
        const [key, dim] = input.dataset.key.split("-");
        const value = dim ? this.values[key][dim === "h" ? 0 : 1] : this.values[key];
        input.value = String(value);
        input.removeAttribute("aria-invalid");
      }
      this.root.querySelector(".cx-check").checked = this.values.ceil_mode === true;
      if (this.kindSelect) this.kindSelect.value = this.kind;
      else this.kindText.textContent = KIND_TEXT[this.kind];
    }

    // ---------------------------------------------------------------- controls

    build(title) {
      const root = this.root;
      root.textContent = "";
      root.classList.add("cx");
      root.setAttribute("role", "group");
      root.setAttribute("aria-label", title || "Convolution explorer");
      if (title) html("p", { class: "cx-title" }, root, title);
      const controls = html("div", { class: "cx-controls" }, root);
      if (this.chooseKind) {
        const label = html("label", { class: "cx-kind" }, controls, "layer ");
        const select = html("select", { "aria-label": "layer" }, label);
        for (const kind of KINDS) html("option", { value: kind }, select, KIND_TEXT[kind]);
        select.value = this.kind;
        this.kindSelect = select;
        select.addEventListener("change", () => {
          this.kind = select.value;
          this.step = 0;
          this.pick = null;
          this.update();
        });
      } else {
        this.kindText = html("p", { class: "cx-kind" }, controls, KIND_TEXT[this.kind]);
      }
      if (this.cases.length) {
        const label = html("label", { class: "cx-case" }, controls, "start from ");
        const select = html("select", { "aria-label": "start from" }, label);
        html("option", { value: "" }, select, "(pick a case)");
        this.cases.forEach((c, j) => html("option", { value: String(j) }, select, String(c.name || `case ${j + 1}`)));
        select.addEventListener("change", () => {
          if (select.value === "") return;
          this.stop();
          this.apply(this.cases[Number(select.value)]);
          this.problems = {};
          this.note.textContent = "";
          this.step = 0;
          this.pick = null;
          this.sync();
          this.update();
        });
      }
      html("p", { class: "cx-head" }, controls, "Sizes are height × width.");
      const grid = html("div", { class: "cx-fields" }, controls);
      this.rows = {};
      for (const f of FIELDS) this.rows[f.key] = this.field(grid, f);
      this.note = html("p", { class: "cx-note", "aria-live": "polite" }, controls);
      this.explain = html("div", { class: "cx-explain", "aria-live": "polite" }, root);
      this.formula = html("div", { class: "cx-formula", "aria-live": "polite" }, root);
      const player = html("div", { class: "cx-player", role: "group", "aria-label": "step the window" }, root);
      this.buttons = {};
      for (const [name, text, label] of [
        ["first", "« Start", "first position"],
        ["back", "‹ Back", "step back"],
        ["play", "▶ Play", "play"],
        ["next", "Step ›", "step forward"],
      ]) {
        const button = html("button", { type: "button", class: "cx-" + name, "aria-label": label }, player, text);
        button.addEventListener("click", () => this.press(name));
        this.buttons[name] = button;
      }
      this.status = html("p", { class: "cx-status", "aria-live": "polite" }, root);
      this.figs = html("div", { class: "cx-figs" }, root);
      this.help = html("p", { class: "cx-help" }, root);
    }

    field(grid, f) {
      const row = html("div", { class: "cx-row" }, grid);
      const id = `${this.id}-${f.key}`;
      html("label", { class: "cx-name", for: id + (f.pair ? "-h" : "") }, row, f.label);
      if (f.check) {
        const input = html("input", { type: "checkbox", id, class: "cx-check" }, row);
        input.checked = this.values.ceil_mode === true;
        input.addEventListener("change", () => {
          this.values.ceil_mode = input.checked;
          this.update();
        });
        html("label", { for: id, class: "cx-checktext" }, row, "round the output size up");
        return row;
      }
      const parts = f.pair ? [["h", "height", 0], ["w", "width", 1]] : [["v", "", null]];
      for (const [suffix, dim, j] of parts) {
        const input = html("input", {
          type: "text",
          inputmode: "numeric",
          autocomplete: "off",
          spellcheck: "false",
          id: f.pair ? `${id}-${suffix}` : id,
          class: "cx-num",
          "aria-label": f.pair ? `${f.label} ${dim}` : f.label,
          "data-key": f.key + (f.pair ? "-" + suffix : ""),
        }, row);
        if (j === 1) row.insertBefore(html("span", { class: "cx-times", "aria-hidden": "true" }, null, "×"), input);
        const value = j === null ? this.values[f.key] : this.values[f.key][j];
        input.value = String(value);
        input.addEventListener("input", () => this.typed(f, j, input, false));
        input.addEventListener("change", () => this.typed(f, j, input, true));
        input.addEventListener("keydown", (event) => {
          if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
          event.preventDefault();
          const now = /^\s*[+-]?\d+\s*$/.test(input.value) ? parseInt(input.value, 10) : 0;
          input.value = String(now + (event.key === "ArrowUp" ? 1 : -1) * (event.shiftKey ? 10 : 1));
          this.typed(f, j, input, true);
        });
      }
      return row;
    }

    /** A control changed: a whole number is used (clamped to the explorer's range), anything else explained. */
    typed(f, j, input, done) {
      const where = f.label + (j === null ? "" : j ? " width" : " height");
      const key = input.dataset.key;
      const text = input.value.trim();
      delete this.problems[key];
      this.note.textContent = "";
      input.removeAttribute("aria-invalid");
      if (!/^[+-]?\d+$/.test(text)) {
        const problem = refuse(
          `${where}: ${text === "" ? "the box is empty" : repr(text.slice(0, 24)) + " is not a whole number"}.`,
          "type a whole number such as 3 (the picture shows the last one that was)."
        );
        problem.typed = true;
        this.problems[key] = problem;
        input.setAttribute("aria-invalid", "true");
        this.update();
        return;
      }
      let n = parseInt(text, 10);
      if (Math.abs(n) > f.max) {
        n = Math.sign(n) * f.max;
        this.note.textContent = `${where}: ${text.length > 12 ? text.slice(0, 12) + "…" : text} is more than the explorer takes; clamped to ${n}.`;
        if (done || text.length > 9) input.value = String(n);
      } else if (done) {
        input.value = String(n);
      }
      if (j === null) this.values[f.key] = n;
      else this.values[f.key][j] = n;
      this.update();
    }

    press(name) {
      const total = this.steps();
      if (name === "play") {
        if (this.timer) return this.stop();
        if (total && this.step >= total - 1) this.step = 0;
        this.status.setAttribute("aria-live", "off"); // no running commentary while it plays
        this.buttons.play.textContent = "❚❚ Pause";
        this.buttons.play.setAttribute("aria-label", "pause");
        this.timer = setInterval(() => {
          if (!this.steps() || this.step >= this.steps() - 1) return this.stop();
          this.go(this.step + 1);
        }, 700);
        return this.select();
      }
      this.stop();
      if (name === "first") this.go(0);
      if (name === "back") this.go(this.step - 1);
      if (name === "next") this.go(this.step + 1);
    }

    stop() {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      this.status.setAttribute("aria-live", "polite");
      this.buttons.play.textContent = "▶ Play";
      this.buttons.play.setAttribute("aria-label", "play");
    }

    go(step) {
      const total = this.steps();
      if (!total) return;
      this.step = clampInt(step, 0, total - 1);
      this.pick = null;
      this.select();
    }

    /** How many window positions (output cells; input cells of a transposed convolution). */
    steps() {
      if (!this.result) return 0;
      const d = this.result.dims;
      return this.kind === "transposed" ? d[0].i * d[1].i : d[0].o * d[1].o;
    }

    stepCell() {
      const cols = this.kind === "transposed" ? this.result.dims[1].i : this.result.dims[1].o;
      return [Math.floor(this.step / cols), this.step % cols];
    }

    // ---------------------------------------------------------------- state

    config() {
      const c = { kind: this.kind };
      for (const f of FIELDS) c[f.key] = f.pair ? this.values[f.key].slice() : this.values[f.key];
      return c;
    }

    update() {
      for (const f of FIELDS) {
        const shown = f.kinds.split(" ").includes(this.kind);
        this.rows[f.key].hidden = !shown;
      }
      const problem = Object.keys(this.problems)
        .filter((key) => !this.rows[key.split("-")[0]].hidden)
        .map((key) => this.problems[key])[0];
      let error = problem || null;
      let result = null;
      if (!problem) {
        try {
          result = compute(normalize(this.config()));
        } catch (e) {
          error = e;
        }
      }
      this.root.classList.toggle("cx-stale", Boolean(problem));
      if (problem && this.result && this.result.config.kind === this.kind) {
        result = null; // keep drawing the last good picture, faded
      } else {
        this.result = result;
      }
      this.showError(error);
      if (!this.result) this.stop();
      const total = this.steps();
      if (total) this.step = clampInt(this.step, 0, total - 1);
      this.draw();
      this.select();
    }

    showError(error) {
      const box = this.explain;
      box.textContent = "";
      box.hidden = !error;
      if (!error) return;
      const lead = error.typed ? "" : "torch refuses this: ";
      html("p", { class: "cx-problem" }, box, lead + (error.problem || error.message));
      const fix = html("p", { class: "cx-fix" }, box);
      html("strong", {}, fix, "Fix: ");
      fix.appendChild(document.createTextNode(error.fix || ""));
      box.dataset.message = error.message;
    }

    // ---------------------------------------------------------------- drawing

    draw() {
      this.figs.textContent = "";
      this.formula.textContent = "";
      const r = this.result;
      const valid = Boolean(r);
      this.player(valid);
      if (!valid) {
        this.drawInvalid();
        return;
      }
      const dims = r.dims;
      const c = r.config;
      const lines = dims.map((d) => formula(c.kind, d, c.ceil_mode));
      const named = lines[0] === lines[1] ? [["height and width", lines[0]]] : [["height", lines[0]], ["width", lines[1]]];
      for (const [name, text] of named) {
        const line = html("p", { class: "cx-line" }, this.formula);
        html("span", { class: "cx-dim" }, line, name + ": ");
        html("code", {}, line, text);
      }
      const shape =
        c.kind === "pool"
          ? `output ${size(r.output)} per channel (pooling keeps the channel count)`
          : `output ${size(r.output)} × ${c.out_channels} channel${c.out_channels === 1 ? "" : "s"}: ` +
            `shape (N, ${c.out_channels}, ${r.output[0]}, ${r.output[1]})`;
      html("p", { class: "cx-shape" }, this.formula, shape);
      const [kh, kw] = c.kernel;
      const weight =
        c.kind === "conv"
          ? ["(out_channels, in_channels/groups, kH, kW)", [c.out_channels, c.in_channels / c.groups, kh, kw]]
          : c.kind === "transposed"
            ? ["(in_channels, out_channels/groups, kH, kW)", [c.in_channels, c.out_channels / c.groups, kh, kw]]
            : null;
      html("p", { class: "cx-weight" }, this.formula, weight
        ? `weight ${weight[0]} = ${tuple(weight[1])}: ${big(weight[1].reduce((a, b) => a * b, 1))} numbers`
        : "no weights: each window keeps its largest tap");
      if (c.kind === "transposed") this.drawTransposed(dims, c);
      else this.drawSliding(dims, c);
      this.drawKernel(dims, c);
      if (c.kind !== "pool" && (c.in_channels > 1 || c.out_channels > 1)) this.drawChannels(c);
      this.help.textContent =
        c.kind === "transposed"
          ? "Click an input cell to see where its stamp lands, or an output cell to see which input cells " +
            "stamp on it. With a grid focused, the arrow keys move the selection."
          : "Click an output cell to see the input taps that produce it. With the output grid focused, " +
            "the arrow keys (and Home, End) move the window.";
    }

    player(valid) {
      for (const name in this.buttons) this.buttons[name].disabled = !valid;
    }

    drawInvalid() {
      // Still draw what can be drawn: the input with its padding, and say there is no output.
      const c = this.config();
      const ok = (v, lo) => Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= lo);
      if (ok(c.input, 1) && ok(c.padding, 0) && c.kind !== "transposed") {
        const v = view(c.input[0] + 2 * c.padding[0], c.input[1] + 2 * c.padding[1], -c.padding[0], -c.padding[1]);
        const padded = c.padding[0] || c.padding[1] ? `, padding ${size(c.padding)} per side` : "";
        const fig = this.figure("input", `input ${size(c.input)}${padded}`, v, false);
        this.base(fig.svg, v, c.input);
      } else if (ok(c.input, 1)) {
        const v = view(c.input[0], c.input[1], 0, 0);
        const fig = this.figure("input", `input ${size(c.input)}`, v, false);
        this.base(fig.svg, v, c.input);
      }
      const out = html("figure", { class: "cx-fig cx-none" }, this.figs);
      html("figcaption", {}, out, "output");
      html("p", { class: "cx-noout" }, out, "No output: torch refuses these settings (see above).");
      this.help.textContent = "";
    }

    /** A figure with one SVG grid; focusable grids take the arrow keys. */
    figure(role, caption, v, focusable, label) {
      const fig = html("figure", { class: "cx-fig cx-" + role }, this.figs);
      html("figcaption", {}, fig, caption);
      const attrs = {
        class: "cx-grid" + (v.summary ? " cx-summary" : ""),
        viewBox: `-1 -1 ${(v.width + 2).toFixed(2)} ${(v.height + 2).toFixed(2)}`,
        width: (v.width + 2).toFixed(0),
        height: (v.height + 2).toFixed(0),
        "data-role": role,
        role: "img",
        "aria-label": label || caption,
      };
      if (focusable) {
        attrs.tabindex = "0";
        attrs.role = "application";
        attrs["aria-roledescription"] = "grid";
      }
      const node = svg("svg", attrs, fig);
      const g = svg("g", { class: "cx-base" }, node);
      const overlay = svg("g", { class: "cx-overlay" }, node);
      if (v.summary) {
        html("p", { class: "cx-scale" }, fig,
          `${big(v.rows)} × ${big(v.cols)} = ${big(v.rows * v.cols)} cells: too many to draw one by one, ` +
          "so this is drawn to scale.");
      }
      return { fig, svg: node, g, overlay, v };
    }

    /** The cells of a grid: real ones, padding around them (and cells beyond the padding). */
    base(node, v, real, classify) {
      const g = node.querySelector(".cx-base");
      const kind = classify || ((r, c) => (r >= 0 && c >= 0 && r < real[0] && c < real[1] ? "in" : "pad"));
      if (v.summary) {
        box(v, v.r0, v.c0, v.rows, v.cols, { class: "cx-cell " + kind(v.r0, v.c0) }, g);
        box(v, 0, 0, real[0], real[1], { class: "cx-cell in" }, g);
        return;
      }
      for (let r = v.r0; r < v.r0 + v.rows; r++) {
        for (let c = v.c0; c < v.c0 + v.cols; c++) {
          box(v, r, c, 1, 1, { class: "cx-cell " + kind(r, c), "data-r": r, "data-c": c }, g);
        }
      }
    }

    /** The cell of a grid under a click (in the grid's own coordinates), or null. */
    locate(fig, event) {
      const matrix = fig.svg.getScreenCTM();
      if (!matrix) return null;
      const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse());
      const v = fig.v;
      const r = v.r0 + Math.floor(point.y / v.cell);
      const c = v.c0 + Math.floor(point.x / v.cell);
      if (r < v.r0 || c < v.c0 || r >= v.r0 + v.rows || c >= v.c0 + v.cols) return null;
      return [r, c];
    }

    /** Clicks and arrow keys on a grid call pick([r, c]) with cells between lo and hi. */
    interactive(fig, lo, hi, current, pick) {
      fig.svg.addEventListener("click", (event) => {
        const cell = this.locate(fig, event);
        if (!cell) return;
        this.stop();
        pick([clampInt(cell[0], lo[0], hi[0]), clampInt(cell[1], lo[1], hi[1])]);
      });
      fig.svg.addEventListener("keydown", (event) => {
        const moves = {
          ArrowUp: [-1, 0],
          ArrowDown: [1, 0],
          ArrowLeft: [0, -1],
          ArrowRight: [0, 1],
        };
        const now = current();
        let next = null;
        if (moves[event.key]) next = [now[0] + moves[event.key][0], now[1] + moves[event.key][1]];
        if (event.key === "Home") next = lo.slice();
        if (event.key === "End") next = hi.slice();
        if (!next) return;
        event.preventDefault();
        this.stop();
        pick([clampInt(next[0], lo[0], hi[0]), clampInt(next[1], lo[1], hi[1])]);
      });
    }

    drawSliding(dims, c) {
      const [h, w] = dims;
      // Rows and columns the windows reach: the padding, and (ceil_mode) beyond it.
      const reach = (d) => Math.max(d.i + d.p, (d.o - 1) * d.s - d.p + d.span);
      const v = view(reach(h) + h.p, reach(w) + w.p, -h.p, -w.p);
      const classify = (r, col) => {
        if (r >= 0 && col >= 0 && r < h.i && col < w.i) return "in";
        if (r >= h.i + h.p || col >= w.i + w.p) return "beyond";
        return "pad";
      };
      const beyond = reach(h) > h.i + h.p || reach(w) > w.i + w.p;
      this.inFig = this.figure(
        "input",
        `input ${size(c.input)}` + (h.p || w.p ? `, padding ${size(c.padding)} per side (dashed)` : "") +
          (beyond ? "; dotted: past the padding, where a ceil_mode window hangs over" : ""),
        v,
        false
      );
      this.base(this.inFig.svg, v, [h.i, w.i], classify);
      const ghost = [h.dropped ? 1 : 0, w.dropped ? 1 : 0];
      const ov = view(h.o + ghost[0], w.o + ghost[1], 0, 0);
      const dropped = h.dropped || w.dropped;
      this.outFig = this.figure(
        "output",
        `output ${size([h.o, w.o])}` + (dropped ? "; crossed out: the window torch drops" : ""),
        ov,
        true,
        `output grid, ${h.o} by ${w.o}: click a cell, or use the arrow keys, to see its input taps`
      );
      this.base(this.outFig.svg, ov, [h.o, w.o], (r, col) => (r < h.o && col < w.o ? "out" : "ghost"));
      if (!ov.summary && dropped) {
        for (const node of this.outFig.svg.querySelectorAll(".ghost")) {
          const x = parseFloat(node.getAttribute("x")) + ov.cell / 2;
          const y = parseFloat(node.getAttribute("y")) + ov.cell / 2;
          svg("text", { x, y, class: "cx-cross", "font-size": ov.cell * 0.7 }, this.outFig.g, "×");
        }
      }
      this.interactive(this.outFig, [0, 0], [h.o - 1, w.o - 1], () => this.stepCell(), (cell) => {
        this.go(cell[0] * w.o + cell[1]);
      });
    }

    drawTransposed(dims, c) {
      const [h, w] = dims;
      const iv = view(h.i, w.i, 0, 0);
      this.inFig = this.figure("input", `input ${size(c.input)}: each cell stamps the kernel`, iv, true,
        `input grid, ${h.i} by ${w.i}: click a cell, or use the arrow keys, to see where its stamp lands`);
      this.base(this.inFig.svg, iv, [h.i, w.i]);
      this.interactive(this.inFig, [0, 0], [h.i - 1, w.i - 1], () => this.stepCell(), (cell) => {
        this.go(cell[0] * w.i + cell[1]);
      });
      // The canvas every stamp lands on; padding crops p from each side, output_padding adds a.
      const canvas = (d) => Math.max(d.full, d.p + d.o);
      const ov = view(canvas(h), canvas(w), -h.p, -w.p);
      const cropped = h.p || w.p;
      this.outFig = this.figure(
        "output",
        `output ${size([h.o, w.o])}` + (cropped ? `; dashed: the ${size(c.padding)} padding crops these` : "") +
          (h.a || w.a ? `; output_padding ${size(c.output_padding)} adds ${h.a} row(s) at the bottom and ${w.a} ` +
            "column(s) at the right" : ""),
        ov,
        true,
        `output grid, ${h.o} by ${w.o}: click a cell, or use the arrow keys, to see which input cells stamp on it`
      );
      this.base(this.outFig.svg, ov, [h.o, w.o], (r, col) => (r >= 0 && col >= 0 && r < h.o && col < w.o ? "out" : "crop"));
      if (!ov.summary && ov.cell >= 14) {
        // How many stamps land on each cell: the product of the counts per dimension.
        const counts = (d, y) => this.sources(d, y).length;
        const rows = range(ov.rows, (j) => counts(h, j + ov.r0));
        const cols = range(ov.cols, (j) => counts(w, j + ov.c0));
        rows.forEach((nr, a) => cols.forEach((nc, b) => {
          svg("text", {
            x: (b + 0.5) * ov.cell,
            y: (a + 0.5) * ov.cell,
            class: "cx-count",
            "font-size": ov.cell * 0.45,
          }, this.outFig.g, String(nr * nc));
        }));
      }
      this.interactive(this.outFig, [ov.r0, ov.c0], [ov.r0 + ov.rows - 1, ov.c0 + ov.cols - 1],
        () => this.pick || [0, 0], (cell) => {
          this.pick = cell;
          this.select();
        });
    }

    /** Input positions (one dimension) whose stamp lands on output position y (padding-cropped coordinates). */
    sources(d, y) {
      const at = y + d.p; // on the uncropped canvas
      const found = [];
      const first = Math.max(0, Math.ceil((at - d.d * (d.k - 1)) / d.s));
      const last = Math.min(d.i - 1, Math.floor(at / d.s));
      for (let r = first; r <= last; r++) {
        const off = at - r * d.s;
        if (off >= 0 && off % d.d === 0 && off / d.d < d.k) found.push(r);
      }
      return found;
    }

    drawKernel(dims, c) {
      const [h, w] = dims;
      const v = view(h.span, w.span, 0, 0);
      const caption =
        (c.kind === "pool" ? "window " : "kernel ") + size(c.kernel) +
        (h.d > 1 || w.d > 1 ? `, dilation ${size(c.dilation)}: its taps span ${size([h.span, w.span])}` : "");
      const fig = this.figure("kernel", caption, v, false);
      const tap = (r, col) => (r % h.d === 0 && col % w.d === 0 ? "tap" : "gap");
      this.base(fig.svg, v, [h.span, w.span], tap);
    }

    drawChannels(c) {
      const n = Math.max(c.in_channels, c.out_channels);
      const fig = html("figure", { class: "cx-fig cx-channels" }, this.figs);
      const per = [c.in_channels / c.groups, c.out_channels / c.groups];
      html("figcaption", {}, fig,
        `channels: ${c.in_channels} in, ${c.out_channels} out, ${c.groups} group${c.groups === 1 ? "" : "s"} ` +
        `(each group: ${per[0]} in → ${per[1]} out)`);
      this.chanFig = null;
      if (n > DRAW) {
        html("p", { class: "cx-scale" }, fig, `${big(n)} channels: too many to draw; the text below says which feed which.`);
        return;
      }
      const cell = clampInt(Math.floor(FIT / n), 6, 28);
      const width = n * cell;
      const node = svg("svg", {
        class: "cx-grid cx-chan",
        viewBox: `-34 -2 ${width + 36} ${cell * 2 + 62}`,
        width: width + 36,
        height: cell * 2 + 64,
        tabindex: "0",
        role: "application",
        "aria-roledescription": "channel diagram",
        "aria-label": "channels: click one, or use the arrow keys (up: input row, down: output row)",
      }, fig);
      const lines = svg("g", { class: "cx-lines" }, node);
      const boxes = svg("g", {}, node);
      const xIn = (j) => (j + 0.5) * (width / c.in_channels);
      const xOut = (j) => (j + 0.5) * (width / c.out_channels);
      const yIn = cell + 2;
      const yOut = cell + 56;
      svg("text", { x: -30, y: cell * 0.75, class: "cx-label" }, boxes, "in");
      svg("text", { x: -30, y: yOut + cell * 0.75, class: "cx-label" }, boxes, "out");
      const group = (j, count) => Math.floor(j / (count / c.groups));
      if (c.in_channels * c.out_channels / c.groups <= 4096) {
        for (let a = 0; a < c.in_channels; a++) {
          for (let b = 0; b < c.out_channels; b++) {
            if (group(a, c.in_channels) !== group(b, c.out_channels)) continue;
            svg("line", { x1: xIn(a), y1: yIn, x2: xOut(b), y2: yOut, class: "cx-link g" + (group(a, c.in_channels) % 6), "data-in": a, "data-out": b }, lines);
          }
        }
      }
      const slot = (count) => Math.min(cell, width / count);
      for (const [row, count, x, y] of [["in", c.in_channels, xIn, 0], ["out", c.out_channels, xOut, yOut]]) {
        const s = slot(count);
        for (let j = 0; j < count; j++) {
          svg("rect", {
            x: (x(j) - s / 2 + 1).toFixed(2),
            y,
            width: Math.max(s - 2, 2).toFixed(2),
            height: cell,
            class: "cx-chbox g" + (group(j, count) % 6),
            "data-row": row,
            "data-index": j,
          }, boxes);
          if (s >= 16) svg("text", { x: x(j), y: y + cell / 2, class: "cx-count", "font-size": Math.min(12, s * 0.45) }, boxes, String(j));
        }
      }
      const pick = (row, index) => {
        const count = row === "in" ? c.in_channels : c.out_channels;
        this.channel = { row, index: clampInt(index, 0, count - 1) };
        this.select();
      };
      node.addEventListener("click", (event) => {
        const target = event.target.closest("[data-row]");
        if (target) pick(target.dataset.row, Number(target.dataset.index));
      });
      node.addEventListener("keydown", (event) => {
        const ch = this.channel;
        const moves = { ArrowLeft: [ch.row, ch.index - 1], ArrowRight: [ch.row, ch.index + 1], ArrowUp: ["in", ch.index], ArrowDown: ["out", ch.index] };
        if (!moves[event.key]) return;
        event.preventDefault();
        pick(...moves[event.key]);
      });
      this.chanFig = { svg: node, c };
      const count = this.channel.row === "in" ? c.in_channels : c.out_channels;
      if (this.channel.index >= count) this.channel.index = 0;
    }

    // ---------------------------------------------------------------- the selection

    select() {
      if (!this.result) {
        this.status.textContent = "";
        return;
      }
      const total = this.steps();
      if (this.kind === "transposed") this.selectTransposed(total);
      else this.selectSliding(total);
      this.selectChannel();
    }

    selectSliding(total) {
      const [h, w] = this.result.dims;
      const [r, c] = this.stepCell();
      const rows = range(h.k, (a) => r * h.s - h.p + a * h.d);
      const cols = range(w.k, (a) => c * w.s - w.p + a * w.d);
      const inO = this.inFig.overlay;
      const outO = this.outFig.overlay;
      inO.textContent = "";
      outO.textContent = "";
      const iv = this.inFig.v;
      box(iv, rows[0], cols[0], h.span, w.span, { class: "cx-window" }, inO);
      let padded = 0;
      let beyond = 0;
      if (!iv.summary) {
        for (const y of rows) {
          for (const x of cols) {
            const where = y >= 0 && x >= 0 && y < h.i && x < w.i ? "" : y >= h.i + h.p || x >= w.i + w.p ? " beyond" : " pad";
            if (where === " pad") padded++;
            if (where === " beyond") beyond++;
            box(iv, y, x, 1, 1, { class: "cx-tap" + where, "data-r": y, "data-c": x }, inO);
            svg("circle", { cx: (x - iv.c0 + 0.5) * iv.cell, cy: (y - iv.r0 + 0.5) * iv.cell, r: iv.cell * 0.16, class: "cx-dot" + where }, inO);
          }
        }
      } else {
        const outside = (vals, d) => vals.filter((y) => y < 0 || y >= d.i).length;
        padded = h.k * w.k - (h.k - outside(rows, h)) * (w.k - outside(cols, w));
      }
      box(this.outFig.v, r, c, 1, 1, { class: "cx-sel", "data-r": r, "data-c": c }, outO);
      const kind = this.kind === "pool" ? "max over" : "sums";
      let text =
        `Window ${big(this.step + 1)} of ${big(total)}: output (${r}, ${c}) ${kind} ${h.k * w.k} taps, ` +
        `input rows ${list(rows)} × columns ${list(cols)}`;
      if (padded) text += this.kind === "pool" ? `; ${padded} in the padding (−∞, never the max)` : `; ${padded} in the zero padding`;
      if (beyond) text += `; ${beyond} past the padding, which ceil_mode's partial window ignores`;
      this.status.textContent = text + ".";
    }

    selectTransposed(total) {
      const [h, w] = this.result.dims;
      const inO = this.inFig.overlay;
      const outO = this.outFig.overlay;
      inO.textContent = "";
      outO.textContent = "";
      const iv = this.inFig.v;
      const ov = this.outFig.v;
      const inside = (y, x) => y >= 0 && x >= 0 && y < h.o && x < w.o;
      if (this.pick) {
        // Which input cells stamp on the chosen output cell.
        const [y, x] = this.pick;
        const rows = this.sources(h, y);
        const cols = this.sources(w, x);
        box(ov, y, x, 1, 1, { class: "cx-sel", "data-r": y, "data-c": x }, outO);
        if (!iv.summary) for (const a of rows) for (const b of cols) box(iv, a, b, 1, 1, { class: "cx-tap", "data-r": a, "data-c": b }, inO);
        const n = rows.length * cols.length;
        this.status.textContent =
          `Output (${y}, ${x})${inside(y, x) ? "" : ", cropped by the padding,"} gets ` +
          (n ? `${n} stamp${n === 1 ? "" : "s"}: from input rows ${list(rows)} × columns ${list(cols)}.` : "no stamp: it is output_padding's extra row or column, the bias alone.");
        return;
      }
      const [r, c] = this.stepCell();
      const rows = range(h.k, (a) => r * h.s + a * h.d - h.p);
      const cols = range(w.k, (a) => c * w.s + a * w.d - w.p);
      box(iv, r, c, 1, 1, { class: "cx-sel", "data-r": r, "data-c": c }, inO);
      box(ov, rows[0], cols[0], h.span, w.span, { class: "cx-window" }, outO);
      let cropped = 0;
      if (!ov.summary) {
        for (const y of rows) {
          for (const x of cols) {
            const where = inside(y, x) ? "" : " pad";
            if (where) cropped++;
            box(ov, y, x, 1, 1, { class: "cx-tap" + where, "data-r": y, "data-c": x }, outO);
          }
        }
      }
      this.status.textContent =
        `Stamp ${big(this.step + 1)} of ${big(total)}: input (${r}, ${c}) times the ${size([h.k, w.k])} kernel lands on ` +
        `output rows ${list(rows)} × columns ${list(cols)}` + (cropped ? `; ${cropped} of its cells are cropped by the padding.` : ".");
    }

    selectChannel() {
      const f = this.chanFig;
      if (!f || !f.svg.isConnected) return;
      const c = f.c;
      const { row, index } = this.channel;
      const count = row === "in" ? c.in_channels : c.out_channels;
      const g = Math.floor(index / (count / c.groups));
      const perIn = c.in_channels / c.groups;
      const perOut = c.out_channels / c.groups;
      for (const node of f.svg.querySelectorAll("[data-row]")) {
        const mine = node.dataset.row === row && Number(node.dataset.index) === index;
        const per = node.dataset.row === "in" ? perIn : perOut;
        const linked = Math.floor(Number(node.dataset.index) / per) === g;
        node.classList.toggle("cx-on", mine);
        node.classList.toggle("cx-linked", linked && !mine);
        node.classList.toggle("cx-off", !linked);
      }
      for (const line of f.svg.querySelectorAll(".cx-link")) {
        const on = row === "in" ? Number(line.dataset.in) === index : Number(line.dataset.out) === index;
        line.classList.toggle("cx-on", on);
      }
      const span = (per) => (per === 1 ? `channel ${g * per}` : `channels ${g * per}–${g * per + per - 1}`);
      const verb = c.kind === "transposed" ? "stamps into" : "feeds";
      const text =
        row === "out"
          ? `Output channel ${index} is in group ${g} of ${c.groups}: it reads input ${span(perIn)}` +
            (c.kind === "conv" ? `, through its weight slice of shape ${tuple([perIn, c.kernel[0], c.kernel[1]])}.` : ".")
          : `Input channel ${index} is in group ${g} of ${c.groups}: it ${verb} output ${span(perOut)}.`;
      let note = f.svg.parentNode.querySelector(".cx-chantext");
      if (!note) note = html("p", { class: "cx-chantext", "aria-live": "polite" }, f.svg.parentNode);
      note.textContent = text;
    }
  }

  // ------------------------------------------------------------------ mounting

  function mount(root) {
    if (root.dataset.ready) return;
    let preset = {};
    let broken = null;
    try {
      preset = JSON.parse(root.getAttribute("data-config") || "{}") || {};
    } catch (e) {
      broken = e;
    }
    const explorer = new Explorer(root, preset);
    root.dataset.ready = "true";
    root.explorer = explorer;
    if (broken) explorer.note.textContent = "This explorer's data-config is not JSON, so it starts from the defaults.";
    api.readyAt = performance.now();
  }

  function mountAll() {
    const start = performance.now();
    document.querySelectorAll(".convlab-explorer:not([data-ready])").forEach(mount);
    api.mountMs += performance.now() - start;
  }

  /** The formula of each dimension with its numbers, as the explorer shows it. */
  function formulas(config) {
    const r = compute(normalize(config));
    return r.dims.map((d) => formula(r.config.kind, d, r.config.ceil_mode));
  }

  const api = { outputShape, formulas, mount, mountAll, readyAt: null, mountMs: 0 };
  window.convlabExplorer = api;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})();
