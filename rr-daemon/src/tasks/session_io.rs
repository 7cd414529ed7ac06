//! Session I/O: one reader (framing and decoding) and one writer (a bounded queue of shared `Bytes`, written
//! in vectored batches with flow control) per connection. The engine task writes small sends to the socket
//! itself while the writer has nothing queued ([`ConnHandle::write_now`]); the writer takes the rest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bgp_wire::{DecodeCtx, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, Message};
use bytes::{Bytes, BytesMut};
use rr_core::{ConnId, PeerId, Received};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use super::{EngineCmd, EngineTask, monitor};

/// Messages queued per connection before the peer counts as stuck and is dropped (last resort).
const SEND_QUEUE: usize = 65536;
/// Read buffer growth step of a session reader. Small, because every idle session keeps one buffer (at
/// thousands of sessions a 64 KiB buffer each would be most of the daemon's memory); a larger message
/// simply grows it.
const READ_CHUNK: usize = 16 * 1024;

/// The largest send the engine task writes to a socket itself ([`ConnHandle::write_now`]).
const DIRECT_MAX: usize = 8 * 1024;

/// Write-queue accounting shared by the engine task and a connection's writer.
#[derive(Default)]
pub(super) struct Flow {
    /// Bytes queued for the writer and not yet written.
    pub(super) queued: AtomicUsize,
    /// The engine was told the member is congested.
    pub(super) congested: AtomicBool,
}

/// Bytes queued across all connections (`--output-budget`), shared by the engine task and every writer.
pub(super) struct Budget {
    pub(super) total: AtomicUsize,
    pub(super) limit: usize,
    /// The engine task stopped pulling catch-up output for want of room: the writer that brings the total
    /// below [`Budget::room_at`] wakes it.
    pub(super) waiting: AtomicBool,
}

impl Budget {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            total: AtomicUsize::new(0),
            limit,
            waiting: AtomicBool::new(false),
        }
    }

    pub(super) fn used_up(&self) -> bool {
        self.total.load(Ordering::Acquire) >= self.limit
    }

    /// What one of `conns` connections may hold queued while the budget is used up: an equal share of the
    /// budget, at least [`MIN_FAIR_SHARE`]. Members of a shared stream holding more fall behind. Without it,
    /// with thousands of members each just under its own low watermark, the queues' slots alone (one per
    /// message and member, although the message bytes are shared) took over 100 MiB at 3000 clients.
    pub(super) fn fair_share(&self, conns: usize) -> usize {
        (self.limit / conns.max(1)).max(MIN_FAIR_SHARE)
    }

    /// The total below which a waiting engine task is woken.
    fn room_at(&self) -> usize {
        self.limit / 4 * 3
    }
}

/// The smallest [`Budget::fair_share`]: a few full-size UPDATEs.
const MIN_FAIR_SHARE: usize = 16 * 1024;

/// Subtracts up to `n` from `a` (never below zero); returns what was subtracted.
pub(super) fn take(a: &AtomicUsize, n: usize) -> usize {
    let mut took = 0;
    let _ = a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        took = v.min(n);
        Some(v - took)
    });
    took
}

/// Whether a frame is an UPDATE (RFC 4271 section 4.1: type 2).
pub(super) fn is_update(frame: &[u8]) -> bool {
    frame.get(18) == Some(&2)
}

/// Queue entries of a session writer.
pub(super) enum WriteCmd {
    Send(Bytes),
    Close,
}

/// The engine task's side of a connection.
pub(super) struct ConnHandle {
    /// The peer the connection belongs to.
    pub(super) peer: PeerId,
    /// The writer's queue.
    pub(super) tx: mpsc::Sender<WriteCmd>,
    /// Write-queue accounting shared with the writer.
    pub(super) flow: Arc<Flow>,
    /// Hands the reader the session's decode context once it is established.
    pub(super) ctx: watch::Sender<Option<Arc<DecodeCtx>>>,
    /// The socket, shared with the reader and the writer.
    stream: Arc<TcpStream>,
}

impl ConnHandle {
    /// Writes `bytes` straight to the socket if the writer has nothing queued (so the order of the bytes on
    /// the wire is kept) and the socket takes them without blocking; returns what is left for the writer's
    /// queue (`None`: all written).
    ///
    /// Under a stream of small changes to thousands of members, handing each write to the member's writer
    /// task (a queue entry, a task wake-up, another thread) cost about as much as the system call itself.
    /// Only the engine task queues for the writer, and the writer takes bytes off [`Flow::queued`] once the
    /// kernel has them, so a zero there means every byte handed over is on the socket already.
    ///
    /// Only small sends ([`DIRECT_MAX`]): bulk (a table, a catch-up) costs less through the writer, which
    /// sends whatever has queued in one vectored write (at 1000 clients x 100 prefixes, writing each 32 KiB
    /// run at once took twice the CPU).
    pub(super) fn write_now(&self, bytes: Bytes) -> Option<Bytes> {
        if bytes.len() > DIRECT_MAX || self.flow.queued.load(Ordering::Acquire) != 0 {
            return Some(bytes);
        }
        match self.stream.try_write(&bytes) {
            Ok(n) if n >= bytes.len() => None,
            Ok(n) => Some(bytes.slice(n..)),
            // Would block, or failed: the writer meets the failure too and the reader reports it.
            Err(_) => Some(bytes),
        }
    }
}

