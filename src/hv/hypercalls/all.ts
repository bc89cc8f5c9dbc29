/** Registers every hypercall definition (import for side effects). */
import "./enable_partition_vtl.ts";
import "./enable_vp_vtl.ts";
import "./modify_vtl_protection_mask.ts";
import "./notify_long_spin_wait.ts";
import "./vp_registers.ts";
