//! Arbitrary text as a bpftrace script: parsing, checking and compiling never
//! panic, errors render, and every script that compiles passes oxbpf's
//! verifier (a `Rejected` error is a compiler bug).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_trace::{compile, Options, StaticTracefs, TraceError};

const OPENAT: &str = "name: sys_enter_openat\nID: 1\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;\n\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n\tfield:char comm[16];\toffset:32;\tsize:16;\tsigned:0;\n\tfield:__data_loc char[] name;\toffset:48;\tsize:4;\tsigned:0;\n";

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let fs = StaticTracefs(vec![(
        "syscalls".into(),
        "sys_enter_openat".into(),
        OPENAT.into(),
    )]);
    let opts = Options {
        params: vec!["7".into(), "word".into()],
        cpid: Some(42),
    };
    match compile(src, &opts, &fs) {
        Err(e @ TraceError::Rejected { .. }) => panic!("{}", e.render(src, "fuzz.bt")),
        Err(e) => {
            let _ = e.render(src, "fuzz.bt");
        }
        Ok(_) => {}
    }
});
