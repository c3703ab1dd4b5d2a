#!/usr/bin/env python3
"""Rebuilds the filter goldens: writes the test pcaps, then asks Debian's
tcpdump which packets each expression matches and what program it compiles.

Run from anywhere: python3 crates/filter/tests/goldens/make.py
Outputs (committed): eth.pcap raw.pcap sll.pcap and eth.txt raw.txt sll.txt,
random.txt (seeded random compound expressions, over full.pcap: the
Ethernet packets without the two truncated ones) and bad.txt. Each packet's timestamp is its index (seconds), so matches are
read back from `tcpdump -w` output by timestamp.
"""
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4a(s):
    return bytes(int(x) for x in s.split("."))


def ip6a(s):
    import ipaddress
    return ipaddress.IPv6Address(s).packed


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ipv4(src, dst, proto, payload, frag=0, ident=1, ttl=64, options=b""):
    ihl = 5 + len(options) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(payload),
                      ident, frag, ttl, proto, 0, ip4a(src), ip4a(dst)) + options
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(src, dst, nh, payload, hlim=64):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, hlim, ip6a(src), ip6a(dst)) + payload


def frag6(nh, offset, more, ident, payload):
    return struct.pack("!BBHI", nh, 0, (offset << 3) | (1 if more else 0), ident) + payload


def tcp(sp, dp, flags, payload=b""):
    return struct.pack("!HHIIBBHHH", sp, dp, 1000, 2000, 0x50, flags, 8192, 0, 0) + payload


def udp(sp, dp, payload=b""):
    return struct.pack("!HHHH", sp, dp, 8 + len(payload), 0) + payload


def sctp(sp, dp):
    return struct.pack("!HHII", sp, dp, 7, 0) + b"\x01\x00\x00\x04"


def icmp(t, c, payload=b"abcdefgh"):
    return struct.pack("!BBHI", t, c, 0, 0x00010001) + payload


def igmp(t, group):
    return struct.pack("!BBH4s", t, 0, 0, ip4a(group))


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x800, 6, 4, op, mac(sha), ip4a(spa), mac(tha), ip4a(tpa))


def eth(dst, src, etype, payload, vlans=(), mpls=()):
    b = mac(dst) + mac(src)
    for tpid, vid in vlans:
        b += struct.pack("!HH", tpid, vid)
    if mpls:
        b += struct.pack("!H", 0x8847)
        for i, label in enumerate(mpls):
            bos = 1 if i == len(mpls) - 1 else 0
            b += struct.pack("!I", (label << 12) | (bos << 8) | 64)
    else:
        b += struct.pack("!H", etype)
    return b + payload


def pad(b, n):
    return b + b"\0" * max(0, n - len(b))


A = "00:11:22:33:44:55"
B = "66:77:88:99:aa:bb"
BC = "ff:ff:ff:ff:ff:ff"


