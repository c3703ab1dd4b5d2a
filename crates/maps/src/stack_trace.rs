//! `BPF_MAP_TYPE_STACK_TRACE`: stack ids (hash buckets) → instruction pointers,
//! filled by `bpf_get_stackid` with the kernel's bucket and flag rules.

use crate::{invalid, Map, MapError, MapSpec, BPF_ANY};

/// `BPF_F_STACK_BUILD_ID`: values are `struct bpf_stack_build_id` entries.
pub const BPF_F_STACK_BUILD_ID: u32 = 1 << 5;
/// The kernel's default `perf_event_max_stack`: the deepest stack a value holds.
pub const MAX_STACK: u32 = 127;
/// Bytes of one `struct bpf_stack_build_id`.
const BUILD_ID_ENTRY: u32 = 32;
/// `BPF_STACK_BUILD_ID_IP`: the entry holds an address, not a build id.
const BUILD_ID_IP: i32 = 2;

/// `bpf_get_stackid` flags: frames to skip, user stack, fast compare, reuse.
pub const BPF_F_SKIP_FIELD_MASK: u64 = 0xff;
/// Take the user stack rather than the kernel stack.
pub const BPF_F_USER_STACK: u64 = 1 << 8;
/// Compare stacks by hash only.
pub const BPF_F_FAST_STACK_CMP: u64 = 1 << 9;
/// Replace a different stack that hashed to the same id.
pub const BPF_F_REUSE_STACKID: u64 = 1 << 10;

fn entry_size(spec: &MapSpec) -> u32 {
    if spec.flags & BPF_F_STACK_BUILD_ID != 0 {
        BUILD_ID_ENTRY
    } else {
        8
    }
}

/// Checks a stack map's spec as the kernel's stack_map_alloc does; returns the
/// number of value slots (max_entries, preallocated as the kernel does).
pub(crate) fn check_spec(spec: &MapSpec) -> Result<usize, MapError> {
    let bad = |what: &str| invalid(format!("stack_trace map `{}`: {what}", spec.name));
    let entry = entry_size(spec);
    if spec.key_size != 4 || spec.value_size < 8 || spec.value_size % entry != 0 {
        return bad("key size must be 4 and value size a positive multiple of the entry size");
    }
    if spec.value_size / entry > MAX_STACK {
        return bad("value size exceeds perf_event_max_stack frames");
    }
    if spec.max_entries == 0 || spec.max_entries > 1 << 20 {
        return bad("max_entries must be between 1 and 2^20");
    }
    Ok(spec.max_entries as usize)
}

