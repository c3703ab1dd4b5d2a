#!/usr/bin/env python3
"""Writes src/helper_table.rs from helpers.tsv: every helper of the kernel's
UAPI (ids 1-211) with its argument and return types as the verifier models
them, the program types whose get_func_proto offers it, the capability the
kernel's base prototypes ask for, and its flags.

helpers.tsv records the kernel's prototypes (Linux 6.18) as the kernel spells
them; this script maps each kernel type to the verifier's `Arg`/`Ret`. Run it
after editing the TSV:  python3 crates/verifier/data/gen_helpers.py
"""
import csv
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "helper_table.rs")

# Kernel program type names, in the order of their ids (ProgramType::kernel_id).
TYPES = [
    "Unspec", "SocketFilter", "Kprobe", "SchedCls", "SchedAct", "Tracepoint", "Xdp",
    "PerfEvent", "CgroupSkb", "CgroupSock", "LwtIn", "LwtOut", "LwtXmit", "SockOps",
    "SkSkb", "CgroupDevice", "SkMsg", "RawTracepoint", "CgroupSockAddr", "LwtSeg6local",
    "LircMode2", "SkReuseport", "FlowDissector", "CgroupSysctl", "RawTracepointWritable",
    "CgroupSockopt", "Tracing", "StructOps", "Ext", "Lsm", "SkLookup", "Syscall", "Netfilter",
]

# Helpers that acquire a reference the program must release.
ACQUIRE = {84, 85, 99, 131}
# Callbacks whose arguments the verifier models.
CALLBACK = {164: 1, 181: 1}


def arg(kind: str, hid: int, k: int) -> str:
    """The verifier's `Arg` for kernel argument type `kind` (argument k of helper hid)."""
    size = None
    m = re.match(r"^(.*?)\((.*)\)$", kind)
    if m:
        kind, size = m.group(1), m.group(2)
    flags = set(kind.split("|"))
    base = kind.split("|")[0]
    if kind == "-":
        return "Unused"
    if base == "ARG_ANYTHING":
        return "Anything"
    if base == "ARG_PTR_TO_CTX":
        return "Ctx"
    if base == "ARG_PTR_TO_CTX_OR_NULL":
        return "CtxOrNull"
    if base == "ARG_CONST_SIZE":
        return "Size"
    if base == "ARG_CONST_SIZE_OR_ZERO":
        return "SizeOrZero"
    if base == "ARG_CONST_ALLOC_SIZE_OR_ZERO":
        return "ConstSize"
    if base == "ARG_CONST_MAP_PTR":
        return "Map"
    if base == "ARG_PTR_TO_MAP_KEY":
        return "MapKey"
    if base == "ARG_PTR_TO_MAP_VALUE":
        return "MapValueOut" if "MEM_UNINIT" in flags else "MapValue"
    if base == "ARG_PTR_TO_MAP_VALUE_OR_NULL":
        return "MapValueOrNull"
    if base == "ARG_PTR_TO_UNINIT_MEM":
        return "MemOut"
    if base == "ARG_PTR_TO_MEM":
        null = "PTR_MAYBE_NULL" in flags
        if "MEM_WRITE" in flags:
            return "MemOutOrNull" if null else "MemInOut"
        return "MemOrNull" if null else "Mem"
    if base == "ARG_PTR_TO_MEM_OR_NULL":
        return "MemOutOrNull" if "MEM_WRITE" in flags else "MemOrNull"
    if base == "ARG_PTR_TO_FIXED_SIZE_MEM":
        write = "true" if "MEM_WRITE" in flags else "false"
        return f"Fixed {{ size: {int(size)}, write: {write} }}"
    if base == "ARG_PTR_TO_FUNC":
        return "Func" if hid in CALLBACK else 'Unmodelled("a callback of this helper")'
    if base == "ARG_PTR_TO_STACK_OR_NULL":
        return "StackOrNull"
    if base == "ARG_PTR_TO_CONST_STR":
        return "ConstStr"
    if base == "ARG_PTR_TO_RINGBUF_MEM":
        return "RingbufRecord"
    if base in ("ARG_PTR_TO_SOCK_COMMON", "ARG_PTR_TO_BTF_ID_SOCK_COMMON"):
        return "SockRelease" if "OBJ_RELEASE" in flags else "Sock"
    if base in ("ARG_PTR_TO_BTF_ID", "ARG_PTR_TO_BTF_ID_OR_NULL", "ARG_PTR_TO_PERCPU_BTF_ID"):
        if "OBJ_RELEASE" in flags:
            return 'Unmodelled("a kptr")'
        return "KernelPtr"
    if base == "ARG_PTR_TO_TIMER":
        return 'Unmodelled("a bpf_timer")'
    if base == "ARG_PTR_TO_SPIN_LOCK":
        return 'Unmodelled("a bpf_spin_lock")'
    if base == "ARG_PTR_TO_DYNPTR":
        return 'Unmodelled("a dynptr")'
    if base == "ARG_KPTR_XCHG_DEST":
        return 'Unmodelled("a kptr field")'
    sys.exit(f"helper {hid} argument {k}: no mapping for {kind}")


