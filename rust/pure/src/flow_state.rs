// SPDX-License-Identifier: GPL-2.0

//! The state of a flow (`enum nf_flow_flags` of 6.12) and what the GC does with it.
//!
//! A flow's software state is a set of flags; its hardware state is one of the [`HwState`]s of
//! a small state machine, kept in the same word so that both change atomically. The kernel
//! module stores the word in an atomic and applies the transitions defined here with
//! compare-and-swap loops; the decisions are plain functions, tested on the host.

/// `NF_FLOW_SNAT`: the flow rewrites source addresses or ports.
pub const SNAT: u32 = 1 << 0;
/// `NF_FLOW_DNAT`: the flow rewrites destination addresses or ports.
pub const DNAT: u32 = 1 << 1;
/// `NF_FLOW_TEARDOWN`: no more fast-path packets; the GC removes the flow.
pub const TEARDOWN: u32 = 1 << 2;
/// `NF_FLOW_CLOSING` (6.14+): a FIN or RST went through; a SYN now means a new connection.
pub const CLOSING: u32 = 1 << 3;
/// `NF_FLOW_HW_BIDIRECTIONAL`: the hardware forwards both directions.
pub const HW_BIDIRECTIONAL: u32 = 1 << 4;
/// `NF_FLOW_HW_ESTABLISHED`: the hardware saw the flow's reply direction.
pub const HW_ESTABLISHED: u32 = 1 << 5;
/// `NF_FLOW_HW_PENDING`: a hardware work item (REPLACE, DESTROY or STATS) is queued or running
/// and refers to the flow, which must stay allocated until the item clears this flag. At most
/// one item per flow: the flag is taken with the transition that queues the item and dropped
/// with the one that ends it, in the same word, so the item's last access to the flow is the
/// store that lets the GC free it.
pub const HW_WORK: u32 = 1 << 6;

const HW_SHIFT: u32 = 8;
const HW_MASK: u32 = 0x7 << HW_SHIFT;

/// How many DESTROYs a flow gets before rflow gives up on the hardware. A driver that fails a
/// DESTROY (other than "not mine") may still hold the entry and forward the connection's
/// packets after conntrack forgot it, so the DESTROY is tried again from the GC's next pass
/// (6.12 ignores the error and frees the flow); a driver that keeps failing must not keep the
/// flow, or a flowtable's removal, waiting forever.
pub const DESTROY_TRIES: u32 = 3;

const DEL_FAILS_SHIFT: u32 = 11;
const DEL_FAILS_MASK: u32 = 0x3 << DEL_FAILS_SHIFT;

const REASON_SHIFT: u32 = 13;
const REASON_MASK: u32 = 0x7 << REASON_SHIFT;

/// Why a flow was torn down: set with [`TEARDOWN`], by whoever set it first, and reported by
/// the flow's removal event (`enum rflow_reason` of the netlink uAPI, same values).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Reason {
    /// Not torn down (or by a path that gives no reason).
    None = 0,
    /// Idle past its timeout.
    Expired = 1,
    /// The connection closed: conntrack let go of it, or a SYN reopened a closed one.
    Closed = 2,
    /// Its cached route went stale.
    Route = 3,
    /// A device it used went down or away.
    Device = 4,
    /// Deleted by a user (`RFLOW_CMD_DEL`).
    User = 5,
    /// Flushed by a user, or its flowtable went away.
    Flush = 6,
}

/// How many [`Reason`]s there are (`__RFLOW_REASON_MAX` of the uAPI): counters by reason are
/// arrays of this length, indexed by the reason's value.
pub const REASONS: usize = Reason::Flush as usize + 1;

impl Reason {
    fn from_bits(v: u32) -> Reason {
        match (v & REASON_MASK) >> REASON_SHIFT {
            1 => Reason::Expired,
            2 => Reason::Closed,
            3 => Reason::Route,
            4 => Reason::Device,
            5 => Reason::User,
            6 => Reason::Flush,
            _ => Reason::None,
        }
    }
}

