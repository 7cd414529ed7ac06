//! `rr-cli decode --mrt FILE [--roundtrip] [--keep-going]`: one JSON object per line for every BGP
//! message (BGP4MP), RIB entry and peer table (TABLE_DUMP_V2) and state change of an MRT file.
//!
//! Exit codes: 0 when every record decoded (and, with `--roundtrip`, re-encoded byte-exact);
//! [`EXIT_FAILURE`] for malformed input, I/O errors or RFC 7606 attribute errors; [`EXIT_ROUNDTRIP`] when
//! a message or record re-encodes differently. Problems go to stderr with the record number and byte
//! offset; without `--keep-going` the first one stops the run.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bgp_wire::mrt::{
    Bgp4mp, Bgp4mpMessage, Bgp4mpPeer, MrtBody, MrtError, MrtErrorKind, MrtReader, PeerIndexTable,
    ReadRecord, RibRecord, TableDumpV2, decompress, encode_rib_attributes,
};
use bgp_wire::{AttrValue, Message, PathAttribute, Update};
use bytes::BytesMut;
use serde_json::{Map, Value, json};

/// Exit code for malformed input and I/O errors.
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit code when a re-encoded message or record differs from the input.
pub(crate) const EXIT_ROUNDTRIP: u8 = 3;

/// Arguments of `rr-cli decode`.
#[derive(Debug, clap::Args)]
pub(crate) struct DecodeArgs {
    /// The MRT file; gzip and bzip2 are detected by their magic bytes. `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    mrt: PathBuf,
    /// Re-encode every message (and record) and fail at the first that differs from the input.
    #[arg(long)]
    roundtrip: bool,
    /// Report problems and carry on with the next record instead of stopping at the first.
    #[arg(long)]
    keep_going: bool,
}

/// Runs the subcommand.
pub(crate) fn run(args: &DecodeArgs) -> anyhow::Result<ExitCode> {
    let input: Box<dyn Read> = if args.mrt.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(&args.mrt).with_context(|| format!("cannot open {}", args.mrt.display()))?)
    };
    let (_, input) = decompress(BufReader::new(input)).context("cannot read the input")?;
    let stdout = io::stdout().lock();
    let mut d = Decoder {
        args,
        out: BufWriter::new(stdout),
        peers: None,
        failed: false,
        mismatched: false,
    };
    for item in MrtReader::new(input) {
        let go_on = match item {
            Ok(rec) => d.record(&rec)?,
            Err(e) => {
                let fatal = e.is_fatal();
                d.malformed(&e);
                !fatal && args.keep_going
            }
        };
        if !go_on {
            break;
        }
    }
    match d.out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        other => other.context("cannot write to stdout")?,
    }
    Ok(ExitCode::from(if d.failed {
        EXIT_FAILURE
    } else if d.mismatched {
        EXIT_ROUNDTRIP
    } else {
        0
    }))
}

struct Decoder<'a, W: Write> {
    args: &'a DecodeArgs,
    out: W,
    /// The last PEER_INDEX_TABLE, for RIB entries' peer indexes.
    peers: Option<PeerIndexTable>,
    failed: bool,
    mismatched: bool,
}

