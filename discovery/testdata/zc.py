#!/usr/bin/python3
"""python-zeroconf side of the discovery interop tests (Debian's python3-zeroconf).

  zc.py browse QM|QU     browse _parley._udp.local.; print "added NAME", "txt NAME KEY=VALUE..."
                         and "removed NAME" lines, until stdin closes
  zc.py legacy ID         send one legacy unicast query (from an ephemeral port, ID given) for
                         PTR _parley._udp.local. to 224.0.0.251:5353, from an unconnected
                         socket; print "reply SRC ID QUESTION" for each answer within 3 s
  zc.py publish IP NAME TXT...
                         register instance NAME (the peer ID) on IP with the TXT strings, until
                         stdin closes; python-zeroconf's answers carry NSEC records
"""
import sys
import socket
import threading

from zeroconf import Zeroconf, ServiceBrowser, ServiceInfo, IPVersion
from zeroconf import DNSQuestionType

TYPE = "_parley._udp.local."


def out(*a):
    print(*a, flush=True)


def browse(qtype):
    qt = DNSQuestionType.QU if qtype == "QU" else DNSQuestionType.QM
    zc = Zeroconf(ip_version=IPVersion.V4Only)

    def handler(zeroconf, service_type, name, state_change):
        out(state_change.name.lower(), name)
        if state_change.name == "Added":
            threading.Thread(target=resolve, args=(zeroconf, name), daemon=True).start()

    def resolve(zeroconf, name):
        info = zeroconf.get_service_info(TYPE, name, timeout=3000, question_type=qt)
        if info is not None:
            out("txt", name, *[k.decode() + "=" + (v or b"").decode() for k, v in info.properties.items()])

    ServiceBrowser(zc, TYPE, handlers=[handler], question_type=qt)
    out("ready")
    sys.stdin.read()
    zc.close()


def publish(ip, name, txt):
    raw = b"".join(bytes([len(s)]) + s for s in (t.encode() for t in txt))
    info = ServiceInfo(TYPE, name + "." + TYPE, addresses=[socket.inet_aton(ip)], port=4747,
                       properties=raw, server="pyzc-" + name[-8:].lower() + ".local.")
    zc = Zeroconf(interfaces=[ip], ip_version=IPVersion.V4Only)
    zc.register_service(info)
    out("ready")
    sys.stdin.read()
    zc.close()


def legacy(qid):
    import struct
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in TYPE.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", 12, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    s.bind(("0.0.0.0", 0))
    s.sendto(q, ("224.0.0.251", 5353))
    s.settimeout(3)
    out("sent")
    try:
        while True:
            data, src = s.recvfrom(9000)
            rid, flags, qd = struct.unpack(">HHH", data[:6])
            # the echoed question: the name's labels after the header
            off, labels = 12, []
            while qd and data[off]:
                n = data[off]
                labels.append(data[off + 1:off + 1 + n].decode())
                off += 1 + n
            out("reply", "%s:%d" % src, rid, ".".join(labels) + ".")
    except socket.timeout:
        out("done")


if __name__ == "__main__":
    if sys.argv[1] == "browse":
        browse(sys.argv[2])
    elif sys.argv[1] == "legacy":
        legacy(int(sys.argv[2]))
    else:
        publish(sys.argv[2], sys.argv[3], sys.argv[4:])
