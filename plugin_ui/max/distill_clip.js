// distill_clip.js: the Distill Max for Live devices' Live API script (Max's [js], stock Live API).
// place PATH: puts the rendered clip PATH into the selected clip slot (Session view's highlighted
//   slot) with ClipSlot.create_audio_clip, which Live has from 12.0.5 on; says why not otherwise
//   (older Live, no slot selected, a slot that holds a clip, a MIDI track), and loads PATH into the
//   buffer~ (outlet 1) so the device's Hear button auditions it without any loopback driver.
// Outlet 0: "set TEXT" for the device's answers line. Written by hand; tools/gen_max_device
// references it and tests/ui/test_max_device.py checks it against the route table.
autowatch = 0;
inlets = 1;
outlets = 2;

var MIN_VERSION = [12, 0, 5];

function say(text) {
    outlet(0, "set", text);
}

function liveVersion() {
    var app = new LiveAPI("live_app");
    return [Number(app.call("get_major_version")), Number(app.call("get_minor_version")),
            Number(app.call("get_bugfix_version"))];
}

function atLeast(v, min) {
    for (var i = 0; i < 3; i++) {
        if (v[i] !== min[i]) {
            return v[i] > min[i];
        }
    }
    return true;
}

function place(path) {
    outlet(1, "replace", path);  // audition through buffer~ works on every Live version
    var v = liveVersion();
    if (!atLeast(v, MIN_VERSION)) {
        say("Live " + v.join(".") + " cannot place clips from a device (needs 12.0.5): drag " + path +
            " from the browser");
        return;
    }
    var slot = new LiveAPI("live_set view highlighted_clip_slot");
    if (!slot || Number(slot.id) === 0) {
        say("select an empty clip slot of an audio track in Session view, then render again");
        return;
    }
    if (Number(slot.get("has_clip")) === 1) {
        say("the selected clip slot holds a clip: select an empty one (nothing was replaced)");
        return;
    }
    var trackPath = String(slot.unquotedpath).replace(/ clip_slots \d+$/, "");
    var track = new LiveAPI(trackPath);
    if (Number(track.get("has_audio_input")) !== 1) {
        say("the selected slot is on a MIDI track: select a slot of an audio track");
        return;
    }
    slot.call("create_audio_clip", path);
    say("placed " + path);
}
