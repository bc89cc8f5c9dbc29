/** HvCallNotifyLongSpinWait (0x0008; TLFS §10.5.1): a hint; nothing to do. */

import { HV_STATUS_SUCCESS, HvCallNotifyLongSpinWait } from "../hvdef.ts";
import { defineHypercall } from "../hypercall.ts";

defineHypercall({
  code: HvCallNotifyLongSpinWait,
  name: "HvCallNotifyLongSpinWait",
  rep: false,
  varHeader: false,
  inputHeader: 8,
  inputElement: 0,
  output: 0,
  handler: () => HV_STATUS_SUCCESS,
});
