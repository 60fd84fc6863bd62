/* Start-up for a Cortex-M4: the vector table, the reset handler (.data copied, .bss cleared, the stack
 * painted so its high-water mark can be measured), fault handlers that report and stop, and SysTick
 * counting its wraps for the instruction clock. */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "semihost.h"

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end;
extern uint32_t __stack_bottom, __stack_top;

int main(void);
void reset_handler(void);
static void fault_handler(void);
static void systick_handler(void);

#define STACK_PAINT 0x5aa5a55au

volatile uint32_t systick_wraps;

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&__stack_top),
    reset_handler,
    fault_handler, /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
    0, 0, 0, 0,
    fault_handler, /* SVCall */
    fault_handler, /* DebugMonitor */
    0,
    fault_handler, /* PendSV */
    systick_handler,
};

#define SYST_CSR (*(volatile uint32_t *)0xe000e010u)
#define SYST_RVR (*(volatile uint32_t *)0xe000e014u)
#define SYST_CVR (*(volatile uint32_t *)0xe000e018u)
#define SCB_VTOR (*(volatile uint32_t *)0xe000ed08u)

void reset_handler(void) {
  memcpy(&__data_start, &__data_load, (size_t)((char *)&__data_end - (char *)&__data_start));
  memset(&__bss_start, 0, (size_t)((char *)&__bss_end - (char *)&__bss_start));
  /* Paint the stack below this frame (a margin of 64 bytes above the current stack pointer is kept). */
  uint32_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t *p = &__stack_bottom; (uint32_t)p < sp - 64; p++) *p = STACK_PAINT;
  SCB_VTOR = (uint32_t)vectors;
  /* SysTick on the processor clock, wrapping every 2^24 ticks. */
  SYST_RVR = 0x00ffffffu;
  SYST_CVR = 0;
  SYST_CSR = 7u;
  sh_exit(main());
}

uint32_t board_stack_used(void) {
  const uint32_t *p = &__stack_bottom;
  while (p < &__stack_top && *p == STACK_PAINT) p++;
  return (uint32_t)((const char *)&__stack_top - (const char *)p);
}

uint64_t board_instructions(void) {
  uint32_t wraps, value;
  do {
    wraps = systick_wraps;
    value = SYST_CVR;
  } while (wraps != systick_wraps);
  /* mps2-an386 clocks SysTick at 25 MHz; with -icount shift=0 an instruction takes 1 ns, so 40 per tick. */
  return (((uint64_t)wraps << 24) + (0x00ffffffu - value)) * 40u;
}

static void systick_handler(void) { systick_wraps++; }

static void fault_handler(void) {
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  sh_puts("fault: exception ");
  sh_put_u32(ipsr & 0x1ffu);
  sh_puts("\n");
  sh_exit(EXIT_FAULT);
}
