/** Scenario guests (test kernels built with the kit), by name. */

import type { BuiltinGuest } from "../demo.ts";
import { CPU_TESTS } from "../cpu_tests/index.ts";
import { buildVsmBasics } from "./vsm_basics.ts";
import { buildVsmInterrupts } from "./vsm_interrupts.ts";
import { buildVsmIsolation } from "./vsm_isolation.ts";
import { buildVsmMbec } from "./vsm_mbec.ts";
import { buildVsmProtections } from "./vsm_protections.ts";
import { buildVsmRegisterIntercepts } from "./vsm_register_intercepts.ts";
import { buildVsmSynic } from "./vsm_synic.ts";
import { buildVsmTranslate } from "./vsm_translate.ts";
import { buildVsmRegisters } from "./vsm_registers.ts";
import { buildVsmNegative } from "./vsm_negative.ts";
import { buildVsmSmp } from "./vsm_smp.ts";
import { buildVsmHvExtras } from "./vsm_hv_extras.ts";
import { buildVsmInstallIntercept } from "./vsm_install_intercept.ts";

export const SCENARIOS: Record<string, () => BuiltinGuest> = {
  "vsm-basics": buildVsmBasics,
  "vsm-interrupts": buildVsmInterrupts,
  "vsm-isolation": buildVsmIsolation,
  "vsm-mbec": buildVsmMbec,
  "vsm-protections": buildVsmProtections,
  "vsm-register-intercepts": () => buildVsmRegisterIntercepts(),
  "vsm-register-intercepts-kvm-rfc": () => buildVsmRegisterIntercepts("kvm-rfc"),
  "vsm-synic": buildVsmSynic,
  "vsm-translate": buildVsmTranslate,
  "vsm-registers": buildVsmRegisters,
  "vsm-negative": buildVsmNegative,
  "vsm-smp": buildVsmSmp,
  "vsm-hv-extras": buildVsmHvExtras,
  "vsm-install-intercept": buildVsmInstallIntercept,
  ...CPU_TESTS,
};
