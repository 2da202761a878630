// SPDX-License-Identifier: GPL-2.0

//! Timeout arithmetic of flows and of their conntrack entries, on 32-bit jiffies stamps.
//!
//! Stamps wrap (jiffies are truncated to 32 bits, as C's `nf_flowtable_time_stamp` and
//! `nfct_time_stamp` are), so every comparison is a wrapping difference read as signed: correct
//! while the two stamps are less than 2^31 jiffies apart (24 days at HZ=1000).

/// TCP conntrack states (`enum tcp_conntrack`) the timeouts depend on.
pub mod tcp {
    /// `TCP_CONNTRACK_ESTABLISHED`.
    pub const ESTABLISHED: u8 = 3;
    /// `TCP_CONNTRACK_FIN_WAIT`.
    pub const FIN_WAIT: u8 = 4;
    /// `TCP_CONNTRACK_CLOSE_WAIT`.
    pub const CLOSE_WAIT: u8 = 5;
    /// `TCP_CONNTRACK_LAST_ACK`.
    pub const LAST_ACK: u8 = 6;
    /// `TCP_CONNTRACK_TIME_WAIT`.
    pub const TIME_WAIT: u8 = 7;
    /// `TCP_CONNTRACK_CLOSE`.
    pub const CLOSE: u8 = 8;
}

/// Returns how far `stamp` lies after `now`, negative once passed (`nf_flow_timeout_delta()`).
#[inline(always)]
pub fn until(stamp: u32, now: u32) -> i32 {
    stamp.wrapping_sub(now) as i32
}

/// Returns the new expiry stamp of a flow that just forwarded a packet, or `None` when the
/// stored one is within a second of it (`flow_offload_refresh()`): the fast path then writes
/// nothing, keeping the flow's cache line clean.
#[inline(always)]
pub fn refreshed(stored: u32, now: u32, timeout: u32, hz: u32) -> Option<u32> {
    let stamp = now.wrapping_add(timeout);
    (stamp.wrapping_sub(stored) > hz).then_some(stamp)
}

/// The conntrack timeout an offloaded TCP connection in state `state` is kept at, in jiffies
/// (`nf_flow_table_tcp_timeout()`); `None` leaves the timeout alone.
pub fn offloaded_tcp_ct_timeout(state: u8, hz: u32, day: u32) -> Option<u32> {
    match state {
        tcp::ESTABLISHED => Some(day),
        tcp::FIN_WAIT | tcp::CLOSE_WAIT | tcp::LAST_ACK | tcp::TIME_WAIT => Some(5 * 60 * hz),
        _ => None,
    }
}

/// Returns whether the GC should push an offloaded connection's conntrack timeout forward
/// (`nf_flow_table_extend_ct_timeout()`): only once it is within five minutes of expiring, and
/// not if it already expired (conntrack is then tearing it down).
pub fn ct_needs_extension(ct_stamp: u32, now: u32, hz: u32) -> bool {
    let left = i64::from(until(ct_stamp, now));
    left > 0 && left < 5 * 60 * i64::from(hz)
}

/// The conntrack timeout to restore when a flow hands its connection back
/// (`flow_offload_fixup_ct()` of 6.14+): the state's normal timeout, less the flow timeout if
/// the flow expired (the connection already waited that long without traffic), never negative.
/// `None` leaves conntrack's current timeout, when that one is already shorter.
pub fn restored_ct_timeout(
    state_timeout: u32,
    flow_timeout: u32,
    expired: bool,
    ct_left: i32,
    closing: bool,
) -> Option<u32> {
    let mut timeout = i64::from(state_timeout);
    if expired {
        timeout -= i64::from(flow_timeout);
    }
    let timeout = timeout.max(0);
    // `timeout` is within the u32 it came from.
    (closing || i64::from(ct_left) > timeout).then_some(timeout as u32)
}

/// Returns whether the GC should ask the hardware for a flow's counters
/// (`nf_flow_offload_stats()`): once less than 90% of its timeout is left.
pub fn wants_hw_stats(stored: u32, now: u32, timeout: u32) -> bool {
    i64::from(until(stored, now)) < i64::from(timeout) * 9 / 10
}

