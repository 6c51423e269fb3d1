//! One Hocuspocus connection: several documents multiplexed over one socket.
//!
//! ```text
//!  socket ──frame──► codec::decode ──(key, message)──► per-document state ──[Inbound]──► actor
//!  socket ◄──key ++ frame── SelectAll of every document's outbound queue ◄───────────── actors
//! ```
//!
//! A document opens on its Auth message (or, when Weft runs open or an embedder's hook admits
//! it without a token, on its first message: v2 providers without a token send none; see
//! `admission`). Each open document is a separate member of its actor,
//! with its own [`SessionId`], bounded outbound queue, access and expiry; frames from the
//! actor get the document's routing key prefixed. The connection-level rules of the
//! y-websocket session hold for the whole socket: malformed input (1002/1007), text frames
//! (1003), message rate (1008), idle timeout, pings. A close the actor asks for (slow consumer,
//! refused update, store failing, shutdown) closes the whole socket with the same code; the
//! provider reconnects and resyncs every document.
//!
//! Acknowledgements: every sync step 2 and update is answered with SyncStatus, `true` once the
//! document actor has **committed** it (a barrier command answered after the commit), `false`
//! when refused (read-only). A provider that shows "saved" has its change in the store, even if
//! the server is killed the next instant; Hocuspocus itself answers after applying in memory.

use std::collections::{HashMap, HashSet};

