//! Ctrl-C and SIGTERM as a flag, so that long-running commands (staying
//! attached, polling buffers) stop cleanly and detach by dropping their links.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::KernelError;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs handlers for SIGINT and SIGTERM that set the flag. Without
/// `SA_RESTART`, a blocking wait (epoll) returns early when one arrives.
pub fn install() -> Result<(), KernelError> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a handler that only stores to an
        // atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(KernelError::os(
                    "sigaction",
                    std::io::Error::last_os_error(),
                    "nothing",
                ));
            }
        }
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM arrived since [`install`].
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_signal_sets_the_flag() {
        super::install().unwrap();
        assert!(!super::requested());
        // SAFETY: raising a signal whose handler was just installed.
        unsafe { libc::raise(libc::SIGTERM) };
        assert!(super::requested());
    }
}