def ip_packets():
    """(network-layer bytes, description) for the IP part of every link type."""
    P = []
    for sp, dp, fl in [(12345, 80, 0x02), (80, 12345, 0x12), (12345, 80, 0x10), (12345, 80, 0x11),
                       (12345, 80, 0x04), (12345, 80, 0x18), (40000, 22, 0x02), (40001, 443, 0x18),
                       (40002, 21, 0x02), (40003, 23, 0x10), (40004, 25, 0x18), (53, 40005, 0x18),
                       (1500, 2500, 0x02), (8080, 65535, 0xc2), (0, 0, 0x29)]:
        P.append(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(sp, dp, fl, b"x" * (sp % 7))))
    P.append(ipv4("192.168.1.10", "1.2.3.4", 6, tcp(5555, 80, 0x02)))
    P.append(ipv4("5.6.7.8", "192.168.1.10", 6, tcp(443, 5556, 0x12)))
    P.append(ipv4("172.16.5.4", "10.1.2.3", 6, tcp(3306, 40000, 0x18, b"y" * 300)))
    P.append(ipv4("10.0.0.3", "10.0.0.4", 6, tcp(1234, 80, 0x02), options=b"\x01\x01\x01\x00"))
    for sp, dp, n in [(40000, 53, 30), (53, 40000, 120), (123, 123, 48), (40000, 161, 40), (68, 67, 300),
                      (40000, 514, 80), (5060, 5060, 400), (1000, 2000, 10), (1999, 1024, 10), (40000, 69, 20)]:
        P.append(ipv4("10.0.0.1", "10.0.0.9", 17, udp(sp, dp, b"u" * n)))
    P.append(ipv4("10.0.0.1", "255.255.255.255", 17, udp(68, 67, b"d" * 50)))
    P.append(ipv4("10.0.0.5", "224.0.0.251", 17, udp(5353, 5353, b"m" * 40)))
    P.append(ipv4("10.0.0.5", "239.1.2.3", 17, udp(4000, 4001, b"m" * 10)))
    P.append(ipv4("10.0.0.1", "0.0.0.0", 17, udp(1, 2)))
    P.append(ipv4("10.0.0.1", "10.0.0.2", 132, sctp(80, 40000)))
    P.append(ipv4("10.0.0.2", "10.0.0.1", 132, sctp(3868, 3868)))
    P.append(ipv4("10.0.0.1", "8.8.8.8", 1, icmp(8, 0)))
    P.append(ipv4("8.8.8.8", "10.0.0.1", 1, icmp(0, 0)))
    P.append(ipv4("10.0.0.254", "10.0.0.1", 1, icmp(3, 3, b"\0" * 28)))
    P.append(ipv4("10.0.0.254", "10.0.0.1", 1, icmp(11, 0, b"\0" * 28)))
    P.append(ipv4("10.0.0.1", "224.0.0.22", 2, igmp(0x16, "224.0.0.251"), ttl=1))
    P.append(ipv4("10.0.0.1", "224.0.0.1", 2, igmp(0x11, "0.0.0.0"), ttl=1))
    # Fragments: first (MF, offset 0) and a later one whose bytes look like port 53.
    P.append(ipv4("10.0.0.1", "10.0.0.9", 17, udp(40000, 53, b"f" * 40), frag=0x2000, ident=77))
    P.append(ipv4("10.0.0.1", "10.0.0.9", 17, struct.pack("!HH", 40000, 53) + b"g" * 40, frag=0x0005, ident=77))
    P.append(ipv4("10.0.0.1", "10.0.0.2", 6, struct.pack("!HH", 12345, 80) + b"h" * 30, frag=0x2010, ident=78))
    P.append(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(12345, 80, 0x18), frag=0x4000))
    for proto, body in [(47, b"\0\0\x08\0" + b"g" * 20), (50, b"e" * 24), (51, b"a" * 24), (103, b"p" * 20),
                        (112, b"v" * 20), (89, b"o" * 20)]:
        P.append(ipv4("10.9.9.9", "10.8.8.8", proto, body))
    # IPv6.
    P.append(ipv6("2001:db8::1", "2001:db8::2", 6, tcp(12345, 80, 0x02)))
    P.append(ipv6("2001:db8::2", "2001:db8::1", 6, tcp(80, 12345, 0x12)))
    P.append(ipv6("2001:db8:1::5", "2001:db8:ffff::6", 17, udp(40000, 53, b"q" * 30)))
    P.append(ipv6("fe80::1", "fe80::2", 17, udp(546, 547, b"d" * 20)))
    P.append(ipv6("2001:db8::1", "2001:db8::2", 58, icmp(128, 0)))
    P.append(ipv6("2001:db8::2", "2001:db8::1", 58, icmp(129, 0)))
    P.append(ipv6("fe80::1", "ff02::1:ff00:2", 58, icmp(135, 0, b"\0" * 20), hlim=255))
    P.append(ipv6("::1", "::1", 6, tcp(631, 631, 0x10)))
    P.append(ipv6("2001:db8::1", "2001:db8::2", 44, frag6(17, 0, True, 5, udp(40000, 53, b"r" * 16))))
    P.append(ipv6("2001:db8::1", "2001:db8::2", 44, frag6(58, 0, False, 6, icmp(128, 0))))
    P.append(ipv6("2001:db8::1", "2001:db8::2", 132, sctp(80, 80)))
    P.append(ipv6("2001:db8::1", "ff05::2", 17, udp(4000, 4000, b"w" * 10)))
    P.append(ipv6("2001:db8::9", "2001:db8::a", 50, b"e" * 24))
    return P


