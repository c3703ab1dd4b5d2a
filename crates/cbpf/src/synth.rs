//! Synthetic traffic for tests and benchmarks: a deterministic mix of
//! Ethernet frames (IPv4 and IPv6 with TCP, UDP and ICMP, ARP, 802.1Q VLAN
//! tags, IPv4 fragments) with valid headers and checksums left zero.

use std::time::Duration;

/// One generated frame: time, bytes, and length on the wire.
pub type Frame = (Duration, Vec<u8>, u32);

/// A small deterministic generator (64-bit LCG, high bits).
#[derive(Clone, Debug)]
pub struct Traffic {
    state: u64,
    index: u64,
}

impl Traffic {
    /// The sequence for `seed`.
    pub fn new(seed: u64) -> Traffic {
        Traffic {
            state: seed ^ 0x9e37_79b9_7f4a_7c15,
            index: 0,
        }
    }

    fn next_u32(&mut self) -> u32 {
        self.state = self
            .state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.state >> 32) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next_u32() % n
    }

    /// The next frame.
    pub fn frame(&mut self) -> Frame {
        let ts = Duration::new(
            1_700_000_000 + self.index / 1000,
            (self.index % 1000) as u32 * 1_000_000,
        );
        self.index += 1;
        let kind = self.below(20);
        let mut f = Vec::with_capacity(128);
        let host = self.below(4) as u8;
        f.extend([0x02, 0, 0, 0, 0, 0x10 + host]); // dst MAC
        f.extend([0x02, 0, 0, 0, 0, 0x20 + self.below(4) as u8]); // src MAC
        if kind == 0 {
            f[0..6].copy_from_slice(&[0xff; 6]);
        }
        if kind >= 17 {
            // 802.1Q tag, VLAN 100..103.
            f.extend([0x81, 0x00]);
            f.extend((100 + self.below(4) as u16).to_be_bytes());
        }
        match kind {
            0 | 1 => self.arp(&mut f),
            2..=4 | 17 => self.ipv4(&mut f, 6),
            5..=7 | 18 => self.ipv4(&mut f, 17),
            8 => self.ipv4(&mut f, 1),
            9 => self.ipv4_fragment(&mut f),
            10..=11 => self.ipv6(&mut f, 6),
            12..=13 | 19 => self.ipv6(&mut f, 17),
            14 => self.ipv6(&mut f, 58),
            15 => self.ipv4(&mut f, 132),
            _ => self.ipv4(&mut f, 2),
        }
        let wire = f.len().max(60) as u32;
        (ts, f, wire)
    }

    fn addr4(&mut self) -> [u8; 4] {
        match self.below(4) {
            0 => [10, 0, 0, 1 + self.below(4) as u8],
            1 => [192, 168, self.below(3) as u8, 1 + self.below(250) as u8],
            2 => [172, 16, 0, 1 + self.below(8) as u8],
            _ => [8, 8, self.below(2) as u8 * 4 + 4, 8],
        }
    }

    fn port(&mut self) -> u16 {
        const WELL_KNOWN: [u16; 8] = [80, 443, 22, 53, 123, 25, 8080, 5060];
        if self.below(2) == 0 {
            WELL_KNOWN[self.below(8) as usize]
        } else {
            1024 + self.below(60000) as u16
        }
    }

    fn l4(&mut self, proto: u8, v6: bool) -> Vec<u8> {
        let payload = self.below(4) as usize * 20;
        let mut l = Vec::with_capacity(40 + payload);
        match proto {
            6 => {
                l.extend(self.port().to_be_bytes());
                l.extend(self.port().to_be_bytes());
                l.extend(self.next_u32().to_be_bytes());
                l.extend(self.next_u32().to_be_bytes());
                const FLAGS: [u8; 6] = [0x02, 0x12, 0x10, 0x18, 0x11, 0x04];
                l.extend([0x50, FLAGS[self.below(6) as usize]]);
                l.extend((8192u16 + self.below(1000) as u16).to_be_bytes());
                l.extend([0, 0, 0, 0]);
            }
            17 | 132 => {
                l.extend(self.port().to_be_bytes());
                l.extend(self.port().to_be_bytes());
                if proto == 17 {
                    l.extend(((8 + payload) as u16).to_be_bytes());
                    l.extend([0, 0]);
                } else {
                    l.extend([0; 8]);
                }
            }
            1 | 58 => {
                let t = match (v6, self.below(2)) {
                    (false, 0) => 8,
                    (false, _) => 0,
                    (true, 0) => 128,
                    (true, _) => 129,
                };
                l.extend([t, 0, 0, 0]);
                l.extend((self.below(100) as u16).to_be_bytes());
                l.extend((self.below(100) as u16).to_be_bytes());
            }
            _ => l.extend([0x11, 0x64, 0, 0, 224, 0, 0, 1]),
        }
        l.extend((0..payload).map(|i| i as u8));
        l
    }

    fn ipv4_header(&mut self, f: &mut Vec<u8>, proto: u8, len: usize, frag: u16) {
        f.extend([0x08, 0x00]);
        f.extend([0x45, 0]);
        f.extend(((20 + len) as u16).to_be_bytes());
        f.extend((self.below(65536) as u16).to_be_bytes());
        f.extend(frag.to_be_bytes());
        f.extend([64, proto, 0, 0]);
        let src = self.addr4();
        let dst = if proto == 2 {
            [224, 0, 0, 1]
        } else {
            self.addr4()
        };
        f.extend(src);
        f.extend(dst);
    }

    fn ipv4(&mut self, f: &mut Vec<u8>, proto: u8) {
        let l4 = self.l4(proto, false);
        self.ipv4_header(f, proto, l4.len(), 0x4000);
        f.extend(l4);
    }

    fn ipv4_fragment(&mut self, f: &mut Vec<u8>) {
        let first = self.below(2) == 0;
        let l4 = self.l4(17, false);
        if first {
            self.ipv4_header(f, 17, l4.len(), 0x2000);
            f.extend(l4);
        } else {
            self.ipv4_header(f, 17, 24, 185);
            f.extend([0xab; 24]);
        }
    }

    fn ipv6(&mut self, f: &mut Vec<u8>, proto: u8) {
        let l4 = self.l4(proto, true);
        f.extend([0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend((l4.len() as u16).to_be_bytes());
        f.extend([proto, 64]);
        for _ in 0..2 {
            match self.below(3) {
                0 => f.extend([0xfe, 0x80, 0, 0, 0, 0, 0, 0]),
                1 => f.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, self.below(4) as u8]),
                _ => f.extend([0xff, 0x02, 0, 0, 0, 0, 0, 0]),
            }
            f.extend([0, 0, 0, 0, 0, 0, 0, 1 + self.below(4) as u8]);
        }
        f.extend(l4);
    }

    fn arp(&mut self, f: &mut Vec<u8>) {
        let reply = self.below(2) == 1;
        f.extend([
            0x08,
            0x06,
            0,
            1,
            0x08,
            0,
            6,
            4,
            0,
            if reply { 2 } else { 1 },
        ]);
        let sha = [0x02, 0, 0, 0, 0, 0x20 + self.below(4) as u8];
        f.extend(sha);
        let spa = self.addr4();
        f.extend(spa);
        f.extend(if reply {
            [0x02, 0, 0, 0, 0, 0x11]
        } else {
            [0; 6]
        });
        let tpa = self.addr4();
        f.extend(tpa);
    }
}

impl Iterator for Traffic {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        Some(self.frame())
    }
}