/// The stack's bucket hash (not the kernel's jhash2: ids are this map's own).
fn hash(ips: &[u64]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in ips.iter().flat_map(|ip| ip.to_le_bytes()) {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h
}

impl Map {
    /// Buckets of a stack map: max_entries rounded up to a power of two; ids
    /// range over them.
    pub fn stack_buckets(&self) -> u32 {
        self.spec.max_entries.next_power_of_two()
    }

    /// `bpf_get_stackid` with the stack `ips` (innermost first): its id, or the
    /// kernel's error (EFAULT: nothing left after skipping, EEXIST: another
    /// stack holds the bucket, EINVAL: unknown flags, ENOMEM: map full).
    pub fn stack_id(&self, ips: &[u64], flags: u64) -> Result<u32, MapError> {
        let known =
            BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP | BPF_F_REUSE_STACKID;
        if flags & !known != 0 {
            return invalid(format!("flags {flags:#x}"));
        }
        let skip = (flags & BPF_F_SKIP_FIELD_MASK) as usize;
        if ips.len() <= skip {
            return Err(MapError::Fault);
        }
        let depth = (self.spec.value_size / entry_size(&self.spec)) as usize;
        let ips = &ips[skip..ips.len().min(skip + depth)];
        let h = hash(ips);
        let id = h & (self.stack_buckets() - 1);
        let key = id.to_le_bytes();
        let value = self.stack_value(ips);
        if let Ok(old) = self.lookup(&key) {
            let same = old == value;
            let same_hash = flags & BPF_F_FAST_STACK_CMP != 0 && hash(&self.stack_ips(&old)) == h;
            if same || same_hash {
                return Ok(id);
            }
            if flags & BPF_F_REUSE_STACKID == 0 {
                return Err(MapError::Exists);
            }
        }
        match self.write_raw(&key, &value, BPF_ANY) {
            Err(MapError::TooBig) => Err(MapError::NoMemory),
            r => r.map(|_| id),
        }
    }

    /// A value holding `ips`, zero-padded (build-id maps: one
    /// `BPF_STACK_BUILD_ID_IP` entry per address, as the kernel falls back to).
    fn stack_value(&self, ips: &[u64]) -> Vec<u8> {
        let mut v = vec![0u8; self.spec.value_size as usize];
        if entry_size(&self.spec) == 8 {
            for (i, ip) in ips.iter().enumerate() {
                v[i * 8..i * 8 + 8].copy_from_slice(&ip.to_le_bytes());
            }
        } else {
            for (e, ip) in v.chunks_mut(BUILD_ID_ENTRY as usize).zip(ips) {
                e[..4].copy_from_slice(&BUILD_ID_IP.to_le_bytes());
                e[24..32].copy_from_slice(&ip.to_le_bytes());
            }
        }
        v
    }

    /// The addresses a stored value holds (trailing zeros dropped).
    fn stack_ips(&self, value: &[u8]) -> Vec<u64> {
        let (size, at) = if entry_size(&self.spec) == 8 {
            (8, 0)
        } else {
            (BUILD_ID_ENTRY as usize, 24)
        };
        let mut ips: Vec<u64> = value
            .chunks(size)
            .filter_map(|e| e.get(at..at + 8))
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        while ips.last() == Some(&0) {
            ips.pop();
        }
        ips
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MapType;

    fn map(max: u32, value: u32, flags: u32) -> Result<Map, MapError> {
        let mut spec = MapSpec::new("stacks", MapType::StackTrace, 4, value, max);
        spec.flags = flags;
        Map::new(spec, 1)
    }

    #[test]
    fn sizes_follow_the_kernel() {
        assert!(map(16, 8 * 127, 0).is_ok());
        assert!(map(16, 8 * 128, 0).is_err());
        assert!(map(16, 12, 0).is_err());
        assert!(map(16, 64, BPF_F_STACK_BUILD_ID).is_ok());
        assert!(map(16, 40, BPF_F_STACK_BUILD_ID).is_err());
        assert!(map(0, 8, 0).is_err());
    }

    #[test]
    fn ids_are_buckets_and_collisions_follow_the_flags() {
        let m = map(3, 16, 0).unwrap();
        assert_eq!(m.stack_buckets(), 4);
        let a = m.stack_id(&[0x1000], 0).unwrap();
        assert!(a < 4);
        assert_eq!(m.stack_id(&[0x1000], 0), Ok(a), "same stack, same id");
        let mut want = 0x1000u64.to_le_bytes().to_vec();
        want.resize(16, 0);
        assert_eq!(m.lookup(&a.to_le_bytes()).unwrap(), want);
        assert_eq!(m.stack_id(&[0x1000], 1), Err(MapError::Fault));
        assert!(m.stack_id(&[0x1000], 1 << 11).is_err());
        // Find a different stack landing in the same bucket.
        let other = (0x2000u64..).find(|&ip| hash(&[ip]) & 3 == a).unwrap();
        assert_eq!(m.stack_id(&[other], 0), Err(MapError::Exists));
        assert_eq!(m.stack_id(&[other], BPF_F_REUSE_STACKID), Ok(a));
        assert!(
            m.update(&a.to_le_bytes(), &want, 0).is_err(),
            "hosts cannot write stacks"
        );
        m.delete(&a.to_le_bytes()).unwrap();
        assert_eq!(m.delete(&a.to_le_bytes()), Err(MapError::NotFound));
    }
}
