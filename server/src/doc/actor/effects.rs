//! The shell performing the core's effects (see `core::Effect`), in order: frames to the
//! sessions through `fanout` (a full queue closes that session, which may produce more), closes,
//! presence relayed to other nodes, document events, and the background work (compaction,
//! versions) on the registry's task tracker, which the shutdown waits for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::time::Instant;
use tracing::{info, info_span, warn, Instrument};

use super::core::Effect;
use super::Actor;
use crate::doc::fanout;

impl Actor {
    /// Performs the core's effects, in order (sending may produce more: closing a full
    /// session removes its presence).
    pub(super) fn perform(&mut self) {
        loop {
            let effects = self.core.take_effects();
            if effects.is_empty() {
                break;
            }
            for effect in effects {
                match effect {
                    Effect::Send(held) => {
                        let undelivered = fanout::send(held, &self.peers);
                        if !undelivered.is_empty() {
                            for id in &undelivered.gone {
                                self.peers.remove(id);
                            }
                            self.core.at(Instant::now()).undelivered(undelivered);
                        }
                    }
                    Effect::Acknowledge(barriers) => {
                        for reply in barriers {
                            let _ = reply.send(());
                        }
                    }
                    Effect::Close(id, why) => {
                        if let Some(mut peer) = self.peers.remove(&id) {
                            if let Some(close) = peer.close.take() {
                                let _ = close.send(why);
                            }
                        }
                    }
                    Effect::Relay(from, frames) => {
                        if let Some(cluster) = &self.links.cluster {
                            for frame in &frames {
                                cluster.publish_awareness(&self.name, from, frame);
                            }
                        }
                    }
                    Effect::Changed => {
                        if let Some(webhooks) = &self.links.webhooks {
                            webhooks.changed(&self.name);
                        }
                    }
                    Effect::Compact {
                        live,
                        upto,
                        running,
                    } => self.compact(live, upto, running),
                    Effect::Version(job) => {
                        self.links.tasks.spawn(job.run(self.links.store.clone()));
                    }
                }
            }
        }
        let failing = self.core.phase().is_failing();
        if failing != self.counted_failing {
            self.counted_failing = failing;
            if failing {
                self.links.failing.fetch_add(1, Ordering::Relaxed);
            } else {
                self.links.failing.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Compaction in the background (tracked: shutdown waits for it); `running` is cleared
    /// when it ends.
    fn compact(&self, live: Option<Vec<u8>>, upto: u64, running: Arc<AtomicBool>) {
        let store = self.links.store.clone();
        let name = self.name.clone();
        self.links.tasks.spawn(
            async move {
                let result = match live {
                    Some(snapshot) => store.replace_log(&name, snapshot, upto).await,
                    None => store.compact(&name).await,
                };
                crate::metrics::compaction(result.is_ok());
                match result {
                    Ok(c) => info!(
                        merged_entries = c.merged_entries,
                        merged_bytes = c.merged_bytes,
                        snapshot_bytes = c.snapshot_bytes,
                        "log compacted"
                    ),
                    Err(e) => warn!(error = %e, "compaction failed; will retry after more updates"),
                }
                running.store(false, Ordering::Release);
            }
            .instrument(info_span!("compact", doc = %self.name)),
        );
    }
}
