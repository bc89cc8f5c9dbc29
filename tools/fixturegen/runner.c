/*
 * vtlrr fixturegen native runner: executes x86-64 instruction sequences natively in user mode and
 * reports the resulting architectural state. Linux x86-64 only.
 *
 * Build: cc -O2 -o /tmp/fxrunner tools/fixturegen/runner.c
 *
 * Protocol (all integers little-endian, records back to back, no framing besides the magics):
 *
 *   stdin, one record per case:
 *     struct in_hdr (416 bytes, see below), then (only if flags & FLAG_X87) a 512-byte FXSAVE64
 *     image, then code_len bytes of machine code.
 *   stdout, one record per case, in input order:
 *     struct out_hdr (440 bytes), then (only if flags & FLAG_X87) the 512-byte FXSAVE64 image of
 *     the x87/SSE state after the case (at a fault: the kernel's copy from the signal frame), then
 *     the DATA_SIZE bytes of the data area after the case.
 *
 * Execution environment of one case:
 *   - data area: DATA_SIZE bytes RW at DATA_BASE, refilled before every case from the case seed with
 *     xorshift32 (see fill_data); the pages just below and just above it are guaranteed unmapped.
 *   - code: copied to CODE_BASE (one RWX page, fixed address), entered at CODE_BASE with the 16 GPRs,
 *     RFLAGS (only CF PF AF ZF SF DF OF taken from the input; IF and bit 1 set; TF, AC, NT, ID clear),
 *     XMM0-15 and MXCSR loaded from the input. The case ends when execution reaches
 *     CODE_BASE + code_len, where the runner appends an absolute jump back to its epilogue
 *     (jmp qword [rip+0] / .quad fx_exit: flags are not touched).
 *   - the prologue/epilogue never use the case's stack: all 16 GPRs (incl. RSP) are the case's own.
 *   - a fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP) is caught on an alternate signal stack; the
 *     register state at the faulting instruction (from the signal's ucontext), the x86 vector
 *     (REG_TRAPNO), the error code (REG_ERR), si_code and si_addr are reported instead.
 *   - a case running for more than 2 s is stopped with SIGALRM (reported as signal 14, trapno 0xff).
 *   - x87 cases (FLAG_X87): the image is loaded with FXRSTOR64 before XMM0-15 and MXCSR (which
 *     therefore override its SSE part). Every case ends with FXSAVE64 then FNINIT, so the x87 state
 *     never leaks from one case into the next (and a pending x87 exception never reaches the host).
 *   - input may end at EOF or with the 4-byte magic "END ". FXRUNNER_TRACE=1 in the environment
 *     prints each case index to stderr before running it (to find a case that kills the runner).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define DATA_BASE 0x10000000UL
#define DATA_SIZE 8192UL
#define CODE_BASE 0x20000000UL
#define CODE_SIZE 4096UL
#define PAGE 4096UL
#define MAGIC_IN 0x45534143u  /* "CASE" */
#define MAGIC_OUT 0x544c5352u /* "RSLT" */
#define MAGIC_END 0x20444e45u /* "END " : optional terminator */
#define FLAG_X87 1u           /* in_hdr.flags: x87 state image in and out */

/* GPR order everywhere in the protocol: architectural register number
 * rax rcx rdx rbx rsp rbp rsi rdi r8 r9 r10 r11 r12 r13 r14 r15 */
struct in_hdr {
  uint32_t magic, seed, code_len, flags;
  uint64_t gpr[16];
  uint64_t rflags;
  uint32_t mxcsr, pad;
  uint8_t xmm[16][16];
};
_Static_assert(sizeof(struct in_hdr) == 416, "in_hdr layout");

struct out_hdr {
  uint32_t magic;
  uint32_t signal; /* 0: completed normally */
  int32_t si_code;
  uint32_t trapno; /* x86 exception vector from the kernel, valid if signal != 0 */
  uint64_t err;    /* hardware error code (REG_ERR) */
  uint64_t fault_addr; /* si_addr */
  uint64_t rip; /* CODE_BASE + code_len, or the faulting RIP */
  uint64_t gpr[16];
  uint64_t rflags; /* raw RFLAGS image */
  uint32_t mxcsr, pad;
  uint8_t xmm[16][16];
};
_Static_assert(sizeof(struct out_hdr) == 440, "out_hdr layout");

