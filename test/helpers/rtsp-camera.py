"""A camera simulator for the RTSP tests: gst-rtsp-server serving /cam from a launch line.

usage: rtsp-camera.py PORT LAUNCH [USER PASS]   (with USER: Digest authentication only)
CAMERA_TCP_ONLY=1 in the environment: the camera refuses UDP transports (461), as some do.
Prints "ready" once it listens on 127.0.0.1:PORT.
"""
import os
import sys
import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstRtsp', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

Gst.init(None)
port, launch = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_address('127.0.0.1')
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(launch)
factory.set_shared(True)
if os.environ.get('CAMERA_TCP_ONLY') == '1':
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
if len(sys.argv) >= 5:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string('media.factory.role', 'viewer')
    auth.add_digest(sys.argv[3], sys.argv[4], token)
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role('viewer', 'media.factory.access', True)
    permissions.add_permission_for_role('viewer', 'media.factory.construct', True)
    factory.set_permissions(permissions)
server.get_mount_points().add_factory('/cam', factory)
if server.attach(None) == 0:
    sys.exit('could not listen')
print('ready', flush=True)
GLib.MainLoop().run()
