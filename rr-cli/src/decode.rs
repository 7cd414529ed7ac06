//! `rr-cli decode --mrt FILE [--summary] [--roundtrip] [--keep-going]`: one JSON object per line for every
//! BGP message (BGP4MP), RIB entry and peer table (TABLE_DUMP_V2) and state change of an MRT file; with
//! `--summary`, the same decoding and checks with one summary object at the end instead ([`summary`]).
//!
//! Exit codes: 0 when every record decoded (and, with `--roundtrip`, re-encoded byte-exact);
//! [`EXIT_FAILURE`] for malformed input, I/O errors or RFC 7606 attribute errors; [`EXIT_ROUNDTRIP`] when
//! a message or record re-encodes differently. Problems go to stderr with the record number and byte
//! offset; without `--keep-going` the first one stops the run.
//!
//! RIB entries, most of a large dump, are written by [`rib_json`] straight into a byte buffer; the other
//! objects go through `serde_json`.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bgp_wire::mrt::{
    Bgp4mp, Bgp4mpMessage, Bgp4mpPeer, MrtBody, MrtError, MrtErrorKind, MrtReader, PeerIndexTable,
    ReadRecord, RibRecord, TableDumpV2, decompress, encode_rib_attributes,
};
use bgp_wire::{AttrValue, Message, PathAttribute, Update};
use bytes::BytesMut;
use serde::Serialize;
use serde_json::{Map, Value, json};

mod rib_json;
mod summary;

use rib_json::{RecordParts, RibLine, write_rib_line};
use summary::Summary;

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
    /// Decode and check everything as without it (every message, every RIB entry's attributes; the same
    /// problems on stderr, the same exit code), but print one JSON object at the end instead of one per
    /// record: records per MRT type, peers with their RIB entries, prefixes and RIB entries per address
    /// family, distinct attribute sets, BGP4MP messages per type, and the number of problems.
    #[arg(long)]
    summary: bool,
}

/// Runs the subcommand.
pub(crate) fn run(args: &DecodeArgs) -> anyhow::Result<ExitCode> {
    let input: Box<dyn Read> = if args.mrt.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(&args.mrt).with_context(|| format!("cannot open {}", args.mrt.display()))?)
    };
    let (compression, input) = decompress(BufReader::new(input)).context("cannot read the input")?;
    let stdout = io::stdout().lock();
    let mut d = Decoder {
        args,
        out: stdout,
        peers: None,
        peer_json: Vec::new(),
        parts: RecordParts::default(),
        buf: Vec::with_capacity(OUT_BUF + (1 << 12)),
        summary: args.summary.then(Box::default),
        errors: 0,
        warnings: 0,
        mismatches: 0,
    };
    let mut reader = MrtReader::new(input);
    let mut complete = true;
    for item in reader.by_ref() {
        let go_on = match item {
            Ok(rec) => d.record(&rec)?,
            Err(e) => {
                let fatal = e.is_fatal();
                d.malformed(&e);
                !fatal && args.keep_going
            }
        };
        if !go_on {
            complete = false;
            break;
        }
    }
    if let Some(s) = &d.summary {
        let end = summary::End {
            file: args.mrt.display().to_string(),
            compression,
            octets: reader.offset(),
            complete,
            peers: d.peers.as_ref(),
            errors: d.errors,
            warnings: d.warnings,
            mismatches: d.mismatches,
        };
        serde_json::to_writer_pretty(&mut d.buf, &s.report(end))?;
        d.buf.push(b'\n');
    }
    d.out
        .write_all(&d.buf)
        .and_then(|()| d.out.flush())
        .or_else(broken_pipe)?;
    Ok(ExitCode::from(if d.errors > 0 {
        EXIT_FAILURE
    } else if d.mismatches > 0 {
        EXIT_ROUNDTRIP
    } else {
        0
    }))
}

/// A closed output (`| head`) ends the run quietly; any other write error is reported.
fn broken_pipe(e: io::Error) -> anyhow::Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e).context("cannot write to stdout")
    }
}

/// Output is written to stdout in chunks of this size (at least), each ending with a whole line.
const OUT_BUF: usize = 1 << 16;

struct Decoder<'a, W: Write> {
    args: &'a DecodeArgs,
    out: W,
    /// The last PEER_INDEX_TABLE, for RIB entries' peer indexes.
    peers: Option<PeerIndexTable>,
    /// Each peer of `peers` as JSON, written into every RIB entry of the peer.
    peer_json: Vec<Vec<u8>>,
    /// The current RIB record's share of its entries' lines.
    parts: RecordParts,
    /// Lines not yet written to `out` (one buffer for the whole run).
    buf: Vec<u8>,
    /// With `--summary`: the counts, and nothing printed per record.
    summary: Option<Box<Summary>>,
    /// Problems reported on stderr: malformed input and attribute errors, unknown peer indexes,
    /// round-trip differences.
    errors: u64,
    warnings: u64,
    mismatches: u64,
}

