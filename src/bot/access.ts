/**
 * Who may do what, from `access.roles`, `chat.telegram.allowedChats` and
 * `chat.slack.allowedChannels`. Secure by default: without an `access:`
 * section nobody on Telegram or Slack is allowed, and a room must be listed to
 * be answered in.
 *
 * Console identities (`console:<name>`) cannot be listed in `access.roles`
 * (the config only knows `tg:` and `slack:`): whoever can type into the
 * console already runs Triage locally, so they get `consoleRole` (default
 * `operator`). The console room is always allowed. An identity whose prefix
 * does not match the platform it came from is refused outright, so no adapter
 * can smuggle in a console user.
 *
 * Deliberately left out: per-target or per-runbook permissions, and looking
 * people up by display name.
 */
import { clip } from '../text.ts';
import type { Platform } from './adapter.ts';
import type { LoadedConfig, Role } from '../config.ts';

/** Roles from least to most trusted. */
export const ROLES: readonly Role[] = ['viewer', 'responder', 'operator'];

/** True when `have` is at least `need` (viewer < responder < operator). */
export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

const PREFIX: Record<Platform, string> = { telegram: 'tg:', slack: 'slack:', console: 'console:' };

/** Options for {@link AccessPolicy}. */
export interface AccessPolicyOptions {
  /** Role of every `console:` identity; `null` refuses them. Default `operator`. */
  consoleRole?: Role | null;
}

/** Who is asking, where. */
export interface Asker {
  platform: Platform;
  user: string;
  room: string;
}

/** The answer to "may this person use Triage here?". */
export type AccessDecision =
  | { ok: true; role: Role }
  | { ok: false; reason: 'wrong-platform' | 'unknown-user' | 'room-not-allowed' | 'role-too-low'; message: string };

/** Answers access questions for one loaded config. */
export class AccessPolicy {
  private readonly roles = new Map<string, Role>();
  private readonly rooms = new Set<string>();
  private readonly consoleRole: Role | null;

  constructor(loaded: LoadedConfig, o: AccessPolicyOptions = {}) {
    this.consoleRole = o.consoleRole === undefined ? 'operator' : o.consoleRole;
    const roles = loaded.config.access?.roles;
    // Highest role listed wins: walk from least to most trusted, later overwrites.
    for (const role of ROLES) for (const id of roles?.[role] ?? []) this.roles.set(id, role);
    for (const chat of loaded.config.chat?.telegram?.allowedChats ?? []) this.rooms.add(`tg:${chat}`);
    for (const ch of loaded.config.chat?.slack?.allowedChannels ?? []) this.rooms.add(`slack:${ch}`);
  }

  /** The identity's role, or `null` when it is not on the access list. */
  roleOf(user: string): Role | null {
    if (user.startsWith('console:')) return this.consoleRole;
    return this.roles.get(user) ?? null;
  }

  /** True when Triage answers in this room. */
  roomAllowed(platform: Platform, room: string): boolean {
    if (!room.startsWith(PREFIX[platform])) return false;
    if (platform === 'console') return true;
    return this.rooms.has(room);
  }

  /** May this person use Triage in this room at all (as at least a viewer)? */
  admit(a: Asker): AccessDecision {
    const prefix = PREFIX[a.platform];
    if (!a.user.startsWith(prefix) || !a.room.startsWith(prefix)) {
      return { ok: false, reason: 'wrong-platform', message: `Triage cannot tell who you are here (${clip(a.user, 48)}); ask an operator` };
    }
    const role = this.roleOf(a.user);
    if (!role) return { ok: false, reason: 'unknown-user', message: `you are not on the Triage access list (${clip(a.user, 48)}); ask an operator to add you` };
    if (!this.roomAllowed(a.platform, a.room)) {
      const key = a.platform === 'telegram' ? 'chat.telegram.allowedChats' : 'chat.slack.allowedChannels';
      return { ok: false, reason: 'room-not-allowed', message: `Triage does not answer in this chat (${clip(a.room, 48)}); ask an operator to add it to ${key}` };
    }
    return { ok: true, role };
  }

  /** May this person run a command that needs `need`? */
  check(a: Asker, need: Role, what: string): AccessDecision {
    const d = this.admit(a);
    if (!d.ok || roleAtLeast(d.role, need)) return d;
    const message =
      need === 'operator' && what === '/approve'
        ? 'only an operator can approve host-changing steps'
        : `${what} needs the ${need} role; you are a ${d.role} — ask an operator`;
    return { ok: false, reason: 'role-too-low', message };
  }
}

