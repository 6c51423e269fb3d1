import { describe, expect, it } from 'vitest';
import { ConnectionTracker, FAILED_UPGRADES_BEFORE_WARNING, isAccessDeniedCode } from '../src/lib/connection';
import { peersFromAwareness } from '../src/lib/presence';

describe('connection state', () => {
  it('connecting -> connected -> reconnecting -> connected', () => {
    const t = new ConnectionTracker(true);
    const seen: string[] = [];
    t.subscribe((v) => { if (seen[seen.length - 1] !== v.state) seen.push(v.state); });
    t.onStatus('connecting');
    expect(t.view().state).toBe('connecting');
    t.onStatus('connected');
    expect(t.view().label).toBe('Syncing…');
    t.onSync(true);
    expect(t.view()).toEqual({ state: 'connected', label: 'Connected', banner: null });
    t.onClose(1006);
    t.onStatus('disconnected');
    expect(t.view().state).toBe('reconnecting');
    t.onStatus('connecting');
    t.onStatus('connected');
    t.onSync(true);
    expect(t.view().state).toBe('connected');
    expect(seen).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
  });
  it('browser offline and manual offline', () => {
    const t = new ConnectionTracker(true);
    t.onStatus('connected');
    t.onSync(true);
    t.setBrowserOnline(false);
    t.onClose(1006);
    expect(t.view().state).toBe('offline');
    expect(t.view().banner).toMatch(/saved on this device/);
    t.setBrowserOnline(true);
    expect(t.view().state).toBe('reconnecting');
    t.setManualOffline(true);
    t.onClose(null);
    expect(t.view().state).toBe('offline');
    t.onReconnectRequested();
    t.onStatus('connecting');
    t.onStatus('connected');
    t.onSync(true);
    expect(t.view().state).toBe('connected');
  });
  it('access denied by close code 4401/4403', () => {
    expect(isAccessDeniedCode(4401)).toBe(true);
    expect(isAccessDeniedCode(4403)).toBe(true);
    expect(isAccessDeniedCode(1006)).toBe(false);
    const t = new ConnectionTracker(true);
    t.onStatus('connecting');
    t.onStatus('connected');
    t.onClose(4403, 'forbidden');
    t.onTerminalClose(4403, 'forbidden');
    t.onStatus('disconnected');
    expect(t.view().state).toBe('denied');
    expect(t.view().banner).toMatch(/do not have access.*forbidden/);
    t.onReconnectRequested();
    expect(t.view().state).toBe('connecting');
  });
  it('repeated failed upgrades are reported', () => {
    const t = new ConnectionTracker(true);
    for (let i = 0; i < FAILED_UPGRADES_BEFORE_WARNING; i++) {
      expect(t.view().state).toBe('connecting');
      t.onStatus('connecting');
      t.onClose(1006);
    }
    expect(t.view().state).toBe('offline');
    expect(t.view().banner).toMatch(/refused access/);
    t.onStatus('connecting');
    t.onStatus('connected');
    t.onSync(true);
    expect(t.view().state).toBe('connected');
    expect(t.failedUpgradeCount).toBe(0);
  });
  it('a socket that opened and then closed is not a failed upgrade', () => {
    const t = new ConnectionTracker(true);
    for (let i = 0; i < 10; i++) {
      t.onStatus('connecting');
      t.onStatus('connected');
      t.onClose(1011);
    }
    expect(t.failedUpgradeCount).toBe(0);
  });
});

describe('presence', () => {
  it('lists users self first and skips states without a user', () => {
    const states = new Map<number, any>([
      [3, { user: { name: 'Zed', color: '#112233' } }],
      [1, { user: { name: 'Me', color: '#445566' } }],
      [2, { cursor: {} }],
      [4, { user: { name: 'Amy', color: 'nope' } }],
    ]);
    const peers = peersFromAwareness(states, 1);
    expect(peers.map((p) => p.name)).toEqual(['Me', 'Amy', 'Zed']);
    expect(peers[0].self).toBe(true);
    expect(peers[1].color).toBe('#868e96');
  });
});
