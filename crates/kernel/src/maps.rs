//! Maps in the kernel from the host: lookup, update, delete, iteration
//! (`BPF_MAP_GET_NEXT_KEY`) and the batch commands.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use crate::error::KernelError;
use crate::sys::{call, call_fd, cmd, syscall_error, Attr, Sys};

/// A map entry: key bytes and value bytes.
pub type Entry = (Vec<u8>, Vec<u8>);

/// `BPF_ANY`: create or replace.
pub const BPF_ANY: u64 = 0;
/// `BPF_NOEXIST`: create only.
pub const BPF_NOEXIST: u64 = 1;
/// `BPF_EXIST`: replace only.
pub const BPF_EXIST: u64 = 2;

/// A map as the kernel describes it (`struct bpf_map_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapInfo {
    /// The kernel's map type id.
    pub map_type: u32,
    /// The map's id, unique while it exists.
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: String,
    /// Id of the BTF object attached at creation (0 for none).
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
}

/// Map types whose values hold one slot per possible CPU from the host.
fn per_cpu(map_type: u32) -> bool {
    matches!(map_type, 5 | 6 | 10 | 21)
}

/// Number of possible CPUs (`/sys/devices/system/cpu/possible`).
pub fn possible_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| parse_cpu_list(s.trim()))
        .unwrap_or(1)
}

/// Counts the CPUs in a list such as `0-3,5`.
pub fn parse_cpu_list(s: &str) -> Option<usize> {
    let mut n = 0;
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let a = part.parse::<usize>().ok()?;
                (a, a)
            }
        };
        n += b.checked_sub(a)? + 1;
    }
    Some(n)
}

/// Reads `struct bpf_map_info` of a map descriptor.
pub fn map_info(sys: &dyn Sys, fd: i32) -> Result<MapInfo, KernelError> {
    let mut info = [0u8; 96];
    let mut attr = Attr::new()
        .u32(0, fd as u32)
        .u32(4, info.len() as u32)
        .u64(8, info.as_mut_ptr() as u64);
    call(sys, cmd::OBJ_GET_INFO_BY_FD, &mut attr)?;
    let u32_at = |o: usize| u32::from_ne_bytes(info[o..o + 4].try_into().expect("four bytes"));
    let name_end = info[24..40].iter().position(|&b| b == 0).unwrap_or(16);
    Ok(MapInfo {
        map_type: u32_at(0),
        id: u32_at(4),
        key_size: u32_at(8),
        value_size: u32_at(12),
        max_entries: u32_at(16),
        map_flags: u32_at(20),
        name: String::from_utf8_lossy(&info[24..24 + name_end]).into_owned(),
        btf_id: u32_at(64),
        btf_key_type_id: u32_at(68),
        btf_value_type_id: u32_at(72),
    })
}

/// A map in the kernel, held open by its descriptor.
pub struct Map {
    fd: OwnedFd,
    sys: Arc<dyn Sys>,
    info: MapInfo,
    cpus: usize,
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map")
            .field("fd", &self.fd)
            .field("info", &self.info)
            .finish()
    }
}

impl Map {
    /// Wraps a map descriptor, reading its description from the kernel.
    pub fn from_fd(fd: OwnedFd, sys: Arc<dyn Sys>) -> Result<Map, KernelError> {
        let info = map_info(&*sys, fd.as_raw_fd())?;
        Ok(Map::with_info(fd, sys, info))
    }

    /// Wraps a map descriptor whose description is already known.
    pub fn with_info(fd: OwnedFd, sys: Arc<dyn Sys>, info: MapInfo) -> Map {
        Map {
            fd,
            sys,
            info,
            cpus: possible_cpus(),
        }
    }

    /// Opens the map with id `id`.
    pub fn from_id(id: u32, sys: Arc<dyn Sys>) -> Result<Map, KernelError> {
        let mut attr = Attr::new().u32(0, id);
        let fd = call_fd(&*sys, cmd::MAP_GET_FD_BY_ID, &mut attr)?;
        Map::from_fd(fd, sys)
    }

    /// Opens the map pinned at `path` in bpffs.
    pub fn from_pin(path: &std::path::Path, sys: Arc<dyn Sys>) -> Result<Map, KernelError> {
        let fd = crate::obj_get(&*sys, path)?;
        Map::from_fd(fd, sys)
    }

    /// The map's descriptor.
    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// The kernel's description of the map.
    pub fn info(&self) -> &MapInfo {
        &self.info
    }

