"""An RTSP player for the tests: GStreamer's rtspsrc, each new pad linked by its media (video: H264
or H265 depayloader, parser and decoder; audio: decodebin), counting decoded buffers.

usage: rtsp-play.py URL tcp|udp VIDEO_FRAMES AUDIO_BUFFERS TIMEOUT_S
Exits 0 once both counts are reached (0: that kind is not waited for), 1 on error or timeout;
prints "video N audio M" at the end.
"""
import sys
import gi

gi.require_version('Gst', '1.0')
from gi.repository import GLib, Gst  # noqa: E402

Gst.init(None)
url, protocols, want_video, want_audio, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
counts = {'video': 0, 'audio': 0}
loop = GLib.MainLoop()
result = {'code': 1}
pipeline = Gst.Pipeline.new('play')
src = Gst.ElementFactory.make('rtspsrc')
src.set_property('location', url)
src.set_property('protocols', protocols)
src.set_property('latency', 200)
pipeline.add(src)


def done_if_enough():
    if counts['video'] >= want_video and counts['audio'] >= want_audio:
        result['code'] = 0
        GLib.idle_add(loop.quit)


def counter(kind):
    def probe(_pad, _info):
        counts[kind] += 1
        done_if_enough()
        return Gst.PadProbeReturn.OK
    return probe


def on_pad(_src, pad):
    caps = pad.get_current_caps().get_structure(0)
    media = caps.get_string('media')
    encoding = (caps.get_string('encoding-name') or '').upper()
    if media == 'video':
        names = {'H264': ['rtph264depay', 'h264parse', 'avdec_h264'], 'H265': ['rtph265depay', 'h265parse', 'avdec_h265']}.get(encoding)
    else:
        names = ['decodebin']
    if not names:
        return
    elements = [Gst.ElementFactory.make(n) for n in names]
    sink = Gst.ElementFactory.make('fakesink')
    sink.set_property('sync', False)
    for e in elements + [sink]:
        pipeline.add(e)
        e.sync_state_with_parent()
    kind = 'video' if media == 'video' else 'audio'
    sink.get_static_pad('sink').add_probe(Gst.PadProbeType.BUFFER, counter(kind))
    pad.link(elements[0].get_static_pad('sink'))
    if names == ['decodebin']:
        elements[0].connect('pad-added', lambda _d, p: p.link(sink.get_static_pad('sink')))
    else:
        for a, b in zip(elements, elements[1:] + [sink]):
            a.link(b)


src.connect('pad-added', on_pad)


def on_message(_bus, msg):
    if msg.type == Gst.MessageType.ERROR:
        err, _ = msg.parse_error()
        print('error:', err.message, flush=True)
        loop.quit()


bus = pipeline.get_bus()
bus.add_signal_watch()
bus.connect('message', on_message)
GLib.timeout_add_seconds(timeout, loop.quit)
pipeline.set_state(Gst.State.PLAYING)
loop.run()
pipeline.set_state(Gst.State.NULL)
print(f"video {counts['video']} audio {counts['audio']}", flush=True)
sys.exit(result['code'])