def eth_packets():
    P = []
    for i, n in enumerate(ip_packets()):
        dst = BC if n[16:20] == b"\xff\xff\xff\xff" and n[0] >> 4 == 4 else (B if i % 2 else A)
        if n[0] >> 4 == 4 and n[16] >= 224 and n[16] < 240:
            dst = "01:00:5e:%02x:%02x:%02x" % (n[17] & 0x7f, n[18], n[19])
        src = A if dst != A else B
        if n[0] >> 4 == 6:
            if n[24] == 0xff:
                dst = "33:33:%02x:%02x:%02x:%02x" % tuple(n[36:40])
            P.append(pad(eth(dst, src, 0x86DD, n), 60))
        else:
            P.append(pad(eth(dst, src, 0x800, n), 60))
    P.append(pad(eth(BC, A, 0x806, arp(1, A, "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2")), 60))
    P.append(pad(eth(A, B, 0x806, arp(2, B, "10.0.0.2", A, "10.0.0.1")), 60))
    P.append(pad(eth(BC, B, 0x806, arp(1, B, "1.2.3.4", "00:00:00:00:00:00", "1.2.3.4")), 60))
    P.append(pad(eth(BC, A, 0x8035, arp(3, A, "0.0.0.0", A, "0.0.0.0")), 60))
    P.append(pad(eth(B, A, 0x8035, arp(4, B, "10.0.0.2", A, "10.0.0.7")), 60))
    # VLAN: single tags, 802.1ad + 802.1Q, and other payloads.
    P.append(pad(eth(B, A, 0x800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(12345, 80, 0x02)), vlans=[(0x8100, 10)]), 60))
    P.append(pad(eth(A, B, 0x800, ipv4("10.0.0.2", "10.0.0.1", 17, udp(53, 40000, b"z" * 20)), vlans=[(0x8100, 100)]), 60))
    P.append(pad(eth(B, A, 0x800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1, 22, 0x02)), vlans=[(0x88a8, 20), (0x8100, 30)]), 60))
    P.append(pad(eth(B, A, 0x800, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1, 80, 0x12)), vlans=[(0x8100, 10), (0x8100, 20)]), 60))
    P.append(pad(eth(B, A, 0x86DD, ipv6("2001:db8::1", "2001:db8::2", 17, udp(1, 53)), vlans=[(0x8100, 10)]), 60))
    P.append(pad(eth(BC, A, 0x806, arp(1, A, "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2"), vlans=[(0x8100, 100)]), 60))
    P.append(pad(eth(B, A, 0x800, ipv4("10.0.0.1", "10.0.0.2", 1, icmp(8, 0)), vlans=[(0x9100, 4095)]), 60))
    # MPLS.
    P.append(pad(eth(B, A, 0, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1, 80, 0x02)), mpls=[5]), 60))
    P.append(pad(eth(B, A, 0, ipv4("10.0.0.1", "10.0.0.2", 17, udp(1, 53)), mpls=[100, 3]), 60))
    P.append(pad(eth(B, A, 0, ipv6("2001:db8::1", "2001:db8::2", 6, tcp(1, 80, 0x02)), mpls=[16]), 60))
    # 802.3 frames with LLC, LLDP, and an unknown type.
    P.append(pad(mac("01:80:c2:00:00:00") + mac(A) + struct.pack("!H", 38) + b"\x42\x42\x03" + b"\0" * 35, 60))
    P.append(pad(mac(B) + mac(A) + struct.pack("!H", 30) + b"\x64\x64\x03" + b"\0" * 27, 60))
    P.append(pad(eth("01:80:c2:00:00:0e", A, 0x88CC, b"\x02\x07\x04" + mac(A) + b"\0" * 20), 60))
    P.append(pad(eth(B, A, 0x1234, b"\x99" * 50), 60))
    # Other link-level protocols: Ethernet II types and 802.2/802.3 frames.
    for etype in (0x6003, 0x6004, 0x6007, 0x6002, 0x6001, 0x8137, 0x809b, 0x80f3):
        P.append(pad(eth(B, A, etype, b"\x01" * 40), 60))
    for llc in (b"\xff\xff" + b"\0" * 20, b"\xe0\xe0\x03" + b"\0" * 20, b"\xaa\xaa\x03\0\0\0\x81\x37" + b"\0" * 20,
                b"\xf0\xf0\x03" + b"\0" * 20, b"\xfe\xfe\x03\x81" + b"\0" * 20, b"\xaa\xaa\x03\x08\x00\x07\x80\x9b" + b"\0" * 20,
                b"\xaa\xaa\x03\0\0\0\x80\xf3" + b"\0" * 20, b"\x06\x06\x03" + b"\0" * 20):
        P.append(pad(mac(B) + mac(A) + struct.pack("!H", len(llc)) + llc, 60))
    P.append(pad(eth(B, A, 0x800, ipv4("10.0.0.1", "10.0.0.2", 17, udp(7, 7, b"L" * 1400))), 60))
    return P