impl<W: Write> Decoder<'_, W> {
    fn malformed(&mut self, e: &MrtError) {
        eprintln!("error: {e}");
        self.failed = true;
    }

    /// Reports a round-trip difference; `base` is the stream offset of `want[0]`.
    fn mismatch(&mut self, number: u64, what: &str, base: u64, want: &[u8], got: &[u8]) {
        let at = first_difference(want, got);
        eprintln!(
            "roundtrip: mrt record {number}: {what} re-encodes differently at byte offset {} ({what} octet {at}; \
             {} octets in, {} out)",
            base + at as u64,
            want.len(),
            got.len()
        );
        self.mismatched = true;
    }

    fn emit(&mut self, v: &Value) -> anyhow::Result<bool> {
        let line = serde_json::to_string(v)?;
        match writeln!(self.out, "{line}") {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e).context("cannot write to stdout"),
        }
    }

    /// Handles one record; returns whether to go on.
    fn record(&mut self, rec: &ReadRecord) -> anyhow::Result<bool> {
        let (failed, mismatched) = (self.failed, self.mismatched);
        if self.args.roundtrip {
            match rec.record.to_bytes() {
                Ok(bytes) if bytes[..] == rec.raw[..] => {}
                Ok(bytes) => self.mismatch(rec.number, "record", rec.offset, &rec.raw, &bytes),
                Err(e) => {
                    eprintln!(
                        "roundtrip: mrt record {}: record does not re-encode: {e}",
                        rec.number
                    );
                    self.mismatched = true;
                }
            }
        }
        let go_on = match &rec.record.body {
            MrtBody::Bgp4mp(Bgp4mp::Message(m)) => self.message(rec, m)?,
            MrtBody::Bgp4mp(Bgp4mp::StateChange(s)) => {
                let mut o = header(rec, "state_change");
                session(&mut o, &s.peer);
                o.insert("old_state".into(), json!(s.old_state));
                o.insert("new_state".into(), json!(s.new_state));
                self.emit(&Value::Object(o))?
            }
            MrtBody::TableDumpV2(TableDumpV2::PeerIndexTable(t)) => {
                let mut o = header(rec, "peer_index_table");
                o.insert("collector_bgp_id".into(), json!(t.collector_bgp_id));
                o.insert("view_name".into(), json!(String::from_utf8_lossy(&t.view_name)));
                o.insert("peers".into(), serde_json::to_value(&t.peers)?);
                self.peers = Some(t.clone());
                self.emit(&Value::Object(o))?
            }
            MrtBody::TableDumpV2(TableDumpV2::Rib(r)) => self.rib(rec, r)?,
            _ => {
                let mut o = header(rec, "other");
                o.insert("length".into(), json!(rec.raw.len()));
                self.emit(&Value::Object(o))?
            }
        };
        let clean = failed == self.failed && mismatched == self.mismatched;
        Ok(go_on && (clean || self.args.keep_going))
    }

    fn message(&mut self, rec: &ReadRecord, m: &Bgp4mpMessage) -> anyhow::Result<bool> {
        let base = rec.message_offset().unwrap_or(rec.offset);
        let (msg, errors) = match m.decode() {
            Ok(ok) => ok,
            Err(e) => {
                self.malformed(&MrtError::new(
                    rec.number,
                    base + e.offset as u64,
                    MrtErrorKind::Bgp(e),
                ));
                return Ok(true);
            }
        };
        let mut o = header(rec, message_type(&msg));
        session(&mut o, &m.peer);
        o.insert(
            "direction".into(),
            json!(if m.local { "sent" } else { "received" }),
        );
        o.insert("as4".into(), json!(m.as4));
        o.insert("add_path".into(), json!(m.add_path));
        describe_message(&msg, &mut o)?;
        o.insert("message".into(), serde_json::to_value(&msg)?);
        o.insert(
            "attribute_errors".into(),
            json!(errors.iter().map(|e| e.to_string()).collect::<Vec<_>>()),
        );
        let go_on = self.emit(&Value::Object(o))?;
        for e in errors {
            let off = base + e.offset as u64;
            self.malformed(&MrtError::new(rec.number, off, MrtErrorKind::Bgp(e)));
        }
        if self.args.roundtrip {
            match msg.to_bytes(&m.encode_ctx()) {
                Ok(bytes) if bytes == m.message => {}
                Ok(bytes) => self.mismatch(rec.number, "message", base, &m.message, &bytes),
                Err(e) => {
                    eprintln!(
                        "roundtrip: mrt record {}: message does not re-encode: {e}",
                        rec.number
                    );
                    self.mismatched = true;
                }
            }
        }
        Ok(go_on)
    }

    fn rib(&mut self, rec: &ReadRecord, r: &RibRecord) -> anyhow::Result<bool> {
        let family = r.afi_safi();
        for (i, e) in r.entries.iter().enumerate() {
            // The attributes are a slice of the record: their stream offset is the record's plus the
            // distance between the two buffers.
            let within = (e.attributes.as_ptr() as usize).wrapping_sub(rec.raw.as_ptr() as usize);
            let base = rec.offset + if within <= rec.raw.len() { within as u64 } else { 0 };
            let (attrs, errors) = match e.decode_attributes(family) {
                Ok(ok) => ok,
                Err(err) => {
                    self.malformed(&MrtError::new(
                        rec.number,
                        base + err.offset as u64,
                        MrtErrorKind::Bgp(err),
                    ));
                    if !self.args.keep_going {
                        return Ok(false);
                    }
                    continue;
                }
            };
            let mut o = header(rec, "rib_entry");
            o.insert("entry".into(), json!(i));
            o.insert("sequence".into(), json!(r.sequence));
            o.insert("afi_safi".into(), serde_json::to_value(family)?);
            o.insert("prefix".into(), json!(r.prefix.to_string()));
            if let Some(id) = e.path_id {
                o.insert("path_id".into(), json!(id));
            }
            o.insert("peer_index".into(), json!(e.peer_index));
            match self
                .peers
                .as_ref()
                .and_then(|t| t.peers.get(usize::from(e.peer_index)))
            {
                Some(p) => {
                    o.insert(
                        "peer".into(),
                        json!({ "asn": p.asn, "ip": p.ip, "bgp_id": p.bgp_id }),
                    );
                }
                None => {
                    // A dangling index is the writer's bookkeeping slip (GoBGP gives its own routes an
                    // index past its table), not undecodable data: warn, keep going, exit 0.
                    let kind = MrtErrorKind::UnknownPeerIndex(e.peer_index);
                    eprintln!("warning: {}", MrtError::new(rec.number, rec.offset, kind));
                    o.insert("peer".into(), Value::Null);
                }
            }
            o.insert("originated_time".into(), json!(e.originated_time));
            describe_attributes(&attrs, &mut o);
            o.insert("attributes".into(), serde_json::to_value(&attrs)?);
            o.insert(
                "attribute_errors".into(),
                json!(errors.iter().map(|e| e.to_string()).collect::<Vec<_>>()),
            );
            if !self.emit(&Value::Object(o))? {
                return Ok(false);
            }
            for err in errors {
                self.malformed(&MrtError::new(
                    rec.number,
                    base + err.offset as u64,
                    MrtErrorKind::Bgp(err),
                ));
            }
            if self.args.roundtrip {
                let mut bytes = BytesMut::new();
                match encode_rib_attributes(&attrs, &mut bytes) {
                    Ok(()) if bytes[..] == e.attributes[..] => {}
                    Ok(()) => self.mismatch(rec.number, "rib entry attributes", base, &e.attributes, &bytes),
                    Err(err) => {
                        eprintln!(
                            "roundtrip: mrt record {}: rib entry {i} does not re-encode: {err}",
                            rec.number
                        );
                        self.mismatched = true;
                    }
                }
            }
        }
        Ok(true)
    }
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

