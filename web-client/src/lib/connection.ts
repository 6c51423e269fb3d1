/**
 * Connection state shown to the user, derived from the stock y-websocket
 * provider's events ('status', 'sync', 'connection-close', 'closed') and the
 * browser's online/offline events. Pure logic: no DOM, no provider import.
 */
export type ConnState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'denied';

export interface ConnView {
  state: ConnState;
  /** short label for the status pill */
  label: string;
  /** longer explanation for a banner, when there is something to say */
  banner: string | null;
}

/** After this many consecutive attempts whose upgrade never succeeded, say so. */
export const FAILED_UPGRADES_BEFORE_WARNING = 4;

/** Close codes that mean "access refused" (mirroring HTTP 401/403). */
export function isAccessDeniedCode(code: number | null | undefined): boolean {
  return code === 4401 || code === 4403;
}

export class ConnectionTracker {
  private wsOpen = false;
  private synced = false;
  private everSynced = false;
  private attemptOpened = false;
  private failedUpgrades = 0;
  private browserOnline: boolean;
  private manualOffline = false;
  private deniedCode: number | null = null;
  private deniedReason = '';
  private listeners = new Set<(v: ConnView) => void>();
  private last: ConnView | null = null;

  constructor(browserOnline = true) {
    this.browserOnline = browserOnline;
  }

  /** provider 'status' event */
  onStatus(status: 'connected' | 'connecting' | 'disconnected'): void {
    if (status === 'connected') {
      this.wsOpen = true;
      this.attemptOpened = true;
    } else if (status === 'connecting') {
      this.attemptOpened = false;
      this.wsOpen = false;
      this.synced = false;
    } else {
      this.wsOpen = false;
      this.synced = false;
    }
    this.emit();
  }

  /** provider 'sync' event */
  onSync(synced: boolean): void {
    this.synced = synced;
    if (synced) {
      this.everSynced = true;
      this.failedUpgrades = 0;
      this.deniedCode = null;
    }
    this.emit();
  }

  /**
   * provider 'connection-close' event. `code` is null when the client closed
   * the socket itself (provider.disconnect()).
   */
  onClose(code: number | null, reason = ''): void {
    this.wsOpen = false;
    this.synced = false;
    if (code !== null) {
      if (!this.attemptOpened) this.failedUpgrades++;
      if (isAccessDeniedCode(code)) {
        this.deniedCode = code;
        this.deniedReason = reason;
      }
    }
    this.attemptOpened = false;
    this.emit();
  }

  /** provider 'closed' event: the server said reconnecting is pointless (44xx). */
  onTerminalClose(code: number, reason = ''): void {
    this.deniedCode = code;
    this.deniedReason = reason;
    this.emit();
  }

  /** A deliberate provider.connect() after a denial clears it. */
  onReconnectRequested(): void {
    this.deniedCode = null;
    this.deniedReason = '';
    this.failedUpgrades = 0;
    this.manualOffline = false;
    this.emit();
  }

  setBrowserOnline(online: boolean): void {
    this.browserOnline = online;
    this.emit();
  }

  setManualOffline(off: boolean): void {
    this.manualOffline = off;
    this.emit();
  }

  get failedUpgradeCount(): number {
    return this.failedUpgrades;
  }

  view(): ConnView {
    if (this.deniedCode !== null) {
      const what =
        this.deniedCode === 4401
          ? 'You need to sign in (or a valid link) to open this document.'
          : this.deniedCode === 4403
            ? 'You do not have access to this document.'
            : 'The server refused this document.';
      const why = this.deniedReason ? ` (${this.deniedReason})` : '';
      return { state: 'denied', label: 'Access denied', banner: `Access refused — ${what}${why}` };
    }
    if (this.wsOpen && this.synced) return { state: 'connected', label: 'Connected', banner: null };
    if (!this.browserOnline || this.manualOffline) {
      return {
        state: 'offline',
        label: 'Offline',
        banner: 'You are offline. Your edits are saved on this device and will sync when the connection returns.',
      };
    }
    if (this.failedUpgrades >= FAILED_UPGRADES_BEFORE_WARNING) {
      return {
        state: 'offline',
        label: 'Offline',
        banner: this.everSynced
          ? 'Cannot reach the server. Your edits are saved on this device; retrying…'
          : 'Cannot connect to the server: it is unreachable or refused access to this document. Retrying…',
      };
    }
    if (this.wsOpen) return { state: this.everSynced ? 'reconnecting' : 'connecting', label: 'Syncing…', banner: null };
    if (this.everSynced) return { state: 'reconnecting', label: 'Reconnecting…', banner: null };
    return { state: 'connecting', label: 'Connecting…', banner: null };
  }

  subscribe(fn: (v: ConnView) => void): () => void {
    this.listeners.add(fn);
    fn(this.view());
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    const v = this.view();
    if (this.last && this.last.state === v.state && this.last.label === v.label && this.last.banner === v.banner) return;
    this.last = v;
    for (const l of this.listeners) l(v);
  }
}
