/**
 * HvCallSignalEvent (0x005D, simple; TLFS `HvCallSignalEvent.md`, §11 "SynIC Event Flags"; spec
 * §2.11, §7.2). Input, 8 bytes (usually fast, in RDX): ConnectionId u32 @0, FlagNumber u16 @4,
 * RsvdZ u16 @6.
 *
 * The event flag BaseFlagNumber + FlagNumber of the connection's port is set atomically in the
 * target (VP, VTL)'s SIEF page for the port's SINT; the SINT interrupt is raised only when the flag
 * goes from 0 to 1 (synic.ts `signalEvent`). Already set: success, no interrupt. Statuses, checked
 * in this order:
 * - HV_STATUS_INVALID_PARAMETER: RsvdZ nonzero; FlagNumber ≥ the port's FlagCount;
 * - HV_STATUS_INVALID_CONNECTION_ID: no such connection (connections.ts);
 * - HV_STATUS_INVALID_PORT_ID: the connection's port is a message port;
 * - HV_STATUS_INVALID_SYNIC_STATE: the target SynIC (SCONTROL) or SIEF page is disabled, or the
 *   SINT is masked (TLFS §11 "Event Flag Delivery").
 * (ACCESS_DENIED needs a partition without SignalEvents, which is always advertised;
 * INVALID_VP_INDEX a VP that no longer exists, and VPs are never removed.)
 */

import type { Vtl } from "../../core/vtl.ts";
import {
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_INVALID_PORT_ID,
  HV_STATUS_INVALID_SYNIC_STATE,
  HV_STATUS_INVALID_VP_INDEX,
  HV_STATUS_SUCCESS,
  HvCallSignalEvent,
} from "../hvdef.ts";
import { defineHypercall } from "../hypercall.ts";
import { lookupConnection } from "./connections.ts";

defineHypercall({
  code: HvCallSignalEvent,
  name: "HvCallSignalEvent",
  rep: false,
  varHeader: false,
  inputHeader: 8,
  inputElement: 0,
  output: 0,
  handler(h) {
    const flag = h.input.getUint16(4, true);
    if (h.input.getUint16(6, true) !== 0) return HV_STATUS_INVALID_PARAMETER;
    const conn = lookupConnection(h.partition, h.input.getUint32(0, true));
    if (typeof conn === "number") return conn;
    if (conn.kind !== "event") return HV_STATUS_INVALID_PORT_ID;
    if (flag >= conn.flagCount!) return HV_STATUS_INVALID_PARAMETER;
    const vp = h.partition.vp(conn.vp);
    if (vp === undefined) return HV_STATUS_INVALID_VP_INDEX;
    const synic = vp.synics.get(conn.vtl as Vtl);
    if (synic.eventTarget(conn.sint) !== "ready") return HV_STATUS_INVALID_SYNIC_STATE;
    synic.signalEvent(conn.sint, conn.flag! + flag);
    return HV_STATUS_SUCCESS;
  },
});
