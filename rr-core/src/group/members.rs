//! A group's in-sync members and the fan-out list made from them, in a module of its own so that
//! nothing else can change the one without dropping the other.

use std::sync::Arc;

use crate::types::{ConnId, PeerId};

/// A group's members in sync with its Adj-RIB-Out, with their fan-out list: the (peer, connection)
/// pairs sorted by connection, kept between flushes (with thousands of members and a flush every few
/// milliseconds, building it was a cost of its own). Every change of the members goes through a method
/// here that drops the list; reads go through the slice.
#[derive(Debug, Default)]
pub(super) struct Members {
    list: Vec<PeerId>,
    fan: Option<Arc<[(PeerId, ConnId)]>>,
}

impl Members {
    pub(super) fn push(&mut self, id: PeerId) {
        self.fan = None;
        self.list.push(id);
    }

    /// Removes `id`; true if it was a member. Order is not kept.
    pub(super) fn remove(&mut self, id: PeerId) -> bool {
        let Some(pos) = self.list.iter().position(|m| *m == id) else {
            return false;
        };
        self.fan = None;
        self.list.swap_remove(pos);
        true
    }

    /// The fan-out list, made by `make` from the members when they changed since it was last made.
    pub(super) fn fan_list(
        &mut self,
        make: impl FnOnce(&[PeerId]) -> Arc<[(PeerId, ConnId)]>,
    ) -> &Arc<[(PeerId, ConnId)]> {
        let list = &self.list;
        self.fan.get_or_insert_with(|| make(list))
    }

    /// Takes every member out.
    pub(super) fn take(&mut self) -> Vec<PeerId> {
        self.fan = None;
        std::mem::take(&mut self.list)
    }
}

impl std::ops::Deref for Members {
    type Target = [PeerId];
    fn deref(&self) -> &[PeerId] {
        &self.list
    }
}
