//! An x86-64 JIT compiler for eBPF.
