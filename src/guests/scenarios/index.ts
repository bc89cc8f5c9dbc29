/** Scenario guests (test kernels built with the kit), by name. */

import type { BuiltinGuest } from "../demo.ts";
import { buildVsmBasics } from "./vsm_basics.ts";

export const SCENARIOS: Record<string, () => BuiltinGuest> = {
  "vsm-basics": buildVsmBasics,
};
