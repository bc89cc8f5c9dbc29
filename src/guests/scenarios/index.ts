/** Scenario guests (test kernels built with the kit), by name. */

import type { BuiltinGuest } from "../demo.ts";
import { CPU_TESTS } from "../cpu_tests/index.ts";
import { buildVsmBasics } from "./vsm_basics.ts";
import { buildVsmIsolation } from "./vsm_isolation.ts";
import { buildVsmMbec } from "./vsm_mbec.ts";
import { buildVsmProtections } from "./vsm_protections.ts";
import { buildVsmRegisterIntercepts } from "./vsm_register_intercepts.ts";

export const SCENARIOS: Record<string, () => BuiltinGuest> = {
  "vsm-basics": buildVsmBasics,
  "vsm-isolation": buildVsmIsolation,
  "vsm-mbec": buildVsmMbec,
  "vsm-protections": buildVsmProtections,
  "vsm-register-intercepts": buildVsmRegisterIntercepts,
  ...CPU_TESTS,
};
