//! Running a program once with its program type's context, with the meaning
//! `BPF_PROG_TEST_RUN` gives its input in the kernel: the same object and bytes
//! give the same result here and there.

use oxbpf_object::ProgramType;
use oxbpf_vm::Region;

use crate::helpers::net::{TC_ACT_REDIRECT, XDP_REDIRECT};
use crate::helpers::packet::{self, RunKind, Skb};
use crate::lowmem::LowMem;
use crate::{Instance, RuntimeError};

/// Headroom in front of an XDP packet (the kernel's XDP_PACKET_HEADROOM).
pub const XDP_HEADROOM: usize = 256;
/// Bytes of an XDP frame after the headroom; packets must fit.
pub const XDP_FRAME: usize = 4096;
/// Size of `struct xdp_md`.
pub const XDP_MD_SIZE: usize = 24;
/// Size of `struct __sk_buff`.
pub const SK_BUFF_SIZE: usize = 192;
const ETH_HLEN: usize = 14;
/// Room an skb's packet has to grow at its head (`bpf_skb_change_head`,
/// encapsulation) and at its tail (`bpf_skb_change_tail`). The kernel
/// reallocates a packet that outgrows its buffer; the runtime's helpers answer
/// -ENOMEM past this room.
pub const SKB_HEADROOM: usize = 512;
pub const SKB_TAILROOM: usize = 4096;
/// The largest packet an skb may grow to: the loopback device's MTU (65536)
/// plus its link-layer header, as in the kernel's test run.
pub const SKB_MAX_LEN: u64 = 65536 + ETH_HLEN as u64;

/// Where a program redirected the packet, as the kernel's redirect helpers
/// record it for the driver (`struct bpf_redirect_info`). The kernel's test run
/// only returns XDP_REDIRECT or TC_ACT_REDIRECT and sends nothing; the runtime
/// reports the target here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// `bpf_redirect`: to interface `ifindex`; `flags` may hold BPF_F_INGRESS (tc).
    Interface { ifindex: u32, flags: u64 },
    /// `bpf_redirect_map`: to entry `key` of devmap, cpumap or xskmap `map`;
    /// `flags` keeps BPF_F_BROADCAST and BPF_F_EXCLUDE_INGRESS.
    Map { map: String, key: u32, flags: u64 },
}
/// The outcome of one test run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRun {
    /// r0.
    pub retval: u64,
    /// The packet afterwards (packet programs), or the input memory afterwards.
    pub data_out: Vec<u8>,
    /// Where the packet goes, when the program returned XDP_REDIRECT or
    /// TC_ACT_REDIRECT after a redirect helper succeeded.
    pub redirect: Option<Redirect>,
}

/// How a program type receives its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convention {
    /// `struct xdp_md` over a packet with headroom.
    Xdp,
    /// `struct __sk_buff`; `l2` when data starts at the Ethernet header (tc),
    /// otherwise at the network header (socket filters, cgroup skb).
    Skb { l2: bool },
    /// r1 points at context bytes the host supplies (tracepoints, kprobes, ...).
    Context,
    /// `struct __sk_buff` with `flow_keys`; the output is `struct bpf_flow_keys`.
    FlowDissector,
    /// r1 points at the input memory and r2 holds its length.
    Plain,
}

/// Whether the runtime builds, for program type `t`, contexts at least as
/// large as the verifier's layout for it, so verified code can run unchecked.
pub(crate) fn verified_contexts_fit(t: ProgramType) -> bool {
    use oxbpf_verifier::context::{layout, Layout};
    match Convention::of(t) {
        Convention::Xdp | Convention::Skb { .. } | Convention::FlowDissector => true,
        // The input is padded to a numbers-only layout; layouts with pointers
        // (sk_msg_md) would take the host's bytes for addresses.
        Convention::Context | Convention::Plain => matches!(layout(t), Layout::ReadOnly { .. }),
    }
}

/// The size of the verifier's numbers-only context layout for `t`, or 0.
pub(crate) fn verified_context_size(t: ProgramType) -> usize {
    match oxbpf_verifier::context::layout(t) {
        oxbpf_verifier::context::Layout::ReadOnly { size, .. } => size.max(0) as usize,
        _ => 0,
    }
}

