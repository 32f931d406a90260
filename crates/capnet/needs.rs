//! Which network capabilities a socket needs, and which a process holds without a socket that needs them:
//! the first step of least privilege for a network daemon.
//!
//! A TCP listener, or a UDP, UDP-Lite socket bound to a port below the namespace's
//! `net.ipv4.ip_unprivileged_port_start`, needed cap_net_bind_service to bind; a raw or packet socket
//! needed cap_net_raw to open. Connected TCP sockets are left out: an accepted connection shares its
//! listener's port without having bound it. cap_net_admin and cap_net_broadcast are never needed by a
//! socket alone, so holding them always counts as unneeded here.

use capcore::{Cap, CapSet};
use capsys::net::{Proto, Socket};

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

/// What opening and binding `socket` needed, in a namespace whose unprivileged ports start at `port_start`.
pub fn socket_needs(socket: &Socket, port_start: u16) -> CapSet {
    match socket.proto {
        Proto::Raw | Proto::Raw6 | Proto::Packet => Cap::NET_RAW.into(),
        Proto::Tcp | Proto::Tcp6 if !socket.is_listening() => CapSet::EMPTY,
        Proto::Tcp | Proto::Tcp6 | Proto::Udp | Proto::Udp6 | Proto::Udplite | Proto::Udplite6 => {
            match socket.local_port() {
                Some(port) if port != 0 && port < port_start => Cap::NET_BIND_SERVICE.into(),
                _ => CapSet::EMPTY,
            }
        }
        Proto::Unix => CapSet::EMPTY,
    }
}

/// The network capabilities held (permitted) that none of the sockets needs.
pub fn unneeded(permitted: CapSet, needs: CapSet) -> CapSet {
    (permitted & network_caps()) - needs
}

#[cfg(test)]
mod tests {
    use super::*;
    use capsys::net::Endpoint;
    use std::net::{IpAddr, Ipv4Addr};

    fn socket(proto: Proto, state: &'static str, port: u16) -> Socket {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Socket {
            proto,
            inode: 1,
            state,
            local: match proto {
                Proto::Raw => Endpoint::Raw(ip, 1),
                _ => Endpoint::Inet(ip, port),
            },
            remote: None,
            uid: Some(0),
            options: Default::default(),
        }
    }

    #[test]
    fn privileged_ports_and_raw_sockets() {
        let bind = CapSet::from(Cap::NET_BIND_SERVICE);
        assert_eq!(socket_needs(&socket(Proto::Tcp, "LISTEN", 80), 1024), bind);
        assert_eq!(
            socket_needs(&socket(Proto::Tcp, "LISTEN", 8080), 1024),
            CapSet::EMPTY
        );
        assert_eq!(
            socket_needs(&socket(Proto::Tcp, "LISTEN", 80), 80),
            CapSet::EMPTY
        );
        assert_eq!(
            socket_needs(&socket(Proto::Tcp, "ESTABLISHED", 22), 1024),
            CapSet::EMPTY
        );
        assert_eq!(socket_needs(&socket(Proto::Udp6, "UNCONN", 53), 1024), bind);
        assert_eq!(
            socket_needs(&socket(Proto::Udp, "UNCONN", 0), 1024),
            CapSet::EMPTY
        );
        assert_eq!(
            socket_needs(&socket(Proto::Raw, "UNCONN", 0), 1024),
            Cap::NET_RAW.into()
        );
    }

    #[test]
    fn unneeded_is_held_minus_needed() {
        let held = CapSet::from_caps([Cap::NET_ADMIN, Cap::NET_RAW, Cap::CHOWN]);
        assert_eq!(unneeded(held, Cap::NET_RAW.into()), Cap::NET_ADMIN.into());
    }
}
