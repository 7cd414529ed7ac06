//! Socket options the standard library and socket2 do not offer: TCP-MD5 (RFC 2385) and GTSM (RFC 5082),
//! with the SYN headers the kernel saves for an accepted connection (`TCP_SAVE_SYN`).
//!
//! This is the only module of the workspace allowed to use `unsafe`: each block is one `setsockopt(2)` or
//! `getsockopt(2)` call on a descriptor the caller owns, with a value whose layout is `#[repr(C)]` and matches
//! the Linux UAPI headers.

#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};

/// Longest TCP-MD5 key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub(crate) const MD5_MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` from `<linux/tcp.h>`.
#[repr(C)]
struct TcpMd5Sig {
    tcpm_addr: libc::sockaddr_storage,
    tcpm_flags: u8,
    tcpm_prefixlen: u8,
    tcpm_keylen: u16,
    tcpm_ifindex: libc::c_int,
    tcpm_key: [u8; MD5_MAX_KEY_LEN],
}

fn sockaddr_storage(addr: IpAddr) -> libc::sockaddr_storage {
    // SAFETY: `sockaddr_storage` is plain old data for which all-zero bytes are a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        IpAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sockaddr_storage` is larger than and suitably aligned for `sockaddr_in`.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
        }
        IpAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: a.octets() },
                sin6_scope_id: 0,
            };
            // SAFETY: `sockaddr_storage` is larger than and suitably aligned for `sockaddr_in6`.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
        }
    }
    storage
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live, initialised `T` of exactly `size_of::<T>()` bytes for the duration of
    // the call, and the kernel only reads it. An invalid `fd` makes the call fail with EBADF, nothing worse.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast::<libc::c_void>(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Install (or with `key == None` remove) the TCP-MD5 key used with `peer` on `socket`.
///
/// RFC 2385 section 2: "Every segment sent on a TCP connection to be protected against spoofing will contain
/// the 16-byte MD5 digest". On a listening socket this is set once per peer address before the peer connects
/// (Linux copies the key list to accepted sockets); on an outgoing socket before `connect`.
pub(crate) fn set_tcp_md5(socket: &impl AsRawFd, peer: IpAddr, key: Option<&[u8]>) -> io::Result<()> {
    let key = key.unwrap_or(&[]);
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TCP-MD5 key longer than {MD5_MAX_KEY_LEN} bytes"),
        ));
    }
    let mut sig = TcpMd5Sig {
        tcpm_addr: sockaddr_storage(peer),
        tcpm_flags: 0,
        tcpm_prefixlen: 0,
        tcpm_keylen: key.len() as u16,
        tcpm_ifindex: 0,
        tcpm_key: [0; MD5_MAX_KEY_LEN],
    };
    sig.tcpm_key[..key.len()].copy_from_slice(key);
    setsockopt(socket.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig)
}

/// GTSM (RFC 5082) for a peer `hops` hops away: send with TTL/hop limit 255 and drop anything that arrives
/// with less than `256 - hops`.
///
/// RFC 5082 section 3: "The GTSM ... sets the TTL on outgoing packets to 255 ... and discards incoming
/// packets whose TTL is less than 255 - (trusted hop count) + 1" (`hops` = 1 for a directly connected peer).
pub(crate) fn set_gtsm(socket: &impl AsRawFd, family_v6: bool, hops: u8) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let hops = hops.max(1);
    let min: libc::c_int = 256 - libc::c_int::from(hops);
    let ttl: libc::c_int = 255;
    if family_v6 {
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &ttl)?;
        setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &min)
    } else {
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &ttl)?;
        setsockopt(fd, libc::IPPROTO_IP, libc::IP_MINTTL, &min)
    }
}

/// Send with TTL (IPv4) or hop limit (IPv6) 255, without a minimum for what arrives: for listening sockets,
/// whose SYN-ACKs must reach GTSM peers (RFC 5082 section 3) while peers without GTSM still connect.
pub(crate) fn set_ttl_255(socket: &impl AsRawFd, family_v6: bool) -> io::Result<()> {
    let ttl: libc::c_int = 255;
    if family_v6 {
        setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_UNICAST_HOPS,
            &ttl,
        )
    } else {
        setsockopt(socket.as_raw_fd(), libc::IPPROTO_IP, libc::IP_TTL, &ttl)
    }
}