impl EngineTask {
    /// Spawns the reader and writer tasks of a connection.
    pub(super) fn start_conn(&mut self, conn: ConnId, peer: PeerId, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        if let Some(n) = self.socket_send_buffer
            && let Err(e) = socket2::SockRef::from(&stream).set_send_buffer_size(n)
        {
            tracing::warn!(conn = conn.get(), error = %e, "cannot set the socket send buffer");
        }
        if let Some(m) = self.monitor.as_mut() {
            m.conn_started(conn, peer, stream.local_addr().ok(), stream.peer_addr().ok());
        }
        let keep_frames = self.monitor.as_ref().is_some_and(monitor::Monitor::wants_frames);
        let stream = Arc::new(stream);
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let (ctx_tx, ctx_rx) = watch::channel(None);
        // No tracing span on the reader and writer: they log nothing themselves (the engine task reports
        // their events), and entering a span on every poll costs a few percent of the daemon's CPU.
        let reader = tokio::spawn(read_loop(
            conn,
            stream.clone(),
            ctx_rx,
            self.tx.clone(),
            keep_frames,
        ));
        let flow = Arc::new(Flow::default());
        let w = Writer {
            conn,
            flow: flow.clone(),
            budget: self.budget.clone(),
            tx: self.tx.clone(),
            reader: reader.abort_handle(),
            low_watermark: self.low_watermark,
        };
        tokio::spawn(w.run(stream.clone(), rx));
        self.conns.insert(
            conn,
            ConnHandle {
                peer,
                tx,
                flow,
                ctx: ctx_tx,
                stream,
            },
        );
    }
}

/// Reads, frames and decodes one connection.
async fn read_loop(
    conn: ConnId,
    rd: Arc<TcpStream>,
    ctx: watch::Receiver<Option<Arc<DecodeCtx>>>,
    tx: mpsc::Sender<EngineCmd>,
    keep_frames: bool,
) {
    // Most sessions are idle after their initial table: an idle session holds no read buffer (one
    // is allocated when the socket becomes readable, 4 KiB, grown by READ_CHUNK when busy).
    let mut buf = BytesMut::new();
    loop {
        // Frame whatever is buffered.
        loop {
            let cur = ctx.borrow().clone();
            let max = if cur.as_ref().is_some_and(|c| c.extended_message) {
                MAX_EXTENDED_MESSAGE_LEN
            } else {
                MAX_MESSAGE_LEN
            };
            match bgp_wire::frame_len(&buf, max) {
                Ok(Some(len)) => {
                    let frame = buf.split_to(len).freeze();
                    let cmd = match &cur {
                        None => EngineCmd::Frame { conn, frame },
                        // Decoded once, here; the engine applies the RFC 7606 outcome.
                        Some(c) => EngineCmd::Received {
                            conn,
                            received: Box::new(Message::decode_with_errors(&frame, c).into()),
                            frame: (keep_frames && is_update(&frame)).then_some(frame),
                        },
                    };
                    if tx.send(cmd).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    // Bad marker or length: RFC 4271 section 6.1 header errors end the session; stop reading.
                    let _ = tx
                        .send(EngineCmd::Received {
                            conn,
                            received: Box::new(Received::Error(err)),
                            frame: None,
                        })
                        .await;
                    return;
                }
            }
        }
        if buf.is_empty() {
            // No partial message is buffered: give the buffer back while waiting for data. (The
            // frames split off it share its memory until the engine has handled them.)
            buf = BytesMut::new();
            // An error here is reported by the read below.
            let _ = rd.readable().await;
            buf.reserve(4096);
        } else if buf.capacity() - buf.len() < 1024 {
            buf.reserve(READ_CHUNK);
        }
        match read_buf(&rd, &mut buf).await {
            Ok(0) | Err(_) => {
                let _ = tx.send(EngineCmd::Disconnected { conn }).await;
                return;
            }
            Ok(_) => {}
        }
    }
}

/// Reads what the socket has into `buf` (waits until it has something); `Ok(0)` at the end of the stream.
async fn read_buf(s: &TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read_buf(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            r => return r,
        }
    }
}

