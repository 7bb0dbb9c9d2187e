/* The grid's sound in the browser: fetched from the engine, played with Web Audio.
 *
 * The engine decodes the current grid and serves it over HTTP (paths from the manifest's
 * conventions.sound): an index with one content hash (etag) per segment of the grid's columns, and
 * each segment's float32 samples. sync() fetches the index and then only the segments whose hash
 * changed, so an edit costs one or two small requests. Nothing here needs an audio device on the
 * engine's side: this is how `./run demo` is heard on any laptop.
 *
 * Playback: one AudioBufferSourceNode at a time (looping between loop points when a loop is set).
 * A Web Audio buffer cannot be changed under a playing source, so after an edit a new source starts
 * at the same position and the two crossfade over FADE_S: the edit is heard within ~20 ms.
 */
(function (D) {
  "use strict";

  const FADE_S = 0.015;      // crossfade between the old and the new buffer after an edit
  const AUDITION_S = 0.45;   // how long a Listen click on one cell plays

  class Sound {
    /** paths: {index, segment} from the manifest; null when the engine serves no sound. */
    constructor(paths, log) {
      this.paths = paths; this.log = log || (() => {});
      this.ctx = null; this.master = null; this.analyser = null;
      this.samples = new Float32Array(0); this.etags = []; this.sampleRate = 0;
      this.samplesPerFrame = 0; this.segmentSamples = 0; this.frames = 0; this.version = -1; this.modelId = "";
      this.playing = false; this.offsetS = 0; this.startedAt = 0; this.source = null; this.fade = null;
      this.loop = null;          // {startS, endS} or null
      this.gainDb = 0;
      this.onChange = () => {};  // (sampleStart, sampleStop, reshaped) after new samples arrived
      this.onEnded = () => {};
      this.stats = { indexFetches: 0, segmentsFetched: 0, lastFetched: [], syncs: 0, appliedAt: 0 };
      this._syncing = null; this._again = false; this.refused = "";
    }
    get available() { return !!(this.paths && this.paths.index && this.paths.segment); }
    durationS() { return this.sampleRate ? this.samples.length / this.sampleRate : 0; }

    // ---------------------------------------------------------------- fetching
    /** Brings the samples up to the engine's grid; concurrent calls coalesce into one more pass. */
    sync() {
      if (!this.available) return Promise.resolve(false);
      if (this._syncing) { this._again = true; return this._syncing; }
      this._syncing = (async () => {
        let changed = false;
        try {
          do { this._again = false; changed = (await this._syncOnce()) || changed; } while (this._again);
        } finally { this._syncing = null; }
        return changed;
      })();
      return this._syncing;
    }
    async _syncOnce() {
      this.stats.indexFetches++;
      const res = await fetch(this.paths.index, { cache: "no-store" });
      if (!res.ok) throw new Error(`${(await res.text()).trim()} (HTTP ${res.status})`);
      const ix = await res.json();
      if (ix.refused) {   // no grid yet, or one too long for the page: say why, ask again at the next version
        if (ix.refused !== this.refused && ix.version > 0) this.log(`browser sound: ${ix.refused}`, "fail");
        this.refused = ix.refused; this.version = ix.version;
        if (this.samples.length) { this.stop(); this.samples = new Float32Array(0); this.etags = []; this.onChange(0, 0, true); }
        return false;
      }
      this.refused = "";
      const reshaped = ix.samples !== this.samples.length || ix.sample_rate !== this.sampleRate ||
        ix.segment_samples !== this.segmentSamples || ix.model_id !== this.modelId;
      if (reshaped) {
        this.samples = new Float32Array(ix.samples); this.etags = new Array(ix.etags.length).fill("");
        this.sampleRate = ix.sample_rate; this.segmentSamples = ix.segment_samples; this.modelId = ix.model_id;
      }
      this.samplesPerFrame = ix.samples_per_frame; this.frames = ix.frames;
      const todo = ix.etags.map((e, i) => (e === this.etags[i] ? -1 : i)).filter((i) => i >= 0);
      const parts = await Promise.all(todo.map((i) => this._segment(i)));
      let lo = Infinity, hi = -Infinity;
      for (const [i, etag, data] of parts) {
        const at = i * this.segmentSamples;
        this.samples.set(data.subarray(0, Math.max(0, Math.min(data.length, this.samples.length - at))), at);
        this.etags[i] = etag === null ? ix.etags[i] : etag;
        lo = Math.min(lo, at); hi = Math.max(hi, at + data.length);
      }
      this.version = ix.version;
      this.stats.segmentsFetched += todo.length; this.stats.lastFetched = todo; this.stats.syncs++;
      if (!todo.length && !reshaped) return false;
      if (reshaped) { lo = 0; hi = this.samples.length; }
      this.onChange(lo, Math.min(hi, this.samples.length), reshaped);
      if (this.playing) this._restart(this.position());   // hear the edit now
      this.stats.appliedAt = performance.now();
      return true;
    }
    async _segment(i) {
      const res = await fetch(this.paths.segment.replace("{i}", String(i)), { cache: "no-store" });
      if (!res.ok) throw new Error(`sound segment ${i}: HTTP ${res.status}`);
      const etag = (res.headers.get("ETag") || "").replace(/"/g, "") || null;
      return [i, etag, new Float32Array(await res.arrayBuffer())];   // little-endian, as every browser CPU
    }

    // ---------------------------------------------------------------- playing
    _context() {
      if (this.ctx) return this.ctx;
      const Ctx = window.AudioContext || window.webkitAudioContext;
      this.ctx = new Ctx({ latencyHint: "interactive" });
      this.master = this.ctx.createGain();
      this.analyser = this.ctx.createAnalyser(); this.analyser.fftSize = 2048;
      this.master.connect(this.analyser); this.analyser.connect(this.ctx.destination);
      this.setGainDb(this.gainDb);
      return this.ctx;
    }
    _buffer() {
      const buf = this.ctx.createBuffer(1, Math.max(1, this.samples.length), this.sampleRate || 48000);
      buf.copyToChannel(this.samples, 0);
      return buf;
    }
    /** A new source from `atS`, crossfading out the one playing. */
    _restart(atS) {
      const ctx = this.ctx, now = ctx.currentTime, old = this.source, oldFade = this.fade;
      const src = ctx.createBufferSource(), fade = ctx.createGain();
      src.buffer = this._buffer();
      if (this.loop) { src.loop = true; src.loopStart = this.loop.startS; src.loopEnd = this.loop.endS; }
      src.connect(fade); fade.connect(this.master);
      if (old) {
        fade.gain.setValueAtTime(0, now); fade.gain.linearRampToValueAtTime(1, now + FADE_S);
        oldFade.gain.setValueAtTime(oldFade.gain.value, now); oldFade.gain.linearRampToValueAtTime(0, now + FADE_S);
        old.onended = null; old.stop(now + FADE_S + 0.005);
      }
      src.onended = () => { if (src === this.source && this.playing) { this.playing = false; this.offsetS = 0; this.source = null; this.onEnded(); } };
      src.start(now, Math.max(0, Math.min(atS, this.durationS())));
      this.source = src; this.fade = fade; this.offsetS = atS; this.startedAt = now;
    }
    async play() {
      if (!this.samples.length) { this.log("nothing to play yet: generate or load a sound", "fail"); return false; }
      const ctx = this._context();
      if (ctx.state !== "running") await ctx.resume();
      if (this.loop && (this.offsetS < this.loop.startS || this.offsetS >= this.loop.endS)) this.offsetS = this.loop.startS;
      if (this.offsetS >= this.durationS()) this.offsetS = 0;
      this.playing = true;
      this._restart(this.offsetS);
      return true;
    }
    stop() {
      if (this.playing) this.offsetS = this.position();
      this.playing = false;
      if (this.source) { this.source.onended = null; try { this.source.stop(); } catch (e) { /* already */ } }
      this.source = null;
    }
    /** The playhead in seconds, following the loop. */
    position() {
      if (!this.playing || !this.ctx) return this.offsetS;
      let t = this.offsetS + (this.ctx.currentTime - this.startedAt);
      const l = this.loop;
      if (l && t >= l.endS && l.endS > l.startS) t = l.startS + ((t - l.startS) % (l.endS - l.startS));
      return Math.min(t, this.durationS());
    }
    seek(t) {
      this.offsetS = Math.max(0, Math.min(t, this.durationS()));
      if (this.playing) this._restart(this.offsetS);
    }
    /** Loop [startS, endS) or null (play to the end). */
    setLoop(startS, endS) {
      this.loop = endS > startS ? { startS, endS: Math.min(endS, this.durationS() || endS) } : null;
      if (this.playing) {
        const t = this.position();
        this._restart(this.loop && (t < this.loop.startS || t >= this.loop.endS) ? this.loop.startS : t);
      }
    }
    setGainDb(db) {
      this.gainDb = db;
      if (this.master) this.master.gain.setTargetAtTime(Math.pow(10, db / 20), this.ctx.currentTime, 0.01);
    }
    /** Plays [startS, startS + lengthS) once over whatever plays (Listen). */
    async audition(startS, lengthS) {
      if (!this.samples.length) return;
      const ctx = this._context();
      if (ctx.state !== "running") await ctx.resume();
      const src = ctx.createBufferSource(), env = ctx.createGain(), len = lengthS || AUDITION_S, now = ctx.currentTime;
      src.buffer = this._buffer();
      env.gain.setValueAtTime(0, now); env.gain.linearRampToValueAtTime(1, now + 0.01);
      env.gain.setValueAtTime(1, now + len - 0.03); env.gain.linearRampToValueAtTime(0, now + len);
      src.connect(env); env.connect(this.master);
      src.start(now, Math.max(0, startS), len);
    }
    /** RMS of what the analyser hears right now (for the level meter and the tests). */
    level() {
      if (!this.analyser) return 0;
      const a = new Float32Array(this.analyser.fftSize);
      this.analyser.getFloatTimeDomainData(a);
      let s = 0; for (const x of a) s += x * x;
      return Math.sqrt(s / a.length);
    }
  }

  D.Sound = Sound;
})(window.Distill = window.Distill || {});
