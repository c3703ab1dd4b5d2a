//! Map definitions: BTF-defined (`.maps`), legacy (`maps`) and global data.

use crate::btf::{Btf, BtfType, TypeId};
use crate::error::ObjectError;

/// Where a map's definition came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapOrigin {
    /// A variable in the BTF-described `.maps` section.
    Btf,
    /// A `struct bpf_map_def` in the legacy `maps` section.
    Legacy,
    /// An internal array map holding a global-data section (`.data`, `.rodata`,
    /// `.bss`, `.data.*`, `.rodata.*`) or the `.kconfig` externs.
    GlobalData { section: String, read_only: bool },
}

/// A map definition, as the object declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    pub name: String,
    pub origin: MapOrigin,
    /// The kernel's map type id (`enum bpf_map_type`).
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    /// 0: none, 1: by name (`LIBBPF_PIN_BY_NAME`).
    pub pinning: u32,
    pub numa_node: u32,
    pub key_type: Option<TypeId>,
    pub value_type: Option<TypeId>,
    /// The inner map's template, for map-in-map types.
    pub inner: Option<Box<MapDef>>,
    /// Initial slots of a map-in-map or prog array: (index, name of the map or program).
    pub initial_slots: Vec<(u32, String)>,
    /// Initial contents of a global-data map.
    pub data: Vec<u8>,
}

impl MapDef {
    fn empty(name: &str, origin: MapOrigin) -> MapDef {
        MapDef {
            name: name.to_string(),
            origin,
            map_type: 0,
            key_size: 0,
            value_size: 0,
            max_entries: 0,
            map_flags: 0,
            pinning: 0,
            numa_node: 0,
            key_type: None,
            value_type: None,
            inner: None,
            initial_slots: Vec::new(),
            data: Vec::new(),
        }
    }

    /// A global-data map with one entry holding `data`.
    pub fn global(
        name: &str,
        section: &str,
        data: Vec<u8>,
        read_only: bool,
        value_type: Option<TypeId>,
    ) -> MapDef {
        MapDef {
            map_type: 2, // BPF_MAP_TYPE_ARRAY
            key_size: 4,
            value_size: data.len() as u32,
            max_entries: 1,
            // BPF_F_RDONLY_PROG for .rodata, as libbpf sets it.
            map_flags: if read_only { 0x80 } else { 0 },
            value_type,
            data,
            ..MapDef::empty(
                name,
                MapOrigin::GlobalData {
                    section: section.to_string(),
                    read_only,
                },
            )
        }
    }
}

/// Names of the kernel's map types, by id.
pub fn map_type_name(id: u32) -> &'static str {
    const NAMES: [&str; 34] = [
        "unspec",
        "hash",
        "array",
        "prog_array",
        "perf_event_array",
        "percpu_hash",
        "percpu_array",
        "stack_trace",
        "cgroup_array",
        "lru_hash",
        "lru_percpu_hash",
        "lpm_trie",
        "array_of_maps",
        "hash_of_maps",
        "devmap",
        "sockmap",
        "cpumap",
        "xskmap",
        "sockhash",
        "cgroup_storage",
        "reuseport_sockarray",
        "percpu_cgroup_storage",
        "queue",
        "stack",
        "sk_storage",
        "devmap_hash",
        "struct_ops",
        "ringbuf",
        "inode_storage",
        "task_storage",
        "bloom_filter",
        "user_ringbuf",
        "cgrp_storage",
        "arena",
    ];
    NAMES.get(id as usize).copied().unwrap_or("unknown")
}

/// Reads the `int (*name)[N]` encoding of a numeric map attribute.
fn encoded_number(btf: &Btf, type_id: TypeId) -> Option<u32> {
    match btf.get(type_id)? {
        BtfType::Ptr { type_id } => match btf.get(*type_id)? {
            BtfType::Array { nelems, .. } => Some(*nelems),
            _ => None,
        },
        _ => None,
    }
}