/// Writes as much of `slices` as the socket takes (waits until it takes something). One slice goes out
/// with `send`, several with `writev`.
async fn write_some(s: &TcpStream, slices: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
    loop {
        s.writable().await?;
        let r = match slices {
            [one] => s.try_write(one),
            _ => s.try_write_vectored(slices),
        };
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            r => return r,
        }
    }
}

/// The writing side of a connection.
struct Writer {
    conn: ConnId,
    flow: Arc<Flow>,
    budget: Arc<Budget>,
    tx: mpsc::Sender<EngineCmd>,
    reader: AbortHandle,
    low_watermark: usize,
}

/// Messages taken from a writer's queue into one vectored write at most.
const WRITE_BATCH: usize = 64;

impl Writer {
    /// Writes queued messages; on `Close` (or when the engine drops the queue) flushes and closes.
    ///
    /// Whatever is queued when the socket is ready goes out in one vectored write (up to
    /// [`WRITE_BATCH`] messages), so a burst to a peer costs a few system calls, not one per UPDATE.
    async fn run(self, wr: Arc<TcpStream>, mut rx: mpsc::Receiver<WriteCmd>) {
        self.write_all(&wr, &mut rx).await;
        // Whatever is still queued will never be written: give it back to the output budget. The queue is
        // closed first, so the engine task queues nothing more (and takes back what it tried to).
        rx.close();
        while rx.try_recv().is_ok() {}
        let left = self.flow.queued.swap(0, Ordering::AcqRel);
        self.budget.total.fetch_sub(left, Ordering::AcqRel);
        self.room();
    }

    async fn write_all(&self, wr: &TcpStream, rx: &mut mpsc::Receiver<WriteCmd>) {
        // Grown during a burst and given back after it (below).
        let mut batch: Vec<Bytes> = Vec::new();
        let mut close = false;
        while !close {
            match rx.recv().await {
                Some(WriteCmd::Send(b)) => batch.push(b),
                Some(WriteCmd::Close) | None => close = true,
            }
            while !close && batch.len() < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(WriteCmd::Send(b)) => batch.push(b),
                    Ok(WriteCmd::Close) => close = true,
                    Err(_) => break,
                }
            }
            if self.write_batch(wr, &mut batch).await.is_err() {
                // The reader sees the failure too and reports the disconnection.
                return;
            }
            if batch.capacity() > 8 && rx.is_empty() {
                // The burst is over: an idle session keeps no batch buffer.
                batch = Vec::new();
            }
        }
        // Our FIN after the last byte (the socket is shared, so dropping this side does not send it).
        let _ = socket2::SockRef::from(wr).shutdown(std::net::Shutdown::Write);
        // Give the peer a moment to read a final NOTIFICATION before the socket goes away entirely.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.reader.abort();
    }

    /// Writes every message of `batch` (emptied), accounting each write against the queued bytes.
    async fn write_batch(&self, wr: &TcpStream, batch: &mut Vec<Bytes>) -> std::io::Result<()> {
        let mut i = 0;
        while i < batch.len() {
            let slices: Vec<std::io::IoSlice<'_>> =
                batch[i..].iter().map(|b| std::io::IoSlice::new(b)).collect();
            // A heap list, freed after the call: an array here would live in every session's task.
            let n = write_some(wr, &slices).await?;
            drop(slices);
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            let mut left = n;
            while left > 0 && i < batch.len() {
                let len = batch[i].len();
                if left >= len {
                    left -= len;
                    i += 1;
                } else {
                    bytes::Buf::advance(&mut batch[i], left);
                    left = 0;
                }
            }
            self.written(n).await;
        }
        batch.clear();
        Ok(())
    }

    /// Wakes the engine task if it waits for room in the output budget and there is some now.
    fn room(&self) {
        if self.budget.total.load(Ordering::Acquire) < self.budget.room_at()
            && self.budget.waiting.swap(false, Ordering::AcqRel)
        {
            // If the engine's queue is full it is busy, and pulls more output once it has handled it.
            let _ = self.tx.try_send(EngineCmd::OutputRoom);
        }
    }

    /// `n` bytes left the queue: tell the engine once a congested queue drained below the low watermark.
    async fn written(&self, n: usize) {
        let n = take(&self.flow.queued, n);
        self.budget.total.fetch_sub(n, Ordering::AcqRel);
        self.room();
        let left = self.flow.queued.load(Ordering::Acquire);
        if left < self.low_watermark && self.flow.congested.swap(false, Ordering::AcqRel) {
            let _ = self.tx.send(EngineCmd::Drained { conn: self.conn }).await;
        }
    }
}
