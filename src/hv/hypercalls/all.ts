/** Registers every hypercall definition (import for side effects). */
import "./enable_partition_vtl.ts";
import "./enable_vp_vtl.ts";
import "./modify_vtl_protection_mask.ts";
import "./notify_long_spin_wait.ts";
import "./vp_registers.ts";
import "./get_vp_index_from_apic_id.ts";
import "./start_virtual_processor.ts";
import "./translate_virtual_address.ts";
import "./flush.ts";
import "./synthetic_cluster_ipi.ts";
import "./signal_event.ts";
import "./post_message.ts";
import "./install_intercept.ts";
import "./assert_virtual_interrupt.ts";
