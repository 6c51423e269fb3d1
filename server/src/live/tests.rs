//! The live-session service without sockets: sessions are control queues, the store is fake.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use weft_crdt::{DocName, SessionId};

use super::*;
use crate::config::ServeArgs;
use crate::hooks::DocumentHooks;
use crate::store::fake::FakeStore;
use crate::store::{unix_now, RevokedToken};

#[derive(Default)]
struct Heard(Mutex<Vec<(String, String, Option<String>)>>);

#[async_trait]
impl DocumentHooks for Arc<Heard> {
    async fn stateless(&self, doc: &DocName, payload: &str, user: Option<&str>) {
        self.0.lock().expect("lock").push((
            doc.to_string(),
            payload.to_string(),
            user.map(str::to_string),
        ));
    }
}

fn doc(s: &str) -> DocName {
    DocName::parse(s).expect("name")
}

fn session(
    live: &Live,
    d: &str,
    id: u64,
    protocol: Protocol,
    jti: Option<&str>,
) -> (Registration, mpsc::Receiver<Control>) {
    let (tx, rx) = mpsc::channel(directory::CONTROL_QUEUE);
    let listed = live.register(
        NewSession {
            doc: doc(d),
            id: SessionId(id),
            protocol,
            access: Access::Read,
            user: Some(format!("user-{id}")),
            jti: jti.map(str::to_string),
        },
        tx,
    );
    (listed, rx)
}

fn live_with(hooks: Option<Arc<dyn DocumentHooks>>) -> Live {
    let args = ServeArgs::for_data_dir("/nonexistent");
    let store: Arc<dyn crate::store::Store> = Arc::new(FakeStore::default());
    let events = crate::webhooks::Webhooks::start(&args.webhooks, "n1", store.clone(), hooks)
        .expect("events");
    Live::start(
        "n1".into(),
        &args.live,
        store,
        crate::access::Revocations::default(),
        None,
        events,
    )
}

#[tokio::test]
async fn stateless_reaches_the_documents_other_hocuspocus_sessions_and_the_hook() {
    let heard = Arc::new(Heard::default());
    let live = live_with(Some(Arc::new(heard.clone())));
    let (_a, mut a) = session(&live, "d", 1, Protocol::Hocuspocus, None);
    let (_b, mut b) = session(&live, "d", 2, Protocol::Hocuspocus, None);
    let (_w, mut w) = session(&live, "d", 3, Protocol::YWebsocket, None);
    let (_o, mut o) = session(&live, "other", 4, Protocol::Hocuspocus, None);
    live.stateless(&doc("d"), SessionId(1), Some("user-1"), "hi".into());
    match b.try_recv() {
        Ok(Control::Stateless { session, payload }) => {
            assert_eq!(session, SessionId(2));
            assert_eq!(&*payload, "hi");
        }
        other => panic!("expected a stateless message, got {other:?}"),
    }
    assert!(a.try_recv().is_err(), "the sender does not hear itself");
    assert!(
        w.try_recv().is_err(),
        "y-websocket has no stateless messages"
    );
    assert!(o.try_recv().is_err(), "another document hears nothing");
    tokio::time::timeout(Duration::from_secs(5), async {
        while heard.0.lock().expect("lock").is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the hook is called");
    assert_eq!(
        heard.0.lock().expect("lock")[0],
        ("d".into(), "hi".into(), Some("user-1".into()))
    );
}

#[tokio::test]
async fn sessions_are_listed_until_dropped_and_closed_by_document_or_token() {
    let live = live_with(None);
    let (a, mut a_rx) = session(&live, "d", 1, Protocol::Hocuspocus, Some("t1"));
    let (_b, mut b_rx) = session(&live, "d", 2, Protocol::YWebsocket, Some("t2"));
    let listed = live.sessions(&doc("d")).await;
    assert_eq!(listed.nodes, vec!["n1".to_string()]);
    assert_eq!(
        listed
            .sessions
            .iter()
            .map(|s| s.session)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(listed.sessions[0].user.as_deref(), Some("user-1"));

    let token = RevokedToken {
        jti: "t2".into(),
        expires_at: unix_now() + 60,
    };
    assert_eq!(live.revoke(&token).await.expect("revoke"), 1);
    assert!(matches!(
        b_rx.try_recv(),
        Ok(Control::Close { reason, .. }) if reason.code == actix_ws::CloseCode::Other(4403)
    ));
    assert!(a_rx.try_recv().is_err());
    assert!(live.inner.revoked.is_revoked("t2"));

    assert_eq!(live.close_document(&doc("d")), 2);
    assert!(matches!(a_rx.try_recv(), Ok(Control::Close { .. })));
    drop(a);
    assert_eq!(live.sessions(&doc("d")).await.sessions.len(), 1);
}
