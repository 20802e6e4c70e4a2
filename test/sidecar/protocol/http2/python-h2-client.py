# An independent HTTP/2 client for test/sidecar/protocol/http2/interop.test.ts: python-h2 (Debian's
# python3-h2), whose HPACK decoder enforces the dynamic table size update RFC 7541 §4.2 requires.
# Usage: python-h2-client.py HOST PORT TLS(0|1) PATH HEADER_TABLE_SIZE WINDOW [BODY_BYTES]
# Prints one JSON line: {"status": ..., "body": "...", "trailers": {...}}.
import json
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings

host, port, tls, path, table, window = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
# The same bytes as the test's BODY: "interop-" repeated.
body = (b"interop-" * (int(sys.argv[7]) // 8 + 1))[:int(sys.argv[7])] if len(sys.argv) > 7 else None

sock = socket.create_connection((host, port), timeout=10)
if tls:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    sock = ctx.wrap_socket(sock, server_hostname="localhost")
    assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()

conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
conn.local_settings = h2.settings.Settings(client=True, initial_values={
    h2.settings.SettingCodes.HEADER_TABLE_SIZE: table,
    h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window,
    h2.settings.SettingCodes.ENABLE_PUSH: 0,
})
conn.initiate_connection()
sock.sendall(conn.data_to_send())

headers = [(":method", "POST" if body else "GET"), (":scheme", "https" if tls else "http"), (":authority", f"{host}:{port}"), (":path", path), ("te", "trailers")]
stream = conn.get_next_available_stream_id()
conn.send_headers(stream, headers, end_stream=body is None)
pending = body
out = {"status": None, "body": "", "trailers": {}}
data = b""
done = False
while not done:
    # Send all the flow-control windows allow before waiting for the peer.
    while pending:
        n = min(len(pending), conn.local_flow_control_window(stream), conn.max_outbound_frame_size)
        if n <= 0:
            break
        conn.send_data(stream, pending[:n], end_stream=n == len(pending))
        pending = pending[n:]
    sock.sendall(conn.data_to_send())
    chunk = sock.recv(65536)
    if not chunk:
        break
    for ev in conn.receive_data(chunk):
        if isinstance(ev, h2.events.ResponseReceived):
            out["status"] = int(dict(ev.headers)[":status"])
        elif isinstance(ev, h2.events.DataReceived):
            data += ev.data
            conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived):
            out["trailers"] = dict(ev.headers)
        elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
            done = True
        elif isinstance(ev, h2.events.ConnectionTerminated):
            raise SystemExit(f"connection terminated: {ev.error_code}")
    sock.sendall(conn.data_to_send())
out["body"] = data.decode("utf-8", "replace")
print(json.dumps(out))