impl Convention {
    /// The convention of a program type.
    pub fn of(t: ProgramType) -> Convention {
        use ProgramType as P;
        match t {
            P::Xdp => Convention::Xdp,
            P::SchedCls | P::SchedAct | P::LwtXmit => Convention::Skb { l2: true },
            P::SocketFilter | P::CgroupSkb | P::LwtIn | P::LwtOut | P::LwtSeg6local | P::SkSkb => {
                Convention::Skb { l2: false }
            }
            P::Kprobe
            | P::Tracepoint
            | P::RawTracepoint
            | P::RawTracepointWritable
            | P::PerfEvent
            | P::Tracing
            | P::Syscall
            | P::SkLookup => Convention::Context,
            P::FlowDissector => Convention::FlowDissector,
            _ => Convention::Plain,
        }
    }
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("four bytes"))
}

fn io(e: std::io::Error) -> RuntimeError {
    RuntimeError::Context(e.to_string())
}

impl Instance<'_> {
    /// Runs once with `data_in` (and, for context-driven types, `ctx_in`)
    /// interpreted as the kernel's test run interprets them for this program's type.
    pub fn test_run(
        &mut self,
        data_in: &[u8],
        ctx_in: Option<&[u8]>,
    ) -> Result<TestRun, RuntimeError> {
        packet::begin(RunKind::Other, None);
        match Convention::of(self.prog_type) {
            // The input gets a mapping of its own, so that an access past its end
            // faults the same way whatever else the allocator placed nearby.
            // Verified unchecked code may read the whole layout the verifier
            // checked it against: the input is zero-padded to that size.
            Convention::Plain => {
                let len = data_in.len().max(self.min_context);
                let mut mem = LowMem::new(len).map_err(io)?;
                let data = &mut mem.bytes()[..len];
                data[..data_in.len()].copy_from_slice(data_in);
                let ptr = if len == 0 {
                    0
                } else {
                    data.as_mut_ptr() as u64
                };
                let args = [ptr, data_in.len() as u64, 0, 0, 0];
                let retval = self.run_regions(args, vec![Region::writable(data)], true)?;
                Ok(TestRun {
                    retval,
                    data_out: mem.bytes()[..data_in.len()].to_vec(),
                    redirect: None,
                })
            }
            Convention::Context => {
                let input = ctx_in.unwrap_or(data_in);
                let len = input.len().max(self.min_context);
                let mut mem = LowMem::new(len).map_err(io)?;
                let ctx = &mut mem.bytes()[..len];
                ctx[..input.len()].copy_from_slice(input);
                let ptr = if ctx.is_empty() {
                    0
                } else {
                    ctx.as_mut_ptr() as u64
                };
                let retval =
                    self.run_regions([ptr, 0, 0, 0, 0], vec![Region::writable(ctx)], true)?;
                Ok(TestRun {
                    retval,
                    data_out: data_in.to_vec(),
                    redirect: None,
                })
            }
            Convention::Xdp => self.run_xdp(data_in, ctx_in),
            Convention::FlowDissector => self.run_flow_dissector(data_in, ctx_in),
            Convention::Skb { l2 } => self.run_skb(data_in, ctx_in, l2),
        }
    }

    fn run_xdp(&mut self, data_in: &[u8], ctx_in: Option<&[u8]>) -> Result<TestRun, RuntimeError> {
        if data_in.len() < ETH_HLEN || data_in.len() > XDP_FRAME - XDP_HEADROOM {
            return Err(RuntimeError::Context(format!(
                "XDP input must be {ETH_HLEN} to {} bytes, not {}",
                XDP_FRAME - XDP_HEADROOM,
                data_in.len()
            )));
        }
        // One low mapping: xdp_md (plus the frame bounds, for the adjust helpers),
        // then the frame.
        let mut mem = LowMem::new(64 + XDP_FRAME).map_err(io)?;
        let base = mem.addr() as u32;
        let frame = base + 64;
        let data = frame + XDP_HEADROOM as u32;
        {
            let b = mem.bytes();
            if let Some(c) = ctx_in {
                let n = c.len().min(XDP_MD_SIZE);
                b[..n].copy_from_slice(&c[..n]);
            }
            put32(b, 0, data);
            put32(b, 4, data + data_in.len() as u32);
            put32(b, 8, data);
            if ctx_in.is_none() {
                put32(b, 12, 1); // ingress_ifindex: loopback, as the kernel's test run uses
            }
            put32(b, 24, frame);
            put32(b, 28, frame + XDP_FRAME as u32);
            let off = 64 + XDP_HEADROOM;
            b[off..off + data_in.len()].copy_from_slice(data_in);
        }
        let ctx_addr = mem.addr();
        let (ctx, rest) = mem.bytes().split_at_mut(64);
        let ctx_region = Region::writable(&mut ctx[..XDP_MD_SIZE + 8]);
        packet::begin(RunKind::Xdp, None);
        let result = self.run_regions(
            [ctx_addr, 0, 0, 0, 0],
            vec![ctx_region, Region::writable(rest)],
            true,
        );
        let run = packet::finish();
        let retval = result?;
        let b = mem.bytes();
        // The program may have written xdp_md (the kernel's verifier forbids it;
        // here it is memory-safe), so check the bounds before trusting them.
        let (start, end) = (
            get32(b, 0).wrapping_sub(base) as usize,
            get32(b, 4).wrapping_sub(base) as usize,
        );
        if start > end || start < 64 || end > b.len() {
            return Err(RuntimeError::Context(
                "xdp_md.data/data_end no longer describe the frame".into(),
            ));
        }
        Ok(TestRun {
            retval,
            data_out: b[start..end].to_vec(),
            redirect: run.redirect.filter(|_| retval == XDP_REDIRECT),
        })
    }

    fn run_flow_dissector(
        &mut self,
        data_in: &[u8],
        ctx_in: Option<&[u8]>,
    ) -> Result<TestRun, RuntimeError> {
        const KEYS: usize = 56; // struct bpf_flow_keys
        if data_in.len() < ETH_HLEN || data_in.len() > XDP_FRAME {
            return Err(RuntimeError::Context(format!(
                "flow dissector input must be an Ethernet frame of {ETH_HLEN} to {XDP_FRAME} bytes, not {}",
                data_in.len()
            )));
        }
        let mut mem = LowMem::new(SK_BUFF_SIZE + KEYS + data_in.len()).map_err(io)?;
        let base = mem.addr();
        let keys_at = SK_BUFF_SIZE;
        let pkt_at = SK_BUFF_SIZE + KEYS;
        {
            let b = mem.bytes();
            put32(b, 76, (base + pkt_at as u64) as u32); // data: the frame, link header included
            put32(b, 80, (base + (pkt_at + data_in.len()) as u64) as u32);
            b[144..152].copy_from_slice(&(base + keys_at as u64).to_le_bytes()); // flow_keys
                                                                                 // As the kernel's bpf_flow_dissect starts them: nhoff = thoff = ETH_HLEN,
                                                                                 // n_proto from the frame, flags from ctx_in (a struct bpf_flow_keys).
            let k = &mut b[keys_at..keys_at + KEYS];
            k[0..2].copy_from_slice(&(ETH_HLEN as u16).to_le_bytes());
            k[2..4].copy_from_slice(&(ETH_HLEN as u16).to_le_bytes());
            k[10..12].copy_from_slice(&data_in[12..14]);
            if let Some(c) = ctx_in.filter(|c| c.len() >= 52) {
                k[48..52].copy_from_slice(&c[48..52]);
            }
            b[pkt_at..pkt_at + data_in.len()].copy_from_slice(data_in);
        }
        let (ctx, rest) = mem.bytes().split_at_mut(SK_BUFF_SIZE);
        let (keys, pkt) = rest.split_at_mut(KEYS);
        let regions = vec![
            Region::writable(&mut pkt[..data_in.len()]),
            Region::readable(ctx),
            Region::writable(keys),
        ];
        let retval = self.run_regions([base, 0, 0, 0, 0], regions, true)?;
        let b = mem.bytes();
        let k = &mut b[keys_at..keys_at + KEYS];
        // The kernel clamps the offsets the program left into the packet.
        let size = data_in.len() as u16;
        let nhoff = u16::from_le_bytes([k[0], k[1]]).clamp(ETH_HLEN as u16, size);
        let thoff = u16::from_le_bytes([k[2], k[3]]).clamp(nhoff, size);
        k[0..2].copy_from_slice(&nhoff.to_le_bytes());
        k[2..4].copy_from_slice(&thoff.to_le_bytes());
        Ok(TestRun {
            retval,
            data_out: k.to_vec(),
            redirect: None,
        })
    }

    fn run_skb(
        &mut self,
        data_in: &[u8],
        ctx_in: Option<&[u8]>,
        l2: bool,
    ) -> Result<TestRun, RuntimeError> {
        if data_in.len() < ETH_HLEN || data_in.len() > XDP_FRAME {
            return Err(RuntimeError::Context(format!(
                "skb input must be an Ethernet frame of {ETH_HLEN} to {XDP_FRAME} bytes, not {}",
                data_in.len()
            )));
        }
        // One low mapping: __sk_buff, then the packet's buffer with room at
        // both ends for the helpers that grow it.
        let room = SKB_HEADROOM + data_in.len() + SKB_TAILROOM;
        let mut mem = LowMem::new(SK_BUFF_SIZE + 64 + room).map_err(io)?;
        let base = mem.addr();
        let buf = base + (SK_BUFF_SIZE + 64) as u64;
        let frame = buf + SKB_HEADROOM as u64;
        let data = if l2 { frame } else { frame + ETH_HLEN as u64 };
        let end = frame + data_in.len() as u64;
        // skb->protocol: the Ethernet type as stored (network byte order).
        let protocol = u16::from_ne_bytes([data_in[12], data_in[13]]);
        // eth_type_trans on the loopback device, whose address and broadcast
        // address are all zeros (so ff:ff:ff:ff:ff:ff is only multicast).
        let dst = &data_in[..6];
        let pkt_type = if dst.iter().all(|&b| b == 0) {
            0 // PACKET_HOST
        } else if dst[0] & 1 != 0 {
            2 // PACKET_MULTICAST
        } else {
            3 // PACKET_OTHERHOST
        };
        {
            let b = mem.bytes();
            if let Some(c) = ctx_in {
                let n = c.len().min(SK_BUFF_SIZE);
                b[..n].copy_from_slice(&c[..n]);
            }
            put32(b, 36, 1); // ingress_ifindex
            put32(b, 40, 1); // ifindex
            put32(b, 160, data_in.len() as u32); // wire_len
            let off = SK_BUFF_SIZE + 64 + SKB_HEADROOM;
            b[off..off + data_in.len()].copy_from_slice(data_in);
        }
        let skb = Skb {
            ctx: base,
            buf: (buf, room as u64),
            data,
            end,
            mac: frame,
            network: frame + ETH_HLEN as u64,
            protocol,
            vlan: None,
            pkt_type,
            csum_unnecessary: None,
            tunnel: None,
            max_len: SKB_MAX_LEN,
        };
        // len, protocol, pkt_type, data, data_end, data_meta and the VLAN fields.
        for (off, v) in [
            (0, (end - data) as u32),
            (4, pkt_type as u32),
            (16, protocol as u32),
            (76, data as u32),
            (80, end as u32),
            (140, data as u32),
        ] {
            put32(mem.bytes(), off, v);
        }
        let (ctx, rest) = mem.bytes().split_at_mut(SK_BUFF_SIZE + 64);
        let buffer = Region::writable(rest);
        // SAFETY: the packet lies inside `buffer`'s memory, which lives until
        // after the run; regions only describe memory, the VM checks accesses.
        let pkt = unsafe { Region::from_raw(data as *mut u8, (end - data) as usize, true) };
        // The packet region comes first: legacy packet loads read from it (the
        // packet as it was when the run started).
        let regions = vec![pkt, Region::writable(&mut ctx[..SK_BUFF_SIZE]), buffer];
        packet::begin(RunKind::Skb, Some(skb));
        let result = self.run_regions([base, 0, 0, 0, 0], regions, true);
        let run = packet::finish();
        let retval = result?;
        let skb = run
            .skb
            .ok_or_else(|| RuntimeError::Context("the skb vanished".into()))?;
        let b = mem.bytes();
        let at = |addr: u64| addr.wrapping_sub(base) as usize;
        if skb.data > skb.end || at(skb.end) > b.len() || skb.data < buf {
            return Err(RuntimeError::Context(
                "the skb's data no longer lies in its buffer".into(),
            ));
        }
        let mut out = Vec::with_capacity((skb.end - skb.data) as usize + ETH_HLEN);
        if !l2 {
            // The kernel hands back the frame with the link-layer header it
            // pulled off zeroed (measured with BPF_PROG_TEST_RUN on Linux 6.18).
            out.resize(ETH_HLEN, 0);
        }
        out.extend_from_slice(&b[at(skb.data)..at(skb.end)]);
        Ok(TestRun {
            retval,
            data_out: out,
            redirect: run.redirect.filter(|_| l2 && retval == TC_ACT_REDIRECT),
        })
    }
}
