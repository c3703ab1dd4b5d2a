//! BPF-to-BPF calls, callbacks and `exit`: frames, return values and ranges.

use super::*;

impl Checker<'_> {
    /// Checks that one more frame fits (`what` is a call or a callback) and
    /// records the call edge for the combined stack-depth check.
    pub(super) fn enter_frame(
        &mut self,
        st: &State,
        target: usize,
        what: &str,
        hint: &str,
    ) -> Res<()> {
        if st.frames.len() >= MAX_FRAMES {
            return fail(
                Reason::CallDepth,
                format!(
                    "the {what} would nest {} frames; at most {MAX_FRAMES} are allowed",
                    st.frames.len() + 1
                ),
                hint,
            );
        }
        let caller = self.cfg.subprog_of(st.cur().func);
        let callee = self.cfg.subprog_of(target);
        if !self.calls.contains(&(caller, callee)) {
            self.calls.push((caller, callee));
        }
        Ok(())
    }

    pub(super) fn local_call(&mut self, path: &mut Path, target: usize, ret: usize) -> Res<()> {
        let st = &mut path.state;
        self.enter_frame(
            st,
            target,
            "call",
            "reduce recursion-like call chains or inline functions",
        )?;
        let mut f = Frame::new(st.frames.len() as u8, target, Some(ret));
        for r in 1..=5 {
            f.regs[r] = st.cur().regs[r];
        }
        st.frames.push(f);
        self.goto(path, target);
        Ok(())
    }

    pub(super) fn exit(&mut self, path: &mut Path) -> Res<bool> {
        let r0 = self.read(&path.state, R::R0).map_err(|_| {
            Box::new(Fail {
                reason: Reason::UninitRegister,
                message: "R0 is not set before exit".into(),
                hint: "set the return value (r0 = ...) on every path to exit".into(),
            })
        })?;
        let depth = path.state.frames.len();
        // A checked return value (a callback's, or a program type's range) is precise.
        let checked = if depth > 1 {
            path.state.cur().callback.is_some()
        } else {
            self.ret_range.is_some()
        };
        if checked && r0.kind == Kind::Scalar {
            self.precise(path, Marks::reg(depth - 1, 0));
        }
        if depth > 1 {
            let frame = path.state.frames.pop().expect("depth > 1");
            if let Kind::Stack { frame: f } = r0.kind {
                if f as usize >= depth - 1 {
                    return fail(
                        Reason::InvalidMemAccess,
                        "the function returns a pointer to its own stack, which ends with the call",
                        "return numbers or pointers to the caller's memory",
                    );
                }
            }
            let live = path.state.frames.len() as u8;
            path.state.for_each_reg(|r| {
                if matches!(r.kind, Kind::Stack { frame } if frame >= live) {
                    *r = Reg::unknown();
                }
            });
            if let Some(&(call_pc, args)) = frame.callback.as_deref() {
                if r0.kind != Kind::Scalar || r0.val.umax > 1 || r0.val.smin < 0 {
                    path.state.frames.push(frame);
                    return fail(
                        Reason::ReturnValue,
                        format!(
                            "the callback returns {r0}, but must return 0 (continue) or 1 (stop)"
                        ),
                        "return 0 or 1 from bpf_loop and bpf_for_each_map_elem callbacks",
                    );
                }
                // After one more iteration the helper may return or run the callback again.
                let mut after = path.state.clone();
                after.cur_mut().regs[0] = Reg::unknown();
                for r in 1..=5 {
                    after.cur_mut().regs[r] = Reg::UNINIT;
                }
                self.fork(path, after, call_pc + 1, Note::Callback);
                return self.enter_callback(path, call_pc, frame.func, args);
            }
            let ret = frame.return_to.expect("callee frames return");
            let live = path.state.frames.len() as u8;
            path.state.for_each_reg(|r| {
                if matches!(r.kind, Kind::Stack { frame } if frame >= live) {
                    *r = Reg::unknown();
                }
            });
            let cur = path.state.cur_mut();
            cur.regs[0] = r0;
            for r in 1..=5 {
                cur.regs[r] = Reg::UNINIT;
            }
            self.goto(path, ret);
            return Ok(true);
        }
        if let Some(&(_, at)) = path.state.refs.first() {
            return fail(
                Reason::ReferenceLeak,
                format!("{} is not released on this path", self.reference_at(at)),
                "submit or discard ring buffer records, and bpf_sk_release sockets, before every exit",
            );
        }
        if r0.kind != Kind::Scalar {
            if !self.opts.privileged {
                return fail(
                    Reason::PointerLeak,
                    format!(
                        "R0 holds a pointer ({}) at exit, which leaks a kernel address",
                        r0.kind.name()
                    ),
                    "return a number",
                );
            }
            if self.ret_range.is_some() {
                return fail(
                    Reason::ReturnValue,
                    format!(
                        "R0 holds a pointer ({}) at exit, but {} programs return a number",
                        r0.kind.name(),
                        self.prog_type.name()
                    ),
                    "return a number",
                );
            }
        }
        if let Some((lo, hi)) = self.ret_range {
            if r0.kind == Kind::Scalar && (r0.val.smin < lo || r0.val.smax > hi) {
                return fail(
                    Reason::ReturnValue,
                    format!(
                        "R0 is {} at exit, but {} programs must return a value in [{lo}, {hi}]",
                        r0.val,
                        self.prog_type.name()
                    ),
                    format!("return a constant in [{lo}, {hi}] on every path"),
                );
            }
        }
        Ok(false)
    }

    pub(super) fn enter_callback(
        &mut self,
        path: &mut Path,
        call_pc: usize,
        func: usize,
        args: [Reg; 5],
    ) -> Res<bool> {
        let st = &mut path.state;
        self.enter_frame(
            st,
            func,
            "callback",
            "call bpf_loop from a shallower function",
        )?;
        let mut f = Frame::new(st.frames.len() as u8, func, Some(call_pc + 1));
        f.regs[1..6].copy_from_slice(&args);
        f.callback = Some(Box::new((call_pc, args)));
        st.frames.push(f);
        self.goto_noted(path, func, Note::Callback);
        // The callback may run any number of times: widen the numbers that changed
        // since the last entry (so the states converge), then prune against every
        // state seen here.
        let pt = self.point(func);
        if let Some(last) = self.points[pt].last {
            widen(
                &self.stored[last].state.unpack(&self.cells),
                &mut path.state,
            );
        }
        if self.visit(path, true)? {
            self.stats.states_pruned += 1;
            return Ok(false);
        }
        Ok(true)
    }
}

