/** Path and query as requested, without any `authToken` parameter (in any letter case): what an access-log entry records. */
export function loggedPath(url: URL): string {
  if (!url.search) return url.pathname;
  const query = new URLSearchParams();
  for (const [name, value] of url.searchParams) if (name.toLowerCase() !== "authtoken") query.append(name, value);
  const q = query.toString();
  return q ? `${url.pathname}?${q}` : url.pathname;
}
