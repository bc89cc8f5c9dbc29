/**
 * Hyper-V definitions (TLFS names verbatim): hypercall codes, status codes, synthetic MSRs,
 * register names, message types, VSM constants. Facts only, no behaviour. Sources: the TLFS and
 * spec/vsm.md of this project (sections cited).
 */

// ---- Hypercall codes (TLFS Appendix A; spec §2) -------------------------------------------

export const HvCallSwitchVirtualAddressSpace = 0x0001;
export const HvCallFlushVirtualAddressSpace = 0x0002;
export const HvCallFlushVirtualAddressList = 0x0003;
export const HvCallNotifyLongSpinWait = 0x0008;
export const HvCallSendSyntheticClusterIpi = 0x000b;
export const HvCallModifyVtlProtectionMask = 0x000c;
export const HvCallEnablePartitionVtl = 0x000d;
export const HvCallDisablePartitionVtl = 0x000e;
export const HvCallEnableVpVtl = 0x000f;
export const HvCallDisableVpVtl = 0x0010;
export const HvCallVtlCall = 0x0011;
export const HvCallVtlReturn = 0x0012;
export const HvCallFlushVirtualAddressSpaceEx = 0x0013;
export const HvCallFlushVirtualAddressListEx = 0x0014;
export const HvCallSendSyntheticClusterIpiEx = 0x0015;
export const HvCallInstallIntercept = 0x004d;
export const HvCallGetVpRegisters = 0x0050;
export const HvCallSetVpRegisters = 0x0051;
export const HvCallTranslateVirtualAddress = 0x0052;
export const HvCallPostMessage = 0x005c;
export const HvCallSignalEvent = 0x005d;
export const HvCallAssertVirtualInterrupt = 0x0094;
export const HvCallStartVirtualProcessor = 0x0099;
export const HvCallGetVpIndexFromApicId = 0x009a;
export const HvCallTranslateVirtualAddressEx = 0x00ac;

export const HYPERCALL_NAMES: Readonly<Record<number, string>> = {
  0x0001: "HvCallSwitchVirtualAddressSpace",
  0x0002: "HvCallFlushVirtualAddressSpace",
  0x0003: "HvCallFlushVirtualAddressList",
  0x0008: "HvCallNotifyLongSpinWait",
  0x000b: "HvCallSendSyntheticClusterIpi",
  0x000c: "HvCallModifyVtlProtectionMask",
  0x000d: "HvCallEnablePartitionVtl",
  0x000e: "HvCallDisablePartitionVtl",
  0x000f: "HvCallEnableVpVtl",
  0x0010: "HvCallDisableVpVtl",
  0x0011: "HvCallVtlCall",
  0x0012: "HvCallVtlReturn",
  0x0013: "HvCallFlushVirtualAddressSpaceEx",
  0x0014: "HvCallFlushVirtualAddressListEx",
  0x0015: "HvCallSendSyntheticClusterIpiEx",
  0x004d: "HvCallInstallIntercept",
  0x0050: "HvCallGetVpRegisters",
  0x0051: "HvCallSetVpRegisters",
  0x0052: "HvCallTranslateVirtualAddress",
  0x005c: "HvCallPostMessage",
  0x005d: "HvCallSignalEvent",
  0x0094: "HvCallAssertVirtualInterrupt",
  0x0099: "HvCallStartVirtualProcessor",
  0x009a: "HvCallGetVpIndexFromApicId",
  0x00ac: "HvCallTranslateVirtualAddressEx",
};

// ---- HV_STATUS (TLFS §3.12, Appendix B; spec §1.5) ----------------------------------------

