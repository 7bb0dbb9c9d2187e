/* The code grid on a canvas: levels (rows) x frames (columns), coloured by code family.
 *
 * Canvas, not DOM cells: a 10 s clip at ~94 frames/s is ~1000 columns x 4 levels, and the grid
 * repaints on every edit notification. Only the visible columns are drawn; a native scrollbar
 * under the canvas scrolls it (works the same in Max's jweb).
 */
(function (D) {
  "use strict";

  const GUTTER_W = 64;   // level names on the left, px
  const RULER_H = 22;    // time ruler on top, px; clicking it seeks
  // Stable colours for the families the labeller names: [hue, saturation %]. Noise is grey on purpose.
  const FAMILY_HUES = {
    bright: [48, 80], dark: [225, 60], noisy: [210, 8], tonal: [140, 55], punchy: [8, 70], soft: [285, 45],
    smooth: [185, 50], quiet: [250, 30], loud: [25, 75], plain: [35, 22],
  };

  /** Grid state the view draws. indices is row-major [Q, F] (level-major). */
  class GridModel {
    constructor() {
      this.levels = 0; this.frames = 0; this.codebookSize = 0; this.frameRateHz = 0;
      this.indices = new Int32Array(0);
      this.labels = [];      // [level][code] -> {name, family} (may be sparse)
      this.locked = new Set();
    }
    reset(levels, frames, codebookSize, frameRateHz) {
      this.levels = levels; this.frames = frames;
      this.codebookSize = codebookSize || this.codebookSize; this.frameRateHz = frameRateHz || this.frameRateHz;
      this.indices = new Int32Array(levels * frames);
    }
    get(level, frame) { return this.indices[level * this.frames + frame]; }
    set(level, frame, code) { this.indices[level * this.frames + frame] = code; }
    label(level, code) { const l = this.labels[level]; return (l && l[code]) || null; }
    durationS() { return this.frameRateHz ? this.frames / this.frameRateHz : 0; }
  }

  function hashHue(s) { let h = 0; for (const c of String(s)) h = (h * 31 + c.charCodeAt(0)) >>> 0; return h % 360; }

  /** Colour of one code: hue from its family, lightness spread by code so neighbours differ. */
  function codeColour(model, level, code) {
    const lab = model.label(level, code);
    const spread = ((code * 37) % 11) / 10;   // 0..1, deterministic per code
    if (lab && lab.family) {
      const [hue, sat] = familyHS(lab.family);
      return `hsl(${hue} ${sat}% ${32 + spread * 30}%)`;
    }
    const hue = (code * 137.508) % 360;       // golden angle: unlabelled codes still read apart
    return `hsl(${hue.toFixed(1)} 38% ${36 + spread * 22}%)`;
  }
  function familyHS(family) { return FAMILY_HUES[family] || [hashHue(family), 55]; }
  function familyColour(family) { const [hue, sat] = familyHS(family); return `hsl(${hue} ${sat}% 48%)`; }

  class GridView {
    constructor(canvas, scroller, model) {
      this.canvas = canvas; this.scroller = scroller; this.model = model;
      this.ctx = canvas.getContext("2d");
      this.cellW = 10; this.scrollX = 0;
      this.selection = null;     // {level0, level1, frame0, frame1} inclusive
      this.hover = null;         // {level, frame}
      this.playheadS = null; this.loop = null;
      this.onCell = () => {}; this.onSelect = () => {}; this.onSeek = () => {}; this.onHover = () => {};
      this.onGutter = () => {};
      this.onPaint = () => {};   // after each repaint (the sound view under the grid follows it)
      this.gutterW = GUTTER_W;
      this.tool = "listen";
      this._drag = null; this._queued = false;
      this.spacer = scroller.firstElementChild;
      scroller.addEventListener("scroll", () => { this.scrollX = scroller.scrollLeft; this.draw(); });
      canvas.addEventListener("pointerdown", (e) => this._down(e));
      canvas.addEventListener("pointermove", (e) => this._move(e));
      canvas.addEventListener("pointerup", (e) => this._up(e));
      canvas.addEventListener("pointerleave", () => { this.hover = null; this.onHover(null); this.draw(); });
      canvas.addEventListener("wheel", (e) => {
        if (Math.abs(e.deltaX) < Math.abs(e.deltaY) && !e.shiftKey) return;
        scroller.scrollLeft += e.shiftKey ? e.deltaY : e.deltaX; e.preventDefault();
      }, { passive: false });
      new ResizeObserver(() => this.layout()).observe(canvas.parentElement);
    }
    get cellH() {
      if (document.body.classList.contains("compact")) return this.model.levels > 4 ? 12 : 22;  // Live's device strip
      return this.model.levels > 6 ? 26 : 40;
    }
    layout() {
      const dpr = window.devicePixelRatio || 1;
      const w = this.canvas.parentElement.clientWidth;
      const h = RULER_H + Math.max(1, this.model.levels) * this.cellH + 2;
      this.canvas.style.width = w + "px"; this.canvas.style.height = h + "px";
      this.canvas.width = Math.round(w * dpr); this.canvas.height = Math.round(h * dpr);
      this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      this.spacer.style.width = (GUTTER_W + this.model.frames * this.cellW) + "px";
      this.draw();
    }
    /** Zoom so the whole grid fits the width when it can (cells 4..48 px wide). */
    fit() {
      const visible = this.canvas.parentElement.clientWidth - GUTTER_W;
      if (this.model.frames) this.cellW = Math.max(4, Math.min(48, Math.floor(visible / this.model.frames)));
      this.layout();
    }
    zoom(factor) {
      const centre = (this.scrollX + (this.canvas.clientWidth - GUTTER_W) / 2) / this.cellW;
      this.cellW = Math.max(2, Math.min(48, Math.round(this.cellW * factor)));
      this.layout();
      this.scroller.scrollLeft = centre * this.cellW - (this.canvas.clientWidth - GUTTER_W) / 2;
    }
    /** Coalesces repaints to one per animation frame. */
    draw() {
      if (this._queued) return;
      this._queued = true;
      requestAnimationFrame(() => { this._queued = false; this._paint(); });
    }
    _paint() {
      const { ctx, model } = this;
      const W = this.canvas.clientWidth, H = this.canvas.clientHeight, cw = this.cellW, ch = this.cellH;
      ctx.fillStyle = "#15171c"; ctx.fillRect(0, 0, W, H);
      if (!model.frames) {
        ctx.fillStyle = "#8a90a0"; ctx.font = "14px system-ui, sans-serif";
        ctx.fillText("No sound yet: load a model (Library), then press Generate.", GUTTER_W + 12, RULER_H + 24);
        this.onPaint();
        return;
      }
      const f0 = Math.max(0, Math.floor(this.scrollX / cw));
      const f1 = Math.min(model.frames, Math.ceil((this.scrollX + W - GUTTER_W) / cw));
      const x = (f) => GUTTER_W + f * cw - this.scrollX;
      const gap = cw >= 6 ? 1 : 0;
      for (let q = 0; q < model.levels; q++) {
        const y = RULER_H + q * ch;
        for (let f = f0; f < f1; f++) {
          ctx.fillStyle = codeColour(model, q, model.get(q, f));
          ctx.fillRect(x(f), y, cw - gap, ch - 1);
        }
        if (cw >= 22) {
          ctx.fillStyle = "rgba(255,255,255,0.85)"; ctx.font = "11px ui-monospace, monospace"; ctx.textAlign = "center";
          for (let f = f0; f < f1; f++) ctx.fillText(String(model.get(q, f)), x(f) + cw / 2, y + ch / 2 + 4);
          ctx.textAlign = "left";
        }
        if (model.locked.has(q)) { ctx.fillStyle = "rgba(0,0,0,0.45)"; ctx.fillRect(GUTTER_W, y, W, ch - 1); }
      }
      this._paintOverlays(x, W, cw, ch);
      this._paintRuler(f0, f1, x, W);
      this._paintPlayhead(x, W, ch);
      this._paintGutter(ch, H);
      this.onPaint();
    }
    _paintOverlays(x, W, cw, ch) {
      const { ctx } = this;
      if (this.loop) {
        ctx.fillStyle = "rgba(120,200,255,0.10)";
        ctx.fillRect(x(this.loop.frame0), RULER_H, (this.loop.frame1 - this.loop.frame0 + 1) * cw, this.model.levels * ch);
      }
      const s = this.selection;
      if (s) {
        const sx = x(s.frame0), sy = RULER_H + s.level0 * ch;
        const sw = (s.frame1 - s.frame0 + 1) * cw, sh = (s.level1 - s.level0 + 1) * ch;
        ctx.fillStyle = "rgba(255,255,255,0.16)"; ctx.fillRect(sx, sy, sw, sh);
        ctx.strokeStyle = "#fff"; ctx.lineWidth = 2; ctx.setLineDash([5, 3]);
        ctx.strokeRect(sx + 1, sy + 1, sw - 2, sh - 2); ctx.setLineDash([]);
      }
      const h = this.hover;
      if (h) { ctx.strokeStyle = "#ffe27a"; ctx.lineWidth = 2; ctx.strokeRect(x(h.frame) + 1, RULER_H + h.level * ch + 1, cw - 2, ch - 3); }
    }
    /** White line with a dark edge and a marker in the ruler: visible over any cell colour. */
    _paintPlayhead(x, W, ch) {
      const { ctx } = this;
      if (this.playheadS === null || !this.model.frameRateHz) return;
      const px = x(this.playheadS * this.model.frameRateHz), bottom = RULER_H + this.model.levels * ch;
      if (px < GUTTER_W || px > W) return;
      ctx.fillStyle = "rgba(0,0,0,0.7)"; ctx.fillRect(px - 2, RULER_H, 4, bottom - RULER_H);
      ctx.fillStyle = "#ffffff"; ctx.fillRect(px - 1, RULER_H, 2, bottom - RULER_H);
      ctx.beginPath(); ctx.moveTo(px - 6, RULER_H - 9); ctx.lineTo(px + 6, RULER_H - 9); ctx.lineTo(px, RULER_H); ctx.closePath(); ctx.fill();
    }
    _paintRuler(f0, f1, x, W) {
      const { ctx, model } = this;
      ctx.fillStyle = "#1e2129"; ctx.fillRect(GUTTER_W, 0, W, RULER_H);
      ctx.fillStyle = "#9aa3b5"; ctx.font = "11px system-ui, sans-serif";
      const rate = model.frameRateHz || 1;
      const stepS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10].find((s) => s * rate * this.cellW >= 60) || 10;
      for (let t = Math.ceil(f0 / rate / stepS) * stepS; t * rate < f1; t += stepS) {
        const px = x(t * rate);
        ctx.fillRect(px, RULER_H - 6, 1, 6);
        ctx.fillText(`${+t.toFixed(2)} s`, px + 3, 14);
      }
    }
    _paintGutter(ch, H) {
      const { ctx } = this;
      ctx.fillStyle = "#1e2129"; ctx.fillRect(0, 0, GUTTER_W, H);
      ctx.font = "12px system-ui, sans-serif";
      for (let q = 0; q < this.model.levels; q++) {
        ctx.fillStyle = this.model.locked.has(q) ? "#6b7180" : "#d6dbe6";
        const name = ch < 30 ? "" : q === 0 ? "coarse" : q === this.model.levels - 1 ? "fine" : "";
        ctx.fillText(`L${q + 1}${this.model.locked.has(q) ? " \u{1F512}" : ""}`, 8, RULER_H + q * ch + ch / 2 + (name ? -1 : 4));
        if (name) { ctx.fillStyle = "#7d8597"; ctx.font = "10px system-ui, sans-serif"; ctx.fillText(name, 8, RULER_H + q * ch + ch / 2 + 11); ctx.font = "12px system-ui, sans-serif"; }
      }
    }
    /** Page coordinates of a cell's centre, scrolling it into view (for tests and tools). */
    cellCentre(level, frame) {
      const visible = this.canvas.clientWidth - GUTTER_W;
      if (frame * this.cellW < this.scrollX || (frame + 1) * this.cellW > this.scrollX + visible) {
        this.scroller.scrollLeft = this.scrollX = Math.max(0, frame * this.cellW - visible / 2);
        this._paint();
      }
      const r = this.canvas.getBoundingClientRect();
      return { x: r.left + GUTTER_W + (frame + 0.5) * this.cellW - this.scrollX, y: r.top + RULER_H + (level + 0.5) * this.cellH };
    }
    /** Canvas point -> {level, frame} or {ruler: frame} or null. */
    hit(e) {
      const r = this.canvas.getBoundingClientRect();
      const px = e.clientX - r.left, py = e.clientY - r.top;
      if (px < GUTTER_W) {
        const level = Math.floor((py - RULER_H) / this.cellH);
        return py >= RULER_H && level < this.model.levels ? { gutter: true, level } : null;
      }
      const frame = Math.floor((px - GUTTER_W + this.scrollX) / this.cellW);
      if (frame < 0 || frame >= this.model.frames) return null;
      if (py < RULER_H) return { ruler: true, frame };
      const level = Math.floor((py - RULER_H) / this.cellH);
      if (level < 0 || level >= this.model.levels) return null;
      return { level, frame };
    }
    _down(e) {
      const h = this.hit(e);
      if (!h) return;
      if (h.gutter) { this.onGutter(h.level); return; }
      if (h.ruler) { this.onSeek(h.frame / (this.model.frameRateHz || 1)); return; }
      this.canvas.setPointerCapture(e.pointerId);
      if (this.tool === "select" || e.shiftKey) {
        this._drag = h; this.selection = { level0: h.level, level1: h.level, frame0: h.frame, frame1: h.frame };
        this.draw();
      } else {
        this.onCell(h.level, h.frame, e);
      }
    }
    _move(e) {
      const h = this.hit(e);
      if (this._drag && h && !h.ruler && !h.gutter) {
        const a = this._drag;
        this.selection = { level0: Math.min(a.level, h.level), level1: Math.max(a.level, h.level),
          frame0: Math.min(a.frame, h.frame), frame1: Math.max(a.frame, h.frame) };
      }
      const hov = h && !h.ruler && !h.gutter ? h : null;
      if (!same(hov, this.hover)) { this.hover = hov; this.onHover(hov, e); this.draw(); }
      else if (hov) this.onHover(hov, e);
    }
    _up() {
      if (this._drag) { this._drag = null; this.onSelect(this.selection); this.draw(); }
    }
  }
  function same(a, b) { return a === b || (a && b && a.level === b.level && a.frame === b.frame); }

  D.GridModel = GridModel;
  D.GridView = GridView;
  D.codeColour = codeColour;
  D.familyColour = familyColour;
})(window.Distill = window.Distill || {});
