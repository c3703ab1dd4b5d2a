//! Live capture: an `AF_PACKET` raw socket bound to one interface, with a
//! classic BPF filter attached by `SO_ATTACH_FILTER` so that the kernel drops
//! what the filter rejects before it is copied out. Needs root (`CAP_NET_RAW`).
//!
//! The socket is created with protocol 0, which receives nothing, and only
//! bound to the interface (with `ETH_P_ALL`) once the filter is attached, so
//! no unfiltered packet is ever queued.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `sll_pkttype` of a packet the host sent (`PACKET_OUTGOING`).
pub const PACKET_OUTGOING: u8 = 4;

/// One received packet's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes stored in the buffer.
    pub caplen: usize,
    /// The packet's length as queued: the whole packet, or the filter's
    /// result when that was smaller (the kernel cuts the packet to it).
    pub wirelen: u32,
    /// When it was read (the host clock).
    pub timestamp: Duration,
    /// The kernel's packet type (`PACKET_HOST`, [`PACKET_OUTGOING`], ...).
    pub pkttype: u8,
}

/// A packet socket on one interface with a classic filter attached.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    arphrd: u16,
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl PacketSocket {
    /// Opens a raw packet socket on `iface` that receives only the packets
    /// `filter` accepts; `filter` is classic BPF as `(code, jt, jf, k)`.
    pub fn open(iface: &str, filter: &[(u16, u8, u8, u32)]) -> io::Result<PacketSocket> {
        let name = CString::new(iface).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL")
        })?;
        // SAFETY: `name` is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no network interface named `{iface}`"),
            ));
        }
        let len = u16::try_from(filter.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "filter longer than 65535 instructions",
            )
        })?;
        // SAFETY: plain syscall; the result is checked.
        let fd = check(unsafe {
            libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0)
        })?;
        // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut insns: Vec<libc::sock_filter> = filter
            .iter()
            .map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k })
            .collect();
        let prog = libc::sock_fprog {
            len,
            filter: insns.as_mut_ptr(),
        };
        // SAFETY: `prog` points at `len` instructions that outlive the call;
        // the kernel copies them.
        check(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&prog as *const libc::sock_fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        })?;
        // SAFETY: an all-zero sockaddr_ll is valid; the fields are set below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a properly sized sockaddr_ll.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        // The interface's hardware type, from the bound address.
        // SAFETY: as above; getsockname fills at most `alen` bytes.
        let mut bound: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut alen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        check(unsafe {
            libc::getsockname(
                fd.as_raw_fd(),
                (&mut bound as *mut libc::sockaddr_ll).cast(),
                &mut alen,
            )
        })?;
        Ok(PacketSocket {
            fd,
            arphrd: bound.sll_hatype,
        })
    }

    /// The interface's `ARPHRD_*` hardware type (1 Ethernet, 772 loopback,
    /// 65534 none, as on tun devices).
    pub fn arphrd(&self) -> u16 {
        self.arphrd
    }

    /// Makes [`PacketSocket::recv`] give up after `timeout` (`None`: wait forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let t = timeout.unwrap_or_default();
        let tv = libc::timeval {
            tv_sec: t.as_secs() as libc::time_t,
            tv_usec: t.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: `tv` is a valid timeval for the duration of the call.
        check(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
        Ok(())
    }

    /// Sends one whole frame out of the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: `frame` is readable for its length; the socket is bound, so
        // the kernel sends on the bound interface.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Like [`PacketSocket::recv`], but returns `None` at once when no packet
    /// is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        match self.recv_flags(buf, libc::MSG_DONTWAIT) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits for the next packet the filter accepted and copies up to
    /// `buf.len()` bytes of it. A timeout gives `ErrorKind::WouldBlock`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        self.recv_flags(buf, 0)
    }

    fn recv_flags(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<Received> {
        // SAFETY: as in `open`.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut alen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        let n = loop {
            // SAFETY: `buf` is writable for its length; MSG_TRUNC makes the
            // kernel return the packet's real length but copy at most that.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC | flags,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut alen,
                )
            };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Ok(Received {
            caplen: n.min(buf.len()),
            wirelen: u32::try_from(n).unwrap_or(u32::MAX),
            timestamp,
            pkttype: from.sll_pkttype,
        })
    }
}

/// Whether the running kernel accepts `filter` (as `(code, jt, jf, k)`) as a
/// socket filter: attaches it to a fresh UDP socket (no privileges needed)
/// and reports `false` for `EINVAL`, the kernel's answer to a program its
/// checker rejects. Other errors are returned.
pub fn kernel_accepts(filter: &[(u16, u8, u8, u32)]) -> io::Result<bool> {
    let len = u16::try_from(filter.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "filter longer than 65535 instructions",
        )
    })?;
    // SAFETY: plain syscall; the result is checked.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut insns: Vec<libc::sock_filter> = filter
        .iter()
        .map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k })
        .collect();
    let prog = libc::sock_fprog {
        len,
        filter: insns.as_mut_ptr(),
    };
    // SAFETY: `prog` points at `len` instructions that outlive the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&prog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINVAL) {
        Ok(false)
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn loopback_sees_only_what_the_filter_accepts() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!(
                "skipped loopback_sees_only_what_the_filter_accepts: needs root (CAP_NET_RAW)"
            );
            return;
        }
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rx.local_addr().unwrap().port();
        // Ethernet, IPv4 (header without options, as the host sends), UDP,
        // destination port `port`.
        let filter = [
            (0x28, 0, 0, 12),
            (0x15, 0, 5, 0x800),
            (0x30, 0, 0, 23),
            (0x15, 0, 3, 17),
            (0x28, 0, 0, 36),
            (0x15, 0, 1, port as u32),
            (0x06, 0, 0, 65535),
            (0x06, 0, 0, 0),
        ];
        let sock = PacketSocket::open("lo", &filter).unwrap();
        assert_eq!(sock.arphrd(), 772);
        sock.set_timeout(Some(Duration::from_millis(200))).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let other = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..3u8 {
            tx.send_to(&[i; 10], other.local_addr().unwrap()).unwrap();
            tx.send_to(&[i; 10], ("127.0.0.1", port)).unwrap();
        }
        let mut buf = [0u8; 2048];
        let mut seen = Vec::new();
        loop {
            match sock.recv(&mut buf) {
                Ok(r) => {
                    assert_eq!(u16::from_be_bytes([buf[36], buf[37]]), port);
                    assert_eq!(r.wirelen, 14 + 20 + 8 + 10);
                    if r.pkttype != PACKET_OUTGOING {
                        seen.push(buf[42]);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(seen, [0, 1, 2]);
        assert!(PacketSocket::open("no-such-if0", &filter).is_err());
    }

    #[test]
    fn kernel_checks_socket_filters() {
        assert!(kernel_accepts(&[(0x06, 0, 0, 0)]).unwrap());
        match kernel_accepts(&[]) {
            Ok(accepted) => assert!(!accepted),
            // qemu-user cannot pass an empty filter on (it fails to copy it
            // in); the kernel itself answers EINVAL, that is Ok(false).
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOMEM | libc::EFAULT)) => {
                println!("skipped the empty filter: it does not reach the kernel here: {e}")
            }
            Err(e) => panic!("{e}"),
        }
        // Division by the constant 0.
        assert!(!kernel_accepts(&[(0x34, 0, 0, 0), (0x06, 0, 0, 0)]).unwrap());
        // Last instruction not a return.
        assert!(!kernel_accepts(&[(0x00, 0, 0, 0)]).unwrap());
    }
}
