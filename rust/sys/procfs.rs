// SPDX-License-Identifier: GPL-2.0

//! Per-namespace `/proc/net` files listed with a real `seq_file` cursor.
//!
//! A [`Listing`] produces records (lines) one at a time from a cursor it keeps in the open
//! file's private state. `seq_file` calls `start`, then `show`/`next` until its buffer is full,
//! then `stop`, once per `read()`; the listing resumes from its cursor on the next `read()`
//! instead of walking everything again. The whole `start`..`stop` stretch is one RCU read-side
//! section, so records can borrow RCU-protected objects; no lock is held between `read()`s.

use super::{
    net::Net,
    rcu::{self, ReadSection},
};
use crate::bindings;
use core::{ffi::CStr, fmt, marker::PhantomData, mem::size_of, ptr};
use kernel::{
    ffi::{c_int, c_void},
    prelude::*,
};

/// A listing: records produced from a cursor.
pub(crate) trait Listing: 'static {
    /// The cursor, kept in the open file between `read()`s, starting at its default. It must
    /// own nothing (it is freed with the file, never dropped: checked at compile time).
    type Cursor: Copy + Default + Send;

    /// Positions the cursor on record `pos` (0: the first), resuming from where the cursor
    /// stands when it already is at `pos`. Returns false past the last record.
    fn start(net: &Net, rcu: &ReadSection, cursor: &mut Self::Cursor, pos: u64) -> bool;

    /// Moves the cursor to the next record; returns false past the last one.
    fn next(net: &Net, rcu: &ReadSection, cursor: &mut Self::Cursor) -> bool;

    /// Writes the record the cursor is on.
    fn show(out: &mut SeqFile, net: &Net, rcu: &ReadSection, cursor: &Self::Cursor) -> fmt::Result;
}

/// The `seq_file` being filled (`struct seq_file`), as a formatting sink.
#[repr(transparent)]
pub(crate) struct SeqFile(kernel::types::Opaque<bindings::seq_file>);