/// Where a flow stands with the hardware (`NF_FLOW_HW`, `_PENDING`, `_DYING`, `_DEAD` of 6.12,
/// as one state instead of four bits that only some combinations of make sense).
///
/// ```text
///            queue_add           accepted
///   Software ----------> AddPending -------> Offloaded
///      ^                     |                  |
///      |      refused        |                  | queue_del
///      +---------------------+                  v
///                      queue_del           DelPending --deleted--> Dead
///   AddPending -----------------------------------^   |
///                                     Offloaded <-----+ delete_failed (DESTROY_TRIES - 1 times;
///                                                       then it counts as deleted)
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HwState {
    /// Forwarded in software only (never offered, or refused by every driver).
    Software,
    /// A REPLACE is queued (`NF_FLOW_HW | NF_FLOW_HW_PENDING`).
    AddPending,
    /// A driver accepted the flow (`NF_FLOW_HW`).
    Offloaded,
    /// A DESTROY is queued (`NF_FLOW_HW | NF_FLOW_HW_DYING`).
    DelPending,
    /// The hardware dropped the flow (`NF_FLOW_HW | NF_FLOW_HW_DYING | NF_FLOW_HW_DEAD`): only
    /// software references remain.
    Dead,
}

impl HwState {
    fn from_bits(v: u32) -> HwState {
        match (v & HW_MASK) >> HW_SHIFT {
            1 => HwState::AddPending,
            2 => HwState::Offloaded,
            3 => HwState::DelPending,
            4 => HwState::Dead,
            _ => HwState::Software,
        }
    }

    fn bits(self) -> u32 {
        let n = match self {
            HwState::Software => 0,
            HwState::AddPending => 1,
            HwState::Offloaded => 2,
            HwState::DelPending => 3,
            HwState::Dead => 4,
        };
        n << HW_SHIFT
    }

    /// Returns whether the hardware may hold the flow (C's `NF_FLOW_HW` bit).
    pub fn in_hardware(self) -> bool {
        !matches!(self, HwState::Software)
    }
}

/// What happens to a flow's hardware state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HwEvent {
    /// A REPLACE is queued for the flow.
    QueueAdd,
    /// A driver accepted the REPLACE.
    Accepted,
    /// No driver accepted it: the flow stays in software (and may be offered again).
    Refused,
    /// A DESTROY is queued.
    QueueDel,
    /// The DESTROY went to the drivers.
    Deleted,
    /// A driver failed the DESTROY: the hardware may still hold the flow.
    DeleteFailed,
}

/// Returns the state after `event`, or `None` if the event is not allowed in `from`.
pub fn hw_transition(from: HwState, event: HwEvent) -> Option<HwState> {
    use HwEvent::*;
    use HwState::*;
    Some(match (from, event) {
        (Software, QueueAdd) => AddPending,
        (AddPending, Accepted) => Offloaded,
        (AddPending, Refused) => Software,
        (AddPending | Offloaded, QueueDel) => DelPending,
        (DelPending, Deleted) => Dead,
        (DelPending, DeleteFailed) => Offloaded,
        _ => return None,
    })
}

/// A flow's state word: software flags and hardware state.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct FlowState(pub u32);

impl FlowState {
    /// Returns whether flag `flag` is set.
    #[inline(always)]
    pub fn has(self, flag: u32) -> bool {
        self.0 & flag != 0
    }

    /// Returns the hardware state.
    pub fn hw(self) -> HwState {
        HwState::from_bits(self.0)
    }

    /// Returns why the flow was torn down.
    pub fn reason(self) -> Reason {
        Reason::from_bits(self.0)
    }

    /// Returns the word torn down for `reason`, or `None` if it already was (the first
    /// reason stays).
    pub fn torn_down(self, reason: Reason) -> Option<FlowState> {
        if self.has(TEARDOWN) {
            return None;
        }
        Some(FlowState(
            (self.0 & !REASON_MASK) | TEARDOWN | ((reason as u32) << REASON_SHIFT),
        ))
    }

    /// Returns how many DESTROYs of the flow a driver failed so far.
    pub fn destroy_failures(self) -> u32 {
        (self.0 & DEL_FAILS_MASK) >> DEL_FAILS_SHIFT
    }