fn message_type(m: &Message) -> &'static str {
    match m {
        Message::Open(_) => "open",
        Message::Update(_) => "update",
        Message::Notification(_) => "notification",
        Message::Keepalive => "keepalive",
        Message::RouteRefresh(_) => "route_refresh",
        _ => "other",
    }
}

/// The fields every object starts with.
fn header(rec: &ReadRecord, kind: &str) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("record".into(), json!(rec.number));
    o.insert("offset".into(), json!(rec.offset));
    o.insert("timestamp".into(), json!(rec.record.timestamp));
    if let Some(us) = rec.record.microseconds {
        o.insert("microseconds".into(), json!(us));
    }
    o.insert("mrt_type".into(), json!(rec.record.mrt_type()));
    o.insert("mrt_subtype".into(), json!(rec.record.subtype()));
    o.insert("type".into(), json!(kind));
    o
}

fn session(o: &mut Map<String, Value>, p: &Bgp4mpPeer) {
    o.insert("peer".into(), json!({ "asn": p.peer_as, "ip": p.peer_ip }));
    o.insert("local".into(), json!({ "asn": p.local_as, "ip": p.local_ip }));
    o.insert("interface_index".into(), json!(p.interface_index));
}

/// Flat, grep-friendly fields for a message; the complete structure goes under "message".
fn describe_message(msg: &Message, o: &mut Map<String, Value>) -> anyhow::Result<()> {
    match msg {
        Message::Open(open) => {
            o.insert("asn".into(), json!(open.asn()));
            o.insert("hold_time".into(), serde_json::to_value(open.hold_time)?);
            o.insert("bgp_id".into(), serde_json::to_value(open.bgp_id)?);
            let caps: Vec<_> = open.capabilities().collect();
            o.insert("capabilities".into(), serde_json::to_value(caps)?);
        }
        Message::Update(u) => describe_update(u, o)?,
        Message::Notification(n) => {
            o.insert("code".into(), json!(n.code));
            o.insert("subcode".into(), json!(n.subcode));
            o.insert("description".into(), json!(n.description()));
            match n.shutdown_message() {
                Some(Ok(text)) => {
                    o.insert("shutdown_message".into(), json!(text));
                }
                Some(Err(e)) => {
                    o.insert("shutdown_message_error".into(), json!(e.to_string()));
                }
                None => {}
            }
            o.insert("data".into(), json!(hex(&n.data)));
        }
        _ => {}
    }
    Ok(())
}