export const HV_STATUS_SUCCESS = 0x0000;
export const HV_STATUS_INVALID_HYPERCALL_CODE = 0x0002;
export const HV_STATUS_INVALID_HYPERCALL_INPUT = 0x0003;
export const HV_STATUS_INVALID_ALIGNMENT = 0x0004;
export const HV_STATUS_INVALID_PARAMETER = 0x0005;
export const HV_STATUS_ACCESS_DENIED = 0x0006;
export const HV_STATUS_INVALID_PARTITION_STATE = 0x0007;
export const HV_STATUS_OPERATION_DENIED = 0x0008;
export const HV_STATUS_INVALID_PARTITION_ID = 0x000d;
export const HV_STATUS_INVALID_VP_INDEX = 0x000e;
export const HV_STATUS_NOT_FOUND = 0x0010;
export const HV_STATUS_INVALID_PORT_ID = 0x0011;
export const HV_STATUS_INVALID_CONNECTION_ID = 0x0012;
export const HV_STATUS_INSUFFICIENT_BUFFERS = 0x0013;
export const HV_STATUS_INVALID_VP_STATE = 0x0015;
export const HV_STATUS_INVALID_SYNIC_STATE = 0x0018;
export const HV_STATUS_OBJECT_IN_USE = 0x0019;
export const HV_STATUS_INVALID_REGISTER_VALUE = 0x0050;
export const HV_STATUS_INVALID_VTL_STATE = 0x0051;
export const HV_STATUS_VTL_ALREADY_ENABLED = 0x0086;
export const HV_STATUS_UNKNOWN_REGISTER_NAME = 0x0087;

export const HV_STATUS_NAMES: Readonly<Record<number, string>> = {
  0x0000: "HV_STATUS_SUCCESS",
  0x0002: "HV_STATUS_INVALID_HYPERCALL_CODE",
  0x0003: "HV_STATUS_INVALID_HYPERCALL_INPUT",
  0x0004: "HV_STATUS_INVALID_ALIGNMENT",
  0x0005: "HV_STATUS_INVALID_PARAMETER",
  0x0006: "HV_STATUS_ACCESS_DENIED",
  0x0007: "HV_STATUS_INVALID_PARTITION_STATE",
  0x0008: "HV_STATUS_OPERATION_DENIED",
  0x000d: "HV_STATUS_INVALID_PARTITION_ID",
  0x000e: "HV_STATUS_INVALID_VP_INDEX",
  0x0010: "HV_STATUS_NOT_FOUND",
  0x0011: "HV_STATUS_INVALID_PORT_ID",
  0x0012: "HV_STATUS_INVALID_CONNECTION_ID",
  0x0013: "HV_STATUS_INSUFFICIENT_BUFFERS",
  0x0015: "HV_STATUS_INVALID_VP_STATE",
  0x0018: "HV_STATUS_INVALID_SYNIC_STATE",
  0x0019: "HV_STATUS_OBJECT_IN_USE",
  0x0050: "HV_STATUS_INVALID_REGISTER_VALUE",
  0x0051: "HV_STATUS_INVALID_VTL_STATE",
  0x0086: "HV_STATUS_VTL_ALREADY_ENABLED",
  0x0087: "HV_STATUS_UNKNOWN_REGISTER_NAME",
};

// ---- Synthetic MSRs (TLFS Appendix C; spec §7.1) -----------------------------------------

export const HV_X64_MSR_GUEST_OS_ID = 0x40000000;
export const HV_X64_MSR_HYPERCALL = 0x40000001;
export const HV_X64_MSR_VP_INDEX = 0x40000002;
export const HV_X64_MSR_RESET = 0x40000003;
export const HV_X64_MSR_VP_RUNTIME = 0x40000010;
export const HV_X64_MSR_TIME_REF_COUNT = 0x40000020;
export const HV_X64_MSR_REFERENCE_TSC = 0x40000021;
export const HV_X64_MSR_TSC_FREQUENCY = 0x40000022;
export const HV_X64_MSR_APIC_FREQUENCY = 0x40000023;
export const HV_X64_MSR_EOI = 0x40000070;
export const HV_X64_MSR_ICR = 0x40000071;
export const HV_X64_MSR_TPR = 0x40000072;
export const HV_X64_MSR_VP_ASSIST_PAGE = 0x40000073;
export const HV_X64_MSR_SCONTROL = 0x40000080;
export const HV_X64_MSR_SVERSION = 0x40000081;
export const HV_X64_MSR_SIEFP = 0x40000082;
export const HV_X64_MSR_SIMP = 0x40000083;
export const HV_X64_MSR_EOM = 0x40000084;
export const HV_X64_MSR_SINT0 = 0x40000090;
export const HV_X64_MSR_SINT15 = 0x4000009f;
export const HV_X64_MSR_STIMER0_CONFIG = 0x400000b0;
export const HV_X64_MSR_STIMER3_COUNT = 0x400000b7;

