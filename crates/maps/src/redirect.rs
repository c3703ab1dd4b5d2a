//! The XDP redirect maps: `BPF_MAP_TYPE_DEVMAP`, `_DEVMAP_HASH`, `_CPUMAP` and
//! `_XSKMAP`, with the kernel's rules for their sizes and updates.
//!
//! In userspace there are no devices, CPU queues or AF_XDP sockets behind the
//! entries: a devmap entry is the ifindex the host stored (the runtime does
//! not check that the interface exists), a cpumap entry its queue size, and an
//! xskmap entry a number the host chooses to stand for a socket (programs
//! that look one up read it as `struct bpf_xdp_sock`'s `queue_id`). Programs
//! attached to entries (`bpf_prog.fd`) are not supported: such updates fail
//! with EINVAL.

use crate::{invalid, Map, MapError, MapSpec, MapType, BPF_EXIST, BPF_NOEXIST};

/// The kernel's NR_CPUS bound on a cpumap's size (x86-64 default config).
pub const CPUMAP_MAX_ENTRIES: u32 = 8192;
/// The largest queue size a cpumap entry may ask for.
pub const CPUMAP_MAX_QSIZE: u32 = 16384;

/// Whether `t` is indexed like an array (index < max_entries).
pub(crate) fn array_like(t: MapType) -> bool {
    matches!(t, MapType::DevMap | MapType::CpuMap | MapType::XskMap)
}

/// Checks a redirect map's spec as the kernel's map_alloc_check does;
/// returns the number of value slots to preallocate.
pub(crate) fn check_spec(spec: &MapSpec) -> Result<usize, MapError> {
    let t = spec.map_type;
    let bad = |what: &str| invalid(format!("{} map `{}`: {what}", t.name(), spec.name));
    if spec.key_size != 4 {
        return bad("key size must be 4");
    }
    let values: &[u32] = match t {
        MapType::XskMap => &[4],
        _ => &[4, 8],
    };
    if !values.contains(&spec.value_size) {
        return bad("value size must be 4 or 8 (4 for xskmap)");
    }
    if spec.max_entries == 0 {
        return bad("max_entries must be positive");
    }
    if t == MapType::CpuMap && spec.max_entries > CPUMAP_MAX_ENTRIES {
        return Err(MapError::TooBig);
    }
    if spec.max_entries > 1 << 20 {
        return bad("max_entries is too large");
    }
    Ok(spec.max_entries as usize)
}

/// What an update of a redirect map does, once checked.
pub(crate) enum Update {
    /// Store the value (with these hash-map flags).
    Store(u64),
    /// Empty the slot: a devmap entry with ifindex 0, a cpumap one with qsize 0.
    Clear,
}

