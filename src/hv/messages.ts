/**
 * SynIC messages (TLFS §11 `inter-partition-communication.md`, `datatypes/hv_message.md`;
 * spec/vsm.md §5.4): the 256-byte HV_MESSAGE (16-byte HV_MESSAGE_HEADER + 240-byte payload) and
 * the synthetic timer expiration payload HV_TIMER_MESSAGE_PAYLOAD (TLFS §12 `timers.md`,
 * `datatypes/hv_timer_message_payload.md`).
 * Builders and parsers only, no behaviour. Not on the per-instruction path.
 *
 * HV_MESSAGE layout (little-endian, packed):
 *
 * | Off | Size | Field |
 * |---|---|---|
 * | 0 | 4 | MessageType (HV_MESSAGE_TYPE) |
 * | 4 | 1 | PayloadSize |
 * | 5 | 1 | MessageFlags (bit 0 MessagePending) |
 * | 6 | 2 | Reserved |
 * | 8 | 8 | OriginationId / Sender / Port |
 * | 16 | 240 | Payload (30 QWORDs) |
 *
 * The TLFS-md page lists the header fields as MessageType, Reserved u16, MessageFlags,
 * PayloadSize; Linux (`struct hv_message_header`), KVM and OpenVMM all place PayloadSize at 4 and
 * MessageFlags at 5, as spec §5.4 does. That layout is used here.
 *
 * Timer messages "do not have an origination ID (that is, the specified ID is zero)" (TLFS
 * `hv_message.md`).
 */

import { getU64, setU64 } from "../cpu/u64.ts";
import { HvMessageTypeNone, HvMessageTypeTimerExpired } from "./hvdef.ts";

export { HvMessageTypeNone, HvMessageTypeTimerExpired };

/** sizeof(HV_MESSAGE). */
export const HV_MESSAGE_SIZE = 256;
/** sizeof(HV_MESSAGE_HEADER). */
export const HV_MESSAGE_HEADER_SIZE = 16;
export const HV_MESSAGE_MAX_PAYLOAD_BYTE_COUNT = 240;
export const HV_MESSAGE_MAX_PAYLOAD_QWORD_COUNT = 30;

/** Field offsets inside HV_MESSAGE. */
export const HV_MESSAGE_OFFSET_MESSAGE_TYPE = 0;
export const HV_MESSAGE_OFFSET_PAYLOAD_SIZE = 4;
export const HV_MESSAGE_OFFSET_MESSAGE_FLAGS = 5;
export const HV_MESSAGE_OFFSET_ORIGINATION_ID = 8;
export const HV_MESSAGE_OFFSET_PAYLOAD = 16;

/** HV_MESSAGE_FLAGS.MessagePending (bit 0 of MessageFlags). */
export const HV_MESSAGE_FLAG_MESSAGE_PENDING = 0x01;

/** sizeof(HV_TIMER_MESSAGE_PAYLOAD): TimerIndex u32, Reserved u32, two HV_NANO100_TIME. */
export const HV_TIMER_MESSAGE_PAYLOAD_SIZE = 24;
/** Offsets inside HV_TIMER_MESSAGE_PAYLOAD (add HV_MESSAGE_OFFSET_PAYLOAD for the message). */
export const HV_TIMER_PAYLOAD_OFFSET_TIMER_INDEX = 0;
export const HV_TIMER_PAYLOAD_OFFSET_EXPIRATION_TIME = 8;
export const HV_TIMER_PAYLOAD_OFFSET_DELIVERY_TIME = 16;

/** HV_MESSAGE_HEADER, decoded. */
export interface HvMessageHeader {
  /** HV_MESSAGE_TYPE as an unsigned 32-bit number. */
  readonly messageType: number;
  readonly payloadSize: number;
  readonly messageFlags: number;
  readonly messagePending: boolean;
  /** OriginationId as [lo, hi] int32 halves. */
  readonly originationId: readonly [number, number];
}

/** HV_TIMER_MESSAGE_PAYLOAD, decoded; times in 100 ns reference-time units. */
export interface HvTimerMessagePayload {
  readonly timerIndex: number;
  readonly expirationTime: number;
  readonly deliveryTime: number;
}

function dvOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Builds a 256-byte HV_MESSAGE: MessageType, PayloadSize = payload.length, MessageFlags 0,
 * OriginationId (lo, hi), the payload and zeros after it. Throws RangeError for
 * HvMessageTypeNone (it would read as an empty slot, TLFS §11 "SIM Page") or a payload over 240
 * bytes.
 */