/// Make the kernel keep each incoming SYN's headers for the accepted socket (`TCP_SAVE_SYN`), so that
/// [`syn_ttl`] can check the TTL of the handshake of a GTSM peer.
pub(crate) fn save_syn(socket: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    setsockopt(socket.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_SAVE_SYN, &on)
}

/// The TTL (IPv4) or hop limit (IPv6) the SYN of an accepted connection arrived with, from the headers
/// saved by [`save_syn`] on its listener (`TCP_SAVED_SYN`; the kernel hands them out once).
pub(crate) fn syn_ttl(socket: &impl AsRawFd) -> io::Result<u8> {
    let mut buf = [0u8; 512];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` and `len` are live locals; the kernel writes at most `len` bytes into `buf`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_SAVED_SYN,
            buf.as_mut_ptr().cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let hdr = &buf[..(len as usize).min(buf.len())];
    // The saved headers start with the IP header: version 4 has the TTL at byte 8, version 6 the hop limit
    // at byte 7.
    match (hdr.first().map(|b| b >> 4), hdr) {
        (Some(4), h) if h.len() >= 20 => Ok(h[8]),
        (Some(6), h) if h.len() >= 40 => Ok(h[7]),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no saved SYN header on the accepted socket",
        )),
    }
}

/// GTSM on an accepted connection of a peer `hops` hops away: the SYN must have arrived with at least
/// `256 - hops` (checked from the saved headers), then the socket gets [`set_gtsm`] for what follows.
pub(crate) fn accept_gtsm(socket: &impl AsRawFd, family_v6: bool, hops: u8) -> io::Result<()> {
    let min = 256 - u16::from(hops.max(1));
    let ttl = syn_ttl(socket)?;
    if u16::from(ttl) < min {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("SYN arrived with TTL {ttl}, GTSM requires at least {min}"),
        ));
    }
    set_gtsm(socket, family_v6, hops)
}

/// `IPV6_V6ONLY`: an IPv6 socket that takes IPv6 only (IPv4 has its own listener).
pub(crate) fn set_v6_only(socket: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    setsockopt(socket.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &on)
}

/// Read back `IP_MINTTL` (for tests).
#[cfg(test)]
pub(crate) fn min_ttl(socket: &impl AsRawFd) -> io::Result<i32> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are live locals; the kernel writes at most `len` bytes into `v`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MINTTL,
            (&mut v as *mut libc::c_int).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(v)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::Duration;

    fn connect_with_key(port: u16, key: Option<&[u8]>) -> io::Result<TcpStream> {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        set_tcp_md5(&s, "127.0.0.1".parse().expect("ip"), key)?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        s.connect_timeout(&addr.into(), Duration::from_millis(700))?;
        Ok(s.into())
    }

    #[test]
    fn md5_matching_keys_connect_and_mismatch_does_not() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        set_tcp_md5(&l, "127.0.0.1".parse().expect("ip"), Some(b"s3cret")).expect("md5 on listener");
        l.set_nonblocking(false).expect("blocking");

        let mut c = connect_with_key(port, Some(b"s3cret")).expect("matching key connects");
        let (mut a, _) = l.accept().expect("accept");
        c.write_all(b"hi").expect("write");
        let mut buf = [0u8; 2];
        a.read_exact(&mut buf).expect("read");
        assert_eq!(&buf, b"hi");

        // Without a key (or with the wrong one) the SYN is dropped by the listener: the connect times out.
        assert!(connect_with_key(port, None).is_err());
        assert!(connect_with_key(port, Some(b"wrong")).is_err());
    }

    #[test]
    fn md5_key_too_long_is_rejected() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let key = [b'k'; MD5_MAX_KEY_LEN + 1];
        assert!(set_tcp_md5(&l, "127.0.0.1".parse().expect("ip"), Some(&key)).is_err());
    }

    #[test]
    fn gtsm_sets_min_ttl() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        set_gtsm(&l, false, 1).expect("gtsm");
        assert_eq!(min_ttl(&l).expect("get"), 255);
        set_gtsm(&l, false, 3).expect("gtsm");
        assert_eq!(min_ttl(&l).expect("get"), 253);
        // A SYN sent with the default TTL (64) is dropped by the listener; one sent with TTL 255 (GTSM on the
        // connecting side too) gets through.
        let addr: SocketAddr = l.local_addr().expect("addr");
        let plain = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        plain.set_ttl_v4(64).expect("ttl");
        assert!(
            plain
                .connect_timeout(&addr.into(), Duration::from_millis(500))
                .is_err()
        );
        let gtsm = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        set_gtsm(&gtsm, false, 1).expect("gtsm on client");
        gtsm.connect_timeout(&addr.into(), Duration::from_millis(2000))
            .expect("TTL 255 connects");
        let c: TcpStream = gtsm.into();
        assert_eq!(c.ttl().expect("ttl"), 255);
    }

    fn socket(v6: bool) -> socket2::Socket {
        let d = if v6 {
            socket2::Domain::IPV6
        } else {
            socket2::Domain::IPV4
        };
        socket2::Socket::new(d, socket2::Type::STREAM, None).expect("socket")
    }

    fn listener(v6: bool, ttl_255: bool) -> (socket2::Socket, SocketAddr) {
        let l = socket(v6);
        if ttl_255 {
            set_ttl_255(&l, v6).expect("ttl 255");
        }
        save_syn(&l).expect("save syn");
        let addr: SocketAddr = if v6 { "[::1]:0" } else { "127.0.0.1:0" }.parse().expect("addr");
        l.bind(&addr.into()).expect("bind");
        l.listen(8).expect("listen");
        let addr = l.local_addr().expect("addr").as_socket().expect("inet");
        (l, addr)
    }

    /// Both directions of GTSM on one family, on loopback where nothing decrements the TTL: a GTSM peer
    /// connecting to our listener needs its SYN-ACK at TTL 255; on an accepted socket, segments from a peer
    /// sending with TTL 64 are dropped and segments at 255 arrive.
    fn gtsm_both_directions(v6: bool) {
        // A GTSM client (min TTL 255) cannot complete the handshake with a plain listener (SYN-ACK at 64)...
        let (_plain, addr) = listener(v6, false);
        let c = socket(v6);
        set_gtsm(&c, v6, 1).expect("gtsm client");
        assert!(
            c.connect_timeout(&addr.into(), Duration::from_millis(500))
                .is_err()
        );
        // ...and can with a listener sending at 255.
        let (l, addr) = listener(v6, true);
        let c = socket(v6);
        set_gtsm(&c, v6, 1).expect("gtsm client");
        c.connect_timeout(&addr.into(), Duration::from_millis(2000))
            .expect("SYN-ACK at TTL 255 accepted");
        let (accepted, _) = l.accept().expect("accept");
        accept_gtsm(&accepted, v6, 1).expect("SYN at TTL 255 passes");
        let mut c: TcpStream = c.into();
        let mut a: TcpStream = accepted.into();
        a.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        c.write_all(b"ok").expect("write");
        let mut buf = [0u8; 2];
        a.read_exact(&mut buf).expect("TTL 255 data arrives");
        assert_eq!(&buf, b"ok");

        // A peer without GTSM (TTL 64) connects (the listener has no minimum), but its SYN fails the check,
        // and once the accepted socket has GTSM its segments are dropped.
        let plain = socket(v6);
        if v6 {
            plain.set_unicast_hops_v6(64).expect("hops");
        } else {
            plain.set_ttl_v4(64).expect("ttl");
        }
        plain
            .connect_timeout(&addr.into(), Duration::from_millis(2000))
            .expect("plain connect");
        let (accepted, _) = l.accept().expect("accept");
        let e = accept_gtsm(&accepted, v6, 1).expect_err("a SYN at TTL 64 is refused");
        assert!(e.to_string().contains("TTL 64"), "{e}");
        set_gtsm(&accepted, v6, 1).expect("gtsm accepted");
        let mut p: TcpStream = plain.into();
        let mut a: TcpStream = accepted.into();
        a.set_read_timeout(Some(Duration::from_millis(700)))
            .expect("timeout");
        p.write_all(b"no").expect("write");
        assert!(
            a.read_exact(&mut buf).is_err(),
            "a TTL 64 segment got through GTSM"
        );
    }

    #[test]
    fn gtsm_accepted_and_listener_ipv4() {
        gtsm_both_directions(false);
    }

    #[test]
    fn gtsm_accepted_and_listener_ipv6() {
        gtsm_both_directions(true);
    }
}