/* Context used by the assembly trampoline. Slots 0..14: rax rcx rdx rbx rbp rsi rdi r8..r15
 * (no rsp), 15: rflags, 16: rsp, then xmm0..15 at byte 136, mxcsr at byte 392. */
struct tctx {
  uint64_t g[15];
  uint64_t rflags;
  uint64_t rsp;
  uint8_t xmm[16][16];
  uint32_t mxcsr, pad;
};
_Static_assert(sizeof(struct tctx) == 400, "tctx layout");

__attribute__((used)) struct tctx fx_in, fx_out;
__attribute__((used)) uint64_t fx_host_rsp;
__attribute__((used)) uint32_t fx_host_mxcsr;
__attribute__((used)) uint64_t fx_code_ptr = CODE_BASE;
__attribute__((used)) uint32_t fx_x87_flag;
__attribute__((used, aligned(64))) uint8_t fx_x87_in[512];
__attribute__((used, aligned(64))) uint8_t fx_x87_out[512];

void fx_enter(void);
void fx_exit(void);
void fx_reset_flags(void);

__asm__(
    ".text\n"
    ".globl fx_enter\n"
    ".type fx_enter,@function\n"
    "fx_enter:\n"
    "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
    "  mov %rsp, fx_host_rsp(%rip)\n"
    "  stmxcsr fx_host_mxcsr(%rip)\n"
    "  cmpl $0, fx_x87_flag(%rip)\n"
    "  je 1f\n"
    "  fxrstor64 fx_x87_in(%rip)\n"
    "1:\n"
    "  lea fx_in(%rip), %rax\n"
    "  movdqu 136(%rax), %xmm0\n  movdqu 152(%rax), %xmm1\n  movdqu 168(%rax), %xmm2\n"
    "  movdqu 184(%rax), %xmm3\n  movdqu 200(%rax), %xmm4\n  movdqu 216(%rax), %xmm5\n"
    "  movdqu 232(%rax), %xmm6\n  movdqu 248(%rax), %xmm7\n  movdqu 264(%rax), %xmm8\n"
    "  movdqu 280(%rax), %xmm9\n  movdqu 296(%rax), %xmm10\n  movdqu 312(%rax), %xmm11\n"
    "  movdqu 328(%rax), %xmm12\n  movdqu 344(%rax), %xmm13\n  movdqu 360(%rax), %xmm14\n"
    "  movdqu 376(%rax), %xmm15\n"
    "  ldmxcsr 392(%rax)\n"
    "  mov %rax, %rsp\n"
    "  pop %rax\n  pop %rcx\n  pop %rdx\n  pop %rbx\n  pop %rbp\n  pop %rsi\n  pop %rdi\n"
    "  pop %r8\n  pop %r9\n  pop %r10\n  pop %r11\n  pop %r12\n  pop %r13\n  pop %r14\n  pop %r15\n"
    "  popfq\n"
    "  mov (%rsp), %rsp\n"
    "  jmp *fx_code_ptr(%rip)\n"
    ".size fx_enter, .-fx_enter\n"
    ".globl fx_exit\n"
    ".type fx_exit,@function\n"
    "fx_exit:\n"
    "  mov %rsp, fx_out+128(%rip)\n"
    "  lea fx_out+128(%rip), %rsp\n"
    "  pushfq\n"
    "  push %r15\n  push %r14\n  push %r13\n  push %r12\n  push %r11\n  push %r10\n  push %r9\n"
    "  push %r8\n  push %rdi\n  push %rsi\n  push %rbp\n  push %rbx\n  push %rdx\n  push %rcx\n"
    "  push %rax\n"
    "  lea fx_out(%rip), %rax\n"
    "  movdqu %xmm0, 136(%rax)\n  movdqu %xmm1, 152(%rax)\n  movdqu %xmm2, 168(%rax)\n"
    "  movdqu %xmm3, 184(%rax)\n  movdqu %xmm4, 200(%rax)\n  movdqu %xmm5, 216(%rax)\n"
    "  movdqu %xmm6, 232(%rax)\n  movdqu %xmm7, 248(%rax)\n  movdqu %xmm8, 264(%rax)\n"
    "  movdqu %xmm9, 280(%rax)\n  movdqu %xmm10, 296(%rax)\n  movdqu %xmm11, 312(%rax)\n"
    "  movdqu %xmm12, 328(%rax)\n  movdqu %xmm13, 344(%rax)\n  movdqu %xmm14, 360(%rax)\n"
    "  movdqu %xmm15, 376(%rax)\n"
    "  stmxcsr 392(%rax)\n"
    "  fxsave64 fx_x87_out(%rip)\n"
    "  fninit\n"
    "  ldmxcsr fx_host_mxcsr(%rip)\n"
    "  mov fx_host_rsp(%rip), %rsp\n"
    "  pushq $0x202\n" /* sane host RFLAGS: DF=0, no AC/TF/NT/ID */
    "  popfq\n"
    "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n"
    "  ret\n"
    ".size fx_exit, .-fx_exit\n"
    ".globl fx_reset_flags\n"
    ".type fx_reset_flags,@function\n"
    "fx_reset_flags:\n"
    "  pushq $0x202\n"
    "  popfq\n"
    "  ret\n"
    ".size fx_reset_flags, .-fx_reset_flags\n");

