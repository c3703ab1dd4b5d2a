//! The packet a test run hands its program, as the helpers that read and
//! reshape it see it: one buffer with room to grow at both ends, and the
//! `struct sk_buff` state the kernel keeps outside `struct __sk_buff`.

use std::cell::RefCell;

use oxbpf_vm::HelperContext;

use crate::test_run::Redirect;

/// What kind of context the running program has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum RunKind {
    /// Not a packet test run (`Instance::run`, tracing contexts).
    #[default]
    Other,
    /// An XDP test run.
    Xdp,
    /// An skb test run (tc, socket filters, cgroup skb, lwt).
    Skb,
}

/// A tunnel's metadata as `struct ip_tunnel_info` keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tunnel {
    pub id: u64,
    pub ipv6: bool,
    /// Source and destination addresses (IPv4 in the first word, host order).
    pub src: [u32; 4],
    pub dst: [u32; 4],
    pub tos: u8,
    pub ttl: u8,
    /// TUNNEL_* flags, as `ip_tunnel_flags_to_be16` gives them (host order).
    pub flags: u16,
    pub label: u32,
}

/// The skb outside `struct __sk_buff`: where its bytes are and what the
/// kernel's `struct sk_buff` would hold.
#[derive(Debug)]
pub(crate) struct Skb {
    /// Address of the `struct __sk_buff` the program got.
    pub ctx: u64,
    /// The buffer the packet lives in: [start, start + len).
    pub buf: (u64, u64),
    /// skb->data and the packet's end.
    pub data: u64,
    pub end: u64,
    /// Where the link-layer header starts (skb->mac_header).
    pub mac: u64,
    /// Where the network header starts (skb->network_header).
    pub network: u64,
    /// skb->protocol as stored (network byte order in a u16).
    pub protocol: u16,
    /// The offloaded VLAN tag: (vlan_proto as stored, vlan_tci), if any.
    pub vlan: Option<(u16, u16)>,
    /// skb->pkt_type.
    pub pkt_type: u8,
    /// skb->ip_summed is CHECKSUM_UNNECESSARY, with this csum_level.
    pub csum_unnecessary: Option<u8>,
    /// The tunnel metadata bpf_skb_set_tunnel_key attached.
    pub tunnel: Option<Tunnel>,
    /// The most the packet may grow to (the device's MTU plus its link header).
    pub max_len: u64,
}

/// The state of the running test run, for the helpers.
#[derive(Debug, Default)]
pub(crate) struct Run {
    pub kind: RunKind,
    /// The last redirect a helper set up (bpf_redirect*, as `bpf_redirect_info`).
    pub redirect: Option<Redirect>,
    pub skb: Option<Skb>,
    /// The cookie of the run's socket, once a program asked for it.
    pub socket_cookie: Option<u64>,
}

thread_local! {
    /// The test run on this thread (helpers run on the thread that runs the program).
    pub(crate) static RUN: RefCell<Run> = RefCell::new(Run::default());
}

/// Starts a run of `kind` (with its skb), forgetting the last one's state.
pub(crate) fn begin(kind: RunKind, skb: Option<Skb>) {
    RUN.with(|r| {
        *r.borrow_mut() = Run {
            kind,
            skb,
            ..Run::default()
        }
    });
}

/// Ends the run: its final state.
pub(crate) fn finish() -> Run {
    RUN.with(|r| std::mem::take(&mut *r.borrow_mut()))
}

/// The kind of the running program's context.
pub(crate) fn kind() -> RunKind {
    RUN.with(|r| r.borrow().kind)
}

/// Runs `f` on the running skb, or fails when the program has none.
pub(crate) fn with_skb<T>(f: impl FnOnce(&mut Skb) -> Result<T, String>) -> Result<T, String> {
    RUN.with(|r| {
        let mut r = r.borrow_mut();
        let skb = r
            .skb
            .as_mut()
            .ok_or("this helper needs an skb: run the program with test_run")?;
        f(skb)
    })
}

/// Offsets in `struct __sk_buff`.
pub(crate) mod sk_buff {
    pub const LEN: u64 = 0;
    pub const PKT_TYPE: u64 = 4;
    pub const PROTOCOL: u64 = 16;
    pub const VLAN_PRESENT: u64 = 20;
    pub const VLAN_TCI: u64 = 24;
    pub const VLAN_PROTO: u64 = 28;
    pub const HASH: u64 = 68;
    pub const DATA: u64 = 76;
    pub const DATA_END: u64 = 80;
    pub const DATA_META: u64 = 140;
}

impl Skb {
    /// skb->len.
    pub fn len(&self) -> u64 {
        self.end - self.data
    }

    /// Bytes free in front of the packet's first header and after its end.
    pub fn headroom(&self) -> u64 {
        self.data.min(self.mac) - self.buf.0
    }

    pub fn tailroom(&self) -> u64 {
        self.buf.0 + self.buf.1 - self.end
    }

    /// Writes the fields programs read back into `struct __sk_buff`.
    pub fn sync(&self, ctx: &mut HelperContext<'_>) -> Result<(), String> {
        use sk_buff::*;
        let (vlan_present, proto, tci) = match self.vlan {
            Some((p, t)) => (1, p as u32, t as u32),
            None => (0, 0, 0),
        };
        for (off, v) in [
            (LEN, self.len() as u32),
            (PKT_TYPE, self.pkt_type as u32),
            (PROTOCOL, self.protocol as u32),
            (VLAN_PRESENT, vlan_present),
            (VLAN_TCI, tci),
            (VLAN_PROTO, proto),
            (DATA, self.data as u32),
            (DATA_END, self.end as u32),
            (DATA_META, self.data as u32),
        ] {
            ctx.memory
                .write(self.ctx + off, &v.to_le_bytes())
                .ok_or("the context is not writable")?;
        }
        Ok(())
    }

    /// The packet's bytes [data + off, data + off + len), if inside the packet.
    pub fn range(&self, off: u64, len: u64) -> Option<u64> {
        let end = off.checked_add(len)?;
        (end <= self.len()).then_some(self.data + off)
    }

    /// Moves the `len` bytes at `from` to `to` inside the buffer.
    pub fn shift(
        &self,
        ctx: &mut HelperContext<'_>,
        from: u64,
        to: u64,
        len: u64,
    ) -> Result<(), String> {
        let bytes = ctx
            .memory
            .read(from, len as usize)
            .ok_or("packet bytes are outside the buffer")?
            .to_vec();
        ctx.memory
            .write(to, &bytes)
            .ok_or_else(|| "the packet buffer is not writable".to_string())
    }

    /// Zeroes `len` bytes at `at`.
    pub fn zero(&self, ctx: &mut HelperContext<'_>, at: u64, len: u64) -> Result<(), String> {
        ctx.memory
            .write(at, &vec![0; len as usize])
            .ok_or_else(|| "the packet buffer is not writable".to_string())
    }

    /// Sets skb->hash (read through `__sk_buff.hash`).
    pub fn set_hash(&self, ctx: &mut HelperContext<'_>, hash: u32) -> Result<(), String> {
        ctx.memory
            .write(self.ctx + sk_buff::HASH, &hash.to_le_bytes())
            .ok_or_else(|| "the context is not writable".to_string())
    }
}
