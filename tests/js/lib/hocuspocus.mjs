// Real @hocuspocus/provider clients for the black-box tests of the `/hocuspocus` endpoint.

import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { waitFor, Y, WebSocket } from './harness.mjs'

export const hpUrl = (server) => `ws://127.0.0.1:${server.port}/hocuspocus`

/**
 * A HocuspocusProvider on its own socket (or on `socket`, multiplexed), recording its events.
 * Torn down after `t`.
 */
export function hpClient (t, server, name, { socket = null, token = null, doc = new Y.Doc() } = {}) {
  const events = { authenticated: [], failed: [], closes: [], stateless: [] }
  const opts = {
    name,
    document: doc,
    token,
    onAuthenticated: (e) => events.authenticated.push(e.scope),
    onAuthenticationFailed: (e) => events.failed.push(e.reason),
    onClose: (e) => events.closes.push({ code: e.event?.code, reason: e.event?.reason }),
    onStateless: (e) => events.stateless.push(e.payload)
  }
  const provider = socket
    ? new HocuspocusProvider({ ...opts, websocketProvider: socket })
    : new HocuspocusProvider({ ...opts, url: hpUrl(server), WebSocketPolyfill: WebSocket, delay: 200, minDelay: 200, maxDelay: 1000 })
  if (socket) provider.attach()
  const c = { doc, provider, awareness: provider.awareness, events, name }
  t.after(() => { try { provider.destroy() } catch {} ; try { doc.destroy() } catch {} })
  return c
}

/** A HocuspocusProviderWebsocket several providers can share. */
export function sharedSocket (t, server) {
  const socket = new HocuspocusProviderWebsocket({ url: hpUrl(server), WebSocketPolyfill: WebSocket, delay: 200, minDelay: 200, maxDelay: 1000 })
  t.after(() => { try { socket.destroy() } catch {} })
  return socket
}

export const hpSynced = (c, timeout = 15000) => waitFor(() => c.provider.isSynced && !c.provider.hasUnsyncedChanges, {
  timeout, what: () => `hocuspocus provider for ${c.name} to sync (synced=${c.provider.isSynced}, unsynced=${c.provider.unsyncedChanges}, events=${JSON.stringify(c.events)})`
})