/* slot in struct tctx for architectural GPR number i (rsp handled separately) */
static const int tslot[16] = {0, 1, 2, 3, -1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
/* ucontext gregs index for architectural GPR number i */
static const int ucslot[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
                               REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10, REG_R11,
                               REG_R12, REG_R13, REG_R14, REG_R15};

static sigjmp_buf fx_jb;
static struct out_hdr fault_out;
static uint8_t fault_x87[512];

static void on_signal(int sig, siginfo_t *si, void *ucv) {
  ucontext_t *uc = (ucontext_t *)ucv;
  memset(&fault_out, 0, sizeof fault_out);
  fault_out.signal = (uint32_t)sig;
  fault_out.si_code = si->si_code;
  fault_out.fault_addr = (uint64_t)(uintptr_t)si->si_addr;
  if (sig == SIGALRM) {
    fault_out.trapno = 0xff;
  } else {
    fault_out.trapno = (uint32_t)uc->uc_mcontext.gregs[REG_TRAPNO];
    fault_out.err = (uint64_t)uc->uc_mcontext.gregs[REG_ERR];
  }
  fault_out.rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
  for (int i = 0; i < 16; i++) fault_out.gpr[i] = (uint64_t)uc->uc_mcontext.gregs[ucslot[i]];
  fault_out.rflags = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
  if (uc->uc_mcontext.fpregs) {
    fault_out.mxcsr = uc->uc_mcontext.fpregs->mxcsr;
    memcpy(fault_out.xmm, uc->uc_mcontext.fpregs->_xmm, sizeof fault_out.xmm);
    memcpy(fault_x87, uc->uc_mcontext.fpregs, sizeof fault_x87);
  } else {
    memset(fault_x87, 0, sizeof fault_x87);
  }
  siglongjmp(fx_jb, 1);
}

/* The data-area pattern: xorshift32 (13, 17, 5) seeded with the case seed (0 replaced by
 * 0x6d2b79f5), one step per 4 bytes, each state written little-endian. */
static void fill_data(uint8_t *p, uint32_t seed) {
  uint32_t x = seed ? seed : 0x6d2b79f5u;
  for (size_t i = 0; i < DATA_SIZE; i += 4) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)x;
    p[i + 1] = (uint8_t)(x >> 8);
    p[i + 2] = (uint8_t)(x >> 16);
    p[i + 3] = (uint8_t)(x >> 24);
  }
}

static void die(const char *msg) {
  fprintf(stderr, "fxrunner: %s (errno %d: %s)\n", msg, errno, strerror(errno));
  exit(2);
}

static void *map_fixed(uintptr_t addr, size_t size, int prot) {
  void *p = mmap((void *)addr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) return NULL;
  if ((uintptr_t)p != addr) { /* kernel without MAP_FIXED_NOREPLACE treats it as a hint */
    munmap(p, size);
    return NULL;
  }
  return p;
}

