/**
 * The server's document list on `/`, without the DOM: cursor paging, which page a listed
 * document opens in, and what to say when the list cannot be shown.
 */
import { ApiError, UNEXPECTED_RESPONSE } from './api';
import type { RecentDoc } from './recent';
import type { PageKind } from './urls';

/** Documents per page of the list on `/`. */
export const LIST_PAGE_SIZE = 20;

/**
 * Cursor paging (the API pages by name with `next_cursor`): keeps the cursor of every page
 * seen so far, so "Previous" needs no cursor of its own.
 */
export class Pager {
  private cursors: (string | null)[] = [null];

  /** The cursor that fetches the current page (null: the first). */
  get cursor(): string | null {
    return this.cursors[this.cursors.length - 1];
  }

  /** 1-based. */
  get page(): number {
    return this.cursors.length;
  }

  get hasPrevious(): boolean {
    return this.cursors.length > 1;
  }

  next(nextCursor: string): void {
    this.cursors.push(nextCursor);
  }

  previous(): void {
    if (this.cursors.length > 1) this.cursors.pop();
  }

  reset(): void {
    this.cursors = [null];
  }
}

/**
 * The page a listed document opens in. The list says nothing about a document's content
 * (finding out would load every listed document on the server), so: the page this device last
 * opened it in, else the rich-text page. `recent` is newest first.
 */
export function pageKindFor(name: string, recent: readonly RecentDoc[]): PageKind {
  return recent.find((r) => r.name === name)?.kind ?? 'doc';
}

export type ListProblem =
  /** the server has auth and this page's credentials do not cover listing */
  | { kind: 'refused'; message: string }
  /** no document API at this address (another y-websocket server, an old Weft) */
  | { kind: 'missing'; message: string }
  /** worth retrying */
  | { kind: 'failed'; message: string };

/** What the list section says instead of the list when the call failed. */
export function listProblem(e: unknown): ListProblem {
  const err = e instanceof ApiError ? e : null;
  if (err && (err.status === 401 || err.status === 403)) {
    const why = err.detail ? ` (the server says: ${err.detail})` : '';
    return {
      kind: 'refused',
      message:
        `This server lists its documents only for the admin key or a token for a name prefix such as notes/*${why}. ` +
        'Open a document by name above; add ?token=… to this address to list with a token.',
    };
  }
  if (err && (err.status === 404 || err.status === 405 || err.is(UNEXPECTED_RESPONSE))) {
    return { kind: 'missing', message: 'This server has no document list (no /api/v1 document API). Open a document by name above.' };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { kind: 'failed', message: `The document list could not be loaded: ${message}` };
}
