//! Checksum helpers: `bpf_csum_diff`, `bpf_l3_csum_replace`,
//! `bpf_l4_csum_replace`, `bpf_csum_update` and `bpf_csum_level`, with the
//! kernel's ones'-complement arithmetic (include/net/checksum.h).
//!
//! A test run's skb is `CHECKSUM_NONE`, as the kernel's is: the pseudo-header
//! flag changes nothing there, and `bpf_csum_update` answers -ENOTSUPP.

use oxbpf_vm::{HelperContext, Helpers};

use super::packet::with_skb;
use super::{neg, read, EFAULT, EINVAL};

/// `BPF_F_HDR_FIELD_MASK`: the size of the replaced field (0, 2 or 4).
const HDR_FIELD_MASK: u64 = 0xf;
const PSEUDO_HDR: u64 = 1 << 4;
const MARK_MANGLED_0: u64 = 1 << 5;
const MARK_ENFORCE: u64 = 1 << 6;
const IPV6: u64 = 1 << 7;
/// CSUM_MANGLED_0: what a zero UDP checksum becomes.
const MANGLED_0: u16 = 0xffff;
/// ENOTSUPP and EACCES.
const ENOTSUPP: i64 = 524;
const EACCES: i64 = 13;

/// `csum_add`: 32-bit ones'-complement addition.
pub fn csum_add(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(carry as u32)
}

/// `csum_sub`.
pub fn csum_sub(a: u32, b: u32) -> u32 {
    csum_add(a, !b)
}

/// `csum_partial`: the 32-bit sum of `bytes` (as the CPU loads them) and `seed`.
pub fn csum_partial(bytes: &[u8], seed: u32) -> u32 {
    let mut sum = seed as u64;
    let mut words = bytes.chunks_exact(4);
    for w in &mut words {
        sum += u32::from_le_bytes(w.try_into().expect("four bytes")) as u64;
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 4];
        w[..rest.len()].copy_from_slice(rest);
        sum += u32::from_le_bytes(w) as u64;
    }
    while sum >> 32 != 0 {
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    sum as u32
}

/// `csum_fold`: the complemented 16-bit checksum of a 32-bit sum.
pub fn csum_fold(sum: u32) -> u16 {
    !(sum.wrapping_add(sum.rotate_right(16)) >> 16) as u16
}

/// `csum_from32to16`: a 32-bit sum folded to 16 bits, not complemented.
pub fn csum_from32to16(sum: u32) -> u16 {
    (sum.wrapping_add(sum.rotate_right(16)) >> 16) as u16
}

fn csum16_add(sum: u16, addend: u16) -> u16 {
    let (s, carry) = sum.overflowing_add(addend);
    s.wrapping_add(carry as u16)
}

/// `bpf_csum_diff`'s result: the folded sum of `to` minus `from`, from `seed`.
pub fn csum_diff(from: &[u8], to: &[u8], seed: u32) -> u64 {
    let sum = match (from.is_empty(), to.is_empty()) {
        (false, false) => csum_sub(csum_partial(to, seed), csum_partial(from, 0)),
        (true, false) => csum_partial(to, seed),
        (false, true) => !csum_partial(from, !seed),
        (true, true) => return seed as u64,
    };
    csum_from32to16(sum) as u64
}

/// The checksum field after replacing `from` by `to` (`size` 2 or 4 bytes),
/// or after adding the difference `to` (`size` 0), as csum_replace2/4/by_diff do.
pub fn replace(sum: u16, size: u64, from: u64, to: u64) -> u16 {
    let unfolded = !(sum as u32);
    match size {
        2 => !csum16_add(csum16_add(!sum, !(from as u16)), to as u16),
        4 => csum_fold(csum_add(csum_sub(unfolded, from as u32), to as u32)),
        _ => csum_fold(csum_add(to as u32, unfolded)),
    }
}

/// Reads the checksum field at packet offset `off`, or the helper's errno.
fn field(ctx: &HelperContext<'_>, off: u64) -> Result<Result<(u64, u16), u64>, String> {
    with_skb(|skb| {
        if off > 0xffff || off & 1 != 0 {
            return Ok(Err(neg(EFAULT)));
        }
        let Some(at) = skb.range(off, 2) else {
            return Ok(Err(neg(EFAULT)));
        };
        let b = read(ctx, at, 2, "checksum")?;
        Ok(Ok((at, u16::from_le_bytes([b[0], b[1]]))))
    })
}

fn store(ctx: &mut HelperContext<'_>, at: u64, v: u16) -> Result<(), String> {
    ctx.memory
        .write(at, &v.to_le_bytes())
        .ok_or_else(|| "the packet is not writable".to_string())
}

