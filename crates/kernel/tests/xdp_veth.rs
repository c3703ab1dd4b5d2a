//! XDP attached to a veth whose peer lives in a network namespace this test
//! creates: packets sent from the namespace are counted and dropped.

use std::path::PathBuf;
use std::process::Command;

use oxbpf_kernel::Kernel;
use oxbpf_object::Object;

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .is_ok_and(|s| s.success())
}

/// A veth pair: `host` here, `peer` in a new namespace; removed on drop.
struct Veth {
    ns: String,
    host: String,
}

impl Veth {
    fn create(test: &str) -> Option<Veth> {
        if !oxbpf_kernel::sys::privileged() {
            println!("skipped {test}: needs root to create namespaces and attach XDP");
            return None;
        }
        if let Some(why) = oxbpf_kernel::sys::unavailable() {
            println!("skipped {test}: {why}");
            return None;
        }
        if !sh(&["ip", "-V"]) || !sh(&["python3", "-c", "import socket"]) {
            println!("skipped {test}: needs iproute2 and python3 to make and send traffic");
            return None;
        }
        let id = std::process::id() % 100_000;
        let v = Veth {
            ns: format!("oxbpf-ns-{id}"),
            host: format!("oxh{id}"),
        };
        let peer = format!("oxp{id}");
        let ok = sh(&["ip", "netns", "add", &v.ns])
            && sh(&[
                "ip", "link", "add", &v.host, "type", "veth", "peer", "name", &peer, "netns", &v.ns,
            ])
            && sh(&["ip", "link", "set", &v.host, "up"])
            && sh(&["ip", "-n", &v.ns, "link", "set", &peer, "up"]);
        if !ok {
            println!("skipped {test}: could not create the namespace and veth pair");
            return None;
        }
        Some(v)
    }

    /// Sends `frame` `count` times from the namespace side.
    fn send(&self, frame: &[u8], count: usize) -> bool {
        let peer = self.host.replace("oxh", "oxp");
        let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
        let script = format!(
            "import socket\ns=socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(('{peer}', 0))\nfor _ in range({count}): s.send(bytes.fromhex('{hex}'))\n"
        );
        sh(&["ip", "netns", "exec", &self.ns, "python3", "-c", &script])
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting the namespace removes the peer, and with it the pair.
        sh(&["ip", "netns", "del", &self.ns]);
        sh(&["ip", "link", "del", &self.host]);
    }
}

#[test]
fn xdp_firewall_counts_and_drops_packets_on_a_veth() {
    let Some(veth) = Veth::create("xdp_firewall_counts_and_drops_packets_on_a_veth") else {
        return;
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf");
    let obj = Object::parse(&std::fs::read(dir.join("firewall.o")).unwrap()).unwrap();
    let kernel = Kernel::load(&obj).unwrap();
    // Block 10.0.0.0/24; the frame below comes from 10.0.0.1.
    kernel
        .map_update(
            "blocklist",
            &[24u32.to_le_bytes().as_slice(), &[10, 0, 0, 0]].concat(),
            &1u32.to_le_bytes(),
        )
        .unwrap();
    let link = kernel.attach_xdp("firewall", &veth.host).unwrap();
    let frame = std::fs::read(dir.join("packets/udp80.bin")).unwrap();
    assert!(veth.send(&frame, 5), "sending from the namespace");
    let stats = kernel.map_entries("per_source").unwrap();
    drop(link);
    // One source, 10.0.0.1: packets, bytes and drops (three u64s).
    assert_eq!(stats.len(), 1, "{stats:?}");
    let (key, value) = &stats[0];
    assert_eq!(key, &[10, 0, 0, 1]);
    let word = |i: usize| u64::from_ne_bytes(value[i * 8..i * 8 + 8].try_into().unwrap());
    assert_eq!((word(0), word(1), word(2)), (5, 5 * frame.len() as u64, 5));
}
