//! Which network capabilities a socket needed, and which a process holds without a socket that needs them:
//! the first step of least privilege for a network daemon.
//!
//! The rules follow the kernel's checks (Linux 6.18), each made in the socket's network namespace:
//!
//! - Binding a TCP, UDP or UDP-Lite port below `net.ipv4.ip_unprivileged_port_start` needs
//!   cap_net_bind_service (`inet_bind` → `__inet_bind`, `inet_port_requires_bind_service`; IPv6 the
//!   same). That holds for listeners, datagram sockets and connected clients alike. A port the kernel
//!   picked itself (bind to port 0, connect or listen without bind) comes from `ip_local_port_range`
//!   (`inet_csk_find_open_port`, `__inet_hash_connect`, `udp_lib_get_port`) and needed nothing; the
//!   kernel keeps that range at or above the unprivileged start (writing either sysctl fails otherwise),
//!   so a port below the start and outside the range was bound explicitly. A TCP socket accepted from a
//!   listener on the same port and address shares the listener's port without binding it: the listener
//!   needed the capability, the accepted socket did not.
//! - Opening a raw (`inet_create`, SOCK_RAW) or packet (`packet_create`) socket needs cap_net_raw.
//! - A non-zero SO_MARK needs cap_net_raw or cap_net_admin (`sk_setsockopt`); IP_TRANSPARENT and
//!   IPV6_TRANSPARENT need cap_net_raw or cap_net_admin (`do_ip_setsockopt`, `do_ipv6_setsockopt`).
//!   Accepted sockets inherit both from their listener (and may take the mark of the SYN with
//!   `tcp_fwmark_accept`), so only sockets that are not accepted count.
//!
//! A need of "one of two" is resolved against what the process holds: a capability already needed
//! otherwise satisfies it; else the held ones of the two are named; else both (it held neither: the
//! option was set before it dropped them). `--unneeded` therefore never lists a capability that may be the
//! one in use.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use capcore::{Cap, CapSet};
use capsys::net::{Endpoint, Proto, Socket};

/// The capabilities this module reasons about.
pub const NETWORK_CAPS: [Cap; 4] = [
    Cap::NET_BIND_SERVICE,
    Cap::NET_RAW,
    Cap::NET_ADMIN,
    Cap::NET_BROADCAST,
];

pub fn network_caps() -> CapSet {
    CapSet::from_caps(NETWORK_CAPS)
}

/// What a socket needed: every capability in `all`, and one capability of each set in `one_of`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Need {
    pub all: CapSet,
    pub one_of: Vec<CapSet>,
}

impl Need {
    fn add_one_of(&mut self, set: CapSet) {
        if !self.one_of.contains(&set) {
            self.one_of.push(set);
        }
    }

    /// Adds another socket's needs (a process needs what all of its sockets do).
    pub fn merge(&mut self, other: &Need) {
        self.all = self.all | other.all;
        for set in &other.one_of {
            self.add_one_of(*set);
        }
    }

    /// The capabilities this need names for a process holding `held` whose sockets need `required` each
    /// (for one socket, pass the whole process's `all`): an alternative is met by a capability already
    /// required, else by the held ones of it, else it names all of it.
    pub fn resolve(&self, held: CapSet, required: CapSet) -> CapSet {
        let required = required | self.all;
        self.one_of.iter().fold(self.all, |names, set| {
            if !(*set & required).is_empty() {
                names | (*set & required)
            } else if !(*set & held).is_empty() {
                names | (*set & held)
            } else {
                names | *set
            }
        })
    }
}

/// The facts of one network namespace the rules depend on.
#[derive(Clone, Debug)]
pub struct Rules {
    /// `net.ipv4.ip_unprivileged_port_start`.
    port_start: u16,
    /// `net.ipv4.ip_local_port_range`, where ports the kernel picks come from; `None` when unknown.
    local_ports: Option<RangeInclusive<u16>>,
    /// The TCP listeners' (table, address, port), to tell an accepted socket from a client that bound its
    /// port.
    listeners: HashSet<(Proto, IpAddr, u16)>,
}

/// The kernel's defaults, for a namespace whose sysctls cannot be read.
impl Default for Rules {
    fn default() -> Rules {
        Rules::new(DEFAULT_PORT_START, None, [])
    }
}

