/**
 * Times as on-call messages show them: ages ("3 h") and clock times in UTC
 * ("2026-01-01 09:00 UTC"). Pure; the caller passes "now".
 */

/** How long ago / how long, in the largest unit that reads well: `45 s`, `12 min`, `3 h`, `2 d`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** `2026-01-01 09:00 UTC`. */
export function clockTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
