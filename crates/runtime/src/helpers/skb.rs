//! Helpers that write, reshape and describe an skb: stores and pulls, tail,
//! head and room changes, packet type, VLAN tags, tunnel metadata, the flow
//! hash and perf samples with packet bytes, as net/core/filter.c has them.

use oxbpf_vm::{HelperContext, Helpers};

use super::packet::{kind, with_skb, RunKind, Skb, Tunnel};
use super::{neg, read, EFAULT, EINVAL};

const ENOMEM: i64 = 12;
const ENOTSUPP: i64 = 524;
const EPROTO: i64 = 71;
const ETH_HLEN: u64 = 14;
const VLAN_HLEN: u64 = 4;
/// Ethernet types as `skb->protocol` stores them (network byte order in a u16).
const ETH_P_IP: u16 = 0x0800u16.to_be();
const ETH_P_IPV6: u16 = 0x86ddu16.to_be();
const ETH_P_8021Q: u16 = 0x8100u16.to_be();
const ETH_P_8021AD: u16 = 0x88a8u16.to_be();

fn is_vlan(proto: u16) -> bool {
    proto == ETH_P_8021Q || proto == ETH_P_8021AD
}

/// `bpf_skb_net_base_len`: the fixed network header of the skb's protocol.
fn net_base_len(skb: &Skb) -> u64 {
    match skb.protocol {
        ETH_P_IP => 20,
        ETH_P_IPV6 => 40,
        _ => 0,
    }
}

fn ok_or_errno(r: Result<(), i64>) -> u64 {
    r.map_or_else(neg, |_| 0)
}

/// Inserts `len` zero bytes at packet offset `off`, moving the bytes before
/// it to the front (`bpf_skb_generic_push`); ENOMEM when the buffer is full.
fn push(
    ctx: &mut HelperContext<'_>,
    skb: &mut Skb,
    off: u64,
    len: u64,
) -> Result<Result<(), i64>, String> {
    if skb.headroom() < len {
        return Ok(Err(ENOMEM));
    }
    let new = skb.data - len;
    skb.shift(ctx, skb.data, new, off)?;
    skb.zero(ctx, new + off, len)?;
    skb.data = new;
    Ok(Ok(()))
}

/// Removes the `len` bytes at packet offset `off` (`bpf_skb_generic_pop`).
fn pop(ctx: &mut HelperContext<'_>, skb: &mut Skb, off: u64, len: u64) -> Result<(), String> {
    skb.shift(ctx, skb.data, skb.data + len, off)?;
    skb.data += len;
    Ok(())
}

