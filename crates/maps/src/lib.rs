//! BPF maps with the kernel's semantics: array, per-CPU array, hash, per-CPU
//! hash, LRU hash (plain and per-CPU), queue, stack and ring buffer.
//!
//! Every map is safe to share between threads: programs on many threads and the
//! host can use it at once. Programs reach values through stable pointers (as
//! `bpf_map_lookup_elem` returns them) into one block of memory per map
//! ([`Map::storage`]): hash maps preallocate their values as the kernel does by
//! default, so a pointer a program holds always points into the map, even after
//! its entry is deleted and the slot reused.
//!
//! ```
//! use oxbpf_maps::{Map, MapSpec, MapType, BPF_ANY};
//!
//! let m = Map::new(MapSpec::new("counts", MapType::Hash, 4, 8, 16), 1).unwrap();
//! m.update(&7u32.to_le_bytes(), &42u64.to_le_bytes(), BPF_ANY).unwrap();
//! assert_eq!(m.lookup(&7u32.to_le_bytes()).unwrap(), 42u64.to_le_bytes());
//! ```

pub mod error;
pub mod perf;
pub mod ringbuf;
pub mod storage;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::BuildHasherDefault;

use rustc_hash::FxHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

pub use error::MapError;
pub use perf::PerfBuffers;
pub use ringbuf::RingBuf;
pub use storage::Bytes;

/// Create or update.
pub const BPF_ANY: u64 = 0;
/// Create only.
pub const BPF_NOEXIST: u64 = 1;
/// Update only.
pub const BPF_EXIST: u64 = 2;

/// The map types implemented here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapType {
    Hash,
    Array,
    PercpuHash,
    PercpuArray,
    LruHash,
    LruPercpuHash,
    Queue,
    Stack,
    RingBuf,
    /// Longest-prefix match; keys are `{ u32 prefixlen; u8 data[]; }`.
    LpmTrie,
    /// Per-CPU buffers for `bpf_perf_event_output`.
    PerfEventArray,
}

impl MapType {
    /// The type for a kernel map type id, if implemented.
    pub fn from_kernel_id(id: u32) -> Option<MapType> {
        Some(match id {
            1 => MapType::Hash,
            2 => MapType::Array,
            5 => MapType::PercpuHash,
            6 => MapType::PercpuArray,
            9 => MapType::LruHash,
            10 => MapType::LruPercpuHash,
            22 => MapType::Queue,
            23 => MapType::Stack,
            27 => MapType::RingBuf,
            11 => MapType::LpmTrie,
            4 => MapType::PerfEventArray,
            _ => return None,
        })
    }

    /// The kernel's id for the type.
    pub fn kernel_id(self) -> u32 {
        match self {
            MapType::Hash => 1,
            MapType::Array => 2,
            MapType::PercpuHash => 5,
            MapType::PercpuArray => 6,
            MapType::LruHash => 9,
            MapType::LruPercpuHash => 10,
            MapType::Queue => 22,
            MapType::Stack => 23,
            MapType::RingBuf => 27,
            MapType::LpmTrie => 11,
            MapType::PerfEventArray => 4,
        }
    }

    /// The kernel's name for the type, such as `lru_hash`.
    pub fn name(self) -> &'static str {
        match self {
            MapType::Hash => "hash",
            MapType::Array => "array",
            MapType::PercpuHash => "percpu_hash",
            MapType::PercpuArray => "percpu_array",
            MapType::LruHash => "lru_hash",
            MapType::LruPercpuHash => "lru_percpu_hash",
            MapType::Queue => "queue",
            MapType::Stack => "stack",
            MapType::RingBuf => "ringbuf",
            MapType::LpmTrie => "lpm_trie",
            MapType::PerfEventArray => "perf_event_array",
        }
    }

    fn per_cpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash
        )
    }
}

/// What a map is: its type and sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    pub name: String,
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

impl MapSpec {
    /// A spec with no flags.
    pub fn new(
        name: &str,
        map_type: MapType,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> MapSpec {
        MapSpec {
            name: name.to_string(),
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: 0,
        }
    }
}

/// A value handed to a program: its address and length inside [`Map::storage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueRef {
    pub ptr: *mut u8,
    pub len: usize,
}

/// Keys of a hash map with their value slots, and the free slots.
#[derive(Debug, Default)]
struct HashIndex {
    /// Keys in order, for iteration (`get_next_key`).
    keys: BTreeMap<Box<[u8]>, usize>,
    /// The same keys, for lookups.
    hashed: HashMap<Box<[u8]>, usize, BuildHasherDefault<FxHasher>>,
    /// When each slot was last used (LRU maps).
    last_used: Vec<u64>,
    free: Vec<usize>,
}