def ret(kind: str, hid: int) -> str:
    base = kind.split("|")[0].split("(")[0]
    if base == "RET_INTEGER":
        return "Ret::Integer"
    if base == "RET_VOID":
        return "Ret::Void"
    if base == "RET_PTR_TO_MAP_VALUE_OR_NULL":
        return "Ret::MapValueOrNull"
    if base == "RET_PTR_TO_MAP_VALUE":
        return "Ret::MapValue"
    if base == "RET_PTR_TO_RINGBUF_MEM_OR_NULL":
        return "Ret::RingbufOrNull"
    if base in ("RET_PTR_TO_SOCKET_OR_NULL", "RET_PTR_TO_SOCK_COMMON_OR_NULL", "RET_PTR_TO_TCP_SOCK_OR_NULL"):
        return "Ret::SockOrNull"
    if base.startswith("RET_PTR_TO_BTF_ID") or base in ("RET_PTR_TO_MEM_OR_BTF_ID", "RET_PTR_TO_DYNPTR_MEM_OR_NULL"):
        # Kernel-typed pointers are numbers to this verifier (see `Ret::KernelPtr`).
        return "Ret::KernelPtr"
    sys.exit(f"helper {hid}: no mapping for return type {kind}")


def types(field: str) -> str:
    if field == "ALL":
        names = [t for t in TYPES if t not in ("Unspec", "LircMode2", "Ext")]
    else:
        names = [t.strip() for t in field.split(",") if t.strip()]
    mask = 0
    for n in names:
        if n not in TYPES:
            sys.exit(f"unknown program type {n}")
        mask |= 1 << TYPES.index(n)
    return f"{mask:#x}"


def main() -> None:
    rows = list(csv.DictReader(open(os.path.join(HERE, "helpers.tsv")), delimiter="\t"))
    out = [
        "//! Generated by data/gen_helpers.py from data/helpers.tsv: do not edit.",
        "//! Every helper of the kernel's UAPI, as the verifier models it.",
        "",
        "use crate::helpers::Arg::*;",
        "use crate::helpers::{Cap, Proto, Ret};",
        "",
        "/// Every kernel helper, in id order from 1.",
        "#[rustfmt::skip]",
        "pub(crate) const TABLE: &[Proto] = &[",
    ]
    for i, r in enumerate(rows, start=1):
        hid = int(r["id"])
        if hid != i:
            sys.exit(f"row {i} has id {hid}")
        args = ", ".join(arg(r[f"arg{k}"], hid, k) for k in range(1, 6))
        cap = {"none": "Cap::None", "bpf": "Cap::Bpf", "perfmon": "Cap::Perfmon", "-": "Cap::ProgramType"}[r["cap"]]
        cb = CALLBACK.get(hid)
        out.append(
            f"    Proto {{ id: {hid}, name: \"{r['name']}\", args: [{args}], ret: {ret(r['ret'], hid)}, "
            f"types: {types(r['prog_types'])}, cap: {cap}, "
            f"changes_packet: {'true' if r['changes_pkt_data'] == '1' else 'false'}, "
            f"gpl_only: {'true' if r['gpl_only'] == '1' else 'false'}, "
            f"acquires: {'true' if hid in ACQUIRE else 'false'}, "
            f"callback: {f'Some({cb})' if cb is not None else 'None'} }},"
        )
    out.append("];")
    open(OUT, "w").write("\n".join(out) + "\n")


main()
