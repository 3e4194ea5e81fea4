#!/usr/bin/python3
"""A small gst-rtsp-server that re-serves one H.264 stream over RTSP: the peer compare.py measures
Vigia's RTSP fan-out against.

The stream arrives as RTP/H.264 (payload type 96) on a UDP port (compare.py pushes the same clip
there with `ffmpeg -re -stream_loop -1 -c copy -f rtp`); one shared media depayloads and
repayloads it once and every RTSP reader of the mount gets the same RTP packets, as Vigia's hub
does. It needs Debian's python3-gi and gir1.2-gst-rtsp-server-1.0, so run it with the system
Python:

    /usr/bin/python3 benches/compare/gst_rtsp_relay.py RTSP_PORT MOUNT UDP_PORT
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

CAPS = "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96"


def main():
    port, mount, udp = sys.argv[1], sys.argv[2], int(sys.argv[3])
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    server.set_backlog(1024)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( udpsrc port={udp} buffer-size=4194304 caps="{CAPS}" ! rtph264depay '
        "! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory.set_shared(True)
    # The pipeline keeps running between readers, as a Vigia path with a publisher does.
    factory.set_suspend_mode(GstRtspServer.RTSPSuspendMode.NONE)
    factory.set_stop_on_disconnect(False)
    server.get_mount_points().add_factory(mount, factory)
    if server.attach(None) == 0:
        sys.exit(f"gst_rtsp_relay: cannot listen on 127.0.0.1:{port}")
    print(f"gst_rtsp_relay: rtsp://127.0.0.1:{port}{mount} <- udp:{udp}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
