//! The two sysctls of a network namespace that decide whether a bound port needed a capability:
//! `ip_unprivileged_port_start` and `ip_local_port_range`. Files under /proc/sys/net show the reader's own
//! namespace, so for another namespace a short-lived thread joins it (which needs CAP_SYS_ADMIN) and reads
//! both there, in one visit.

use std::fs;
use std::io;
use std::ops::RangeInclusive;
use std::path::Path;

const PORT_START: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
const LOCAL_PORTS: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// What one namespace's sysctls say; a field is `None` when its file could not be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSysctls {
    pub port_start: Option<u16>,
    pub local_ports: Option<RangeInclusive<u16>>,
}

/// The sysctls of the network namespace `/proc/<pid>` (`proc_dir`) is in. An error when that namespace
/// cannot be entered.
pub fn read(proc_dir: &Path) -> io::Result<PortSysctls> {
    let theirs = capsys::net::link_inode(&proc_dir.join("ns/net"), "net")?;
    let ours = capsys::net::link_inode(Path::new("/proc/thread-self/ns/net"), "net")?;
    if theirs == ours {
        return Ok(read_here());
    }
    let ns = fs::File::open(proc_dir.join("ns/net"))?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                use std::os::fd::AsFd;
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                Ok(read_here())
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the namespace reader thread failed")))
    })
}

/// Both sysctls of the calling thread's namespace.
fn read_here() -> PortSysctls {
    PortSysctls {
        port_start: small_file(PORT_START)
            .ok()
            .and_then(|t| t.trim().parse().ok()),
        local_ports: small_file(LOCAL_PORTS).ok().and_then(|t| parse_range(&t)),
    }
}

/// A sysctl file: a few bytes, read with a bound.
fn small_file(path: &str) -> io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    fs::File::open(path)?.take(64).read_to_string(&mut text)?;
    Ok(text)
}

/// `32768\t60999` → 32768..=60999.
fn parse_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut fields = text.split_whitespace().map(str::parse::<u16>);
    let (low, high) = (fields.next()?.ok()?, fields.next()?.ok()?);
    (fields.next().is_none() && low <= high).then_some(low..=high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_range() {
        assert_eq!(parse_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_range("1 2 3"), None);
        assert_eq!(parse_range("600 500"), None);
        assert_eq!(parse_range("x 5"), None);
    }

    #[test]
    fn reads_its_own_namespace() {
        let sysctls = read(Path::new("/proc/self")).expect("own namespace");
        let start = fs::read_to_string(PORT_START).expect("sysctl");
        assert_eq!(
            sysctls.port_start.map(|p| p.to_string()),
            Some(start.trim().to_string())
        );
        assert!(sysctls.local_ports.is_some());
    }
}