/// The port below which binding needs cap_net_bind_service when the namespace cannot be asked: the
/// kernel's default.
pub const DEFAULT_PORT_START: u16 = 1024;

impl Rules {
    pub fn new<'a>(
        port_start: u16,
        local_ports: Option<RangeInclusive<u16>>,
        sockets: impl IntoIterator<Item = &'a Socket>,
    ) -> Rules {
        let mut rules = Rules {
            port_start,
            local_ports,
            listeners: HashSet::new(),
        };
        rules.add_listeners(sockets);
        rules
    }

    /// Learns the TCP listeners among `sockets`: those a second read of the namespace found.
    pub fn add_listeners<'a>(&mut self, sockets: impl IntoIterator<Item = &'a Socket>) {
        let listeners = sockets
            .into_iter()
            .filter(|s| is_tcp(s.proto) && s.is_listening())
            .filter_map(|s| match s.local {
                Endpoint::Inet(ip, port) => Some((s.proto, ip, port)),
                _ => None,
            });
        self.listeners.extend(listeners);
    }

    /// What opening, binding and configuring `socket` needed.
    pub fn socket_needs(&self, socket: &Socket) -> Need {
        let mut need = Need::default();
        if matches!(socket.proto, Proto::Raw | Proto::Raw6 | Proto::Packet) {
            need.all = need.all | CapSet::from(Cap::NET_RAW);
        }
        if socket.proto == Proto::Unix || self.is_accepted(socket) {
            return need;
        }
        if let (true, Endpoint::Inet(_, port)) = (is_port_proto(socket.proto), &socket.local) {
            if self.was_bound_privileged(*port) {
                need.all = need.all | CapSet::from(Cap::NET_BIND_SERVICE);
            }
        }
        let raw_or_admin = CapSet::from_caps([Cap::NET_RAW, Cap::NET_ADMIN]);
        if socket.options.mark.is_some_and(|mark| mark != 0) {
            need.add_one_of(raw_or_admin);
        }
        if socket.options.transparent == Some(true) {
            need.add_one_of(raw_or_admin);
        }
        need
    }

    /// A local port below the unprivileged start that the kernel would not have picked by itself.
    fn was_bound_privileged(&self, port: u16) -> bool {
        let ephemeral = self
            .local_ports
            .as_ref()
            .is_some_and(|range| range.contains(&port));
        port != 0 && port < self.port_start && !ephemeral
    }

    /// A TCP socket that is not a listener but shares the port of a listener that would have accepted it:
    /// a listener of the same table (an accepted socket has its listener's family: a dual-stack `[::]`
    /// listener's IPv4 connections are tcp6 sockets with IPv4-mapped addresses) on the same address or the
    /// wildcard.
    fn is_accepted(&self, socket: &Socket) -> bool {
        if !is_tcp(socket.proto) || socket.is_listening() {
            return false;
        }
        let Endpoint::Inet(ip, port) = socket.local else {
            return false;
        };
        let wildcard = match socket.proto {
            Proto::Tcp => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            _ => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        [ip, wildcard]
            .into_iter()
            .any(|addr| self.listeners.contains(&(socket.proto, addr, port)))
    }
}

fn is_tcp(proto: Proto) -> bool {
    matches!(proto, Proto::Tcp | Proto::Tcp6)
}

/// The protocols with ports, which bind checks.
fn is_port_proto(proto: Proto) -> bool {
    matches!(
        proto,
        Proto::Tcp | Proto::Tcp6 | Proto::Udp | Proto::Udp6 | Proto::Udplite | Proto::Udplite6
    )
}

/// The network capabilities held (permitted) that none of the sockets needs.
pub fn unneeded(permitted: CapSet, needs: CapSet) -> CapSet {
    (permitted & network_caps()) - needs
}

#[cfg(test)]
mod tests {
    use super::*;
    use capsys::net::SocketOptions;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn socket(proto: Proto, state: &'static str, port: u16) -> Socket {
        Socket {
            proto,
            inode: 1,
            state,
            local: match proto {
                Proto::Raw => Endpoint::Raw(LOOPBACK, 1),
                Proto::Packet => Endpoint::Packet {
                    ifindex: 0,
                    ethertype: 3,
                },
                _ => Endpoint::Inet(LOOPBACK, port),
            },
            remote: None,
            uid: Some(0),
            options: SocketOptions::default(),
        }
    }