def sll(etype, payload, pkttype=0):
    return struct.pack("!HHH8sH", pkttype, 1, 6, mac(A) + b"\0\0", etype) + payload


def write_pcap(path, linktype, packets, truncate=()):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for i, p in enumerate(packets):
            cap = p[:truncate[i]] if i in truncate else p
            f.write(struct.pack("<IIII", i, 0, len(cap), len(p)) + cap)


def read_pcap_indexes(data):
    out = []
    off = 24
    while off + 16 <= len(data):
        ts, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        out.append(ts)
        off += 16 + incl
    return out


def tcpdump(pcap, expr):
    r = subprocess.run(["tcpdump", "-r", pcap, "-w", "-", expr], capture_output=True)
    if r.returncode != 0:
        msg = r.stderr.decode().strip().splitlines()
        msg = [m for m in msg if not m.startswith("reading from")]
        return None, msg[-1] if msg else "error", None
    matches = read_pcap_indexes(r.stdout)
    d = subprocess.run(["tcpdump", "-ddd", "-r", pcap, expr], capture_output=True, check=True)
    return matches, None, d.stdout.decode()


ETH = [
    "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp", "pim", "vrrp", "ah", "esp",
    "host 10.0.0.1", "host 10.0.0.2 or 1.2.3.4", "src host 10.0.0.1", "dst host 10.0.0.2",
    "src or dst host 5.6.7.8", "src and dst host ::1", "ip host 10.0.0.1", "ip src host 192.168.1.10",
    "arp host 10.0.0.2", "rarp host 10.0.0.7", "host 1.2.3.4 and not 10.0.0.1", "host 10.0.0.1 and not host 10.0.0.2",
    "net 10.0.0.0/8", "net 10.0.0.0/24", "net 192.168", "net 172.16.0.0 mask 255.255.0.0", "src net 10.0.0.0/30",
    "dst net 224.0.0.0/4", "net 10.1", "host 10.0", "net 0.0.0.0/0", "not net 10.0.0.0/8",
    "ip6 host 2001:db8::1", "ip6 src host 2001:db8::2", "host fe80::1", "dst host ff02::1:ff00:2",
    "ip6 net 2001:db8::/32", "net 2001:db8:1::/48", "src net 2001:db8::/33", "ip6 dst net ff00::/8", "net fe80::/10",
    "port 80", "tcp port 80", "udp port 53", "port 53", "tcp dst port 80", "tcp src port 80", "src port 12345",
    "dst port 22 or 443", "tcp dst port 21 or 80", "tcp port 22 or 23 or 25", "udp src or dst port 123",
    "sctp port 80", "sctp port 3868", "port 547", "not port 80", "port 80 and host 10.0.0.1",
    "udp port 53 and not ip6", "tcp and port 80 and ip6", "port 0", "port 65535",
    "portrange 1000-2000", "tcp portrange 20-25", "udp dst portrange 60-70", "portrange 2000-1000",
    "src portrange 5000-6000", "udp portrange 1024-1999",
    "port http", "port domain", "tcp port ssh", "udp port ntp", "port https", "udp port snmp", "port ftp or telnet",
    "tcp port smtp", "port bootps or bootpc", "port syslog", "port sip", "tcp port mysql",
    "ip proto 6", "ip proto 17", "ip proto 47", "ip6 proto 17", "ip6 proto 58", "proto 17", "ip proto \\udp",
    "ip proto \\gre", "ip6 proto \\ipv6-icmp", "proto \\tcp", "ip proto 89",
    "ether host 00:11:22:33:44:55", "ether src 00:11:22:33:44:55", "ether dst 66:77:88:99:aa:bb",
    "ether dst ff:ff:ff:ff:ff:ff", "ether src 00:11:22:33:44:55 and ether dst 66:77:88:99:aa:bb",
    "ether host 0:11:22:33:44:55 or 66:77:88:99:aa:bb", "ether proto 0x800", "ether proto 0x806",
    "ether proto \\arp", "ether proto \\ip6", "ether proto 0x88cc", "ether proto 100", "ether proto 0x42",
    "ether broadcast", "broadcast", "ether multicast", "multicast", "ip broadcast", "ip multicast", "ip6 multicast",
    "not ether broadcast and ip",
    "less 64", "greater 100", "len > 200", "len <= 60", "len = 60", "less 60 or greater 1000", "len - 14 > 400",
    "ip[0] & 0xf > 5", "ip[0] & 0xf = 5", "ip[2:2] > 100", "ip[8] = 1", "ip[9] = 6 and ip[8] = 64",
    "ip[6:2] & 0x1fff != 0", "ip[6] & 0x20 != 0", "ip[6:2] & 0x3fff = 0",
    "tcp[13] & 2 != 0", "tcp[13] = 0x12", "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn",
    "tcp[tcpflags] & tcp-fin != 0", "tcp[tcpflags] & tcp-rst != 0", "tcp[tcpflags] & tcp-push != 0",
    "tcp[tcpflags] & (tcp-ece|tcp-cwr) != 0", "tcp[tcpflags] == tcp-ack", "tcp[0:2] = 80", "tcp[2:2] < 1024",
    "tcp[12] >> 4 = 5", "udp[0:2] = 53", "udp[2:2] = 53 or udp[0:2] = 53", "udp[4:2] > 100",
    "icmp[icmptype] = icmp-echo", "icmp[icmptype] = icmp-echoreply", "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply",
    "icmp[0] = 3 and icmp[1] = 3", "icmp[icmptype] = icmp-timxceed", "icmp6[icmp6type] = icmp6-echo",
    "icmp6[0] = 135", "icmp6[icmp6type] = icmp6-neighborsolicit", "igmp[0] = 0x11", "sctp[0:2] = 80",
    "arp[6:2] = 1", "arp[6:2] = 2", "rarp[7] = 3", "ether[0] & 1 = 1", "ether[12:2] = 0x8100",
    "ip6[6] = 17", "ip6[40] = 128", "ip6[8:4] = 0x20010db8",
    "ip[2:2] + 14 = len", "ip[2:2] - 20 > 50", "ip[0] * 2 > 100", "ip[2:2] / 4 > 10", "ip[2:2] % 7 = 3",
    "ip[8] | 1 = 65", "ip[8] ^ 0xff = 0xbf", "ip[0] & 0xf << 2 = 20", "(ip[0] & 0xf) * 4 = 24",
    "tcp[(tcp[12] >> 4) * 4 - 4:4] = 0", "ip[ip[0] & 0xf] > 0", "tcp[tcp[0]:1] > 0", "udp[8:2] + udp[10:2] > 3",
    "ip[2:2] > ip[4:2]", "len >= ip[2:2] + 14", "1 = 1", "2 > 1 and ip",
    "vlan", "vlan 10", "vlan 100", "vlan 20 and vlan 30", "vlan 10 and vlan 20", "vlan and ip", "vlan and tcp port 80",
    "vlan 10 and ip6", "vlan and arp", "vlan 4095 and icmp", "vlan or arp", "not vlan", "vlan and vlan and tcp",
    "vlan and host 10.0.0.1", "ip or vlan and ip",
    "mpls", "mpls 5", "mpls 100", "mpls and mpls 3", "mpls and ip", "mpls 5 and tcp", "mpls and ip6", "mpls 16 and ip6 and tcp",
    "mpls and mpls and udp port 53",
    "tcp or udp", "not tcp", "not (tcp or udp)", "!ip && !ip6", "icmp or arp or igmp",
    "(tcp port 80 or udp port 53) and ip", "not ip and not arp", "ip and not tcp and not udp",
    "tcp port 80 and (tcp[tcpflags] & tcp-syn != 0)", "host 10.0.0.1 and (port 80 or port 53)",
    "ip6 or arp or rarp", "ether proto 0x1234 or ether proto 0x88cc", "tcp and not ip6 and len > 100",
    "udp and (port 53 or port 123 or port 161)", "tcp[tcpflags] & tcp-syn != 0 and not tcp[tcpflags] & tcp-ack != 0",
    "not not udp", "ip and ip", "tcp and tcp port 80",
    "decnet", "lat", "sca", "moprc", "mopdl", "stp", "ipx", "netbeui", "iso", "atalk", "aarp",
    "ether proto \\ipx", "ether proto \\atalk", "ether proto \\decnet", "ether proto 6", "not stp and not ipx and not ip",
    "vlan and stp", "ipx or atalk or aarp",
    "ether host 00-11-22-33-44-55", "ether src 0011.2233.4455", "ether dst 66.77.88.99.aa.bb", "ether host 001122334455",
    "tcp[13]&2!=0", "port 80&&tcp", "len>100", "ip and(tcp)", "host 10.0.0.1 && !10.0.0.2",
    "tcp port 80 and not src and dst host 10.0.0.1", "ip6 host 2001:db8:0:0:0:0:0:1", "host ::ffff:10.0.0.1",
    "ip[2:2]>=100&&ip[2:2]<=200", "tcp[((tcp[12] & 0xf0) >> 2):4] = 0", "(((ip)))", "not not not tcp",
    "mpls and host 10.0.0.1", "mpls and net 10.0.0.0/8", "net 10.0.0.0 mask 255.0.255.0", "sctp portrange 70-90",
    "ether proto 70000", "ip proto 300 or udp", "ip[1]+ip[2]+ip[3] > 0", "ip[8] % 2 = 0", "ip[8] / 2 * 2 = ip[8]", "ip[2:2] >> 8 = 0",
]