fn describe_update(u: &Update, o: &mut Map<String, Value>) -> anyhow::Result<()> {
    let nlri = |list: Vec<(bgp_wire::AfiSafi, &bgp_wire::Nlri)>| -> anyhow::Result<Value> {
        let mut v = Vec::with_capacity(list.len());
        for (f, n) in list {
            let mut e = Map::new();
            e.insert("afi_safi".into(), serde_json::to_value(f)?);
            e.insert("prefix".into(), json!(n.prefix.to_string()));
            if let Some(id) = n.path_id {
                e.insert("path_id".into(), json!(id));
            }
            v.push(Value::Object(e));
        }
        Ok(Value::Array(v))
    };
    o.insert("announced".into(), nlri(u.announced().collect())?);
    o.insert("withdrawn".into(), nlri(u.withdrawals().collect())?);
    if let Some(f) = u.end_of_rib() {
        o.insert("end_of_rib".into(), serde_json::to_value(f)?);
    }
    describe_attributes(&u.attributes, o);
    Ok(())
}

fn describe_attributes(attrs: &[PathAttribute], o: &mut Map<String, Value>) {
    let strings = |v: Vec<String>| json!(v);
    let mut next_hops = Vec::new();
    for a in attrs {
        match &a.value {
            AttrValue::Origin(x) => {
                o.insert("origin".into(), json!(format!("{x:?}").to_lowercase()));
            }
            AttrValue::AsPath(p) => {
                o.insert("as_path".into(), json!(p.to_string()));
            }
            AttrValue::As4Path(p) => {
                o.insert("as4_path".into(), json!(p.to_string()));
            }
            AttrValue::NextHop(nh) => next_hops.push(nh.to_string()),
            AttrValue::MpReach(m) => match &m.next_hop {
                bgp_wire::MpNextHop::Ipv4(a) => next_hops.push(a.to_string()),
                bgp_wire::MpNextHop::Ipv6 { global, link_local } => {
                    next_hops.push(global.to_string());
                    next_hops.extend(link_local.map(|l| l.to_string()));
                }
                other => next_hops.push(format!("{other:?}")),
            },
            AttrValue::MultiExitDisc(v) => {
                o.insert("med".into(), json!(v));
            }
            AttrValue::LocalPref(v) => {
                o.insert("local_pref".into(), json!(v));
            }
            AttrValue::AtomicAggregate => {
                o.insert("atomic_aggregate".into(), json!(true));
            }
            AttrValue::Aggregator(g) | AttrValue::As4Aggregator(g) => {
                let key = if matches!(a.value, AttrValue::Aggregator(_)) {
                    "aggregator"
                } else {
                    "as4_aggregator"
                };
                o.insert(key.into(), json!({ "asn": g.asn, "address": g.address }));
            }
            AttrValue::Communities(c) => {
                o.insert(
                    "communities".into(),
                    strings(c.iter().map(|c| c.to_string()).collect()),
                );
            }
            AttrValue::ExtendedCommunities(c) => {
                o.insert(
                    "extended_communities".into(),
                    strings(c.iter().map(|c| c.to_string()).collect()),
                );
            }
            AttrValue::LargeCommunities(c) => {
                o.insert(
                    "large_communities".into(),
                    strings(c.iter().map(|c| c.to_string()).collect()),
                );
            }
            AttrValue::OriginatorId(id) => {
                o.insert("originator_id".into(), json!(id));
            }
            AttrValue::ClusterList(l) => {
                o.insert("cluster_list".into(), json!(l));
            }
            AttrValue::OnlyToCustomer(asn) => {
                o.insert("only_to_customer".into(), json!(asn));
            }
            _ => {}
        }
    }
    if !next_hops.is_empty() {
        o.insert("next_hops".into(), json!(next_hops));
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
