// Numbers and durations in words, shared by the dashboard's modules.

export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function fmtDuration(ms) {
  const minutes = Math.max(0, Math.round(ms / 60000));
  if (minutes < 1) return "under a minute";
  if (minutes < 60) return plural(minutes, "minute");
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${plural(hours, "hour")}${minutes % 60 ? ` ${minutes % 60} min` : ""}`;
  const days = Math.floor(hours / 24);
  return `${plural(days, "day")}${hours % 24 ? ` ${hours % 24} h` : ""}`;
}
