/**
 * HvCallPostMessage (0x005C, simple; TLFS `HvCallPostMessage.md`, §11 "SynIC Messages"; spec
 * §2.11, §7.2). Input, 256 bytes (memory form only: it does not fit the 112-byte fast block):
 * ConnectionId u32 @0, RsvdZ u32 @4, MessageType u32 @8, PayloadSize u32 @12, Payload @16.
 *
 * The message — MessageType, PayloadSize, the first PayloadSize payload bytes (the rest zero),
 * and the port (= connection) ID in the header's Port/OriginationId field — is queued for the
 * port's SINT on the target (VP, VTL) through the SynIC (synic.ts): copied into the SIM slot at
 * once if it is empty (SINT interrupt), else queued with MessagePending set in the slot and
 * redelivered on EOM, APIC EOI or the next post. Statuses, checked in this order:
 * - HV_STATUS_INVALID_PARAMETER: RsvdZ nonzero; MessageType 0 or with bit 31 set (hypervisor
 *   message types); PayloadSize > 240;
 * - HV_STATUS_INVALID_CONNECTION_ID: no such connection (connections.ts);
 * - HV_STATUS_INVALID_PORT_ID: the connection's port is an event port;
 * - HV_STATUS_INVALID_SYNIC_STATE: the target SynIC (SCONTROL) or SIM page is disabled;
 * - HV_STATUS_INSUFFICIENT_BUFFERS: the port's 16 guest message buffers all hold undelivered
 *   messages (a message frees its buffer when it reaches the SIM slot), or the SINT's queue is
 *   full (SYNIC_QUEUE_LIMIT, shared with timer and intercept messages).
 */

import type { Vtl } from "../../core/vtl.ts";
import {
  HV_PORT_MESSAGE_BUFFERS,
  HV_STATUS_INSUFFICIENT_BUFFERS,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_INVALID_PORT_ID,
  HV_STATUS_INVALID_SYNIC_STATE,
  HV_STATUS_INVALID_VP_INDEX,
  HV_STATUS_SUCCESS,
  HvCallPostMessage,
} from "../hvdef.ts";
import { defineHypercall } from "../hypercall.ts";
import { buildMessage, HV_MESSAGE_MAX_PAYLOAD_BYTE_COUNT } from "../messages.ts";
import { lookupConnection } from "./connections.ts";

defineHypercall({
  code: HvCallPostMessage,
  name: "HvCallPostMessage",
  rep: false,
  varHeader: false,
  inputHeader: 256,
  inputElement: 0,
  output: 0,
  handler(h) {
    const type = h.input.getUint32(8, true), size = h.input.getUint32(12, true);
    if (
      h.input.getUint32(4, true) !== 0 || type === 0 || (type & 0x80000000) !== 0 ||
      size > HV_MESSAGE_MAX_PAYLOAD_BYTE_COUNT
    ) {
      return HV_STATUS_INVALID_PARAMETER;
    }
    const conn = lookupConnection(h.partition, h.input.getUint32(0, true));
    if (typeof conn === "number") return conn;
    if (conn.kind !== "message") return HV_STATUS_INVALID_PORT_ID;
    const vp = h.partition.vp(conn.vp);
    if (vp === undefined) return HV_STATUS_INVALID_VP_INDEX;
    const synic = vp.synics.get(conn.vtl as Vtl);
    const target = synic.postTarget(conn.sint);
    if (target === "disabled") return HV_STATUS_INVALID_SYNIC_STATE;
    if (target === "full" || synic.queuedFor(conn.sint, conn.id) >= HV_PORT_MESSAGE_BUFFERS) {
      return HV_STATUS_INSUFFICIENT_BUFFERS;
    }
    const msg = buildMessage(type, h.inputBytes.slice(16, 16 + size), conn.id, 0);
    synic.post(conn.sint, msg, conn.id);
    return HV_STATUS_SUCCESS;
  },
});
