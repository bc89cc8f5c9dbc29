/**
 * CPU test kernels (system-level behaviour: paging, exceptions, mode switches, privilege
 * checks). `CPU_TESTS` end with a PASS/FAIL summary and isa-debug-exit (they run with the
 * scenarios); `CPU_TEST_EXTRAS` end otherwise (test/cpu_tests_test.ts checks how).
 */

import type { BuiltinGuest } from "../demo.ts";
import { buildCpuExceptions } from "./cpu_exceptions.ts";
import { buildCpuLegacy } from "./cpu_legacy.ts";
import { buildCpuModes } from "./cpu_modes.ts";
import { buildCpuPaging } from "./cpu_paging.ts";
import { buildCpuTripleFault } from "./cpu_triple_fault.ts";

export const CPU_TESTS: Record<string, () => BuiltinGuest> = {
  "cpu-exceptions": buildCpuExceptions,
  "cpu-legacy": buildCpuLegacy,
  "cpu-modes": buildCpuModes,
  "cpu-paging": buildCpuPaging,
};

export const CPU_TEST_EXTRAS: Record<string, () => BuiltinGuest> = {
  "cpu-triple-fault": buildCpuTripleFault,
};