/// bpf_skb_adjust_room(skb, len_diff, mode, flags).
fn adjust_room(
    ctx: &mut HelperContext<'_>,
    skb: &mut Skb,
    diff: i32,
    mode: u32,
    flags: u64,
) -> Result<Result<(), i64>, String> {
    const ENCAP_L3_IPV4: u64 = 1 << 1;
    const ENCAP_L3_IPV6: u64 = 1 << 2;
    const DECAP_L3_IPV4: u64 = 1 << 7;
    const DECAP_L3_IPV6: u64 = 1 << 8;
    // FIXED_GSO, the ENCAP_* bits, ENCAP_L2_ETH, the L2 length, NO_CSUM_RESET, DECAP_*.
    const KNOWN: u64 = 0x1ff | (0xff << 56);
    const NO_CSUM_RESET: u64 = 1 << 5;
    let abs = diff.unsigned_abs() as u64;
    if flags & !KNOWN != 0 {
        return Ok(Err(EINVAL));
    }
    if abs > 0xfff {
        return Ok(Err(EFAULT));
    }
    if skb.protocol != ETH_P_IP && skb.protocol != ETH_P_IPV6 {
        return Ok(Err(ENOTSUPP));
    }
    let mut off = skb.network - skb.mac;
    match mode {
        0 => off += net_base_len(skb),
        1 => {}
        _ => return Ok(Err(ENOTSUPP)),
    }
    let shrink = diff < 0;
    let decap = flags & (DECAP_L3_IPV4 | DECAP_L3_IPV6);
    if decap != 0 && (!shrink || decap == DECAP_L3_IPV4 | DECAP_L3_IPV6) {
        return Ok(Err(EINVAL));
    }
    let encap = flags & (ENCAP_L3_IPV4 | ENCAP_L3_IPV6);
    if encap != 0 && (shrink || encap == ENCAP_L3_IPV4 | ENCAP_L3_IPV6) {
        return Ok(Err(EINVAL));
    }
    let len_cur = skb.len() - (skb.network - skb.data);
    let min = net_base_len(skb);
    if shrink && (abs >= len_cur || len_cur - abs < min) {
        return Ok(Err(ENOTSUPP));
    }
    if !shrink && skb.len() + abs > skb.max_len {
        return Ok(Err(ENOTSUPP));
    }
    if shrink {
        pop(ctx, skb, off, abs)?;
        skb.mac += abs;
        skb.network += abs;
        match decap {
            DECAP_L3_IPV4 => skb.protocol = ETH_P_IP,
            DECAP_L3_IPV6 => skb.protocol = ETH_P_IPV6,
            _ => {}
        }
    } else {
        if let Err(e) = push(ctx, skb, off, abs)? {
            return Ok(Err(e));
        }
        skb.mac -= abs;
        skb.network -= abs;
        match encap {
            ENCAP_L3_IPV4 => skb.protocol = ETH_P_IP,
            ENCAP_L3_IPV6 => skb.protocol = ETH_P_IPV6,
            _ => {}
        }
    }
    if flags & NO_CSUM_RESET == 0 {
        skb.csum_unnecessary = None;
    }
    Ok(Ok(()))
}

/// `skb_vlan_push`: the offloaded tag (if any) goes into the packet, the new
/// one becomes the offloaded tag.
fn vlan_push(
    ctx: &mut HelperContext<'_>,
    skb: &mut Skb,
    proto: u16,
    tci: u16,
) -> Result<Result<(), i64>, String> {
    let proto = if is_vlan(proto) { proto } else { ETH_P_8021Q };
    if let Some((old_proto, old_tci)) = skb.vlan {
        // __vlan_insert_tag: 4 bytes after the MAC addresses.
        if let Err(e) = push(ctx, skb, 2 * 6, VLAN_HLEN)? {
            return Ok(Err(e));
        }
        let tag = [old_proto.to_ne_bytes(), old_tci.to_be_bytes()].concat();
        ctx.memory
            .write(skb.data + 12, &tag)
            .ok_or("the packet is not writable")?;
        skb.mac -= VLAN_HLEN;
        skb.protocol = old_proto;
    }
    skb.vlan = Some((proto, tci));
    Ok(Ok(()))
}

/// `__skb_vlan_pop`: takes the tag after the MAC addresses out of the packet.
fn vlan_pop_payload(
    ctx: &mut HelperContext<'_>,
    skb: &mut Skb,
) -> Result<Result<u16, i64>, String> {
    if skb.data != skb.mac {
        return Ok(Err(EINVAL));
    }
    if skb.range(0, ETH_HLEN + VLAN_HLEN).is_none() {
        return Ok(Err(ENOMEM));
    }
    let hdr = read(ctx, skb.data + 12, 6, "vlan header")?.to_vec();
    let tci = u16::from_be_bytes([hdr[2], hdr[3]]);
    let inner = u16::from_ne_bytes([hdr[4], hdr[5]]);
    pop(ctx, skb, 12, VLAN_HLEN)?;
    skb.mac += VLAN_HLEN;
    if u16::from_be(inner) >= 0x600 {
        skb.protocol = inner;
    }
    if skb.network < skb.mac + ETH_HLEN {
        skb.network = skb.mac + ETH_HLEN;
    }
    Ok(Ok(tci))
}

