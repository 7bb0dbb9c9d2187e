/* Pictures of the decoded sound under the grid: a waveform and a spectrogram whose columns are
 * the grid's columns (one spectrum per code frame, centred on it), so a cell and the sound it makes
 * sit one above the other at every zoom and scroll.
 *
 * The spectra are computed here from the samples the page plays (a small radix-2 FFT), only for
 * the columns an edit touched, into an offscreen canvas one pixel per column; drawing scales the
 * visible part of it. Levels are dBFS on a fixed scale, so an unchanged column keeps its colour.
 */
(function (D) {
  "use strict";

  const ROWS = 96;                 // frequency rows (mel-spaced)
  const F_MIN_HZ = 40;
  const DB_FLOOR = -110, DB_TOP = -20;   // dBFS per bin (mean power of the bins in a row)
  const WAVE_H = 44, SPEC_H = 132; // px
  const MAX_COLUMNS = 16384;       // offscreen width; longer grids share columns
  // Colour map (dark blue -> magenta -> orange -> pale yellow), 256 entries.
  const STOPS = [[0, [10, 12, 28]], [0.3, [70, 20, 110]], [0.55, [180, 40, 100]], [0.78, [245, 130, 40]], [1, [252, 245, 180]]];
  const LUT = (() => {
    const out = new Uint8ClampedArray(256 * 3);
    for (let i = 0; i < 256; i++) {
      const t = i / 255; let k = 0;
      while (k < STOPS.length - 2 && t > STOPS[k + 1][0]) k++;
      const [t0, c0] = STOPS[k], [t1, c1] = STOPS[k + 1], u = (t - t0) / (t1 - t0);
      for (let j = 0; j < 3; j++) out[i * 3 + j] = c0[j] + (c1[j] - c0[j]) * u;
    }
    return out;
  })();

  /** In-place radix-2 FFT of (re, im), length a power of two. */
  function fft(re, im) {
    const n = re.length;
    for (let i = 1, j = 0; i < n; i++) {
      let bit = n >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
    }
    for (let len = 2; len <= n; len <<= 1) {
      const ang = -2 * Math.PI / len, wr = Math.cos(ang), wi = Math.sin(ang);
      for (let i = 0; i < n; i += len) {
        let cr = 1, ci = 0;
        for (let k = 0; k < len / 2; k++) {
          const a = i + k, b = a + len / 2;
          const xr = re[b] * cr - im[b] * ci, xi = re[b] * ci + im[b] * cr;
          re[b] = re[a] - xr; im[b] = im[a] - xi; re[a] += xr; im[a] += xi;
          const nr = cr * wr - ci * wi; ci = cr * wi + ci * wr; cr = nr;
        }
      }
    }
  }
  const mel = (hz) => 2595 * Math.log10(1 + hz / 700);
  const hzOfMel = (m) => 700 * (Math.pow(10, m / 2595) - 1);

  /** Spectra of a Sound, one column per code frame. */
  class Spectrum {
    constructor(sound) {
      this.sound = sound; this.columns = 0; this.image = null; this.n = 0; this.rowBins = null;
      this.canvas = document.createElement("canvas"); this.ctx = this.canvas.getContext("2d");
      this.drawnColumns = 0;       // columns computed since the last reshape (tests read it)
    }
    /** Recomputes the columns covering samples [s0, s1) (all of them when the shape changed). */
    update(s0, s1, reshaped) {
      const snd = this.sound, spf = snd.samplesPerFrame, frames = snd.frames;
      if (!spf || !frames) return;
      if (reshaped || this.columns !== Math.min(frames, MAX_COLUMNS) || this.n === 0) this._reshape();
      const half = this.n / 2;
      const f0 = Math.max(0, Math.floor((s0 - half) / spf)), f1 = Math.min(frames, Math.ceil((s1 + half) / spf) + 1);
      const c0 = Math.floor(f0 * this.columns / frames), c1 = Math.min(this.columns, Math.ceil(f1 * this.columns / frames));
      for (let c = c0; c < c1; c++) this._column(c);
      this.ctx.putImageData(this.image, 0, 0, c0, 0, c1 - c0, ROWS);
      this.drawnColumns += c1 - c0;
    }
    _reshape() {
      const snd = this.sound, spf = snd.samplesPerFrame;
      this.columns = Math.min(snd.frames, MAX_COLUMNS);
      this.canvas.width = Math.max(1, this.columns); this.canvas.height = ROWS;
      this.image = this.ctx.createImageData(this.canvas.width, ROWS);
      let n = 256; while (n < 2 * spf && n < 4096) n <<= 1;
      this.n = n; this.re = new Float32Array(n); this.im = new Float32Array(n);
      this.window = new Float32Array(n).map((_, i) => 0.5 - 0.5 * Math.cos(2 * Math.PI * i / n));
      // rows (top = high) -> FFT bin ranges, mel-spaced from F_MIN_HZ to Nyquist
      const nyq = snd.sampleRate / 2, m0 = mel(F_MIN_HZ), m1 = mel(nyq);
      this.rowBins = [];
      for (let r = 0; r < ROWS; r++) {
        const lo = hzOfMel(m0 + (m1 - m0) * (ROWS - 1 - r) / ROWS), hi = hzOfMel(m0 + (m1 - m0) * (ROWS - r) / ROWS);
        const b0 = Math.floor(lo / nyq * (n / 2)), b1 = Math.max(b0 + 1, Math.ceil(hi / nyq * (n / 2)));
        this.rowBins.push([b0, Math.min(b1, n / 2)]);
      }
      this.scale = 2 / this.window.reduce((a, b) => a + b, 0);   // a full-scale sine reads 0 dBFS
      this.drawnColumns = 0;
    }
    _column(c) {
      const snd = this.sound, x = snd.samples, n = this.n, { re, im } = this;
      const frame = Math.floor(c * snd.frames / this.columns);
      const centre = Math.round((frame + 0.5) * snd.samplesPerFrame), start = centre - n / 2;
      for (let i = 0; i < n; i++) { const j = start + i; re[i] = (j >= 0 && j < x.length ? x[j] : 0) * this.window[i]; im[i] = 0; }
      fft(re, im);
      const px = this.image.data, w = this.image.width;
      for (let r = 0; r < ROWS; r++) {
        const [b0, b1] = this.rowBins[r];
        let p = 0; for (let b = b0; b < b1; b++) p += re[b] * re[b] + im[b] * im[b];
        p /= b1 - b0;
        const db = 10 * Math.log10(p * this.scale * this.scale + 1e-20);
        const v = Math.max(0, Math.min(255, Math.round(255 * (db - DB_FLOOR) / (DB_TOP - DB_FLOOR))));
        const o = (r * w + c) * 4;
        px[o] = LUT[v * 3]; px[o + 1] = LUT[v * 3 + 1]; px[o + 2] = LUT[v * 3 + 2]; px[o + 3] = 255;
      }
    }
    /** Frequency (Hz) at the top edge of a row, for the axis labels. */
    rowHz(r) { const nyq = this.sound.sampleRate / 2, m0 = mel(F_MIN_HZ), m1 = mel(nyq); return hzOfMel(m0 + (m1 - m0) * (ROWS - r) / ROWS); }
  }

  /** Draws waveform and spectrogram on `canvas`, aligned with the GridView `grid`. */
  class SoundView {
    constructor(canvas, grid, sound) {
      this.canvas = canvas; this.grid = grid; this.sound = sound; this.spectrum = new Spectrum(sound);
      this.ctx = canvas.getContext("2d"); this.message = "";
      this.onSeek = () => {};
      canvas.addEventListener("pointerdown", (e) => {
        const r = canvas.getBoundingClientRect(), g = this.grid, px = e.clientX - r.left;
        if (px < g.gutterW || !g.model.frameRateHz) return;
        this.onSeek((px - g.gutterW + g.scrollX) / g.cellW / g.model.frameRateHz);
      });
    }
    changed(s0, s1, reshaped) {
      this.message = this.sound.refused;
      if (!this.sound.samples.length) this.spectrum.columns = 0; else this.spectrum.update(s0, s1, reshaped);
      this.grid.draw();
    }
    /** Called by the grid after each repaint: same columns, same scroll. */
    paint() {
      const g = this.grid, ctx = this.ctx, dpr = window.devicePixelRatio || 1;
      const W = this.canvas.parentElement.clientWidth, H = WAVE_H + SPEC_H + 2;
      if (this.canvas.width !== Math.round(W * dpr) || this.canvas.height !== Math.round(H * dpr)) {
        this.canvas.style.width = W + "px"; this.canvas.style.height = H + "px";
        this.canvas.width = Math.round(W * dpr); this.canvas.height = Math.round(H * dpr);
      }
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.fillStyle = "#101217"; ctx.fillRect(0, 0, W, H);
      const snd = this.sound, sp = this.spectrum, GW = g.gutterW, cw = g.cellW, frames = g.model.frames;
      const x = (f) => GW + f * cw - g.scrollX;
      if (!snd.samples.length || !frames || !sp.columns) {
        ctx.fillStyle = "#7d8597"; ctx.font = "12px system-ui, sans-serif";
        ctx.fillText(this.message || "The sound's waveform and spectrogram appear here once there is a grid.", GW + 12, 26);
        this._gutter(H); return;
      }
      const f0 = Math.max(0, Math.floor(g.scrollX / cw)), f1 = Math.min(frames, Math.ceil((g.scrollX + W - GW) / cw));
      // spectrogram: the offscreen columns of the visible frames, scaled without smoothing
      ctx.imageSmoothingEnabled = false;
      const c0 = f0 * sp.columns / frames, c1 = f1 * sp.columns / frames;
      if (c1 > c0) ctx.drawImage(sp.canvas, c0, 0, c1 - c0, sp.canvas.height, x(f0), WAVE_H + 2, (f1 - f0) * cw, SPEC_H);
      // waveform: min/max of the samples under each pixel column
      const mid = WAVE_H / 2, spf = snd.samplesPerFrame, xs = snd.samples;
      ctx.fillStyle = "#6cc3ff";
      for (let px = Math.max(GW, Math.floor(x(f0))); px < Math.min(W, x(f1)); px++) {
        const a = Math.floor(((px - GW + g.scrollX) / cw) * spf), b = Math.min(xs.length, Math.floor(((px + 1 - GW + g.scrollX) / cw) * spf));
        let lo = 0, hi = 0; for (let i = Math.max(0, a); i < b; i++) { const v = xs[i]; if (v < lo) lo = v; else if (v > hi) hi = v; }
        const top = mid - Math.min(1, hi) * (mid - 2), bottom = mid - Math.max(-1, lo) * (mid - 2);
        ctx.fillRect(px, top, 1, Math.max(1, bottom - top));
      }
      this._overlays(x, cw, H);
      this._gutter(H);
    }
    _overlays(x, cw, H) {
      const g = this.grid, ctx = this.ctx;
      if (g.loop) { ctx.fillStyle = "rgba(120,200,255,0.12)"; ctx.fillRect(x(g.loop.frame0), 0, (g.loop.frame1 - g.loop.frame0 + 1) * cw, H); }
      const s = g.selection;
      if (s) { ctx.strokeStyle = "rgba(255,255,255,0.8)"; ctx.setLineDash([5, 3]); ctx.strokeRect(x(s.frame0) + 1, 1, (s.frame1 - s.frame0 + 1) * cw - 2, H - 2); ctx.setLineDash([]); }
      if (g.playheadS !== null && g.model.frameRateHz) {
        const px = x(g.playheadS * g.model.frameRateHz);
        if (px >= g.gutterW) { ctx.fillStyle = "rgba(0,0,0,0.7)"; ctx.fillRect(px - 2, 0, 4, H); ctx.fillStyle = "#fff"; ctx.fillRect(px - 1, 0, 2, H); }
      }
    }
    _gutter(H) {
      const ctx = this.ctx, GW = this.grid.gutterW, sp = this.spectrum;
      ctx.fillStyle = "#1e2129"; ctx.fillRect(0, 0, GW, H);
      ctx.fillStyle = "#9aa3b5"; ctx.font = "11px system-ui, sans-serif";
      ctx.fillText("wave", 8, WAVE_H / 2 + 4);
      if (!sp.columns) { ctx.fillText("spectrum", 8, WAVE_H + SPEC_H / 2); return; }
      for (const hz of [100, 1000, 4000, 10000]) {   // axis: where these frequencies sit
        let r = 0; while (r < ROWS && sp.rowHz(r) > hz) r++;
        if (r <= 0 || r >= ROWS) continue;
        const y = WAVE_H + 2 + r * SPEC_H / ROWS;
        ctx.fillRect(GW - 6, y, 6, 1); ctx.fillText(hz >= 1000 ? `${hz / 1000}k` : String(hz), 8, Math.min(y + 4, H - 3));
      }
    }
  }

  D.SoundView = SoundView;
  D.fft = fft;
})(window.Distill = window.Distill || {});