# Left out on purpose: unary minus on a packet load ("-ip[0] = 0",
# "-ip[0] + 256 > 180"). tcpdump 4.99.3 / libpcap 1.10.3 compiles both to
# "ret #262144" (accept everything, even non-IP packets), which is not what
# the expressions mean; oxbpf computes the negation.

RAW = [
    "ip", "ip6", "tcp", "udp", "icmp", "icmp6", "host 10.0.0.1", "dst host 1.2.3.4", "net 10.0.0.0/8",
    "ip6 host 2001:db8::1", "tcp port 80", "port 53", "udp dst port 53", "portrange 1-100", "ip broadcast",
    "ip multicast", "ip6 multicast", "ip[9] = 17", "tcp[13] & 2 != 0", "icmp[icmptype] = icmp-echo", "len > 100",
    "ether proto 0x800", "ip proto 1", "ip6 proto 17", "ether[0] = 0x45", "not tcp",
]

SLL = [
    "ip", "ip6", "arp", "tcp", "udp port 53", "host 10.0.0.1", "arp host 10.0.0.2", "net 10.0.0.0/8",
    "ip6 host 2001:db8::2", "tcp port 80", "port 53", "ether proto 0x806", "ip broadcast", "ip multicast",
    "icmp", "icmp6", "sctp", "len < 70", "ip[8] = 64", "tcp[13] = 2", "not ip", "ether[14:2] = 0x86dd",
    "stp", "ipx", "netbeui", "iso", "atalk", "aarp", "decnet", "ether proto 100", "inbound", "outbound",
    "inbound and ip", "outbound or arp",
]

