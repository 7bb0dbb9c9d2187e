/* Where Play sounds: in this browser (Web Audio, the engine's decoded sound fetched over HTTP;
 * no audio setup at all) or on the audio device the engine was started with (`--device`, the OSC
 * transport). The page's transport controls call this one object, whichever it is; the "Hear"
 * menu picks, and defaults to the browser when the engine reports no audio device.
 */
(function (D) {
  "use strict";

  class Transport {
    /** deps: {state, send, log, addresses, select (the Hear <select>), soundCanvas} */
    constructor(deps) {
      const { state: S, log } = deps;
      Object.assign(this, deps);
      this.chosen = false;   // the musician picked in the menu: keep it
      const paths = S.protocol.raw && S.protocol.raw.conventions && S.protocol.raw.conventions.sound;
      this.sound = S.sound = new D.Sound(paths && { index: D.httpUrl(paths.index), segment: D.httpUrl(paths.segment) }, log);
      this.view = S.soundView = new D.SoundView(deps.soundCanvas, S.view, this.sound);
      S.view.onPaint = () => this.view.paint();
      this.sound.onChange = (s0, s1, reshaped) => this.view.changed(s0, s1, reshaped);
      this.sound.onEnded = () => { S.view.playheadS = 0; S.view.draw(); };
      this.view.onSeek = (t) => S.view.onSeek(t);
      if (!this.sound.available) {
        this.select.value = "engine"; this.select.options[0].disabled = true;
        this.view.message = "This engine does not serve its sound to the page: play it with --device.";
      }
      this.select.addEventListener("change", () => {
        this.chosen = true; this.sound.stop(); S.view.draw();
        if (this.engineHasDevice()) this.send(this.addresses.stop);
      });
    }
    browser() { return this.select.value === "browser"; }
    engineHasDevice() { const st = this.state.status; return !!(st && st.audio && st.audio !== "none"); }
    /** From /status: the browser when the engine has no device, unless the musician chose. */
    engineAudio(audio) {
      if (!this.chosen) this.select.value = audio === "none" && this.sound.available ? "browser" : "engine";
    }
    /** The engine's playhead (status poll, /transport) moves the view only when it is what sounds. */
    enginePosition(positionS) {
      if (this.browser()) return;
      this.state.view.playheadS = positionS; this.state.view.draw();
    }
    transportLabel(engineTransport) {
      return this.browser() ? (this.sound.playing ? "playing in this browser" : "stopped") : String(engineTransport);
    }
    /** Fetches what changed of the engine's sound (after an edit, a new grid, a missed notification). */
    sync() { this.sound.sync().catch((e) => this.log(`browser sound: ${e.message}`, "fail")); }
    playing() { return this.browser() ? this.sound.playing : !!(this.state.status && this.state.status.transport === "playing"); }
    play() {
      if (!this.browser()) { this.send(this.addresses.play); return; }
      this.sound.play().then((ok) => { if (ok) requestAnimationFrame(() => this._follow()); },
        (e) => this.log(`browser sound: ${e.message}`, "fail"));
    }
    stop() { if (this.browser()) { this.sound.stop(); this.state.view.draw(); } else this.send(this.addresses.stop); }
    toggle() { if (this.playing()) this.stop(); else this.play(); }
    seek(t) { if (this.browser()) this.sound.seek(t); else this.send(this.addresses.seek, [t]); }
    /** Loop [startS, endS); endS 0 turns the loop off. */
    loop(startS, endS) { if (this.browser()) this.sound.setLoop(startS, endS); else this.send(this.addresses.loop, [startS, endS]); }
    gain(db) { this.sound.setGainDb(db); }
    /** Listen: in the browser, that stretch of the grid's own sound; else the engine's audition. */
    audition(startS, lengthS, address, args) {
      if (this.browser()) this.sound.audition(startS, lengthS); else this.send(address, args);
    }
    _follow() {   // the playhead of the browser's playback, once per screen frame
      const v = this.state.view;
      v.playheadS = this.sound.position(); v.draw();
      if (this.sound.playing) requestAnimationFrame(() => this._follow());
    }
  }

  D.Transport = Transport;
})(window.Distill = window.Distill || {});
