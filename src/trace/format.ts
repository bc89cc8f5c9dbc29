/** Constants of the trace file format (traces/README.md is the specification). */

/** The format version this build writes, and the newest minor it fully understands. */
export const FORMAT_MAJOR = 1;
export const FORMAT_MINOR = 1;

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** File magic: "VTLRR\r\n\x1a" (catches text-mode transfers like PNG's). */
export const FILE_MAGIC = ascii("VTLRR\r\n\x1a");
export const CHUNK_MAGIC = ascii("VCHK");
export const INDEX_MAGIC = ascii("VIDX");
export const FOOTER_MAGIC = ascii("VEND");
export const TRAILER_MAGIC = ascii("VTLRREND");

/** magic(8) major(2) minor(2) jsonLength(4). */
export const HEADER_PREFIX_SIZE = 16;
/** The header's JSON may not exceed this (a sanity bound against corrupt lengths). */
export const MAX_HEADER_JSON = 16 * 1024 * 1024;

/** Chunk header: magic(4) compLen(4) rawLen(4) count(4) firstSeq(8) firstIcount(8) lastIcount(8) payloadCrc(4) headerCrc(4). */
export const CHUNK_HEADER_SIZE = 48;
/** Upper bound for a chunk's raw (uncompressed) event bytes, enforced by writer and reader. */
export const MAX_CHUNK_RAW = 16 * 1024 * 1024;

/** Index record: magic(4) jsonLength(4) json crc(4). */
export const INDEX_OVERHEAD = 12;
/** Footer: magic(4) indexOffset(8) crc(4) trailer(8). */
export const FOOTER_SIZE = 24;

export const DEFAULT_CHUNK_EVENTS = 4096;
export const DEFAULT_CHUNK_BYTES = 64 * 1024;
