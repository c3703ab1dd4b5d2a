//! A static verifier for eBPF programs.