export function synthMsrName(msr: number): string {
  const fixed: Record<number, string> = {
    0x40000000: "HV_X64_MSR_GUEST_OS_ID",
    0x40000001: "HV_X64_MSR_HYPERCALL",
    0x40000002: "HV_X64_MSR_VP_INDEX",
    0x40000003: "HV_X64_MSR_RESET",
    0x40000010: "HV_X64_MSR_VP_RUNTIME",
    0x40000020: "HV_X64_MSR_TIME_REF_COUNT",
    0x40000021: "HV_X64_MSR_REFERENCE_TSC",
    0x40000022: "HV_X64_MSR_TSC_FREQUENCY",
    0x40000023: "HV_X64_MSR_APIC_FREQUENCY",
    0x40000070: "HV_X64_MSR_EOI",
    0x40000071: "HV_X64_MSR_ICR",
    0x40000072: "HV_X64_MSR_TPR",
    0x40000073: "HV_X64_MSR_VP_ASSIST_PAGE",
    0x40000080: "HV_X64_MSR_SCONTROL",
    0x40000081: "HV_X64_MSR_SVERSION",
    0x40000082: "HV_X64_MSR_SIEFP",
    0x40000083: "HV_X64_MSR_SIMP",
    0x40000084: "HV_X64_MSR_EOM",
  };
  if (fixed[msr]) return fixed[msr]!;
  if (msr >= HV_X64_MSR_SINT0 && msr <= HV_X64_MSR_SINT15) {
    return `HV_X64_MSR_SINT${msr - HV_X64_MSR_SINT0}`;
  }
  if (msr >= HV_X64_MSR_STIMER0_CONFIG && msr <= HV_X64_MSR_STIMER3_COUNT) {
    const n = (msr - HV_X64_MSR_STIMER0_CONFIG) >> 1;
    return `HV_X64_MSR_STIMER${n}_${(msr & 1) ? "COUNT" : "CONFIG"}`;
  }
  return `MSR_0x${msr.toString(16)}`;
}

// ---- Register names (TLFS hv_register_name; spec §3) -------------------------------------

export const HvRegisterVsmCodePageOffsets = 0x000d0002;
export const HvRegisterVsmVpStatus = 0x000d0003;
export const HvRegisterVsmPartitionStatus = 0x000d0004;
export const HvRegisterVsmVina = 0x000d0005;
export const HvRegisterVsmCapabilities = 0x000d0006;
export const HvRegisterVsmPartitionConfig = 0x000d0007;
export const HvRegisterVsmVpSecureConfigVtl0 = 0x000d0010;
export const HvX64RegisterRip = 0x00020010;
export const HvX64RegisterRflags = 0x00020011;
export const HvX64RegisterRax = 0x00020000;
export const HvX64RegisterCr0 = 0x00040000;
export const HvX64RegisterCr3 = 0x00040002;
export const HvX64RegisterCr4 = 0x00040003;
export const HvX64RegisterEfer = 0x00080001;
export const HvRegisterGuestOsId = 0x00090002;
export const HvRegisterVpIndex = 0x00090003;
export const HvRegisterReferenceTsc = 0x00090017;
export const HvRegisterPendingEvent0 = 0x00010004;

// ---- VSM (spec §2-§5) -----------------------------------------------------------------------

/** HV_PARTITION_ID_SELF (spec §1.6) as two 32-bit halves: all ones. */
export const HV_PARTITION_ID_SELF_LO = -1;
export const HV_PARTITION_ID_SELF_HI = -1;
export const HV_VP_INDEX_SELF = 0xfffffffe;

/** HV_VTL_ENTRY_REASON (spec §4.3). */
export const HvVtlEntryReasonVtlCall = 1;
export const HvVtlEntryReasonInterrupt = 2;
export const HvVtlEntryReasonIntercept = 3;

/** VP assist page layout (spec §4.3). */
export const VP_ASSIST_VTL_CONTROL = 0x008;
export const VP_ASSIST_ENTRY_REASON = 0x008;
export const VP_ASSIST_VINA_STATUS = 0x00c;
export const VP_ASSIST_VTL_RETURN_RAX = 0x010;
export const VP_ASSIST_VTL_RETURN_RCX = 0x018;
export const VP_ASSIST_INTERCEPT_MESSAGE = 0x070;

/** HV_MAP_GPA_FLAGS protection bits (spec §5.1). */
export const HV_MAP_GPA_READABLE = 0x1;
export const HV_MAP_GPA_WRITABLE = 0x2;
export const HV_MAP_GPA_KERNEL_EXECUTABLE = 0x4;
export const HV_MAP_GPA_USER_EXECUTABLE = 0x8;

