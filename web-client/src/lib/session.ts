import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { IndexeddbPersistence } from 'y-indexeddb';
import { ConnectionTracker } from './connection';
import { providerParams, resolveServerUrl } from './urls';
import { defaultStorage } from './storage';
import { lightColor, loadUser, saveUser, type UserPrefs } from './user';

export interface Session {
  docName: string;
  serverUrl: string;
  ydoc: Y.Doc;
  provider: WebsocketProvider;
  persistence: IndexeddbPersistence | null;
  tracker: ConnectionTracker;
  user: UserPrefs;
  readOnly: boolean;
  setUser(patch: Partial<UserPrefs>): UserPrefs;
  /** Stop syncing with the server (edits continue locally and in IndexedDB). */
  goOffline(): void;
  /** Resume syncing (also retries after an access denial). */
  goOnline(): void;
  destroy(): void;
}

declare global {
  interface Window {
    /** Handles for debugging and the end-to-end tests. */
    weft?: Record<string, unknown>;
  }
}

export function awarenessUser(u: UserPrefs) {
  return { name: u.name, color: u.color, colorLight: lightColor(u.color) };
}

export function openSession(docName: string, opts: { readOnly: boolean }): Session {
  const store = defaultStorage();
  const serverUrl = resolveServerUrl(location, import.meta.env.VITE_WEFT_URL);
  const params = providerParams(location.search);
  const ydoc = new Y.Doc();

  let persistence: IndexeddbPersistence | null = null;
  try {
    if (typeof indexedDB !== 'undefined') persistence = new IndexeddbPersistence(`weft:${serverUrl}:${docName}`, ydoc);
  } catch (e) {
    console.warn('IndexedDB unavailable, offline edits will not survive a reload', e);
  }

  const provider = new WebsocketProvider(serverUrl, docName, ydoc, { params });
  const tracker = new ConnectionTracker(navigator.onLine);
  provider.on('status', (e: { status: 'connected' | 'connecting' | 'disconnected' }) => tracker.onStatus(e.status));
  provider.on('sync', (synced: boolean) => tracker.onSync(synced));
  provider.on('connection-close', (ev: CloseEvent | null) => tracker.onClose(ev ? ev.code : null, ev?.reason ?? ''));
  // y-websocket >= 3.1 emits 'closed' when it gives up (close codes 4400-4499).
  (provider as any).on('closed', (ev: { code: number; reason: string }) => tracker.onTerminalClose(ev.code, ev.reason));
  const onOnline = () => {
    tracker.setBrowserOnline(true);
    // Reconnect at once rather than waiting for the back-off timer.
    if (provider.shouldConnect && !provider.wsconnected && !provider.wsconnecting) provider.connect();
  };
  const onOffline = () => tracker.setBrowserOnline(false);
  window.addEventListener('online', onOnline);
  window.addEventListener('offline', onOffline);

  // Marks for load-time measurement (e2e/perf.mjs).
  const offMark = tracker.subscribe((v) => {
    if (v.state === 'connected') {
      performance.mark('weft:synced');
      queueMicrotask(() => offMark());
    }
  });

  let user = loadUser(store);
  provider.awareness.setLocalStateField('user', awarenessUser(user));

  const session: Session = {
    docName,
    serverUrl,
    ydoc,
    provider,
    persistence,
    tracker,
    get user() {
      return user;
    },
    readOnly: opts.readOnly,
    setUser(patch) {
      user = saveUser(store, patch);
      provider.awareness.setLocalStateField('user', awarenessUser(user));
      return user;
    },
    goOffline() {
      tracker.setManualOffline(true);
      provider.disconnect();
    },
    goOnline() {
      tracker.onReconnectRequested();
      provider.connect();
    },
    destroy() {
      window.removeEventListener('online', onOnline);
      window.removeEventListener('offline', onOffline);
      provider.destroy();
      persistence?.destroy();
      ydoc.destroy();
    },
  };
  window.weft = { ...(window.weft ?? {}), session, provider, ydoc, Y, IndexeddbPersistence };
  return session;
}