fn vlan_pop(ctx: &mut HelperContext<'_>, skb: &mut Skb) -> Result<Result<(), i64>, String> {
    if skb.vlan.is_some() {
        skb.vlan = None;
    } else {
        if !is_vlan(skb.protocol) {
            return Ok(Ok(()));
        }
        if let Err(e) = vlan_pop_payload(ctx, skb)? {
            return Ok(Err(e));
        }
    }
    // The next tag in the packet, if any, becomes the offloaded one.
    if !is_vlan(skb.protocol) {
        return Ok(Ok(()));
    }
    let proto = skb.protocol;
    match vlan_pop_payload(ctx, skb)? {
        Ok(tci) => {
            skb.vlan = Some((proto, tci));
            Ok(Ok(()))
        }
        Err(e) => Ok(Err(e)),
    }
}

/// Bytes of `struct bpf_tunnel_key`, and the older layouts' sizes the kernel accepts.
const TUNNEL_KEY: u64 = 44;
const TUNNEL_KEY_OLD: [u64; 4] = [28, 24, 22, 8];
const TUNINFO_IPV6: u64 = 1;
const TUNINFO_FLAGS: u64 = 1 << 4;

/// bpf_skb_get_tunnel_key(skb, key, size, flags).
fn get_tunnel_key(ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, String> {
    let (to, size, flags) = (a[1], a[2] as u32 as u64, a[3]);
    if !ctx.memory.can_write(to, size as usize) {
        return Err(format!(
            "tunnel key buffer {to:#x} (+{size}) is not writable"
        ));
    }
    let info = with_skb(|skb| Ok(skb.tunnel.clone()))?;
    let result = (|| {
        let info = info.ok_or(EINVAL)?;
        if flags & !(TUNINFO_IPV6 | TUNINFO_FLAGS) != 0 {
            return Err(EINVAL);
        }
        if info.ipv6 != (flags & TUNINFO_IPV6 != 0) {
            return Err(EPROTO);
        }
        if size != TUNNEL_KEY {
            match size {
                28 | 24 | 22 => {}
                8 if !info.ipv6 => {}
                _ => return Err(EINVAL),
            }
        }
        let mut k = [0u8; TUNNEL_KEY as usize];
        k[0..4].copy_from_slice(&(info.id as u32).to_le_bytes());
        k[20] = info.tos;
        k[21] = info.ttl;
        if flags & TUNINFO_FLAGS != 0 {
            k[22..24].copy_from_slice(&info.flags.to_be_bytes());
        }
        if info.ipv6 {
            for i in 0..4 {
                k[4 + 4 * i..8 + 4 * i].copy_from_slice(&info.src[i].to_be_bytes());
                k[28 + 4 * i..32 + 4 * i].copy_from_slice(&info.dst[i].to_be_bytes());
            }
            k[24..28].copy_from_slice(&info.label.to_le_bytes());
        } else {
            k[4..8].copy_from_slice(&info.src[0].to_le_bytes());
            k[28..32].copy_from_slice(&info.dst[0].to_le_bytes());
        }
        Ok(k)
    })();
    let (bytes, ret) = match result {
        Ok(k) => (k[..size as usize].to_vec(), 0),
        Err(e) => (vec![0; size as usize], neg(e)),
    };
    ctx.memory
        .write(to, &bytes)
        .ok_or("tunnel key buffer is not writable")?;
    Ok(ret)
}

/// bpf_skb_set_tunnel_key(skb, key, size, flags): the metadata a later get sees.
fn set_tunnel_key(ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, String> {
    const ZERO_CSUM_TX: u64 = 1 << 1;
    const DONT_FRAGMENT: u64 = 1 << 2;
    const NO_TUNNEL_KEY: u64 = 1 << 4;
    // TUNNEL_* flags in ip_tunnel_flags_to_be16's encoding.
    const CSUM: u16 = 0x01;
    const KEY: u16 = 0x04;
    const DF: u16 = 0x0100;
    const NOCACHE: u16 = 0x2000;
    let (size, flags) = (a[2] as u32 as u64, a[3]);
    if flags & !(TUNINFO_IPV6 | ZERO_CSUM_TX | DONT_FRAGMENT | NO_TUNNEL_KEY) != 0 {
        return Ok(neg(EINVAL));
    }
    if size != TUNNEL_KEY && !TUNNEL_KEY_OLD.contains(&size) {
        return Ok(neg(EINVAL));
    }
    let mut k = [0u8; TUNNEL_KEY as usize];
    k[..size as usize].copy_from_slice(read(ctx, a[1], size as usize, "tunnel key")?);
    let word = |at: usize| u32::from_le_bytes(k[at..at + 4].try_into().expect("four bytes"));
    let ipv6 = flags & TUNINFO_IPV6 != 0;
    let label = word(24);
    let ext = u16::from_le_bytes([k[22], k[23]]);
    if (!ipv6 && label != 0) || ext != 0 {
        return Ok(neg(EINVAL));
    }
    let mut t = Tunnel {
        id: word(0) as u64,
        ipv6,
        tos: k[20],
        ttl: k[21],
        flags: NOCACHE,
        ..Tunnel::default()
    };
    if flags & DONT_FRAGMENT != 0 {
        t.flags |= DF;
    }
    if flags & ZERO_CSUM_TX == 0 {
        t.flags |= CSUM;
    }
    if flags & NO_TUNNEL_KEY == 0 {
        t.flags |= KEY;
    }
    // The key's remote address is the tunnel's destination, its local one the
    // source; a later get reports them the other way round, as the kernel does.
    if ipv6 {
        for i in 0..4 {
            t.dst[i] = u32::from_be_bytes(k[4 + 4 * i..8 + 4 * i].try_into().expect("four bytes"));
            t.src[i] =
                u32::from_be_bytes(k[28 + 4 * i..32 + 4 * i].try_into().expect("four bytes"));
        }
        t.label = label & 0x000f_ffff;
    } else {
        t.dst[0] = word(4);
        t.src[0] = word(28);
    }
    with_skb(|skb| {
        skb.tunnel = Some(t);
        Ok(0)
    })
}

/// The flow hash of the packet from its link-layer header: addresses, ports
/// and protocol, the same in both directions and never 0, like the kernel's
/// `__skb_get_hash`. The kernel seeds its hash randomly at boot, so the
/// values themselves cannot match its.
fn flow_hash(pkt: &[u8]) -> u32 {
    let mut off = 12;
    let mut proto = 0u16;
    while let Some(t) = pkt.get(off..off + 2) {
        proto = u16::from_be_bytes([t[0], t[1]]);
        off += 2;
        if proto == 0x8100 || proto == 0x88a8 {
            off += 2;
        } else {
            break;
        }
    }
    let (mut a, mut b, mut ports, mut l4) = (Vec::new(), Vec::new(), [0u8; 4], 0u8);
    let l3 = &pkt[off.min(pkt.len())..];
    let l4_at = match proto {
        0x0800 if l3.len() >= 20 => {
            a = l3[12..16].to_vec();
            b = l3[16..20].to_vec();
            l4 = l3[9];
            let fragment = u16::from_be_bytes([l3[6], l3[7]]) & 0x3fff != 0;
            (!fragment).then_some((l3[0] & 0xf) as usize * 4)
        }
        0x86dd if l3.len() >= 40 => {
            a = l3[8..24].to_vec();
            b = l3[24..40].to_vec();
            l4 = l3[6];
            Some(40)
        }
        _ => None,
    };
    if let (Some(at), 6 | 17 | 132) = (l4_at, l4) {
        if let Some(p) = l3.get(at..at + 4) {
            ports.copy_from_slice(p);
        }
    }
    // Order the endpoints so both directions hash alike.
    let (mut src, mut dst) = ((a, [ports[0], ports[1]]), (b, [ports[2], ports[3]]));
    if src > dst {
        std::mem::swap(&mut src, &mut dst);
    }
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15 ^ proto as u64;
    for byte in src
        .0
        .iter()
        .chain(&src.1)
        .chain(&dst.0)
        .chain(&dst.1)
        .chain([l4].iter())
    {
        h = (h ^ *byte as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let h = (h ^ (h >> 32)) as u32;
    if h == 0 {
        1
    } else {
        h
    }
}

/// bpf_get_hash_recalc(skb): computes skb->hash when it is not set.
fn hash_recalc(ctx: &mut HelperContext<'_>) -> Result<u64, String> {
    let (mac, end, at) = with_skb(|skb| Ok((skb.mac, skb.end, skb.ctx)))?;
    let cur = read(ctx, at + super::packet::sk_buff::HASH, 4, "context")?;
    let cur = u32::from_le_bytes(cur.try_into().expect("four bytes"));
    if cur != 0 {
        return Ok(cur as u64);
    }
    let pkt = read(ctx, mac, (end - mac) as usize, "packet")?;
    let h = flow_hash(pkt);
    with_skb(|skb| skb.set_hash(ctx, h))?;
    Ok(h as u64)
}

/// Runs `f` on the skb and writes its fields back to `struct __sk_buff`.
fn reshape(
    ctx: &mut HelperContext<'_>,
    f: impl FnOnce(&mut HelperContext<'_>, &mut Skb) -> Result<Result<(), i64>, String>,
) -> Result<u64, String> {
    with_skb(|skb| {
        let r = f(ctx, skb)?;
        skb.sync(ctx)?;
        Ok(ok_or_errno(r))
    })
}

/// Registers the skb helpers.
pub(crate) fn register(h: &mut Helpers) {
    // bpf_skb_store_bytes(skb, offset, from, len, flags)
    h.register(9, |ctx, a| {
        const RECOMPUTE_CSUM: u64 = 1;
        const INVALIDATE_HASH: u64 = 2;
        let (off, len, flags) = (a[1] as u32 as u64, a[3] as u32 as u64, a[4]);
        if flags & !(RECOMPUTE_CSUM | INVALIDATE_HASH) != 0 {
            return Ok(neg(EINVAL));
        }
        let Some(at) = with_skb(|skb| Ok(skb.range(off, len)))? else {
            return Ok(neg(EFAULT));
        };
        let bytes = read(ctx, a[2], len as usize, "from")?.to_vec();
        ctx.memory
            .write(at, &bytes)
            .ok_or("the packet is not writable")?;
        // BPF_F_RECOMPUTE_CSUM only updates skb->csum of CHECKSUM_COMPLETE
        // skbs; a test run's is CHECKSUM_NONE.
        if flags & INVALIDATE_HASH != 0 {
            with_skb(|skb| skb.set_hash(ctx, 0))?;
        }
        Ok(0)
    });
    // bpf_skb_pull_data(skb, len): the packet is always linear here.
    h.register(39, |ctx, a| {
        reshape(ctx, |_, skb| {
            Ok(if a[1] as u32 as u64 > skb.len() {
                Err(ENOMEM)
            } else {
                Ok(())
            })
        })
    });
    // bpf_skb_change_tail(skb, new_len, flags): grown bytes are zero.
    h.register(38, |ctx, a| {
        reshape(ctx, |ctx, skb| {
            let new = a[1] as u32 as u64;
            let min = skb.network - skb.data;
            if a[2] != 0 || new > skb.max_len || new < min {
                return Ok(Err(EINVAL));
            }
            let len = skb.len();
            if new > len {
                if skb.tailroom() < new - len {
                    return Ok(Err(ENOMEM));
                }
                skb.zero(ctx, skb.end, new - len)?;
            }
            skb.end = skb.data + new;
            Ok(Ok(()))
        })
    });
    // bpf_skb_change_head(skb, head_room, flags): zeroed room in front, which
    // becomes the link-layer header.
    h.register(43, |ctx, a| {
        reshape(ctx, |ctx, skb| {
            let room = a[1] as u32 as u64;
            if a[2] != 0 || skb.len() + room > skb.max_len {
                return Ok(Err(EINVAL));
            }
            if skb.headroom() < room {
                return Ok(Err(ENOMEM));
            }
            skb.data -= room;
            skb.zero(ctx, skb.data, room)?;
            skb.mac = skb.data;
            Ok(Ok(()))
        })
    });
    // bpf_skb_adjust_room(skb, len_diff, mode, flags)
    h.register(50, |ctx, a| {
        reshape(ctx, |ctx, skb| {
            adjust_room(ctx, skb, a[1] as i32, a[2] as u32, a[3])
        })
    });
    // bpf_skb_change_type(skb, type): PACKET_HOST to PACKET_OTHERHOST only.
    h.register(32, |ctx, a| {
        reshape(ctx, |_, skb| {
            if skb.pkt_type > 3 || a[1] as u32 > 3 {
                return Ok(Err(EINVAL));
            }
            skb.pkt_type = a[1] as u8;
            Ok(Ok(()))
        })
    });
    // bpf_skb_vlan_push(skb, vlan_proto, vlan_tci)
    h.register(18, |ctx, a| {
        reshape(ctx, |ctx, skb| {
            vlan_push(ctx, skb, a[1] as u16, a[2] as u16)
        })
    });
    // bpf_skb_vlan_pop(skb)
    h.register(19, |ctx, _| reshape(ctx, vlan_pop));
    h.register(20, get_tunnel_key);
    h.register(21, set_tunnel_key);
    h.register(34, |ctx, _| hash_recalc(ctx));
    // bpf_set_hash_invalid(skb)
    h.register(41, |ctx, _| {
        with_skb(|skb| skb.set_hash(ctx, 0))?;
        Ok(0)
    });
}

/// The bytes `bpf_perf_event_output` appends from the context: the first
/// `len` bytes of the packet, or the helper's errno when the packet is shorter.
pub(crate) fn ctx_bytes(
    ctx: &HelperContext<'_>,
    at: u64,
    len: u64,
) -> Result<Result<Vec<u8>, i64>, String> {
    if len == 0 {
        return Ok(Ok(Vec::new()));
    }
    let word = |off: u64| -> Result<u64, String> {
        let b = read(ctx, at + off, 4, "context")?;
        Ok(u32::from_le_bytes(b.try_into().expect("four bytes")) as u64)
    };
    let (data, end) = match kind() {
        RunKind::Skb => with_skb(|skb| Ok((skb.data, skb.end)))?,
        // xdp_md.data and data_end.
        RunKind::Xdp => (word(0)?, word(4)?),
        RunKind::Other => return Ok(Err(EFAULT)),
    };
    if end < data {
        return Ok(Err(EFAULT));
    }
    if len > end - data {
        return Ok(Err(EFAULT));
    }
    Ok(Ok(read(ctx, data, len as usize, "packet")?.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::flow_hash;

    #[test]
    fn flow_hash_is_symmetric_and_nonzero() {
        let mut pkt = vec![0u8; 14 + 28];
        pkt[12..14].copy_from_slice(&[0x08, 0x00]);
        pkt[14] = 0x45;
        pkt[14 + 9] = 17;
        pkt[14 + 12..14 + 16].copy_from_slice(&[10, 0, 0, 1]);
        pkt[14 + 16..14 + 20].copy_from_slice(&[10, 0, 0, 2]);
        pkt[34..38].copy_from_slice(&[0x04, 0xd2, 0x00, 0x35]);
        let there = flow_hash(&pkt);
        let mut back = pkt.clone();
        back[14 + 12..14 + 16].copy_from_slice(&[10, 0, 0, 2]);
        back[14 + 16..14 + 20].copy_from_slice(&[10, 0, 0, 1]);
        back[34..38].copy_from_slice(&[0x00, 0x35, 0x04, 0xd2]);
        assert_eq!(flow_hash(&back), there);
        pkt[37] = 0x50;
        assert_ne!(flow_hash(&pkt), there, "another port, another flow");
        assert_ne!(flow_hash(&[0; 14]), 0);
    }
}