/// Returns a hardware flow's expiry stamp after its driver reported it last used at `lastused`
/// (jiffies; 0 for never), as `flow_offload_work_stats()` computes it: `lastused + timeout` if
/// that is later than the stored stamp. C compares the 32-bit stamp with a 64-bit sum
/// (`max_t(u64, ...)`), which goes wrong once jiffies wrap 32 bits; here both sides are compared
/// as wrapping 32-bit stamps. A `lastused` after `now` (a driver's clock error) counts as now.
pub fn extended_by_hw(stored: u32, lastused: u64, now: u32, timeout: u32) -> u32 {
    if lastused == 0 {
        return stored;
    }
    // Jiffies are compared as 32-bit stamps, as flows store them.
    let mut used = lastused as u32;
    if until(used, now) > 0 {
        used = now;
    }
    let stamp = used.wrapping_add(timeout);
    if until(stamp, stored) > 0 {
        stamp
    } else {
        stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hw_stats_from_ninety_percent() {
        let now = u32::MAX - 10;
        assert!(!wants_hw_stats(now.wrapping_add(30 * HZ), now, 30 * HZ));
        assert!(!wants_hw_stats(now.wrapping_add(27 * HZ), now, 30 * HZ));
        assert!(wants_hw_stats(now.wrapping_add(27 * HZ - 1), now, 30 * HZ));
        assert!(wants_hw_stats(now.wrapping_sub(5), now, 30 * HZ));
    }

    #[test]
    fn hw_lastused_extends_across_the_wrap() {
        let timeout = 30 * HZ;
        // jiffies just wrapped 32 bits; drivers report 64-bit values.
        let now: u32 = 5;
        let stored = now.wrapping_add(10 * HZ);
        // Used after the wrap (a 64-bit value above 2^32): a jiffy ago.
        let used_after = (1u64 << 32) + u64::from(now) - 1;
        assert_eq!(
            extended_by_hw(stored, used_after, now, timeout),
            (now - 1).wrapping_add(timeout)
        );
        // Used just before the wrap: about 30 s from then.
        let used_before = u64::from(u32::MAX - 2);
        assert_eq!(
            extended_by_hw(stored, used_before, now, timeout),
            (u32::MAX - 2).wrapping_add(timeout)
        );
        // Used long ago: the stored stamp, later, stays.
        assert_eq!(
            extended_by_hw(stored, u64::from(now.wrapping_sub(25 * HZ)), now, timeout),
            stored
        );
        // Never used, or a driver clock ahead of ours.
        assert_eq!(extended_by_hw(stored, 0, now, timeout), stored);
        assert_eq!(
            extended_by_hw(stored, u64::from(now) + 1000, now, timeout),
            now.wrapping_add(timeout)
        );
    }

    const HZ: u32 = 1000;
    const DAY: u32 = 86400 * HZ;

    #[test]
    fn wrapping_deltas() {
        assert_eq!(until(10, 5), 5);
        assert_eq!(until(5, 10), -5);
        // Across the 32-bit wrap of jiffies.
        assert_eq!(until(3, u32::MAX - 2), 6);
        assert_eq!(until(u32::MAX - 2, 3), -6);
    }

    #[test]
    fn refresh_writes_only_when_moving_more_than_a_second() {
        let now = u32::MAX - 100;
        assert_eq!(refreshed(now.wrapping_add(30 * HZ), now, 30 * HZ, HZ), None);
        assert_eq!(refreshed(now.wrapping_add(29 * HZ), now, 30 * HZ, HZ), None);
        assert_eq!(
            refreshed(now.wrapping_add(28 * HZ), now, 30 * HZ, HZ),
            Some(now.wrapping_add(30 * HZ))
        );
        // A stored stamp far in the past (flow idle for long) is refreshed too.
        assert!(refreshed(now.wrapping_sub(100 * HZ), now, 30 * HZ, HZ).is_some());
    }

    #[test]
    fn tcp_ct_timeouts() {
        assert_eq!(
            offloaded_tcp_ct_timeout(tcp::ESTABLISHED, HZ, DAY),
            Some(DAY)
        );
        for s in [
            tcp::FIN_WAIT,
            tcp::CLOSE_WAIT,
            tcp::LAST_ACK,
            tcp::TIME_WAIT,
        ] {
            assert_eq!(offloaded_tcp_ct_timeout(s, HZ, DAY), Some(300 * HZ));
        }
        assert_eq!(offloaded_tcp_ct_timeout(tcp::CLOSE, HZ, DAY), None);
        assert_eq!(offloaded_tcp_ct_timeout(1, HZ, DAY), None);
    }

    #[test]
    fn extension_window() {
        let now = 1000;
        assert!(!ct_needs_extension(now, now, HZ));
        assert!(!ct_needs_extension(now - 1, now, HZ));
        assert!(ct_needs_extension(now + 1, now, HZ));
        assert!(ct_needs_extension(now + 300 * HZ - 1, now, HZ));
        assert!(!ct_needs_extension(now + 300 * HZ, now, HZ));
        assert!(!ct_needs_extension(now.wrapping_add(DAY), now, HZ));
    }

    #[test]
    fn restored_timeouts() {
        // Expired UDP flow: replied timeout 120 s minus the 30 s flow timeout.
        assert_eq!(
            restored_ct_timeout(120 * HZ, 30 * HZ, true, DAY as i32, false),
            Some(90 * HZ)
        );
        // Not expired (torn down by a route change): the full timeout.
        assert_eq!(
            restored_ct_timeout(120 * HZ, 30 * HZ, false, DAY as i32, false),
            Some(120 * HZ)
        );
        // Flow timeout longer than the state's: zero, not a wrapped huge value.
        assert_eq!(
            restored_ct_timeout(10 * HZ, 30 * HZ, true, DAY as i32, false),
            Some(0)
        );
        // Conntrack's own timeout already shorter: left alone, unless closing.
        assert_eq!(
            restored_ct_timeout(120 * HZ, 30 * HZ, false, 5 * HZ as i32, false),
            None
        );
        assert_eq!(
            restored_ct_timeout(10 * HZ, 0, false, 5 * HZ as i32, true),
            Some(10 * HZ)
        );
    }
}