/// Parses the BTF struct describing one map (`struct { __uint(type, ...); ... }`).
pub(crate) fn btf_map_def(
    btf: &Btf,
    name: &str,
    struct_id: TypeId,
    origin: MapOrigin,
) -> Result<MapDef, ObjectError> {
    let bad = |m: String| ObjectError::Map {
        map: name.to_string(),
        message: m,
    };
    let sid = btf.skip_mods(struct_id);
    let members = btf.get(sid).and_then(|t| t.members()).ok_or_else(|| {
        bad(format!(
            "definition is {}, not a struct",
            btf.type_name(sid)
        ))
    })?;
    let mut def = MapDef::empty(name, origin);
    for m in members {
        let number = || {
            encoded_number(btf, m.type_id)
                .ok_or_else(|| bad(format!("`{}` is not an __uint() attribute", m.name)))
        };
        match m.name.as_str() {
            "type" => def.map_type = number()?,
            "max_entries" => def.max_entries = number()?,
            "map_flags" => def.map_flags = number()?,
            "numa_node" => def.numa_node = number()?,
            "key_size" => def.key_size = number()?,
            "value_size" => def.value_size = number()?,
            "pinning" => def.pinning = number()?,
            "map_extra" => {}
            "key" | "value" => {
                let Some(BtfType::Ptr { type_id }) = btf.get(m.type_id) else {
                    return Err(bad(format!("`{}` is not a __type() attribute", m.name)));
                };
                let size = btf.size_of(*type_id).ok_or_else(|| {
                    bad(format!(
                        "{} type {} has no size",
                        m.name,
                        btf.type_name(*type_id)
                    ))
                })?;
                if m.name == "key" {
                    def.key_type = Some(*type_id);
                    def.key_size = size as u32;
                } else {
                    def.value_type = Some(*type_id);
                    def.value_size = size as u32;
                }
            }
            "values" => {
                // __array(values, struct inner): an array of pointers to the inner definition.
                let Some(BtfType::Array { elem, .. }) = btf.get(btf.skip_mods(m.type_id)) else {
                    return Err(bad("`values` is not an __array() attribute".into()));
                };
                let Some(BtfType::Ptr { type_id: inner_id }) = btf.get(btf.skip_mods(*elem)) else {
                    return Err(bad("`values` elements are not pointers".into()));
                };
                let inner_struct = btf.skip_mods(*inner_id);
                if matches!(btf.get(inner_struct), Some(BtfType::FuncProto { .. })) {
                    // A prog array's `values` lists programs; it has no inner map.
                    def.value_size = 4;
                    continue;
                }
                let inner = btf_map_def(
                    btf,
                    &format!("{name}.inner"),
                    inner_struct,
                    def.origin.clone(),
                )?;
                def.inner = Some(Box::new(inner));
                def.value_size = 4;
            }
            other => return Err(bad(format!("unknown attribute `{other}`"))),
        }
    }
    if def.inner.is_some() || def.map_type == 3 {
        // Map-in-map and prog arrays are indexed by u32 and hold ids.
        if def.key_size == 0 {
            def.key_size = 4;
        }
    }
    Ok(def)
}

/// Parses a legacy `struct bpf_map_def` (five or more u32 fields).
pub(crate) fn legacy_map_def(name: &str, bytes: &[u8]) -> Result<MapDef, ObjectError> {
    if bytes.len() < 20 {
        return Err(ObjectError::Map {
            map: name.to_string(),
            message: format!(
                "legacy definition is {} bytes; struct bpf_map_def needs at least 20",
                bytes.len()
            ),
        });
    }
    let word =
        |i: usize| u32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().expect("four bytes"));
    Ok(MapDef {
        map_type: word(0),
        key_size: word(1),
        value_size: word(2),
        max_entries: word(3),
        map_flags: word(4),
        ..MapDef::empty(name, MapOrigin::Legacy)
    })
}

/// Map-in-map templates of legacy definitions, which older loaders gave in
/// extra fields instead of BTF: samples/bpf's seven-word `bpf_map_def`
/// (word 5: the index of the inner map's definition in `maps`) and
/// iproute2's nine-word `bpf_elf_map` (word 5: the map's id; words 7 and 8 on
/// an inner map: the id of its outer map and its slot there).
pub(crate) fn link_legacy_inner_maps(maps: &mut [MapDef], words: &[Vec<u32>]) {
    const ARRAY_OF_MAPS: u32 = 12;
    const HASH_OF_MAPS: u32 = 13;
    let outer = |t: u32| matches!(t, ARRAY_OF_MAPS | HASH_OF_MAPS);
    for k in 0..maps.len() {
        let w = &words[k];
        match w.len() {
            7 if outer(maps[k].map_type) => {
                let i = w[5] as usize;
                if i != k && i < maps.len() && maps[k].inner.is_none() {
                    maps[k].inner = Some(Box::new(maps[i].clone()));
                }
            }
            9 if w[7] != 0 => {
                // An inner map: its outer map has id w[7]; it sits at slot w[8].
                let Some(o) = (0..maps.len()).find(|&o| {
                    o != k && words[o].len() == 9 && words[o][5] == w[7] && outer(maps[o].map_type)
                }) else {
                    continue;
                };
                let inner = maps[k].clone();
                let name = inner.name.clone();
                if maps[o].inner.is_none() {
                    maps[o].inner = Some(Box::new(inner));
                }
                maps[o].initial_slots.push((w[8], name));
            }
            _ => {}
        }
    }
}