static void ensure_unmapped(uintptr_t addr) {
  void *p = map_fixed(addr, PAGE, PROT_NONE);
  if (!p) die("guard page address is already mapped");
  munmap(p, PAGE);
}

static int read_full(void *buf, size_t n) {
  size_t got = fread(buf, 1, n, stdin);
  if (got == 0 && n != 0 && feof(stdin)) return 0;
  if (got != n) die("truncated input");
  return 1;
}

int main(void) {
  uint8_t *data = map_fixed(DATA_BASE, DATA_SIZE, PROT_READ | PROT_WRITE);
  if (!data) die("cannot map data area at 0x10000000");
  ensure_unmapped(DATA_BASE - PAGE);
  ensure_unmapped(DATA_BASE + DATA_SIZE);
  uint8_t *code = map_fixed(CODE_BASE, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC);
  if (!code) die("cannot map code page at 0x20000000");
  ensure_unmapped(CODE_BASE + CODE_SIZE);

  static uint8_t altstack[1 << 16];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) die("sigaltstack");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGALRM};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL) != 0) die("sigaction");

  static uint8_t outbuf[1 << 20];
  setvbuf(stdout, (char *)outbuf, _IOFBF, sizeof outbuf);

  const int trace = getenv("FXRUNNER_TRACE") != NULL;
  for (unsigned long ncase = 0;; ncase++) {
    struct in_hdr in;
    if (!read_full(&in.magic, 4)) break;
    if (in.magic == MAGIC_END) break;
    if (in.magic != MAGIC_IN) die("bad input magic");
    if (!read_full((uint8_t *)&in + 4, sizeof in - 4)) die("truncated header");
    if (in.code_len > CODE_SIZE - 14) die("code too long");
    fx_x87_flag = in.flags & FLAG_X87;
    if (fx_x87_flag && !read_full(fx_x87_in, sizeof fx_x87_in)) die("truncated x87 image");
    memset(code, 0xcc, CODE_SIZE);
    if (!read_full(code, in.code_len)) die("truncated code");
    uint8_t *tail = code + in.code_len; /* jmp qword [rip+0]; .quad fx_exit */
    tail[0] = 0xff;
    tail[1] = 0x25;
    memset(tail + 2, 0, 4);
    uint64_t exit_addr = (uint64_t)(uintptr_t)&fx_exit;
    memcpy(tail + 6, &exit_addr, 8);

    for (int i = 0; i < 16; i++)
      if (i != 4) fx_in.g[tslot[i]] = in.gpr[i];
    fx_in.rsp = in.gpr[4];
    fx_in.rflags = (in.rflags & 0xcd5u) | 0x202u;
    memcpy(fx_in.xmm, in.xmm, sizeof in.xmm);
    fx_in.mxcsr = in.mxcsr & 0xffffu;
    fill_data(data, in.seed);

    if (trace) fprintf(stderr, "fxrunner: case %lu\n", ncase);
    struct out_hdr out;
    memset(&out, 0, sizeof out);
    out.magic = MAGIC_OUT;
    if (sigsetjmp(fx_jb, 1) == 0) {
      alarm(2);
      fx_enter();
      alarm(0);
      for (int i = 0; i < 16; i++) out.gpr[i] = i == 4 ? fx_out.rsp : fx_out.g[tslot[i]];
      out.rflags = fx_out.rflags;
      memcpy(out.xmm, fx_out.xmm, sizeof out.xmm);
      out.mxcsr = fx_out.mxcsr;
      out.rip = CODE_BASE + in.code_len;
      if (fx_x87_flag) memcpy(fault_x87, fx_x87_out, sizeof fault_x87);
    } else {
      __asm__ volatile("fninit");
      fx_reset_flags(); /* the kernel leaves e.g. AC as the case set it */
      alarm(0);
      out = fault_out;
      out.magic = MAGIC_OUT;
    }
    if (fwrite(&out, sizeof out, 1, stdout) != 1) die("write");
    if (fx_x87_flag && fwrite(fault_x87, sizeof fault_x87, 1, stdout) != 1) die("write");
    if (fwrite(data, DATA_SIZE, 1, stdout) != 1) die("write");
  }
  if (fflush(stdout) != 0) die("flush");
  return 0;
}