    /// Bytes of a value as the host sees it: per-CPU maps hold one 8-byte
    /// aligned slot per possible CPU.
    pub fn value_len(&self) -> usize {
        let v = self.info.value_size as usize;
        if per_cpu(self.info.map_type) {
            v.next_multiple_of(8) * self.cpus
        } else {
            v
        }
    }

    fn check(&self, what: &'static str, want: usize, got: usize) -> Result<(), KernelError> {
        if want == got {
            Ok(())
        } else {
            Err(KernelError::Size {
                map: self.info.name.clone(),
                what,
                expected: want,
                got,
            })
        }
    }

    /// The value at `key`, or `None` when absent.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KernelError> {
        self.check("key", self.info.key_size as usize, key.len())?;
        let mut value = vec![0u8; self.value_len()];
        let mut attr = Attr::new()
            .u32(0, self.fd() as u32)
            .ptr(8, key)
            .u64(16, value.as_mut_ptr() as u64);
        match self.sys.bpf(cmd::MAP_LOOKUP_ELEM, &mut attr) {
            Ok(_) => Ok(Some(value)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(syscall_error(cmd::MAP_LOOKUP_ELEM, e)),
        }
    }

    /// Sets `key` to `value`; `flags` is [`BPF_ANY`], [`BPF_NOEXIST`] or [`BPF_EXIST`].
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), KernelError> {
        self.check("key", self.info.key_size as usize, key.len())?;
        self.check("value", self.value_len(), value.len())?;
        let mut attr = Attr::new()
            .u32(0, self.fd() as u32)
            .ptr(8, key)
            .ptr(16, value)
            .u64(24, flags);
        call(&*self.sys, cmd::MAP_UPDATE_ELEM, &mut attr)?;
        Ok(())
    }

    /// Removes `key`; returns whether it was present.
    pub fn delete(&self, key: &[u8]) -> Result<bool, KernelError> {
        self.check("key", self.info.key_size as usize, key.len())?;
        let mut attr = Attr::new().u32(0, self.fd() as u32).ptr(8, key);
        match self.sys.bpf(cmd::MAP_DELETE_ELEM, &mut attr) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(syscall_error(cmd::MAP_DELETE_ELEM, e)),
        }
    }

    /// The key after `key` (the first key for `None`), or `None` at the end.
    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Option<Vec<u8>>, KernelError> {
        if let Some(k) = key {
            self.check("key", self.info.key_size as usize, k.len())?;
        }
        let mut next = vec![0u8; self.info.key_size as usize];
        let mut attr = Attr::new()
            .u32(0, self.fd() as u32)
            .ptr(8, key.unwrap_or(&[]))
            .u64(16, next.as_mut_ptr() as u64);
        match self.sys.bpf(cmd::MAP_GET_NEXT_KEY, &mut attr) {
            Ok(_) => Ok(Some(next)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(syscall_error(cmd::MAP_GET_NEXT_KEY, e)),
        }
    }

    /// Every key, in the kernel's order.
    pub fn keys(&self) -> Result<Vec<Vec<u8>>, KernelError> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        // A bound against keys that keep reappearing (concurrent updates).
        let limit = self.info.max_entries as usize + 1;
        while out.len() < limit {
            match self.next_key(out.last().map(|k| k.as_slice()))? {
                Some(k) => out.push(k),
                None => break,
            }
        }
        Ok(out)
    }

    /// Every (key, value), by iterating keys and looking each up; keys
    /// deleted meanwhile are skipped.
    pub fn entries(&self) -> Result<Vec<Entry>, KernelError> {
        let mut out = Vec::new();
        for k in self.keys()? {
            if let Some(v) = self.lookup(&k)? {
                out.push((k, v));
            }
        }
        Ok(out)
    }

    /// Every (key, value) through `BPF_MAP_LOOKUP_BATCH`, `chunk` entries per call.
    pub fn lookup_batch(&self, chunk: u32) -> Result<Vec<Entry>, KernelError> {
        self.batch_read(cmd::MAP_LOOKUP_BATCH, chunk)
    }

    /// Every (key, value), deleting them, through `BPF_MAP_LOOKUP_AND_DELETE_BATCH`.
    pub fn lookup_and_delete_batch(&self, chunk: u32) -> Result<Vec<Entry>, KernelError> {
        self.batch_read(cmd::MAP_LOOKUP_AND_DELETE_BATCH, chunk)
    }

    fn batch_read(&self, command: u32, chunk: u32) -> Result<Vec<Entry>, KernelError> {
        let chunk = chunk.max(1) as usize;
        let (ks, vs) = (self.info.key_size as usize, self.value_len());
        // The batch token: a bucket index for hashes, a key for others.
        let token_len = ks.max(8);
        let mut token_in = vec![0u8; token_len];
        let mut token_out = vec![0u8; token_len];
        let mut keys = vec![0u8; ks * chunk];
        let mut values = vec![0u8; vs * chunk];
        let mut out = Vec::new();
        let mut first = true;
        loop {
            let mut attr = Attr::new()
                .u64(0, if first { 0 } else { token_in.as_ptr() as u64 })
                .u64(8, token_out.as_mut_ptr() as u64)
                .u64(16, keys.as_mut_ptr() as u64)
                .u64(24, values.as_mut_ptr() as u64)
                .u32(32, chunk as u32)
                .u32(36, self.fd() as u32);
            let r = self.sys.bpf(command, &mut attr);
            let count = (attr.get_u32(32) as usize).min(chunk);
            let done = match r {
                Ok(_) => false,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => true,
                Err(e) => return Err(syscall_error(command, e)),
            };
            for i in 0..count {
                out.push((
                    keys[i * ks..(i + 1) * ks].to_vec(),
                    values[i * vs..(i + 1) * vs].to_vec(),
                ));
            }
            if done || out.len() > self.info.max_entries as usize {
                return Ok(out);
            }
            token_in.copy_from_slice(&token_out);
            first = false;
        }
    }

    /// Sets every (key, value) through `BPF_MAP_UPDATE_BATCH`; returns how many
    /// the kernel applied.
    pub fn update_batch(&self, entries: &[Entry], flags: u64) -> Result<u32, KernelError> {
        let (ks, vs) = (self.info.key_size as usize, self.value_len());
        let mut keys = Vec::with_capacity(ks * entries.len());
        let mut values = Vec::with_capacity(vs * entries.len());
        for (k, v) in entries {
            self.check("key", ks, k.len())?;
            self.check("value", vs, v.len())?;
            keys.extend_from_slice(k);
            values.extend_from_slice(v);
        }
        let mut attr = Attr::new()
            .ptr(16, &keys)
            .ptr(24, &values)
            .u32(32, entries.len() as u32)
            .u32(36, self.fd() as u32)
            .u64(40, flags);
        let r = self.sys.bpf(cmd::MAP_UPDATE_BATCH, &mut attr);
        r.map_err(|e| syscall_error(cmd::MAP_UPDATE_BATCH, e))?;
        Ok(attr.get_u32(32))
    }

    /// Deletes every key through `BPF_MAP_DELETE_BATCH`; returns how many went.
    pub fn delete_batch(&self, keys: &[Vec<u8>]) -> Result<u32, KernelError> {
        let ks = self.info.key_size as usize;
        let mut flat = Vec::with_capacity(ks * keys.len());
        for k in keys {
            self.check("key", ks, k.len())?;
            flat.extend_from_slice(k);
        }
        let mut attr = Attr::new()
            .ptr(16, &flat)
            .u32(32, keys.len() as u32)
            .u32(36, self.fd() as u32);
        let r = self.sys.bpf(cmd::MAP_DELETE_BATCH, &mut attr);
        r.map_err(|e| syscall_error(cmd::MAP_DELETE_BATCH, e))?;
        Ok(attr.get_u32(32))
    }

    /// Makes the map read-only for the host (`BPF_MAP_FREEZE`).
    pub fn freeze(&self) -> Result<(), KernelError> {
        let mut attr = Attr::new().u32(0, self.fd() as u32);
        call(&*self.sys, cmd::MAP_FREEZE, &mut attr)?;
        Ok(())
    }

    /// Pins the map at `path` in bpffs.
    pub fn pin(&self, path: &std::path::Path) -> Result<(), KernelError> {
        crate::pin_fd(&*self.sys, self.fd(), path)
    }
}