    /// Returns the word after `event`, or `None` if the event is not allowed now. A failed
    /// DESTROY puts the flow back in hardware to be destroyed again, [`DESTROY_TRIES`] times
    /// in all; the last failure counts as a deletion.
    pub fn with_hw_event(self, event: HwEvent) -> Option<FlowState> {
        let mut word = self.0;
        let event = if event == HwEvent::DeleteFailed {
            let fails = self.destroy_failures() + 1;
            word = (word & !DEL_FAILS_MASK) | (fails.min(3) << DEL_FAILS_SHIFT);
            if fails >= DESTROY_TRIES {
                HwEvent::Deleted
            } else {
                event
            }
        } else {
            event
        };
        let to = hw_transition(self.hw(), event)?;
        Some(FlowState((word & !HW_MASK) | to.bits()))
    }

    /// Returns the word with a work item queued for `work`, or `None` if one is already pending
    /// or the state does not allow it: REPLACE from [`HwState::Software`], its re-offer, DESTROY
    /// and STATS in [`HwState::Offloaded`]; nothing but DESTROY for a torn-down flow.
    pub fn begin_work(self, work: HwWork) -> Option<FlowState> {
        if self.has(HW_WORK) {
            return None;
        }
        let offloaded = self.hw() == HwState::Offloaded;
        let next = match work {
            HwWork::Add | HwWork::Reoffer | HwWork::Stats if self.has(TEARDOWN) => return None,
            HwWork::Add => self.with_hw_event(HwEvent::QueueAdd)?,
            HwWork::Del => self.with_hw_event(HwEvent::QueueDel)?,
            HwWork::Reoffer | HwWork::Stats if offloaded => self,
            HwWork::Reoffer | HwWork::Stats => return None,
        };
        Some(FlowState(next.0 | HW_WORK))
    }

    /// Returns the word once the pending work item ended with `event` (`None` for the items that
    /// change no state: STATS and re-offers), or `None` if no item is pending or the event does
    /// not fit the state.
    pub fn end_work(self, event: Option<HwEvent>) -> Option<FlowState> {
        if !self.has(HW_WORK) {
            return None;
        }
        let next = match event {
            Some(e) => self.with_hw_event(e)?,
            None => self,
        };
        Some(FlowState(next.0 & !HW_WORK))
    }

    /// Returns the word with the work item queued by `begin_work` from `before` given up
    /// (its allocation failed): `before`'s hardware state, the other flags as they are now.
    pub fn abort_work(self, before: FlowState) -> FlowState {
        FlowState((self.0 & !(HW_MASK | HW_WORK)) | (before.0 & HW_MASK))
    }
}

/// The hardware work items of a flow.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HwWork {
    /// Offer the flow to the drivers (`FLOW_CLS_REPLACE`).
    Add,
    /// Remove it from the hardware (`FLOW_CLS_DESTROY`).
    Del,
    /// Read its hardware counters (`FLOW_CLS_STATS`).
    Stats,
    /// The software path still sees packets of an offloaded flow: offer its rules again
    /// (`flow_offload_refresh()` re-sends REPLACE at most once a second; drivers that hold them
    /// answer `-EEXIST`, one that lost them in a reset installs them again).
    Reoffer,
}

/// What the GC knows about a flow when it visits it.
#[derive(Clone, Copy, Debug)]
pub struct GcView {
    /// The state word.
    pub state: FlowState,
    /// Its timeout passed.
    pub expired: bool,
    /// Its conntrack entry is being destroyed.
    pub ct_dying: bool,
    /// For TCP: conntrack still sees the connection established.
    pub tcp_established: bool,
}

/// What the GC does with a flow (`nf_flow_offload_gc_step()`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GcStep {
    /// Tear the flow down now (expired or conntrack dying): hand the connection back.
    pub teardown: bool,
    /// Keep its conntrack entry from expiring (a live flow conntrack does not see packets of).
    pub extend_ct: bool,
    /// Then:
    pub action: GcAction,
}

/// The GC's action on a flow after the teardown decision.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GcAction {
    /// Nothing more.
    Keep,
    /// Unlink and free it: torn down, and the hardware holds nothing of it.
    Remove,
    /// Queue a DESTROY: torn down (or closing), but the hardware may still hold it.
    HwDelete,
    /// Torn down; waiting for the queued DESTROY before freeing.
    WaitHw,
    /// Refresh its timeout from the hardware's counters.
    HwStats,
}