BAD = [
    ("eth", "tcp port"), ("eth", "host"), ("eth", "ip and"), ("eth", "(tcp"), ("eth", "tcp)"), ("eth", "port 99999"),
    ("eth", "host 10.0.0.1/8"), ("eth", "net 10.0.0.1/8"), ("eth", "net 10.0.0.0/33"), ("eth", "ip[0:3] = 1"),
    ("eth", "ip[0] / 0 = 1"), ("eth", "ip[0] >> 40 = 1"), ("eth", "udp port http"), ("eth", "tcp port ntp"),
    ("eth", "port nosuchservice"), ("eth", "ether host 1.2.3.4"), ("eth", "host 00:11:22:33:44:55"),
    ("eth", "tcp host 10.0.0.1"), ("eth", "ip host ::1"), ("eth", "ip6 host 10.0.0.1"), ("eth", "vlan 5000"),
    ("eth", "mpls 2000000"), ("eth", "ip proto \\nosuchproto"), ("eth", "1 = 2"), ("eth", "ip and not ip"), ("eth", "tcp and udp"),
    ("eth", "tcp and udp and icmp and 0 = 1"), ("eth", "foo"), ("eth", "tcp or 80"), ("eth", "10.0.0.1"),
    ("eth", "port 80 80"), ("eth", "ip[0] = "), ("eth", "= 1"), ("eth", "&& tcp"), ("eth", "src dst host 1.2.3.4"),
    ("raw", "arp"), ("raw", "ether host 00:11:22:33:44:55"), ("raw", "vlan"), ("raw", "mpls"), ("raw", "ether broadcast"),
    ("eth", "mpls and vlan"), ("eth", "mpls and arp"), ("eth", "ip6 broadcast"), ("eth", "tcp broadcast"),
    ("eth", "tcp multicast"), ("eth", "portrange 5-"), ("eth", "vlan 1 2"), ("eth", "less"), ("eth", "ip["),
    ("eth", "1 + = 2"), ("eth", "\\"), ("eth", "host 1.2.3.4 mask 255.0.0.0"), ("eth", "ether proto \\foo"),
    ("eth", "ip6 net 2001:db8::1/32"), ("eth", "host ::1/64"), ("eth", "ip6 net ::/129"), ("eth", "icmp6 host ::1"),
    ("eth", "arp host ::1"), ("eth", "port 1-2"), ("eth", "host 256.1.1.1"), ("eth", "not"), ("eth", "()"),
    ("eth", "ip and ()"), ("eth", "ether host 1:2:3:4:5:6:7"), ("eth", "host nosuchhost.example"),
    ("eth", "inbound"), ("raw", "outbound"), ("sll", "vlan 10"), ("sll", "ether src 00:11:22:33:44:55"), ("sll", "multicast"),
]