/// The allowed return values of a program type attached as its section
/// names (the kernel's check_return_code), if checked.
pub fn return_range(t: ProgramType, section: &str) -> Option<(i64, i64)> {
    use ProgramType as P;
    // The attach type: the section name's first component after the type.
    let attach = section.split_once('/').map_or("", |(_, a)| a);
    let kind = section.split('/').next().unwrap_or("");
    match t {
        // Egress may also ask for congestion notification (2 and 3).
        P::CgroupSkb if kind == "cgroup_skb" && attach == "egress" => Some((0, 3)),
        P::CgroupSockAddr => match attach {
            // These hooks may only let the call go on.
            "recvmsg4" | "recvmsg6" | "recvmsg_unix" | "getpeername4" | "getpeername6"
            | "getpeername_unix" | "getsockname4" | "getsockname6" | "getsockname_unix" => {
                Some((1, 1))
            }
            // Bind may also skip the port check (bit 1).
            "bind4" | "bind6" => Some((0, 3)),
            _ => Some((0, 1)),
        },
        P::CgroupSkb
        | P::CgroupSock
        | P::SockOps
        | P::CgroupDevice
        | P::CgroupSysctl
        | P::CgroupSockopt
        | P::SkLookup
        | P::Netfilter => Some((0, 1)),
        P::Tracing => match kind {
            "fentry" | "fexit" | "fentry.s" | "fexit.s" => Some((0, 0)),
            "iter" | "iter.s" => Some((0, 1)),
            _ => None,
        },
        _ => None,
    }
}