export function buildMessage(
  messageType: number,
  payload: Uint8Array,
  originationIdLo = 0,
  originationIdHi = 0,
): Uint8Array {
  if ((messageType >>> 0) === HvMessageTypeNone) {
    throw new RangeError("HvMessageTypeNone cannot be posted");
  }
  if (payload.length > HV_MESSAGE_MAX_PAYLOAD_BYTE_COUNT) {
    throw new RangeError(`HV_MESSAGE payload too large: ${payload.length}`);
  }
  const m = new Uint8Array(HV_MESSAGE_SIZE);
  const dv = dvOf(m);
  dv.setUint32(HV_MESSAGE_OFFSET_MESSAGE_TYPE, messageType >>> 0, true);
  m[HV_MESSAGE_OFFSET_PAYLOAD_SIZE] = payload.length;
  dv.setInt32(HV_MESSAGE_OFFSET_ORIGINATION_ID, originationIdLo | 0, true);
  dv.setInt32(HV_MESSAGE_OFFSET_ORIGINATION_ID + 4, originationIdHi | 0, true);
  m.set(payload, HV_MESSAGE_OFFSET_PAYLOAD);
  return m;
}

/** Decodes the HV_MESSAGE_HEADER at `off` of `b` (e.g. a SIM slot). */
export function parseMessageHeader(b: Uint8Array, off = 0): HvMessageHeader {
  const dv = dvOf(b);
  const flags = b[off + HV_MESSAGE_OFFSET_MESSAGE_FLAGS]!;
  return {
    messageType: dv.getUint32(off + HV_MESSAGE_OFFSET_MESSAGE_TYPE, true),
    payloadSize: b[off + HV_MESSAGE_OFFSET_PAYLOAD_SIZE]!,
    messageFlags: flags,
    messagePending: (flags & HV_MESSAGE_FLAG_MESSAGE_PENDING) !== 0,
    originationId: [
      dv.getInt32(off + HV_MESSAGE_OFFSET_ORIGINATION_ID, true),
      dv.getInt32(off + HV_MESSAGE_OFFSET_ORIGINATION_ID + 4, true),
    ],
  };
}

/** The payload bytes of the message at `off` (PayloadSize bytes, at most 240), as a copy. */
export function messagePayload(b: Uint8Array, off = 0): Uint8Array {
  const n = Math.min(b[off + HV_MESSAGE_OFFSET_PAYLOAD_SIZE]!, HV_MESSAGE_MAX_PAYLOAD_BYTE_COUNT);
  const start = off + HV_MESSAGE_OFFSET_PAYLOAD;
  return b.slice(start, start + n);
}

/** MessageType of the message at `off` (unsigned 32-bit); 0 = HvMessageTypeNone = empty slot. */
export function messageTypeOf(b: Uint8Array, off = 0): number {
  return dvOf(b).getUint32(off + HV_MESSAGE_OFFSET_MESSAGE_TYPE, true);
}

/**
 * Builds the HvMessageTypeTimerExpired message of a synthetic timer (TLFS §12
 * "Synthetic Timer Expiration Message"):
 * HV_TIMER_MESSAGE_PAYLOAD {TimerIndex, Reserved 0, ExpirationTime, DeliveryTime}, PayloadSize 24,
 * OriginationId 0. Times are reference time in 100 ns units.
 */
export function buildTimerMessage(
  timerIndex: number,
  expirationTime: number,
  deliveryTime: number,
): Uint8Array {
  const p = new Uint8Array(HV_TIMER_MESSAGE_PAYLOAD_SIZE);
  const dv = dvOf(p);
  dv.setUint32(HV_TIMER_PAYLOAD_OFFSET_TIMER_INDEX, timerIndex >>> 0, true);
  setU64(dv, HV_TIMER_PAYLOAD_OFFSET_EXPIRATION_TIME, expirationTime);
  setU64(dv, HV_TIMER_PAYLOAD_OFFSET_DELIVERY_TIME, deliveryTime);
  return buildMessage(HvMessageTypeTimerExpired, p);
}

/** Decodes the HV_TIMER_MESSAGE_PAYLOAD of the message starting at `off`. */
export function parseTimerMessagePayload(b: Uint8Array, off = 0): HvTimerMessagePayload {
  const dv = dvOf(b);
  const p = off + HV_MESSAGE_OFFSET_PAYLOAD;
  return {
    timerIndex: dv.getUint32(p + HV_TIMER_PAYLOAD_OFFSET_TIMER_INDEX, true),
    expirationTime: getU64(dv, p + HV_TIMER_PAYLOAD_OFFSET_EXPIRATION_TIME),
    deliveryTime: getU64(dv, p + HV_TIMER_PAYLOAD_OFFSET_DELIVERY_TIME),
  };
}

/**
 * Rewrites DeliveryTime of a timer message in place. TLFS `hv_timer_message_payload.md`:
 * "DeliveryTime is the time when the message is placed into the respective message slot", so a
 * message that waited in a queue gets the time it actually reached the SIM slot.
 */
export function setTimerDeliveryTime(msg: Uint8Array, deliveryTime: number): void {
  setU64(
    dvOf(msg),
    HV_MESSAGE_OFFSET_PAYLOAD + HV_TIMER_PAYLOAD_OFFSET_DELIVERY_TIME,
    deliveryTime,
  );
}