# Random compound expressions over Ethernet (fixed seed): they exercise the
# optimizer and qualifier inheritance far beyond the hand-written list.
RANDOM_PRIMS = [
    "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp", "vlan", "vlan 10", "mpls",
    "host 10.0.0.1", "src host 10.0.0.2", "dst host 1.2.3.4", "net 10.0.0.0/8", "dst net 224.0.0.0/4",
    "src net 192.168.0.0/16", "ip6 host 2001:db8::1", "ip6 net 2001:db8::/32", "port 80", "tcp port 80",
    "udp port 53", "tcp dst port 22 or 443", "src port 12345", "portrange 1000-2000", "udp portrange 60-200",
    "ether host 00:11:22:33:44:55", "ether src 66:77:88:99:aa:bb", "ether broadcast", "ether multicast",
    "ip multicast", "ip broadcast", "ip6 multicast", "ether proto 0x806", "ip proto 17", "ip6 proto 58",
    "less 64", "greater 100", "len > 200", "ip[0] & 0xf > 5", "ip[2:2] > 100", "tcp[13] & 2 != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", "tcp[tcpflags] & tcp-fin != 0", "udp[0:2] = 53",
    "icmp[icmptype] = icmp-echo", "ip[2:2] + 14 = len", "ip[8] = 64", "arp[6:2] = 1", "ether[12:2] = 0x8100",
    "ip6[6] = 17", "stp", "ipx", "port http", "port domain", "host 10.0.0.1 or 10.0.0.2", "port 53 or 123",
    "tcp src or dst port 80 or 443",
]


