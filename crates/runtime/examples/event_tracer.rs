//! An event tracer on a host-defined hook: the host fires `exec` events with a
//! context it defines; the program filters them and sends records through a
//! ring buffer, which the host consumes.
//!
//! `cargo run -p oxbpf --example event_tracer`

use oxbpf::object::Object;
use oxbpf::{Hooks, Options, Runtime};

/// The hook's context, laid out as `struct exec_ctx` in tracer.c.
fn exec_ctx(pid: u32, uid: u32, filename: &str) -> Vec<u8> {
    let mut c = Vec::with_capacity(72);
    c.extend(pid.to_le_bytes());
    c.extend(uid.to_le_bytes());
    let mut name = [0u8; 64];
    name[..filename.len().min(63)].copy_from_slice(&filename.as_bytes()[..filename.len().min(63)]);
    c.extend(name);
    c
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/elf/tracer.o");
    let mut obj = Object::parse(&std::fs::read(path)?)?;
    // Configure before load, as with a libbpf skeleton's rodata: trace uid 1000 only.
    obj.set_global("only_uid", &1000u32.to_le_bytes())?;
    let rt = Runtime::with_options(obj, Options::default())?;

    let mut hooks = Hooks::new(&rt);
    hooks.attach("exec", "trace_exec")?;
    for (pid, uid, file) in [
        (100, 1000, "/usr/bin/ls"),
        (101, 0, "/usr/sbin/sshd"),
        (102, 1000, "/usr/bin/cat"),
    ] {
        hooks.fire("exec", &[], Some(&exec_ctx(pid, uid, file)))?;
    }

    let events = rt.map("events")?;
    let ring = events.ringbuf().expect("a ring buffer map");
    let n = ring.poll(std::time::Duration::from_millis(100), |record| {
        let pid = u32::from_le_bytes(record[0..4].try_into().unwrap());
        let seq = u32::from_le_bytes(record[4..8].try_into().unwrap());
        let name = &record[16..80];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        println!(
            "#{seq} pid {pid} exec {}",
            String::from_utf8_lossy(&name[..end])
        );
    });
    println!("{n} events");
    Ok(())
}