/** Hypercall page layout, OpenVMM form (spec §1.4). */
export const HYPERCALL_PAGE_VTL_CALL_64 = 0x0f;
export const HYPERCALL_PAGE_VTL_RETURN_64 = 0x26;
export const HYPERCALL_PAGE_VTL_CALL_32 = 0x04;
export const HYPERCALL_PAGE_VTL_RETURN_32 = 0x1b;

// ---- Messages (spec §5.4) ------------------------------------------------------------------

export const HvMessageTypeNone = 0x00000000;
export const HvMessageTypeGpaIntercept = 0x80000001;
export const HvMessageTypeTimerExpired = 0x80000010;
export const HvMessageTypeX64IoPortIntercept = 0x80010000;
export const HvMessageTypeMsrIntercept = 0x80010001;
export const HvMessageTypeRegisterIntercept = 0x80010006;

/** sizeof(HV_X64_IO_PORT_INTERCEPT_MESSAGE) (OpenVMM `HvX64IoPortInterceptMessage`). */
export const HV_X64_IO_PORT_INTERCEPT_MESSAGE_SIZE = 128;

// ---- Intercepts (TLFS hv_intercept_type, hv_intercept_parameters; spec §6) -------------------

/** HV_INTERCEPT_TYPE values (TLFS-md `hv_intercept_type.md`, OpenVMM `HvInterceptType`). */
export const HvInterceptTypeX64IoPort = 0x00000000;
export const HvInterceptTypeX64Msr = 0x00000001;
export const HvInterceptTypeX64Cpuid = 0x00000002;
export const HvInterceptTypeException = 0x00000003;
export const HvInterceptTypeX64IoPortRange = 0x00000011;
/** HV_INTERCEPT_ACCESS_TYPE_MASK bits (TLFS-md `hv_intercept_access_type_mask.md`). */
export const HV_INTERCEPT_ACCESS_MASK_READ = 0x01;
export const HV_INTERCEPT_ACCESS_MASK_WRITE = 0x02;
export const HV_INTERCEPT_ACCESS_MASK_EXECUTE = 0x04;

// ---- Virtual interrupts (TLFS hv_interrupt_control, hv_interrupt_type) ----------------------

/** HV_INTERRUPT_TYPE (x64) values (TLFS-md `hv_interrupt_type.md`, OpenVMM `HvInterruptType`). */
export const HvX64InterruptTypeFixed = 0x0000;
export const HvX64InterruptTypeLowestPriority = 0x0001;
export const HvX64InterruptTypeNmi = 0x0004;
/** HV_X64_INTERRUPT_CONTROL bits 63:32 (the high dword): LevelTriggered, LogicalDestinationMode. */
export const HV_INTERRUPT_CONTROL_LEVEL_TRIGGERED = 0x1;
export const HV_INTERRUPT_CONTROL_LOGICAL_DESTINATION_MODE = 0x2;

// ---- Feature bits (CPUID 0x40000003, TLFS §2.4 feature-discovery; spec §7.5) -----------------

/** EAX: AccessPartitionReferenceTsc (HV_X64_MSR_REFERENCE_TSC and its page, TLFS §12.7). */
export const HV_ACCESS_PARTITION_REFERENCE_TSC = 1 << 9;
/** EBX (bits 63:32 of HV_PARTITION_PRIVILEGE_MASK): PostMessages and SignalEvents. */
export const HV_POST_MESSAGES = 1 << 4;
export const HV_SIGNAL_EVENTS = 1 << 5;
/** EDX: XMM fast hypercall input (TLFS §3.7 "XMM Fast Hypercall Input"). */
export const HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE = 1 << 4;
/** EDX: XMM fast hypercall output (TLFS §3.8 "XMM Fast Hypercall Output"). */
export const HV_X64_HYPERCALL_XMM_OUTPUT_AVAILABLE = 1 << 15;

// ---- SynIC connections (TLFS §11 "Ports and Connections", HV_CONNECTION_ID) ------------------

/** HV_CONNECTION_ID: Id in bits 23:0, bits 31:24 reserved (must be zero). */
export const HV_CONNECTION_ID_MASK = 0x00ffffff;
/** Guest message buffers per message port ("sixteen (16) message buffers", TLFS §11). */
export const HV_PORT_MESSAGE_BUFFERS = 16;
