/** UTF-8 bytes of a string: what the size limits of src/limits/registry.ts count. */
export const byteLength = (s: string): number => new TextEncoder().encode(s).byteLength;
