//! `oxbpf kernel ...`: the running kernel through bpf(2), in bpftool's spirit.

use std::path::PathBuf;

use clap::Subcommand;

use crate::error::CliError;
use crate::input::{parse_hex, read_file};
use crate::object_cmd;

/// Subcommands of `oxbpf kernel`.
#[derive(Subcommand)]
pub enum KernelCommand {
    /// Load an object's maps and programs into the kernel, optionally pinning
    /// them in a bpffs directory (programs at DIR/NAME, maps at DIR/maps/NAME).
    Load {
        /// The object file.
        file: PathBuf,
        /// A bpffs directory to pin into; without it everything unloads on exit.
        #[arg(long)]
        pin: Option<PathBuf>,
    },
    /// Programs loaded in the kernel.
    Prog {
        #[command(subcommand)]
        command: ProgCommand,
    },
    /// Load an object's maps and one program into the kernel and test-run it
    /// (BPF_PROG_TEST_RUN); prints the return value, the packet and the maps.
    Run {
        /// The object file.
        file: PathBuf,
        /// The program to run.
        #[arg(long)]
        prog: String,
        /// Input data (a packet for XDP and skb programs) from a file.
        #[arg(long)]
        data_in: Option<PathBuf>,
        /// Input data as hex text.
        #[arg(long, conflicts_with = "data_in")]
        data_hex: Option<String>,
        /// Context bytes (`ctx_in`).
        #[arg(long)]
        ctx_in: Option<PathBuf>,
        /// Run this many times (maps keep their contents).
        #[arg(long, default_value_t = 1)]
        repeat: u64,
    },
}

/// Subcommands of `oxbpf kernel prog`.
#[derive(Subcommand)]
pub enum ProgCommand {
    /// List every loaded program: id, type, name, tag, instructions.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `oxbpf kernel` command; returns what to print.
pub fn run(command: KernelCommand) -> Result<String, CliError> {
    match command {
        KernelCommand::Load { file, pin } => {
            let (obj, _) = object_cmd::load(&file, None)?;
            object_cmd::kernel_load(&obj, pin.as_deref())
        }
        KernelCommand::Prog {
            command: ProgCommand::List { json },
        } => object_cmd::kernel_prog_list(json),
        KernelCommand::Run {
            file,
            prog,
            data_in,
            data_hex,
            ctx_in,
            repeat,
        } => {
            let data = match (data_in, data_hex) {
                (Some(p), _) => read_file(&p)?,
                (None, Some(h)) => {
                    parse_hex(&h).map_err(|e| CliError::Input(format!("--data-hex: {e}")))?
                }
                (None, None) => Vec::new(),
            };
            let ctx = ctx_in.map(|p| read_file(&p)).transpose()?;
            let (obj, _) = object_cmd::load(&file, None)?;
            object_cmd::kernel_run(&obj, &prog, &data, ctx.as_deref(), repeat)
        }
    }
}
