import type { Request, Response } from 'express';
import { coreErrors } from './errors.js';

/**
 * Roles in order of what they may do: a scientist reads, an operator also steers workflows,
 * jobs and pools, an admin also manages users. The migrations keep a frozen copy of the list.
 */
export const ROLES = ['scientist', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** True when `role` may do what `needed` may. */
export function hasRole(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** The signed-in user of a request (`res.locals.user`), put there by SMAS before any route runs. */
export interface SignedIn {
  id: number;
  username: string;
  displayName: string | null;
  role: Role;
  /** How the request proved who it is: a console session (cookie) or an API token (Authorization: Bearer). */
  via: 'session' | 'token';
}

/** Who does an action, from where, and why: recorded in smas_audit with the change. */
export interface Actor {
  username: string;
  reason?: string;
  address?: string;
}

/** The signed-in user of a request; a route reached without one is a fault of the server, never a guest's action. */
export function userOf(res: Response): SignedIn {
  const user = res.locals.user as SignedIn | undefined;
  if (!user) throw coreErrors.noUser();
  return user;
}

/** The actor of a state-changing request: its signed-in user, the client's address and the body's `reason`. */
export function actorOf(req: Request, res: Response): Actor {
  const reason = (req.body as Record<string, unknown> | undefined)?.reason;
  return { username: userOf(res).username, reason: typeof reason === 'string' ? reason : undefined, address: req.ip };
}