/// Checks an update of redirect map `map` as the kernel's update functions do.
pub(crate) fn check_update(
    map: &Map,
    key: &[u8],
    value: &[u8],
    flags: u64,
) -> Result<Update, MapError> {
    let spec = map.spec();
    map.key_check(key)?;
    if flags > BPF_EXIST {
        return invalid(format!("flags {flags:#x}"));
    }
    if value.len() != spec.value_size as usize {
        return invalid(format!(
            "value is {} bytes, map `{}` takes {}",
            value.len(),
            spec.name,
            spec.value_size
        ));
    }
    let index = u32::from_le_bytes(key.try_into().expect("4-byte key"));
    let word = |i: usize| {
        value
            .get(i * 4..i * 4 + 4)
            .map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    let t = spec.map_type;
    if array_like(t) {
        if index >= spec.max_entries {
            return Err(MapError::TooBig);
        }
        if flags == BPF_NOEXIST {
            return Err(MapError::Exists);
        }
    }
    match t {
        MapType::DevMap | MapType::DevMapHash => {
            if word(1) != 0 {
                return invalid("programs in devmap entries are not supported".into());
            }
            match (word(0), t) {
                (0, MapType::DevMap) => Ok(Update::Clear),
                (0, _) => invalid("ifindex 0 names no device".into()),
                _ if t == MapType::DevMap => Ok(Update::Store(0)),
                _ => Ok(Update::Store(flags)),
            }
        }
        MapType::CpuMap => {
            let qsize = word(0);
            if qsize > CPUMAP_MAX_QSIZE {
                return Err(MapError::Overflow);
            }
            if index as usize >= map.ncpus() {
                return Err(MapError::NoDevice);
            }
            if word(1) != 0 {
                return invalid("programs in cpumap entries are not supported".into());
            }
            Ok(if qsize == 0 {
                Update::Clear
            } else {
                Update::Store(0)
            })
        }
        _ => Ok(Update::Store(0)),
    }
}

/// Checks a delete from redirect map `map`: array-like maps refuse indices
/// past the end (EINVAL) and succeed on empty slots, as in the kernel.
pub(crate) fn check_delete(map: &Map, key: &[u8]) -> Result<bool, MapError> {
    map.key_check(key)?;
    let spec = map.spec();
    if !array_like(spec.map_type) {
        return Ok(false);
    }
    let index = u32::from_le_bytes(key.try_into().expect("4-byte key"));
    if index >= spec.max_entries {
        return invalid(format!("index {index} is past the end of `{}`", spec.name));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use crate::{Map, MapError, MapSpec, MapType, BPF_ANY, BPF_NOEXIST};

    fn map(t: MapType, value: u32, max: u32) -> Result<Map, MapError> {
        Map::new(MapSpec::new("m", t, 4, value, max), 2)
    }

    #[test]
    fn sizes_follow_the_kernel() {
        for (t, value, max, ok) in [
            (MapType::DevMap, 4, 4, true),
            (MapType::DevMap, 8, 4, true),
            (MapType::DevMap, 12, 4, false),
            (MapType::DevMapHash, 8, 4, true),
            (MapType::CpuMap, 8, 4, true),
            (MapType::CpuMap, 4, 9000, false),
            (MapType::XskMap, 4, 4, true),
            (MapType::XskMap, 8, 4, false),
            (MapType::DevMap, 4, 0, false),
        ] {
            assert_eq!(
                map(t, value, max).is_ok(),
                ok,
                "{t:?} value {value} max {max}"
            );
        }
    }

    #[test]
    fn devmap_updates_and_lookups() {
        let m = map(MapType::DevMap, 8, 4).unwrap();
        let k = |i: u32| i.to_le_bytes();
        let v = |ifindex: u32| [ifindex.to_le_bytes(), [0; 4]].concat();
        m.update(&k(1), &v(3), BPF_ANY).unwrap();
        assert_eq!(m.lookup(&k(1)).unwrap(), v(3));
        assert_eq!(m.lookup(&k(0)), Err(MapError::NotFound));
        assert_eq!(m.update(&k(4), &v(3), BPF_ANY), Err(MapError::TooBig));
        assert_eq!(m.update(&k(2), &v(3), BPF_NOEXIST), Err(MapError::Exists));
        // ifindex 0 empties the slot; deleting an empty slot succeeds.
        m.update(&k(1), &v(0), BPF_ANY).unwrap();
        assert_eq!(m.lookup(&k(1)), Err(MapError::NotFound));
        m.delete(&k(2)).unwrap();
        assert!(m.delete(&k(9)).is_err());
        let h = map(MapType::DevMapHash, 4, 4).unwrap();
        h.update(&k(77), &1u32.to_le_bytes(), BPF_ANY).unwrap();
        assert_eq!(h.delete(&k(5)), Err(MapError::NotFound));
    }

    #[test]
    fn cpumap_checks_cpus_and_queue_sizes() {
        let m = map(MapType::CpuMap, 4, 8).unwrap();
        let k = |i: u32| i.to_le_bytes();
        m.update(&k(1), &192u32.to_le_bytes(), BPF_ANY).unwrap();
        assert_eq!(m.lookup(&k(1)).unwrap(), 192u32.to_le_bytes());
        assert_eq!(
            m.update(&k(1), &20000u32.to_le_bytes(), BPF_ANY),
            Err(MapError::Overflow)
        );
        // Two CPUs: CPU 5 does not exist.
        assert_eq!(
            m.update(&k(5), &64u32.to_le_bytes(), BPF_ANY),
            Err(MapError::NoDevice)
        );
        m.update(&k(1), &0u32.to_le_bytes(), BPF_ANY).unwrap();
        assert_eq!(m.lookup(&k(1)), Err(MapError::NotFound));
    }

    #[test]
    fn xskmap_values_are_not_readable_by_the_host() {
        let m = map(MapType::XskMap, 4, 4).unwrap();
        m.update(&0u32.to_le_bytes(), &7u32.to_le_bytes(), BPF_ANY)
            .unwrap();
        assert!(matches!(
            m.lookup(&0u32.to_le_bytes()),
            Err(MapError::NotSupported(_))
        ));
        let v = m.lookup_ptr(&0u32.to_le_bytes(), 0).unwrap();
        assert_eq!(v.len, 4);
    }
}