/// Decides what the GC does with a flow.
pub fn gc_step(v: GcView) -> GcStep {
    let torn_down_before = v.state.has(TEARDOWN);
    let teardown_now = v.expired || v.ct_dying;
    let teardown = teardown_now || torn_down_before;
    let hw = v.state.hw();
    // A queued or running work item refers to the flow: neither free it nor queue another
    // (`NF_FLOW_HW_PENDING` in C); the next pass decides again.
    let busy = v.state.has(HW_WORK);
    let action = if teardown {
        match hw {
            _ if busy => GcAction::WaitHw,
            HwState::Software | HwState::Dead => GcAction::Remove,
            HwState::AddPending | HwState::Offloaded => GcAction::HwDelete,
            HwState::DelPending => GcAction::WaitHw,
        }
    } else if busy {
        GcAction::Keep
    } else if v.state.has(CLOSING) && hw == HwState::Offloaded && !v.tcp_established {
        // The hardware would keep forwarding a closing connection: let software see the rest.
        GcAction::HwDelete
    } else if hw == HwState::Offloaded {
        GcAction::HwStats
    } else {
        GcAction::Keep
    };
    GcStep {
        teardown: teardown_now && !torn_down_before,
        extend_ct: !teardown,
        action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_HW: [HwState; 5] = [
        HwState::Software,
        HwState::AddPending,
        HwState::Offloaded,
        HwState::DelPending,
        HwState::Dead,
    ];
    const ALL_EVENTS: [HwEvent; 6] = [
        HwEvent::QueueAdd,
        HwEvent::Accepted,
        HwEvent::Refused,
        HwEvent::QueueDel,
        HwEvent::Deleted,
        HwEvent::DeleteFailed,
    ];

    #[test]
    fn hw_transitions_are_exactly_the_diagram() {
        let mut allowed = 0;
        for from in ALL_HW {
            for ev in ALL_EVENTS {
                if let Some(to) = hw_transition(from, ev) {
                    allowed += 1;
                    assert_ne!(from, to);
                }
            }
        }
        assert_eq!(allowed, 7);
        // Dead is final; a flow is never offered again once a DESTROY was queued.
        for ev in ALL_EVENTS {
            assert_eq!(hw_transition(HwState::Dead, ev), None);
            assert_ne!(
                hw_transition(HwState::DelPending, ev),
                Some(HwState::AddPending)
            );
        }
    }

    #[test]
    fn the_first_teardown_reason_stays_and_survives_hw_events() {
        let s = FlowState(DNAT).with_hw_event(HwEvent::QueueAdd).unwrap();
        assert_eq!(s.reason(), Reason::None);
        let t = s.torn_down(Reason::User).unwrap();
        assert!(t.has(TEARDOWN) && t.has(DNAT));
        assert_eq!(t.reason(), Reason::User);
        assert_eq!(t.torn_down(Reason::Expired), None);
        let t = t.with_hw_event(HwEvent::QueueDel).unwrap();
        let t = t.with_hw_event(HwEvent::DeleteFailed).unwrap();
        assert_eq!((t.reason(), t.destroy_failures()), (Reason::User, 1));
        for r in [
            Reason::Expired,
            Reason::Closed,
            Reason::Route,
            Reason::Device,
            Reason::User,
            Reason::Flush,
        ] {
            let w = FlowState(!TEARDOWN).torn_down(r).unwrap();
            assert_eq!(w.reason(), r);
        }
    }

    #[test]
    fn state_word_keeps_flags_across_hw_events() {
        let s = FlowState(SNAT | CLOSING);
        let s = s.with_hw_event(HwEvent::QueueAdd).unwrap();
        assert_eq!(s.hw(), HwState::AddPending);
        assert!(s.has(SNAT) && s.has(CLOSING) && !s.has(DNAT));
        assert_eq!(s.with_hw_event(HwEvent::Deleted), None);
        let s = s.with_hw_event(HwEvent::Accepted).unwrap();
        assert_eq!(s.hw(), HwState::Offloaded);
        assert!(s.hw().in_hardware());
        for (i, h) in ALL_HW.iter().enumerate() {
            assert_eq!(HwState::from_bits(h.bits()), *h, "state {i} round trip");
        }
    }

    fn view(state: u32, hw: HwState, expired: bool, ct_dying: bool) -> GcView {
        GcView {
            state: FlowState(state | hw.bits()),
            expired,
            ct_dying,
            tcp_established: true,
        }
    }

    #[test]
    fn gc_software_flows() {
        // Live: keep, keep conntrack alive.
        let s = gc_step(view(0, HwState::Software, false, false));
        assert_eq!(
            (s.teardown, s.extend_ct, s.action),
            (false, true, GcAction::Keep)
        );
        // Expired or conntrack dying: torn down and removed in the same pass.
        for (e, d) in [(true, false), (false, true), (true, true)] {
            let s = gc_step(view(0, HwState::Software, e, d));
            assert_eq!(
                (s.teardown, s.extend_ct, s.action),
                (true, false, GcAction::Remove)
            );
        }
        // Torn down by the packet path or the notifier: removed, not torn down twice.
        let s = gc_step(view(TEARDOWN, HwState::Software, false, false));
        assert_eq!(
            (s.teardown, s.extend_ct, s.action),
            (false, false, GcAction::Remove)
        );
        let s = gc_step(view(TEARDOWN, HwState::Software, true, false));
        assert!(!s.teardown);
    }

    #[test]
    fn one_work_item_per_flow() {
        let s = FlowState(SNAT);
        let add = s.begin_work(HwWork::Add).unwrap();
        assert_eq!(add.hw(), HwState::AddPending);
        assert!(add.has(HW_WORK) && add.has(SNAT));
        // Nothing else while the REPLACE is pending, not even a DESTROY of a torn-down flow.
        for w in [HwWork::Add, HwWork::Del, HwWork::Stats, HwWork::Reoffer] {
            assert_eq!(add.begin_work(w), None);
            assert_eq!(FlowState(add.0 | TEARDOWN).begin_work(w), None);
        }
        let gc = gc_step(GcView {
            state: FlowState(add.0 | TEARDOWN),
            expired: false,
            ct_dying: false,
            tcp_established: true,
        });
        assert_eq!(gc.action, GcAction::WaitHw);
        // Accepted: offloaded, the item gone; then stats, then a DESTROY.
        let on = add.end_work(Some(HwEvent::Accepted)).unwrap();
        assert_eq!((on.hw(), on.has(HW_WORK)), (HwState::Offloaded, false));
        let st = on.begin_work(HwWork::Stats).unwrap();
        assert_eq!((st.hw(), st.has(HW_WORK)), (HwState::Offloaded, true));
        assert_eq!(st.begin_work(HwWork::Del), None);
        assert_eq!(st.end_work(None), Some(on));
        let del = on.begin_work(HwWork::Del).unwrap();
        assert_eq!(del.hw(), HwState::DelPending);
        let dead = del.end_work(Some(HwEvent::Deleted)).unwrap();
        assert_eq!((dead.hw(), dead.has(HW_WORK)), (HwState::Dead, false));
        // Dead is final: never offered again.
        for w in [HwWork::Add, HwWork::Del, HwWork::Stats, HwWork::Reoffer] {
            assert_eq!(dead.begin_work(w), None);
        }
        // Refused: software again, offered again later; but never a torn-down flow.
        let sw = add.end_work(Some(HwEvent::Refused)).unwrap();
        assert_eq!(sw, s);
        assert!(sw.begin_work(HwWork::Add).is_some());
        assert_eq!(sw.begin_work(HwWork::Reoffer), None);
        assert_eq!(sw.begin_work(HwWork::Stats), None);
        assert_eq!(FlowState(sw.0 | TEARDOWN).begin_work(HwWork::Add), None);
        // Re-offers keep an offloaded flow offloaded whatever the drivers answer.
        let re = on.begin_work(HwWork::Reoffer).unwrap();
        assert_eq!((re.hw(), re.has(HW_WORK)), (HwState::Offloaded, true));
        assert_eq!(re.end_work(None), Some(on));
        assert_eq!(FlowState(on.0 | TEARDOWN).begin_work(HwWork::Reoffer), None);
        assert!(FlowState(on.0 | TEARDOWN).begin_work(HwWork::Del).is_some());
        // A queued item whose allocation failed is given up: the state before, with the flags
        // set meanwhile.
        let aborted = FlowState(add.0 | CLOSING).abort_work(s);
        assert_eq!(aborted, FlowState(s.0 | CLOSING));
        let aborted = FlowState(del.0 | TEARDOWN).abort_work(on);
        assert_eq!(aborted, FlowState(on.0 | TEARDOWN));
        // Ending an item that is not pending, or with an event the state refuses, is refused.
        assert_eq!(on.end_work(None), None);
        assert_eq!(del.end_work(Some(HwEvent::Accepted)), None);
    }

    #[test]
    fn failed_destroys_are_retried_then_given_up() {
        let on = FlowState(SNAT | TEARDOWN | HwState::Offloaded.bits());
        let mut s = on;
        for attempt in 1..=DESTROY_TRIES {
            let del = s.begin_work(HwWork::Del).unwrap();
            assert_eq!(del.hw(), HwState::DelPending);
            s = del.end_work(Some(HwEvent::DeleteFailed)).unwrap();
            assert_eq!(s.destroy_failures(), attempt);
            assert!(s.has(SNAT) && s.has(TEARDOWN) && !s.has(HW_WORK));
            if attempt < DESTROY_TRIES {
                // Back in hardware: the GC queues the DESTROY again.
                assert_eq!(s.hw(), HwState::Offloaded);
                let gc = gc_step(GcView {
                    state: s,
                    expired: false,
                    ct_dying: false,
                    tcp_established: true,
                });
                assert_eq!(gc.action, GcAction::HwDelete);
            } else {
                // Given up: the flow can be freed.
                assert_eq!(s.hw(), HwState::Dead);
            }
        }
        // A DESTROY that succeeds after a failure ends it as usual.
        let del = on.begin_work(HwWork::Del).unwrap();
        let again = del.end_work(Some(HwEvent::DeleteFailed)).unwrap();
        let del = again.begin_work(HwWork::Del).unwrap();
        assert_eq!(
            del.end_work(Some(HwEvent::Deleted)).map(|s| s.hw()),
            Some(HwState::Dead)
        );
        // Only a pending DESTROY can fail.
        assert_eq!(on.with_hw_event(HwEvent::DeleteFailed), None);
    }

    #[test]
    fn gc_never_frees_a_flow_with_work_pending() {
        for hw in [HwState::Software, HwState::Offloaded, HwState::Dead] {
            for flags in [TEARDOWN, 0, CLOSING] {
                let s = gc_step(view(flags | HW_WORK, hw, true, false));
                assert_eq!(s.action, GcAction::WaitHw, "{hw:?} {flags:#x}");
                let s = gc_step(view(flags | HW_WORK, hw, false, false));
                assert!(
                    matches!(s.action, GcAction::WaitHw | GcAction::Keep),
                    "{hw:?} {flags:#x}: {:?}",
                    s.action
                );
            }
        }
    }

    #[test]
    fn gc_hardware_flows() {
        // A torn-down flow the hardware may hold is destroyed there first, then freed.
        for hw in [HwState::AddPending, HwState::Offloaded] {
            assert_eq!(
                gc_step(view(TEARDOWN, hw, false, false)).action,
                GcAction::HwDelete
            );
        }
        assert_eq!(
            gc_step(view(TEARDOWN, HwState::DelPending, false, false)).action,
            GcAction::WaitHw
        );
        assert_eq!(
            gc_step(view(TEARDOWN, HwState::Dead, false, false)).action,
            GcAction::Remove
        );
        // Live hardware flows are kept alive from the hardware's counters.
        assert_eq!(
            gc_step(view(0, HwState::Offloaded, false, false)).action,
            GcAction::HwStats
        );
        assert_eq!(
            gc_step(view(0, HwState::AddPending, false, false)).action,
            GcAction::Keep
        );
        // A closing TCP connection leaves the hardware once conntrack no longer sees it
        // established, and stays in software.
        let mut v = view(CLOSING, HwState::Offloaded, false, false);
        v.tcp_established = false;
        let s = gc_step(v);
        assert_eq!((s.teardown, s.action), (false, GcAction::HwDelete));
        v.tcp_established = true;
        assert_eq!(gc_step(v).action, GcAction::HwStats);
    }
}
