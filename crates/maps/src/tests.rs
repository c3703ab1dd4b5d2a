//! The map types' semantics, checked against the kernel's.

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