    fn connected(proto: Proto, ip: IpAddr, port: u16) -> Socket {
        Socket {
            local: Endpoint::Inet(ip, port),
            remote: Some(Endpoint::Inet(LOOPBACK, 40000)),
            ..socket(proto, "ESTABLISHED", port)
        }
    }

    fn rules(sockets: &[Socket]) -> Rules {
        Rules::new(1024, Some(32768..=60999), sockets)
    }

    fn needs(rules: &Rules, socket: &Socket) -> CapSet {
        rules
            .socket_needs(socket)
            .resolve(CapSet::EMPTY, CapSet::EMPTY)
    }

    const BIND: CapSet = CapSet::EMPTY.with(Cap::NET_BIND_SERVICE);

    #[test]
    fn privileged_ports_and_raw_sockets() {
        let r = rules(&[]);
        assert_eq!(needs(&r, &socket(Proto::Tcp, "LISTEN", 80)), BIND);
        assert_eq!(
            needs(&r, &socket(Proto::Tcp, "LISTEN", 8080)),
            CapSet::EMPTY
        );
        let low_start = Rules::new(80, Some(32768..=60999), []);
        assert_eq!(
            needs(&low_start, &socket(Proto::Tcp, "LISTEN", 80)),
            CapSet::EMPTY
        );
        assert_eq!(needs(&r, &socket(Proto::Udp6, "UNCONN", 53)), BIND);
        assert_eq!(needs(&r, &socket(Proto::Udp, "UNCONN", 0)), CapSet::EMPTY);
        assert_eq!(
            needs(&r, &socket(Proto::Raw, "UNCONN", 0)),
            Cap::NET_RAW.into()
        );
        assert_eq!(
            needs(&r, &socket(Proto::Packet, "UNCONN", 0)),
            Cap::NET_RAW.into()
        );
        assert_eq!(needs(&r, &socket(Proto::Unix, "LISTEN", 0)), CapSet::EMPTY);
    }

    #[test]
    fn clients_bound_below_the_start_needed_bind_service() {
        let r = rules(&[]);
        // A TCP client bound to 127.0.0.1:997, then connected; a connected UDP socket likewise; a bound
        // TCP socket never connected.
        assert_eq!(needs(&r, &connected(Proto::Tcp, LOOPBACK, 997)), BIND);
        assert_eq!(needs(&r, &connected(Proto::Udp, LOOPBACK, 997)), BIND);
        assert_eq!(needs(&r, &socket(Proto::Tcp6, "CLOSE", 997)), BIND);
        // An ephemeral port.
        assert_eq!(
            needs(&r, &connected(Proto::Tcp, LOOPBACK, 40001)),
            CapSet::EMPTY
        );
    }

    #[test]
    fn ports_the_kernel_picks_needed_nothing() {
        // Not reachable by the sysctls' own checks today, but a port inside the range was picked.
        let r = Rules::new(1024, Some(500..=600), []);
        assert_eq!(
            needs(&r, &connected(Proto::Tcp, LOOPBACK, 550)),
            CapSet::EMPTY
        );
        assert_eq!(needs(&r, &connected(Proto::Tcp, LOOPBACK, 499)), BIND);
        let unknown_range = Rules::new(1024, None, []);
        assert_eq!(
            needs(&unknown_range, &connected(Proto::Tcp, LOOPBACK, 550)),
            BIND
        );
    }

