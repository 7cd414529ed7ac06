//! A hand-driven BGP speaker over a plain TCP socket, for malformed input and slow-reader tests.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

pub fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

pub fn open(router_id: Ipv4Addr) -> Vec<u8> {
    open_with(router_id, 64512, 90)
}

/// An OPEN from AS `asn` (2-octet field and 4-octet capability) with `hold` seconds.
pub fn open_with(router_id: Ipv4Addr, asn: u16, hold: u16) -> Vec<u8> {
    let a = u32::from(asn).to_be_bytes();
    let caps: Vec<u8> = [
        &[1u8, 4, 0, 1, 0, 1][..],              // multiprotocol IPv4 unicast
        &[65u8, 4, a[0], a[1], a[2], a[3]][..], // 4-octet AS
    ]
    .concat();
    let mut body = vec![4u8];
    body.extend_from_slice(&asn.to_be_bytes());
    body.extend_from_slice(&hold.to_be_bytes());
    body.extend_from_slice(&router_id.octets());
    body.push(2 + caps.len() as u8);
    body.push(2);
    body.push(caps.len() as u8);
    body.extend_from_slice(&caps);
    msg(1, &body)
}

/// UPDATE announcing 10.9.0.0/26 with `origin` as the ORIGIN value.
pub fn update(origin: u8) -> Vec<u8> {
    let mut attrs = vec![0x40, 1, 1, origin];
    attrs.extend_from_slice(&[0x40, 2, 0]);
    attrs.extend_from_slice(&[0x40, 3, 4, 100, 64, 0, 9]);
    attrs.extend_from_slice(&[0x40, 5, 4]);
    attrs.extend_from_slice(&100u32.to_be_bytes());
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(&[26, 10, 9, 0, 0]);
    msg(2, &body)
}

pub struct RawPeer {
    pub s: TcpStream,
    pub buf: Vec<u8>,
}

impl RawPeer {
    /// Connects from `local` without sending anything.
    pub fn connect(local: Ipv4Addr, rr: SocketAddr) -> Result<RawPeer, String> {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .map_err(|e| e.to_string())?;
        sock.bind(&SocketAddr::new(local.into(), 0).into())
            .map_err(|e| e.to_string())?;
        sock.connect_timeout(&rr.into(), Duration::from_secs(2))
            .map_err(|e| e.to_string())?;
        let s: TcpStream = sock.into();
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        Ok(RawPeer { s, buf: Vec::new() })
    }

    /// Connects from `local` and completes the OPEN/KEEPALIVE exchange.
    pub fn establish(local: Ipv4Addr, rr: SocketAddr) -> Result<RawPeer, String> {
        Self::establish_with(local, rr, None)
    }

    /// Like [`RawPeer::establish`], with a receive buffer size (small: a slow reader).
    pub fn establish_with(local: Ipv4Addr, rr: SocketAddr, rcvbuf: Option<usize>) -> Result<RawPeer, String> {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .map_err(|e| e.to_string())?;
        if let Some(n) = rcvbuf {
            sock.set_recv_buffer_size(n).map_err(|e| e.to_string())?;
        }
        sock.bind(&SocketAddr::new(local.into(), 0).into())
            .map_err(|e| e.to_string())?;
        sock.connect_timeout(&rr.into(), Duration::from_secs(2))
            .map_err(|e| e.to_string())?;
        let s: TcpStream = sock.into();
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut p = RawPeer { s, buf: Vec::new() };
        p.send(&open(local));
        let (t, b) = p.next_msg().ok_or("no OPEN from the reflector")?;
        if t != 1 {
            return Err(format!("expected OPEN, got type {t} {b:?}"));
        }
        p.send(&msg(4, &[]));
        loop {
            match p.next_msg() {
                Some((4, _)) => return Ok(p),
                Some((3, b)) => return Err(format!("NOTIFICATION {b:?}")),
                Some(_) => {}
                None => return Err("closed before KEEPALIVE".into()),
            }
        }
    }

    pub fn send(&mut self, b: &[u8]) {
        let _ = self.s.write_all(b);
    }

    /// Next message (type, body), or `None` on EOF/timeout.
    pub fn next_msg(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 19 {
                let len = u16::from_be_bytes([self.buf[16], self.buf[17]]) as usize;
                if len >= 19 && self.buf.len() >= len {
                    let m: Vec<u8> = self.buf.drain(..len).collect();
                    return Some((m[18], m[19..].to_vec()));
                }
            }
            let mut tmp = [0u8; 4096];
            match self.s.read(&mut tmp) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
            }
        }
    }

    /// Reads until a NOTIFICATION: its (code, subcode).
    pub fn notification(&mut self) -> Option<(u8, u8)> {
        while let Some((t, b)) = self.next_msg() {
            if t == 3 && b.len() >= 2 {
                return Some((b[0], b[1]));
            }
        }
        None
    }
}
