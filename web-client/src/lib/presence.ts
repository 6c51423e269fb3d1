import { isHexColor, normalizeUserName } from './user';

export interface Peer {
  clientId: number;
  name: string;
  color: string;
  self: boolean;
}

/**
 * Awareness states -> the people in the document, self first, then by name.
 * States without a `user` field (e.g. a client that has not announced itself)
 * are skipped.
 */
export function peersFromAwareness(states: Map<number, Record<string, any>>, selfId: number): Peer[] {
  const peers: Peer[] = [];
  for (const [clientId, state] of states) {
    const user = state?.user;
    if (!user || typeof user !== 'object') continue;
    peers.push({
      clientId,
      name: normalizeUserName(user.name) || 'Anonymous',
      color: isHexColor(user.color) ? user.color : '#868e96',
      self: clientId === selfId,
    });
  }
  return peers.sort((a, b) => (a.self !== b.self ? (a.self ? -1 : 1) : a.name.localeCompare(b.name) || a.clientId - b.clientId));
}