/// Every map in the kernel.
pub fn map_list(sys: Arc<dyn Sys>) -> Result<Vec<Map>, KernelError> {
    let mut out = Vec::new();
    let mut id = 0u32;
    loop {
        let mut attr = Attr::new().u32(0, id);
        match sys.bpf(cmd::MAP_GET_NEXT_ID, &mut attr) {
            Ok(_) => id = attr.get_u32(4),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => break,
            Err(e) => return Err(syscall_error(cmd::MAP_GET_NEXT_ID, e)),
        }
        match Map::from_id(id, sys.clone()) {
            Ok(m) => out.push(m),
            Err(_) => continue, // freed meanwhile
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::mock::{new_fd, MockSys};
    use crate::sys::owned;

    fn info(map_type: u32) -> MapInfo {
        MapInfo {
            map_type,
            id: 1,
            key_size: 4,
            value_size: 4,
            max_entries: 8,
            map_flags: 0,
            name: "m".into(),
            btf_id: 0,
            btf_key_type_id: 0,
            btf_value_type_id: 0,
        }
    }

    #[test]
    fn cpu_lists_count_ranges() {
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-3,5,7-8"), Some(7));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn iteration_walks_next_key_until_enoent() {
        // A scripted hash with keys 1, 2, 3 whose values are key * 10.
        let sys = Arc::new(MockSys::new(|command, attr| {
            let read_key = |ptr: u64| {
                if ptr == 0 {
                    None
                } else {
                    // SAFETY: the code under test passes a 4-byte key buffer.
                    Some(unsafe { *(ptr as *const u32) })
                }
            };
            match command {
                cmd::MAP_GET_NEXT_KEY => {
                    let next = read_key(attr.get_u64(8)).map_or(1, |k| k + 1);
                    if next > 3 {
                        return Err(std::io::Error::from_raw_os_error(libc::ENOENT));
                    }
                    // SAFETY: the code under test passes a 4-byte output buffer.
                    unsafe { *(attr.get_u64(16) as *mut u32) = next };
                    Ok(0)
                }
                cmd::MAP_LOOKUP_ELEM => {
                    let k = read_key(attr.get_u64(8)).unwrap();
                    // SAFETY: as above, a 4-byte value buffer.
                    unsafe { *(attr.get_u64(16) as *mut u32) = k * 10 };
                    Ok(0)
                }
                _ => Err(std::io::Error::from_raw_os_error(libc::EINVAL)),
            }
        }));
        let map = Map::with_info(owned(new_fd() as i32), sys.clone(), info(1));
        let entries = map.entries().unwrap();
        let want: Vec<Entry> = (1u32..=3)
            .map(|k| (k.to_ne_bytes().to_vec(), (k * 10).to_ne_bytes().to_vec()))
            .collect();
        assert_eq!(entries, want);
        // Four next-key calls (the last ends the walk) and three lookups.
        let cmds = sys.commands();
        assert_eq!(
            cmds.iter().filter(|&&c| c == cmd::MAP_GET_NEXT_KEY).count(),
            4
        );
        assert_eq!(
            cmds.iter().filter(|&&c| c == cmd::MAP_LOOKUP_ELEM).count(),
            3
        );
    }

    #[test]
    fn sizes_are_checked_before_any_call() {
        let sys = Arc::new(MockSys::new(|_, _| Ok(0)));
        let map = Map::with_info(owned(new_fd() as i32), sys.clone(), info(1));
        let e = map.update(&[1, 2], &[0; 4], BPF_ANY).unwrap_err();
        assert!(e.to_string().contains("key"), "{e}");
        assert!(map.lookup(&[0; 5]).is_err());
        assert!(sys.calls().is_empty());
    }

    #[test]
    fn per_cpu_values_hold_a_slot_per_cpu() {
        let sys = Arc::new(MockSys::new(|_, _| Ok(0)));
        let mut i = info(6);
        i.value_size = 12;
        let map = Map::with_info(owned(new_fd() as i32), sys, i);
        assert_eq!(map.value_len(), 16 * possible_cpus());
    }

    #[test]
    fn missing_keys_are_none_and_errors_name_the_command() {
        let sys = Arc::new(MockSys::new(|command, _| match command {
            cmd::MAP_LOOKUP_ELEM => Err(std::io::Error::from_raw_os_error(libc::ENOENT)),
            _ => Err(std::io::Error::from_raw_os_error(libc::EPERM)),
        }));
        let map = Map::with_info(owned(new_fd() as i32), sys, info(1));
        assert_eq!(map.lookup(&[0; 4]).unwrap(), None);
        let e = map
            .update(&[0; 4], &[0; 4], BPF_ANY)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("BPF_MAP_UPDATE_ELEM") && e.contains("CAP_BPF"),
            "{e}"
        );
    }
}
