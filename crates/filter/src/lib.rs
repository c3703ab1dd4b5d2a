//! The tcpdump/libpcap filter language, compiled to classic BPF.