impl<W: Write> Decoder<'_, W> {
    fn malformed(&mut self, e: &MrtError) {
        eprintln!("error: {e}");
        self.errors += 1;
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
        self.mismatches += 1;
    }

    fn emit(&mut self, v: &Value) -> anyhow::Result<bool> {
        serde_json::to_writer(&mut self.buf, v)?;
        self.end_line()
    }

    /// Ends the line just appended to `self.buf`, and writes the buffer out once it is full; returns
    /// false when the output is closed.
    fn end_line(&mut self) -> anyhow::Result<bool> {
        self.buf.push(b'\n');
        if self.buf.len() < OUT_BUF {
            return Ok(true);
        }
        let res = self.out.write_all(&self.buf);
        self.buf.clear();
        match res {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e).context("cannot write to stdout"),
        }
    }

    /// Handles one record; returns whether to go on.
    fn record(&mut self, rec: &ReadRecord) -> anyhow::Result<bool> {
        let (errors, mismatches) = (self.errors, self.mismatches);
        if let Some(s) = &mut self.summary {
            s.record(&rec.record);
        }
        if self.args.roundtrip {
            match rec.record.to_bytes() {
                Ok(bytes) if bytes[..] == rec.raw[..] => {}
                Ok(bytes) => self.mismatch(rec.number, "record", rec.offset, &rec.raw, &bytes),
                Err(e) => {
                    eprintln!(
                        "roundtrip: mrt record {}: record does not re-encode: {e}",
                        rec.number
                    );
                    self.mismatches += 1;
                }
            }
        }
        let go_on = match &rec.record.body {
            MrtBody::Bgp4mp(Bgp4mp::Message(m)) => self.message(rec, m)?,
            MrtBody::Bgp4mp(Bgp4mp::StateChange(s)) => {
                if let Some(sum) = &mut self.summary {
                    sum.state_change();
                    true
                } else {
                    let mut o = header(rec, "state_change");
                    session(&mut o, &s.peer);
                    o.insert("old_state".into(), json!(s.old_state));
                    o.insert("new_state".into(), json!(s.new_state));
                    self.emit(&Value::Object(o))?
                }
            }
            MrtBody::TableDumpV2(TableDumpV2::PeerIndexTable(t)) => {
                self.peers = Some(t.clone());
                self.peer_json = t
                    .peers
                    .iter()
                    .map(|p| {
                        serde_json::to_vec(&PeerJson {
                            asn: p.asn,
                            bgp_id: p.bgp_id,
                            ip: p.ip,
                        })
                    })
                    .collect::<Result<_, _>>()?;
                if let Some(s) = &mut self.summary {
                    s.peer_index_table();
                    true
                } else {
                    let mut o = header(rec, "peer_index_table");
                    o.insert("collector_bgp_id".into(), json!(t.collector_bgp_id));
                    o.insert("view_name".into(), json!(String::from_utf8_lossy(&t.view_name)));
                    o.insert("peers".into(), serde_json::to_value(&t.peers)?);
                    self.emit(&Value::Object(o))?
                }
            }
            MrtBody::TableDumpV2(TableDumpV2::Rib(r)) => self.rib(rec, r)?,
            _ if self.summary.is_some() => true,
            _ => {
                let mut o = header(rec, "other");
                o.insert("length".into(), json!(rec.raw.len()));
                self.emit(&Value::Object(o))?
            }
        };
        let clean = errors == self.errors && mismatches == self.mismatches;
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
        let go_on = if let Some(s) = &mut self.summary {
            s.message(message_type(&msg), &msg);
            true
        } else {
            self.describe(rec, m, &msg, &errors)?
        };
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
                    self.mismatches += 1;
                }
            }
        }
        Ok(go_on)
    }

    /// Prints a BGP4MP message's object; returns whether to go on.
    fn describe(
        &mut self,
        rec: &ReadRecord,
        m: &Bgp4mpMessage,
        msg: &Message,
        errors: &[bgp_wire::AttributeError],
    ) -> anyhow::Result<bool> {
        let mut o = header(rec, message_type(msg));
        session(&mut o, &m.peer);
        o.insert(
            "direction".into(),
            json!(if m.local { "sent" } else { "received" }),
        );
        o.insert("as4".into(), json!(m.as4));
        o.insert("add_path".into(), json!(m.add_path));
        describe_message(msg, &mut o)?;
        o.insert("message".into(), serde_json::to_value(msg)?);
        o.insert(
            "attribute_errors".into(),
            json!(errors.iter().map(|e| e.to_string()).collect::<Vec<_>>()),
        );
        self.emit(&Value::Object(o))
    }

    fn rib(&mut self, rec: &ReadRecord, r: &RibRecord) -> anyhow::Result<bool> {
        let family = r.afi_safi();
        match &mut self.summary {
            Some(s) => s.rib_record(r),
            None => self.parts.fill(rec, r),
        }
        for (i, e) in r.entries.iter().enumerate() {
            if let Some(s) = &mut self.summary {
                s.rib_entry(family, e.peer_index, &e.attributes);
            }
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
            let peer = self.peer_json.get(usize::from(e.peer_index));
            if peer.is_none() {
                // A dangling index is the writer's bookkeeping slip (GoBGP gives its own routes an index
                // past its table), not undecodable data: warn, keep going, exit 0.
                let kind = MrtErrorKind::UnknownPeerIndex(e.peer_index);
                eprintln!("warning: {}", MrtError::new(rec.number, rec.offset, kind));
                self.warnings += 1;
            }
            if self.summary.is_none() {
                let line = RibLine {
                    parts: &self.parts,
                    entry: i,
                    path_id: e.path_id,
                    peer_index: e.peer_index,
                    peer: peer.map(Vec::as_slice),
                    originated_time: e.originated_time,
                    attributes: &attrs,
                    errors: &errors,
                };
                write_rib_line(&mut self.buf, &line);
                if !self.end_line()? {
                    return Ok(false);
                }
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
                        self.mismatches += 1;
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
    if let Ok(Value::Object(m)) = serde_json::to_value(Described::new(attrs)) {
        o.extend(m);
    }
}

/// An AGGREGATOR or AS4_AGGREGATOR, as printed.
#[derive(Serialize)]
struct AggregatorJson {
    address: std::net::Ipv4Addr,
    asn: u32,
}

/// Flat, grep-friendly fields for a set of path attributes; the complete attributes are printed beside them.
/// Fields in alphabetical order, as every object is printed; when an attribute appears twice, the last wins.
#[derive(Default, Serialize)]
struct Described<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregator: Option<AggregatorJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    as4_aggregator: Option<AggregatorJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    as4_path: Option<Text<'a, bgp_wire::AsPath>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    as_path: Option<Text<'a, bgp_wire::AsPath>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    atomic_aggregate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_list: Option<&'a [std::net::Ipv4Addr]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    communities: Option<Texts<'a, bgp_wire::Community>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extended_communities: Option<Texts<'a, bgp_wire::ExtendedCommunity>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    large_communities: Option<Texts<'a, bgp_wire::LargeCommunity>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_pref: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    med: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    next_hops: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    only_to_customer: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<std::borrow::Cow<'static, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    originator_id: Option<std::net::Ipv4Addr>,
}

impl<'a> Described<'a> {
    fn new(attrs: &'a [PathAttribute]) -> Self {
        let mut d = Described::default();
        for a in attrs {
            match &a.value {
                AttrValue::Origin(x) => {
                    d.origin = Some(match x {
                        bgp_wire::Origin::Igp => "igp".into(),
                        bgp_wire::Origin::Egp => "egp".into(),
                        bgp_wire::Origin::Incomplete => "incomplete".into(),
                        other => format!("{other:?}").to_lowercase().into(),
                    });
                }
                AttrValue::AsPath(p) => d.as_path = Some(Text(p)),
                AttrValue::As4Path(p) => d.as4_path = Some(Text(p)),
                AttrValue::NextHop(nh) => d.next_hops.push(nh.to_string()),
                AttrValue::MpReach(m) => match &m.next_hop {
                    bgp_wire::MpNextHop::Ipv4(a) => d.next_hops.push(a.to_string()),
                    bgp_wire::MpNextHop::Ipv6 { global, link_local } => {
                        d.next_hops.push(global.to_string());
                        d.next_hops.extend(link_local.map(|l| l.to_string()));
                    }
                    other => d.next_hops.push(format!("{other:?}")),
                },
                AttrValue::MultiExitDisc(v) => d.med = Some(*v),
                AttrValue::LocalPref(v) => d.local_pref = Some(*v),
                AttrValue::AtomicAggregate => d.atomic_aggregate = Some(true),
                AttrValue::Aggregator(g) | AttrValue::As4Aggregator(g) => {
                    let j = Some(AggregatorJson {
                        address: g.address,
                        asn: g.asn,
                    });
                    if matches!(a.value, AttrValue::Aggregator(_)) {
                        d.aggregator = j;
                    } else {
                        d.as4_aggregator = j;
                    }
                }
                AttrValue::Communities(c) => d.communities = Some(Texts(c)),
                AttrValue::ExtendedCommunities(c) => d.extended_communities = Some(Texts(c)),
                AttrValue::LargeCommunities(c) => d.large_communities = Some(Texts(c)),
                AttrValue::OriginatorId(id) => d.originator_id = Some(*id),
                AttrValue::ClusterList(l) => d.cluster_list = Some(l),
                AttrValue::OnlyToCustomer(asn) => d.only_to_customer = Some(*asn),
                _ => {}
            }
        }
        d
    }
}

/// A value printed as its text form (`Display`), without building a `String` first.
struct Text<'a, T>(&'a T);

impl<T: std::fmt::Display> Serialize for Text<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self.0)
    }
}

/// A list printed as an array of text forms.
struct Texts<'a, T>(&'a [T]);

impl<T: std::fmt::Display> Serialize for Texts<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Text))
    }
}

/// The peer of a RIB entry, from the peer index table.
#[derive(Serialize)]
struct PeerJson {
    asn: u32,
    bgp_id: std::net::Ipv4Addr,
    ip: std::net::IpAddr,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
