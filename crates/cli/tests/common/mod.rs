//! What the CLI tests share: starting the `oxbpf` binary of this build.

use std::process::Command;

/// A command that runs the `oxbpf` binary of this build. Under qemu-user (an
/// aarch64 build tested on an x86-64 host, see `.cargo/config.toml`) a child
/// process cannot exec that binary directly: the runner then names itself in
/// `OXBPF_TEST_RUNNER`, and the binary runs through it too.
pub fn oxbpf_command() -> Command {
    runner_command(env!("CARGO_BIN_EXE_oxbpf"))
}

/// A command that runs `exe` (a binary of this build) through
/// `OXBPF_TEST_RUNNER` when that is set.
pub fn runner_command(exe: &str) -> Command {
    let runner = std::env::var("OXBPF_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(first) => {
            let mut c = Command::new(first);
            c.args(words).arg(exe);
            c
        }
        None => Command::new(exe),
    }
}