impl HashIndex {
    fn insert(&mut self, key: &[u8], slot: usize) {
        self.keys.insert(key.into(), slot);
        self.hashed.insert(key.into(), slot);
    }

    fn remove(&mut self, key: &[u8]) -> Option<usize> {
        self.hashed.remove(key);
        self.keys.remove(key)
    }
}

#[derive(Debug)]
enum Store {
    Array(Bytes),
    Hash {
        index: Mutex<HashIndex>,
        /// max_entries value slots (each `slot_size` bytes).
        arena: Bytes,
        clock: AtomicU64,
    },
    Queue(Mutex<VecDeque<Box<[u8]>>>),
    RingBuf(RingBuf),
    Perf(PerfBuffers),
}

/// A map.
#[derive(Debug)]
pub struct Map {
    spec: MapSpec,
    ncpus: usize,
    /// Value size rounded up to 8 bytes, the per-CPU slot size.
    stride: usize,
    store: Store,
    /// `BPF_MAP_FREEZE` was called: the host may no longer change the map.
    frozen: AtomicBool,
}

/// `BPF_F_RDONLY`: the host (the kernel's syscall side) may only read the map.
pub const BPF_F_RDONLY: u32 = 1 << 3;
/// `BPF_F_WRONLY`: the host may only write the map.
pub const BPF_F_WRONLY: u32 = 1 << 4;
/// `BPF_F_RDONLY_PROG`: programs may only read the map.
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_WRONLY_PROG`: programs may only write the map.
pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;

/// Who changes a map: the host (the kernel's syscall side) or a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    /// The host, through the map API (`BPF_MAP_UPDATE_ELEM` and the like).
    Host,
    /// A program, through a helper.
    Program,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn invalid<T>(msg: String) -> Result<T, MapError> {
    Err(MapError::Invalid(msg))
}

impl Map {
    /// Creates an empty map; per-CPU maps keep `ncpus` copies of each value.
    pub fn new(spec: MapSpec, ncpus: usize) -> Result<Map, MapError> {
        let ncpus = ncpus.max(1);
        let stride = (spec.value_size as usize).div_ceil(8) * 8;
        let t = spec.map_type;
        let check = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                invalid(format!("{} map `{}`: {what}", t.name(), spec.name))
            }
        };
        let store = match t {
            MapType::Array | MapType::PercpuArray => {
                check(spec.key_size == 4, "key size must be 4")?;
                check(spec.value_size > 0, "value size must be positive")?;
                let copies = if t.per_cpu() { ncpus } else { 1 };
                let bytes = (spec.max_entries as usize)
                    .checked_mul(stride)
                    .and_then(|b| b.checked_mul(copies))
                    .filter(|&b| b <= 1 << 30)
                    .ok_or_else(|| {
                        MapError::Invalid(format!("array map `{}` is too large", spec.name))
                    })?;
                Store::Array(Bytes::zeroed(bytes))
            }
            MapType::Hash
            | MapType::PercpuHash
            | MapType::LruHash
            | MapType::LruPercpuHash
            | MapType::LpmTrie => {
                if t == MapType::LpmTrie {
                    check(
                        spec.key_size > 4,
                        "key size must be more than 4 (prefix length and data)",
                    )?;
                    check(spec.flags & 1 != 0, "BPF_F_NO_PREALLOC is required")?;
                }
                check(
                    spec.key_size > 0 && spec.value_size > 0,
                    "key and value sizes must be positive",
                )?;
                check(spec.max_entries > 0, "max_entries must be positive")?;
                let slot = stride * if t.per_cpu() { ncpus } else { 1 };
                let bytes = (spec.max_entries as usize)
                    .checked_mul(slot)
                    .filter(|&b| b <= 1 << 30)
                    .ok_or_else(|| {
                        MapError::Invalid(format!("hash map `{}` is too large", spec.name))
                    })?;
                Store::Hash {
                    index: Mutex::new(HashIndex {
                        keys: BTreeMap::new(),
                        hashed: HashMap::default(),
                        last_used: vec![0; spec.max_entries as usize],
                        free: (0..spec.max_entries as usize).rev().collect(),
                    }),
                    arena: Bytes::zeroed(bytes),
                    clock: AtomicU64::new(0),
                }
            }
            MapType::Queue | MapType::Stack => {
                check(spec.key_size == 0, "key size must be 0")?;
                check(
                    spec.value_size > 0 && spec.max_entries > 0,
                    "value size and max_entries must be positive",
                )?;
                Store::Queue(Mutex::new(VecDeque::new()))
            }
            MapType::RingBuf => {
                check(
                    spec.key_size == 0 && spec.value_size == 0,
                    "key and value sizes must be 0",
                )?;
                Store::RingBuf(RingBuf::new(spec.max_entries as usize)?)
            }
            // max_entries 0 means one buffer per CPU, as libbpf sets it.
            MapType::PerfEventArray => Store::Perf(PerfBuffers::new(if spec.max_entries == 0 {
                ncpus
            } else {
                spec.max_entries as usize
            })),
        };
        Ok(Map {
            spec,
            ncpus,
            stride,
            store,
            frozen: AtomicBool::new(false),
        })
    }

    /// Freezes the map, as `BPF_MAP_FREEZE` does: from now on the host's
    /// updates, deletes, pushes and pops fail with EPERM. Programs may still
    /// write unless the map is `BPF_F_RDONLY_PROG`.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Release);
    }

    /// Whether [`Map::freeze`] was called.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    /// Whether `who` may change the map: the host not once it is frozen or
    /// `BPF_F_RDONLY`, programs not when it is `BPF_F_RDONLY_PROG`.
    pub fn check_write(&self, who: Writer) -> Result<(), MapError> {
        let refused = match who {
            Writer::Host => self.is_frozen() || self.spec.flags & BPF_F_RDONLY != 0,
            Writer::Program => self.spec.flags & BPF_F_RDONLY_PROG != 0,
        };
        if refused {
            Err(MapError::ReadOnly {
                map: self.spec.name.clone(),
                frozen: who == Writer::Host && self.is_frozen(),
            })
        } else {
            Ok(())
        }
    }

    /// The map's spec.
    pub fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// Number of CPUs a per-CPU map keeps values for.
    pub fn ncpus(&self) -> usize {
        self.ncpus
    }

    /// The block of memory that holds every value programs can point into
    /// (array elements, hash value slots, ring buffer data): (address, length).
    pub fn storage(&self) -> Option<(*mut u8, usize)> {
        match &self.store {
            Store::Array(b) | Store::Hash { arena: b, .. } => Some((b.ptr(0), b.len())),
            Store::RingBuf(r) => Some(r.data_region()),
            Store::Queue(_) | Store::Perf(_) => None,
        }
    }

    /// Bytes of one hash value slot (all CPUs' copies for per-CPU maps).
    fn slot_size(&self) -> usize {
        self.host_value_size().div_ceil(8) * 8
    }

    /// The per-CPU buffers, for perf event arrays.
    pub fn perf(&self) -> Option<&PerfBuffers> {
        match &self.store {
            Store::Perf(p) => Some(p),
            _ => None,
        }
    }

    /// The ring buffer, for ring buffer maps.
    pub fn ringbuf(&self) -> Option<&RingBuf> {
        match &self.store {
            Store::RingBuf(r) => Some(r),
            _ => None,
        }
    }

    /// An LPM key with the data bits past `plen` cleared and the prefix length set to `plen`.
    fn lpm_key(&self, key: &[u8], plen: u32) -> Vec<u8> {
        let mut k = key.to_vec();
        k[..4].copy_from_slice(&plen.to_le_bytes());
        for (i, b) in k[4..].iter_mut().enumerate() {
            let bit = i as u32 * 8;
            if bit >= plen {
                *b = 0;
            } else if plen - bit < 8 {
                *b &= 0xffu8 << (8 - (plen - bit));
            }
        }
        k
    }

    /// The stored form of `key`: for LPM tries, its prefix with the rest cleared.
    fn canonical(&self, key: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, MapError> {
        self.key_check(key)?;
        if self.spec.map_type != MapType::LpmTrie {
            return Ok(std::borrow::Cow::Owned(key.to_vec()));
        }
        let plen = u32::from_le_bytes(key[..4].try_into().expect("4 bytes"));
        let max = (key.len() as u32 - 4) * 8;
        if plen > max {
            return invalid(format!("prefix length {plen} exceeds {max} bits"));
        }
        Ok(std::borrow::Cow::Owned(self.lpm_key(key, plen)))
    }

    /// The slot of the stored key that `key` finds: itself, or for LPM tries the
    /// longest stored prefix that matches it (up to its own prefix length).
    fn find(&self, idx: &HashIndex, key: &[u8]) -> Option<usize> {
        if self.spec.map_type != MapType::LpmTrie {
            return idx.hashed.get(key).copied();
        }
        let max = (key.len() as u32 - 4) * 8;
        let plen = u32::from_le_bytes(key[..4].try_into().ok()?).min(max);
        (0..=plen)
            .rev()
            .find_map(|p| idx.hashed.get(self.lpm_key(key, p).as_slice()).copied())
    }

    /// Whether lookups must record when a key was used (LRU eviction).
    fn is_lru(&self) -> bool {
        matches!(
            self.spec.map_type,
            MapType::LruHash | MapType::LruPercpuHash
        )
    }

    fn key_check(&self, key: &[u8]) -> Result<(), MapError> {
        if key.len() != self.spec.key_size as usize {
            return invalid(format!(
                "key is {} bytes, map `{}` takes {}",
                key.len(),
                self.spec.name,
                self.spec.key_size
            ));
        }
        Ok(())
    }

    /// Length of a value as the host sees it: all CPUs' slots for per-CPU maps.
    pub fn host_value_size(&self) -> usize {
        if self.spec.map_type.per_cpu() {
            self.stride * self.ncpus
        } else {
            self.spec.value_size as usize
        }
    }

    fn array_index(&self, key: &[u8]) -> Result<usize, MapError> {
        self.key_check(key)?;
        let i = u32::from_le_bytes(key.try_into().expect("4-byte key")) as usize;
        if i >= self.spec.max_entries as usize {
            return Err(MapError::NotFound);
        }
        Ok(i)
    }

    /// Byte offset of CPU `cpu`'s copy of array element `i`.
    fn array_offset(&self, i: usize, cpu: usize) -> usize {
        if self.spec.map_type.per_cpu() {
            (i * self.ncpus + cpu % self.ncpus) * self.stride
        } else {
            i * self.stride
        }
    }

    fn tick(&self) -> u64 {
        match &self.store {
            Store::Hash { clock, .. } => clock.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        }
    }

    // ---- program side ----

    /// `bpf_map_lookup_elem` on CPU `cpu`: the address of the value.
    pub fn lookup_ptr(&self, key: &[u8], cpu: usize) -> Result<ValueRef, MapError> {
        let len = self.spec.value_size as usize;
        match &self.store {
            Store::Array(bytes) => {
                let i = self.array_index(key)?;
                Ok(ValueRef {
                    ptr: bytes.ptr(self.array_offset(i, cpu)),
                    len,
                })
            }
            Store::Hash { index, arena, .. } => {
                self.key_check(key)?;
                let mut idx = lock(index);
                let slot = self.find(&idx, key).ok_or(MapError::NotFound)?;
                if self.is_lru() {
                    idx.last_used[slot] = self.tick();
                }
                let off = if self.spec.map_type.per_cpu() {
                    (cpu % self.ncpus) * self.stride
                } else {
                    0
                };
                Ok(ValueRef {
                    ptr: arena.ptr(slot * self.slot_size() + off),
                    len,
                })
            }
            _ => Err(MapError::NotSupported(self.spec.map_type.name())),
        }
    }

    /// `bpf_map_update_elem` from a program on CPU `cpu` (per-CPU maps set that CPU's copy).
    pub fn update_from_program(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        cpu: usize,
    ) -> Result<(), MapError> {
        self.check_write(Writer::Program)?;
        if !self.spec.map_type.per_cpu() {
            return self.write(key, value, flags);
        }
        match &self.store {
            Store::Array(bytes) => {
                let i = self.array_index(key).map_err(|_| MapError::TooBig)?;
                if flags == BPF_NOEXIST {
                    return Err(MapError::Exists);
                }
                bytes.write(self.array_offset(i, cpu), value);
                Ok(())
            }
            _ => {
                // Per-CPU hash: start from the current values (or zeros) and set one CPU's copy.
                let mut all = self
                    .lookup(key)
                    .unwrap_or_else(|_| vec![0; self.host_value_size()]);
                let off = (cpu % self.ncpus) * self.stride;
                all[off..off + value.len()].copy_from_slice(value);
                self.write(key, &all, flags)
            }
        }
    }

    // ---- host side (and shared) ----

    /// The value for `key` (per-CPU maps: every CPU's copy, each padded to 8 bytes).
    pub fn lookup(&self, key: &[u8]) -> Result<Vec<u8>, MapError> {
        let vs = self.spec.value_size as usize;
        match &self.store {
            Store::Array(bytes) => {
                let i = self.array_index(key)?;
                if self.spec.map_type.per_cpu() {
                    Ok(bytes.read(self.array_offset(i, 0), self.stride * self.ncpus))
                } else {
                    Ok(bytes.read(self.array_offset(i, 0), vs))
                }
            }
            Store::Hash { index, arena, .. } => {
                self.key_check(key)?;
                let idx = lock(index);
                let slot = self.find(&idx, key).ok_or(MapError::NotFound)?;
                Ok(arena.read(slot * self.slot_size(), self.host_value_size()))
            }
            _ => Err(MapError::NotSupported(self.spec.map_type.name())),
        }
    }

    /// `bpf_map_delete_elem` from a program.
    pub fn delete_from_program(&self, key: &[u8]) -> Result<(), MapError> {
        self.check_write(Writer::Program)?;
        self.remove(key)
    }

    /// `bpf_map_push_elem` from a program.
    pub fn push_from_program(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_write(Writer::Program)?;
        self.push_back(value, flags)
    }

    /// `bpf_map_pop_elem` (`remove`) or `bpf_map_peek_elem` from a program.
    pub fn pop_from_program(&self, remove: bool) -> Result<Vec<u8>, MapError> {
        if remove {
            self.check_write(Writer::Program)?;
        }
        self.take(remove)
    }

    /// Creates or updates `key` according to `flags` (BPF_ANY, BPF_NOEXIST,
    /// BPF_EXIST), as the host; EPERM once the map is frozen.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_write(Writer::Host)?;
        self.write(key, value, flags)
    }

    /// Creates or updates `key`, whoever asks.
    fn write(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        if flags > BPF_EXIST {
            return invalid(format!("flags {flags:#x}"));
        }
        let want = self.host_value_size();
        let per_cpu_partial =
            self.spec.map_type.per_cpu() && value.len() == self.spec.value_size as usize;
        if value.len() != want && !per_cpu_partial {
            return invalid(format!(
                "value is {} bytes, map `{}` takes {want}",
                value.len(),
                self.spec.name
            ));
        }
        match &self.store {
            Store::Array(bytes) => {
                let i = self.array_index(key).map_err(|e| {
                    if e == MapError::NotFound {
                        MapError::TooBig
                    } else {
                        e
                    }
                })?;
                if flags == BPF_NOEXIST {
                    return Err(MapError::Exists);
                }
                bytes.write(self.array_offset(i, 0), value);
                Ok(())
            }
            Store::Hash { index, arena, .. } => {
                let key = &*self.canonical(key)?;
                let tick = self.tick();
                let mut idx = lock(index);
                let existing = idx.hashed.get(key).copied();
                match (flags, existing) {
                    (BPF_NOEXIST, Some(_)) => return Err(MapError::Exists),
                    (BPF_EXIST, None) => return Err(MapError::NotFound),
                    _ => {}
                }
                let lru = self.is_lru();
                let free = if existing.is_none() {
                    idx.free.pop()
                } else {
                    None
                };
                let slot = match (existing, free) {
                    (Some(i), _) | (None, Some(i)) => i,
                    (None, None) if lru => {
                        // Evict the least recently used key and reuse its slot.
                        let (k, s) = idx
                            .keys
                            .iter()
                            .min_by_key(|(_, &s)| idx.last_used[s])
                            .map(|(k, &s)| (k.clone(), s))
                            .ok_or(MapError::TooBig)?;
                        idx.remove(&k);
                        s
                    }
                    (None, None) => return Err(MapError::TooBig),
                };
                let base = slot * self.slot_size();
                if value.len() < want {
                    // A program's update of a per-CPU hash sets one CPU's copy; the
                    // others start from zero.
                    arena.write(base, &vec![0; want]);
                }
                arena.write(base, value);
                idx.last_used[slot] = tick;
                if existing.is_none() {
                    idx.insert(key, slot);
                }
                Ok(())
            }
            _ => Err(MapError::NotSupported(self.spec.map_type.name())),
        }
    }

    /// Removes `key`, as the host; EPERM once the map is frozen.
    pub fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        self.check_write(Writer::Host)?;
        self.remove(key)
    }

    /// Removes `key`, whoever asks.
    fn remove(&self, key: &[u8]) -> Result<(), MapError> {
        match &self.store {
            Store::Array(_) => Err(MapError::Invalid("array elements cannot be deleted".into())),
            Store::Hash { index, .. } => {
                let key = &*self.canonical(key)?;
                let mut idx = lock(index);
                let slot = idx.remove(key).ok_or(MapError::NotFound)?;
                idx.free.push(slot);
                Ok(())
            }
            _ => Err(MapError::NotSupported(self.spec.map_type.name())),
        }
    }

    /// The key after `key` (the first key when `None`), as `BPF_MAP_GET_NEXT_KEY` does.
    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>, MapError> {
        match &self.store {
            Store::Array(_) => {
                let next = match key {
                    None => 0,
                    Some(k) => {
                        self.key_check(k)?;
                        let i = u32::from_le_bytes(k.try_into().expect("4-byte key"));
                        if i >= self.spec.max_entries {
                            0
                        } else {
                            i + 1
                        }
                    }
                };
                if next >= self.spec.max_entries {
                    return Err(MapError::NotFound);
                }
                Ok(next.to_le_bytes().to_vec())
            }
            Store::Hash { index, .. } => {
                let idx = lock(index);
                let map = &idx.keys;
                let next = match key {
                    // A key that is gone restarts from the beginning, as in the kernel.
                    Some(k) if map.contains_key(k) => map
                        .range::<[u8], _>((
                            std::ops::Bound::Excluded(k),
                            std::ops::Bound::Unbounded,
                        ))
                        .next(),
                    _ => map.iter().next(),
                };
                next.map(|(k, _)| k.to_vec()).ok_or(MapError::NotFound)
            }
            _ => Err(MapError::NotSupported(self.spec.map_type.name())),
        }
    }

    /// Every (key, value) pair, in iteration order.
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let mut key = None;
        while let Ok(k) = self.next_key(key.as_deref()) {
            if let Ok(v) = self.lookup(&k) {
                out.push((k.clone(), v));
            }
            key = Some(k);
        }
        out
    }

    /// Looks up several keys; stops at the first failure.
    pub fn lookup_batch(&self, keys: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, MapError> {
        keys.iter().map(|k| self.lookup(k)).collect()
    }

    /// Updates several pairs; returns how many succeeded before the first failure.
    pub fn update_batch(
        &self,
        pairs: &[(Vec<u8>, Vec<u8>)],
        flags: u64,
    ) -> (usize, Result<(), MapError>) {
        for (i, (k, v)) in pairs.iter().enumerate() {
            if let Err(e) = self.update(k, v, flags) {
                return (i, Err(e));
            }
        }
        (pairs.len(), Ok(()))
    }

    /// Deletes several keys; returns how many succeeded before the first failure.
    pub fn delete_batch(&self, keys: &[Vec<u8>]) -> (usize, Result<(), MapError>) {
        for (i, k) in keys.iter().enumerate() {
            if let Err(e) = self.delete(k) {
                return (i, Err(e));
            }
        }
        (keys.len(), Ok(()))
    }

    /// Pushes `value` as the host (BPF_EXIST replaces the oldest element when
    /// full); EPERM once the map is frozen.
    pub fn push(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_write(Writer::Host)?;
        self.push_back(value, flags)
    }

    /// Pushes `value`, whoever asks.
    fn push_back(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        let Store::Queue(q) = &self.store else {
            return Err(MapError::NotSupported(self.spec.map_type.name()));
        };
        if value.len() != self.spec.value_size as usize {
            return invalid(format!(
                "value is {} bytes, map `{}` takes {}",
                value.len(),
                self.spec.name,
                self.spec.value_size
            ));
        }
        let mut q = lock(q);
        if q.len() >= self.spec.max_entries as usize {
            if flags != BPF_EXIST {
                return Err(MapError::TooBig);
            }
            // Both queues and stacks drop their oldest element, as the kernel does.
            q.pop_front();
        }
        q.push_back(value.into());
        Ok(())
    }

    /// The queue's oldest or the stack's newest element, removed when `remove`
    /// (as the host: EPERM once the map is frozen), else only read.
    pub fn pop(&self, remove: bool) -> Result<Vec<u8>, MapError> {
        if remove {
            self.check_write(Writer::Host)?;
        }
        self.take(remove)
    }

    /// The front element, removed when `remove`, whoever asks.
    fn take(&self, remove: bool) -> Result<Vec<u8>, MapError> {
        let Store::Queue(q) = &self.store else {
            return Err(MapError::NotSupported(self.spec.map_type.name()));
        };
        let mut q = lock(q);
        let stack = self.spec.map_type == MapType::Stack;
        let v = match (stack, remove) {
            (true, true) => q.pop_back(),
            (true, false) => q.back().cloned(),
            (false, true) => q.pop_front(),
            (false, false) => q.front().cloned(),
        };
        v.map(|b| b.to_vec()).ok_or(MapError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: u32) -> Vec<u8> {
        i.to_le_bytes().to_vec()
    }

    fn v(i: u64) -> Vec<u8> {
        i.to_le_bytes().to_vec()
    }

    #[test]
    fn array_semantics() {
        let m = Map::new(MapSpec::new("a", MapType::Array, 4, 8, 4), 1).unwrap();
        assert_eq!(m.lookup(&k(2)).unwrap(), v(0), "arrays start zeroed");
        m.update(&k(2), &v(9), BPF_EXIST).unwrap();
        assert_eq!(m.lookup(&k(2)).unwrap(), v(9));
        assert_eq!(m.update(&k(2), &v(1), BPF_NOEXIST), Err(MapError::Exists));
        assert_eq!(m.update(&k(4), &v(1), BPF_ANY), Err(MapError::TooBig));
        assert_eq!(m.lookup(&k(4)), Err(MapError::NotFound));
        assert!(m.delete(&k(1)).is_err());
        let keys: Vec<_> = m.entries().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![k(0), k(1), k(2), k(3)]);
        assert!(matches!(
            m.update(&[1, 2], &v(1), 0),
            Err(MapError::Invalid(_))
        ));
    }

    #[test]
    fn hash_semantics() {
        let m = Map::new(MapSpec::new("h", MapType::Hash, 4, 8, 2), 1).unwrap();
        assert_eq!(m.update(&k(1), &v(1), BPF_EXIST), Err(MapError::NotFound));
        m.update(&k(1), &v(1), BPF_NOEXIST).unwrap();
        assert_eq!(m.update(&k(1), &v(2), BPF_NOEXIST), Err(MapError::Exists));
        m.update(&k(1), &v(2), BPF_EXIST).unwrap();
        m.update(&k(5), &v(5), BPF_ANY).unwrap();
        assert_eq!(m.update(&k(6), &v(6), BPF_ANY), Err(MapError::TooBig));
        assert_eq!(m.next_key(None).unwrap(), k(1));
        assert_eq!(m.next_key(Some(&k(1))).unwrap(), k(5));
        assert_eq!(m.next_key(Some(&k(5))), Err(MapError::NotFound));
        assert_eq!(
            m.next_key(Some(&k(99))).unwrap(),
            k(1),
            "a missing key restarts"
        );
        // A pointer handed to a program stays inside the map's storage after a delete.
        let held = m.lookup_ptr(&k(1), 0).unwrap();
        m.delete(&k(1)).unwrap();
        assert_eq!(m.delete(&k(1)), Err(MapError::NotFound));
        let (base, len) = m.storage().unwrap();
        assert!(held.ptr >= base && held.ptr as usize + held.len <= base as usize + len);
        assert_eq!(m.entries(), vec![(k(5), v(5))]);
        // The freed slot is reused.
        m.update(&k(7), &v(7), BPF_ANY).unwrap();
        assert_eq!(m.lookup_ptr(&k(7), 0).unwrap().ptr, held.ptr);
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let m = Map::new(MapSpec::new("l", MapType::LruHash, 4, 8, 2), 1).unwrap();
        m.update(&k(1), &v(1), BPF_ANY).unwrap();
        m.update(&k(2), &v(2), BPF_ANY).unwrap();
        m.lookup_ptr(&k(1), 0).unwrap(); // 1 is now more recent than 2
        m.update(&k(3), &v(3), BPF_ANY).unwrap();
        let keys: Vec<_> = m.entries().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![k(1), k(3)]);
    }

    #[test]
    fn per_cpu_values_are_separate() {
        let m = Map::new(MapSpec::new("p", MapType::PercpuArray, 4, 4, 2), 3).unwrap();
        m.update_from_program(&k(1), &7u32.to_le_bytes(), BPF_ANY, 2)
            .unwrap();
        let all = m.lookup(&k(1)).unwrap();
        assert_eq!(all.len(), 3 * 8);
        assert_eq!(&all[16..20], &7u32.to_le_bytes());
        assert_eq!(&all[0..4], &[0; 4]);
        let h = Map::new(MapSpec::new("ph", MapType::PercpuHash, 4, 4, 2), 2).unwrap();
        h.update_from_program(&k(9), &5u32.to_le_bytes(), BPF_ANY, 1)
            .unwrap();
        assert_eq!(
            h.lookup(&k(9)).unwrap(),
            [0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn lpm_trie_finds_the_longest_prefix() {
        let mut spec = MapSpec::new("lpm", MapType::LpmTrie, 8, 4, 16);
        assert!(
            Map::new(spec.clone(), 1).is_err(),
            "needs BPF_F_NO_PREALLOC"
        );
        spec.flags = 1;
        let m = Map::new(spec, 1).unwrap();
        let key = |plen: u32, ip: [u8; 4]| [plen.to_le_bytes().as_slice(), &ip].concat();
        m.update(&key(8, [10, 9, 9, 9]), &1u32.to_le_bytes(), BPF_ANY)
            .unwrap();
        m.update(&key(24, [10, 1, 2, 0]), &2u32.to_le_bytes(), BPF_ANY)
            .unwrap();
        m.update(&key(32, [10, 1, 2, 3]), &3u32.to_le_bytes(), BPF_ANY)
            .unwrap();
        let find = |ip| m.lookup(&key(32, ip)).map(|v| v[0]);
        assert_eq!(find([10, 1, 2, 3]), Ok(3));
        assert_eq!(find([10, 1, 2, 4]), Ok(2));
        assert_eq!(find([10, 200, 0, 1]), Ok(1));
        assert_eq!(find([11, 0, 0, 1]), Err(MapError::NotFound));
        // The stored key is the masked prefix; deleting it needs the same prefix.
        assert_eq!(m.next_key(None).unwrap(), key(8, [10, 0, 0, 0]));
        m.delete(&key(24, [10, 1, 2, 77])).unwrap();
        assert_eq!(find([10, 1, 2, 4]), Ok(1));
        assert!(matches!(
            m.update(&key(33, [0; 4]), &[0; 4], BPF_ANY),
            Err(MapError::Invalid(_))
        ));
    }

    #[test]
    fn queue_and_stack_order() {
        let q = Map::new(MapSpec::new("q", MapType::Queue, 0, 4, 2), 1).unwrap();
        let s = Map::new(MapSpec::new("s", MapType::Stack, 0, 4, 2), 1).unwrap();
        for m in [&q, &s] {
            m.push(&1u32.to_le_bytes(), BPF_ANY).unwrap();
            m.push(&2u32.to_le_bytes(), BPF_ANY).unwrap();
            assert_eq!(m.push(&3u32.to_le_bytes(), BPF_ANY), Err(MapError::TooBig));
        }
        assert_eq!(q.pop(false).unwrap(), 1u32.to_le_bytes());
        assert_eq!(q.pop(true).unwrap(), 1u32.to_le_bytes());
        assert_eq!(s.pop(true).unwrap(), 2u32.to_le_bytes());
        q.push(&3u32.to_le_bytes(), BPF_EXIST).unwrap();
        q.push(&4u32.to_le_bytes(), BPF_EXIST).unwrap();
        assert_eq!(
            q.pop(true).unwrap(),
            3u32.to_le_bytes(),
            "BPF_EXIST dropped the oldest"
        );
        assert_eq!(s.pop(true).unwrap(), 1u32.to_le_bytes());
        assert_eq!(s.pop(true), Err(MapError::NotFound));
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        use std::sync::Arc;
        let m = Arc::new(Map::new(MapSpec::new("c", MapType::Hash, 4, 8, 10_000), 1).unwrap());
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for i in 0..1000u32 {
                        m.update(&(t * 1000 + i).to_le_bytes(), &v(i as u64), BPF_NOEXIST)
                            .unwrap();
                    }
                })
            })
            .collect();
        let reader = {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    let _ = m.entries();
                }
            })
        };
        for t in threads {
            t.join().unwrap();
        }
        reader.join().unwrap();
        assert_eq!(m.entries().len(), 4000);
    }

    #[test]
    fn frozen_maps_refuse_the_host_and_rdonly_prog_maps_refuse_programs() {
        let m = Map::new(MapSpec::new("h", MapType::Hash, 4, 8, 4), 1).unwrap();
        m.update(&k(1), &v(1), BPF_ANY).unwrap();
        m.freeze();
        assert!(m.is_frozen());
        // The host: EPERM for every change, reads still work.
        for e in [
            m.update(&k(1), &v(2), BPF_ANY).unwrap_err(),
            m.delete(&k(1)).unwrap_err(),
        ] {
            assert_eq!(e.errno(), 1, "{e}");
        }
        assert_eq!(m.lookup(&k(1)).unwrap(), v(1));
        // Programs may still write a frozen map that is not BPF_F_RDONLY_PROG.
        m.update_from_program(&k(1), &v(3), BPF_ANY, 0).unwrap();
        m.delete_from_program(&k(1)).unwrap();

        let mut spec = MapSpec::new("q", MapType::Queue, 0, 8, 4);
        spec.flags = BPF_F_RDONLY_PROG;
        let q = Map::new(spec, 1).unwrap();
        q.push(&v(9), 0).unwrap();
        assert_eq!(q.push_from_program(&v(1), 0).unwrap_err().errno(), 1);
        assert_eq!(q.pop_from_program(true).unwrap_err().errno(), 1);
        // Peeking reads only.
        assert_eq!(q.pop_from_program(false).unwrap(), v(9));
        assert_eq!(q.pop(true).unwrap(), v(9));

        let mut spec = MapSpec::new("a", MapType::Array, 4, 8, 1);
        spec.flags = BPF_F_RDONLY_PROG;
        let a = Map::new(spec, 1).unwrap();
        assert_eq!(
            a.update_from_program(&k(0), &v(5), BPF_ANY, 0)
                .unwrap_err()
                .errno(),
            1
        );
        a.update(&k(0), &v(5), BPF_ANY).unwrap();
        let mut spec = MapSpec::new("r", MapType::Array, 4, 8, 1);
        spec.flags = BPF_F_RDONLY;
        let r = Map::new(spec, 1).unwrap();
        assert_eq!(r.update(&k(0), &v(5), BPF_ANY).unwrap_err().errno(), 1);
        r.update_from_program(&k(0), &v(5), BPF_ANY, 0).unwrap();
    }
}
