//! In-process document hooks: what an embedding application implements to hear about its
//! documents without running an HTTP webhook receiver (index them for search, notify
//! followers, count active documents).
//!
//! They are fed by the same dispatcher as the HTTP webhook (see [`crate::webhooks`]), so
//! [`DocumentHooks::changed`] is debounced and diffed exactly like `document.changed`. Document
//! actors never wait for a hook: they drop a note in the dispatcher's bounded queue and go on.

use async_trait::async_trait;
use serde_json::Value;
use weft_crdt::DocName;

/// Document lifecycle callbacks (see `Weft::builder().hooks(...)`). Every method has an empty
/// default: implement the ones you need.
///
/// The calls come one at a time from one task, in the order things happened, so for each
/// document: `loaded`, any number of `changed`, `unloaded`, and again if it is loaded later.
/// A slow hook delays the calls after it (never a document); once 4096 notes wait, newer ones
/// are dropped and counted in `weft_webhooks_total{result="dropped"}`. Spawn a task for long
/// work. A panic in a hook is caught and logged; later calls still come.
///
/// ```
/// use weft::{async_trait, DocName, DocumentHooks};
///
/// struct Log;
///
/// #[async_trait]
/// impl DocumentHooks for Log {
///     async fn changed(&self, doc: &DocName, content: &serde_json::Value) {
///         println!("{doc} is now {content}");
///     }
/// }
/// ```
#[async_trait]
pub trait DocumentHooks: Send + Sync + 'static {
    /// `doc` was loaded from the store into memory: a first client (or API call) opened it.
    async fn loaded(&self, doc: &DocName) {
        let _ = doc;
    }

    /// `doc`'s committed content changed. At most one call per document per
    /// `--webhook-debounce` (2 s by default, counted from the first change), and only when the
    /// content of some root type differs from what the previous call reported. `content` holds
    /// every root type as JSON, as `GET …/api/v1/documents/{name}/content` returns it (a
    /// `Y.Text` is a string, a `Y.Map` an object, an XML fragment a list of nodes).
    async fn changed(&self, doc: &DocName, content: &Value) {
        let _ = (doc, content);
    }

    /// A Hocuspocus client connected to `doc` on this node sent a stateless message
    /// (`provider.sendStateless(payload)`); `user` is its token's (or your `Authorize`
    /// hook's) user. Weft has already relayed it to the document's other Hocuspocus sessions
    /// on every node; this call is for the application (Hocuspocus's `onStateless`). Called on
    /// the node the sender is connected to only. Read-only sessions may send them too.
    async fn stateless(&self, doc: &DocName, payload: &str, user: Option<&str>) {
        let _ = (doc, payload, user);
    }

    /// `doc` left memory: `--doc-idle` after its last client left, deleted through the API, or
    /// the server shut down. A `changed` still waiting for its debounce comes first.
    async fn unloaded(&self, doc: &DocName) {
        let _ = doc;
    }
}
