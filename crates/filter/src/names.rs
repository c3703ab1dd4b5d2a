//! Built-in name tables: services, IP protocols and Ethernet types. They
//! stand in for /etc/services, /etc/protocols and libpcap's ethertype list,
//! so that compiling never depends on the host's files or on DNS.

/// Which transport protocols a service name is registered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortProto {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// Both TCP and UDP with the same number (libpcap then tests TCP, UDP
    /// and SCTP).
    Any,
}

/// Service names, as Debian's netbase registers them.
const SERVICES: &[(&str, u16, PortProto)] = &[
    ("ftp-data", 20, PortProto::Tcp),
    ("ftp", 21, PortProto::Tcp),
    ("ssh", 22, PortProto::Tcp),
    ("telnet", 23, PortProto::Tcp),
    ("smtp", 25, PortProto::Tcp),
    ("mail", 25, PortProto::Tcp),
    ("domain", 53, PortProto::Any),
    ("bootps", 67, PortProto::Udp),
    ("bootpc", 68, PortProto::Udp),
    ("tftp", 69, PortProto::Udp),
    ("http", 80, PortProto::Tcp),
    ("www", 80, PortProto::Tcp),
    ("kerberos", 88, PortProto::Any),
    ("pop3", 110, PortProto::Tcp),
    ("sunrpc", 111, PortProto::Any),
    ("portmapper", 111, PortProto::Any),
    ("ntp", 123, PortProto::Udp),
    ("netbios-ns", 137, PortProto::Udp),
    ("netbios-dgm", 138, PortProto::Udp),
    ("netbios-ssn", 139, PortProto::Tcp),
    ("imap2", 143, PortProto::Tcp),
    ("imap", 143, PortProto::Tcp),
    ("snmp", 161, PortProto::Any),
    ("snmp-trap", 162, PortProto::Any),
    ("bgp", 179, PortProto::Tcp),
    ("ldap", 389, PortProto::Any),
    ("https", 443, PortProto::Any),
    ("microsoft-ds", 445, PortProto::Tcp),
    ("isakmp", 500, PortProto::Udp),
    ("syslog", 514, PortProto::Any),
    ("submission", 587, PortProto::Tcp),
    ("ldaps", 636, PortProto::Any),
    ("rsync", 873, PortProto::Tcp),
    ("imaps", 993, PortProto::Tcp),
    ("pop3s", 995, PortProto::Tcp),
    ("openvpn", 1194, PortProto::Any),
    ("nfs", 2049, PortProto::Any),
    ("mysql", 3306, PortProto::Tcp),
    ("sip", 5060, PortProto::Any),
    ("xmpp-client", 5222, PortProto::Tcp),
    ("postgresql", 5432, PortProto::Tcp),
];

/// Looks up a service name.
pub fn service(name: &str) -> Option<(u16, PortProto)> {
    SERVICES.iter().find(|s| s.0 == name).map(|s| (s.1, s.2))
}

/// IP protocol numbers by name, as in /etc/protocols.
const PROTOCOLS: &[(&str, u8)] = &[
    ("ip", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("st", 5),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("skip", 57),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("eigrp", 88),
    ("ospf", 89),
    ("ax.25", 93),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("vrrp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("sctp", 132),
    ("fc", 133),
    ("mobility-header", 135),
    ("udplite", 136),
    ("mpls-in-ip", 137),
];

/// Looks up an IP protocol name.
pub fn ip_protocol(name: &str) -> Option<u8> {
    PROTOCOLS.iter().find(|p| p.0 == name).map(|p| p.1)
}

/// Ethernet type names, as libpcap's table has them, then the 802.2 LLC
/// SAP names it also accepts after `ether proto`.
const ETHERTYPES: &[(&str, u16)] = &[
    ("aarp", 0x80f3),
    ("arp", 0x0806),
    ("atalk", 0x809b),
    ("decnet", 0x6003),
    ("ip", 0x0800),
    ("ip6", 0x86dd),
    ("lat", 0x6004),
    ("loopback", 0x9000),
    ("mopdl", 0x6001),
    ("moprc", 0x6002),
    ("rarp", 0x8035),
    ("sca", 0x6007),
    ("iso", 0xfe),
    ("stp", 0x42),
    ("ipx", 0xe0),
    ("netbeui", 0xf0),
];

/// Looks up an Ethernet type name.
pub fn ethertype(name: &str) -> Option<u16> {
    ETHERTYPES.iter().find(|e| e.0 == name).map(|e| e.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_answer_common_names() {
        assert_eq!(service("http"), Some((80, PortProto::Tcp)));
        assert_eq!(service("domain"), Some((53, PortProto::Any)));
        assert_eq!(service("ntp"), Some((123, PortProto::Udp)));
        assert_eq!(service("nosuch"), None);
        assert_eq!(ip_protocol("udp"), Some(17));
        assert_eq!(ethertype("arp"), Some(0x806));
    }
}