def random_exprs(n, seed):
    import random
    rnd = random.Random(seed)

    def gen(depth):
        if depth == 0 or rnd.random() < 0.3:
            p = rnd.choice(RANDOM_PRIMS)
            return ("not " + p) if rnd.random() < 0.15 else p
        a, b = gen(depth - 1), gen(depth - 1)
        op = rnd.choice(["and", "or", "&&", "||"])
        form = rnd.randrange(4)
        if form == 0:
            return "%s %s %s" % (a, op, b)
        if form == 1:
            return "(%s) %s (%s)" % (a, op, b)
        if form == 2:
            return "not (%s) %s %s" % (a, op, b)
        return "%s %s not (%s)" % (a, op, b)

    out, seen = [], set()
    while len(out) < n:
        e = gen(3)
        if e not in seen:
            seen.add(e)
            out.append(e)
    return out


def main():
    eth_p = eth_packets()
    raw_p = ip_packets()
    sll_p = [sll(0x86DD if n[0] >> 4 == 6 else 0x800, n, i % 5) for i, n in enumerate(ip_packets())]
    sll_p += [sll(0x806, arp(1, A, "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2")),
              sll(0x806, arp(2, B, "10.0.0.2", A, "10.0.0.1"), 4)]
    for proto, body in ((0x0004, b"\x42\x42\x03" + b"\0" * 30), (0x0004, b"\xe0\xe0\x03" + b"\0" * 20),
                        (0x0004, b"\xaa\xaa\x03\0\0\0\x81\x37" + b"\0" * 20), (0x0001, b"\xff\xff" + b"\0" * 20),
                        (0x8137, b"\xff\xff" + b"\0" * 20), (0x0004, b"\xf0\xf0\x03" + b"\0" * 20),
                        (0x0004, b"\xfe\xfe\x03\x81" + b"\0" * 20), (0x0004, b"\xaa\xaa\x03\x08\x00\x07\x80\x9b" + b"\0" * 20),
                        (0x80f3, b"\0" * 28), (0x0004, b"\x64\x64\x03" + b"\0" * 20), (0x6003, b"\0" * 20)):
        sll_p.append(sll(proto, body, 4 if proto == 0x6003 else 0))
    pcaps = {
        "eth": (1, eth_p, {len(eth_p) - 1: 40, 0: 30}),
        "raw": (101, raw_p, {5: 24}),
        "sll": (113, sll_p, {}),
        # The Ethernet packets again, none truncated, for the random corpus.
        "full": (1, eth_p, {}),
    }
    bad_good = []
    for name, (lt, pkts, trunc) in pcaps.items():
        write_pcap(os.path.join(HERE, name + ".pcap"), lt, pkts, trunc)
    rnd = []
    for e in random_exprs(400, 7):
        matches, err, _ = tcpdump(os.path.join(HERE, "full.pcap"), e)
        if err is None:
            rnd.append(e)
        if len(rnd) == 300:
            break
    for name, pcap_name, exprs in (("eth", "eth", ETH), ("raw", "raw", RAW), ("sll", "sll", SLL), ("random", "full", rnd)):
        pcap = os.path.join(HERE, pcap_name + ".pcap")
        with open(os.path.join(HERE, name + ".txt"), "w") as out:
            for e in exprs:
                matches, err, ddd = tcpdump(pcap, e)
                out.write("expr\t%s\n" % e)
                if err is not None:
                    bad_good.append((name, e, err))
                    continue
                out.write("match\t%s\n" % " ".join(str(m) for m in matches))
                out.write("ddd\n%send\n" % ddd)
    with open(os.path.join(HERE, "bad.txt"), "w") as out:
        for link, e in BAD:
            matches, err, _ = tcpdump(os.path.join(HERE, link + ".pcap"), e)
            if err is None:
                bad_good.append((link, e, "accepted"))
                continue
            out.write("%s\t%s\t%s\n" % (link, e, err))
    if bad_good:
        sys.exit("tcpdump disagrees with the lists: %r" % bad_good)
    print("%d good expressions (%d eth, %d raw, %d sll), %d random over eth, %d bad" % (len(ETH) + len(RAW) + len(SLL), len(ETH), len(RAW), len(SLL), len(rnd), len(BAD)))


if __name__ == "__main__":
    main()
