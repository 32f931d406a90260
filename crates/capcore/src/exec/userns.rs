//! User namespaces as the exec model needs them: a namespace's uid and gid maps, the chain from the caller's
//! namespace up to the initial one, and the translation of ids between the caller's view and kernel ids.
//! Kept apart because the model, the xattr views and every source of a caller's state (OCI, Kubernetes,
//! a live process) share it.

use serde::Serialize;

/// One line of a `uid_map` or `gid_map`: ids `inside..inside+count` of a namespace are `outside..` of its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

impl IdRange {
    fn up(self, id: u32) -> Option<u32> {
        let offset = id.checked_sub(self.inside)?;
        (offset < self.count).then(|| self.outside.wrapping_add(offset))
    }

    fn down(self, id: u32) -> Option<u32> {
        let offset = id.checked_sub(self.outside)?;
        (offset < self.count).then(|| self.inside.wrapping_add(offset))
    }
}

/// A user namespace, as its uid and gid maps to its parent describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct UserNs {
    pub uid_map: Vec<IdRange>,
    pub gid_map: Vec<IdRange>,
}

impl UserNs {
    /// A namespace whose uids and gids map the same way.
    pub fn mapping(ranges: &[IdRange]) -> UserNs {
        UserNs {
            uid_map: ranges.to_vec(),
            gid_map: ranges.to_vec(),
        }
    }
}

/// The caller's user namespace and its ancestors, innermost first; empty for the initial namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct NsChain(pub Vec<UserNs>);

/// Kernel ids (`kuid`, `kgid`) are ids in the initial namespace; namespace ids are the caller's view.
impl NsChain {
    pub fn is_initial(&self) -> bool {
        self.0.is_empty()
    }

    // (uid_t)-1 is never an id: no map can cover it, and the kernel reads it as "invalid".
    fn up(&self, id: u32, level: usize, pick: fn(&UserNs) -> &[IdRange]) -> Option<u32> {
        self.0[level..]
            .iter()
            .try_fold(id, |id, ns| pick(ns).iter().find_map(|range| range.up(id)))
            .filter(|&id| id != u32::MAX)
    }

    fn down(&self, id: u32, pick: fn(&UserNs) -> &[IdRange]) -> Option<u32> {
        self.0
            .iter()
            .rev()
            .try_fold(id, |id, ns| {
                pick(ns).iter().find_map(|range| range.down(id))
            })
            .filter(|&id| id != u32::MAX)
    }

    /// The kernel uid of a uid of the caller's namespace.
    pub fn kuid(&self, uid: u32) -> Option<u32> {
        self.up(uid, 0, |ns| &ns.uid_map)
    }

    /// The kernel gid of a gid of the caller's namespace.
    pub fn kgid(&self, gid: u32) -> Option<u32> {
        self.up(gid, 0, |ns| &ns.gid_map)
    }

    /// The caller's view of a kernel uid, if it is mapped.
    pub fn uid(&self, kuid: u32) -> Option<u32> {
        self.down(kuid, |ns| &ns.uid_map)
    }

    /// The caller's view of a kernel gid, if it is mapped.
    pub fn gid(&self, kgid: u32) -> Option<u32> {
        self.down(kgid, |ns| &ns.gid_map)
    }

    /// Whether a kernel uid is uid 0 of the caller's namespace or of one of its ancestors
    /// (commoncap.c:rootid_owns_currentns).
    pub fn is_root_of_some_level(&self, kuid: u32) -> bool {
        kuid == 0
            || (0..self.0.len()).any(|level| self.up(0, level, |ns| &ns.uid_map) == Some(kuid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::tests::ns;

    #[test]
    fn namespace_chains_map_ids_both_ways() {
        let chain = NsChain(vec![ns(0, 1000, 1000), ns(0, 100_000, 65536)]);
        assert_eq!(chain.kuid(5), Some(101_005));
        assert_eq!(chain.uid(101_005), Some(5));
        assert_eq!(chain.uid(100_000), None);
        assert!(chain.is_root_of_some_level(101_000));
        assert!(chain.is_root_of_some_level(100_000));
        assert!(chain.is_root_of_some_level(0));
        assert!(!chain.is_root_of_some_level(200_000));
        assert_eq!(NsChain::default().uid(7), Some(7));
        assert_eq!(NsChain::default().uid(u32::MAX), None);
    }
}
