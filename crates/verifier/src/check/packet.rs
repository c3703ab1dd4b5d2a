//! Packet pointers: access within the range a comparison with `data_end`
//! proved, and the comparisons that prove it.

use super::*;

impl Checker<'_> {
    pub(super) fn packet_access(
        &self,
        base: &Reg,
        regno: u8,
        off: i64,
        sz: usize,
        write: bool,
    ) -> Res<()> {
        let which = if base.kind == Kind::PacketMeta {
            "metadata"
        } else {
            "packet"
        };
        if write && !packet_writable(self.prog_type) {
            return fail(
                Reason::ReadOnly,
                format!("{} programs cannot write packet data directly", self.prog_type.name()),
                "use a helper such as bpf_skb_store_bytes, or a program type that may write packets",
            );
        }
        if base.val.smin < 0 {
            return fail(
                Reason::PacketBounds,
                format!(
                    "R{regno} {which} pointer's variable offset may be negative ({})",
                    base.val
                ),
                "make sure the value added to the packet pointer cannot be negative",
            );
        }
        if base.val.umax >= 0xffff {
            return fail(
                Reason::PacketBounds,
                format!(
                    "R{regno} {which} pointer has an unbounded variable offset ({})",
                    base.val
                ),
                "bound the offset (e.g. off &= 0xff) before adding it to the packet pointer",
            );
        }
        let start = base.off + off;
        let end = start + sz as i64;
        if start < 0 || end > base.range {
            let checked = if base.range > 0 {
                format!("only {} bytes from this pointer are checked", base.range)
            } else {
                "no bytes from this pointer are checked yet".to_string()
            };
            let limit = if base.kind == Kind::PacketMeta {
                "data"
            } else {
                "data_end"
            };
            return fail(
                Reason::PacketBounds,
                format!(
                    "R{regno} {which} access at offset {start} ({sz} bytes) is not proven to be inside the {which}: {checked}"
                ),
                format!("compare first: if (ptr + {end} > {limit}) return ...; and access only what the check covers"),
            );
        }
        Ok(())
    }

    /// Refines packet pointers compared with the packet end; whether it applied.
    pub(super) fn packet_compare(
        &mut self,
        taken: &mut State,
        fall: &mut State,
        cond: JmpCond,
        width: Width,
        a: Reg,
        b: Reg,
    ) -> bool {
        if width != Width::W64 {
            return false;
        }
        // Normalize to `pkt <cond> end`.
        let (pkt, cond) = match (a.kind, b.kind) {
            (Kind::Packet, Kind::PacketEnd) | (Kind::PacketMeta, Kind::Packet) => (a, cond),
            (Kind::PacketEnd, Kind::Packet) | (Kind::Packet, Kind::PacketMeta) => {
                (b, scalar::swap(cond))
            }
            _ => return false,
        };
        let good = match cond {
            // pkt > end jumps when out of bounds: the fall-through is safe.
            JmpCond::Gt | JmpCond::Ge => Some(fall),
            JmpCond::Lt | JmpCond::Le => Some(taken),
            _ => None,
        };
        if let Some(st) = good {
            let range = pkt.off;
            st.for_each_reg(|r| {
                if r.kind == pkt.kind && r.id == pkt.id && r.val == pkt.val {
                    r.range = r.range.max(range);
                }
            });
        }
        true
    }
}

/// Whether a program type may write packet data directly.
fn packet_writable(t: ProgramType) -> bool {
    use ProgramType as P;
    matches!(
        t,
        P::Xdp | P::SchedCls | P::SchedAct | P::LwtXmit | P::SkSkb | P::LwtSeg6local
    )
}
