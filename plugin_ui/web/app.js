/* Distill page: wires the grid, panels and keyboard to the engine's address table.
 *
 * Every address the page may send is listed once in A below and checked against the manifest the
 * engine serves (/protocol.json); a control whose address the engine does not offer is disabled
 * and says so. tests/ui checks that every address written here is in engine/protocol.py.
 */
(function (D) {
  "use strict";

  const A = {
    ping: "/ping", status: "/status", notify: "/notify",
    modelList: "/model/list", modelLoad: "/model/load",
    generate: "/generate", undo: "/undo", redo: "/redo",
    gridGet: "/grid/get", labels: "/labels/get", select: "/edit/select", lock: "/edit/lock",
    set: "/edit/set", swap: "/edit/swap", copy: "/edit/copy", paste: "/edit/paste",
    duplicate: "/edit/duplicate", reverse: "/edit/reverse", blend: "/edit/blend", morph: "/edit/morph",
    fill: "/edit/fill", regenerate: "/edit/regenerate",
    auditionCode: "/audition/code", auditionRegion: "/audition/region",
    play: "/play", stop: "/stop", loop: "/loop", seek: "/seek", gain: "/gain",
    render: "/render",
    sampling: "/sampling", creativity: "/sampling/creativity", focus: "/sampling/focus", diversity: "/sampling/diversity",
    trainStart: "/train/start", trainCancel: "/train/cancel", trainProgress: "/train/progress",
    fxAdd: "/fx/add", fxRemove: "/fx/remove", fxParam: "/fx/param", fxBypass: "/fx/bypass", fxList: "/fx/list",
  };
  // Perceptual moves: "/move/<name>" with a region and an amount.
  const MOVES = { brighter: "/move/brighter", darker: "/move/darker", louder: "/move/louder", softer: "/move/softer",
    noisier: "/move/noisier", tonal: "/move/tonal", punchier: "/move/punchier", smoother: "/move/smoother" };
  // What the engine sends us: replies and notifications.
  const N = { gridInfo: "/grid/info", gridChunk: "/grid/chunk", gridChanged: "/grid/changed",
    label: "/label", status: "/status", modelEntry: "/model/entry", model: "/model", sampling: "/sampling",
    fxSlot: "/fx/slot", fxValue: "/fx/value", epoch: "/train/epoch", health: "/train/health",
    verdict: "/train/verdict", trainProgress: "/train/progress", progress: "/progress",
    transport: "/transport", selection: "/selection", heartbeat: "/heartbeat", done: "/done", fail: "/fail" };

  const $ = (id) => document.getElementById(id);
  const S = { protocol: null, conn: null, model: new D.GridModel(), view: null, tool: "listen",
    brush: 0, selection: null, epochs: [], fx: [], fxRows: [], modelRows: [], modelName: "",
    version: undefined, editSentAt: 0, editRoundTripMs: null, readyMs: null };
  D.state = S;   // for tests and the console

  // ------------------------------------------------------------------ log
  function log(text, kind) {
    const el = $("log");
    const line = document.createElement("div");
    line.className = "line " + (kind || "");
    line.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
    el.prepend(line);
    while (el.childElementCount > 60) el.lastElementChild.remove();
  }

  /** Binds a control to an address: disabled with a reason when the engine lacks it. */
  function bind(el, address, handler, event) {
    if (!el) return;
    if (!S.protocol.has(address)) {
      el.disabled = true;
      el.title = `${el.title ? el.title + " - " : ""}not offered by this engine (${address})`;
      return;
    }
    const doc = S.protocol.doc(address);
    if (doc && !el.title) el.title = doc;
    el.addEventListener(event || "click", handler);
  }
  function send(address, args) { return S.conn.send(address, args || []); }
  async function ask(address, args, what, timeoutMs) {
    try { return await S.conn.request(address, args || [], timeoutMs); }
    catch (e) { log(`${what || address}: ${e.message}`, "fail"); throw e; }
  }

  // ------------------------------------------------------------------ engine -> page
  /** /grid/info version levels frames codebook_size frame_rate_hz: the grid's shape. */
  function onGridInfo(args) {
    const [version, levels, frames, K, rate] = args.map(Number);
    const m = S.model, reshape = levels !== m.levels || frames !== m.frames;
    if (reshape) m.reset(levels, frames, K, rate);
    m.codebookSize = K; m.frameRateHz = rate; S.version = version;
    $("brush-code").max = String(Math.max(0, K - 1));
    $("grid-info").textContent = frames ? `${levels} levels \u00d7 ${frames} frames \u00b7 ${m.durationS().toFixed(2)} s \u00b7 ${K} codes per level` : "";
    if (reshape) S.view.fit(); else S.view.draw();
  }
  /** /grid/changed version levels frames level_start level_stop frame_start frame_stop; chunks follow. */
  function onGridChanged(args) {
    const [version, levels, frames] = args.map(Number);
    S.version = version;
    if (levels !== S.model.levels || frames !== S.model.frames) refreshGrid();   // new shape: fetch it all
    S.hear.sync();
  }
  /** /grid/chunk version level frame_start code code ...: up to 200 codes of one level. */
  function onGridChunk(args) {
    const m = S.model, level = Number(args[1]), frame0 = Number(args[2]);
    if (level >= m.levels) return;
    for (let i = 3; i < args.length; i++) { const f = frame0 + i - 3; if (f < m.frames) m.set(level, f, Number(args[i])); }
    S.version = Number(args[0]); S.lastGridAt = performance.now();
    if (S.editSentAt) { S.editRoundTripMs = S.lastGridAt - S.editSentAt; S.editSentAt = 0; }
    S.view.draw();
  }
  /** /label level code name family family_name. */
  function onLabel(args) {
    const [level, code, name, family, familyName] = args;
    const lv = (S.model.labels[level] = S.model.labels[level] || []);
    lv[Number(code)] = { name: String(name), family: String(familyName || family) };
    scheduleLabelsRedraw();
  }
  let labelsQueued = false;
  function scheduleLabelsRedraw() {
    if (labelsQueued) return;
    labelsQueued = true;
    setTimeout(() => { labelsQueued = false; renderLegend(); S.view.draw(); updateBrush(); }, 30);
  }
  /** /status key value key value ... */
  function onStatus(args) {
    const kv = {};
    for (let i = 0; i + 1 < args.length; i += 2) kv[args[i]] = args[i + 1];
    S.status = kv;
    const parts = [];
    if (kv.model !== undefined) parts.push(`model: ${kv.model || "none"}`);
    if (kv.transport !== undefined) parts.push(S.hear.transportLabel(kv.transport));
    if (kv.cpu !== undefined) parts.push(`cpu ${Math.round(Number(kv.cpu) * 100)}%`);
    if (kv.underruns !== undefined) parts.push(`underruns ${kv.underruns}`);
    if (kv.jobs !== undefined) parts.push(`jobs ${kv.jobs}`);
    if (kv.audio !== undefined) parts.push(`audio: ${kv.audio}`);
    if (kv.latency_ms !== undefined && kv.audio !== "none") parts.push(`${Number(kv.latency_ms).toFixed(1)} ms`);
    $("status-line").textContent = parts.join("  \u00b7  ");
    if (kv.audio !== undefined) S.hear.engineAudio(String(kv.audio));
    if (kv.position_s !== undefined) S.hear.enginePosition(Number(kv.position_s));
    if (kv.version !== undefined && Number(kv.version) !== S.sound.version) S.hear.sync();   // a missed notification
    if (kv.can_undo !== undefined) $("undo").disabled = !Number(kv.can_undo) || !S.protocol.has(A.undo);
    if (kv.can_redo !== undefined) $("redo").disabled = !Number(kv.can_redo) || !S.protocol.has(A.redo);
    // the status poll is the safety net for a missed notification: another model, or another grid version
    const loaded = kv.model && kv.model !== "none" && kv.model_id;   // "none" until a model is in
    if (loaded && kv.model !== S.modelName) {
      S.modelName = String(kv.model);
      if ([...$("model-select").options].some((o) => o.value === S.modelName)) $("model-select").value = S.modelName;
      refreshGrid(); refreshLabels(); send(A.sampling);
    } else if (loaded && kv.version !== undefined && Number(kv.version) !== S.version) {
      const now = performance.now();
      if (!S.gridAskedAt || now - S.gridAskedAt > 2000) refreshGrid();
    }
  }
  /** /model/entry name levels codebook_size files health created (one per model, then /done). */
  function onModelEntry(args) { S.modelRows.push(args); }
  function renderModels() {
    const sel = $("model-select"), body = $("lib-table").querySelector("tbody");
    sel.innerHTML = ""; body.innerHTML = "";
    if (!S.modelRows.length) body.innerHTML = `<tr><td colspan="7" class="muted">No models in models/ yet: train one.</td></tr>`;
    for (const [name, levels, K, files, health, created] of S.modelRows) {
      sel.add(new Option(`${name} (${health})`, name));
      const tr = document.createElement("tr");
      for (const v of [name, levels, K, `${files} sounds`]) { const td = document.createElement("td"); td.textContent = v; tr.append(td); }
      const h = document.createElement("td"), badge = document.createElement("span");
      badge.className = `badge ${health}`; badge.textContent = health; h.append(badge); tr.append(h);
      const c = document.createElement("td"); c.textContent = String(created).slice(0, 10); tr.append(c);
      const b = document.createElement("td"), btn = document.createElement("button");
      btn.textContent = name === S.modelName ? "Loaded" : "Load"; btn.onclick = () => loadModel(name);
      b.append(btn); tr.append(b); body.append(tr);
    }
    if (S.modelName) sel.value = S.modelName;
  }
  /** /train/epoch epoch epochs train_loss val_loss; /train/health epoch level utilization perplexity dead verdict. */
  function onEpoch(args) {
    const [epoch, epochs, loss, valLoss] = args.map(Number);
    const e = epochEntry(epoch);
    e.loss = loss; e.valLoss = valLoss;
    $("train-state").textContent = `Epoch ${epoch} of ${epochs}: training loss ${loss.toFixed(3)}, validation ${valLoss.toFixed(3)}`;
    drawTraining();
  }
  function onHealth(args) {
    const [epoch, level, utilization, perplexity, dead] = args.map(Number);
    epochEntry(epoch).levels[level] = utilization;
    S.lastHealth = S.lastHealth || []; S.lastHealth[level] = { utilization, perplexity, dead, verdict: String(args[5]) };
    // live verdict while training: the worst level's, with every level's share of codes in use
    const rank = { green: 0, yellow: 1, red: 2 };
    const known = S.lastHealth.filter(Boolean);
    const worst = known.reduce((w, h) => ((rank[h.verdict] ?? -1) > (rank[w] ?? -1) ? h.verdict : w), "");
    const uses = known.map((h, q) => `L${q + 1} uses ${Math.round(h.utilization * 100)}%`).join(", ");
    if (worst) setVerdict(worst, `epoch ${epoch} so far: ${uses}`);
    drawTraining();
  }
  function epochEntry(epoch) {
    let e = S.epochs.find((x) => x.epoch === epoch);
    if (!e) { e = { epoch, loss: NaN, valLoss: NaN, levels: [] }; S.epochs.push(e); S.epochs.sort((a, b) => a.epoch - b.epoch); }
    return e;
  }
  function setVerdict(verdict, message) {
    const el = $("verdict");
    el.className = `verdict ${verdict}`;
    const word = { green: "Healthy", yellow: "Usable, with warnings", red: "Unhealthy" }[verdict];
    el.textContent = word ? `${word}${message ? ": " + message : ""}` : "No verdict yet";
  }
  /** /fx/slot slot name bypassed and /fx/value slot param value unit, then /done /fx/list. */
  function onFxSlot(args) { S.fxRows.push({ slot: Number(args[0]), kind: String(args[1]), bypass: !!Number(args[2]), params: [] }); }
  function onFxValue(args) {
    const fx = S.fxRows.find((f) => f.slot === Number(args[0]));
    if (fx) fx.params.push({ name: String(args[1]), value: Number(args[2]), unit: String(args[3] || "") });
  }
  function onDone(args) {
    const what = args[0];
    if (what === A.modelList) { renderModels(); S.modelRows = []; }
    else if (what === A.fxList) { S.fx = S.fxRows; S.fxRows = []; renderFx(); }
    else if (what === A.labels) { renderLegend(); S.view.draw(); }
    else if (what === A.gridGet) { if (S.readyMs === null) S.readyMs = performance.now(); S.hear.sync(); }  // page ready: grid shown
  }
  function onProgress(args) {
    const [address, fraction, message] = args;
    $("job").textContent = `${address} ${Math.round(Number(fraction) * 100)}% ${message || ""}`;
    $("job").hidden = Number(fraction) >= 1;
  }

  // ------------------------------------------------------------------ page -> engine
  function refreshGrid() { S.gridAskedAt = performance.now(); send(A.gridGet); }
  function refreshLabels() { S.model.labels = []; send(A.labels); }
  function refreshModels() { S.modelRows = []; send(A.modelList); }
  function refreshFx() { S.fxRows = []; send(A.fxList); }
  async function loadModel(name) {
    if (!name) return;
    log(`loading ${name}...`);
    try {
      await ask(A.modelLoad, [name], "load", 60000);
      log(`loaded ${name}`, "ok"); S.modelName = name; refreshGrid(); refreshLabels(); refreshModels();
    } catch (e) { /* logged */ }
  }
  function cellClick(level, frame) {
    const m = S.model;
    if (S.tool === "draw") {
      if (m.locked.has(level)) { log(`level ${level + 1} is locked: unlock it by clicking its name`, "fail"); return; }
      const code = S.brush;
      if (m.get(level, frame) === code) return;
      m.set(level, frame, code); S.view.draw();          // shown at once; the engine's /grid/chunk confirms
      S.editSentAt = S.lastEditAt = performance.now();
      send(A.set, [level, frame, code]);
    } else {
      S.brush = m.get(level, frame); updateBrush();
      S.hear.audition(frame / (m.frameRateHz || 1), 0, A.auditionCode, [level, m.get(level, frame)]);
    }
  }
  function region() {
    const s = S.selection;
    if (!s) { log("select a region first (Select tool, or Shift-drag on the grid)", "fail"); return null; }
    return [s.level0, s.level1 + 1, s.frame0, s.frame1 + 1];   // half-open, as the table says
  }
  /** Region commands: the grid changes arrive as /grid/changed + /grid/chunk notifications. */
  async function op(address, extra, what, timeoutMs) {
    const r = region(); if (!r) return;
    try { await ask(address, [...r, ...extra], what, timeoutMs || 30000); log(`${what}: done`, "ok"); }
    catch (e) { /* logged */ }
  }
  async function undoRedo(address) {
    try { await ask(address, [], address.slice(1)); } catch (e) { /* logged */ }
  }
  function toggleLock(level) {
    const locked = !S.model.locked.has(level);
    ask(A.lock, [level, locked ? 1 : 0], locked ? "lock" : "unlock").then(() => {
      if (locked) S.model.locked.add(level); else S.model.locked.delete(level);
      S.view.draw();
    }, () => {});
  }

  // ------------------------------------------------------------------ drawing helpers
  function updateBrush() {
    const K = S.model.codebookSize || 1;
    S.brush = Math.max(0, Math.min(K - 1, S.brush | 0));
    $("brush-code").value = String(S.brush);
    const q = S.selection ? S.selection.level0 : 0;
    $("brush-swatch").style.background = D.codeColour(S.model, q, S.brush);
    const lab = S.model.label(q, S.brush);
    $("brush-name").textContent = lab ? `${lab.name} (L${q + 1})` : "";
  }
  function renderLegend() {
    const fams = new Map();
    for (const lv of S.model.labels) if (lv) for (const l of lv) if (l && l.family) fams.set(l.family, (fams.get(l.family) || 0) + 1);
    const el = $("legend"); el.innerHTML = "";
    if (!fams.size) { el.textContent = "Colours show code families once the model's labels arrive."; return; }
    for (const [f, n] of fams) {
      const span = document.createElement("span"), i = document.createElement("i");
      i.style.background = D.familyColour(f); span.append(i, `${f} (${n})`); el.append(span);
    }
  }
  function tooltip(h, e) {
    const tip = $("tooltip");
    if (!h) { tip.hidden = true; return; }
    const m = S.model, code = m.get(h.level, h.frame), lab = m.label(h.level, code);
    const t = m.frameRateHz ? (h.frame / m.frameRateHz).toFixed(2) + " s" : "";
    tip.innerHTML = `<b>${lab ? escapeHtml(lab.name) : "code " + code}</b>` +
      `<div>level ${h.level + 1} \u00b7 frame ${h.frame}${t ? " \u00b7 " + t : ""}</div>` +
      (lab ? `<div class="muted">code ${code} \u00b7 ${escapeHtml(lab.family)} family</div>` : "");
    tip.style.left = Math.max(4, Math.min(e.clientX + 14, window.innerWidth - 210)) + "px";
    tip.style.top = Math.min(e.clientY + 16, window.innerHeight - 80) + "px";
    tip.hidden = false;
  }
  function escapeHtml(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }

  function drawTraining() {
    D.charts.loss($("loss-chart"), S.epochs);
    D.charts.health($("health-chart"), S.epochs);
  }
  function renderFx() {
    const ol = $("fx-chain"); ol.innerHTML = "";
    if (!S.fx.length) { ol.innerHTML = `<li class="muted">No effects: the sound goes out dry.</li>`; return; }
    for (const fx of S.fx) {
      const li = document.createElement("li"), head = document.createElement("div");
      head.className = "fx-head";
      const name = document.createElement("b"); name.textContent = fx.kind;
      const by = document.createElement("button"); by.textContent = fx.bypass ? "Turn on" : "Bypass";
      by.onclick = () => fxAsk(A.fxBypass, [fx.slot, fx.bypass ? 0 : 1]);
      const rm = document.createElement("button"); rm.textContent = "Remove"; rm.onclick = () => fxAsk(A.fxRemove, [fx.slot]);
      head.append(name, by, rm); li.append(head);
      if (fx.bypass) li.classList.add("bypassed");
      for (const p of fx.params) {
        const row = document.createElement("label"); row.className = "fx-param";
        const input = document.createElement("input"); input.type = "number"; input.step = "any"; input.value = String(+p.value.toFixed(4));
        input.onchange = () => fxAsk(A.fxParam, [fx.slot, p.name, Number(input.value)], `${fx.kind} ${p.name}`);
        row.append(p.name.replace(/_/g, " "), input, p.unit); li.append(row);
      }
      // any parameter by name (e.g. threshold_db, room_size), also when the engine lists none
      const any = document.createElement("div"); any.className = "fx-any";
      const pname = document.createElement("input"); pname.type = "text"; pname.placeholder = "parameter, e.g. threshold_db";
      const pval = document.createElement("input"); pval.type = "number"; pval.step = "any"; pval.placeholder = "value";
      const pset = document.createElement("button"); pset.textContent = "Set";
      pset.onclick = () => { if (pname.value.trim() && pval.value !== "") fxAsk(A.fxParam, [fx.slot, pname.value.trim(), Number(pval.value)], `${fx.kind} ${pname.value.trim()}`); };
      any.append(pname, pval, pset); li.append(any);
      ol.append(li);
    }
  }
  async function fxAsk(address, args, what) {
    try { await ask(address, args, what || address, 30000); log(`${what || address}: done`, "ok"); refreshFx(); }
    catch (e) { /* logged */ }
  }

  // ------------------------------------------------------------------ controls
  function wire() {
    const v = S.view;
    v.onCell = cellClick;
    v.onSelect = (s) => { S.selection = s; selInfo(); updateBrush(); if (S.protocol.has(A.select)) send(A.select, region()); };
    v.onSeek = (t) => { S.hear.seek(t); v.playheadS = t; v.draw(); };
    v.onHover = tooltip;
    v.onGutter = toggleLock;
    document.querySelectorAll(".tool").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
    bind($("undo"), A.undo, () => undoRedo(A.undo));
    bind($("redo"), A.redo, () => undoRedo(A.redo));
    $("brush-code").addEventListener("input", (e) => { S.brush = Number(e.target.value) | 0; updateBrush(); });
    $("zoom-in").onclick = () => v.zoom(1.5); $("zoom-out").onclick = () => v.zoom(1 / 1.5);
    bind($("model-load"), A.modelLoad, () => loadModel($("model-select").value));
    bind($("lib-refresh"), A.modelList, refreshModels);
    document.querySelectorAll("[data-move]").forEach((b) => bind(b, MOVES[b.dataset.move],
      () => op(MOVES[b.dataset.move], [Number($("move-amount").value)], b.textContent)));
    bind($("op-fill"), A.fill, () => op(A.fill, [S.brush], "fill"));
    bind($("op-swap"), A.swap, () => op(A.swap, [Number($("swap-a").value), Number($("swap-b").value)], "swap"));
    bind($("op-copy"), A.copy, () => op(A.copy, [], "copy"));
    bind($("op-paste"), A.paste, () => { const s = S.selection; if (s) ask(A.paste, [s.level0, s.frame0], "paste").catch(() => {}); else region(); });
    bind($("op-duplicate"), A.duplicate, () => op(A.duplicate, [], "duplicate"));
    bind($("op-reverse"), A.reverse, () => op(A.reverse, [], "reverse"));
    bind($("op-blend"), A.blend, () => op(A.blend, [Number($("blend-w").value)], "blend"));
    bind($("op-morph"), A.morph, () => op(A.morph, [], "morph"));
    bind($("op-regen"), A.regenerate, () => op(A.regenerate, [], "regenerate", 120000));
    bind($("op-audition"), A.auditionRegion, () => {
      const r = region(), rate = S.model.frameRateHz || 1;
      if (r) S.hear.audition(r[2] / rate, (r[3] - r[2]) / rate, A.auditionRegion, r);
    });
    bind($("op-loop"), A.loop, () => { if (S.selection) setLoop(true); else region(); });
    $("play").addEventListener("click", () => S.hear.play());
    $("stop").addEventListener("click", () => S.hear.stop());
    $("gain").addEventListener("input", () => S.hear.gain(Number($("gain").value)));
    bind($("loop"), A.loop, (e) => setLoop(e.target.checked), "change");
    slider("gain", A.gain, (x) => `${x.toFixed(1)} dB`);
    slider("creativity", A.creativity, (x) => x.toFixed(2));
    slider("focus", A.focus, (x) => (x === 0 ? "off" : String(x)));
    slider("diversity", A.diversity, (x) => x.toFixed(2));
    $("move-amount").addEventListener("input", () => { $("move-amount-v").textContent = `${Math.round($("move-amount").value * 100)}%`; });
    bind($("generate"), A.generate, async () => {
      const secs = Number($("gen-seconds").value), seed = $("gen-seed").value;
      log(`generating ${secs} s...`);
      try { await ask(A.generate, seed === "" ? [secs] : [secs, Number(seed)], "generate", 120000); log("generated", "ok"); }
      catch (e) { /* logged */ }
    });
    bind($("render"), A.render, async () => {
      const name = $("render-name").value.trim() || "distill-clip";
      $("render-path").textContent = "rendering...";
      try {
        const r = await ask(A.render, [name], "render", 120000);
        $("render-path").textContent = String(r[0]); $("render-path").classList.remove("muted"); log(`rendered ${r[0]}`, "ok");
      } catch (e) { $("render-path").textContent = `render failed: ${e.message}`; }
    });
    bind($("train-start"), A.trainStart, async () => {
      S.epochs = []; drawTraining(); setVerdict("none", "");
      const args = [$("train-data").value.trim(), $("train-name").value.trim()];
      const minutes = Number($("train-minutes").value);
      if (minutes > 0) args.push(minutes);
      $("train-state").textContent = "Training...";
      try { const r = await ask(A.trainStart, args, "train", 3600 * 1000); $("train-state").textContent = `Trained: ${r[0]}`; refreshModels(); }
      catch (e) { $("train-state").textContent = `Training stopped: ${e.message}`; }
    });
    bind($("train-cancel"), A.trainCancel, () => send(A.trainCancel));
    const kinds = ((S.protocol.raw || {}).facts || {}).effect_kinds || [];  // engine/facts.py, via the manifest
    for (const k of kinds) $("fx-kind").add(new Option(k, k));
    $("fx-kind").add(new Option("VST3 plug-in (path)...", "vst3"));
    $("fx-kind").onchange = (e) => { $("fx-path").hidden = e.target.value !== "vst3"; };
    bind($("fx-add"), A.fxAdd, () => fxAsk(A.fxAdd, [$("fx-kind").value === "vst3" ? $("fx-path").value.trim() : $("fx-kind").value]));
    document.querySelectorAll(".tab").forEach((t) => t.addEventListener("click", () => showTab(t.dataset.tab)));
    document.addEventListener("keydown", keys);
  }
  function setLoop(on) {
    const m = S.model, s = S.selection, v = S.view, rate = m.frameRateHz || 1;
    if (on) {
      const f0 = s ? s.frame0 : 0, f1 = s ? s.frame1 + 1 : m.frames;
      S.hear.loop(f0 / rate, f1 / rate); v.loop = { frame0: f0, frame1: f1 - 1 };
    } else { S.hear.loop(0, 0); v.loop = null; }
    $("loop").checked = on; v.draw();
  }
  function slider(id, address, fmt) {
    const el = $(id), out = $(id + "-v");
    const show = () => { out.textContent = fmt(Number(el.value)); };
    show();
    el.addEventListener("input", show);
    bind(el, address, () => send(address, [Number(el.value)]), "change");
  }
  function setTool(tool) {
    S.tool = tool; S.view.tool = tool;
    document.querySelectorAll(".tool").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
    $("grid").style.cursor = tool === "draw" ? "crosshair" : tool === "select" ? "cell" : "pointer";
  }
  function selInfo() {
    const s = S.selection, m = S.model;
    $("sel-info").textContent = s ? `levels ${s.level0 + 1}-${s.level1 + 1}, frames ${s.frame0}-${s.frame1}` +
      (m.frameRateHz ? ` (${(s.frame0 / m.frameRateHz).toFixed(2)}-${((s.frame1 + 1) / m.frameRateHz).toFixed(2)} s)` : "") : "none";
  }
  function showTab(name) {
    document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.dataset.tab === name));
    document.querySelectorAll(".tabpane").forEach((p) => p.classList.toggle("active", p.id === "tab-" + name));
    if (name === "midi") S.midi.refresh();   // the mapping may have changed from Max, Pd or OSC
    if (name === "edit") S.view.layout();
    if (name === "train") drawTraining();
    if (name === "library") refreshModels();
    if (name === "effects") refreshFx();
  }
  function keys(e) {
    if (e.target.matches("input[type=text], input[type=number], select")) return;
    const mod = e.ctrlKey || e.metaKey;
    if (mod && (e.key === "z" || e.key === "Z")) { e.preventDefault(); undoRedo(e.shiftKey ? A.redo : A.undo); }
    else if (mod && (e.key === "y" || e.key === "Y")) { e.preventDefault(); undoRedo(A.redo); }
    else if (mod) return;
    else if (e.key === " ") { e.preventDefault(); S.hear.toggle(); }
    else if (e.key === "Escape") { S.selection = null; S.view.selection = null; selInfo(); S.view.draw(); }
    else if (e.key === "l" || e.key === "d" || e.key === "s") setTool({ l: "listen", d: "draw", s: "select" }[e.key]);
  }

  // ------------------------------------------------------------------ boot
  async function boot() {
    // ?compact=1: only the grid and its tools (the Max for Live device's small jweb view)
    if (new URLSearchParams(location.search).has("compact")) document.body.classList.add("compact");
    S.view = new D.GridView($("grid"), $("grid-scroll"), S.model);
    try { S.protocol = await D.Protocol.load(D.manifestUrl()); }
    catch (e) { log(`cannot read the engine's address table: ${e.message}. Is distill serve running?`, "fail"); S.protocol = new D.Protocol([], {}); }
    S.hear = new D.Transport({ state: S, send, log, addresses: A, select: $("hear"), soundCanvas: $("sound") });
    S.conn = new D.Connection(D.engineUrl(S.protocol), S.protocol, log);
    const c = S.conn;
    c.on(N.gridInfo, onGridInfo); c.on(N.gridChunk, onGridChunk); c.on(N.gridChanged, onGridChanged);
    c.on(N.label, onLabel); c.on(N.status, onStatus); c.on(N.modelEntry, onModelEntry); c.on(N.done, onDone);
    c.on(N.fxSlot, onFxSlot); c.on(N.fxValue, onFxValue);
    c.on(N.epoch, onEpoch); c.on(N.health, onHealth); c.on(N.verdict, (a) => setVerdict(String(a[0]), String(a[1] || "")));
    c.on(N.trainProgress, (a) => { if (a[0] !== "idle") $("train-state").textContent = `Training ${a[0]}: epoch ${a[1]} of ${a[2]}`; });
    c.on(N.progress, onProgress);
    c.on(N.model, (a) => { S.modelName = String(a[0]); refreshGrid(); refreshLabels(); S.midi.refresh(); });
    c.on(N.transport, (a) => S.hear.enginePosition(Number(a[1])));
    c.on(N.selection, (a) => {   // a selection made elsewhere (Max, Pd) shows here too
      const [l0, l1, f0, f1] = a.map(Number);
      S.selection = S.view.selection = { level0: l0, level1: l1 - 1, frame0: f0, frame1: f1 - 1 };
      selInfo(); S.view.draw();
    });
    c.on(N.sampling, (a) => {
      const [t, k, p] = a.map(Number);
      $("creativity").value = String(t); $("focus").value = String(k); $("diversity").value = String(p);
      for (const id of ["creativity", "focus", "diversity"]) $(id).dispatchEvent(new Event("input"));
    });
    c.on(N.fail, (a, msg) => { if (!msg.settled) log(`${a[0]} failed: ${a.slice(1).join(" ")}`, "fail"); });  // awaited ones log themselves
    c.onstate = (up) => {
      $("conn").textContent = up ? "connected" : "offline"; $("conn").className = "conn " + (up ? "on" : "off");
      if (!up) { S.modelName = ""; return; }
      send(A.status); refreshModels();   // the status answer fetches grid, labels and sampling once a model is in
      if (S.protocol.has(A.trainProgress)) send(A.trainProgress);
    };
    S.midi = new D.MidiPanel({ state: S, conn: c, log, root: $("tab-midi") });
    S.midi.wireLearnMode($("midi-learn-mode"));
    wire(); setTool("listen"); renderFx(); renderLegend(); updateBrush(); drawTraining();
    c.connect();
    setInterval(() => { if (c.open) send(A.status); }, 1000);
    document.body.dataset.ready = "1";
    // inside Max's jweb: what the engine says also comes out of the jweb's outlet (not the grid stream)
    if (window.max && window.max.outlet) {
      c.on("*", (args, msg) => { if (msg.address !== N.gridChunk && msg.address !== N.heartbeat) window.max.outlet(msg.address, ...args); });
    }
  }
  D.A = A;
  window.addEventListener("DOMContentLoaded", boot);
})(window.Distill = window.Distill || {});
