#!/usr/bin/env python3
"""Readiness probes for the dev services, stdlib only (no client libraries to install).

    probe.py kafka 127.0.0.1:9092   -> exit 0 once the broker answers a Metadata request
                                       and lists itself as a live (unfenced) broker
    probe.py cql   127.0.0.1:9042   -> exit 0 once CQL answers SELECT release_version FROM system.local;
                                       prints the release version

Both speak the real wire protocol (Kafka Metadata v4, CQL native protocol v4), so a port
that merely accepts TCP connections does not count as "up". Exit 1 (with a one-line
reason on stderr) otherwise.
"""
import socket
import struct
import sys


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        buf += chunk
    return buf


def _str16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


# ---------------------------------------------------------------- Kafka
def kafka(host, port):
    # Request header v1 + Metadata v4 body (topics=[] -> no topic metadata, only brokers).
    # v4 is non-flexible and supported by Kafka 2.x..4.x (KIP-896 kept v4+).
    body = struct.pack(">hhi", 3, 4, 1) + _str16("bc-probe")
    body += struct.pack(">i", 0) + b"\x00"  # topics: empty array; allow_auto_topic_creation=false
    with socket.create_connection((host, port), timeout=3) as s:
        s.settimeout(3)
        s.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv_exact(s, 4))
        resp = _recv_exact(s, size)
    off = 4 + 4  # correlation id, throttle_time_ms
    (nbrokers,) = struct.unpack_from(">i", resp, off)
    off += 4
    brokers = []
    for _ in range(nbrokers):
        node_id, hlen = struct.unpack_from(">ih", resp, off)
        off += 6
        bhost = resp[off : off + hlen].decode()
        off += hlen
        (bport, rlen) = struct.unpack_from(">ih", resp, off)
        off += 6 + max(rlen, 0)
        brokers.append((node_id, bhost, bport))
    if not any(p == port for _, _, p in brokers):
        raise RuntimeError(f"metadata lists no live broker on port {port} yet: {brokers}")
    print(f"kafka brokers {brokers}")


# ---------------------------------------------------------------- CQL
def _cql_frame(opcode, body, stream=1):
    return struct.pack(">BBhBi", 0x04, 0, stream, opcode, len(body)) + body


def _cql_read(sock):
    version, flags, stream, opcode, length = struct.unpack(">BBhBi", _recv_exact(sock, 9))
    body = _recv_exact(sock, length)
    if opcode == 0x00:  # ERROR: [int code][string message]
        code, mlen = struct.unpack_from(">ih", body, 0)
        raise RuntimeError(f"CQL error 0x{code:04x}: {body[6:6 + mlen].decode(errors='replace')}")
    return opcode, body


def cql(host, port):
    with socket.create_connection((host, port), timeout=5) as s:
        s.settimeout(5)
        # STARTUP {CQL_VERSION: 3.0.0} -> READY (0x02); auth is off in our dev config.
        s.sendall(_cql_frame(0x01, struct.pack(">h", 1) + _str16("CQL_VERSION") + _str16("3.0.0")))
        opcode, _ = _cql_read(s)
        if opcode != 0x02:
            raise RuntimeError(f"expected READY, got opcode 0x{opcode:02x}")
        q = b"SELECT release_version FROM system.local"
        # QUERY: [long string][consistency ONE][flags 0]
        s.sendall(_cql_frame(0x07, struct.pack(">i", len(q)) + q + struct.pack(">hB", 0x0001, 0), stream=2))
        opcode, body = _cql_read(s)
    if opcode != 0x08:
        raise RuntimeError(f"expected RESULT, got opcode 0x{opcode:02x}")
    kind, flags, ncols = struct.unpack_from(">iii", body, 0)
    if kind != 2:
        raise RuntimeError(f"expected Rows result, got kind {kind}")
    off = 12
    if flags & 0x0002:  # has_more_pages: paging state [bytes]
        (plen,) = struct.unpack_from(">i", body, off)
        off += 4 + max(plen, 0)
    if flags & 0x0001:  # global_tables_spec: keyspace + table
        for _ in range(2):
            (l,) = struct.unpack_from(">h", body, off)
            off += 2 + l
    for _ in range(ncols):  # column name [string] + type [option]; release_version is varchar
        (l,) = struct.unpack_from(">h", body, off)
        off += 2 + l
        off += 2
    (nrows,) = struct.unpack_from(">i", body, off)
    off += 4
    if nrows < 1:
        raise RuntimeError("system.local returned no rows")
    (vlen,) = struct.unpack_from(">i", body, off)
    print(body[off + 4 : off + 4 + vlen].decode())


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("kafka", "cql"):
        print(__doc__, file=sys.stderr)
        return 2
    host, _, port = sys.argv[2].rpartition(":")
    try:
        {"kafka": kafka, "cql": cql}[sys.argv[1]](host, int(port))
    except Exception as e:  # any failure = not ready; say why in one line
        print(f"{sys.argv[1]} {sys.argv[2]} not ready: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
