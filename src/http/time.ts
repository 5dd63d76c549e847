/** Wire timestamps: RFC 3339 UTC with milliseconds. */
export const now = (): string => new Date().toISOString();
export const inSeconds = (s: number): string => new Date(Date.now() + s * 1000).toISOString();
