//! Loading every program of an object, pinning it in bpffs, and listing it
//! among the kernel's programs.

use std::path::PathBuf;

use oxbpf_kernel::Kernel;
use oxbpf_object::Object;

/// A bpffs this test mounts at a directory of its own; unmounted on drop.
struct OwnBpffs(PathBuf);

impl Drop for OwnBpffs {
    fn drop(&mut self) {
        let _ = oxbpf_kernel::attach::unmount(&self.0);
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// A fresh bpffs of our own with a directory in it to pin into, or `None`
/// after printing why the test is skipped.
fn bpffs_dir(test: &str) -> Option<(OwnBpffs, PathBuf)> {
    if !oxbpf_kernel::sys::privileged() {
        println!("skipped {test}: needs root (CAP_BPF and CAP_SYS_ADMIN for bpffs)");
        return None;
    }
    if let Some(why) = oxbpf_kernel::sys::unavailable() {
        println!("skipped {test}: {why}");
        return None;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let root = std::env::temp_dir().join(format!("oxbpf-bpffs-{}-{nanos}", std::process::id()));
    if let Err(e) = oxbpf_kernel::attach::mount_bpffs(&root) {
        println!(
            "skipped {test}: could not mount bpffs at {}: {e}",
            root.display()
        );
        let _ = std::fs::remove_dir(&root);
        return None;
    }
    assert!(oxbpf_kernel::attach::is_bpffs(&root));
    let dir = root.join("packet");
    Some((OwnBpffs(root), dir))
}

#[test]
fn programs_and_maps_pin_and_list() {
    let Some((_mount, dir)) = bpffs_dir("programs_and_maps_pin_and_list") else {
        return;
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/elf/packet.o");
    let obj = Object::parse(&std::fs::read(path).unwrap()).unwrap();
    let kernel = Kernel::load(&obj).unwrap();
    let loaded = kernel.load_all();
    let names: Vec<&str> = loaded
        .iter()
        .map(|(n, r)| {
            assert!(r.is_ok(), "{n}: {:?}", r.as_ref().err());
            n.as_str()
        })
        .collect();
    assert_eq!(names, ["xdp_parse", "xdp_trim", "udp_length"]);

    let pinned = kernel.pin(&dir).unwrap();
    let result = std::panic::catch_unwind(|| {
        for p in &pinned {
            assert!(p.exists(), "{} is pinned", p.display());
        }
        assert!(dir.join("maps/classes").exists());
        // The kernel lists the loaded programs under their (truncated) names.
        let listed = oxbpf_kernel::prog_list().unwrap();
        for name in ["xdp_parse", "xdp_trim", "udp_length"] {
            let info = listed
                .iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| panic!("{name} not listed"));
            assert_eq!(info.tag.len(), 16);
            assert!(info.xlated_insns > 0);
        }
        let xdp = listed.iter().find(|p| p.name == "xdp_parse").unwrap();
        assert_eq!(xdp.prog_type, 6, "BPF_PROG_TYPE_XDP");
    });
    // Clean up only what this test created.
    for p in &pinned {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_dir(dir.join("maps"));
    let _ = std::fs::remove_dir(&dir);
    assert!(!dir.exists(), "{} removed", dir.display());
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
