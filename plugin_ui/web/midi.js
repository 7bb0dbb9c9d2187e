/* The MIDI tab: the session's mapping as the engine holds it (/midi/map/list), MIDI learn and
 * editing, all through the engine's routes. What a note or a controller can drive, and the names
 * of each target's parameters, come from the manifest (facts.midi, made from engine/edit/midi.py);
 * nothing about targets is written here.
 */
(function (D) {
  "use strict";

  const A = { list: "/midi/map/list", map: "/midi/map", unmap: "/midi/unmap", learn: "/midi/learn",
    reset: "/midi/map/reset" };
  const N = { binding: "/midi/binding", learned: "/midi/learned" };
  const KIND_WORD = { note: "Note", cc: "CC", bend: "Bend" };

  class MidiPanel {
    /** deps: {state, conn, log, root (the tab's element)} */
    constructor(deps) {
      Object.assign(this, deps);
      const facts = (deps.state.protocol.raw && deps.state.protocol.raw.facts) || {};
      this.targets = facts.midi || { note: [], cc: [] };   // kind -> [{target, params, doc}]
      this.rows = [];          // the mapping: {kind, number, target, channel, params}
      this.incoming = [];
      this.armed = null;       // {kind, target, params} while learning
      this.$ = (sel) => this.root.querySelector(sel);
      this.conn.on(N.binding, (a) => this.incoming.push({ kind: String(a[0]), number: Number(a[1]),
        target: String(a[2]), channel: Number(a[3]), params: a.slice(4).map(Number) }));
      this.conn.on(N.learned, (a) => this.learned(String(a[0]), Number(a[1]), String(a[2])));
      this.renderTargets();
      this.$("#midi-stop").addEventListener("click", () => this.disarm());
      this.$("#midi-reset").addEventListener("click", async () => {
        if (await this.ask(A.reset, [], "default MIDI mapping")) this.refresh();
      });
      this.$("#midi-refresh").addEventListener("click", () => this.refresh());
      this.$("#midi-add").addEventListener("click", () => this.addRow());
      for (const id of ["#midi-stop", "#midi-reset", "#midi-refresh", "#midi-add"]) {
        const el = this.$(id), address = { "#midi-stop": A.learn, "#midi-reset": A.reset, "#midi-refresh": A.list,
          "#midi-add": A.map }[id];
        if (!deps.state.protocol.has(address)) { el.disabled = true; el.title = `not offered by this engine (${address})`; }
      }
    }

    /** Learn mode on the Edit tab's own controls: while it is on, a click on a move, the blend
     * amount, a Generate knob or the gain arms learn for it instead of doing it. */
    wireLearnMode(button) {
      this.modeButton = button;
      if (!this.state.protocol.has(A.learn)) { button.disabled = true; button.title = `not offered by this engine (${A.learn})`; return; }
      button.addEventListener("click", () => this.setLearnMode(!document.body.classList.contains("midi-learning")));
      const swallow = (e) => {
        const el = document.body.classList.contains("midi-learning") && this.controlTarget(e.target);
        if (!el) return;
        e.preventDefault(); e.stopPropagation();
        if (e.type === "click") this.arm("cc", el.target);
      };
      for (const type of ["pointerdown", "mousedown", "click", "input", "change"]) document.addEventListener(type, swallow, true);
    }
    /** The CC target a control of the page stands for, when the manifest has that target. */
    controlTarget(node) {
      const el = node && node.closest && node.closest("[data-move], #blend-w, #creativity, #focus, #diversity, #gain");
      if (!el || !this.root.ownerDocument.contains(el)) return null;
      const target = el.dataset.move || (el.id === "blend-w" ? "blend" : el.id);
      return this.targetInfo("cc", target) ? { el, target } : null;
    }
    setLearnMode(on) {
      document.body.classList.toggle("midi-learning", on);
      this.modeButton.classList.toggle("active", on);
      this.modeButton.textContent = on ? "MIDI learn: click a control" : "MIDI learn";
      if (!on) this.disarm();
      if (on) this.refresh(); else this.showBadges();   // the mapping may have changed elsewhere
    }
    /** In learn mode each control shows the controller bound to it ("CC 74"). */
    showBadges() {
      document.querySelectorAll("[data-midi]").forEach((e) => { delete e.dataset.midi; });
      for (const row of this.rows) {
        if (row.kind === "note") continue;
        const sel = `[data-move="${row.target}"], #${row.target === "blend" ? "blend-w" : row.target}`;
        let el = null;
        try { el = document.querySelector(sel); } catch (e) { el = null; }
        if (!el || !this.controlTarget(el)) continue;
        const holder = el.tagName === "INPUT" ? el.closest("label, .op") || el : el;
        const word = row.kind === "bend" ? "Bend" : `CC ${row.number}`;
        holder.dataset.midi = holder.dataset.midi ? `${holder.dataset.midi}, ${word}` : word;
      }
    }

    targetInfo(kind, target) { return (this.targets[kind] || []).find((t) => t.target === target); }

    async ask(address, args, what) {
      try { await this.conn.request(address, args, 10000); return true; }
      catch (e) { this.log(`${what || address}: ${e.message}`, "fail"); return false; }
    }

    /** Reads the mapping from the engine and shows it. */
    async refresh() {
      if (!this.conn.open || !this.state.protocol.has(A.list)) return;
      this.incoming = [];
      if (!(await this.ask(A.list, [], "MIDI mapping"))) return;
      this.rows = this.incoming; this.incoming = [];
      this.renderTable();
      this.showBadges();
    }

    // ---------------------------------------------------------------- learn
    /** One button per target, grouped by what drives it; a click arms learn for it. */
    renderTargets() {
      const box = this.$("#midi-targets");
      box.textContent = "";
      for (const kind of ["cc", "note"]) {
        const group = document.createElement("div");
        group.className = "midi-group";
        const h = document.createElement("h4");
        h.textContent = kind === "cc" ? "A controller (CC) or the bend wheel drives" : "A note plays";
        group.append(h);
        for (const t of this.targets[kind] || []) {
          const b = document.createElement("button");
          b.className = "midi-target"; b.dataset.kind = kind; b.dataset.target = t.target;
          b.textContent = t.target; b.title = t.doc;
          b.addEventListener("click", () => this.arm(kind, t.target));
          group.append(b);
        }
        box.append(group);
      }
    }

    /** The parameter inputs a target needs (voice, slice of slices...), from the manifest. */
    paramInputs(info, values) {
      const wrap = document.createElement("span");
      wrap.className = "midi-params";
      (info ? info.params : []).forEach((name, i) => {
        const label = document.createElement("label");
        label.textContent = `${name} `;
        const input = document.createElement("input");
        input.type = "number"; input.min = "0"; input.dataset.param = name;
        input.value = values && values[i] !== undefined ? String(values[i]) : (name === "voice" ? "1" : "0");
        label.append(input); wrap.append(label);
      });
      return wrap;
    }
    readParams(el) { return [...el.querySelectorAll("input[data-param]")].map((i) => Math.max(0, Math.round(Number(i.value) || 0))); }

    /** Shows the target's parameters; "Listen for MIDI" then sends /midi/learn. */
    arm(kind, target) {
      const info = this.targetInfo(kind, target);
      this.root.querySelectorAll(".midi-target").forEach((b) =>
        b.classList.toggle("active", b.dataset.kind === kind && b.dataset.target === target));
      const box = this.$("#midi-armed");
      box.textContent = "";
      const what = document.createElement("span");
      what.textContent = `${target}: ${info ? info.doc : ""} `;
      const params = this.paramInputs(info);
      const go = document.createElement("button");
      go.id = "midi-listen"; go.className = "primary";
      go.textContent = `Listen for a ${kind === "cc" ? "controller" : "note"}`;
      go.addEventListener("click", () => this.listen(kind, target, this.readParams(params)));
      box.append(what, params, go);
      if (!info || !info.params.length) this.listen(kind, target, []);   // nothing to fill in: listen now
    }

    async listen(kind, target, params) {
      if (!(await this.ask(A.learn, [target, ...params], `learn ${target}`))) return;
      this.armed = { kind, target, params };
      if (this.modeButton && document.body.classList.contains("midi-learning")) this.modeButton.textContent = `MIDI learn: turn a knob for ${target}`;
      this.$("#midi-state").textContent = `Listening: move a ${kind === "cc" ? "knob, fader or the bend wheel" : "key"} on your controller for ${target}${params.length ? " " + params.join(" ") : ""}...`;
      this.$("#midi-state").className = "midi-state listening";
    }

    async disarm() {
      if (this.armed) await this.ask(A.learn, ["off"], "stop learning");
      this.armed = null;
      this.$("#midi-state").textContent = "Not learning.";
      this.$("#midi-state").className = "midi-state";
      this.root.querySelectorAll(".midi-target.active").forEach((b) => b.classList.remove("active"));
    }

    /** /midi/learned kind number target: show it and re-read the mapping. */
    learned(kind, number, target) {
      this.armed = null;
      const text = `Learned: ${KIND_WORD[kind] || kind} ${number} \u2192 ${target}`;
      this.$("#midi-state").textContent = text;
      this.$("#midi-state").className = "midi-state learned";
      this.root.querySelectorAll(".midi-target.active").forEach((b) => b.classList.remove("active"));
      if (this.modeButton && document.body.classList.contains("midi-learning")) this.modeButton.textContent = text;
      this.log(text, "ok");
      this.justLearned = `${kind} ${number}`;
      this.refresh();
    }

    // ---------------------------------------------------------------- the mapping table
    renderTable() {
      const body = this.$("#midi-table tbody");
      body.textContent = "";
      for (const row of this.rows) body.append(this.rowElement(row));
      this.$("#midi-count").textContent = `${this.rows.length} bindings`;
    }

    rowElement(row, isNew) {
      const tr = document.createElement("tr");
      tr.dataset.kind = row.kind; tr.dataset.number = String(row.number);
      if (this.justLearned === `${row.kind} ${row.number}`) tr.classList.add("learned");
      const cell = (child) => { const td = document.createElement("td"); td.append(child); tr.append(td); return td; };
      const kind = document.createElement("select");
      for (const k of Object.keys(this.targets)) kind.append(new Option(KIND_WORD[k], k, false, k === row.kind));
      kind.disabled = !isNew;
      const number = document.createElement("input");
      number.type = "number"; number.min = "0"; number.max = "127"; number.value = String(row.number);
      number.className = "midi-number";
      const target = document.createElement("select");
      target.className = "midi-target-select";
      const fillTargets = () => {
        target.textContent = "";
        for (const t of this.targets[kind.value] || []) target.append(new Option(t.target, t.target, false, t.target === row.target));
      };
      fillTargets();
      const paramsCell = document.createElement("span");
      const showParams = (values) => {
        paramsCell.textContent = "";
        paramsCell.append(this.paramInputs(this.targetInfo(kind.value, target.value), values));
      };
      showParams(row.params);
      kind.addEventListener("change", () => { fillTargets(); showParams([]); });
      target.addEventListener("change", () => showParams([]));
      const save = document.createElement("button");
      save.textContent = "Save"; save.className = "midi-save";
      save.addEventListener("click", () => this.save(row, isNew, kind.value, Number(number.value), target.value, this.readParams(paramsCell)));
      const remove = document.createElement("button");
      remove.textContent = "Remove"; remove.className = "midi-remove";
      remove.addEventListener("click", async () => {
        if (isNew) { tr.remove(); return; }
        if (await this.ask(A.unmap, [row.kind, row.number], `remove ${row.kind} ${row.number}`)) this.refresh();
      });
      cell(kind); cell(number);
      cell(document.createTextNode(row.channel ? String(row.channel) : "any"));
      cell(target); cell(paramsCell);
      const actions = cell(save); actions.append(" ", remove);
      return tr;
    }

    /** /midi/map the edited entry; when its number changed, the old one is removed. */
    async save(row, isNew, kind, number, target, params) {
      if (!(Number.isInteger(number) && number >= 0 && number <= 127)) { this.log(`MIDI number ${number}: expected 0..127`, "fail"); return; }
      if (!(await this.ask(A.map, [kind, number, target, ...params], `map ${kind} ${number}`))) return;
      if (!isNew && number !== row.number) await this.ask(A.unmap, [row.kind, row.number], `remove ${row.kind} ${row.number}`);
      this.log(`${KIND_WORD[kind]} ${number} \u2192 ${target} ${params.join(" ")}`, "ok");
      this.refresh();
    }

    addRow() {
      const first = (this.targets.cc || [])[0];
      this.$("#midi-table tbody").prepend(this.rowElement({ kind: "cc", number: 0, target: first ? first.target : "",
        channel: 0, params: [] }, true));
    }
  }

  D.MidiPanel = MidiPanel;
})(window.Distill = window.Distill || {});
