//! The userspace views of a `security.capability` value on a filesystem of the initial namespace: what
//! getxattr shows a reader in a user namespace, and what setxattr stores for a writer in one. They are
//! stricter than exec's parse and translate the rootid, so they have their own file beside the model.

use crate::xattr::FileCaps;

use super::NsChain;

/// Why getxattr or setxattr refuses a `security.capability` value (they are stricter than exec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XattrViewError {
    /// Not an exact v2 or v3 value with only the effective flag, or (setxattr) a rootid with no mapping.
    Einval,
    /// The value's root is neither mapped into the reader's namespace nor the root of it or an ancestor.
    Eoverflow,
}

fn strict_caps(raw: &[u8]) -> Result<FileCaps, XattrViewError> {
    let caps = FileCaps::decode(raw).map_err(|_| XattrViewError::Einval)?;
    caps.check_userspace().map_err(|_| XattrViewError::Einval)?;
    Ok(caps)
}

/// What getxattr returns to a reader in `reader`'s namespace for a value stored on a filesystem of the initial
/// namespace (commoncap.c:cap_inode_getsecurity, spec §7.3): v3 with the root translated when it maps to a
/// non-zero uid, v2 when it is the root of the reader's namespace or an ancestor, EOVERFLOW otherwise.
pub fn getxattr_view(raw: &[u8], reader: &NsChain) -> Result<Vec<u8>, XattrViewError> {
    let caps = strict_caps(raw)?;
    let root_kuid = caps.rootid.unwrap_or(0);
    match reader.uid(root_kuid) {
        Some(mapped) if mapped != 0 => Ok(FileCaps {
            revision: crate::xattr::Revision::V3,
            rootid: Some(mapped),
            ..caps
        }
        .encode()),
        _ if reader.is_root_of_some_level(root_kuid) => Ok(FileCaps {
            revision: crate::xattr::Revision::V2,
            rootid: None,
            ..caps
        }
        .encode()),
        _ => Err(XattrViewError::Eoverflow),
    }
}

/// What setxattr stores when a writer in `writer`'s namespace (holding CAP_SETFCAP over the file) writes
/// `value` on a filesystem of the initial namespace (commoncap.c:cap_convert_nscap, spec §7.3): v2 from the
/// initial namespace as given; anything else as v3 whose rootid is the kernel uid of the writer's root (or of
/// the v3 rootid given, read in the writer's namespace). A zero-length value is stored as it is by the
/// kernels that take it; some 6.18 builds refuse it with EINVAL before this point.
pub fn setxattr_stored(value: &[u8], writer: &NsChain) -> Result<Vec<u8>, XattrViewError> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    let caps = strict_caps(value)?;
    if writer.is_initial() && caps.rootid.is_none() {
        return Ok(value.to_vec());
    }
    let kuid = writer
        .kuid(caps.rootid.unwrap_or(0))
        .filter(|&kuid| kuid != u32::MAX)
        .ok_or(XattrViewError::Einval)?;
    Ok(FileCaps {
        revision: crate::xattr::Revision::V3,
        rootid: Some(kuid),
        ..caps
    }
    .encode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::tests::{ns, v3, with_text, words, NR};

    #[test]
    fn spec_x1_x2_getxattr_and_setxattr_views() {
        let stored = v3(100_000);
        let ns = |outside| NsChain(vec![ns(0, outside, 65536)]);
        assert_eq!(
            getxattr_view(&stored, &NsChain::default()),
            Ok(stored.clone())
        );
        assert_eq!(
            getxattr_view(&stored, &ns(100_000)),
            Ok(words(&[0x0200_0001, NR as u32, 0, 0, 0]))
        );
        assert_eq!(
            getxattr_view(&stored, &ns(200_000)),
            Err(XattrViewError::Eoverflow)
        );
        // A rootid of -1 is no uid at all (verified: EOVERFLOW).
        assert_eq!(
            getxattr_view(&v3(u32::MAX), &NsChain::default()),
            Err(XattrViewError::Eoverflow)
        );
        // v1, stray flags and zero bytes are refused by getxattr though exec takes the first two.
        for raw in [
            words(&[0x0100_0001, NR as u32, 0]),
            words(&[0x0200_0003, NR as u32, 0, 0, 0]),
            Vec::new(),
        ] {
            assert_eq!(
                getxattr_view(&raw, &NsChain::default()),
                Err(XattrViewError::Einval)
            );
        }
        // X2: setcap cap_net_raw+ep as the root of a namespace 0->100000 stores v3 rootid 100000, which
        // getcap -n in the initial namespace shows as [rootid=100000].
        let v2_ep = with_text("cap_net_raw+ep").xattr.unwrap();
        let written = setxattr_stored(&v2_ep, &ns(100_000)).unwrap();
        assert_eq!(written, stored);
        let caps = FileCaps::decode(&written).unwrap();
        assert_eq!(
            (caps.getcap_text(41), caps.rootid),
            ("cap_net_raw=ep".to_string(), Some(100_000))
        );
        assert_eq!(
            setxattr_stored(&v2_ep, &NsChain::default()),
            Ok(v2_ep.clone())
        );
        assert_eq!(
            setxattr_stored(&words(&[0x0100_0001, NR as u32, 0]), &NsChain::default()),
            Err(XattrViewError::Einval)
        );
    }
}