/// Registers the checksum helpers.
pub(crate) fn register(h: &mut Helpers) {
    // bpf_l3_csum_replace(skb, offset, from, to, flags)
    h.register(10, |ctx, a| {
        let (off, from, to, flags) = (a[1] as u32 as u64, a[2], a[3], a[4]);
        if flags & !HDR_FIELD_MASK != 0 {
            return Ok(neg(EINVAL));
        }
        let (at, sum) = match field(ctx, off)? {
            Ok(f) => f,
            Err(e) => return Ok(e),
        };
        let size = flags & HDR_FIELD_MASK;
        match size {
            0 if from != 0 => return Ok(neg(EINVAL)),
            0 | 2 | 4 => {}
            _ => return Ok(neg(EINVAL)),
        }
        store(ctx, at, replace(sum, size, from, to))?;
        Ok(0)
    });
    // bpf_l4_csum_replace(skb, offset, from, to, flags)
    h.register(11, |ctx, a| {
        let (off, from, to, flags) = (a[1] as u32 as u64, a[2], a[3], a[4]);
        let known = MARK_MANGLED_0 | MARK_ENFORCE | PSEUDO_HDR | IPV6 | HDR_FIELD_MASK;
        if flags & !known != 0 {
            return Ok(neg(EINVAL));
        }
        let (at, sum) = match field(ctx, off)? {
            Ok(f) => f,
            Err(e) => return Ok(e),
        };
        let mangled_0 = flags & MARK_MANGLED_0 != 0;
        if mangled_0 && flags & MARK_ENFORCE == 0 && sum == 0 {
            return Ok(0); // a UDP datagram without a checksum keeps none
        }
        let size = flags & HDR_FIELD_MASK;
        match size {
            0 if from != 0 => return Ok(neg(EINVAL)),
            0 | 2 | 4 => {}
            _ => return Ok(neg(EINVAL)),
        }
        let mut new = replace(sum, size, from, to);
        if mangled_0 && new == 0 {
            new = MANGLED_0;
        }
        store(ctx, at, new)?;
        Ok(0)
    });
    // bpf_csum_diff(from, from_size, to, to_size, seed)
    h.register(28, |ctx, a| {
        let (from_size, to_size) = (a[1] as u32 as usize, a[3] as u32 as usize);
        if (from_size | to_size) & 3 != 0 {
            return Ok(neg(EINVAL));
        }
        // Either side may be NULL with size 0.
        let bytes = |addr: u64, size: usize, what: &str| -> Result<Vec<u8>, String> {
            if size == 0 {
                return Ok(Vec::new());
            }
            Ok(read(ctx, addr, size, what)?.to_vec())
        };
        let from = bytes(a[0], from_size, "from")?;
        let to = bytes(a[2], to_size, "to")?;
        Ok(csum_diff(&from, &to, a[4] as u32))
    });
    // bpf_csum_update(skb, csum): only CHECKSUM_COMPLETE skbs carry a csum.
    h.register(40, |_, _| with_skb(|_| Ok(neg(ENOTSUPP))));
    // bpf_csum_level(skb, level): query, increment, decrement or reset the
    // CHECKSUM_UNNECESSARY level.
    h.register(135, |_, a| {
        with_skb(|skb| {
            Ok(match a[1] {
                0 => match skb.csum_unnecessary {
                    Some(level) => level as u64,
                    None => neg(EACCES),
                },
                1 => {
                    skb.csum_unnecessary = Some(match skb.csum_unnecessary {
                        Some(l) => (l + 1).min(3),
                        None => 0,
                    });
                    0
                }
                2 => {
                    skb.csum_unnecessary = match skb.csum_unnecessary {
                        Some(0) | None => None,
                        Some(l) => Some(l - 1),
                    };
                    0
                }
                3 => {
                    skb.csum_unnecessary = None;
                    0
                }
                _ => neg(EINVAL),
            })
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 header's checksum, as the kernel's ip_fast_csum gives it.
    fn ip_csum(h: &[u8]) -> u16 {
        csum_fold(csum_partial(h, 0))
    }

    #[test]
    fn replacing_a_field_matches_recomputing() {
        let mut h = [
            0x45u8, 0, 0, 0x20, 0, 1, 0, 0, 0x40, 0x11, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = ip_csum(&h);
        h[10..12].copy_from_slice(&c.to_le_bytes());
        assert_eq!(ip_csum(&h), 0, "a correct header sums to zero");
        // Change the TTL/protocol word with a 2-byte replace.
        let old = u16::from_le_bytes([h[8], h[9]]);
        h[8] = 0x3f;
        let new = u16::from_le_bytes([h[8], h[9]]);
        let s = replace(
            u16::from_le_bytes([h[10], h[11]]),
            2,
            old as u64,
            new as u64,
        );
        h[10..12].copy_from_slice(&s.to_le_bytes());
        assert_eq!(ip_csum(&h), 0);
        // Change the destination address with a 4-byte replace, then by a diff.
        let old = u32::from_le_bytes(h[16..20].try_into().unwrap());
        h[16..20].copy_from_slice(&[192, 168, 0, 7]);
        let new = u32::from_le_bytes(h[16..20].try_into().unwrap());
        let s = replace(
            u16::from_le_bytes([h[10], h[11]]),
            4,
            old as u64,
            new as u64,
        );
        h[10..12].copy_from_slice(&s.to_le_bytes());
        assert_eq!(ip_csum(&h), 0);
        let before = h[12..16].to_vec();
        h[12..16].copy_from_slice(&[172, 16, 1, 1]);
        let diff = csum_diff(&before, &h[12..16], 0);
        let s = replace(u16::from_le_bytes([h[10], h[11]]), 0, 0, diff);
        h[10..12].copy_from_slice(&s.to_le_bytes());
        assert_eq!(ip_csum(&h), 0);
    }

    #[test]
    fn csum_diff_cases() {
        assert_eq!(csum_diff(&[], &[], 7), 7);
        assert_eq!(csum_diff(&[], &[1, 0, 0, 0], 0), 1);
        assert_eq!(csum_diff(&[1, 0, 0, 0], &[1, 0, 0, 0], 0), 0xffff);
    }
}