use actix_web::HttpRequest;
use actix_ws::CloseReason;
use bytes::Bytes;
use futures_util::stream::{self, LocalBoxStream, SelectAll, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use weft_crdt::codec::{MSG_SYNC, SYNC_STEP2};
use weft_crdt::{DocName, Inbound, SessionId};

use super::codec::{self, Frame, Message};
use crate::access::limits::{AwarenessLimiter, ConnPermit, TokenBucket};
use crate::access::{Access, Gate, SessionLimits};
use crate::doc::{Close, DocHandle, Registry};
use crate::live::directory::CONTROL_QUEUE;
use crate::live::stateless::{StatelessLimiter, Verdict};
use crate::live::{Control, Live, Registration};
use crate::ws::close;
use crate::ws::frames::{self, Incoming};
use crate::ws::socket::Socket;
use crate::ws::WsSettings;

mod admission;
mod live;

/// Documents one connection may have open or refused at once; more close it with 1008. Each
/// open document is an actor member and may load a document, so this bounds what one socket
/// can make the server do (the `/ws` endpoint needs one connection per document).
pub const MAX_DOCS_PER_CONN: usize = 256;

/// One document open on this connection.
struct OpenDoc {
    name: DocName,
    /// Distinguishes this opening from an earlier one under the same key, whose frames and
    /// close may still be in flight.
    slot: u64,
    id: SessionId,
    handle: DocHandle,
    /// `varString(key)`, prefixed to every frame from the actor.
    prefix: Bytes,
    /// The actor writes this document's frames into the socket itself (an owned socket):
    /// they and our SyncStatus answers share one ordered queue, so nothing is held back.
    direct: bool,
    access: Access,
    expires_at: Option<Instant>,
    /// Holds this document's slot in the connection limits until it closes.
    _permit: ConnPermit,
    /// Keeps the document's session in the sessions list (see `crate::live`).
    listed: Registration,
    /// The token's (or hook's) user, for the stateless hook.
    user: Option<String>,
    /// Sync step 1s sent to the actor whose step 2 reply has not been forwarded yet.
    step1_pending: usize,
    /// SyncStatus answers held back while `step1_pending > 0` (see [`HpSession::forward`]).
    held_acks: Vec<bool>,
}

/// What the actors of the open documents send this connection.
enum Out {
    Frame(Bytes),
    /// The actor asked us to close (`Ok`), or dropped us (`Err`: it stopped).
    Closed(Result<Close, oneshot::error::RecvError>),
    /// SyncStatus answers whose writes are now committed.
    Committed(Vec<bool>),
}

/// Why the loop ended; decides the close frame.
enum End {
    Gone,
    Close(CloseReason),
}

pub struct HpSession {
    conn: u64,
    registry: Registry,
    settings: WsSettings,
    gate: Gate,
    limits: SessionLimits,
    /// Awareness size and rate for the whole socket (every document on it), as on `/ws`.
    awareness: AwarenessLimiter,
    /// The upgrade request: each document is admitted on its Auth message, long after the
    /// handler returned, and an embedder's `Authorize` hook judges this request (cookies,
    /// headers) with the token. Kept on this worker with the session (it is `!Send`).
    req: HttpRequest,
    docs: HashMap<String, OpenDoc>,
    /// Keys refused since their last Auth: their other messages are dropped without a word.
    denied: HashSet<String>,
    next_slot: u64,
    outbound: SelectAll<LocalBoxStream<'static, (String, u64, Out)>>,
    live: Live,
    /// Stateless messages from outside (other sessions, other nodes) and closes (revocation,
    /// `DELETE …/sessions`), for every document on this connection.
    control: mpsc::Sender<Control>,
    control_rx: Option<mpsc::Receiver<Control>>,
    /// Stateless size and rate, for the whole socket.
    stateless: StatelessLimiter,
    /// Stateless messages dropped over the rate since the last log line, and when that was.
    stateless_dropped: (u64, Option<Instant>),
}

impl HpSession {
    pub fn new(
        conn: u64,
        registry: Registry,
        settings: WsSettings,
        gate: Gate,
        live: Live,
        req: HttpRequest,
    ) -> Self {
        let limits = gate.session_limits();
        let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
        HpSession {
            stateless: StatelessLimiter::new(live.stateless_limits(), Instant::now()),
            stateless_dropped: (0, None),
            live,
            control,
            control_rx: Some(control_rx),
            conn,
            awareness: AwarenessLimiter::new(
                limits.max_awareness_size,
                limits.max_awareness_per_sec,
                limits.awareness_burst,
                Instant::now(),
            ),
            limits,
            registry,
            settings,
            gate,
            req,
            docs: HashMap::new(),
            denied: HashSet::new(),
            next_slot: 1,
            outbound: SelectAll::new(),
        }
    }

    pub async fn run(mut self, mut ws: Socket) {
        debug!(conn = self.conn, "hocuspocus connection open");
        let mut ping = tokio::time::interval(self.settings.ping_interval);
        ping.reset();
        let mut last_heard = Instant::now();
        let mut bucket = TokenBucket::new(
            self.limits.max_messages_per_sec,
            self.limits.message_burst,
            last_heard,
        );
        let Some(mut control_rx) = self.control_rx.take() else {
            return;
        };
        let end = loop {
            let expiry = self.docs.values().filter_map(|d| d.expires_at).min();
            tokio::select! {
                biased;
                item = self.outbound.next(), if !self.outbound.is_empty() => {
                    let Some((key, slot, out)) = item else { continue };
                    let Some(doc) = self.docs.get_mut(&key).filter(|d| d.slot == slot) else {
                        continue; // from a document closed since; dropped with it
                    };
                    match out {
                        Out::Frame(frame) => {
                            if let Err(e) = ws.send(codec::wrap(&doc.prefix, &frame).into()).await {
                                break end_of(frames::sent(e));
                            }
                            // A sync step 2 from the actor only ever answers our step 1.
                            if frame.starts_with(&[MSG_SYNC, SYNC_STEP2]) && doc.step1_pending > 0 {
                                doc.step1_pending -= 1;
                                if doc.step1_pending == 0 {
                                    let mut failed = None;
                                    for ok in std::mem::take(&mut doc.held_acks) {
                                        if let Err(e) = ws.send(codec::sync_status(&key, ok).into()).await {
                                            failed = Some(e);
                                            break;
                                        }
                                    }
                                    if let Some(e) = failed {
                                        break end_of(frames::sent(e));
                                    }
                                }
                            }
                        }
                        Out::Closed(Ok(why)) => {
                            if let Some(reason) = close::actor_refusal(why) {
                                crate::metrics::refused(reason);
                            }
                            break End::Close(close::from_actor(why));
                        }
                        Out::Closed(Err(_)) => break End::Close(close::unavailable("document closed")),
                        Out::Committed(acks) => {
                            if doc.step1_pending > 0 {
                                // The provider counts itself synced when its unsynced changes
                                // reach 0 as well as on our step 2: an answer must not overtake
                                // the step 2 still on its way, or the provider would call
                                // itself synced while empty.
                                doc.held_acks.extend(acks);
                                continue;
                            }
                            let mut failed = None;
                            for ok in acks {
                                if let Err(e) = ws.send(codec::sync_status(&key, ok).into()).await {
                                    failed = Some(e);
                                    break;
                                }
                            }
                            if let Some(e) = failed {
                                break end_of(frames::sent(e));
                            }
                        }
                    }
                }
                // After the documents' own frames: a stateless flood from other sessions never
                // holds back updates (each sender is rate-limited; a full queue drops them).
                Some(control) = control_rx.recv() => {
                    if let Err(end) = self.on_control(&mut ws, control).await {
                        break end;
                    }
                }
                _ = tokio::time::sleep_until(expiry.unwrap_or_else(Instant::now)), if expiry.is_some() => {
                    info!("token expired; closing connection");
                    crate::metrics::refused("token_expired_in_session");
                    break End::Close(close::token_expired());
                }
                msg = ws.recv() => {
                    last_heard = Instant::now();
                    match frames::triage(&mut ws, msg, self.settings.max_message_size, &mut bucket, last_heard).await {
                        Incoming::Binary(bytes) => {
                            match self.on_frame(&mut ws, &bytes).await {
                                Ok(()) => {}
                                Err(end) => break end,
                            }
                        }
                        Incoming::Handled => {}
                        Incoming::Gone => break End::Gone,
                        Incoming::Close(reason) => break End::Close(reason),
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > self.settings.idle_timeout {
                        info!(idle = ?last_heard.elapsed(), "closing idle connection");
                        crate::metrics::refused("idle_timeout");
                        break End::Close(close::idle());
                    }
                    if let Err(e) = ws.ping().await {
                        break end_of(frames::sent(e));
                    }
                }
            }
        };
        if matches!(end, End::Gone) {
            // The client is gone (closed, dropped, or its socket failed while we wrote to it):
            // what it had already sent still counts, whichever side noticed first.
            for bytes in ws.unread().await {
                if self.on_frame(&mut ws, &bytes).await.is_err() {
                    break;
                }
            }
        }
        for (_, doc) in self.docs.drain() {
            doc.handle.leave(doc.id).await;
        }
        match end {
            End::Gone => {
                debug!("connection ended by the client");
                ws.close(None).await;
            }
            End::Close(reason) => {
                debug!(code = ?reason.code, "closing connection");
                ws.close(Some(reason)).await;
            }
        }
    }

    /// Handles one binary frame. `Err` ends the connection.
    async fn on_frame(&mut self, ws: &mut Socket, bytes: &Bytes) -> Result<(), End> {
        let (key, message) = match codec::decode(bytes) {
            Ok(Frame::Doc { key, message }) => (key, message),
            Ok(Frame::Ping) => return send(ws, codec::pong()).await,
            Ok(Frame::Pong) => return Ok(()),
            Err(e) => {
                warn!(error = %e, len = bytes.len(), "refusing malformed frame");
                crate::metrics::refused(close::decode_refusal(&e));
                return Err(End::Close(close::decode(&e)));
            }
        };
        if self.docs.contains_key(&key) {
            return self.on_open_doc(ws, key, message, bytes).await;
        }
        match message {
            Message::Auth {
                token,
                provider_version,
            } => {
                debug!(key = %key, version = provider_version.as_deref().unwrap_or(""), "auth");
                self.denied.remove(&key);
                self.open(ws, key, Some(&token)).await
            }
            Message::Close => {
                self.denied.remove(&key);
                Ok(())
            }
            Message::Stateless(_) | Message::BroadcastStateless(_) | Message::Ignored(_) => Ok(()),
            Message::Yjs(messages) => {
                if self.denied.contains(&key) {
                    return Ok(()); // already told; it may re-send Auth
                }
                // v2 providers without a token send no Auth: when Weft runs open, the first
                // message opens the document; with a secret it is refused (token required);
                // an embedder's hook decides from the upgrade request alone.
                self.open(ws, key.clone(), None).await?;
                if self.docs.contains_key(&key) {
                    self.on_open_doc(ws, key, Message::Yjs(messages), bytes)
                        .await?;
                }
                Ok(())
            }
        }
    }

    /// A message for a document open on this connection.
    async fn on_open_doc(
        &mut self,
        ws: &mut Socket,
        key: String,
        message: Message,
        raw: &Bytes,
    ) -> Result<(), End> {
        match message {
            Message::Yjs(messages) => self.forward(ws, &key, messages, raw).await,
            Message::Auth { token, .. } => self.reauthorize(ws, key, &token).await,
            Message::Close => {
                if let Some(doc) = self.docs.remove(&key) {
                    debug!(doc = %doc.name, session = doc.id.0, "provider closed the document");
                    doc.handle.leave(doc.id).await;
                }
                Ok(())
            }
            Message::Stateless(payload) => self.on_stateless(&key, payload),
            Message::BroadcastStateless(payload) => {
                // Hocuspocus refuses this server-internal opcode from a client; providers send
                // stateless messages as type 5.
                info!(key = %key, len = payload.len(), "broadcast-stateless from a client ignored (send type 5, stateless)");
                Ok(())
            }
            Message::Ignored(kind) => {
                debug!(key = %key, kind, "message type ignored");
                Ok(())
            }
        }
    }

    /// Screens y-protocols messages (read-only writes; awareness size and rate, which close the
    /// socket with 1009 / 1008; the awareness-id quota is the actor's), hands them to the
    /// actor, then
    /// acknowledges each write with SyncStatus and echoes awareness to the sender.
    async fn forward(
        &mut self,
        ws: &mut Socket,
        key: &str,
        messages: Vec<Inbound>,
        raw: &Bytes,
    ) -> Result<(), End> {
        let Some(doc) = self.docs.get_mut(key) else {
            return Ok(());
        };
        let mut pass = Vec::with_capacity(messages.len());
        let mut acks = Vec::new();
        // Providers send one message per frame; only such a frame is echoed verbatim.
        let echo = matches!(messages[..], [Inbound::Awareness(_)]);
        for msg in messages {
            match &msg {
                Inbound::SyncStep2 { update, .. } | Inbound::Update { update, .. }
                    if doc.access == Access::Read =>
                {
                    // An empty step 2 (a fresh client answering our step 1) changes nothing.
                    let harmless = matches!(msg, Inbound::SyncStep2 { .. }) && update.is_empty();
                    acks.push(harmless);
                    continue;
                }
                Inbound::SyncStep2 { .. } | Inbound::Update { .. } => acks.push(true),
                Inbound::SyncStep1(_) if !doc.direct => doc.step1_pending += 1,
                Inbound::Awareness(update) => {
                    if let Err(refusal) = self.awareness.check(update, Instant::now()) {
                        warn!(doc = %doc.name, ?refusal, "refusing awareness");
                        crate::metrics::refused(refusal.metric_reason());
                        return Err(End::Close(close::awareness(refusal)));
                    }
                }
                _ => {}
            }
            pass.push(msg);
        }
        if !pass.is_empty() && doc.handle.send(doc.id, pass).await.is_err() {
            return Err(End::Close(close::unavailable("document closed")));
        }
        if acks.iter().any(|ok| !ok) {
            info!(doc = %doc.name, "write refused: read-only");
            crate::metrics::refused("read_only_write");
        }
        if !acks.is_empty() {
            // Answered when the actor has committed everything sent so far (see `Out::Committed`).
            let barrier = doc.handle.barrier().await;
            let (key, slot) = (key.to_string(), doc.slot);
            self.outbound.push(Box::pin(stream::once(async move {
                let acks = if barrier.await.is_ok() {
                    acks
                } else {
                    Vec::new()
                };
                (key, slot, Out::Committed(acks))
            })));
        }
        if echo {
            // Hocuspocus echoes awareness to its sender too; a provider that hears nothing
            // for `messageReconnectTimeout` (30 s) reconnects, and alone on a document its
            // own renewals (every 15 s) are all it would hear.
            send(ws, raw.clone()).await?;
        }
        Ok(())
    }
}

async fn send(ws: &mut Socket, frame: impl Into<Bytes>) -> Result<(), End> {
    ws.send(frame.into())
        .await
        .map_err(|e| end_of(frames::sent(e)))
}

/// The end a failed send of the session's own means (see `frames::sent`).
fn end_of(incoming: Incoming) -> End {
    match incoming {
        Incoming::Close(reason) => End::Close(reason),
        _ => End::Gone,
    }
}