impl fmt::Write for SeqFile {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: The seq_file is valid during `show`; `s` is readable for its length. An
        // overflowing write is recorded in the seq_file, which retries the record with a bigger
        // buffer.
        unsafe { bindings::seq_write(self.0.get(), s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// The open file's private state: `seq_net_private` first, as `seq_open_net()` requires. The
/// file starts zeroed: `started` false, `cursor` not yet written.
#[repr(C)]
struct Private<C> {
    net: bindings::seq_net_private,
    started: bool,
    cursor: core::mem::MaybeUninit<C>,
}

/// The `seq_operations` of a listing, a static for each listing type.
pub(crate) struct SeqOps<L: Listing> {
    ops: bindings::seq_operations,
    _l: PhantomData<L>,
}

// SAFETY: A table of function pointers, never written after construction.
unsafe impl<L: Listing> Sync for SeqOps<L> {}

impl<L: Listing> SeqOps<L> {
    /// The operations for `L`.
    pub(crate) const fn new() -> Self {
        SeqOps {
            ops: bindings::seq_operations {
                start: Some(start_callback::<L>),
                stop: Some(stop_callback::<L>),
                next: Some(next_callback::<L>),
                show: Some(show_callback::<L>),
            },
            _l: PhantomData,
        }
    }

    const NO_DROP: () = assert!(
        !core::mem::needs_drop::<L::Cursor>(),
        "listing cursors are freed with the file, never dropped"
    );

    /// Creates `/proc/net/<name>` in `net`, readable by its owner (root) and group only: the
    /// listings show NAT mappings.
    pub(crate) fn create(&'static self, net: &Net, name: &'static CStr) -> Result {
        #[allow(clippy::let_unit_value)]
        let () = Self::NO_DROP;
        let size = u32::try_from(size_of::<Private<L::Cursor>>())?;
        // SAFETY: `name` and the operations are static; `net` is live and has a `/proc/net`.
        let pde = unsafe {
            bindings::proc_create_net_data(
                name.as_ptr().cast(),
                0o440,
                net.proc_dir(),
                &self.ops,
                size,
                ptr::null_mut(),
            )
        };
        if pde.is_null() {
            return Err(ENOMEM);
        }
        Ok(())
    }

    /// Removes `/proc/net/<name>` from `net`; waits for readers in progress.
    pub(crate) fn remove(&'static self, net: &Net, name: &'static CStr) {
        // SAFETY: `name` is static; `net` is live.
        unsafe { bindings::remove_proc_entry(name.as_ptr().cast(), net.proc_dir()) };
    }
}

/// Returns the namespace and the cursor of an open listing.
///
/// # Safety
///
/// `seq` must be a file opened with `SeqOps<L>` (its private state a `Private<L::Cursor>`), used
/// by one reader at a time (`seq_file` serialises reads).
unsafe fn parts<'a, L: Listing>(seq: *mut bindings::seq_file) -> (&'a Net, &'a mut L::Cursor) {
    // SAFETY: By the function contract: the private area is ours, zero-initialised by
    // `seq_open_net()` (so `started` is a valid `false` until the cursor is written).
    unsafe {
        let private = &mut *bindings::rflow_seq_private(seq).cast::<Private<L::Cursor>>();
        if !private.started {
            private.cursor.write(L::Cursor::default());
            private.started = true;
        }
        (
            Net::from_raw(bindings::rflow_seq_file_net(seq)),
            private.cursor.assume_init_mut(),
        )
    }
}

/// `start`: enters the read-side section that lasts until `stop` (seq_file always pairs them)
/// and positions the cursor on record `*pos`.
///
/// # Safety
///
/// Called by seq_file on a file opened with `SeqOps<L>`, with its position.
unsafe extern "C" fn start_callback<L: Listing>(
    seq: *mut bindings::seq_file,
    pos: *mut bindings::loff_t,
) -> *mut c_void {
    // The matching unlock is in `stop_callback`, which seq_file calls after every `start`.
    rcu::enter();
    // SAFETY: Inside the section just entered, which lasts until `stop`.
    let rcu = unsafe { ReadSection::assume() };
    // SAFETY: Called by seq_file on a file opened with our operations.
    let (net, cursor) = unsafe { parts::<L>(seq) };
    // SAFETY: `pos` is seq_file's position, valid for the call.
    let at = u64::try_from(unsafe { *pos }).unwrap_or(0);
    if L::start(net, rcu, cursor, at) {
        ptr::from_mut(cursor).cast()
    } else {
        ptr::null_mut()
    }
}

/// `next`: moves to the next record.
///
/// # Safety
///
/// Called by seq_file between `start` and `stop` on a file opened with `SeqOps<L>`.
unsafe extern "C" fn next_callback<L: Listing>(
    seq: *mut bindings::seq_file,
    _v: *mut c_void,
    pos: *mut bindings::loff_t,
) -> *mut c_void {
    // SAFETY: Between `start` and `stop`: inside the read-side section.
    let rcu = unsafe { ReadSection::assume() };
    // SAFETY: Called by seq_file on a file opened with our operations.
    let (net, cursor) = unsafe { parts::<L>(seq) };
    // SAFETY: `pos` is seq_file's position, valid for the call; seq_file requires `next` to
    // advance it even at the end.
    unsafe { *pos += 1 };
    if L::next(net, rcu, cursor) {
        ptr::from_mut(cursor).cast()
    } else {
        ptr::null_mut()
    }
}

/// `show`: writes the current record.
///
/// # Safety
///
/// Called by seq_file between `start` and `stop` on a file opened with `SeqOps<L>`.
unsafe extern "C" fn show_callback<L: Listing>(
    seq: *mut bindings::seq_file,
    _v: *mut c_void,
) -> c_int {
    // SAFETY: Between `start` and `stop`: inside the read-side section.
    let rcu = unsafe { ReadSection::assume() };
    // SAFETY: Called by seq_file on a file opened with our operations; `seq` is valid for the
    // call and `SeqFile` is a transparent wrapper.
    let (net, cursor) = unsafe { parts::<L>(seq) };
    // SAFETY: `seq` is valid for the call; `SeqFile` is a transparent wrapper, and the private
    // state `cursor` borrows is a separate allocation.
    let out = unsafe { &mut *seq.cast::<SeqFile>() };
    // Formatting errors cannot happen (writes record overflow in the seq_file instead).
    let _ = L::show(out, net, rcu, cursor);
    0
}

/// `stop`: leaves the read-side section `start` entered.
///
/// # Safety
///
/// Called by seq_file after every `start`, on the same task.
unsafe extern "C" fn stop_callback<L: Listing>(_seq: *mut bindings::seq_file, _v: *mut c_void) {
    // SAFETY: Paired with the `rcu::enter()` of `start_callback`, on the same task.
    unsafe { rcu::leave() };
}
