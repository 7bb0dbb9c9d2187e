"""The parts only the Max for Live devices have (tools/gen_max_device builds the rest): Live's
tempo and transport through live.observer, the instrument's MIDI from the track, MIDI learn, the
blend and layered-voice dials, and renders placed into the selected clip slot (distill_clip.js)
and auditioned through buffer~. Imported by tools/gen_max_device; `p` is its `Patch` builder."""
from __future__ import annotations

MOVES = ("brighter", "darker", "louder", "softer", "noisier", "tonal", "punchier", "smoother")
CLIP_JS = "distill_clip.js"  # the device's Live API script (clip slot, version check), next to the device
RENDER_BUFFER = "distill-render"  # buffer~ holding the last render, for auditioning it in Live
LEARN_TARGETS = ("off", *MOVES, "blend", "creativity", "focus", "diversity", "gain")  # CC targets without parameters


def live_parts(p, to_engine, route: str, answer: str, pout: str, instrument: bool) -> None:
    """What only a Max for Live device has: Live's tempo and transport followed through
    live.observer, MIDI from the track (instrument), MIDI learn, layered voice and blend dials, and
    renders placed into the selected clip slot (distill_clip.js) and auditioned through buffer~."""
    # Live's tempo and transport: live.thisdevice -> live.path live_set -> two live.observers
    this = p.obj(20, 860, "live.thisdevice", 1, 3, outtype=["bang", "int", "int"])
    paths = p.obj(20, 890, "t b b", 1, 2, outtype=["bang", "bang"])
    p.wire(this, paths)
    for k, (prop, handler) in enumerate((("tempo", "prepend /tempo"), ("is_playing", "sel 1 0"))):
        path_msg = p.msg(20 + 300 * k, 920, "path live_set")
        p.wire(paths, path_msg, k)
        live_path = p.obj(20 + 300 * k, 950, "live.path", 1, 3, outtype=["", "", ""])
        p.wire(path_msg, live_path)
        observer = p.obj(20 + 300 * k, 980, f"live.observer {prop}", 2, 2, outtype=["", ""])
        p.wire(live_path, observer, 1, 1)  # the object's id into the right inlet
        out = p.obj(20 + 300 * k, 1010, handler, 1, 1 if k == 0 else 3)
        p.wire(observer, out)
        if k == 0:
            to_engine(out)
        else:  # Live starts: the engine's loop starts on that bar (with /link 1, on Link's next bar)
            start = p.msg(320, 1040, "/seek 0, /play")
            stop = p.msg(440, 1040, "/stop")
            p.wire(out, start, 0)
            p.wire(out, stop, 1)
            to_engine(start)
            to_engine(stop)
    p.obj(900, 860, "live.banks", 1, 1)  # Push and the device's bank view read the banks saved below
    link = p.button(620, 860, "Link", [300, 48, 40, 18], "Join Ableton Link: tempo and start/stop shared with Live.")
    link_on = p.msg(620, 920, "/link 1 1")
    p.wire(link, link_on)
    to_engine(link_on)
    if instrument:  # the track's MIDI, as /midi/note, /midi/cc, /midi/bend: the session's mapping plays it
        notes = p.obj(20, 1080, "notein", 1, 3, outtype=["int", "int", "int"])
        npack = p.obj(20, 1110, "pack 0 0 0", 3, 1)
        ctls = p.obj(300, 1080, "ctlin", 1, 3, outtype=["int", "int", "int"])
        cpack = p.obj(300, 1110, "pack 0 0 0", 3, 1)
        for k in range(3):
            p.wire(notes, npack, k, k)
            p.wire(ctls, cpack, k, k)
        note_msg, cc_msg = p.msg(20, 1140, "/midi/note $1 $2 $3"), p.msg(300, 1140, "/midi/cc $2 $1 $3")
        p.wire(npack, note_msg)
        p.wire(cpack, cc_msg)
        to_engine(note_msg)
        to_engine(cc_msg)
        # pitch bend at its 14 bits: [xbendin] parses the raw bytes of [midiin] (bendin has 7)
        raw = p.obj(460, 1050, "midiin", 1, 1, outtype=["int"])
        bend = p.obj(460, 1080, "xbendin", 1, 2, outtype=["int", "int"])
        bpack = p.obj(460, 1110, "pack 0 0", 2, 1)
        bend_msg = p.msg(460, 1140, "/midi/bend $1 $2")
        p.wire(raw, bend)
        p.wire(bend, bpack, 0, 0)
        p.wire(bend, bpack, 1, 1)
        p.wire(bpack, bend_msg)
        to_engine(bend_msg)
    # MIDI learn: pick a target, then move a controller
    learn = p.live("live.menu", 620, 1080, "Learn", [350, 26, 90, 15], 2, enum=list(LEARN_TARGETS), hidden=True,
                   annotation="MIDI learn: choose what the next controller you move will drive.")
    tl = p.obj(620, 1110, "t b i", 1, 2, outtype=["bang", "int"])
    p.wire(learn, tl)
    plus = p.obj(680, 1140, "+ 1", 2, 1, outtype=["int"])
    p.wire(tl, plus, 1)
    lgate = p.obj(620, 1170, f"gate {len(LEARN_TARGETS)}", 2, len(LEARN_TARGETS))
    p.wire(plus, lgate)
    p.wire(tl, lgate, 0, 1)
    for i, target in enumerate(LEARN_TARGETS):
        m = p.msg(620 + 150 * (i % 5), 1200 + 28 * (i // 5), f"/midi/learn {target}")
        p.wire(lgate, m, i)
        to_engine(m)
    # blend (of the clipboard into the selection) and the layered voices' gains: automatable dials
    copy = p.button(20, 1300, "Copy", [344, 48, 40, 18], "Copy the selected region (for Blend).")
    region2 = p.obj(20, 1360, "zl.reg", 2, 2)
    p.wire(route, region2, 5, 1)
    p.wire(copy, region2)
    copy_msg = p.msg(20, 1390, "/edit/copy $1 $2 $3 $4")
    p.wire(region2, copy_msg)
    to_engine(copy_msg)
    region3 = p.obj(200, 1360, "zl.reg", 2, 2)
    p.wire(route, region3, 5, 1)
    blend = p.live("live.dial", 200, 1300, "Blend", [380, 72, 44, 48], 0, 0.0, 1.0, 0.0, unitstyle=1,
                   annotation="Blend the copied sound into the selection.", bank="Edit")
    tb = p.obj(200, 1330, "t b f", 1, 2, outtype=["bang", "float"])
    p.wire(blend, tb)
    with_blend = p.obj(200, 1390, "append 0.", 2, 1)
    p.wire(tb, with_blend, 1, 1)
    p.wire(tb, region3, 0)
    p.wire(region3, with_blend)
    blend_msg = p.msg(200, 1420, "/edit/blend $1 $2 $3 $4 $5")
    p.wire(with_blend, blend_msg)
    to_engine(blend_msg)
    for v in (1, 2):
        dial = p.live("live.dial", 300 + 100 * v, 1300, f"Voice {v}", [380 + 50 * v, 72, 44, 48], 0, -60.0, 12.0,
                      0.0, unitstyle=4, annotation=f"Gain of layered voice {v} (add one with /voice/add).",
                      bank="Edit")
        m = p.msg(300 + 100 * v, 1390, f"/voice/gain {v} $1")
        p.wire(dial, m)
        to_engine(m)
    # renders into the set: /done /render PATH -> the JS places the clip in the selected empty slot
    done_render = p.obj(20, 1480, "route /render", 1, 2)  # the args of /done: /render PATH
    p.wire(route, done_render, 2)
    place = p.obj(20, 1510, "prepend place", 1, 1)
    p.wire(done_render, place)
    js = p.obj(20, 1540, f"js {CLIP_JS}", 1, 2, outtype=["", ""])
    p.wire(place, js)
    buf = p.obj(300, 1570, f"buffer~ {RENDER_BUFFER}", 1, 2, outtype=["float", "bang"])
    p.wire(js, buf, 1)
    p.wire(js, answer)  # what happened to the clip, in the answers line
    hear = p.button(460, 1480, "Hear", [388, 48, 40, 18], "Audition the last render inside Live (buffer~).")
    hear_msg = p.msg(460, 1540, "start")
    p.wire(hear, hear_msg)
    play = p.obj(460, 1570, f"play~ {RENDER_BUFFER} 2", 1, 3, outtype=["signal", "signal", "bang"])
    p.wire(hear_msg, play)
    p.wire(play, pout, 0, 0)
    p.wire(play, pout, 1, 1)
