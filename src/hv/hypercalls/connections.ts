/**
 * Connection lookup shared by HvCallSignalEvent and HvCallPostMessage (TLFS §11 "Ports and
 * Connections", HV_CONNECTION_ID; spec/vsm.md §2.11). Connections come from the machine config.
 */

import { HV_CONNECTION_ID_MASK, HV_STATUS_INVALID_CONNECTION_ID } from "../hvdef.ts";
import type { HvConnection, Partition } from "../partition.ts";

/**
 * The connection named by the HV_CONNECTION_ID `raw`, or HV_STATUS_INVALID_CONNECTION_ID when no
 * such connection exists. IDs are 24 bits and "the high 8 bits are reserved and must be zero": a
 * value with any of them set names no connection (KVM masks them off instead).
 */
export function lookupConnection(p: Partition, raw: number): HvConnection | number {
  if ((raw & ~HV_CONNECTION_ID_MASK) !== 0) return HV_STATUS_INVALID_CONNECTION_ID;
  return p.connections.get(raw >>> 0) ?? HV_STATUS_INVALID_CONNECTION_ID;
}
