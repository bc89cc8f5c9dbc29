/** Registers every instruction family with the builder registry (import for side effects). */
import "./alu.ts";
import "./bmi.ts";
import "./atomic.ts";
import "./bit.ts";
import "./branch.ts";
import "./misc.ts";
import "./mov.ts";
import "./muldiv.ts";
import "./shift.ts";
import "./stack.ts";
import "./string.ts";
import "./system.ts";