    #[test]
    fn accepted_sockets_share_their_listeners_port() {
        let listener = socket(Proto::Tcp, "LISTEN", 22);
        let any6 = Socket {
            proto: Proto::Tcp6,
            local: Endpoint::Inet(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 443),
            ..socket(Proto::Tcp6, "LISTEN", 443)
        };
        let r = rules(&[listener.clone(), any6]);
        assert_eq!(needs(&r, &listener), BIND);
        assert_eq!(
            needs(&r, &connected(Proto::Tcp, LOOPBACK, 22)),
            CapSet::EMPTY
        );
        // Another address on the same port: a client that bound it, not an accepted socket.
        let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(needs(&r, &connected(Proto::Tcp, other, 22)), BIND);
        // A dual-stack listener on [::]:443 accepts IPv4 connections as IPv4-mapped tcp6 sockets.
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        assert_eq!(
            needs(&r, &connected(Proto::Tcp6, mapped, 443)),
            CapSet::EMPTY
        );
        // An IPv4 socket is never accepted by a tcp6 listener (its connections are tcp6 sockets).
        assert_eq!(needs(&r, &connected(Proto::Tcp, LOOPBACK, 443)), BIND);
        // UDP has no accept: a connected UDP socket on a listener's port bound it.
        assert_eq!(needs(&r, &connected(Proto::Udp, LOOPBACK, 22)), BIND);
    }

    #[test]
    fn a_mark_or_transparency_needs_net_raw_or_net_admin() {
        let r = rules(&[]);
        let raw_or_admin = CapSet::from_caps([Cap::NET_RAW, Cap::NET_ADMIN]);
        let mut marked = socket(Proto::Udp, "UNCONN", 40000);
        marked.options.mark = Some(7);
        let need = r.socket_needs(&marked);
        assert_eq!(need.all, CapSet::EMPTY);
        assert_eq!(need.one_of, [raw_or_admin]);
        // Held neither: both are named. Held one: that one. Held both: both, and neither is unneeded.
        assert_eq!(need.resolve(CapSet::EMPTY, CapSet::EMPTY), raw_or_admin);
        let admin = CapSet::from(Cap::NET_ADMIN);
        assert_eq!(need.resolve(admin | BIND, CapSet::EMPTY), admin);
        let both = raw_or_admin | BIND;
        assert_eq!(need.resolve(both, CapSet::EMPTY), raw_or_admin);
        assert_eq!(unneeded(both, need.resolve(both, CapSet::EMPTY)), BIND);
        // A raw socket's cap_net_raw also allows the mark: cap_net_admin is then unneeded.
        let mut raw = socket(Proto::Raw, "UNCONN", 0);
        raw.options.mark = Some(7);
        let need = r.socket_needs(&raw);
        assert_eq!(need.resolve(both, CapSet::EMPTY), Cap::NET_RAW.into());
        assert_eq!(
            unneeded(both, need.resolve(both, CapSet::EMPTY)),
            admin | BIND
        );
        // Mark 0 and options the source does not show need nothing.
        marked.options = SocketOptions {
            mark: Some(0),
            transparent: None,
        };
        assert_eq!(needs(&r, &marked), CapSet::EMPTY);
        marked.options.transparent = Some(true);
        assert_eq!(needs(&r, &marked), raw_or_admin);
        // An accepted socket inherits its listener's mark: the listener needed it.
        let listener = socket(Proto::Tcp, "LISTEN", 8080);
        let mut accepted = connected(Proto::Tcp, LOOPBACK, 8080);
        accepted.options.mark = Some(7);
        assert_eq!(needs(&rules(&[listener]), &accepted), CapSet::EMPTY);
    }

    #[test]
    fn a_process_needs_what_all_its_sockets_do() {
        let r = rules(&[]);
        let mut marked = socket(Proto::Udp, "UNCONN", 40000);
        marked.options.mark = Some(1);
        let mut need = r.socket_needs(&marked);
        need.merge(&r.socket_needs(&socket(Proto::Raw, "UNCONN", 0)));
        let held = CapSet::from_caps([Cap::NET_RAW, Cap::NET_ADMIN]);
        assert_eq!(need.resolve(held, CapSet::EMPTY), Cap::NET_RAW.into());
        // The marked socket alone, judged with the process's other needs: cap_net_raw.
        assert_eq!(
            r.socket_needs(&marked).resolve(held, need.all),
            Cap::NET_RAW.into()
        );
    }

    #[test]
    fn unneeded_is_held_minus_needed() {
        let held = CapSet::from_caps([Cap::NET_ADMIN, Cap::NET_RAW, Cap::CHOWN]);
        assert_eq!(unneeded(held, Cap::NET_RAW.into()), Cap::NET_ADMIN.into());
    }
}
