/* Training charts on canvas: loss per epoch, and per-level codebook use per epoch with the
 * thresholds the health verdict uses (use under 50% is a warning, yellow; under 25% red). */
(function (D) {
  "use strict";
  const LEVEL_COLOURS = ["#6cc3ff", "#ffb454", "#9be37a", "#e07bff", "#ff6b81", "#f2e56b", "#7ff0d4", "#c0c6d4"];

  function frame(canvas) {
    const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#15171c"; ctx.fillRect(0, 0, w, h);
    return { ctx, w, h, pad: { l: 44, r: 12, t: 12, b: 26 } };
  }
  function axes(c, epochs, yMin, yMax, fmt) {
    const { ctx, w, h, pad } = c;
    ctx.strokeStyle = "#3a3f4b"; ctx.fillStyle = "#9aa3b5"; ctx.font = "11px system-ui, sans-serif"; ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = yMin + (yMax - yMin) * i / 4, y = h - pad.b - (h - pad.t - pad.b) * i / 4;
      ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); ctx.stroke();
      ctx.fillText(fmt(v), 4, y + 4);
    }
    ctx.fillText("epoch", w - pad.r - 34, h - 6);
    const n = epochs.length;
    if (n) { ctx.fillText(String(epochs[0].epoch), pad.l, h - 8); ctx.fillText(String(epochs[n - 1].epoch), w - pad.r - 60, h - 8); }
  }
  function line(c, values, yMin, yMax, colour) {
    const { ctx, w, h, pad } = c, n = values.length;
    const points = [];
    values.forEach((v, i) => {   // epochs without a value (health is not measured every epoch) are skipped
      if (!Number.isFinite(v)) return;
      points.push([pad.l + (n > 1 ? (w - pad.l - pad.r) * i / (n - 1) : (w - pad.l - pad.r) / 2),
        h - pad.b - (h - pad.t - pad.b) * (v - yMin) / ((yMax - yMin) || 1)]);
    });
    ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = 2; ctx.beginPath();
    points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.stroke();
    for (const [x, y] of points) { ctx.beginPath(); ctx.arc(x, y, 3, 0, 2 * Math.PI); ctx.fill(); }
  }
  function empty(c, text) { c.ctx.fillStyle = "#7d8597"; c.ctx.font = "13px system-ui, sans-serif"; c.ctx.fillText(text, c.pad.l + 8, c.h / 2); }

  function loss(canvas, epochs) {
    const c = frame(canvas);
    const vals = epochs.flatMap((e) => [e.loss, e.valLoss]).filter(Number.isFinite);
    if (!vals.length) { axes(c, epochs, 0, 1, (v) => v.toFixed(2)); empty(c, "Loss appears here while a model trains."); return; }
    const lo = Math.min(...vals) * 0.95, hi = Math.max(...vals) * 1.05;
    axes(c, epochs, lo, hi, (v) => v.toFixed(2));
    line(c, epochs.map((e) => e.loss), lo, hi, "#6cc3ff");
    line(c, epochs.map((e) => e.valLoss), lo, hi, "#ffb454");
    c.ctx.fillStyle = "#6cc3ff"; c.ctx.fillText("training", c.w - 140, 24);
    c.ctx.fillStyle = "#ffb454"; c.ctx.fillText("validation", c.w - 80, 24);
  }
  function health(canvas, epochs) {
    const c = frame(canvas);
    axes(c, epochs, 0, 1, (v) => `${Math.round(v * 100)}%`);
    const { ctx, w, h, pad } = c, y = (v) => h - pad.b - (h - pad.t - pad.b) * v;
    ctx.fillStyle = "rgba(255,84,112,0.10)"; ctx.fillRect(pad.l, y(0.25), w - pad.l - pad.r, y(0) - y(0.25));
    ctx.fillStyle = "rgba(255,200,60,0.08)"; ctx.fillRect(pad.l, y(0.5), w - pad.l - pad.r, y(0.25) - y(0.5));
    const levels = Math.max(0, ...epochs.map((e) => e.levels.length));
    if (!levels) { empty(c, "Codebook use per level appears here."); return; }
    for (let q = 0; q < levels; q++) {
      line(c, epochs.map((e) => e.levels[q]), 0, 1, LEVEL_COLOURS[q % LEVEL_COLOURS.length]);
      ctx.fillStyle = LEVEL_COLOURS[q % LEVEL_COLOURS.length]; ctx.fillText(`L${q + 1}`, w - pad.r - 30 * (levels - q), 24);
    }
  }
  D.charts = { loss, health };
})(window.Distill = window.Distill || {});
